#pragma once
// Progressive publishing (docs/transcoding.md, "Progressive publishing"): while a transcode runs,
// the segments that are final are copied into the output folder that viewers read, with EVENT
// media playlists that grow and a master playlist whose BANDWIDTH is an upper bound; at the end
// the complete output (VOD playlists, measured master) replaces that folder in one step.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "transcoder/hls_playlist.h"
#include "transcoder/ladder.h"

namespace newsreel::transcoder {

// Where segments are cut, measured from the first video frame: the first `short_count` segments
// last `first_ns` each (one GOP, so that a viewer can start within seconds), every later one
// `segment_ns`. `short_count` 0 means every segment lasts segment_ns.
struct SegmentSchedule {
  int64_t first_ns = 0;
  int64_t segment_ns = 0;  // > 0
  int short_count = 0;

  bool short_start() const { return short_count > 0 && first_ns > 0 && first_ns < segment_ns; }
  // The 0-based index of the segment holding media at `t_ns` (>= 0) after the first frame.
  int64_t SegmentAt(int64_t t_ns) const;
  // When segment `index` (0-based) starts, after the first frame.
  int64_t StartOf(int64_t index) const;
};

// The progressive schedule for `ladder`: two segments of one GOP, then the ladder's segments
// (segment 1 is published once segment 2 is complete: about two GOPs of media after the start).
SegmentSchedule ProgressiveSchedule(const Ladder& ladder);

// EXT-X-TARGETDURATION of a growing playlist: no segment of the finished video exceeds it (a
// full segment, plus a last piece under 1 s that joins it, plus one frame of the slowest rung).
int ProgressiveTargetDuration(const Ladder& ladder);

// An upper bound on the bits per second of any segment at least `shortest_seconds` long of the
// rendition `rung` (null: the audio-only rendition), audio and MPEG-TS overhead included:
//   video: the VBV guarantee, max_bitrate + buffer_size / shortest_seconds (a segment can carry
//          at most max_bitrate for its length plus what the buffer held when it began);
//   audio: the AAC target with a quarter's margin (FFmpeg's AAC encoder has no hard cap; it
//          keeps within a few per cent of its target);
//   TS: 188/184 for packet headers, and per PES (every video frame; at worst every AAC frame)
//          a 19-byte header and up to one packet of stuffing, PCRs every 40 ms, and a PAT+PMT
//          per GOP and per segment.
int64_t UpperBoundBandwidth(const Rung* rung, const Ladder& ladder, double shortest_seconds);

class ProgressivePublisher {
 public:
  // The pipeline writes into `staging` (one folder per rung, RungDir, and the audio-only stream
  // in kAudioDir/kAudioStreamFile); viewers read `out`, which must be empty or absent. Both
  // must be on one file system. `ladder` must outlive the publisher; it needs at least one rung.
  // Called only on one thread (the transcoding thread).
  ProgressivePublisher(std::filesystem::path staging, std::filesystem::path out,
                       const Ladder& ladder);

  // splitmuxsink finished writing one more segment file of rung `rung` (index in the ladder).
  void FragmentClosed(size_t rung);

  // Publishes every segment that is now final: segment k once segment k+1 is complete in every
  // rung (so that k can no longer change: a short last segment joins k+1, and a cut that
  // splitmuxsink missed lies after it) and the audio stream has reached its end. Each segment is
  // copied under a temporary name and renamed; then the EVENT playlists are rewritten
  // atomically, listing only segments present in every rendition; the master playlist is
  // written once, after the first segment. An error (a segment without an IDR frame at its
  // start, rungs cut at different instants, I/O) stops publishing for good: what was published
  // stays, and the rest comes with the final output.
  Status Publish();

  bool playable() const { return published_ > 0; }
  int published() const { return published_; }  // segments per rendition
  bool stopped() const { return stopped_; }
  int target_duration() const { return target_; }

  // The first published file whose bytes differ from the same file under `final_dir` (the
  // finished output, same layout); OK when none does. Viewers who started during the transcode
  // fetch the published files and, after the swap, the final ones: they must agree.
  Status CheckAgainst(const std::filesystem::path& final_dir) const;

 private:
  struct SegmentFacts {
    int64_t start_pts = -1;  // first video PTS, 90 kHz
    int64_t bytes = 0;
    bool idr_first = false;
  };
  struct RungState {
    std::string dir;
    int closed = 0;  // segment files complete in staging
    std::vector<SegmentFacts> scanned;
    std::vector<HlsSegment> listed;
  };
  // Publishes segment k (1-based); false when the audio stream has not reached its end yet.
  Result<bool> PublishOne(int k);
  Result<SegmentFacts> Facts(RungState& rung, int k);
  Status WriteMaster();

  std::filesystem::path staging_, out_;
  const Ladder& ladder_;
  int target_ = 0;
  std::vector<RungState> rungs_;
  // The audio-only rendition: cut from the growing stream file at the video's cut instants.
  std::vector<HlsSegment> audio_listed_;
  int64_t audio_offset_ = 0;  // where the next audio segment starts in the stream file
  std::vector<uint8_t> audio_psi_;
  int audio_object_type_ = 0;
  std::vector<std::string> codecs_;  // of each rung, from its first segment, in rung order
  int published_ = 0;
  bool stopped_ = false;
};

}  // namespace newsreel::transcoder
