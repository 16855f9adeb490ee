#include "transcoder/live_playlist.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <type_traits>

namespace newsreel::transcoder {
std::string PlaylistSeconds(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.5f", seconds);
  return buf;
}

std::string LiveSegmentName(int64_t sequence) {
  char name[48];
  std::snprintf(name, sizeof name, "seg_%05lld.ts", static_cast<long long>(sequence));
  return name;
}

std::chrono::milliseconds MinimumDeleteGrace(int target_duration, double window_seconds) {
  return std::chrono::milliseconds(std::llround((window_seconds + target_duration) * 1000));
}

Status CheckLiveWindowOptions(const LiveWindowOptions& o) {
  if (o.target_duration < 1) return InvalidArgument("the target duration must be at least 1 s");
  if (o.window_seconds + 1e-9 < 3.0 * o.target_duration)
    return InvalidArgument("the live window (" + PlaylistSeconds(o.window_seconds).substr(0, 5) +
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

LiveWindow::LiveWindow(LiveWindowOptions options, std::vector<LiveSegment> listed,
                       const std::vector<PendingDeletion>& pending, int64_t discontinuity_sequence,
                       Clock::time_point now)
    : options_(options), discontinuity_sequence_(discontinuity_sequence) {
  for (LiveSegment& s : listed) {
    listed_seconds_ += s.duration;
    listed_.push_back(std::move(s));
  }
  for (const PendingDeletion& p : pending) leaving_.push_back({p.uri, now + p.remaining});
  std::stable_sort(leaving_.begin(), leaving_.end(),
                   [](const Leaving& a, const Leaving& b) { return a.deadline < b.deadline; });
}

void LiveWindow::Add(LiveSegment segment, Clock::time_point now) {
  listed_seconds_ += segment.duration;
  listed_.push_back(std::move(segment));
  const double keep = std::max(options_.window_seconds, 3.0 * options_.target_duration);
  while (listed_.size() > 1 && listed_seconds_ - listed_.front().duration >= keep - 1e-6) {
    listed_seconds_ -= listed_.front().duration;
    if (listed_.front().discontinuity) ++discontinuity_sequence_;
    leaving_.push_back({listed_.front().uri, now + options_.delete_grace});
    listed_.pop_front();
  }
}

std::vector<PendingDeletion> LiveWindow::PendingDeletions(Clock::time_point now) const {
  std::vector<PendingDeletion> out;
  for (const Leaving& l : leaving_)
    out.push_back(
        {l.uri, std::max(std::chrono::milliseconds(0),
                         std::chrono::duration_cast<std::chrono::milliseconds>(l.deadline - now))});
  return out;
}

std::string LiveWindow::PlaylistText(bool ended) const {
  std::ostringstream o;
  // No EXT-X-PLAYLIST-TYPE: a sliding window is neither VOD nor EVENT.
  o << "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n"
    << "#EXT-X-TARGETDURATION:" << options_.target_duration << "\n"
    << "#EXT-X-MEDIA-SEQUENCE:" << media_sequence() << "\n"
    << "#EXT-X-DISCONTINUITY-SEQUENCE:" << discontinuity_sequence_ << "\n";
  for (const LiveSegment& s : listed_) {
    if (s.discontinuity) o << "#EXT-X-DISCONTINUITY\n";
    o << "#EXTINF:" << PlaylistSeconds(s.duration) << ",\n" << s.uri << "\n";
  }
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

namespace {

using nlohmann::json;

constexpr int kStateVersion = 1;
// Bounds of what this worker writes, with room; anything beyond is a corrupt or hostile file.
constexpr size_t kMaxStateRungs = 16;
constexpr size_t kMaxStateSegments = 100000;
constexpr int64_t kMaxSequence = int64_t{1} << 40;
constexpr int64_t kMaxGraceMs = 7LL * 24 * 3600 * 1000;

json RungJson(const LiveRungState& r) {
  json segments = json::array(), pending = json::array();
  for (const LiveSegment& s : r.segments)
    segments.push_back({{"sequence", s.sequence},
                        {"uri", s.uri},
                        {"duration", s.duration},
                        {"bytes", s.bytes},
                        {"discontinuity", s.discontinuity}});
  for (const PendingDeletion& p : r.pending)
    pending.push_back({{"uri", p.uri}, {"remaining_ms", p.remaining.count()}});
  const Rung& g = r.rung;
  return {{"name", g.name},
          {"width", g.width},
          {"height", g.height},
          {"fps_n", g.fps_n},
          {"fps_d", g.fps_d},
          {"gop_frames", g.gop_frames},
          {"bitrate", g.bitrate},
          {"max_bitrate", g.max_bitrate},
          {"buffer_size", g.buffer_size},
          {"low", g.low},
          {"bandwidth", r.bandwidth},
          {"codecs", r.codecs},
          {"discontinuity_sequence", r.discontinuity_sequence},
          {"segments", segments},
          {"pending_deletion", pending}};
}

// Reads `key` of `j` as a number in [lo, hi]; throws std::runtime_error with the key's name.
template <typename T>
T Get(const json& j, const char* key, T lo, T hi) {
  if (!j.is_object() || !j.contains(key)) throw std::runtime_error(std::string("no ") + key);
  const json& v = j.at(key);
  if (!v.is_number()) throw std::runtime_error(std::string(key) + " is not a number");
  if constexpr (std::is_integral_v<T>) {
    if (!v.is_number_integer()) throw std::runtime_error(std::string(key) + " is not an integer");
  }
  const double d = v.get<double>();
  if (!(d >= static_cast<double>(lo) && d <= static_cast<double>(hi)))
    throw std::runtime_error(std::string(key) + " is out of range");
  return v.get<T>();
}

bool GetBool(const json& j, const char* key) {
  if (!j.contains(key) || !j.at(key).is_boolean())
    throw std::runtime_error(std::string(key) + " is not true or false");
  return j.at(key).get<bool>();
}

std::string GetString(const json& j, const char* key, const std::regex& allowed) {
  if (!j.contains(key) || !j.at(key).is_string())
    throw std::runtime_error(std::string(key) + " is not a string");
  std::string s = j.at(key).get<std::string>();
  // Bounded before the regex: libstdc++'s matcher recurses per character.
  if (s.size() > 128) throw std::runtime_error(std::string(key) + " is too long");
  if (!std::regex_match(s, allowed)) throw std::runtime_error(std::string(key) + " is malformed");
  return s;
}

const json& GetArray(const json& j, const char* key, size_t max) {
  if (!j.contains(key) || !j.at(key).is_array())
    throw std::runtime_error(std::string(key) + " is not a list");
  if (j.at(key).size() > max) throw std::runtime_error(std::string(key) + " is too long");
  return j.at(key);
}

LiveRungState ParseRung(const json& j, const LiveState& state) {
  static const std::regex kName("[1-9][0-9]{1,3}p");
  static const std::regex kCodecs("[A-Za-z0-9.,]{0,80}");
  static const std::regex kSegment("seg_[0-9]{5,13}\\.ts");
  LiveRungState r;
  Rung& g = r.rung;
  g.name = GetString(j, "name", kName);
  g.width = Get(j, "width", 16, 8192);
  g.height = Get(j, "height", 16, 8192);
  if (g.width % 2 != 0 || g.height % 2 != 0) throw std::runtime_error("a rung has an odd size");
  g.fps_n = Get(j, "fps_n", 1, 240000);
  g.fps_d = Get(j, "fps_d", 1, 1001);
  if (g.frame_rate() > 120) throw std::runtime_error("a rung's frame rate is above 120");
  g.gop_frames = Get(j, "gop_frames", 1, 1000);
  g.bitrate = Get(j, "bitrate", 1000, 200'000'000);
  g.max_bitrate = Get(j, "max_bitrate", 1000, 200'000'000);
  g.buffer_size = Get(j, "buffer_size", 1000, 2'000'000'000);
  g.low = GetBool(j, "low");
  r.bandwidth = Get<int64_t>(j, "bandwidth", 1000, 2'000'000'000);
  r.codecs = GetString(j, "codecs", kCodecs);
  r.discontinuity_sequence = Get<int64_t>(j, "discontinuity_sequence", 0, kMaxSequence);
  int64_t previous = -1;
  for (const json& s : GetArray(j, "segments", kMaxStateSegments)) {
    LiveSegment seg;
    seg.sequence = Get<int64_t>(s, "sequence", 0, kMaxSequence);
    if (previous >= 0 && seg.sequence != previous + 1)
      throw std::runtime_error("the segments of " + g.name + " are not in sequence");
    previous = seg.sequence;
    if (seg.sequence >= state.next_sequence)
      throw std::runtime_error("a segment of " + g.name + " is numbered past next_sequence");
    seg.uri = GetString(s, "uri", kSegment);
    if (seg.uri != LiveSegmentName(seg.sequence))
      throw std::runtime_error("segment " + seg.uri + " does not carry its sequence number");
    seg.duration = Get(s, "duration", 0.001, state.target_duration + 0.5);
    seg.bytes = Get<int64_t>(s, "bytes", 0, int64_t{1} << 40);
    seg.discontinuity = GetBool(s, "discontinuity");
    r.segments.push_back(std::move(seg));
  }
  for (const json& p : GetArray(j, "pending_deletion", kMaxStateSegments)) {
    PendingDeletion d;
    d.uri = GetString(p, "uri", kSegment);
    d.remaining = std::chrono::milliseconds(Get<int64_t>(p, "remaining_ms", 0, kMaxGraceMs));
    r.pending.push_back(std::move(d));
  }
  return r;
}

}  // namespace

std::string LiveStateJson(const LiveState& state) {
  json rungs = json::array();
  for (const LiveRungState& r : state.rungs) rungs.push_back(RungJson(r));
  json j = {{"version", kStateVersion},
            {"segment_seconds", state.segment_seconds},
            {"target_duration", state.target_duration},
            {"fps_n", state.fps_n},
            {"fps_d", state.fps_d},
            {"has_audio", state.has_audio},
            {"audio_bitrate", state.audio_bitrate},
            {"audio_rate", state.audio_rate},
            {"next_sequence", state.next_sequence},
            {"ended", state.ended},
            {"rungs", rungs}};
  return j.dump(1) + "\n";
}

Result<LiveState> ParseLiveState(const std::string& text) {
  auto refuse = [](const std::string& why) {
    return InvalidArgument(std::string(kLiveStateFile) + " is corrupt (" + why +
                           "); remove it to start a new stream in this folder");
  };
  if (text.size() > (64u << 20)) return refuse("larger than 64 MB");
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return refuse("not JSON");
  try {
    if (!j.is_object()) throw std::runtime_error("not an object");
    if (Get(j, "version", 0, 1 << 20) != kStateVersion)
      throw std::runtime_error("version " + j.at("version").dump() + ", this worker reads " +
                               std::to_string(kStateVersion));
    LiveState s;
    s.segment_seconds = Get(j, "segment_seconds", 1.0, 6.0);
    s.target_duration = Get(j, "target_duration", 1, 6);
    if (s.target_duration != static_cast<int>(std::ceil(s.segment_seconds - 0.001)))
      throw std::runtime_error("target_duration does not match segment_seconds");
    s.fps_n = Get(j, "fps_n", 1, 240000);
    s.fps_d = Get(j, "fps_d", 1, 1001);
    s.has_audio = GetBool(j, "has_audio");
    s.audio_bitrate = Get(j, "audio_bitrate", 8000, 512000);
    s.audio_rate = Get(j, "audio_rate", 8000, 96000);
    s.next_sequence = Get<int64_t>(j, "next_sequence", 0, kMaxSequence);
    s.ended = GetBool(j, "ended");
    const json& rungs = GetArray(j, "rungs", kMaxStateRungs);
    if (rungs.empty()) throw std::runtime_error("no rungs");
    std::set<std::string> names;
    for (const json& r : rungs) {
      s.rungs.push_back(ParseRung(r, s));
      if (!names.insert(s.rungs.back().rung.name).second)
        throw std::runtime_error("rung " + s.rungs.back().rung.name + " twice");
    }
    return s;
  } catch (const std::exception& e) {
    return refuse(e.what());
  }
}

Ladder LadderOfState(const LiveState& state) {
  Ladder l;
  for (const LiveRungState& r : state.rungs) l.rungs.push_back(r.rung);
  l.has_audio = state.has_audio;
  l.audio_bitrate = state.audio_bitrate;
  l.audio_rate = state.audio_rate;
  l.fps_n = state.fps_n;
  l.fps_d = state.fps_d;
  l.gop_seconds = state.segment_seconds;
  l.gops_per_segment = 1;
  return l;
}

}  // namespace newsreel::transcoder
