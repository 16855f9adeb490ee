#include "transcoder/media_extent.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <mutex>

#include "common/log.h"
#include "transcoder/feed_clock.h"
#include "transcoder/gst_util.h"
#include "transcoder/media_allowlist.h"
#include "transcoder/vod_pipeline.h"

namespace newsreel::transcoder {
namespace {

struct Extents {
  std::mutex mu;  // the two streams' streaming threads write, the caller reads after the run
  StreamExtent video, audio;
  GstPad* video_pad = nullptr;  // the fakesink pads measured; others are discarded
  GstPad* audio_pad = nullptr;
  int64_t total_buffers = 0;
  GstElement* pipeline = nullptr;
};

// The most a buffer counts for past its start: a picture of a slideshow, not the 136 years a
// hostile stream's timing data can give one frame.
constexpr int64_t kMaxBufferNs = 10 * static_cast<int64_t>(GST_SECOND);

void Measure(GstPad* pad, Extents* x, GstBuffer* b) {
  GstClockTime ts = GST_BUFFER_PTS_IS_VALID(b) ? GST_BUFFER_PTS(b) : GST_BUFFER_DTS(b);
  if (!GST_CLOCK_TIME_IS_VALID(ts)) return;
  const int64_t start = RunningTime(pad, ts);
  // A frame without a duration (a parser's last one) counts as 40 ms, one frame at 25 fps.
  const int64_t duration =
      GST_BUFFER_DURATION_IS_VALID(b)
          ? static_cast<int64_t>(std::min<GstClockTime>(GST_BUFFER_DURATION(b), kMaxBufferNs))
          : 40 * static_cast<int64_t>(GST_MSECOND);
  int64_t end;
  if (__builtin_add_overflow(start, duration, &end)) end = std::numeric_limits<int64_t>::max();
  std::lock_guard<std::mutex> lock(x->mu);
  StreamExtent& e = pad == x->video_pad ? x->video : x->audio;
  e.first = std::min(e.first, start);
  e.end = std::max(e.end, end);
  ++e.buffers;
  if (pad == x->video_pad && !GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DELTA_UNIT)) ++e.keyframes;
  ++x->total_buffers;
}

GstPadProbeReturn MeasureBuffers(GstPad* pad, GstPadProbeInfo* info, gpointer user) noexcept {
  auto* x = static_cast<Extents*>(user);
  if ((info->type & GST_PAD_PROBE_TYPE_BUFFER) != 0) {
    Measure(pad, x, GST_PAD_PROBE_INFO_BUFFER(info));
  } else {
    // tsdemux hands Opus on as lists of packets, one PES each.
    GstBufferList* list = GST_PAD_PROBE_INFO_BUFFER_LIST(info);
    for (guint i = 0; i < gst_buffer_list_length(list); ++i)
      Measure(pad, x, gst_buffer_list_get(list, i));
  }
  return GST_PAD_PROBE_OK;
}

void OnParsedPad(GstElement*, GstPad* pad, gpointer user) noexcept {
  auto* x = static_cast<Extents*>(user);
  CapsPtr caps(gst_pad_get_current_caps(pad));
  if (!caps) caps.reset(gst_pad_query_caps(pad, nullptr));
  const char* name = caps && gst_caps_get_size(caps.get()) > 0
                         ? gst_structure_get_name(gst_caps_get_structure(caps.get(), 0))
                         : "";
  NR_LOG(kDebug) << "extent: parsed stream " << name;
  GstElement* sink = gst_element_factory_make("fakesink", nullptr);
  g_object_set(sink, "sync", FALSE, "async", FALSE, nullptr);
  gst_bin_add(GST_BIN(x->pipeline), sink);
  GstPtr<GstPad> sink_pad(gst_element_get_static_pad(sink, "sink"));
  {
    std::lock_guard<std::mutex> lock(x->mu);
    GstPad** slot = nullptr;
    if (g_str_has_prefix(name, "video/") && x->video_pad == nullptr) slot = &x->video_pad;
    if (g_str_has_prefix(name, "audio/") && x->audio_pad == nullptr) slot = &x->audio_pad;
    if (slot != nullptr) {
      *slot = sink_pad.get();  // lives as long as the pipeline
      gst_pad_add_probe(
          sink_pad.get(),
          static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
          &MeasureBuffers, x, nullptr);
    }
  }
  gst_element_sync_state_with_parent(sink);
  gst_pad_link(pad, sink_pad.get());
}

}  // namespace

int64_t MediaExtents::length_ns() const {
  int64_t first = std::numeric_limits<int64_t>::max(), end = std::numeric_limits<int64_t>::min();
  for (const StreamExtent* e : {&video, &audio}) {
    if (!e->seen()) continue;
    first = std::min(first, e->first);
    end = std::max(end, e->end);
  }
  int64_t length;
  if (end <= first || __builtin_sub_overflow(end, first, &length)) return 0;
  return length;
}

Result<MediaExtents> MeasureByParsing(const std::string& path, std::chrono::seconds stall,
                                      std::chrono::seconds total) {
  EnsureGstInit();
  // What the streaming threads use, declared before the pipeline so that it outlives it; let go
  // of (not freed) when the pipeline cannot be stopped and its threads may still run.
  struct Shared {
    Extents x;
    FeedClock clock;  // as the transcode will see the file (feed_clock.h)
  };
  auto shared = std::make_unique<Shared>();
  Extents& x = shared->x;
  Pipeline pipeline("extent-scan");
  auto src = MakeElement("filesrc");
  auto parse = MakeElement("parsebin");
  if (!src || !parse) return NotFound("GStreamer element missing: filesrc or parsebin");
  RefuseOutsideElements(parse.get());
  KeepDemuxedFeedsContinuous(parse.get(), &shared->clock);
  g_object_set(src.get(), "location", path.c_str(), nullptr);
  GstElement* s = pipeline.Add(std::move(src));
  GstElement* p = pipeline.Add(std::move(parse));
  if (!gst_element_link(s, p)) return Internal("cannot link filesrc to parsebin");
  x.pipeline = pipeline.element();
  g_signal_connect(p, "pad-added", G_CALLBACK(&OnParsedPad), &x);
  if (gst_element_set_state(pipeline.element(), GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    return InvalidArgument("cannot start reading " + path);
  const auto started = std::chrono::steady_clock::now();
  auto last_change = started;
  int64_t last_buffers = -1;
  std::string error;
  bool overran = false;
  for (;;) {
    MessagePtr msg(gst_bus_timed_pop_filtered(
        pipeline.bus(), 250 * GST_MSECOND,
        static_cast<GstMessageType>(GST_MESSAGE_ERROR | GST_MESSAGE_EOS)));
    if (msg && GST_MESSAGE_TYPE(msg.get()) == GST_MESSAGE_EOS) break;
    if (msg) {
      // A damaged tail ends the read where it broke; what came before still counts.
      error = DescribeGstMessage(msg.get());
      break;
    }
    int64_t buffers;
    {
      std::lock_guard<std::mutex> lock(x.mu);
      buffers = x.total_buffers;
    }
    auto now = std::chrono::steady_clock::now();
    if (now - started > total) {
      overran = true;
      break;
    }
    if (buffers != last_buffers) {
      last_buffers = buffers;
      last_change = now;
    } else if (now - last_change > stall) {
      error = "no progress for " + std::to_string(stall.count()) + " s";
      break;
    }
  }
  if (!pipeline.StopWithin(std::chrono::seconds(20))) {
    (void)shared.release();  // the abandoned pipeline's threads may still call into it
    return Internal("reading " + path + " did not stop");
  }
  if (overran)
    return Status(ErrorCode::kTimeout,
                  "reading took longer than " + std::to_string(total.count()) + " s: " + path);
  std::lock_guard<std::mutex> lock(x.mu);
  if (!error.empty()) {
    NR_LOG(kWarning) << "extent: reading " << path << " ended early: " << error;
    if (!x.video.seen() && !x.audio.seen()) return InvalidArgument(error);
  }
  NR_LOG(kDebug) << "extent: " << path << ": video " << x.video.first << ".." << x.video.end << " ("
                 << x.video.buffers << ", " << x.video.keyframes << " key), audio " << x.audio.first
                 << ".." << x.audio.end << " (" << x.audio.buffers << ")";
  return MediaExtents{x.video, x.audio, error};
}

}  // namespace newsreel::transcoder
