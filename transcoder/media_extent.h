#pragma once
// How long a file's streams really run, found by demuxing and parsing it to its end without
// decoding. For what a container does not say: a recorded session's start and end (recording.h),
// and the duration of a file GStreamer's discoverer gives none for (a TS of a few seconds: its
// PCR-based estimate needs more; probe.h). Damaged tails end the measure where they break.

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>

#include "common/status.h"

namespace newsreel::transcoder {

// What the measuring pass saw of one elementary stream, in running time (ns).
struct StreamExtent {
  int64_t first = std::numeric_limits<int64_t>::max();
  int64_t end = std::numeric_limits<int64_t>::min();
  int64_t buffers = 0;
  int64_t keyframes = 0;  // video only
  bool seen() const { return buffers > 0 && end > first; }
};

struct MediaExtents {
  StreamExtent video, audio;  // the first stream of each kind
  // What ended the read before the file's end ("" when it reached it): a damaged tail, or no
  // progress for the stall timeout. What was measured before it counts.
  std::string error;
  // From the first stream's start to the last one's end; 0 when neither was seen.
  int64_t length_ns() const;
};

// Reads `path` to its end (MPEG-TS through FeedClock, as the transcode sees it: feed_clock.h)
// and measures its first video and first audio stream. A buffer counts for at most 10 s past its
// start, whatever duration it claims (the stream's own timing data gives it). `stall` bounds the
// read while it makes no progress; `total` bounds it as a whole (kTimeout). An error part-way is
// logged and kept in `error`; it fails the call only when no stream was seen by then.
Result<MediaExtents> MeasureByParsing(const std::string& path, std::chrono::seconds stall,
                                      std::chrono::seconds total = std::chrono::hours(24));

}  // namespace newsreel::transcoder
