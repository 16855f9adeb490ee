#include "transcoder/hls_playlist.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace newsreel::transcoder {
namespace {

constexpr double kMaxSeconds = 86400;
constexpr int64_t kMaxBytes = int64_t{1} << 50;

// `v` (finite, not negative) with `places` decimals; -0 is written as 0.
std::string Decimal(double v, int places) {
  if (v == 0) v = 0;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", places, v);
  return buf;
}

std::string Seconds(double v) { return Decimal(v, 5); }

// ceil(v) as int64_t: 0 for NaN and below, INT64_MAX when it does not fit.
int64_t CeilToInt64(double v) {
  if (!(v > 0)) return 0;
  if (v >= 9.2e18) return std::numeric_limits<int64_t>::max();
  return static_cast<int64_t>(std::ceil(v));
}

bool SaneSeconds(double v) { return std::isfinite(v) && v >= 0 && v <= kMaxSeconds; }
bool SaneBytes(int64_t v) { return v >= 0 && v <= kMaxBytes; }

bool SaneCodecs(std::string_view codecs) {
  if (codecs.size() > 256) return false;
  for (char c : codecs)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != ',' && c != '+' &&
        c != '-')
      return false;
  return true;
}

Status Refuse(const std::string& what, std::string_view uri) {
  std::string shown;
  for (char c : uri.substr(0, 64)) shown += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  return InvalidArgument("playlist entry '" + shown + "': " + what);
}

Status CheckSegments(const std::vector<HlsSegment>& segments) {
  for (const auto& s : segments) {
    if (!IsSafePlaylistUri(s.uri)) return Refuse("not a safe relative name", s.uri);
    if (!SaneSeconds(s.duration)) return Refuse("duration out of range", s.uri);
    if (!SaneBytes(s.bytes)) return Refuse("size out of range", s.uri);
  }
  return Status::Ok();
}

}  // namespace

bool IsSafePlaylistUri(std::string_view uri) {
  if (uri.empty() || uri.size() > 255) return false;
  bool segment_start = true;
  for (char c : uri) {
    if (c == '/') {
      if (segment_start) return false;  // empty segment, or a leading '/'
      segment_start = true;
      continue;
    }
    if (segment_start && c == '.') return false;  // ".", "..", hidden names
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-')
      return false;
    segment_start = false;
  }
  return !segment_start;  // no trailing '/'
}

int64_t PeakBandwidth(const std::vector<HlsSegment>& segments) {
  double peak = 0;
  for (const auto& s : segments)
    if (s.duration > 0) peak = std::max(peak, static_cast<double>(s.bytes) * 8.0 / s.duration);
  return CeilToInt64(peak);
}

int64_t AverageBandwidth(const std::vector<HlsSegment>& segments) {
  double bytes = 0, seconds = 0;
  for (const auto& s : segments) {
    bytes += static_cast<double>(s.bytes);
    seconds += s.duration;
  }
  return seconds > 0 ? CeilToInt64(bytes * 8.0 / seconds) : 0;
}

int TargetDuration(const std::vector<HlsSegment>& segments) {
  double longest = 0;
  for (const auto& s : segments)
    if (s.duration > longest) longest = s.duration;  // NaN never is
  longest = std::min(longest, kMaxSeconds);
  // Allow a millisecond of rounding noise before stepping up a whole second.
  return std::max(1, static_cast<int>(std::ceil(longest - 0.001)));
}

namespace {

Result<std::string> PlaylistText(const std::vector<HlsSegment>& segments, bool ended, int target) {
  NR_RETURN_IF_ERROR(CheckSegments(segments));
  std::ostringstream o;
  o << "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:" << (ended ? "VOD" : "EVENT")
    << "\n#EXT-X-INDEPENDENT-SEGMENTS\n"
    << "#EXT-X-TARGETDURATION:" << target << "\n#EXT-X-MEDIA-SEQUENCE:0\n";
  for (const auto& s : segments) o << "#EXTINF:" << Seconds(s.duration) << ",\n" << s.uri << "\n";
  if (ended) o << "#EXT-X-ENDLIST\n";
  return o.str();
}

}  // namespace

Result<std::string> MediaPlaylistText(const std::vector<HlsSegment>& segments) {
  return PlaylistText(segments, true, TargetDuration(segments));
}

Result<std::string> EventPlaylistText(const std::vector<HlsSegment>& segments,
                                      int target_duration) {
  if (target_duration < 1 || target_duration > kMaxSeconds)
    return InvalidArgument("target duration out of range");
  if (!segments.empty() && TargetDuration(segments) > target_duration)
    return InvalidArgument("a segment is longer than the playlist's target duration");
  return PlaylistText(segments, false, target_duration);
}

Result<std::string> FinishedPlaylistText(const std::vector<HlsSegment>& segments,
                                         int target_duration) {
  if (target_duration < 1 || target_duration > kMaxSeconds)
    return InvalidArgument("target duration out of range");
  return PlaylistText(segments, true, std::max(target_duration, TargetDuration(segments)));
}

Result<std::string> IFramePlaylistText(const std::vector<HlsIFrame>& frames,
                                       const std::string& map_uri, int64_t map_length) {
  double longest = 0;
  for (const auto& f : frames) {
    if (!IsSafePlaylistUri(f.uri)) return Refuse("not a safe relative name", f.uri);
    if (!SaneSeconds(f.duration)) return Refuse("duration out of range", f.uri);
    if (!SaneBytes(f.offset) || !SaneBytes(f.length))
      return Refuse("byte range out of range", f.uri);
    longest = std::max(longest, f.duration);
  }
  if (!map_uri.empty() && !IsSafePlaylistUri(map_uri))
    return Refuse("not a safe relative name", map_uri);
  if (!SaneBytes(map_length)) return Refuse("map length out of range", map_uri);
  std::ostringstream o;
  o << "#EXTM3U\n#EXT-X-VERSION:5\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-I-FRAMES-ONLY\n"
    << "#EXT-X-INDEPENDENT-SEGMENTS\n"
    << "#EXT-X-TARGETDURATION:" << std::max(1, static_cast<int>(std::ceil(longest - 0.001)))
    << "\n#EXT-X-MEDIA-SEQUENCE:0\n";
  if (!map_uri.empty() && map_length > 0)
    o << "#EXT-X-MAP:URI=\"" << map_uri << "\",BYTERANGE=\"" << map_length << "@0\"\n";
  for (const auto& f : frames) {
    o << "#EXTINF:" << Seconds(f.duration) << ",\n"
      << "#EXT-X-BYTERANGE:" << f.length << "@" << f.offset << "\n"
      << f.uri << "\n";
  }
  o << "#EXT-X-ENDLIST\n";
  return o.str();
}

Result<std::string> MasterPlaylistText(const std::vector<HlsVariant>& variants) {
  for (const auto& v : variants) {
    if (!IsSafePlaylistUri(v.uri)) return Refuse("not a safe relative name", v.uri);
    if (!v.iframe_uri.empty() && !IsSafePlaylistUri(v.iframe_uri))
      return Refuse("not a safe relative name", v.iframe_uri);
    if (!SaneBytes(v.bandwidth) || !SaneBytes(v.average_bandwidth) ||
        !SaneBytes(v.iframe_bandwidth))
      return Refuse("bandwidth out of range", v.uri);
    if (!SaneCodecs(v.codecs)) return Refuse("codecs not of [A-Za-z0-9.,+-]", v.uri);
    if (v.width < 0 || v.height < 0 || (v.width == 0) != (v.height == 0))
      return Refuse("resolution out of range", v.uri);
    if (!SaneSeconds(v.frame_rate)) return Refuse("frame rate out of range", v.uri);
    if (v.width == 0 && !v.iframe_uri.empty())
      return Refuse("an audio-only variant has no I-frame playlist", v.uri);
  }
  std::ostringstream o;
  o << "#EXTM3U\n#EXT-X-VERSION:4\n#EXT-X-INDEPENDENT-SEGMENTS\n\n";
  for (const auto& v : variants) {
    o << "#EXT-X-STREAM-INF:BANDWIDTH=" << v.bandwidth;
    if (v.average_bandwidth > 0) o << ",AVERAGE-BANDWIDTH=" << v.average_bandwidth;
    o << ",CODECS=\"" << v.codecs << "\"";
    if (v.width > 0)
      o << ",RESOLUTION=" << v.width << "x" << v.height
        << ",FRAME-RATE=" << Decimal(v.frame_rate, 3);
    o << "\n" << v.uri << "\n";
  }
  o << "\n";
  for (const auto& v : variants) {
    if (v.iframe_uri.empty()) continue;
    std::string video_codec = v.codecs.substr(0, v.codecs.find(','));
    o << "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=" << v.iframe_bandwidth << ",CODECS=\"" << video_codec
      << "\",RESOLUTION=" << v.width << "x" << v.height << ",URI=\"" << v.iframe_uri << "\"\n";
  }
  return o.str();
}

}  // namespace newsreel::transcoder
