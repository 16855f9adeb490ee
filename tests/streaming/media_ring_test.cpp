#include "streaming/media_ring.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace newsreel::streaming {
namespace {

std::shared_ptr<const std::string> Bytes(size_t n, char c = 'f') {
  return std::make_shared<const std::string>(n, c);
}

std::shared_ptr<MediaRing> NewRing(MediaRingOptions options) {
  Result<std::shared_ptr<MediaRing>> ring = MediaRing::Create(options);
  EXPECT_TRUE(ring.ok()) << ring.status().ToString();
  return *ring;
}

uint64_t MustPush(MediaRing& ring, size_t size, bool keyframe) {
  Result<uint64_t> seq = ring.Push(Bytes(size), keyframe);
  EXPECT_TRUE(seq.ok()) << seq.status().ToString();
  return seq.ok() ? *seq : 0;
}

// What a viewer received, checked as it goes: sequence numbers only increase, and after a gap
// (frames skipped) the viewer resumes at a keyframe.
struct Viewer {
  explicit Viewer(MediaCursor c) : cursor(std::move(c)) {}

  // Takes one frame; returns false when the cursor has nothing.
  bool TakeOne() {
    std::optional<MediaFrame> f = cursor.Next();
    if (!f) return false;
    EXPECT_NE(f->payload, nullptr);
    if (f->init) {
      ++inits;
      return true;
    }
    if (last_seq == 0) {
      EXPECT_TRUE(f->keyframe) << "a viewer starts at a keyframe, not at " << f->seq;
      first_seq = f->seq;
    } else {
      EXPECT_GT(f->seq, last_seq);
      if (f->seq != last_seq + 1) {
        EXPECT_TRUE(f->keyframe) << "resumed at " << f->seq << " after " << last_seq;
        gap_frames += f->seq - last_seq - 1;
        ++resumes;
      }
    }
    last_seq = f->seq;
    ++frames;
    if (check_backlog) {
      EXPECT_LE(cursor.backlog_bytes(), cursor.ring()->options().max_client_bytes);
    }
    return true;
  }
  void Drain() {
    while (TakeOne()) {
    }
  }

  MediaCursor cursor;
  // Right after Next(), the frames left for this viewer fit its bound. Only checkable when no
  // producer pushes concurrently.
  bool check_backlog = true;
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  uint64_t frames = 0;
  uint64_t gap_frames = 0;
  uint64_t resumes = 0;
  int inits = 0;
};

TEST(MediaRingTest, ANewViewerGetsTheInitThenTheNewestKeyframe) {
  auto ring = NewRing({});
  ASSERT_TRUE(ring->SetInit(Bytes(100, 'i')).ok());
  MustPush(*ring, 10, true);   // 1
  MustPush(*ring, 10, false);  // 2
  MustPush(*ring, 10, true);   // 3
  MustPush(*ring, 10, false);  // 4
  MediaCursor cursor = ring->NewCursor();
  ASSERT_TRUE(cursor.Ready());
  std::optional<MediaFrame> init = cursor.Next();
  ASSERT_TRUE(init && init->init);
  EXPECT_EQ(*init->payload, std::string(100, 'i'));
  std::optional<MediaFrame> first = cursor.Next();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->seq, 3u);
  EXPECT_TRUE(first->keyframe);
  EXPECT_EQ(cursor.Next()->seq, 4u);
  EXPECT_FALSE(cursor.Ready());
  EXPECT_FALSE(cursor.Next());
  EXPECT_EQ(cursor.skipped_frames(), 0u);  // joining is not skipping
}

TEST(MediaRingTest, AViewerJoiningBeforeAnyKeyframeWaitsForOne) {
  auto ring = NewRing({});
  MustPush(*ring, 10, false);
  MediaCursor cursor = ring->NewCursor();
  EXPECT_FALSE(cursor.Next());
  MustPush(*ring, 10, false);
  EXPECT_FALSE(cursor.Ready());
  EXPECT_FALSE(cursor.Next());
  uint64_t key = MustPush(*ring, 10, true);
  ASSERT_TRUE(cursor.Ready());
  std::optional<MediaFrame> f = cursor.Next();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->seq, key);
  EXPECT_EQ(cursor.skipped_frames(), 0u);
}

TEST(MediaRingTest, AFastViewerSeesEveryFrameInOrder) {
  auto ring = NewRing({.max_frames = 8, .max_bytes = 1000, .max_client_bytes = 100});
  ASSERT_TRUE(ring->SetInit(Bytes(50, 'i')).ok());
  MustPush(*ring, 10, true);
  Viewer viewer(ring->NewCursor());
  for (int i = 1; i < 5000; ++i) {
    MustPush(*ring, 10 + i % 7, i % 30 == 0);
    viewer.Drain();
  }
  viewer.Drain();
  EXPECT_EQ(viewer.inits, 1);
  EXPECT_EQ(viewer.first_seq, 1u);
  EXPECT_EQ(viewer.frames, 5000u);
  EXPECT_EQ(viewer.resumes, 0u);
  EXPECT_EQ(viewer.cursor.skipped_frames(), 0u);
}

struct SlowCase {
  const char* name;
  MediaRingOptions options;
};

class SlowViewerTest : public testing::TestWithParam<SlowCase> {};

// The producer pushes kPerRead frames, then the viewer takes one: deterministic, whatever the
// machine. The viewer must skip, only ever resume at keyframes, and every frame the producer
// pushed after the viewer's first is either delivered or counted as skipped.
TEST_P(SlowViewerTest, SkipsAheadToKeyframesWithinItsBounds) {
  const MediaRingOptions options = GetParam().options;
  constexpr int kPerRead = 7;
  constexpr int kKeyEvery = 12;
  constexpr int kPushes = 6000;
  auto ring = NewRing(options);
  ASSERT_TRUE(ring->SetInit(Bytes(64, 'i')).ok());
  MustPush(*ring, 100, true);
  Viewer viewer(ring->NewCursor());
  viewer.Drain();  // the init and frame 1: the viewer was in time, then slows down
  ASSERT_EQ(viewer.last_seq, 1u);
  for (int i = 1; i < kPushes; ++i) {
    MustPush(*ring, 60 + (i * 37) % 90, i % kKeyEvery == 0);  // 60..149 bytes
    ASSERT_LE(ring->bytes(), options.max_bytes);
    ASSERT_LE(ring->frames(), options.max_frames);
    if (i % kPerRead == 0) viewer.TakeOne();
  }
  viewer.Drain();  // the producer stops: the viewer catches up
  EXPECT_EQ(viewer.inits, 1);
  EXPECT_GT(viewer.cursor.skipped_frames(), 0u);
  EXPECT_GT(viewer.resumes, 0u);
  EXPECT_EQ(viewer.gap_frames, viewer.cursor.skipped_frames());
  EXPECT_EQ(ring->skipped_frames_total(), viewer.cursor.skipped_frames());
  EXPECT_EQ(viewer.first_seq, 1u);
  EXPECT_EQ(viewer.last_seq, static_cast<uint64_t>(kPushes));
  EXPECT_EQ(viewer.frames + viewer.cursor.skipped_frames(), static_cast<uint64_t>(kPushes));
  EXPECT_EQ(viewer.cursor.backlog_bytes(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Bounds, SlowViewerTest,
    testing::Values(
        // The viewer's next frame falls out of a small ring.
        SlowCase{"RingOverflow",
                 {.max_frames = 40, .max_bytes = 1 << 20, .max_client_bytes = 1 << 20}},
        // The ring drops by bytes, not count.
        SlowCase{"RingBytes", {.max_frames = 1000, .max_bytes = 4000, .max_client_bytes = 1 << 20}},
        // The ring holds plenty, but the viewer may lag by 2,000 bytes only.
        SlowCase{"ClientBacklog",
                 {.max_frames = 1000, .max_bytes = 1 << 20, .max_client_bytes = 2000}}),
    [](const testing::TestParamInfo<SlowCase>& info) { return info.param.name; });

TEST(MediaRingTest, AKeyframeTooFarBehindIsPassedOverForTheNextOne) {
  // The newest keyframe has more than max_client_bytes behind it: a joining viewer waits for the
  // next keyframe instead of starting a backlog it may not have.
  auto ring = NewRing({.max_frames = 100, .max_bytes = 10'000, .max_client_bytes = 250});
  MustPush(*ring, 100, true);                               // 1
  for (int i = 0; i < 5; ++i) MustPush(*ring, 100, false);  // 2..6: 500 bytes behind the key
  MediaCursor cursor = ring->NewCursor();
  EXPECT_FALSE(cursor.Next());
  MustPush(*ring, 100, false);  // 7
  EXPECT_FALSE(cursor.Next());
  uint64_t key = MustPush(*ring, 100, true);  // 8
  std::optional<MediaFrame> f = cursor.Next();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->seq, key);
  EXPECT_EQ(cursor.skipped_frames(), 0u);
}

TEST(MediaRingTest, ANewInitIsSentAgainAndTheViewerResumesAtAKeyframeAfterIt) {
  auto ring = NewRing({});
  ASSERT_TRUE(ring->SetInit(Bytes(10, 'a')).ok());
  MustPush(*ring, 10, true);  // 1
  Viewer viewer(ring->NewCursor());
  viewer.Drain();
  ASSERT_EQ(viewer.last_seq, 1u);
  MustPush(*ring, 10, false);  // 2, old init
  ASSERT_TRUE(ring->SetInit(Bytes(10, 'b')).ok());
  MustPush(*ring, 10, false);  // 3: no keyframe yet under the new init
  MediaCursor& cursor = viewer.cursor;
  std::optional<MediaFrame> init = cursor.Next();
  ASSERT_TRUE(init && init->init);
  EXPECT_EQ(*init->payload, "bbbbbbbbbb");
  EXPECT_FALSE(cursor.Next());
  uint64_t key = MustPush(*ring, 10, true);  // 4
  std::optional<MediaFrame> f = cursor.Next();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->seq, key);
}

TEST(MediaRingTest, RefusesEmptyAndOversizedFramesAndZeroBounds) {
  EXPECT_FALSE(MediaRing::Create({.max_frames = 0}).ok());
  EXPECT_FALSE(MediaRing::Create({.max_bytes = 0}).ok());
  EXPECT_FALSE(MediaRing::Create({.max_client_bytes = 0}).ok());
  auto ring = NewRing({.max_frames = 4, .max_bytes = 100});
  EXPECT_FALSE(ring->Push(nullptr, true).ok());
  EXPECT_FALSE(ring->Push(Bytes(0), true).ok());
  EXPECT_FALSE(ring->Push(Bytes(101), true).ok());
  EXPECT_FALSE(ring->SetInit(nullptr).ok());
  EXPECT_EQ(ring->frames(), 0u);
  EXPECT_EQ(ring->last_seq(), 0u);
  // A frame of exactly max_bytes fits, alone.
  MustPush(*ring, 30, true);
  MustPush(*ring, 100, true);
  EXPECT_EQ(ring->frames(), 1u);
  EXPECT_EQ(ring->bytes(), 100u);
}

TEST(MediaRingTest, PushesWakeSubscribersUntilTheyUnsubscribe) {
  auto ring = NewRing({});
  int a = 0, b = 0;
  int id_a = ring->Subscribe([&] { ++a; });
  ring->Subscribe([&] { ++b; });
  MustPush(*ring, 10, true);
  ASSERT_TRUE(ring->SetInit(Bytes(10)).ok());
  ring->Unsubscribe(id_a);
  MustPush(*ring, 10, false);
  EXPECT_EQ(a, 2);
  EXPECT_EQ(b, 3);
}

// A producer thread and a viewer thread woken by the ring's subscription. Timing decides how
// much the viewer skips, so only the invariants are asserted: increasing sequence numbers,
// resuming only at keyframes, bounded memory, and every frame delivered or counted.
TEST(MediaRingTest, ConcurrentProducerAndViewerKeepTheInvariants) {
  const MediaRingOptions options{.max_frames = 64, .max_bytes = 6000, .max_client_bytes = 1500};
  constexpr int kPushes = 20'000;
  auto ring = NewRing(options);
  ASSERT_TRUE(ring->SetInit(Bytes(64, 'i')).ok());
  MustPush(*ring, 100, true);

  std::mutex mu;
  std::condition_variable woken;
  uint64_t wakes = 0;  // guarded by mu
  bool done = false;   // guarded by mu
  int sub = ring->Subscribe([&] {
    std::lock_guard lock(mu);
    ++wakes;
    woken.notify_one();
  });

  Viewer viewer(ring->NewCursor());
  viewer.check_backlog = false;
  size_t max_ring_bytes = 0;
  std::thread consumer([&] {
    uint64_t seen = 0;
    while (true) {
      bool finished;
      {
        std::unique_lock lock(mu);
        woken.wait(lock, [&] { return wakes != seen || done; });
        seen = wakes;
        finished = done;
      }
      // Deliberately slow: one frame per wake-up while the producer runs.
      if (finished) {
        viewer.Drain();
        return;
      }
      viewer.TakeOne();
      max_ring_bytes = std::max(max_ring_bytes, ring->bytes());
    }
  });
  for (int i = 1; i < kPushes; ++i) {
    MustPush(*ring, 50 + (i * 31) % 100, i % 10 == 0);
  }
  {
    std::lock_guard lock(mu);
    done = true;
    woken.notify_one();
  }
  consumer.join();
  ring->Unsubscribe(sub);

  EXPECT_LE(max_ring_bytes, options.max_bytes);
  EXPECT_LE(ring->bytes(), options.max_bytes);
  EXPECT_EQ(viewer.inits, 1);
  EXPECT_EQ(viewer.gap_frames, viewer.cursor.skipped_frames());
  EXPECT_EQ(viewer.frames + viewer.cursor.skipped_frames(),
            static_cast<uint64_t>(kPushes) - viewer.first_seq + 1);
  EXPECT_EQ(viewer.last_seq, static_cast<uint64_t>(kPushes));
}

TEST(MediaRingTest, AViewerSharesTheFramesItWasGiven) {
  // The cursor gives out the ring's payload itself, not a copy: a thousand viewers cost a
  // thousand shared_ptr copies, not a thousand frames.
  auto ring = NewRing({});
  auto payload = Bytes(1000);
  ASSERT_TRUE(ring->Push(payload, true).ok());
  std::vector<MediaCursor> cursors;
  for (int i = 0; i < 1000; ++i) cursors.push_back(ring->NewCursor());
  for (MediaCursor& c : cursors) {
    std::optional<MediaFrame> f = c.Next();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->payload.get(), payload.get());
  }
}

}  // namespace
}  // namespace newsreel::streaming
