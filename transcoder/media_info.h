#pragma once
// What a media file holds, as found by Probe(). Plain data; JSON via ToJson().

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/status.h"

namespace newsreel::transcoder {

struct VideoStreamInfo {
  std::string codec;        // short name: "h264", "hevc", "vp8", ...
  std::string description;  // human-readable, e.g. "H.264 (High Profile)"
  int width = 0;            // coded size, in pixels
  int height = 0;
  int par_n = 1;  // pixel aspect ratio
  int par_d = 1;
  int rotation = 0;       // clockwise degrees the picture must be turned for display: 0/90/180/270
  bool mirrored = false;  // a flip orientation tag (rare)
  int display_width = 0;  // after pixel aspect ratio and rotation
  int display_height = 0;
  int fps_n = 0;  // nominal/average frame rate; 0/1 when unknown
  int fps_d = 1;
  bool variable_frame_rate = false;
  bool interlaced = false;
  int bit_depth = 8;
  std::string colorimetry;  // GStreamer name ("bt709", "bt601", "1:4:5:4"); empty if unsignalled
  int64_t bitrate = 0;      // bits per second, 0 when unknown

  double frame_rate() const { return fps_d > 0 ? static_cast<double>(fps_n) / fps_d : 0.0; }
  bool portrait() const { return display_height > display_width; }
};

struct AudioStreamInfo {
  std::string codec;
  std::string description;
  int channels = 0;
  int sample_rate = 0;
  int64_t bitrate = 0;
};

struct MediaInfo {
  std::string path;
  std::string container;  // e.g. "Quicktime", "WebM", "MPEG-1 Layer 3 (MP3)"
  int64_t size_bytes = 0;
  int64_t duration_ns = 0;
  // The duration was measured from the packets' timestamps, the container giving none
  // (probe.h).
  bool duration_from_packets = false;
  std::vector<VideoStreamInfo> video;
  std::vector<AudioStreamInfo> audio;

  bool has_video() const { return !video.empty(); }
  bool has_audio() const { return !audio.empty(); }
  double duration_seconds() const { return static_cast<double>(duration_ns) / 1e9; }
};

nlohmann::json ToJson(const MediaInfo& info);

// Display size for a coded size, pixel aspect ratio and rotation (degrees clockwise).
// Rounds to the nearest whole pixel; a 90/270 rotation swaps width and height.
void ComputeDisplaySize(VideoStreamInfo& v);

}  // namespace newsreel::transcoder
