#include "transcoder/hls_playlist.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace newsreel::transcoder {
namespace {

std::vector<HlsSegment> Segments() {
  return {
      {"seg_00001.ts", 6.0, 750000}, {"seg_00002.ts", 6.0, 1500000}, {"seg_00003.ts", 2.5, 100000}};
}

TEST(HlsPlaylistTest, BandwidthIsMeasuredPeakAndAverage) {
  auto s = Segments();
  EXPECT_EQ(PeakBandwidth(s), 2000000);  // 1.5 MB in 6 s
  EXPECT_EQ(AverageBandwidth(s), static_cast<int64_t>(std::ceil(2350000 * 8 / 14.5)));
}

TEST(HlsPlaylistTest, TargetDurationIsNeverExceeded) {
  EXPECT_EQ(TargetDuration({{"a", 6.006, 1}, {"b", 5.9, 1}}), 7);
  EXPECT_EQ(TargetDuration({{"a", 6.0004, 1}}), 6);
  EXPECT_EQ(TargetDuration({{"a", 0.04, 1}}), 1);
}

TEST(HlsPlaylistTest, MediaPlaylistIsVod) {
  auto written = MediaPlaylistText(Segments());
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  const std::string& text = *written;
  EXPECT_NE(text.find("#EXT-X-PLAYLIST-TYPE:VOD"), std::string::npos);
  EXPECT_NE(text.find("#EXT-X-TARGETDURATION:6\n"), std::string::npos);
  EXPECT_NE(text.find("#EXTINF:2.50000,\nseg_00003.ts"), std::string::npos);
  EXPECT_EQ(text.substr(text.size() - 15), "#EXT-X-ENDLIST\n");
}

TEST(HlsPlaylistTest, IFramePlaylistHasByteRangesAndMap) {
  auto written = IFramePlaylistText(
      {{"seg_00001.ts", 376, 9000, 2.0}, {"seg_00001.ts", 500000, 8000, 2.0}}, "seg_00001.ts", 376);
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  const std::string& text = *written;
  EXPECT_NE(text.find("#EXT-X-I-FRAMES-ONLY"), std::string::npos);
  EXPECT_NE(text.find("#EXT-X-MAP:URI=\"seg_00001.ts\",BYTERANGE=\"376@0\""), std::string::npos);
  EXPECT_NE(text.find("#EXT-X-BYTERANGE:8000@500000\nseg_00001.ts"), std::string::npos);
}

TEST(HlsPlaylistTest, MasterListsVariantsAudioAndIFrames) {
  HlsVariant v{"720p/index.m3u8",
               "720p/iframes.m3u8",
               2600000,
               2400000,
               300000,
               "avc1.64001f,mp4a.40.2",
               1280,
               720,
               30.0};
  HlsVariant a{"audio/index.m3u8", "", 72000, 70000, 0, "mp4a.40.2", 0, 0, 0};
  auto written = MasterPlaylistText({v, a});
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  const std::string& text = *written;
  EXPECT_NE(text.find("#EXT-X-INDEPENDENT-SEGMENTS"), std::string::npos);
  EXPECT_NE(
      text.find("BANDWIDTH=2600000,AVERAGE-BANDWIDTH=2400000,CODECS=\"avc1.64001f,mp4a.40.2\","
                "RESOLUTION=1280x720,FRAME-RATE=30.000\n720p/index.m3u8"),
      std::string::npos);
  EXPECT_NE(
      text.find("BANDWIDTH=72000,AVERAGE-BANDWIDTH=70000,CODECS=\"mp4a.40.2\"\naudio/index.m3u8"),
      std::string::npos);
  EXPECT_NE(text.find("#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=300000,CODECS=\"avc1.64001f\","
                      "RESOLUTION=1280x720,URI=\"720p/iframes.m3u8\""),
            std::string::npos);
}

// Found by fuzz/playlist_fuzzer.cpp: the writers wrote any name and number they were given, so a
// name with a line break injected tags, and a huge or infinite duration overflowed the integer
// conversions (undefined behaviour) behind EXT-X-TARGETDURATION and BANDWIDTH.
TEST(HlsPlaylistTest, NamesThatWouldBreakAPlaylistAreRefused) {
  for (const char* uri : {"seg.ts\n#EXT-X-KEY:METHOD=AES-128,URI=\"http://x/k\"", "../seg.ts",
                          "/seg.ts", "720p//seg.ts", ".hidden.ts", "seg.ts/", "a\"b.ts",
                          "http://example.com/seg.ts", "seg ts", ""}) {
    auto text = MediaPlaylistText({{uri, 2.0, 100}});
    ASSERT_FALSE(text.ok()) << "written: " << *text;
    EXPECT_EQ(text.status().code(), ErrorCode::kInvalidArgument) << uri;
    EXPECT_FALSE(IsSafePlaylistUri(uri)) << uri;
  }
  for (const char* uri : {"seg_00001.ts", "720p/seg_00001.ts", "audio/index.m3u8", "a.b-c_d"})
    EXPECT_TRUE(IsSafePlaylistUri(uri)) << uri;
  HlsVariant injected{"720p/index.m3u8", "", 1, 1, 0, "avc1\"\n#EXT-X-FOO", 1280, 720, 30};
  EXPECT_FALSE(MasterPlaylistText({injected}).ok());
  EXPECT_FALSE(IFramePlaylistText({{"seg.ts", 0, 10, 2.0}}, "map\n.ts", 10).ok());
}

TEST(HlsPlaylistTest, NumbersOutOfRangeAreRefusedAndNeverOverflow) {
  const double kInf = std::numeric_limits<double>::infinity();
  for (double d : {std::nan(""), kInf, -1.0, 1e300})
    EXPECT_FALSE(MediaPlaylistText({{"seg.ts", d, 100}}).ok()) << d;
  EXPECT_FALSE(MediaPlaylistText({{"seg.ts", 2.0, -1}}).ok());
  // The helpers are total: a day at most, INT64_MAX at most, no undefined conversion.
  EXPECT_EQ(TargetDuration({{"a", 1e300, 1}}), 86400);
  EXPECT_EQ(TargetDuration({{"a", kInf, 1}}), 86400);
  EXPECT_EQ(PeakBandwidth({{"a", 1e-300, int64_t{1} << 50}}), INT64_MAX);
  EXPECT_EQ(AverageBandwidth({{"a", -5, 100}}), 0);
  HlsVariant v{"720p/index.m3u8", "720p/iframes.m3u8", 1, 1, 1, "avc1.64001f", 1280, 720, 30};
  EXPECT_TRUE(MasterPlaylistText({v}).ok());
  v.frame_rate = std::nan("");
  EXPECT_FALSE(MasterPlaylistText({v}).ok());
  // Negative zero is zero, not "-0.000" (which no player reads as a number).
  v.frame_rate = -0.0;
  auto zero = MasterPlaylistText({v});
  ASSERT_TRUE(zero.ok());
  EXPECT_NE(zero->find("FRAME-RATE=0.000\n"), std::string::npos) << *zero;
  auto instant = MediaPlaylistText({{"seg.ts", -0.0, 1}});
  ASSERT_TRUE(instant.ok());
  EXPECT_NE(instant->find("#EXTINF:0.00000,"), std::string::npos) << *instant;
  v.frame_rate = 30;
  v.width = 0;  // audio-only with an I-frame playlist, or half a resolution
  EXPECT_FALSE(MasterPlaylistText({v}).ok());
}

TEST(HlsPlaylistTest, EventPlaylistGrowsWithAFixedTargetAndNoEnd) {
  std::vector<HlsSegment> segs = {{"seg_00001.ts", 2.0, 1000}, {"seg_00002.ts", 2.0, 1000}};
  auto event = EventPlaylistText(segs, 8);
  ASSERT_TRUE(event.ok()) << event.status().ToString();
  EXPECT_NE(event->find("#EXT-X-PLAYLIST-TYPE:EVENT\n"), std::string::npos) << *event;
  EXPECT_NE(event->find("#EXT-X-TARGETDURATION:8\n"), std::string::npos) << *event;
  EXPECT_EQ(event->find("ENDLIST"), std::string::npos) << *event;
  EXPECT_TRUE(EventPlaylistText({}, 8).ok());  // nothing published yet
  // A segment longer than the announced target would break every player's reload timing.
  EXPECT_FALSE(EventPlaylistText({{"seg_00001.ts", 8.5, 1}}, 8).ok());
  EXPECT_FALSE(EventPlaylistText(segs, 0).ok());
  // The finished playlist keeps the target the growing one announced (not the smaller 2).
  auto done = FinishedPlaylistText(segs, 8);
  ASSERT_TRUE(done.ok());
  EXPECT_NE(done->find("#EXT-X-PLAYLIST-TYPE:VOD\n"), std::string::npos) << *done;
  EXPECT_NE(done->find("#EXT-X-TARGETDURATION:8\n"), std::string::npos) << *done;
  EXPECT_NE(done->find("#EXT-X-ENDLIST\n"), std::string::npos) << *done;
  // ...or more, when a segment came out longer.
  auto longer = FinishedPlaylistText({{"seg_00001.ts", 9.5, 1}}, 8);
  ASSERT_TRUE(longer.ok());
  EXPECT_NE(longer->find("#EXT-X-TARGETDURATION:10\n"), std::string::npos) << *longer;
}

TEST(HlsPlaylistTest, MasterWithoutAMeasuredAverageOmitsIt) {
  HlsVariant v{"720p/index.m3u8", "", 5000000, 0, 0, "avc1.64001f,mp4a.40.2", 1280, 720, 30};
  auto text = MasterPlaylistText({v});
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("BANDWIDTH=5000000,CODECS="), std::string::npos) << *text;
  EXPECT_EQ(text->find("AVERAGE-BANDWIDTH"), std::string::npos) << *text;
  EXPECT_EQ(text->find("I-FRAME"), std::string::npos) << *text;
}

}  // namespace
}  // namespace newsreel::transcoder
