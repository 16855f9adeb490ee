#include "transcoder/feed_clock.h"

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "common/log.h"

namespace newsreel::transcoder {

int64_t FeedClock::ShiftFor(const void* stream, int64_t running_ns, int64_t duration_ns,
                            bool* leapt) {
  std::lock_guard lock(mu_);
  if (leapt != nullptr) *leapt = false;
  int64_t at = running_ns + offset_;
  auto [it, first] = streams_.try_emplace(stream);
  Stream& s = it->second;
  if (!first) {
    const int64_t delta = at - s.last;
    if (delta > max_jump_ || delta < -max_jump_) {
      const int64_t to = s.last + s.step;
      offset_ += to - at;
      at = to;
      ++jumps_;
      if (leapt != nullptr) *leapt = true;
      largest_ = std::max(largest_, std::abs(delta));
    } else if (delta > 0) {
      s.step = delta;
    }
  } else if (duration_ns > 0) {
    s.step = duration_ns;
  }
  // Only a stream's first packet can land before 0 (a stream that starts after the feed was
  // moved back); it goes to 0 and the others stay where they are.
  at = std::max<int64_t>(at, 0);
  s.last = at;
  return at - running_ns;
}

int FeedClock::jumps() const {
  std::lock_guard lock(mu_);
  return jumps_;
}

int64_t FeedClock::largest_jump_ns() const {
  std::lock_guard lock(mu_);
  return largest_;
}

namespace {

struct PadState {
  FeedClock* clock;
  GstSegment segment;
  bool have_segment = false;
};

GstPadProbeReturn Probe(GstPad* pad, GstPadProbeInfo* info, gpointer data) noexcept {
  auto* st = static_cast<PadState*>(data);
  if ((info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) != 0) {
    GstEvent* event = GST_PAD_PROBE_INFO_EVENT(info);
    if (GST_EVENT_TYPE(event) == GST_EVENT_SEGMENT) {
      gst_event_copy_segment(event, &st->segment);
      st->have_segment = st->segment.format == GST_FORMAT_TIME && st->segment.rate == 1.0;
    }
    return GST_PAD_PROBE_OK;
  }
  GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info);
  const GstClockTime ts =
      GST_BUFFER_DTS_IS_VALID(buffer) ? GST_BUFFER_DTS(buffer) : GST_BUFFER_PTS(buffer);
  if (!st->have_segment || !GST_CLOCK_TIME_IS_VALID(ts)) return GST_PAD_PROBE_OK;
  guint64 abs_running = 0;
  const int sign =
      gst_segment_to_running_time_full(&st->segment, GST_FORMAT_TIME, ts, &abs_running);
  if (sign == 0) return GST_PAD_PROBE_OK;
  const int64_t running =
      sign > 0 ? static_cast<int64_t>(abs_running) : -static_cast<int64_t>(abs_running);
  const int64_t duration =
      GST_BUFFER_DURATION_IS_VALID(buffer) ? static_cast<int64_t>(GST_BUFFER_DURATION(buffer)) : -1;
  bool leapt = false;
  const int64_t shift = st->clock->ShiftFor(pad, running, duration, &leapt);
  const int jumps = leapt ? st->clock->jumps() : 0;
  if (leapt && (jumps <= 5 || jumps % 1000 == 0)) {
    NR_LOG(kWarning) << "live: the feed's timestamps leapt (" << jumps << " so far, the largest "
                     << st->clock->largest_jump_ns() / GST_SECOND
                     << " s); the stream goes on from where it was";
  }
  if (shift == 0) return GST_PAD_PROBE_OK;
  buffer = gst_buffer_make_writable(buffer);
  GST_PAD_PROBE_INFO_DATA(info) = buffer;
  auto moved = [shift](GstClockTime t) {
    return static_cast<GstClockTime>(std::max<int64_t>(static_cast<int64_t>(t) + shift, 0));
  };
  if (GST_BUFFER_PTS_IS_VALID(buffer)) GST_BUFFER_PTS(buffer) = moved(GST_BUFFER_PTS(buffer));
  if (GST_BUFFER_DTS_IS_VALID(buffer)) GST_BUFFER_DTS(buffer) = moved(GST_BUFFER_DTS(buffer));
  return GST_PAD_PROBE_OK;
}

}  // namespace

void KeepFeedContinuous(GstPad* pad, FeedClock* clock) {
  auto* st = new PadState{clock, {}, false};
  gst_segment_init(&st->segment, GST_FORMAT_TIME);
  gst_pad_add_probe(
      pad,
      static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
      &Probe, st, +[](gpointer data) noexcept { delete static_cast<PadState*>(data); });
}

}  // namespace newsreel::transcoder
