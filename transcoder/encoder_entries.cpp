// The table of known encoders, highest priority first, and how each maps VideoEncodeSettings onto
// its element's properties. Property names, types and units are those of GStreamer 1.22; the
// source file each comes from is named above its mapping, and tests/transcoder/
// encoder_mapping_test.cpp checks every mapping against them.

#include <algorithm>
#include <string>

#include "transcoder/encoder_registry.h"

namespace newsreel::transcoder {
namespace {

std::string Str(int64_t v) { return std::to_string(v); }
int64_t Kbps(int bits) { return std::max<int64_t>(1, bits / 1000); }
int MaxRate(const VideoEncodeSettings& s) { return std::max(s.bitrate, s.max_bitrate); }
int BFrames(const VideoEncodeSettings& s) { return std::max(0, s.bframes); }
// VBV buffer in kbit; 2 s of the peak rate when the rung gives none.
int64_t BufferKbit(const VideoEncodeSettings& s) {
  return std::max<int64_t>(1, (s.buffer_size > 0 ? s.buffer_size : 2LL * MaxRate(s)) / 1000);
}
const char* Bool(bool b) { return b ? "true" : "false"; }

std::string H264Caps(const VideoEncodeSettings& s, const std::string& profile) {
  std::string caps = "video/x-h264,profile=" + profile + ",stream-format=byte-stream,alignment=au";
  if (!s.level.empty()) caps += ",level=(string)" + s.level;
  return caps;
}
std::string H265Caps(const VideoEncodeSettings& s) {
  // Our settings speak H.264 profiles; HEVC rungs are 8-bit 4:2:0, which is Main.
  const std::string profile = s.profile == "main10" ? "main-10" : "main";
  std::string caps = "video/x-h265,profile=" + profile + ",stream-format=byte-stream,alignment=au";
  if (!s.level.empty()) caps += ",level=(string)" + s.level;
  return caps;
}

// NVENC. gst-plugins-bad sys/nvcodec/gstnvbaseenc.c (preset, rc-mode, bitrate and max-bitrate
// in kbit/s, gop-size, zerolatency, strict-gop, i-adapt) and gstnvh264enc.c / gstnvh265enc.c
// (vbv-buffer-size in kbit, bframes: installed only when the GPU supports them).
std::vector<ElementProperty> NvencCommon(const VideoEncodeSettings& s) {
  return {{"preset", s.low_latency ? "low-latency-hq" : "hq"},
          {"rc-mode", s.low_latency ? "cbr-ld-hq" : "vbr"},
          {"bitrate", Str(Kbps(s.bitrate))},
          {"max-bitrate", Str(Kbps(MaxRate(s)))},
          {"vbv-buffer-size", Str(BufferKbit(s)), true},
          {"gop-size", Str(s.gop_frames)},
          {"i-adapt", "false"},
          {"strict-gop", "true"},
          {"zerolatency", Bool(s.low_latency)},
          {"bframes", Str(s.low_latency ? 0 : BFrames(s)), true}};
}
EncoderConfig MapNvh264(const VideoEncodeSettings& s) {
  return {NvencCommon(s), H264Caps(s, s.profile)};
}
EncoderConfig MapNvh265(const VideoEncodeSettings& s) { return {NvencCommon(s), H265Caps(s)}; }

// VA-API (new plugin). gst-plugins-bad sys/va/gstvah264enc.c and gstvah265enc.c: bitrate in
// kbit/s, target-percentage = target/max rate in percent (50-100, VBR only), cpb-size in kbit,
// key-int-max (at most 1024), b-frames, target-usage 1 (quality) - 7 (speed).
std::vector<ElementProperty> VaCommon(const VideoEncodeSettings& s) {
  const int64_t percent =
      std::clamp<int64_t>(int64_t{s.bitrate} * 100 / std::max(1, MaxRate(s)), 50, 100);
  return {{"rate-control", s.low_latency ? "cbr" : "vbr"},
          {"bitrate", Str(Kbps(s.bitrate))},
          {"target-percentage", Str(percent)},
          {"cpb-size", Str(std::min<int64_t>(BufferKbit(s), 2000 * 1024))},
          {"key-int-max", Str(std::min(s.gop_frames, 1024))},
          {"b-frames", Str(s.low_latency ? 0 : std::min(BFrames(s), 31))},
          {"target-usage", s.low_latency ? "7" : "4"}};
}
EncoderConfig MapVah264(const VideoEncodeSettings& s) {
  return {VaCommon(s), H264Caps(s, s.profile)};
}
EncoderConfig MapVah265(const VideoEncodeSettings& s) { return {VaCommon(s), H265Caps(s)}; }

// gstreamer-vaapi. gst-libs/gst/vaapi/gstvaapiencoder.c (bitrate in kbit/s, target-percentage
// 1-100, keyframe-period, quality-level 1-7) and gstvaapiencoder_h264.c (rate-control,
// max-bframes 0-10, cpb-length in ms 1-10000, cabac and dct8x8 off by default: High needs both).
EncoderConfig MapVaapih264(const VideoEncodeSettings& s) {
  const int64_t percent =
      std::clamp<int64_t>(int64_t{s.bitrate} * 100 / std::max(1, MaxRate(s)), 1, 100);
  const int64_t cpb_ms = std::clamp<int64_t>(BufferKbit(s) * 1000 / Kbps(MaxRate(s)), 1, 10000);
  const bool high = s.profile == "high";
  return {{{"rate-control", s.low_latency ? "cbr" : "vbr"},
           {"bitrate", Str(Kbps(s.bitrate))},
           {"target-percentage", Str(percent)},
           {"cpb-length", Str(cpb_ms)},
           {"keyframe-period", Str(s.gop_frames)},
           {"max-bframes", Str(s.low_latency ? 0 : std::min(BFrames(s), 10))},
           {"cabac", Bool(s.profile != "baseline" && s.profile != "constrained-baseline")},
           {"dct8x8", Bool(high)},
           {"quality-level", s.low_latency ? "7" : "4"}},
          H264Caps(s, s.profile)};
}

// Quick Sync (oneVPL/MediaSDK). gst-plugins-bad sys/qsv/gstqsvencoder.cpp (target-usage 1-7,
// low-latency) and gstqsvh264enc.cpp (rate-control, bitrate and max-bitrate in kbit/s, gop-size,
// i-frames: 0 makes every I-frame an IDR, b-frames). 1.22 has no VBV buffer property: the SDK
// derives the HRD buffer from the rates.
EncoderConfig MapQsvh264(const VideoEncodeSettings& s) {
  return {{{"rate-control", s.low_latency ? "cbr" : "vbr"},
           {"bitrate", Str(Kbps(s.bitrate))},
           {"max-bitrate", Str(Kbps(MaxRate(s)))},
           {"gop-size", Str(s.gop_frames)},
           {"i-frames", "0"},
           {"b-frames", Str(s.low_latency ? 0 : BFrames(s))},
           {"target-usage", s.low_latency ? "7" : "4"},
           {"low-latency", Bool(s.low_latency)}},
          H264Caps(s, s.profile)};
}

// V4L2 stateful encoders (Raspberry Pi, Rockchip, i.MX, ...). gst-plugins-good
// sys/v4l2/gstv4l2object.c: settings go through "extra-controls", a structure keyed by the
// kernel control names normalised to lower case with '_' (v4l2-ctrls-defs.c: "Video Bitrate Mode",
// "Video Bitrate" and "Video Peak Bitrate" in bit/s, "Video GOP Size", "H264 I-Frame Period",
// "Video B Frames", "H264 CPB Buffer Size" in kB). Profile and level go through the caps.
EncoderConfig MapV4l2h264(const VideoEncodeSettings& s) {
  const std::string controls =
      "controls,video_bitrate_mode=(int)0,video_bitrate=(int)" + Str(s.bitrate) +
      ",video_peak_bitrate=(int)" + Str(MaxRate(s)) + ",video_gop_size=(int)" + Str(s.gop_frames) +
      ",h264_i_frame_period=(int)" + Str(s.gop_frames) + ",video_b_frames=(int)" +
      Str(s.low_latency ? 0 : BFrames(s)) + ",h264_cpb_buffer_size=(int)" +
      Str(std::max<int64_t>(1, BufferKbit(s) / 8));
  return {{{"extra-controls", controls}}, H264Caps(s, s.profile)};
}

// OpenH264. gst-plugins-bad ext/openh264/gstopenh264enc.cpp: rate-control, bitrate and
// max-bitrate in bit/s, gop-size, scene-change-detection. Cisco's encoder only makes
// Constrained Baseline (it refuses High and Main), so it is the last resort.
EncoderConfig MapOpenh264(const VideoEncodeSettings& s) {
  return {{{"rate-control", "bitrate"},
           {"bitrate", Str(s.bitrate)},
           {"max-bitrate", Str(MaxRate(s))},
           {"gop-size", Str(s.gop_frames)},
           {"scene-change-detection", "false"}},
          H264Caps(s, "constrained-baseline")};
}

// OpenH264 hands back each frame's bitstream from the call that takes the frame: it holds no
// frame back, so there is nothing to drain at the end. gstopenh264enc (1.22) drains it anyway,
// calling EncodeFrame(NULL) until that fails, and the library reports the failure on stderr
// ("[OpenH264] ... Error:CWelsH264SVCEncoder::EncodeFrame(), cmInitParaError"): an error line
// for every encoder in every run, trial included. The end of stream therefore goes round the
// element, from its sink pad straight out of its source pad. A frame that fails to encode
// still fails the pipeline (the element posts an error), and the library's other reports
// still reach stderr.
GstPadProbeReturn EosAroundOpenh264(GstPad* sink, GstPadProbeInfo* info, gpointer) noexcept {
  GstEvent* event = GST_PAD_PROBE_INFO_EVENT(info);
  if (GST_EVENT_TYPE(event) != GST_EVENT_EOS) return GST_PAD_PROBE_OK;
  GstPtr<GstElement> encoder(gst_pad_get_parent_element(sink));
  if (!encoder) return GST_PAD_PROBE_OK;
  GstPtr<GstPad> src(gst_element_get_static_pad(encoder.get(), "src"));
  if (!src) return GST_PAD_PROBE_OK;
  gst_pad_push_event(src.get(), gst_event_ref(event));
  return GST_PAD_PROBE_DROP;
}

class Openh264Encoder : public TableEncoder {
 public:
  Openh264Encoder()
      : TableEncoder("openh264", "openh264enc", VideoCodec::kH264, DeviceFamily::kNone, false,
                     MapOpenh264) {}

  Result<GstPtr<GstElement>> CreateBin(const VideoEncodeSettings& s) const override {
    auto bin = TableEncoder::CreateBin(s);
    if (!bin.ok()) return bin;
    GstIterator* it =
        gst_bin_iterate_all_by_element_factory_name(GST_BIN(bin->get()), factory().c_str());
    GValue item = G_VALUE_INIT;
    const bool found = it != nullptr && gst_iterator_next(it, &item) == GST_ITERATOR_OK;
    if (it != nullptr) gst_iterator_free(it);
    if (!found) return Internal("the " + factory() + " bin has no " + factory());
    auto* encoder = static_cast<GstElement*>(g_value_get_object(&item));
    GstPtr<GstPad> sink(gst_element_get_static_pad(encoder, "sink"));
    g_value_unset(&item);
    gst_pad_add_probe(sink.get(), GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, &EosAroundOpenh264, nullptr,
                      nullptr);
    return bin;
  }
};

}  // namespace

std::vector<std::unique_ptr<VideoEncoder>> EncoderRegistry::KnownEncoders() {
  using C = VideoCodec;
  using D = DeviceFamily;
  std::vector<std::unique_ptr<VideoEncoder>> v;
  auto hw = [&](const char* name, const char* factory, C codec, D device, TableEncoder::MapFn f) {
    v.push_back(std::make_unique<TableEncoder>(name, factory, codec, device, true, f));
  };
  hw("nvenc-h264", "nvh264enc", C::kH264, D::kNvidia, MapNvh264);
  hw("nvenc-h265", "nvh265enc", C::kH265, D::kNvidia, MapNvh265);
  hw("va-h264", "vah264enc", C::kH264, D::kVaapi, MapVah264);
  hw("va-h265", "vah265enc", C::kH265, D::kVaapi, MapVah265);
  hw("vaapi-h264", "vaapih264enc", C::kH264, D::kVaapi, MapVaapih264);
  hw("qsv-h264", "qsvh264enc", C::kH264, D::kIntelQsv, MapQsvh264);
  hw("v4l2-h264", "v4l2h264enc", C::kH264, D::kV4l2, MapV4l2h264);
  v.push_back(std::make_unique<X264Encoder>());
  v.push_back(std::make_unique<Openh264Encoder>());
  return v;
}

}  // namespace newsreel::transcoder
