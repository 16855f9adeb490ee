#pragma once
// One continuous timeline for a live feed whose timestamps leap.
//
// Why: a live worker puts the decoded pictures on its frame rate's grid with videorate, which
// repeats the last picture over a gap and drops pictures that go back in time. A feed whose
// timestamps leap would stall the stream for as long as the leap, and tsdemux makes every leap
// back a leap ahead: it takes a PTS that goes back for its 33-bit clock wrapping, 26.5 hours on.
// So a publisher whose encoder restarts its clock, or one corrupt or hostile packet (fuzzing
// found a feed with one PTS a day ahead), had a worker encode a day of one repeated picture as
// fast as it could, and drop the real pictures, which were behind. ffmpeg re-bases such an input
// (its dts_delta_threshold, 10 s for MPEG-TS); so does this, on the demuxer's source pads, before
// anything is parsed or decoded.
//
// A packet more than `max_jump` of running time away both from the previous packet of its stream
// and from the feed's latest packet (of any stream), ahead or behind, moves the whole feed: from
// it on, every stream is shifted by the same amount, chosen so that this packet follows the
// previous one of its stream by that stream's step (a stream's first packet: at the feed's
// latest). Audio thus stays with video. A single stray packet moves the feed twice (away with the
// stray, back with the next packet on the old timeline), and the packets between land where they
// belong within a frame or so. One stream pausing while the other goes on (video stopped, audio
// still sent) is not a leap: the feed's latest packet is near. Both pausing for more than
// `max_jump` is one, and the pause is taken out. GAP events are moved like buffers.

#include <gst/gst.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace newsreel::transcoder {

class FeedClock {
 public:
  // ffmpeg's threshold for MPEG-TS: larger than any honest gap between two packets of a stream.
  static constexpr int64_t kDefaultMaxJump = 10 * GST_SECOND;

  explicit FeedClock(int64_t max_jump_ns = kDefaultMaxJump) : max_jump_(max_jump_ns) {}
  FeedClock(const FeedClock&) = delete;
  FeedClock& operator=(const FeedClock&) = delete;

  // How far to move a packet of `stream` (any key, one per stream) at running time `running_ns`
  // (its DTS, or its PTS when it has no DTS) that lasts `duration_ns` (-1: unknown). `leapt`,
  // when given, says whether this packet moved the feed.
  int64_t ShiftFor(const void* stream, int64_t running_ns, int64_t duration_ns,
                   bool* leapt = nullptr);
  // How far the feed is moved now (for events that carry a time, such as GAP).
  int64_t shift() const;

  // How many leaps were taken out, and the largest, in nanoseconds (ahead or behind).
  int64_t jumps() const;
  int64_t largest_jump_ns() const;

 private:
  // A step learned from a stream's packets (or their duration) is at most this; until one is
  // known, a leaping packet lands kDefaultStep after the previous one of its stream.
  static constexpr int64_t kMaxStep = GST_SECOND / 2;
  static constexpr int64_t kDefaultStep = 20 * GST_MSECOND;

  struct Stream {
    int64_t last = 0;             // the previous packet, on the feed's shifted timeline
    int64_t step = kDefaultStep;  // the latest distance between two of its packets
  };

  const int64_t max_jump_;
  mutable std::mutex mu_;
  int64_t offset_ = 0;                     // guarded by mu_
  std::map<const void*, Stream> streams_;  // guarded by mu_
  bool started_ = false;                   // guarded by mu_
  int64_t latest_ = 0;                     // guarded by mu_: the feed's latest packet, shifted
  int64_t jumps_ = 0;                      // guarded by mu_
  int64_t largest_ = 0;                    // guarded by mu_
};

// The warning a run's result gives for `leaps` leaps of `whose` ("the feed's") timestamps, the
// largest `largest_ns`, each taken out and `what` ("the stream") going on from where it was.
std::string LeapsWarning(const std::string& whose, int64_t leaps, int64_t largest_ns,
                         const std::string& what);

// The same for every MPEG-TS demuxer `decodebin` plugs (now or later, at any depth): the probe
// goes on each of its audio and video pads, all on `clock`, which must outlive the bin. A VOD
// transcode of an uploaded TS: ffmpeg applies the same rule to TS files.
void KeepDemuxedFeedsContinuous(GstElement* decodebin, FeedClock* clock);

// Adds a probe to `pad`, a demuxer's source pad, that moves each buffer's PTS and DTS by what
// `clock` says (buffers without either pass as they are) and logs the leaps it takes out. The
// clock is shared by the feed's pads and must outlive them.
void KeepFeedContinuous(GstPad* pad, FeedClock* clock);

}  // namespace newsreel::transcoder
