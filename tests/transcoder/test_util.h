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

inline void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

}  // namespace newsreel::transcoder::testing
