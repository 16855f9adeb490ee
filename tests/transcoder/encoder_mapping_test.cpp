// The property mapping of every encoder in the table, checked against the element's own
// properties: the live GParamSpecs where the element is installed, and otherwise the names,
// types and ranges GStreamer 1.22 documents, kept here as data with the source they come from.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <set>

#include "transcoder/device_path.h"
#include "transcoder/encoder_registry.h"
#include "transcoder/x264_element.h"

namespace newsreel::transcoder {
namespace {

enum class Kind { kUint, kInt, kBool, kEnum, kStructure };
struct Spec {
  Kind kind;
  int64_t min = 0;
  int64_t max = 0;
  std::set<std::string> nicks;  // kEnum: accepted nicks; kStructure: accepted field names
};
using Specs = std::map<std::string, Spec>;

constexpr int64_t kMaxUint = 4294967295LL;
constexpr int64_t kMaxInt = 2147483647LL;

Spec Uint(int64_t min, int64_t max) { return {Kind::kUint, min, max, {}}; }
Spec Int(int64_t min, int64_t max) { return {Kind::kInt, min, max, {}}; }
Spec Bool() { return {Kind::kBool, 0, 1, {}}; }
Spec Enum(std::set<std::string> nicks) { return {Kind::kEnum, 0, 0, std::move(nicks)}; }

// NVENC, GStreamer 1.22: gst-plugins-bad sys/nvcodec/gstnvbaseenc.c (preset, rc-mode, bitrate,
// max-bitrate, gop-size, i-adapt, strict-gop, zerolatency) and sys/nvcodec/gstnvh264enc.c,
// gstnvh265enc.c (vbv-buffer-size, bframes; "bframes" ranges 0 to what the GPU reports).
Specs Nvenc() {
  return {{"preset", Enum({"default", "hp", "hq", "low-latency", "low-latency-hq", "low-latency-hp",
                           "lossless", "lossless-hp"})},
          {"rc-mode", Enum({"default", "constqp", "cbr", "vbr", "vbr-minqp", "cbr-ld-hq", "cbr-hq",
                            "vbr-hq"})},
          {"bitrate", Uint(0, 2000 * 1024)},
          {"max-bitrate", Uint(0, 2000 * 1024)},
          {"vbv-buffer-size", Uint(0, kMaxUint)},
          {"gop-size", Int(-1, kMaxInt)},
          {"i-adapt", Bool()},
          {"strict-gop", Bool()},
          {"zerolatency", Bool()},
          {"bframes", Uint(0, 4)}};
}

// VA plugin, GStreamer 1.22: gst-plugins-bad sys/va/gstvah264enc.c and sys/va/gstvah265enc.c.
Specs Va(bool h265) {
  return {{"rate-control", Enum(h265 ? std::set<std::string>{"cbr", "vbr", "cqp"}
                                     : std::set<std::string>{"cbr", "vbr", "vcm", "cqp"})},
          {"bitrate", Uint(0, 2000 * 1024)},
          {"target-percentage", Uint(50, 100)},
          {"cpb-size", Uint(0, 2000 * 1024)},
          {"key-int-max", Uint(0, 1024)},
          {"b-frames", Uint(0, 31)},
          {"target-usage", Uint(1, 7)}};
}

// gstreamer-vaapi, GStreamer 1.22: gst-libs/gst/vaapi/gstvaapiencoder.c (bitrate,
// target-percentage, keyframe-period, quality-level), gstvaapiencoder_h264.c (rate-control,
// max-bframes, cpb-length, cabac, dct8x8) and gstvaapivalue.c (rate-control nicks).
Specs Vaapi() {
  return {{"rate-control", Enum({"cqp", "cbr", "vbr", "vbr_constrained", "icq", "qvbr"})},
          {"bitrate", Uint(0, 2000 * 1024)},
          {"target-percentage", Uint(1, 100)},
          {"cpb-length", Uint(1, 10000)},
          {"keyframe-period", Uint(0, kMaxUint)},
          {"max-bframes", Uint(0, 10)},
          {"cabac", Bool()},
          {"dct8x8", Bool()},
          {"quality-level", Uint(1, 7)}};
}

// Quick Sync, GStreamer 1.22: gst-plugins-bad sys/qsv/gstqsvencoder.cpp (target-usage,
// low-latency) and sys/qsv/gstqsvh264enc.cpp (the rest).
Specs Qsv() {
  return {{"rate-control",
           Enum({"cbr", "vbr", "cqp", "avbr", "la_vbr", "icq", "vcm", "la_icq", "la_hrd", "qvbr"})},
          {"bitrate", Uint(0, kMaxInt)},
          {"max-bitrate", Uint(0, kMaxInt)},
          {"gop-size", Uint(0, kMaxInt)},
          {"i-frames", Uint(0, kMaxInt)},
          {"b-frames", Uint(0, kMaxInt)},
          {"target-usage", Uint(1, 7)},
          {"low-latency", Bool()}};
}

// V4L2, GStreamer 1.22: gst-plugins-good sys/v4l2/gstv4l2object.c ("extra-controls", a
// GstStructure keyed by control names normalised by gst_v4l2_normalise_control_name()); the
// names are the kernel's (drivers/media/v4l2-core/v4l2-ctrls-defs.c): "Video Bitrate Mode",
// "Video Bitrate", "Video Peak Bitrate", "Video GOP Size", "H264 I-Frame Period",
// "Video B Frames", "H264 CPB Buffer Size".
Specs V4l2() {
  return {{"extra-controls",
           {Kind::kStructure,
            0,
            0,
            {"video_bitrate_mode", "video_bitrate", "video_peak_bitrate", "video_gop_size",
             "h264_i_frame_period", "video_b_frames", "h264_cpb_buffer_size"}}}};
}

// OpenH264, GStreamer 1.22: gst-plugins-bad ext/openh264/gstopenh264enc.cpp (used only where
// the element is not installed; here it usually is, and is checked live).
Specs OpenH264() {
  return {{"rate-control", Enum({"quality", "bitrate", "buffer", "off"})},
          {"bitrate", Uint(0, kMaxUint)},
          {"max-bitrate", Uint(0, kMaxUint)},
          {"gop-size", Uint(0, kMaxUint)},
          {"scene-change-detection", Bool()}};
}

const std::map<std::string, Specs>& Documented() {
  static const auto* d = new std::map<std::string, Specs>{
      {"nvh264enc", Nvenc()},  {"nvh265enc", Nvenc()},     {"vah264enc", Va(false)},
      {"vah265enc", Va(true)}, {"vaapih264enc", Vaapi()},  {"qsvh264enc", Qsv()},
      {"v4l2h264enc", V4l2()}, {"openh264enc", OpenH264()}};
  return *d;
}

bool ParseInt(const std::string& s, int64_t* out) {
  char* end = nullptr;
  *out = std::strtoll(s.c_str(), &end, 10);
  return !s.empty() && end != nullptr && *end == '\0';
}

// Empty when `p` fits the documented spec, else what is wrong.
std::string CheckDocumented(const Specs& specs, const ElementProperty& p) {
  auto it = specs.find(p.name);
  if (it == specs.end()) return "no documented property '" + p.name + "'";
  const Spec& spec = it->second;
  int64_t v = 0;
  switch (spec.kind) {
    case Kind::kUint:
    case Kind::kInt:
      if (!ParseInt(p.value, &v)) return p.name + "='" + p.value + "' is not an integer";
      if (v < spec.min || v > spec.max) return p.name + "=" + p.value + " is out of range";
      return "";
    case Kind::kBool:
      return p.value == "true" || p.value == "false" ? "" : p.name + " is not a boolean";
    case Kind::kEnum:
      return spec.nicks.count(p.value) ? "" : p.name + "='" + p.value + "' is not a known nick";
    case Kind::kStructure: {
      GstStructure* s = gst_structure_from_string(p.value.c_str(), nullptr);
      if (s == nullptr) return p.name + " does not parse as a structure";
      std::string bad;
      for (int i = 0; i < gst_structure_n_fields(s); ++i)
        if (!spec.nicks.count(gst_structure_nth_field_name(s, i)))
          bad = gst_structure_nth_field_name(s, i);
      gst_structure_free(s);
      return bad.empty() ? "" : "unknown control '" + bad + "'";
    }
  }
  return "";
}

std::vector<std::pair<std::string, VideoEncodeSettings>> Variants() {
  VideoEncodeSettings vod;
  vod.width = 1920;
  vod.height = 1080;
  vod.bitrate = 4500000;
  vod.max_bitrate = 4500000;
  vod.buffer_size = 9000000;
  vod.gop_frames = 60;
  VideoEncodeSettings live = vod;
  live.low_latency = true;
  VideoEncodeSettings cellular = vod;
  cellular.width = 256;
  cellular.height = 144;
  cellular.fps_n = 15;
  cellular.bitrate = 64000;
  cellular.max_bitrate = 64000;
  cellular.buffer_size = 32000;
  cellular.gop_frames = 30;
  VideoEncodeSettings bframes = vod;
  bframes.bframes = 2;
  bframes.level = "4.1";
  bframes.max_bitrate = 6750000;
  return {{"vod", vod}, {"live", live}, {"cellular", cellular}, {"bframes", bframes}};
}

TEST(EncoderMappingTest, EveryEntryMapsOntoItsElementsProperties) {
  EnsureGstInit();
  for (const auto& enc : EncoderRegistry::KnownEncoders()) {
    for (const auto& [variant, settings] : Variants()) {
      SCOPED_TRACE(enc->name() + " " + variant);
      EncoderConfig c = enc->Configure(settings);
      ASSERT_FALSE(c.properties.empty());
      CapsPtr caps(gst_caps_from_string(c.output_caps.c_str()));
      ASSERT_TRUE(caps) << c.output_caps;
      const GstStructure* st = gst_caps_get_structure(caps.get(), 0);
      EXPECT_STREQ(gst_structure_get_string(st, "stream-format"), "byte-stream");
      EXPECT_STREQ(gst_structure_get_string(st, "alignment"), "au");
      if (!settings.level.empty()) {
        EXPECT_STREQ(gst_structure_get_string(st, "level"), settings.level.c_str());
      }
      if (enc->Present()) {
        // The element the settings get: every property exists (or is optional) and every value
        // parses and lies within the GParamSpec's range.
        auto element = MakeElement(enc->factory().c_str());
        ASSERT_TRUE(element);
        for (const auto& p : c.properties) {
          if (p.optional) continue;
          EXPECT_NE(g_object_class_find_property(G_OBJECT_GET_CLASS(element.get()), p.name.c_str()),
                    nullptr)
              << p.name;
        }
        Status s = ApplyProperties(element.get(), c.properties);
        EXPECT_TRUE(s.ok()) << s.ToString();
      }
      auto doc = Documented().find(enc->factory());
      if (doc == Documented().end()) {
        // Only x264, which is always installed, is checked live alone.
        EXPECT_TRUE(enc->Present()) << enc->factory() << " is neither installed nor documented";
        continue;
      }
      for (const auto& p : c.properties) EXPECT_EQ(CheckDocumented(doc->second, p), "");
    }
  }
}

TEST(EncoderMappingTest, RateAndGopReachTheElementInItsUnits) {
  VideoEncodeSettings s = Variants()[0].second;
  auto value = [&](const std::string& name, const std::string& prop) {
    auto all = EncoderRegistry::KnownEncoders();
    for (const auto& e : all)
      if (e->name() == name)
        for (const auto& p : e->Configure(s).properties)
          if (p.name == prop) return p.value;
    return std::string("<none>");
  };
  EXPECT_EQ(value("nvenc-h264", "bitrate"), "4500");          // kbit/s
  EXPECT_EQ(value("nvenc-h264", "vbv-buffer-size"), "9000");  // kbit
  EXPECT_EQ(value("nvenc-h264", "gop-size"), "60");
  EXPECT_EQ(value("nvenc-h264", "bframes"), "0");  // hardware: no B-frames unless asked
  EXPECT_EQ(value("va-h264", "cpb-size"), "9000");
  EXPECT_EQ(value("va-h264", "target-percentage"), "100");
  EXPECT_EQ(value("vaapi-h264", "cpb-length"), "2000");  // ms: 9 Mbit at 4.5 Mb/s
  EXPECT_EQ(value("vaapi-h264", "keyframe-period"), "60");
  EXPECT_EQ(value("qsv-h264", "max-bitrate"), "4500");
  EXPECT_EQ(value("openh264", "bitrate"), "4500000");  // bit/s
  EXPECT_NE(value("v4l2-h264", "extra-controls").find("video_gop_size=(int)60"), std::string::npos);
}

TEST(EncoderMappingTest, X264KeepsItsSettings) {
  // Another engineer tunes these against ffmpeg: the registry rework must not move them. Every
  // rung, VOD and live, gets newsreelx264 (x264_element.h), with x264enc's parameters; live adds
  // the zero-latency tuning.
  VideoEncodeSettings s = Variants()[0].second;
  for (bool live : {false, true}) {
    s.low_latency = live;
    auto bin = X264Encoder().CreateBin(s);
    ASSERT_TRUE(bin.ok()) << bin.status().ToString();
    EXPECT_EQ(X264Encoder().factory(), kX264Factory);
    GstElement* x264 = nullptr;
    GstIterator* it = gst_bin_iterate_elements(GST_BIN(bin->get()));
    GValue item = G_VALUE_INIT;
    while (gst_iterator_next(it, &item) == GST_ITERATOR_OK) {
      auto* e = GST_ELEMENT(g_value_get_object(&item));
      if (g_str_has_prefix(GST_OBJECT_NAME(e), kX264Factory)) x264 = e;
      g_value_reset(&item);
    }
    g_value_unset(&item);
    gst_iterator_free(it);
    ASSERT_NE(x264, nullptr);
    guint bitrate = 0, vbv = 0, keyint = 0;
    gboolean byte_stream = FALSE;
    gchar* options = nullptr;
    g_object_get(x264, "bitrate", &bitrate, "vbv-buf-capacity", &vbv, "key-int-max", &keyint,
                 "byte-stream", &byte_stream, "option-string", &options, nullptr);
    gchar* preset = nullptr;
    gchar* tune = nullptr;
    gint bframes = 0;
    g_object_get(x264, "speed-preset", &preset, "tune", &tune, "bframes", &bframes, nullptr);
    EXPECT_STREQ(preset, "veryfast");
    if (live) {
      EXPECT_STREQ(tune, "zerolatency");
    } else {
      EXPECT_EQ(tune, nullptr);  // no tune for VOD
    }
    EXPECT_EQ(bframes, -1);  // the preset decides
    g_free(preset);
    g_free(tune);
    EXPECT_EQ(bitrate, 4500u);
    EXPECT_EQ(vbv, 2000u);
    EXPECT_EQ(keyint, 60u);
    EXPECT_TRUE(byte_stream);
    EXPECT_STREQ(options, "scenecut=0:open-gop=0");
    g_free(options);
    EXPECT_EQ(X264Encoder().Configure(s).output_caps,
              "video/x-h264,profile=high,stream-format=byte-stream,alignment=au");
  }
}

TEST(EncoderMappingTest, X264DoesLessAnalysisWhenAsked) {
  VideoEncodeSettings s = Variants()[0].second;
  s.fast_analysis = true;
  auto option_string = [](const EncoderConfig& c) {
    for (const auto& p : c.properties)
      if (p.name == "option-string") return p.value;
    return std::string();
  };
  EXPECT_EQ(option_string(X264Encoder().Configure(s)),
            "scenecut=0:open-gop=0:me=dia:partitions=p8x8,i8x8,i4x4");
  s.lookahead_frames = 10;  // live
  EXPECT_EQ(option_string(X264Encoder().Configure(s)),
            "scenecut=0:open-gop=0:keyint-min=60:me=dia:partitions=p8x8,i8x8,i4x4");
  // x264 itself accepts it (the option string is parsed when the encoder opens: the bin is
  // built here, the transcode tests see the value in the stream).
  EXPECT_TRUE(X264Encoder().CreateBin(s).ok());
}

TEST(EncoderMappingTest, ApplyPropertiesRejectsWrongNamesAndValues) {
  auto x264 = MakeElement("x264enc");
  ASSERT_TRUE(x264);
  EXPECT_FALSE(ApplyProperties(x264.get(), {{"no-such-thing", "1"}}).ok());
  EXPECT_TRUE(ApplyProperties(x264.get(), {{"no-such-thing", "1", true}}).ok());
  EXPECT_FALSE(ApplyProperties(x264.get(), {{"speed-preset", "warp"}}).ok());
  EXPECT_FALSE(ApplyProperties(x264.get(), {{"bitrate", "999999999"}}).ok());  // > 2048000
  EXPECT_TRUE(ApplyProperties(x264.get(), {{"bitrate", "1234"}}).ok());
  guint bitrate = 0;
  g_object_get(x264.get(), "bitrate", &bitrate, nullptr);
  EXPECT_EQ(bitrate, 1234u);
}

}  // namespace
}  // namespace newsreel::transcoder
