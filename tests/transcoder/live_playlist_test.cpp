#include "transcoder/live_playlist.h"

#include <gtest/gtest.h>

#include <string>

namespace newsreel::transcoder {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = LiveWindow::Clock;

LiveSegment Segment(int64_t seq, double duration = 2.0) {
  return {seq, "seg_" + std::to_string(seq) + ".ts", duration, 250000};
}

TEST(LiveWindowTest, SlidesKeepingAtLeastTheWindowAndCountsTheMediaSequence) {
  LiveWindowOptions o;
  o.target_duration = 2;
  o.window_seconds = 6;
  o.delete_grace = milliseconds(8000);
  LiveWindow w(o);
  const Clock::time_point t0{};
  for (int i = 0; i < 3; ++i) w.Add(Segment(i), t0 + seconds(2 * i));
  EXPECT_EQ(w.segments().size(), 3u);
  EXPECT_EQ(w.media_sequence(), 0);
  w.Add(Segment(3), t0 + seconds(6));
  ASSERT_EQ(w.segments().size(), 3u);  // 6 s, three target durations
  EXPECT_EQ(w.media_sequence(), 1);
  EXPECT_EQ(w.pending_deletion(), 1u);

  const std::string text = w.PlaylistText(false);
  EXPECT_NE(text.find("#EXT-X-TARGETDURATION:2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("#EXT-X-MEDIA-SEQUENCE:1\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("seg_0.ts"), std::string::npos) << text;
  EXPECT_NE(text.find("#EXTINF:2.00000,\nseg_3.ts\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("#EXT-X-ENDLIST"), std::string::npos);
  EXPECT_EQ(text.find("#EXT-X-PLAYLIST-TYPE"), std::string::npos) << "a sliding window is neither";
  EXPECT_NE(w.PlaylistText(true).find("#EXT-X-ENDLIST\n"), std::string::npos);
}

TEST(LiveWindowTest, ASegmentIsDeletedOnlyAfterItsGrace) {
  LiveWindowOptions o;
  o.target_duration = 2;
  o.window_seconds = 6;
  o.delete_grace = milliseconds(8000);
  LiveWindow w(o);
  const Clock::time_point t0{};
  for (int i = 0; i < 4; ++i) w.Add(Segment(i), t0 + seconds(2 * i));  // seg 0 leaves at 6 s
  EXPECT_TRUE(w.TakeExpired(t0 + seconds(6)).empty());
  EXPECT_TRUE(w.TakeExpired(t0 + milliseconds(13999)).empty());
  auto gone = w.TakeExpired(t0 + seconds(14));
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0], "seg_0.ts");
  EXPECT_TRUE(w.TakeExpired(t0 + seconds(100)).empty()) << "each file is handed out once";
  // Several leave, each with its own deadline, in order.
  w.Add(Segment(4), t0 + seconds(8));
  w.Add(Segment(5), t0 + seconds(10));
  EXPECT_EQ(w.TakeExpired(t0 + seconds(16)), std::vector<std::string>{"seg_1.ts"});
  EXPECT_EQ(w.TakeExpired(t0 + seconds(18)), std::vector<std::string>{"seg_2.ts"});
}

TEST(LiveWindowTest, AShortLastSegmentDoesNotShrinkTheWindowBelowThreeTargets) {
  LiveWindowOptions o;
  o.target_duration = 2;
  o.window_seconds = 6;
  LiveWindow w(o);
  const Clock::time_point t0{};
  for (int i = 0; i < 3; ++i) w.Add(Segment(i), t0);
  w.Add(Segment(3, 0.5), t0);
  // Dropping seg 0 would leave 4.5 s, under three target durations.
  EXPECT_EQ(w.media_sequence(), 0);
  EXPECT_EQ(w.segments().size(), 4u);
}

TEST(LiveWindowTest, OptionsThatBreakRfc8216AreRefusedWithAReason) {
  LiveWindowOptions o;
  o.target_duration = 2;
  o.window_seconds = 5;
  o.delete_grace = MinimumDeleteGrace(2, 30);
  Status s = CheckLiveWindowOptions(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("three target durations"), std::string::npos) << s.message();
  o.window_seconds = 30;
  EXPECT_TRUE(CheckLiveWindowOptions(o).ok());
  EXPECT_EQ(MinimumDeleteGrace(2, 30), milliseconds(32000));
  o.delete_grace = milliseconds(31000);
  s = CheckLiveWindowOptions(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("delete grace"), std::string::npos) << s.message();
}

TEST(LiveMasterPlaylistTest, ListsEveryRungWithBandwidthCodecsAndResolution) {
  const std::string text =
      LiveMasterPlaylistText({{"720p/index.m3u8", 3300000, "avc1.64001f,mp4a.40.2", 1280, 720, 30},
                              {"360p/index.m3u8", 1100000, "avc1.64001e,mp4a.40.2", 640, 360, 30}});
  EXPECT_NE(text.find("#EXT-X-STREAM-INF:BANDWIDTH=3300000,CODECS=\"avc1.64001f,mp4a.40.2\","
                      "RESOLUTION=1280x720,FRAME-RATE=30.000\n720p/index.m3u8\n"),
            std::string::npos)
      << text;
  EXPECT_LT(text.find("720p/index.m3u8"), text.find("360p/index.m3u8"));
}

TEST(LiveBandwidthTest, TheBoundCoversTheVbvAudioAndTransportCosts) {
  Rung r;
  r.fps_n = 30;
  r.max_bitrate = 2'000'000;
  r.buffer_size = 2'000'000;  // half a 2 s segment... of a 2 Mb/s peak: 1 s
  const int64_t bound = LiveBandwidthBound(r, true, 64000, 48000, 2.0);
  // At least the VBV's worst segment (2 Mb/s + 2 Mbit / 2 s) and the audio.
  EXPECT_GE(bound, 3'000'000 + 64'000);
  // Not absurdly above it: players pick variants by this number.
  EXPECT_LE(bound, 3'400'000);
  EXPECT_LT(LiveBandwidthBound(r, false, 64000, 48000, 2.0), bound);
}

}  // namespace
}  // namespace newsreel::transcoder
