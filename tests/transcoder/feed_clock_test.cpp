// FeedClock (transcoder/feed_clock.h): a live feed's leaps in time taken out, every stream moved
// alike. The feeds here are timestamps as tsdemux hands them on; LiveCommandTest runs real ones.
#include "transcoder/feed_clock.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace newsreel::transcoder {
namespace {

constexpr int64_t kMs = 1000000;
// Stream keys: any distinct addresses.
const int kVideo = 1;
const int kAudio = 2;

// A packet of `stream` at `t_ms` on the feed's own clock: where it lands, in ms.
int64_t Land(FeedClock& clock, const int* stream, int64_t t_ms, int64_t duration_ms = -1) {
  const int64_t t = t_ms * kMs;
  return (t + clock.ShiftFor(stream, t, duration_ms > 0 ? duration_ms * kMs : -1)) / kMs;
}

TEST(FeedClockTest, AnHonestFeedIsNotMoved) {
  FeedClock clock;
  // Video every 40 ms, audio every 21 ms, audio a little ahead as muxers interleave it; a gap of
  // 9 s in both (a stalled publisher) is still honest.
  for (int64_t t = 0; t < 4000; t += 40) {
    EXPECT_EQ(Land(clock, &kVideo, 1000 + t), 1000 + t);
    EXPECT_EQ(Land(clock, &kAudio, 1300 + t / 2), 1300 + t / 2);
  }
  EXPECT_EQ(Land(clock, &kVideo, 14000), 14000);
  EXPECT_EQ(Land(clock, &kAudio, 12000), 12000);
  EXPECT_EQ(clock.jumps(), 0);
}

TEST(FeedClockTest, AStrayPacketAheadLandsAfterItsPredecessorAndTheFeedComesBack) {
  FeedClock clock;
  for (int64_t t = 0; t <= 400; t += 40) Land(clock, &kVideo, t);
  Land(clock, &kAudio, 379);
  Land(clock, &kAudio, 400);
  // One video packet 26 hours ahead (a fuzzed feed's), then the feed as it was.
  EXPECT_EQ(Land(clock, &kVideo, 93533000 + 440), 440);
  EXPECT_EQ(Land(clock, &kAudio, 421), 421);  // the feed moved back by audio's step
  EXPECT_EQ(Land(clock, &kVideo, 480), 480);
  EXPECT_EQ(Land(clock, &kAudio, 442), 442);
  EXPECT_EQ(clock.jumps(), 2);
  EXPECT_EQ(clock.largest_jump_ns(), (93533000 + 440 - 400) * kMs);
}

TEST(FeedClockTest, AFeedThatRestartsItsClockGoesOnWhereItWas) {
  FeedClock clock;
  for (int64_t t = 0; t <= 400; t += 40) {
    Land(clock, &kVideo, 200000 + t, 40);
    Land(clock, &kAudio, 200000 + t, 40);
  }
  // The publisher's encoder restarts at 0: both streams go on after 200.4 s, one step later.
  EXPECT_EQ(Land(clock, &kVideo, 0), 200440);
  EXPECT_EQ(Land(clock, &kAudio, 0), 200440);
  EXPECT_EQ(Land(clock, &kVideo, 40), 200480);
  EXPECT_EQ(Land(clock, &kAudio, 40), 200480);
  EXPECT_EQ(clock.jumps(), 1);
}

// A publisher's app sent to the background stops its video for 15 s and goes on with audio: the
// feed did not leap, and the pictures resume where their time says (the last one held between).
TEST(FeedClockTest, OneStreamPausingWhileTheOtherGoesOnIsNotALeap) {
  FeedClock clock;
  for (int64_t t = 0; t <= 1000; t += 40) Land(clock, &kVideo, t);
  for (int64_t t = 0; t <= 16000; t += 21) EXPECT_EQ(Land(clock, &kAudio, t), t);
  EXPECT_EQ(Land(clock, &kVideo, 16000), 16000);
  EXPECT_EQ(Land(clock, &kAudio, 16021), 16021);
  EXPECT_EQ(Land(clock, &kVideo, 16040), 16040);
  EXPECT_EQ(clock.jumps(), 0);
}

// A stream's first packet a day off (a corrupt PES) lands at the feed's latest, and the next
// packets of that stream come back to the feed.
TEST(FeedClockTest, AStrayFirstPacketOfAStreamLandsWithTheFeed) {
  FeedClock clock;
  for (int64_t t = 0; t <= 400; t += 21) Land(clock, &kAudio, t);  // audio up to 399
  EXPECT_EQ(Land(clock, &kVideo, 93533000 + 400), 399);
  const int64_t next = Land(clock, &kVideo, 440);
  EXPECT_GT(next, 399);
  EXPECT_LE(next, 440);
  EXPECT_EQ(Land(clock, &kVideo, 480) - next, 40);
  EXPECT_EQ(Land(clock, &kAudio, 420), 420 + (next - 440));  // the feed moved as video did
  EXPECT_EQ(clock.jumps(), 2);
}

TEST(FeedClockTest, AFirstDtsBeforeTheSegmentIsLeftWhereItIs) {
  FeedClock clock;
  // B-frames: the first DTS is a frame before the first PTS, where tsdemux starts the segment.
  EXPECT_EQ(Land(clock, &kVideo, -40), -40);
  EXPECT_EQ(Land(clock, &kVideo, 0), 0);
  EXPECT_EQ(Land(clock, &kAudio, 0), 0);
  EXPECT_EQ(clock.jumps(), 0);
}

}  // namespace
}  // namespace newsreel::transcoder
