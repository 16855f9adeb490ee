#pragma once
// Helpers shared by the transcoder tests: temporary folders and the shared media.

#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
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

}  // namespace newsreel::transcoder::testing
