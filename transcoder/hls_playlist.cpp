#include "transcoder/hls_playlist.h"

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

int64_t PeakBandwidth(const std::vector<HlsSegment>& segments) {
  double peak = 0;
  for (const auto& s : segments)
    if (s.duration > 0) peak = std::max(peak, s.bytes * 8.0 / s.duration);
  return static_cast<int64_t>(std::ceil(peak));
}

int64_t AverageBandwidth(const std::vector<HlsSegment>& segments) {
  double bytes = 0, seconds = 0;
  for (const auto& s : segments) {
    bytes += static_cast<double>(s.bytes);
    seconds += s.duration;
  }
  return seconds > 0 ? static_cast<int64_t>(std::ceil(bytes * 8.0 / seconds)) : 0;
}

int TargetDuration(const std::vector<HlsSegment>& segments) {
  double longest = 0;
  for (const auto& s : segments) longest = std::max(longest, s.duration);
  // Allow a millisecond of rounding noise before stepping up a whole second.
  return std::max(1, static_cast<int>(std::ceil(longest - 0.001)));
}

std::string MediaPlaylistText(const std::vector<HlsSegment>& segments) {
  std::ostringstream o;
  o << "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n"
    << "#EXT-X-TARGETDURATION:" << TargetDuration(segments) << "\n#EXT-X-MEDIA-SEQUENCE:0\n";
  for (const auto& s : segments) o << "#EXTINF:" << Seconds(s.duration) << ",\n" << s.uri << "\n";
  o << "#EXT-X-ENDLIST\n";
  return o.str();
}

std::string IFramePlaylistText(const std::vector<HlsIFrame>& frames, const std::string& map_uri,
                               int64_t map_length) {
  double longest = 0;
  for (const auto& f : frames) longest = std::max(longest, f.duration);
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

std::string MasterPlaylistText(const std::vector<HlsVariant>& variants) {
  std::ostringstream o;
  o << "#EXTM3U\n#EXT-X-VERSION:4\n#EXT-X-INDEPENDENT-SEGMENTS\n\n";
  for (const auto& v : variants) {
    o << "#EXT-X-STREAM-INF:BANDWIDTH=" << v.bandwidth
      << ",AVERAGE-BANDWIDTH=" << v.average_bandwidth << ",CODECS=\"" << v.codecs << "\"";
    if (v.width > 0) {
      char fr[16];
      std::snprintf(fr, sizeof fr, "%.3f", v.frame_rate);
      o << ",RESOLUTION=" << v.width << "x" << v.height << ",FRAME-RATE=" << fr;
    }
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
