#pragma once
// HLS playlist text (RFC 8216, Apple's HLS Authoring Specification). We write the playlists
// ourselves because hlssink2 writes none of BANDWIDTH-as-measured, CODECS, FRAME-RATE,
// AVERAGE-BANDWIDTH, I-frame playlists or EXT-X-INDEPENDENT-SEGMENTS.

#include <cstdint>
#include <string>
#include <vector>

namespace newsreel::transcoder {

struct HlsSegment {
  std::string uri;      // relative to the playlist
  double duration = 0;  // seconds
  int64_t bytes = 0;
};

struct HlsIFrame {
  std::string uri;     // the segment holding the frame
  int64_t offset = 0;  // byte range of the frame's TS packets
  int64_t length = 0;
  double duration = 0;  // until the next I-frame
};

struct HlsVariant {
  std::string uri;         // media playlist
  std::string iframe_uri;  // empty for audio-only
  int64_t bandwidth = 0;   // measured peak segment bitrate, bits/s
  int64_t average_bandwidth = 0;
  int64_t iframe_bandwidth = 0;
  std::string codecs;  // "avc1.64001f,mp4a.40.2"
  int width = 0;       // 0 for audio-only
  int height = 0;
  double frame_rate = 0;
};

// Peak over segments of bytes*8/duration, and the overall average, in bits/s.
int64_t PeakBandwidth(const std::vector<HlsSegment>& segments);
int64_t AverageBandwidth(const std::vector<HlsSegment>& segments);

// EXT-X-TARGETDURATION: the smallest whole number of seconds that no segment exceeds.
int TargetDuration(const std::vector<HlsSegment>& segments);

std::string MediaPlaylistText(const std::vector<HlsSegment>& segments);
// `map_uri`/`map_length`: the PAT+PMT packets at the start of the first segment (EXT-X-MAP).
std::string IFramePlaylistText(const std::vector<HlsIFrame>& frames, const std::string& map_uri,
                               int64_t map_length);
// Video variants highest first, then audio-only variants (width == 0).
std::string MasterPlaylistText(const std::vector<HlsVariant>& variants);

}  // namespace newsreel::transcoder
