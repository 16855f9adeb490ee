#include "transcoder/live_playlist.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace newsreel::transcoder {
namespace {

std::string Seconds(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.5f", v);
  return buf;
}

}  // namespace

std::chrono::milliseconds MinimumDeleteGrace(int target_duration, double window_seconds) {
  return std::chrono::milliseconds(std::llround((window_seconds + target_duration) * 1000));
}

Status CheckLiveWindowOptions(const LiveWindowOptions& o) {
  if (o.target_duration < 1) return InvalidArgument("the target duration must be at least 1 s");
  if (o.window_seconds + 1e-9 < 3.0 * o.target_duration)
    return InvalidArgument("the live window (" + Seconds(o.window_seconds).substr(0, 5) +
                           " s) must hold at least three target durations (" +
                           std::to_string(3 * o.target_duration) + " s, RFC 8216 section 6.2.2)");
  const auto least = MinimumDeleteGrace(o.target_duration, o.window_seconds);
  if (o.delete_grace < least)
    return InvalidArgument("the delete grace must be at least " +
                           std::to_string(least.count() / 1000.0).substr(0, 5) +
                           " s: a segment stays available for its duration plus the longest "
                           "playlist that listed it (RFC 8216 section 6.2.2)");
  return Status::Ok();
}

void LiveWindow::Add(LiveSegment segment, Clock::time_point now) {
  listed_seconds_ += segment.duration;
  listed_.push_back(std::move(segment));
  const double keep = std::max(options_.window_seconds, 3.0 * options_.target_duration);
  while (listed_.size() > 1 && listed_seconds_ - listed_.front().duration >= keep - 1e-6) {
    listed_seconds_ -= listed_.front().duration;
    leaving_.push_back({listed_.front().uri, now + options_.delete_grace});
    listed_.pop_front();
  }
}

std::string LiveWindow::PlaylistText(bool ended) const {
  std::ostringstream o;
  // No EXT-X-PLAYLIST-TYPE: a sliding window is neither VOD nor EVENT.
  o << "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n"
    << "#EXT-X-TARGETDURATION:" << options_.target_duration << "\n"
    << "#EXT-X-MEDIA-SEQUENCE:" << media_sequence() << "\n";
  for (const LiveSegment& s : listed_)
    o << "#EXTINF:" << Seconds(s.duration) << ",\n" << s.uri << "\n";
  if (ended) o << "#EXT-X-ENDLIST\n";
  return o.str();
}

std::vector<std::string> LiveWindow::TakeExpired(Clock::time_point now) {
  std::vector<std::string> out;
  while (!leaving_.empty() && leaving_.front().deadline <= now) {
    out.push_back(std::move(leaving_.front().uri));
    leaving_.pop_front();
  }
  return out;
}

std::string LiveMasterPlaylistText(const std::vector<LiveVariant>& variants) {
  std::ostringstream o;
  o << "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n\n";
  for (const LiveVariant& v : variants) {
    char fr[16];
    std::snprintf(fr, sizeof fr, "%.3f", v.frame_rate);
    o << "#EXT-X-STREAM-INF:BANDWIDTH=" << v.bandwidth << ",CODECS=\"" << v.codecs
      << "\",RESOLUTION=" << v.width << "x" << v.height << ",FRAME-RATE=" << fr << "\n"
      << v.uri << "\n";
  }
  return o.str();
}

int64_t LiveBandwidthBound(const Rung& rung, bool has_audio, int audio_bitrate, int audio_rate,
                           double segment_seconds) {
  constexpr double kPacket = 188, kPayload = 184;
  const double t = std::max(segment_seconds, 0.001);
  const double video = rung.max_bitrate + rung.buffer_size / t;
  // Per video frame: a PES header (19 bytes with PTS and DTS), an adaptation field with a PCR
  // (8 bytes), and up to one packet of padding where the frame ends.
  const double per_frame_bits = (19 + 8 + kPacket) * 8;
  double bits = video * kPacket / kPayload + rung.frame_rate() * per_frame_bits;
  if (has_audio && audio_rate > 0) {
    // AAC frames of 1024 samples, at least one PES per 8 frames (the bundler), more at cuts.
    const double pes_per_second = audio_rate / 1024.0 / 8.0 + 1.0 / t;
    // The encoder's rate may stray a little above its target; each frame adds a 7-byte ADTS
    // header.
    const double audio = audio_bitrate * 1.1 + audio_rate / 1024.0 * 7 * 8;
    bits += audio * kPacket / kPayload + pes_per_second * (14 + kPacket) * 8;
  }
  bits += 2 * kPacket * 8 / t;  // PAT and PMT at the start of each segment
  return static_cast<int64_t>(std::ceil(bits));
}

}  // namespace newsreel::transcoder
