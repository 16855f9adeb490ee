#include "transcoder/video_timeline.h"

#include <gst/video/video.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "transcoder/gst_util.h"

namespace newsreel::transcoder {
namespace {

class VideoTimeline {
 public:
  VideoTimeline() {
    gst_segment_init(&segment_, GST_FORMAT_TIME);
    gst_segment_init(&held_segment_, GST_FORMAT_TIME);
  }
  ~VideoTimeline() {
    if (held_ != nullptr) gst_buffer_unref(held_);
  }
  VideoTimeline(const VideoTimeline&) = delete;
  VideoTimeline& operator=(const VideoTimeline&) = delete;

  GstPadProbeReturn OnEvent(GstPad* pad, GstPadProbeInfo* info);
  GstPadProbeReturn OnBuffer(GstPad* pad, GstPadProbeInfo* info);

 private:
  void ReleaseBeforeEvent(GstPad* pad);
  // Sends the held first frame on, stamped against the latest segment (against its own when
  // the latest one does not contain it). Returns what downstream returned (OK when nothing was
  // held).
  GstFlowReturn Release(GstPad* pad);

  bool passthrough_ = false;  // a segment this does not handle: everything passes untouched
  bool have_segment_ = false;
  bool segment_sent_ = false;  // the one segment [0, ∞) has gone downstream
  GstSegment segment_;         // the latest segment from upstream
  bool first_seen_ = false;    // the first frame has arrived (and is held or gone)
  GstBuffer* held_ = nullptr;  // owned
  GstSegment held_segment_;    // the segment the held frame came in
  bool releasing_ = false;     // inside our own gst_pad_chain() of the held frame
};

GstClockTime RunningTimeIn(const GstSegment& segment, GstClockTime pts) {
  return gst_segment_to_running_time(&segment, GST_FORMAT_TIME, pts);
}

GstPadProbeReturn VideoTimeline::OnEvent(GstPad* pad, GstPadProbeInfo* info) {
  GstEvent* event = GST_PAD_PROBE_INFO_EVENT(info);
  if (passthrough_) return GST_PAD_PROBE_OK;
  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_SEGMENT: {
      const GstSegment* in = nullptr;
      gst_event_parse_segment(event, &in);
      if (in->format != GST_FORMAT_TIME || in->rate != 1.0 || in->applied_rate != 1.0) {
        ReleaseBeforeEvent(pad);
        passthrough_ = true;
        return GST_PAD_PROBE_OK;
      }
      gst_segment_copy_into(in, &segment_);
      have_segment_ = true;
      if (segment_sent_) return GST_PAD_PROBE_DROP;
      segment_sent_ = true;
      GstSegment out;
      gst_segment_init(&out, GST_FORMAT_TIME);
      ReplaceProbedEvent(info, gst_event_new_segment(&out));
      return GST_PAD_PROBE_OK;
    }
    case GST_EVENT_FLUSH_STOP:
      // Downstream forgets its segment on a flush: start over (a VOD transcode never seeks).
      if (held_ != nullptr) gst_buffer_unref(held_);
      held_ = nullptr;
      have_segment_ = segment_sent_ = first_seen_ = false;
      return GST_PAD_PROBE_OK;
    default:
      // Caps, tags, gaps, EOS...: the held frame came before them.
      if (GST_EVENT_IS_SERIALIZED(event)) ReleaseBeforeEvent(pad);
      return GST_PAD_PROBE_OK;
  }
}

GstPadProbeReturn VideoTimeline::OnBuffer(GstPad* pad, GstPadProbeInfo* info) {
  if (releasing_ || passthrough_ || !have_segment_) return GST_PAD_PROBE_OK;
  GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info);
  if (!GST_BUFFER_PTS_IS_VALID(buffer)) return GST_PAD_PROBE_OK;
  if (!first_seen_) {
    first_seen_ = true;
    held_ = gst_buffer_ref(buffer);
    gst_segment_copy_into(&segment_, &held_segment_);
    return GST_PAD_PROBE_DROP;
  }
  const GstFlowReturn released = Release(pad);
  if (released < GST_FLOW_OK) {
    // Downstream refused the first frame (not negotiated, an error): say so upstream with this
    // one, as the element before us would have.
    gst_buffer_unref(buffer);
    GST_PAD_PROBE_INFO_DATA(info) = nullptr;
    GST_PAD_PROBE_INFO_FLOW_RETURN(info) = released;
    return GST_PAD_PROBE_HANDLED;
  }
  const GstClockTime running = RunningTimeIn(segment_, GST_BUFFER_PTS(buffer));
  if (!GST_CLOCK_TIME_IS_VALID(running)) return GST_PAD_PROBE_DROP;
  if (running != GST_BUFFER_PTS(buffer)) {
    buffer = gst_buffer_make_writable(buffer);
    GST_BUFFER_PTS(buffer) = running;
    GST_BUFFER_DTS(buffer) = GST_CLOCK_TIME_NONE;
    GST_PAD_PROBE_INFO_DATA(info) = buffer;
  }
  return GST_PAD_PROBE_OK;
}

void VideoTimeline::ReleaseBeforeEvent(GstPad* pad) {
  const GstFlowReturn ret = Release(pad);
  // An event cannot carry a flow error upstream; the element that refused the frame has posted
  // its error, or an empty rendition fails the transcode.
  if (ret < GST_FLOW_OK && ret != GST_FLOW_FLUSHING)
    GST_WARNING_OBJECT(pad, "the held first frame was refused: %s", gst_flow_get_name(ret));
}

GstFlowReturn VideoTimeline::Release(GstPad* pad) {
  if (held_ == nullptr) return GST_FLOW_OK;
  GstBuffer* buffer = held_;
  held_ = nullptr;
  GstClockTime running = RunningTimeIn(segment_, GST_BUFFER_PTS(buffer));
  if (!GST_CLOCK_TIME_IS_VALID(running))
    running = RunningTimeIn(held_segment_, GST_BUFFER_PTS(buffer));
  if (!GST_CLOCK_TIME_IS_VALID(running)) {
    gst_buffer_unref(buffer);
    return GST_FLOW_OK;
  }
  buffer = gst_buffer_make_writable(buffer);
  GST_BUFFER_PTS(buffer) = running;
  GST_BUFFER_DTS(buffer) = GST_CLOCK_TIME_NONE;
  releasing_ = true;
  // Takes ownership; re-enters the probe, which lets it pass.
  const GstFlowReturn ret = gst_pad_chain(pad, buffer);
  releasing_ = false;
  return ret;
}

GstPadProbeReturn Probe(GstPad* pad, GstPadProbeInfo* info, gpointer self) noexcept {
  auto* timeline = static_cast<VideoTimeline*>(self);
  if ((info->type & GST_PAD_PROBE_TYPE_BUFFER) != 0) return timeline->OnBuffer(pad, info);
  return timeline->OnEvent(pad, info);
}

// Frames seen since the start or the last flush.
struct FrameCount {
  uint64_t seen = 0;
  std::vector<guint8> captions;  // of the frame dropped last, for the next kept one
};

// Appends the CEA-708 raw caption bytes (cc_data triplets) on `buffer` to `to`.
void AppendCaptions(GstBuffer* buffer, std::vector<guint8>& to) {
  gpointer state = nullptr;
  while (GstMeta* meta =
             gst_buffer_iterate_meta_filtered(buffer, &state, GST_VIDEO_CAPTION_META_API_TYPE)) {
    const auto* cc = reinterpret_cast<const GstVideoCaptionMeta*>(meta);
    if (cc->caption_type == GST_VIDEO_CAPTION_TYPE_CEA708_RAW)
      to.insert(to.end(), cc->data, cc->data + cc->size - cc->size % 3);
  }
}

// `bytes` (cc_data triplets) as the one CEA-708 raw caption meta of the writable `buffer`, none
// when empty. CEA-608 triplets (cc_type 0 and 1) go first, as CEA-708 orders them; beyond the 31
// triplets a picture can carry (A/53's cc_count), the padding ones (cc_valid 0) are dropped
// first, then the last ones.
void SetCaptions(GstBuffer* buffer, const std::vector<guint8>& bytes) {
  gpointer state = nullptr;
  while (GstMeta* meta =
             gst_buffer_iterate_meta_filtered(buffer, &state, GST_VIDEO_CAPTION_META_API_TYPE)) {
    if (reinterpret_cast<GstVideoCaptionMeta*>(meta)->caption_type !=
        GST_VIDEO_CAPTION_TYPE_CEA708_RAW)
      continue;
    if (!gst_buffer_remove_meta(buffer, meta)) break;  // locked: leave it
    state = nullptr;                                   // the iteration starts again after a removal
  }
  constexpr size_t kMaxTriplets = 31;
  std::vector<std::array<guint8, 3>> triplets;
  for (size_t i = 0; i + 3 <= bytes.size(); i += 3)
    triplets.push_back({bytes[i], bytes[i + 1], bytes[i + 2]});
  if (triplets.empty()) return;
  std::stable_partition(triplets.begin(), triplets.end(),
                        [](const std::array<guint8, 3>& t) { return (t[0] & 0x02) == 0; });
  if (triplets.size() > kMaxTriplets)
    triplets.erase(
        std::remove_if(triplets.begin(), triplets.end(),
                       [](const std::array<guint8, 3>& t) { return (t[0] & 0x04) == 0; }),
        triplets.end());
  if (triplets.size() > kMaxTriplets) triplets.resize(kMaxTriplets);
  std::vector<guint8> out;
  for (const auto& t : triplets) out.insert(out.end(), t.begin(), t.end());
  if (!out.empty())
    gst_buffer_add_video_caption_meta(buffer, GST_VIDEO_CAPTION_TYPE_CEA708_RAW, out.data(),
                                      out.size());
}

// Whether the next frame is kept; a kept frame gets twice its duration, and the closed captions
// of the frame dropped before it ahead of its own: a caption is a byte stream spread over the
// pictures, and dropping half of it would garble every line.
bool KeepNext(FrameCount& count, GstBuffer*& buffer) {
  if (count.seen++ % 2 == 1) {
    AppendCaptions(buffer, count.captions);  // empty: the kept frame before took them
    return false;
  }
  if (GST_BUFFER_DURATION_IS_VALID(buffer) || !count.captions.empty())
    buffer = gst_buffer_make_writable(buffer);
  if (GST_BUFFER_DURATION_IS_VALID(buffer)) GST_BUFFER_DURATION(buffer) *= 2;
  if (!count.captions.empty()) {
    AppendCaptions(buffer, count.captions);
    SetCaptions(buffer, count.captions);
    count.captions.clear();
  }
  return true;
}

GstPadProbeReturn KeepEveryOther(GstPad*, GstPadProbeInfo* info, gpointer user) noexcept {
  auto* count = static_cast<FrameCount*>(user);
  if ((info->type & GST_PAD_PROBE_TYPE_BUFFER) != 0) {
    GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info);
    if (!KeepNext(*count, buffer)) return GST_PAD_PROBE_DROP;
    GST_PAD_PROBE_INFO_DATA(info) = buffer;
    return GST_PAD_PROBE_OK;
  }
  if ((info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) != 0) {
    GstBufferList* list = gst_buffer_list_make_writable(GST_PAD_PROBE_INFO_BUFFER_LIST(info));
    gst_buffer_list_foreach(
        list,
        +[](GstBuffer** buffer, guint, gpointer c) noexcept -> gboolean {
          if (!KeepNext(*static_cast<FrameCount*>(c), *buffer)) {
            gst_buffer_unref(*buffer);
            *buffer = nullptr;  // removed from the list
          }
          return TRUE;
        },
        count);
    GST_PAD_PROBE_INFO_DATA(info) = list;
    return GST_PAD_PROBE_OK;
  }
  if (GST_EVENT_TYPE(GST_PAD_PROBE_INFO_EVENT(info)) == GST_EVENT_FLUSH_STOP) {
    count->seen = 0;
    count->captions.clear();
  }
  return GST_PAD_PROBE_OK;
}

}  // namespace

void KeepEveryOtherFrame(GstPad* pad) {
  gst_pad_add_probe(
      pad,
      static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST |
                                   GST_PAD_PROBE_TYPE_EVENT_FLUSH),
      &KeepEveryOther, new FrameCount,
      +[](gpointer count) noexcept { delete static_cast<FrameCount*>(count); });
}

void CarryCaptionsThrough(GstElement* element) {
  // The caption bytes of the frames that went in and have not gone out yet, by timestamp.
  struct Pending {
    std::mutex mu;
    std::deque<std::pair<GstClockTime, std::vector<guint8>>> frames;
  };
  auto pending = std::make_shared<Pending>();
  GstPtr<GstPad> sink(gst_element_get_static_pad(element, "sink"));
  GstPtr<GstPad> src(gst_element_get_static_pad(element, "src"));
  gst_pad_add_probe(
      sink.get(),
      static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_FLUSH),
      +[](GstPad*, GstPadProbeInfo* info, gpointer user) noexcept -> GstPadProbeReturn {
        auto& p = **static_cast<std::shared_ptr<Pending>*>(user);
        std::lock_guard lock(p.mu);
        if ((info->type & GST_PAD_PROBE_TYPE_BUFFER) != 0) {
          GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info);
          std::vector<guint8> bytes;
          AppendCaptions(buffer, bytes);
          if (!bytes.empty()) p.frames.emplace_back(GST_BUFFER_PTS(buffer), std::move(bytes));
        } else if (GST_EVENT_TYPE(GST_PAD_PROBE_INFO_EVENT(info)) == GST_EVENT_FLUSH_STOP) {
          p.frames.clear();
        }
        return GST_PAD_PROBE_OK;
      },
      new std::shared_ptr<Pending>(pending),
      +[](gpointer user) noexcept { delete static_cast<std::shared_ptr<Pending>*>(user); });
  gst_pad_add_probe(
      src.get(), GST_PAD_PROBE_TYPE_BUFFER,
      +[](GstPad*, GstPadProbeInfo* info, gpointer user) noexcept -> GstPadProbeReturn {
        auto& p = **static_cast<std::shared_ptr<Pending>*>(user);
        GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info);
        const GstClockTime at = GST_BUFFER_PTS(buffer);
        // The frames up to this one's instant: its own and those dropped since the last. Should
        // the two sides' timestamps ever part, no more than a few frames wait (a live worker
        // runs for hours).
        constexpr size_t kMostWaiting = 8;
        std::vector<guint8> bytes;
        {
          std::lock_guard lock(p.mu);
          while (!p.frames.empty() &&
                 (!GST_CLOCK_TIME_IS_VALID(at) ||
                  !GST_CLOCK_TIME_IS_VALID(p.frames.front().first) ||
                  p.frames.front().first <= at || p.frames.size() > kMostWaiting)) {
            bytes.insert(bytes.end(), p.frames.front().second.begin(),
                         p.frames.front().second.end());
            p.frames.pop_front();
          }
        }
        const bool has = gst_buffer_get_meta(buffer, GST_VIDEO_CAPTION_META_API_TYPE) != nullptr;
        if (bytes.empty() && !has) return GST_PAD_PROBE_OK;
        buffer = gst_buffer_make_writable(buffer);
        SetCaptions(buffer, bytes);  // none on a repeated frame: its captions went out once
        GST_PAD_PROBE_INFO_DATA(info) = buffer;
        return GST_PAD_PROBE_OK;
      },
      new std::shared_ptr<Pending>(pending),
      +[](gpointer user) noexcept { delete static_cast<std::shared_ptr<Pending>*>(user); });
}

void KeepOneVideoTimeline(GstPad* pad) {
  gst_pad_add_probe(
      pad,
      static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM |
                                   GST_PAD_PROBE_TYPE_EVENT_FLUSH),
      &Probe, new VideoTimeline,
      +[](gpointer self) noexcept { delete static_cast<VideoTimeline*>(self); });
}

}  // namespace newsreel::transcoder
