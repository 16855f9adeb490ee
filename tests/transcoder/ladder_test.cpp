#include "transcoder/ladder.h"

#include <algorithm>

#include <gtest/gtest.h>

namespace newsreel::transcoder {
namespace {

MediaInfo Source(int w, int h, int fps_n, int fps_d, int rotation = 0, bool audio = true) {
  MediaInfo m;
  m.duration_ns = 20'000'000'000;
  VideoStreamInfo v;
  v.width = w;
  v.height = h;
  v.fps_n = fps_n;
  v.fps_d = fps_d;
  v.rotation = rotation;
  ComputeDisplaySize(v);
  m.video.push_back(v);
  if (audio) m.audio.push_back({"aac", "", 2, 48000, 0});
  return m;
}

TEST(LadderTest, Full1080pLadderHighestFirst) {
  auto l = PickLadder(Source(1920, 1080, 30, 1), {});
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  std::vector<std::string> names;
  for (const auto& r : l->rungs) names.push_back(r.name);
  EXPECT_EQ(names, (std::vector<std::string>{"1080p", "720p", "480p", "360p", "144p"}));
  EXPECT_EQ(l->rungs[0].width, 1920);
  EXPECT_EQ(l->rungs[1].width, 1280);
  EXPECT_EQ(l->rungs[2].width, 854);
  EXPECT_EQ(l->rungs[4].width, 256);
  for (size_t i = 1; i < l->rungs.size(); ++i)
    EXPECT_LT(l->rungs[i].bitrate, l->rungs[i - 1].bitrate) << l->rungs[i].name;
}

TEST(LadderTest, NeverUpscalesAndKeepsTheSourceAsTopRung) {
  auto l = PickLadder(Source(480, 270, 30, 1), {});
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->rungs.size(), 2u);
  EXPECT_EQ(l->rungs[0].width, 480);
  EXPECT_EQ(l->rungs[0].height, 270);
  EXPECT_EQ(l->rungs[1].height, 144);
}

TEST(LadderTest, PortraitStaysPortrait) {
  // A phone clip stored landscape with a 90 degree rotation tag.
  auto l = PickLadder(Source(1280, 720, 30, 1, 90), {});
  ASSERT_TRUE(l.ok());
  for (const auto& r : l->rungs) EXPECT_GT(r.height, r.width) << r.name;
  EXPECT_EQ(l->rungs[0].width, 720);
  EXPECT_EQ(l->rungs[0].height, 1280);
}

TEST(LadderTest, OddSizesBecomeEvenAndKeepAspect) {
  auto l = PickLadder(Source(641, 361, 25, 1), {});
  ASSERT_TRUE(l.ok());
  for (const auto& r : l->rungs) {
    EXPECT_EQ(r.width % 2, 0) << r.name;
    EXPECT_EQ(r.height % 2, 0) << r.name;
    EXPECT_NEAR(static_cast<double>(r.width) / r.height, 641.0 / 361.0, 0.02) << r.name;
  }
}

TEST(LadderTest, AnamorphicPixelsBecomeSquare) {
  MediaInfo m = Source(720, 576, 25, 1);
  m.video[0].par_n = 64;
  m.video[0].par_d = 45;
  ComputeDisplaySize(m.video[0]);
  auto l = PickLadder(m, {});
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->rungs[0].width, 1024);
  EXPECT_EQ(l->rungs[0].height, 576);
}

TEST(LadderTest, FrameRateCappedAndLowRungHalved) {
  auto l60 = PickLadder(Source(1280, 720, 60, 1), {});
  ASSERT_TRUE(l60.ok());
  EXPECT_EQ(l60->fps_n, 30);
  EXPECT_EQ(l60->fps_d, 1);
  auto l5994 = PickLadder(Source(1280, 720, 60000, 1001), {});
  ASSERT_TRUE(l5994.ok());
  EXPECT_DOUBLE_EQ(static_cast<double>(l5994->fps_n) / l5994->fps_d, 30000.0 / 1001.0);
  auto l25 = PickLadder(Source(1280, 720, 25, 1), {});
  ASSERT_TRUE(l25.ok());
  const Rung& low = l25->rungs.back();
  EXPECT_TRUE(low.low);
  EXPECT_DOUBLE_EQ(low.frame_rate(), 12.5);
  // The GOP is the same duration in every rung, so IDRs fall at the same instants.
  for (const auto& r : l25->rungs) EXPECT_DOUBLE_EQ(r.gop_frames / r.frame_rate(), 2.0) << r.name;
}

TEST(LadderTest, CellularRungKeepsFullRateWhenAGopHasAnOddNumberOfFrames) {
  // 20.5 fps: 41 frames per 2 s GOP cannot be halved into GOPs ending at the same instants.
  auto l = PickLadder(Source(1280, 720, 41, 2), LadderOptions{});
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  const Rung& low = l->rungs.back();
  ASSERT_TRUE(low.low);
  EXPECT_EQ(low.fps_n * l->fps_d, l->fps_n * low.fps_d) << "same rate as the other rungs";
  EXPECT_EQ(low.gop_frames, 41);
}

TEST(LadderTest, LowRungFitsTheCellularBudget) {
  auto l = PickLadder(Source(1920, 1080, 30, 1), {});
  ASSERT_TRUE(l.ok());
  const Rung& low = l->rungs.back();
  EXPECT_LE(low.max_bitrate + l->audio_bitrate, 192000 * 0.75);
  EXPECT_LE(low.max_bitrate, 2 * low.bitrate);
}

TEST(LadderTest, LowRungBufferNeverOutlastsAShortProgramme) {
  // Half a second of buffer for a 20 s source: its first I-frame may use it all.
  auto normal = PickLadder(Source(1280, 720, 25, 1), {});
  ASSERT_TRUE(normal.ok());
  EXPECT_EQ(normal->rungs.back().buffer_size, normal->rungs.back().bitrate / 2);
  // A one-frame clip (0.012 s) makes one 0.08 s segment at 12.5 fps: one frame of buffer.
  MediaInfo clip = Source(1280, 720, 25, 1);
  clip.duration_ns = 12'000'000;
  auto one_frame = PickLadder(clip, {});
  ASSERT_TRUE(one_frame.ok());
  const Rung& low = one_frame->rungs.back();
  ASSERT_TRUE(low.low);
  EXPECT_EQ(low.buffer_size, low.bitrate * 8 / 100);
  // A 0.3 s clip: 0.3 s of buffer. The other rungs keep theirs.
  clip.duration_ns = 300'000'000;
  auto short_clip = PickLadder(clip, {});
  ASSERT_TRUE(short_clip.ok());
  EXPECT_EQ(short_clip->rungs.back().buffer_size, short_clip->rungs.back().bitrate * 3 / 10);
  EXPECT_EQ(short_clip->rungs.front().buffer_size, normal->rungs.front().buffer_size);
}

TEST(LadderTest, AudioOnlyHasNoVideoRungs) {
  MediaInfo m;
  m.duration_ns = 8'000'000'000;
  m.audio.push_back({"mp3", "", 2, 44100, 0});
  auto l = PickLadder(m, {});
  ASSERT_TRUE(l.ok());
  EXPECT_TRUE(l->rungs.empty());
  EXPECT_TRUE(l->has_audio);
  EXPECT_EQ(l->audio_rate, 44100);
}

TEST(LadderTest, SegmentIsAWholeNumberOfGops) {
  auto l = PickLadder(Source(640, 360, 30000, 1001), {});
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->segment_ns(), 3 * l->gop_ns());
  EXPECT_NEAR(static_cast<double>(l->segment_ns()) / 1e9, 6.006, 0.001);
}

TEST(LadderTest, UserLadderFlag) {
  auto sides = ParseLadderFlag("720p,360,144");
  ASSERT_TRUE(sides.ok());
  EXPECT_EQ(*sides, (std::vector<int>{720, 360, 144}));
  LadderOptions o;
  o.short_sides = *sides;
  auto l = PickLadder(Source(1920, 1080, 30, 1), o);
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->rungs.size(), 3u);
  EXPECT_EQ(l->rungs[0].height, 720);
  EXPECT_FALSE(ParseLadderFlag("abc").ok());
  EXPECT_FALSE(ParseLadderFlag("4000").ok());
  EXPECT_FALSE(ParseLadderFlag("").ok());
}

TEST(LadderTest, BitrateScalesWithSizeAndFrameRate) {
  EXPECT_EQ(VideoBitrateFor(1920, 1080, 30), 4500000);
  EXPECT_LT(VideoBitrateFor(1280, 720, 30), VideoBitrateFor(1920, 1080, 30));
  EXPECT_LT(VideoBitrateFor(1280, 720, 24), VideoBitrateFor(1280, 720, 30));
}

TEST(LadderTest, EncoderThreadsFollowEachRungsShareOfThePixels) {
  auto l = PickLadder(Source(1920, 1080, 30, 1), {});
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->rungs.size(), 5u);  // 1080, 720, 480, 360, 144
  // Two cores: a budget of three threads. The 1080p rung's share is two, but it paces the
  // ladder and gets three (a lookahead thread of its own); every other rung one.
  EXPECT_EQ(EncoderThreads(*l, 2), (std::vector<int>{3, 1, 1, 1, 1}));
  // One core: a budget of two, which the pacing rung does not exceed.
  EXPECT_EQ(EncoderThreads(*l, 1), (std::vector<int>{2, 1, 1, 1, 1}));
  // Eight cores: nine threads, mostly for the large rungs; never fewer than one.
  const std::vector<int> eight = EncoderThreads(*l, 8);
  ASSERT_EQ(eight.size(), 5u);
  EXPECT_EQ(eight.front(), 5);
  EXPECT_TRUE(std::is_sorted(eight.rbegin(), eight.rend()));
  EXPECT_EQ(eight.back(), 1);
  // One rung takes the whole budget; a machine reporting no cores still gets a thread.
  LadderOptions one;
  one.short_sides = {720};
  auto single = PickLadder(Source(1280, 720, 30, 1), one);
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(EncoderThreads(*single, 4), (std::vector<int>{5}));
  EXPECT_EQ(EncoderThreads(*single, 0), (std::vector<int>{2}));
}

TEST(LadderTest, SmallerRungsAreScaledFromTheFirstScaledRungWhenItIsTwiceTheirSize) {
  // 1080p: 720p and 480p from the full-size frames, 360p (half of 720p) from 720p; the
  // cellular 144p rung from the full-size frames.
  auto hd = PickLadder(Source(1920, 1080, 30, 1), {});
  ASSERT_TRUE(hd.ok());
  ASSERT_EQ(hd->rungs.size(), 5u);
  ASSERT_TRUE(hd->rungs[4].low);
  EXPECT_EQ(ScaleSources(*hd, 1920, 1080), (std::vector<int>{-1, -1, -1, 1, -1}));
  // The same ladder over frames larger than its top rung: 1080p itself is scaled, and 480p and
  // 360p (2.25x and 3x below it) hang off it; 720p (1.5x) does not.
  EXPECT_EQ(ScaleSources(*hd, 2560, 1440), (std::vector<int>{-1, -1, 0, 0, -1}));
  // Portrait, the frames turned: the same shape.
  auto portrait = PickLadder(Source(1920, 1080, 30, 1, 90), {});
  ASSERT_TRUE(portrait.ok());
  ASSERT_EQ(portrait->rungs[1].width, 720);
  EXPECT_EQ(ScaleSources(*portrait, 1080, 1920), (std::vector<int>{-1, -1, -1, 1, -1}));
  // 720p: 480p is the first scaled rung, and 360p only 1.33x below it: nothing hangs off it.
  auto sd = PickLadder(Source(1280, 720, 24, 1), {});
  ASSERT_TRUE(sd.ok());
  ASSERT_EQ(sd->rungs.size(), 4u);
  EXPECT_EQ(ScaleSources(*sd, 1280, 720), (std::vector<int>{-1, -1, -1, -1}));
  // A first scaled rung at another frame rate than the ladder's is no source for the others.
  Ladder odd = *hd;
  odd.rungs[1].fps_n = 15;
  EXPECT_EQ(ScaleSources(odd, 1920, 1080), (std::vector<int>{-1, -1, -1, -1, -1}));
  // No rungs, nothing to say.
  EXPECT_TRUE(ScaleSources(Ladder{}, 1920, 1080).empty());
}

}  // namespace
}  // namespace newsreel::transcoder
