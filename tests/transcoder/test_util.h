#pragma once
// Helpers shared by the transcoder tests: temporary folders and the shared media.

#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "transcoder/gst_util.h"

namespace newsreel::transcoder::testing {

inline std::string Media(const std::string& name) {
  return std::string(NEWSREEL_MEDIA_DIR) + "/" + name;
}

// A fresh folder under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("newsreel-test-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Runs the gst-launch pipeline `desc` to its end; whether it reached EOS (within 30 s) without
// an error.
inline bool RunToEos(const std::string& desc) {
  EnsureGstInit();
  GError* err = nullptr;
  GstElement* p = gst_parse_launch(desc.c_str(), &err);
  EXPECT_EQ(err, nullptr) << (err ? err->message : "");
  if (err != nullptr) g_error_free(err);
  if (p == nullptr) return false;
  GstPtr<GstElement> pipeline(p);
  gst_element_set_state(p, GST_STATE_PLAYING);
  GstPtr<GstBus> bus(gst_element_get_bus(p));
  MessagePtr msg(
      gst_bus_timed_pop_filtered(bus.get(), 30 * GST_SECOND,
                                 static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR)));
  gst_element_set_state(p, GST_STATE_NULL);
  return msg && GST_MESSAGE_TYPE(msg.get()) == GST_MESSAGE_EOS;
}

// Pulls every buffer from the appsink `sink` until its stream ends, handing each to
// `take(buffer, map)` mapped for reading.
template <typename Take>
void PullEach(GstElement* sink, Take take) {
  while (GstSample* sample = gst_app_sink_pull_sample(GST_APP_SINK(sink))) {
    GstBuffer* buffer = gst_sample_get_buffer(sample);
    GstMapInfo map;
    if (gst_buffer_map(buffer, &map, GST_MAP_READ)) {
      take(buffer, map);
      gst_buffer_unmap(buffer, &map);
    }
    gst_sample_unref(sample);
  }
}

// Links the first pad that `bin` (a parsebin or decodebin) adds with caps named `prefix`
// ("video/", "audio/") to the sink pad of `element`.
inline void LinkFirstPad(GstElement* bin, const std::string& prefix, GstElement* element) {
  struct Target {
    std::string prefix;
    GstElement* element;
  };
  g_signal_connect_data(
      bin, "pad-added", G_CALLBACK(+[](GstElement*, GstPad* pad, gpointer data) noexcept {
        auto* target = static_cast<Target*>(data);
        CapsPtr caps(gst_pad_query_caps(pad, nullptr));
        const char* name = gst_structure_get_name(gst_caps_get_structure(caps.get(), 0));
        if (!g_str_has_prefix(name, target->prefix.c_str())) return;
        GstPtr<GstPad> sink(gst_element_get_static_pad(target->element, "sink"));
        if (!gst_pad_is_linked(sink.get())) gst_pad_link(pad, sink.get());
      }),
      new Target{prefix, element},
      +[](gpointer data, GClosure*) noexcept { delete static_cast<Target*>(data); },
      static_cast<GConnectFlags>(0));
}

// The factories of every element a decodebin plugs to decode `path` (prerolled, at any depth).
inline std::vector<std::string> FactoriesDecodebinPlugs(const std::string& path) {
  EnsureGstInit();
  std::vector<std::string> plugged;
  GError* err = nullptr;
  GstPtr<GstElement> pipeline(gst_parse_launch(
      ("filesrc location=" + path + " ! decodebin name=d d. ! fakesink").c_str(), &err));
  EXPECT_EQ(err, nullptr) << (err ? err->message : "");
  if (err != nullptr) g_error_free(err);
  if (!pipeline) return plugged;
  GstPtr<GstElement> decodebin(gst_bin_get_by_name(GST_BIN(pipeline.get()), "d"));
  g_signal_connect(decodebin.get(), "deep-element-added",
                   G_CALLBACK(+[](GstBin*, GstBin*, GstElement* element, gpointer names) noexcept {
                     GstElementFactory* f = gst_element_get_factory(element);
                     if (f != nullptr)
                       static_cast<std::vector<std::string>*>(names)->push_back(
                           gst_plugin_feature_get_name(GST_PLUGIN_FEATURE(f)));
                   }),
                   &plugged);
  gst_element_set_state(pipeline.get(), GST_STATE_PAUSED);
  gst_element_get_state(pipeline.get(), nullptr, nullptr, 30 * GST_SECOND);
  gst_element_set_state(pipeline.get(), GST_STATE_NULL);
  return plugged;
}

inline void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// The whole of a file ("" when it cannot be read).
inline std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A TS of two H.264 frames whose timing data (the SPS's VUI, rewritten by ffmpeg's h264_metadata)
// gives each 2^30 s and the stream 1/2^30 fps, as a hostile upload's could. Returns ffmpeg's exit
// status.
inline int WriteTsClaimingYearsPerFrame(const std::string& path) {
  const std::string command =
      "ffmpeg -nostdin -v quiet -f lavfi -i testsrc2=s=320x240:r=25 -frames:v 2 -c:v libx264 "
      "-preset ultrafast -bsf:v h264_metadata=tick_rate=1/4000000000 '" +
      path + "'";
  return std::system(command.c_str());
}

// A 33-bit MPEG timestamp (90 kHz) in its five PES bytes, the prefix bits kept.
inline int64_t PesTime(const unsigned char* b) {
  return (int64_t{b[0]} >> 1 & 7) << 30 | int64_t{b[1]} << 22 | (int64_t{b[2]} >> 1) << 15 |
         int64_t{b[3]} << 7 | int64_t{b[4]} >> 1;
}
inline void SetPesTime(unsigned char* b, int64_t t) {
  b[0] = static_cast<unsigned char>((b[0] & 0xF0) | (t >> 29 & 0x0E) | 1);
  b[1] = static_cast<unsigned char>(t >> 22);
  b[2] = static_cast<unsigned char>((t >> 14 & 0xFE) | 1);
  b[3] = static_cast<unsigned char>(t >> 7);
  b[4] = static_cast<unsigned char>((t << 1 & 0xFE) | 1);
}

// Moves timestamps of the MPEG-TS `ts` by `delta` ticks of 90 kHz (modulo 2^33): the PTS and DTS
// of the video PES packets numbered [first, last) (counting from 0), and with `audio_and_pcr` the
// audio PES packets and the PCRs from the first of those on, as an encoder restarting its clock
// would write them.
inline void ShiftTs(std::string& ts, int first, int last, int64_t delta, bool audio_and_pcr) {
  const auto moved = [delta](int64_t t) {
    constexpr int64_t kWrap = int64_t{1} << 33;
    return ((t + delta) % kWrap + kWrap) % kWrap;
  };
  int video = -1;
  bool shifting = false;
  for (size_t at = 0; at + 188 <= ts.size(); at += 188) {
    auto* p = reinterpret_cast<unsigned char*>(&ts[at]);
    const int control = p[3] >> 4 & 3;
    size_t payload = 4;
    if ((control & 2) != 0) {
      payload = 5 + p[4];
      if (shifting && audio_and_pcr && p[4] >= 7 && (p[5] & 0x10) != 0) {
        unsigned char* pcr = p + 6;
        int64_t base = int64_t{pcr[0]} << 25 | int64_t{pcr[1]} << 17 | int64_t{pcr[2]} << 9 |
                       int64_t{pcr[3]} << 1 | pcr[4] >> 7;
        base = moved(base);
        pcr[0] = static_cast<unsigned char>(base >> 25);
        pcr[1] = static_cast<unsigned char>(base >> 17);
        pcr[2] = static_cast<unsigned char>(base >> 9);
        pcr[3] = static_cast<unsigned char>(base >> 1);
        pcr[4] = static_cast<unsigned char>((base & 1) << 7 | (pcr[4] & 0x7F));
      }
    }
    if ((p[1] & 0x40) == 0 || (control & 1) == 0 || payload + 19 > 188) continue;
    unsigned char* pes = p + payload;
    if (pes[0] != 0 || pes[1] != 0 || pes[2] != 1) continue;
    const bool is_video = (pes[3] & 0xF0) == 0xE0;
    if (is_video) shifting = ++video >= first && (video < last || audio_and_pcr);
    if (!shifting || (!is_video && !audio_and_pcr)) continue;
    const int flags = pes[7] >> 6;
    if ((flags & 2) != 0) SetPesTime(pes + 9, moved(PesTime(pes + 9)));
    if (flags == 3) SetPesTime(pes + 14, moved(PesTime(pes + 14)));
  }
}

}  // namespace newsreel::transcoder::testing
