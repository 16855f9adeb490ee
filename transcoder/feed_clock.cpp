#include "transcoder/feed_clock.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>

#include "common/log.h"
#include "transcoder/gst_util.h"

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
  // A stream that starts after the feed was moved back could land before 0: it goes to 0 and
  // the others stay where they are. (A DTS before the segment's start, the first frames' of a
  // stream with B-frames, is a running time below 0 of its own: that stays as it is.)
  if (at < 0 && running_ns >= 0) at = 0;
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
    NR_LOG(kWarning) << "the input's timestamps leapt (" << jumps << " so far, the largest "
                     << st->clock->largest_jump_ns() / GST_SECOND
                     << " s); it goes on from where it was";
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

void OnDemuxerPad(GstElement*, GstPad* pad, gpointer clock) noexcept {
  CapsPtr caps(gst_pad_get_current_caps(pad));
  if (!caps) caps.reset(gst_pad_query_caps(pad, nullptr));
  if (!caps || gst_caps_is_empty(caps.get())) return;
  const std::string name = gst_structure_get_name(gst_caps_get_structure(caps.get(), 0));
  if (name.rfind("video/", 0) == 0 || name.rfind("audio/", 0) == 0)
    KeepFeedContinuous(pad, static_cast<FeedClock*>(clock));
}

void OnDeepElementAdded(GstBin*, GstBin*, GstElement* element, gpointer clock) noexcept {
  GstElementFactory* factory = gst_element_get_factory(element);
  if (factory == nullptr ||
      std::string(gst_plugin_feature_get_name(GST_PLUGIN_FEATURE(factory))) != "tsdemux")
    return;
  g_signal_connect(element, "pad-added", G_CALLBACK(&OnDemuxerPad), clock);
}

}  // namespace

void KeepDemuxedFeedsContinuous(GstElement* decodebin, FeedClock* clock) {
  g_signal_connect(decodebin, "deep-element-added", G_CALLBACK(&OnDeepElementAdded), clock);
}

void KeepFeedContinuous(GstPad* pad, FeedClock* clock) {
  auto* st = new PadState{clock, {}, false};
  gst_segment_init(&st->segment, GST_FORMAT_TIME);
  gst_pad_add_probe(
      pad,
      static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
      &Probe, st, +[](gpointer data) noexcept { delete static_cast<PadState*>(data); });
}

}  // namespace newsreel::transcoder
