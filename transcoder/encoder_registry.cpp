#include "transcoder/encoder_registry.h"

#include <algorithm>

namespace newsreel::transcoder {

bool VideoEncoder::Present() const {
  EnsureGstInit();
  GstPtr<GstElementFactory> f(gst_element_factory_find(factory().c_str()));
  return f != nullptr;
}

const EncoderRegistry& EncoderRegistry::Default() {
  static const EncoderRegistry* registry = [] {
    auto* r = new EncoderRegistry();
    r->Register(std::make_unique<X264Encoder>());
    return r;
  }();
  return *registry;
}

void EncoderRegistry::Register(std::unique_ptr<VideoEncoder> encoder) {
  encoders_.push_back(std::move(encoder));
}

const VideoEncoder* EncoderRegistry::Find(const std::string& name) const {
  for (const auto& e : encoders_)
    if (e->name() == name) return e.get();
  return nullptr;
}

Result<const VideoEncoder*> EncoderRegistry::Select(const std::string& choice) const {
  if (choice == "auto") {
    for (const auto& e : encoders_)
      if (e->Present()) return e.get();
    return NotFound("no H.264 encoder is installed (install gstreamer1.0-plugins-ugly for x264)");
  }
  const VideoEncoder* e = Find(choice);
  if (e == nullptr) {
    std::string known;
    for (const auto& x : encoders_) known += (known.empty() ? "" : ", ") + x->name();
    return InvalidArgument("unknown encoder '" + choice + "' (known: auto, " + known + ")");
  }
  if (!e->Present())
    return NotFound("encoder '" + choice + "' needs the GStreamer element " + e->factory() +
                    ", which is not installed");
  return e;
}

Result<GstPtr<GstElement>> X264Encoder::CreateBin(const VideoEncodeSettings& s) const {
  auto bin = GstPtr<GstElement>(GST_ELEMENT(gst_object_ref_sink(gst_bin_new(nullptr))));
  auto enc = MakeElement("x264enc");
  auto caps = MakeElement("capsfilter");
  if (!enc || !caps) return NotFound("x264enc is not installed (gstreamer1.0-plugins-ugly)");
  const unsigned kbps = static_cast<unsigned>(std::max(1, s.bitrate / 1000));
  // x264enc's ABR mode sets VBV max rate = bitrate; the buffer is given in milliseconds.
  const unsigned buf_ms = static_cast<unsigned>(std::clamp<int64_t>(
      static_cast<int64_t>(s.buffer_size) * 1000 / std::max(1, s.bitrate), 100, 10000));
  g_object_set(enc.get(), "speed-preset", 3 /* veryfast */, "bitrate", kbps, "vbv-buf-capacity",
               buf_ms, "key-int-max", static_cast<unsigned>(s.gop_frames), "byte-stream", TRUE,
               nullptr);
  // No scene-cut keyframes: IDRs only every gop_frames, so every rung cuts at the same instants.
  std::string options = "scenecut=0:open-gop=0";
  if (s.low_latency) {
    g_object_set(enc.get(), "tune", 0x4 /* zerolatency */, nullptr);
  }
  g_object_set(enc.get(), "option-string", options.c_str(), nullptr);
  CapsPtr out(
      gst_caps_from_string("video/x-h264,profile=high,stream-format=byte-stream,alignment=au"));
  g_object_set(caps.get(), "caps", out.get(), nullptr);
  GstElement* e = enc.get();
  GstElement* c = caps.get();
  // The bin takes its own references; ours are dropped when enc and caps go out of scope.
  gst_bin_add_many(GST_BIN(bin.get()), e, c, nullptr);
  if (!gst_element_link(e, c)) return Internal("cannot link x264enc to its capsfilter");
  GstPtr<GstPad> sink(gst_element_get_static_pad(e, "sink"));
  GstPtr<GstPad> src(gst_element_get_static_pad(c, "src"));
  gst_element_add_pad(bin.get(), gst_ghost_pad_new("sink", sink.get()));
  gst_element_add_pad(bin.get(), gst_ghost_pad_new("src", src.get()));
  return bin;
}

}  // namespace newsreel::transcoder
