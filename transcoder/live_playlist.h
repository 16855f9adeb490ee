#pragma once
// Live HLS playlists (RFC 8216 §6.2.2): a sliding window of segments per rung, the segments that
// left it kept for a grace period before their files are deleted, and the multivariant playlist
// whose BANDWIDTH is an upper bound known before any segment exists; and the state a later run
// continues the stream from (live-state.json). Pure: no files, no clock of its own (the caller
// passes the time), so the policy is unit-tested without media.

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
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
  // EXT-X-DISCONTINUITY before it: the encoding or the timestamps change here (a new run).
  bool discontinuity = false;

  bool operator==(const LiveSegment&) const = default;
};

// The file name of the segment with this media sequence number: "seg_00042.ts". Sequence numbers
// continue across the runs of a stream, so names never repeat.
std::string LiveSegmentName(int64_t sequence);

// A duration as the live playlists write it: seconds with five decimals ("2.00000").
std::string PlaylistSeconds(double seconds);

// A segment out of the window whose file is still kept: what is left of its grace.
struct PendingDeletion {
  std::string uri;
  std::chrono::milliseconds remaining{0};

  bool operator==(const PendingDeletion&) const = default;
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

  // The window an earlier run left (live-state.json), as it was then: `listed` in sequence
  // order, `pending` with the grace each had left, counted again from `now`.
  LiveWindow(LiveWindowOptions options, std::vector<LiveSegment> listed,
             const std::vector<PendingDeletion>& pending, int64_t discontinuity_sequence,
             Clock::time_point now);

  // Appends the next segment, published at `now`. The oldest segments then leave the window
  // while what stays still lasts at least window_seconds (and three target durations); each one
  // that leaves starts its grace at `now`, and one that carried EXT-X-DISCONTINUITY counts in
  // EXT-X-DISCONTINUITY-SEQUENCE (RFC 8216 section 6.2.2).
  void Add(LiveSegment segment, Clock::time_point now);

  // The playlist text: EXT-X-MEDIA-SEQUENCE is the first listed segment's sequence,
  // EXT-X-DISCONTINUITY-SEQUENCE counts the discontinuities that slid out, EXT-X-DISCONTINUITY
  // stands before each segment flagged so; `ended` adds EXT-X-ENDLIST (the stream is over; the
  // window stays as it is).
  std::string PlaylistText(bool ended) const;

  // The segments in their grace at `now`, each with what is left of it (for live-state.json).
  std::vector<PendingDeletion> PendingDeletions(Clock::time_point now) const;

  // URIs of segments whose grace ran out by `now`, forgotten here: the caller deletes the files.
  std::vector<std::string> TakeExpired(Clock::time_point now);

  const std::deque<LiveSegment>& segments() const { return listed_; }
  int64_t media_sequence() const { return listed_.empty() ? 0 : listed_.front().sequence; }
  int64_t discontinuity_sequence() const { return discontinuity_sequence_; }
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
  int64_t discontinuity_sequence_ = 0;
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

// What a run leaves for the next run of the same stream in OUTDIR/live-state.json, rewritten
// (atomically) before every playlist update: the playlists are a view of it. A later run with
// --continue keeps the rungs (sizes, rates, BANDWIDTH, CODECS), so master.m3u8 and every
// player's chosen variant stay valid, and continues the windows and sequence numbers.
struct LiveRungState {
  Rung rung;              // the encoding: size, frame rate, GOP, rates
  int64_t bandwidth = 0;  // BANDWIDTH in master.m3u8
  std::string codecs;     // CODECS in master.m3u8; empty before the rung's first segment
  std::vector<LiveSegment> segments;     // listed, in sequence order
  std::vector<PendingDeletion> pending;  // out of the window, files still kept
  int64_t discontinuity_sequence = 0;
};

struct LiveState {
  double segment_seconds = 2;  // also the GOP
  int target_duration = 2;
  int fps_n = 30;  // the ladder's shared frame rate (the top rungs')
  int fps_d = 1;
  bool has_audio = true;
  int audio_bitrate = 64000;
  int audio_rate = 48000;
  int64_t next_sequence = 0;  // of the next segment, in every rung
  bool ended = false;         // EXT-X-ENDLIST was written: the stream cannot go on
  std::vector<LiveRungState> rungs;
};

inline constexpr char kLiveStateFile[] = "live-state.json";

// live-state.json's text.
std::string LiveStateJson(const LiveState& state);

// Parses and checks live-state.json. The file sits in a folder others can write, so it is
// hostile until checked: kInvalidArgument with the reason for anything malformed or out of
// range, and every name in it must be one this worker writes (a rung "720p", a segment
// LiveSegmentName(sequence)), so no path in it can leave the folder.
Result<LiveState> ParseLiveState(const std::string& text);

// The ladder a state was encoded with (gops_per_segment 1).
Ladder LadderOfState(const LiveState& state);

}  // namespace newsreel::transcoder
