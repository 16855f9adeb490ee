#include "transcoder/encoder_registry.h"

#include "transcoder/x264_element.h"

#include <algorithm>

namespace newsreel::transcoder {

const char* VideoCodecName(VideoCodec codec) {
  return codec == VideoCodec::kH265 ? "h265" : "h264";
}

const char* DeviceFamilyName(DeviceFamily family) {
  switch (family) {
    case DeviceFamily::kNvidia:
      return "nvidia";
    case DeviceFamily::kVaapi:
      return "vaapi";
    case DeviceFamily::kIntelQsv:
      return "qsv";
    case DeviceFamily::kV4l2:
      return "v4l2";
    case DeviceFamily::kNone:
      break;
  }
  return "none";
}

bool VideoEncoder::Present() const {
  EnsureGstInit();
  GstPtr<GstElementFactory> f(gst_element_factory_find(factory().c_str()));
  return f != nullptr;
}

Status ApplyProperties(GstElement* element, const std::vector<ElementProperty>& properties) {
  GObjectClass* klass = G_OBJECT_GET_CLASS(element);
  for (const ElementProperty& p : properties) {
    GParamSpec* spec = g_object_class_find_property(klass, p.name.c_str());
    if (spec == nullptr) {
      if (p.optional) continue;
      return Internal(std::string(G_OBJECT_TYPE_NAME(element)) + " has no property '" + p.name +
                      "'");
    }
    // gst_util_set_object_arg() only logs when the value does not parse; check first so that a
    // wrong mapping is an error with a reason, not a silently ignored setting.
    GValue v = G_VALUE_INIT;
    g_value_init(&v, G_PARAM_SPEC_VALUE_TYPE(spec));
    const bool parsed = gst_value_deserialize_with_pspec(&v, p.value.c_str(), spec) &&
                        !g_param_value_validate(spec, &v);
    g_value_unset(&v);
    if (!parsed)
      return Internal("cannot set " + std::string(G_OBJECT_TYPE_NAME(element)) + "." + p.name +
                      " to '" + p.value + "'");
    gst_util_set_object_arg(G_OBJECT(element), p.name.c_str(), p.value.c_str());
  }
  return Status::Ok();
}

Result<GstPtr<GstElement>> VideoEncoder::CreateBin(const VideoEncodeSettings& s) const {
  EnsureGstInit();
  auto bin = GstPtr<GstElement>(GST_ELEMENT(gst_object_ref_sink(gst_bin_new(nullptr))));
  const EncoderConfig config = Configure(s);
  const std::string element = factory();
  auto enc = MakeElement(element.c_str());
  auto caps = MakeElement("capsfilter");
  if (!enc || !caps) return NotFound("GStreamer element " + element + " is not installed");
  NR_RETURN_IF_ERROR(ApplyProperties(enc.get(), config.properties));
  CapsPtr out(gst_caps_from_string(config.output_caps.c_str()));
  if (!out) return Internal("bad output caps for " + name() + ": " + config.output_caps);
  g_object_set(caps.get(), "caps", out.get(), nullptr);
  GstPtr<GstElement> convert;
  if (ConvertInput() && s.input_memory.empty()) {
    convert = MakeElement("videoconvert");
    if (!convert) return NotFound("GStreamer element videoconvert is not installed");
  }
  GstElement* e = enc.get();
  GstElement* c = caps.get();
  GstElement* first = convert ? convert.get() : e;
  // The bin takes its own references; ours are dropped when the GstPtrs go out of scope.
  gst_bin_add_many(GST_BIN(bin.get()), e, c, nullptr);
  if (convert) {
    gst_bin_add(GST_BIN(bin.get()), first);
    if (!gst_element_link(first, e)) return Internal("cannot link videoconvert to " + element);
  }
  if (!gst_element_link(e, c)) return Internal("cannot link " + element + " to its capsfilter");
  GstPtr<GstPad> sink(gst_element_get_static_pad(first, "sink"));
  GstPtr<GstPad> src(gst_element_get_static_pad(c, "src"));
  gst_element_add_pad(bin.get(), gst_ghost_pad_new("sink", sink.get()));
  gst_element_add_pad(bin.get(), gst_ghost_pad_new("src", src.get()));
  return bin;
}

EncoderRegistry::EncoderRegistry(std::vector<std::unique_ptr<VideoEncoder>> encoders)
    : encoders_(std::move(encoders)) {}

const EncoderRegistry& EncoderRegistry::Default() {
  static const EncoderRegistry* registry = new EncoderRegistry(KnownEncoders());
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
      if (e->codec() == VideoCodec::kH264 && e->Present()) return e.get();
    return NotFound("no H.264 encoder is installed");
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

// Every rung, VOD and live: our element over libx264, which frees each input frame once x264
// has copied it (x264_element.h), with x264enc's parameters and so x264enc's stream. It is
// part of newsreel, so x264 is there wherever libx264 is: GStreamer's x264enc is not needed.
std::string X264Encoder::factory() const { return kX264Factory; }

EncoderConfig X264Encoder::Configure(const VideoEncodeSettings& s) const {
  const unsigned kbps = static_cast<unsigned>(std::max(1, s.bitrate / 1000));
  // x264enc's ABR mode sets VBV max rate = bitrate; the buffer is given in milliseconds.
  const unsigned buf_ms = static_cast<unsigned>(std::clamp<int64_t>(
      static_cast<int64_t>(s.buffer_size) * 1000 / std::max(1, s.bitrate), 100, 10000));
  EncoderConfig c;
  c.properties = {{"speed-preset", "veryfast"},
                  {"bitrate", std::to_string(kbps)},
                  {"vbv-buf-capacity", std::to_string(buf_ms)},
                  {"key-int-max", std::to_string(s.gop_frames)},
                  {"byte-stream", "true"}};
  if (s.low_latency) c.properties.push_back({"tune", "zerolatency"});
  if (s.threads > 0) {
    c.properties.push_back({"threads", std::to_string(s.threads)});
    // A threaded lookahead buffers frames of its own (~40 MB at 1080p); it pays only when the
    // encoder has threads to spare.
    if (s.threads <= 2) c.properties.push_back({"sync-lookahead", "0"});
  }
  // Only when asked for: otherwise the veryfast preset decides, as it always has.
  if (s.bframes >= 0) c.properties.push_back({"bframes", std::to_string(s.bframes)});
  if (s.lookahead_frames >= 0) {
    // Live: the frames x264 holds back bound its latency. B-frames stay (the rung asks for a
    // fixed number), but none is a reference: no B-pyramid reordering to wait for.
    c.properties.push_back({"rc-lookahead", std::to_string(s.lookahead_frames)});
    c.properties.push_back({"sync-lookahead", "0"});
    c.properties.push_back({"b-pyramid", "false"});
  }
  // No scene-cut keyframes: IDRs only every gop_frames, so every rung cuts at the same instants.
  // (x264 clamps keyint-min to half the GOP + 1; with scene cuts off it only documents intent.)
  std::string options = "scenecut=0:open-gop=0";
  if (s.lookahead_frames >= 0) options += ":keyint-min=" + std::to_string(s.gop_frames);
  if (s.fast_analysis) options += ":me=dia:partitions=p8x8,i8x8,i4x4";
  c.properties.push_back({"option-string", options});
  c.output_caps = "video/x-h264,profile=" + s.profile + ",stream-format=byte-stream,alignment=au";
  if (!s.level.empty()) c.output_caps += ",level=(string)" + s.level;
  return c;
}

}  // namespace newsreel::transcoder
