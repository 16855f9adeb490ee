#pragma once
// Live HLS playlists (RFC 8216 §6.2.2): a sliding window of segments per rung, the segments that
// left it kept for a grace period before their files are deleted, and the multivariant playlist
// whose BANDWIDTH is an upper bound known before any segment exists. Pure: no files, no clock of
// its own (the caller passes the time), so the policy is unit-tested without media.

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "common/status.h"
#include "transcoder/ladder.h"

namespace newsreel::transcoder {

struct LiveSegment {
  int64_t sequence = 0;  // media sequence number; the file is seg_<sequence>.ts
  std::string uri;       // relative to the playlist
  double duration = 0;   // seconds
  int64_t bytes = 0;
};

struct LiveWindowOptions {
  int target_duration = 2;     // EXT-X-TARGETDURATION, whole seconds; no segment may exceed it
  double window_seconds = 30;  // how much media a playlist lists; at least 3 target durations
  // How long a segment's file stays after the segment left the window. RFC 8216 §6.2.2: at
  // least the segment's duration plus the longest playlist that held it, i.e. about
  // window_seconds + target_duration (MinimumDeleteGrace).
  std::chrono::milliseconds delete_grace{32000};
};

// The least grace RFC 8216 §6.2.2 allows for these options: window + one target duration.
std::chrono::milliseconds MinimumDeleteGrace(int target_duration, double window_seconds);

// kInvalidArgument with a reason a person can act on when the options break RFC 8216 §6.2.2
// (a window under three target durations, a grace under MinimumDeleteGrace).
Status CheckLiveWindowOptions(const LiveWindowOptions& options);

// One rung's live media playlist. Not thread-safe: one owner (the live pipeline's bus thread).
class LiveWindow {
 public:
  using Clock = std::chrono::steady_clock;
  explicit LiveWindow(LiveWindowOptions options) : options_(options) {}

  // Appends the next segment, published at `now`. The oldest segments then leave the window
  // while what stays still lasts at least window_seconds (and three target durations); each one
  // that leaves starts its grace at `now`.
  void Add(LiveSegment segment, Clock::time_point now);

  // The playlist text: EXT-X-MEDIA-SEQUENCE is the first listed segment's sequence;
  // `ended` adds EXT-X-ENDLIST (the stream is over; the window stays as it is).
  std::string PlaylistText(bool ended) const;

  // URIs of segments whose grace ran out by `now`, forgotten here: the caller deletes the files.
  std::vector<std::string> TakeExpired(Clock::time_point now);

  const std::deque<LiveSegment>& segments() const { return listed_; }
  int64_t media_sequence() const { return listed_.empty() ? 0 : listed_.front().sequence; }
  // Segments that left the window and are still within their grace.
  size_t pending_deletion() const { return leaving_.size(); }

 private:
  struct Leaving {
    std::string uri;
    Clock::time_point deadline;
  };
  LiveWindowOptions options_;
  std::deque<LiveSegment> listed_;
  double listed_seconds_ = 0;
  std::deque<Leaving> leaving_;  // in deadline order
};

// One rung of the multivariant playlist.
struct LiveVariant {
  std::string uri;        // "720p/index.m3u8"
  int64_t bandwidth = 0;  // bits/s, an upper bound (LiveBandwidthBound)
  std::string codecs;     // "avc1.64001f,mp4a.40.2"
  int width = 0;
  int height = 0;
  double frame_rate = 0;
};

// The multivariant playlist of a live stream, highest rung first.
std::string LiveMasterPlaylistText(const std::vector<LiveVariant>& variants);

// An upper bound of a rung's bits per second over any segment of `segment_seconds`, known before
// encoding: the VBV lets the video carry at most buffer_size + max_bitrate × T bits in T seconds;
// add the audio, and MPEG-TS's cost (4 of every 188 bytes, a PES header and at worst a packet's
// padding per frame and per audio PES, PCR, and the PAT/PMT each segment begins with).
int64_t LiveBandwidthBound(const Rung& rung, bool has_audio, int audio_bitrate, int audio_rate,
                           double segment_seconds);

}  // namespace newsreel::transcoder
