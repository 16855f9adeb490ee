#pragma once
// Low-Latency HLS media playlists (RFC 8216bis, Apple's LL-HLS) for the live worker's CMAF
// output: segments made of partial segments ("parts") of about a third of a second, the parts
// listed for the last three target durations and for the segment in progress, a preload hint
// naming the next part, and rendition reports of the other rungs. Pure: no files, no clock of
// its own, like live_playlist.h.

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "common/status.h"

namespace newsreel::transcoder {

// File names in OUTDIR/ll/<rung>/: the init segment, part k (0-based) of segment msn, and the
// whole segment (its parts concatenated).
inline constexpr char kLlInitName[] = "init.mp4";
std::string LlPartName(int64_t msn, int part);  // "p42.3.m4s"
std::string LlSegmentName(int64_t msn);         // "s42.m4s"

// How a segment (one GOP) of `segment_frames` frames is cut into parts of about a part duration:
// `parts` parts of at most `max_frames` frames, the cuts spread evenly (25 fps, 2 s, 333 ms: seven
// parts of 7 or 8 frames, rather than six of 8 and a last one of 2).
struct LlPartPlan {
  int segment_frames = 60;
  int parts = 6;
  int max_frames = 10;
  // The frame index (in the segment) where part k ends; past the plan (a longer GOP than
  // planned), parts of max_frames follow.
  int PartEnd(int k) const;
  // PART-TARGET for parts of max_frames frames at this rate, rounded up to 5 decimals.
  double Target(int fps_n, int fps_d) const;
};
LlPartPlan PlanParts(int part_ms, int fps_n, int fps_d, int segment_frames);

struct LlPart {
  double duration = 0;       // seconds
  bool independent = false;  // starts with an IDR frame: INDEPENDENT=YES
};

struct LlSegment {
  int64_t msn = 0;
  double duration = 0;
  std::vector<LlPart> parts;
  bool discontinuity = false;  // EXT-X-DISCONTINUITY before it
};

struct LlWindowOptions {
  int target_duration = 2;     // EXT-X-TARGETDURATION
  double part_target = 0.334;  // PART-TARGET: no part lasts longer
  double window_seconds = 30;  // complete segments listed (as the MPEG-TS playlists)
  // How long the files of a segment that left the window stay (its parts and s<msn>.m4s).
  std::chrono::milliseconds delete_grace{32000};
};

// Where another rung's playlist stands, for EXT-X-RENDITION-REPORT.
struct LlRenditionReport {
  std::string uri;  // "../360p/index.m3u8"
  int64_t last_msn = 0;
  int last_part = 0;
};

// A segment out of the window whose files (s<msn>.m4s and `parts` parts) are still kept.
struct LlLeaving {
  int64_t msn = 0;
  int parts = 0;
  std::chrono::milliseconds remaining{0};  // of its grace
};

// One rung's window as a run leaves it, for the next run of the stream (LlState).
struct LlRungState {
  std::string name;  // "720p"
  std::vector<LlSegment> segments;
  std::vector<LlLeaving> leaving;
  int64_t discontinuity_sequence = 0;
};

// A saved rung window for a run whose first segment is `first_msn`. A playlist cannot skip a
// number: when the run starts past the window's end (a killed run's last segment, whose first
// parts went out, was never finished), the saved segments leave the playlist at once, as if they
// had slid out (the discontinuity sequence counts theirs; their files go after `delete_grace`).
// Otherwise the window as saved.
LlRungState ContinuedAt(const LlRungState& saved, int64_t first_msn,
                        std::chrono::milliseconds delete_grace);

// One rung's LL-HLS playlist. Not thread-safe: one owner (the live pipeline's bus thread).
class LlWindow {
 public:
  using Clock = std::chrono::steady_clock;
  // `first_msn`: the media sequence number of the first segment this window will hold.
  LlWindow(LlWindowOptions options, int64_t first_msn) : options_(options), next_msn_(first_msn) {}
  // The window an earlier run left, continued at `first_msn` (past everything it named), the
  // graces counted again from `now`.
  LlWindow(LlWindowOptions options, const LlRungState& saved, int64_t first_msn,
           Clock::time_point now);
  // This window as a later run continues it (the parts in progress are not kept: their segment
  // never completes).
  LlRungState Save(const std::string& name, Clock::time_point now) const;

  // The next segment begins after EXT-X-DISCONTINUITY (a new run of the stream).
  void MarkDiscontinuity() { discontinuity_next_ = true; }
  // Appends a part to the segment in progress (number next_msn()).
  void AddPart(LlPart part);
  // The segment in progress is complete (its parts add up to `duration`): it is listed with its
  // EXTINF, and the oldest segments leave the window as in LiveWindow::Add, their files starting
  // their grace at `now`.
  void CompleteSegment(Clock::time_point now);

  // The playlist: tags, the window's segments (with their parts for the last three target
  // durations), the parts in progress, EXT-X-PRELOAD-HINT for the next part (unless `ended`),
  // then the rendition reports; `ended` adds EXT-X-ENDLIST.
  std::string PlaylistText(const std::vector<LlRenditionReport>& reports, bool ended) const;

  // File names whose grace ran out by `now`, forgotten here: the caller deletes them.
  std::vector<std::string> TakeExpired(Clock::time_point now);

  int64_t next_msn() const { return next_msn_; }
  const LlWindowOptions& options() const { return options_; }
  // The latest part: its segment's number and index; false before the first part.
  bool LastPart(int64_t* msn, int* part) const;
  const std::deque<LlSegment>& segments() const { return listed_; }
  const std::vector<LlPart>& parts_in_progress() const { return in_progress_; }

 private:
  struct Leaving {
    int64_t msn;
    int parts;
    Clock::time_point deadline;
  };
  LlWindowOptions options_;
  std::deque<LlSegment> listed_;
  double listed_seconds_ = 0;
  std::vector<LlPart> in_progress_;
  int64_t next_msn_;
  bool discontinuity_next_ = false;
  int64_t discontinuity_sequence_ = 0;
  std::deque<Leaving> leaving_;
};

// OUTDIR/ll/ll-state.json: what a later run of the stream continues its low-latency output from,
// beside live-state.json. Names no file: every name is made from a number.
struct LlState {
  double part_target = 0.33334;  // PART-TARGET
  int64_t next_msn = 0;          // past every segment (and part) published
  int64_t end_ns = 0;  // where the latest part's video ends, on the decode timeline (tfdt)
  std::vector<LlRungState> rungs;
};
inline constexpr char kLlStateFile[] = "ll-state.json";
std::string LlStateJson(const LlState& state);
// Parses and checks ll-state.json (hostile until checked): kInvalidArgument with the reason.
Result<LlState> ParseLlState(const std::string& text);

}  // namespace newsreel::transcoder
