#include "transcoder/aac_bundle.h"

namespace newsreel::transcoder {

AacBundle::~AacBundle() {
  if (bundle_ != nullptr) gst_buffer_unref(bundle_);
}

GstBuffer* AacBundle::Take() {
  GstBuffer* out = gst_buffer_make_writable(bundle_);
  bundle_ = nullptr;
  GST_BUFFER_PTS(out) = GST_BUFFER_DTS(out) = pts_;
  GST_BUFFER_DURATION(out) = duration_;
  return out;
}

void AacBundle::Flush(GstPad* pad) {
  flushing_ = true;
  gst_pad_chain(pad, Take());  // takes ownership; re-enters the probe, which lets it pass
  flushing_ = false;
}

void AacBundle::FlushAtEos(GstPad* pad) {
  if (bundle_ != nullptr) Flush(pad);
}

GstPadProbeReturn AacBundle::Add(GstPad* pad, GstPadProbeInfo* info, int64_t pts, int64_t segment) {
  GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info);
  if (bundle_ != nullptr && segment != segment_) Flush(pad);
  const GstClockTime duration = GST_BUFFER_DURATION(buffer);
  const gsize size = gst_buffer_get_size(buffer);
  if (bundle_ == nullptr) {
    bundle_ = gst_buffer_ref(buffer);
    frames_ = 1;
    bytes_ = size;
    duration_ = duration;
    segment_ = segment;
    pts_ = pts;
  } else {
    bundle_ = gst_buffer_append(bundle_, gst_buffer_ref(buffer));
    ++frames_;
    bytes_ += size;
    if (GST_CLOCK_TIME_IS_VALID(duration) && GST_CLOCK_TIME_IS_VALID(duration_))
      duration_ += duration;
  }
  if (frames_ < 8 && bytes_ < 2000) return GST_PAD_PROBE_DROP;
  gst_buffer_unref(buffer);
  GST_PAD_PROBE_INFO_DATA(info) = Take();
  return GST_PAD_PROBE_OK;
}

}  // namespace newsreel::transcoder
