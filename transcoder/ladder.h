#pragma once
// Ladder policy: which renditions to make from a source. Pure functions of the probe result, so
// the policy is unit-tested without media.

#include <string>
#include <vector>

#include "common/status.h"
#include "transcoder/media_info.h"

namespace newsreel::transcoder {

// One video rendition.
struct Rung {
  std::string name;  // "720p": the short side, so a portrait 720x1280 is "720p" too
  int width = 0;     // even, display aspect ratio of the source, square pixels
  int height = 0;
  int fps_n = 30;  // constant output frame rate
  int fps_d = 1;
  int gop_frames = 60;  // IDR interval: exactly the ladder's GOP duration at this frame rate
  int bitrate = 0;      // target average video bitrate, bits/s
  int max_bitrate = 0;  // VBV maximum rate, bits/s
  int buffer_size = 0;  // VBV buffer, bits
  bool low = false;     // the cellular rung: reduced frame rate, fixed small budget

  double frame_rate() const { return static_cast<double>(fps_n) / fps_d; }
};

struct Ladder {
  std::vector<Rung> rungs;  // highest first; empty for audio-only sources
  bool has_audio = false;
  int audio_bitrate = 64000;  // stereo AAC-LC, encoded once and muxed into every rendition
  int audio_channels = 2;
  int audio_rate = 48000;
  int fps_n = 30;  // frame rate after the shared videorate (the top rungs' rate)
  int fps_d = 1;
  double gop_seconds = 2.0;
  int gops_per_segment = 3;  // segment length = gops_per_segment GOPs (about 6 s)

  // Exact GOP and segment durations in nanoseconds at the shared frame rate.
  int64_t gop_ns() const;
  int64_t segment_ns() const;
};

struct LadderOptions {
  // Short sides of the standard rungs, highest first. A short side at or under kLowRungMax
  // becomes the cellular rung (half frame rate, fixed budget).
  std::vector<int> short_sides = {1080, 720, 480, 360, 144};
  double gop_seconds = 2.0;
  double segment_seconds = 6.0;
  int audio_bitrate = 64000;
};

inline constexpr int kLowRungMax = 180;  // short side at or under this: the cellular rung
// The cellular rung's video budget: with 64 kb/s audio (about 70 kb/s once in MPEG-TS) a
// segment's peak stays under Apple's 192 kb/s even for a short last segment.
inline constexpr int kLowRungVideoBps = 64000;
inline constexpr int kMaxShortSide = 1080;
inline constexpr int kMaxLongSide = 1920;

// Parses "1080,720,480" (optionally with a trailing "p") into short sides, highest first.
Result<std::vector<int>> ParseLadderFlag(const std::string& flag);

// Picks the ladder for `source`: never upscales, keeps the display aspect ratio (portrait stays
// portrait), even sizes, frame rate at most 30 (50/60 fps sources are halved).
Result<Ladder> PickLadder(const MediaInfo& source, const LadderOptions& options);

// Target average video bitrate (bits/s) for a size and frame rate: 4.5 Mb/s for 1080p30, scaled
// by pixel count to the power 0.8, and down for frame rates under 30.
int VideoBitrateFor(int width, int height, double fps);

// Encoder threads for each rung of `ladder` (same order) on a machine with `cores` cores: a
// budget of cores + 1 threads shared in proportion to each rung's pixel rate, at least one each.
// The rungs encode side by side, so the machine is kept busy by the rungs together rather than
// by each encoder's own frame threads; every frame thread also holds frames in flight (a 1080p
// encoder with x264's default of 1.5 threads per core held ~60 MB of decoded frames more).
// The rung with the largest pixel rate paces the others and gets at least three threads (at
// most the budget), so that x264 runs its lookahead in a thread of its own.
std::vector<int> EncoderThreads(const Ladder& ladder, int cores);

// Where each rung of `ladder` (same order) is scaled from, for frames of frame_width x
// frame_height entering the ladder: -1 for those full-size frames, or the index of the rung
// whose scaled frames it shrinks further. A rung is scaled from the largest rung that is itself
// scaled down from the full-size frames and keeps the ladder's frame rate, when that rung is at
// least twice as wide and as high; otherwise from the full-size frames. From 1080p, 360p comes
// from 720p: a filter over 2x the pixels instead of 3x, less than half the scaling time
// (GStreamer's scaler, 120 frames: 1200 -> 520 ms), and as close to the source (SSIM after x264
// against ffmpeg's, bench/transcode_vs_ffmpeg.sh, RGB: +0.0002 to +0.0007, from 1080p -0.0007 to
// 0.0000).
// Two stages of smaller steps lose detail: 480p from 720p (1.5x) lost 0.004 RGB, 360p from
// 480p (1.33x) 0.006 before any encoding. The cellular rung (sharper bicubic, half the frame rate)
// stays on the full-size frames: from 480p it lost 0.03 to 0.04 (PAL 576p, Big Buck Bunny sources).
std::vector<int> ScaleSources(const Ladder& ladder, int frame_width, int frame_height);

}  // namespace newsreel::transcoder
