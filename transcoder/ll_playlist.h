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

// One rung's LL-HLS playlist. Not thread-safe: one owner (the live pipeline's bus thread).
class LlWindow {
 public:
  using Clock = std::chrono::steady_clock;
  // `first_msn`: the media sequence number of the first segment this window will hold.
  LlWindow(LlWindowOptions options, int64_t first_msn) : options_(options), next_msn_(first_msn) {}

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
  // The latest part: its segment's number and index; false before the first part.
  bool LastPart(int64_t* msn, int* part) const;
  const std::deque<LlSegment>& segments() const { return listed_; }
  const std::vector<LlPart>& parts_in_progress() const { return in_progress_; }

 private:
  struct Leaving {
    std::vector<std::string> files;
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

}  // namespace newsreel::transcoder
