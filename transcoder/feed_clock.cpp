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
  if (first && duration_ns > 0 && duration_ns <= kMaxStep) s.step = duration_ns;
  const auto far = [this](int64_t delta) { return delta > max_jump_ || delta < -max_jump_; };
  if (started_ && far(at - latest_) && (first || far(at - s.last))) {
    const int64_t to = first ? latest_ : s.last + s.step;
    offset_ += to - at;
    largest_ = std::max(largest_, std::abs(at - (first ? latest_ : s.last)));
    at = to;
    ++jumps_;
    if (leapt != nullptr) *leapt = true;
  } else if (!first && at > s.last && at - s.last <= kMaxStep) {
    s.step = at - s.last;
  }
  s.last = at;
  latest_ = started_ ? std::max(latest_, at) : at;
  started_ = true;
  return at - running_ns;
}

std::string LeapsWarning(const std::string& whose, int64_t leaps, int64_t largest_ns,
                         const std::string& what) {
  return whose + " timestamps leapt " + std::to_string(leaps) + " time(s), by up to " +
         std::to_string(largest_ns / GST_SECOND) + " s; each leap was taken out and " + what +
         " went on from where it was";
}

int64_t FeedClock::shift() const {
  std::lock_guard lock(mu_);
  return offset_;
}

int64_t FeedClock::jumps() const {
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

// Where `ts` falls on the pad's running time (below 0 before its segment's start).
bool RunningTime(const PadState& st, GstClockTime ts, int64_t* running) {
  if (!st.have_segment || !GST_CLOCK_TIME_IS_VALID(ts)) return false;
  guint64 abs_running = 0;
  const int sign = gst_segment_to_running_time_full(&st.segment, GST_FORMAT_TIME, ts, &abs_running);
  if (sign == 0) return false;
  *running = sign > 0 ? static_cast<int64_t>(abs_running) : -static_cast<int64_t>(abs_running);
  return true;
}

// How far to move `buffer` (a packet, or the first of a list), with the leaps logged.
int64_t ShiftOf(PadState* st, GstPad* pad, GstBuffer* buffer) {
  int64_t running = 0;
  if (!RunningTime(
          *st, GST_BUFFER_DTS_IS_VALID(buffer) ? GST_BUFFER_DTS(buffer) : GST_BUFFER_PTS(buffer),
          &running))
    return st->clock->shift();
  const int64_t duration =
      GST_BUFFER_DURATION_IS_VALID(buffer) ? static_cast<int64_t>(GST_BUFFER_DURATION(buffer)) : -1;
  bool leapt = false;
  const int64_t shift = st->clock->ShiftFor(pad, running, duration, &leapt);
  const int64_t jumps = leapt ? st->clock->jumps() : 0;
  if (leapt && (jumps <= 5 || jumps % 1000 == 0)) {
    NR_LOG(kWarning) << "the input's timestamps leapt (" << jumps << " so far, the largest "
                     << st->clock->largest_jump_ns() / GST_SECOND
                     << " s); it goes on from where it was";
  }
  return shift;
}

GstClockTime Moved(GstClockTime t, int64_t shift) {
  if (!GST_CLOCK_TIME_IS_VALID(t)) return t;
  return static_cast<GstClockTime>(std::max<int64_t>(static_cast<int64_t>(t) + shift, 0));
}

void Move(GstBuffer* buffer, int64_t shift) {
  GST_BUFFER_PTS(buffer) = Moved(GST_BUFFER_PTS(buffer), shift);
  GST_BUFFER_DTS(buffer) = Moved(GST_BUFFER_DTS(buffer), shift);
}

GstPadProbeReturn Probe(GstPad* pad, GstPadProbeInfo* info, gpointer data) noexcept {
  auto* st = static_cast<PadState*>(data);
  if ((info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) != 0) {
    GstEvent* event = GST_PAD_PROBE_INFO_EVENT(info);
    if (GST_EVENT_TYPE(event) == GST_EVENT_SEGMENT) {
      gst_event_copy_segment(event, &st->segment);
      st->have_segment = st->segment.format == GST_FORMAT_TIME && st->segment.rate == 1.0;
    } else if (GST_EVENT_TYPE(event) == GST_EVENT_GAP && st->have_segment) {
      // tsdemux tells a quiet stream how far the others have got, on its own timeline.
      const int64_t shift = st->clock->shift();
      GstClockTime ts = GST_CLOCK_TIME_NONE, duration = GST_CLOCK_TIME_NONE;
      gst_event_parse_gap(event, &ts, &duration);
      if (shift != 0 && GST_CLOCK_TIME_IS_VALID(ts))
        ReplaceProbedEvent(info, gst_event_new_gap(Moved(ts, shift), duration));
    }
    return GST_PAD_PROBE_OK;
  }
  if ((info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) != 0) {
    // tsdemux hands Opus on as lists of packets, one PES each: the PES's first timestamp counts.
    GstBufferList* list = GST_PAD_PROBE_INFO_BUFFER_LIST(info);
    GstBuffer* first = nullptr;
    for (guint i = 0; i < gst_buffer_list_length(list) && first == nullptr; ++i) {
      GstBuffer* b = gst_buffer_list_get(list, i);
      if (GST_BUFFER_DTS_IS_VALID(b) || GST_BUFFER_PTS_IS_VALID(b)) first = b;
    }
    if (first == nullptr) return GST_PAD_PROBE_OK;
    const int64_t shift = ShiftOf(st, pad, first);
    if (shift == 0) return GST_PAD_PROBE_OK;
    list = gst_buffer_list_make_writable(list);
    GST_PAD_PROBE_INFO_DATA(info) = list;
    for (guint i = 0; i < gst_buffer_list_length(list); ++i)
      Move(gst_buffer_list_get_writable(list, i), shift);
    return GST_PAD_PROBE_OK;
  }
  GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info);
  if (!GST_BUFFER_DTS_IS_VALID(buffer) && !GST_BUFFER_PTS_IS_VALID(buffer)) return GST_PAD_PROBE_OK;
  const int64_t shift = ShiftOf(st, pad, buffer);
  if (shift == 0) return GST_PAD_PROBE_OK;
  buffer = gst_buffer_make_writable(buffer);
  GST_PAD_PROBE_INFO_DATA(info) = buffer;
  Move(buffer, shift);
  return GST_PAD_PROBE_OK;
}

void OnDemuxerPad(GstElement*, GstPad* pad, gpointer clock) noexcept {
  CapsPtr caps(gst_pad_get_current_caps(pad));
  if (!caps) caps.reset(gst_pad_query_caps(pad, nullptr));
  if (!caps || gst_caps_get_size(caps.get()) == 0) return;  // empty or ANY
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
      static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST |
                                   GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
      &Probe, st, +[](gpointer data) noexcept { delete static_cast<PadState*>(data); });
}

}  // namespace newsreel::transcoder
