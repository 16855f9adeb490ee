#include "transcoder/hls_playlist.h"

#include <gtest/gtest.h>

#include <cmath>

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
  std::string text = MediaPlaylistText(Segments());
  EXPECT_NE(text.find("#EXT-X-PLAYLIST-TYPE:VOD"), std::string::npos);
  EXPECT_NE(text.find("#EXT-X-TARGETDURATION:6\n"), std::string::npos);
  EXPECT_NE(text.find("#EXTINF:2.50000,\nseg_00003.ts"), std::string::npos);
  EXPECT_EQ(text.substr(text.size() - 15), "#EXT-X-ENDLIST\n");
}

TEST(HlsPlaylistTest, IFramePlaylistHasByteRangesAndMap) {
  std::string text = IFramePlaylistText(
      {{"seg_00001.ts", 376, 9000, 2.0}, {"seg_00001.ts", 500000, 8000, 2.0}}, "seg_00001.ts", 376);
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
  std::string text = MasterPlaylistText({v, a});
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

}  // namespace
}  // namespace newsreel::transcoder
