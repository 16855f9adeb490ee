#include "transcoder/ladder.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <sstream>

namespace newsreel::transcoder {
namespace {

int Even(double v) { return std::max(2, static_cast<int>(std::lround(v / 2.0)) * 2); }

// Output frame rate for a source rate: sources above 30 fps are halved (50 -> 25, 59.94 -> 29.97);
// anything still above 30 is capped to 30.
void PickFrameRate(int src_n, int src_d, int& n, int& d) {
  n = src_n;
  d = src_d;
  if (n <= 0 || d <= 0) {
    n = 25;
    d = 1;
  }
  double fps = static_cast<double>(n) / d;
  if (fps > 30.5) {
    d *= 2;
    fps /= 2;
  }
  if (fps > 30.5) {
    n = 30;
    d = 1;
  }
  int g = std::gcd(n, d);
  n /= g;
  d /= g;
}

}  // namespace

int64_t Ladder::gop_ns() const {
  // Whole frames per GOP at the shared rate; every rung's GOP has the same duration.
  int64_t frames = std::llround(gop_seconds * fps_n / fps_d);
  return frames * 1000000000LL * fps_d / fps_n;
}

int64_t Ladder::segment_ns() const { return gop_ns() * gops_per_segment; }

Result<std::vector<int>> ParseLadderFlag(const std::string& flag) {
  std::vector<int> sides;
  std::stringstream ss(flag);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty() && (item.back() == 'p' || item.back() == 'P')) item.pop_back();
    if (item.empty() || item.find_first_not_of("0123456789") != std::string::npos)
      return InvalidArgument("--ladder: '" + item + "' is not a number of lines (e.g. 720)");
    int v = std::stoi(item);
    if (v < 64 || v > kMaxShortSide)
      return InvalidArgument("--ladder: " + item + " is outside 64..1080");
    sides.push_back(v);
  }
  if (sides.empty()) return InvalidArgument("--ladder: no rungs given");
  std::sort(sides.rbegin(), sides.rend());
  sides.erase(std::unique(sides.begin(), sides.end()), sides.end());
  return sides;
}

int VideoBitrateFor(int width, int height, double fps) {
  double pixels = static_cast<double>(width) * height;
  double kbps = 4500.0 * std::pow(pixels / (1920.0 * 1080.0), 0.8);
  kbps *= std::clamp(fps / 30.0, 0.8, 1.0);
  return static_cast<int>(std::lround(kbps / 10.0)) * 10 * 1000;  // round to 10 kb/s
}

Result<Ladder> PickLadder(const MediaInfo& source, const LadderOptions& options) {
  Ladder ladder;
  ladder.has_audio = source.has_audio();
  ladder.audio_bitrate = options.audio_bitrate;
  if (source.has_audio()) {
    int rate = source.audio.front().sample_rate;
    ladder.audio_rate = (rate == 44100 || rate == 48000) ? rate : 48000;
  }
  ladder.gop_seconds = options.gop_seconds;
  ladder.gops_per_segment =
      std::max(1, static_cast<int>(std::lround(options.segment_seconds / options.gop_seconds)));
  if (!source.has_video()) return ladder;
  if (options.short_sides.empty()) return InvalidArgument("the ladder has no rungs");

  const VideoStreamInfo& v = source.video.front();
  if (v.display_width < 2 || v.display_height < 2)
    return InvalidArgument("video stream has no usable size");
  PickFrameRate(v.fps_n, v.fps_d, ladder.fps_n, ladder.fps_d);

  const bool portrait = v.display_height > v.display_width;
  const double src_short = std::min(v.display_width, v.display_height);
  const double src_long = std::max(v.display_width, v.display_height);
  const double aspect = src_long / src_short;  // >= 1
  // The largest short side we may produce: the source's own, within the 1080/1920 caps.
  double top_short = std::min(
      {src_short, static_cast<double>(kMaxShortSide), static_cast<double>(kMaxLongSide) / aspect});

  // The top rung is the source's own short side, or the highest rung asked for if that is lower;
  // the others are the asked-for sides clearly below it (within 10 % would be redundant).
  int top = Even(std::min(top_short, static_cast<double>(options.short_sides.front())));
  std::vector<int> shorts = {top};
  for (int s : options.short_sides) {
    if (s < top * 0.9) shorts.push_back(s);
  }
  std::set<int> seen;
  const double gop_s = options.gop_seconds;
  for (int s : shorts) {
    if (!seen.insert(s).second) continue;
    Rung r;
    int long_side = Even(s * aspect);
    r.width = portrait ? s : long_side;
    r.height = portrait ? long_side : s;
    r.name = std::to_string(s) + "p";
    r.fps_n = ladder.fps_n;
    r.fps_d = ladder.fps_d;
    r.low = s <= kLowRungMax;
    const int64_t shared_gop_frames = std::llround(gop_s * r.fps_n / r.fps_d);
    r.gop_frames = static_cast<int>(shared_gop_frames);
    if (r.low && static_cast<double>(r.fps_n) / r.fps_d > 20 && shared_gop_frames % 2 == 0) {
      // Half the frame rate keeps every other frame, so its IDRs stay at the same instants
      // (half as many frames per GOP: with an odd number they could not).
      if (r.fps_n % 2 == 0) {
        r.fps_n /= 2;
      } else {
        r.fps_d *= 2;
      }
      r.gop_frames /= 2;
    }
    if (r.low) {
      r.bitrate = kLowRungVideoBps;
    } else {
      r.bitrate = VideoBitrateFor(r.width, r.height, r.frame_rate());
    }
    // Capped ABR: peak rate at the average, a 2 s buffer to spread bits within a segment
    // (half a second on the cellular rung, whose peak must stay under 192 kb/s).
    r.max_bitrate = r.bitrate;
    r.buffer_size = r.low ? r.bitrate / 2 : r.bitrate * 2;
    if (r.low && source.duration_ns > 0) {
      // Never a buffer longer than the programme on the cellular rung: a clip shorter than the
      // buffer is one segment whose bits the buffer alone bounds, since the first I-frame may
      // take all of it (a one-frame clip, 0.08 s at 12.5 fps, had a 2.3 KB frame: 300 kb/s).
      const double seconds = std::max(source.duration_seconds(), 1.0 * r.fps_d / r.fps_n);
      r.buffer_size = std::min(r.buffer_size, static_cast<int>(std::lround(r.bitrate * seconds)));
    }
    ladder.rungs.push_back(r);
  }
  return ladder;
}

std::vector<int> EncoderThreads(const Ladder& ladder, int cores) {
  std::vector<double> rates;  // pixels per second, per rung
  for (const Rung& r : ladder.rungs)
    rates.push_back(static_cast<double>(r.width) * r.height * r.frame_rate());
  const double total = std::accumulate(rates.begin(), rates.end(), 0.0);
  const int budget = std::max(1, cores) + 1;
  std::vector<int> threads;
  for (const double rate : rates)
    threads.push_back(
        std::max(1, static_cast<int>(std::lround((total > 0 ? rate / total : 0) * budget))));
  // The largest rung sets the pace: the decoder waits for room in its queue, and the smaller
  // rungs then wait for the decoder. With two threads its lookahead ran on the caller's thread
  // (sync-lookahead 0, encoder_registry.cpp), and a core idled 4-6 % of a 1080p ladder on two
  // cores; with three (x264 runs three frame threads and a lookahead thread of its own) under
  // 1 %.
  if (!threads.empty()) {
    int& pacing =
        threads[static_cast<size_t>(std::max_element(rates.begin(), rates.end()) - rates.begin())];
    pacing = std::max(pacing, std::min(3, budget));
  }
  return threads;
}

std::vector<int> ScaleSources(const Ladder& ladder, int frame_width, int frame_height) {
  std::vector<int> from(ladder.rungs.size(), -1);
  int parent = -1;
  for (size_t i = 0; i < ladder.rungs.size(); ++i) {
    const Rung& r = ladder.rungs[i];
    if (parent >= 0) {
      const Rung& p = ladder.rungs[static_cast<size_t>(parent)];
      if (!r.low && p.width >= 2 * r.width && p.height >= 2 * r.height) from[i] = parent;
      continue;
    }
    const bool scaled = r.width < frame_width || r.height < frame_height;
    if (scaled && r.fps_n == ladder.fps_n && r.fps_d == ladder.fps_d && !r.low)
      parent = static_cast<int>(i);
  }
  return from;
}

}  // namespace newsreel::transcoder
