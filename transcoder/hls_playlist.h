#pragma once
// HLS playlist text (RFC 8216, Apple's HLS Authoring Specification). We write the playlists
// ourselves because hlssink2 writes none of BANDWIDTH-as-measured, CODECS, FRAME-RATE,
// AVERAGE-BANDWIDTH, I-frame playlists or EXT-X-INDEPENDENT-SEGMENTS.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

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
  std::string uri;                // media playlist
  std::string iframe_uri;         // empty for audio-only
  int64_t bandwidth = 0;          // measured peak segment bitrate, bits/s
  int64_t average_bandwidth = 0;  // 0: not known yet (no AVERAGE-BANDWIDTH is written)
  int64_t iframe_bandwidth = 0;
  std::string codecs;  // "avc1.64001f,mp4a.40.2"
  int width = 0;       // 0 for audio-only
  int height = 0;
  double frame_rate = 0;
};

// Peak over segments of bytes*8/duration, and the overall average, in bits/s (segments without a
// positive duration do not count; a result too large for int64_t is INT64_MAX).
int64_t PeakBandwidth(const std::vector<HlsSegment>& segments);
int64_t AverageBandwidth(const std::vector<HlsSegment>& segments);

// EXT-X-TARGETDURATION: the smallest whole number of seconds that no segment exceeds (at least 1,
// at most a day).
int TargetDuration(const std::vector<HlsSegment>& segments);

// A name a playlist may refer to: segments of [A-Za-z0-9._-] joined by '/', none empty or
// starting with '.', at most 255 characters. It stays inside the video's folder, and a player
// cannot read it as a tag, the end of a quoted attribute or a line break.
bool IsSafePlaylistUri(std::string_view uri);

// The writers refuse (kInvalidArgument, naming the entry) what would make a playlist that lies
// or that a player misreads, instead of writing it: a name IsSafePlaylistUri does not accept, a
// duration or frame rate that is not finite or lies outside [0, 86400], a size, offset or
// bandwidth outside [0, 2^50], codecs outside [A-Za-z0-9.,+-] (at most 256 characters), a
// negative width or height, or only one of them 0 (an audio-only variant has both 0 and no
// I-frame playlist).
Result<std::string> MediaPlaylistText(const std::vector<HlsSegment>& segments);

// A playlist that is still growing (progressive publishing, docs/transcoding.md):
// EXT-X-PLAYLIST-TYPE:EVENT and no EXT-X-ENDLIST, with a fixed EXT-X-TARGETDURATION
// (`target_duration` seconds, which no segment of the finished video exceeds: RFC 8216 forbids
// changing it while a playlist grows). Refuses a segment longer than `target_duration`.
Result<std::string> EventPlaylistText(const std::vector<HlsSegment>& segments, int target_duration);
// The finished playlist of a video that was published progressively: VOD, as MediaPlaylistText,
// but its EXT-X-TARGETDURATION never less than the `target_duration` its EVENT playlist had.
Result<std::string> FinishedPlaylistText(const std::vector<HlsSegment>& segments,
                                         int target_duration);
// `map_uri`/`map_length`: the PAT+PMT packets at the start of the first segment (EXT-X-MAP;
// none when `map_uri` is empty or `map_length` is 0).
Result<std::string> IFramePlaylistText(const std::vector<HlsIFrame>& frames,
                                       const std::string& map_uri, int64_t map_length);
// Video variants highest first, then audio-only variants (width == 0).
Result<std::string> MasterPlaylistText(const std::vector<HlsVariant>& variants);

}  // namespace newsreel::transcoder
