#include "transcoder/probe.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <random>

#include "tests/transcoder/test_util.h"

namespace newsreel::transcoder {
namespace {

using testing::Media;
using testing::TempDir;

TEST(ProbeTest, RotatedPhoneClipIsPortrait) {
  auto info = Probe(Media("jsonize_iphone_rotated.mov"));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_TRUE(info->has_video());
  const auto& v = info->video[0];
  EXPECT_EQ(v.codec, "h264");
  EXPECT_EQ(v.width, 568);
  EXPECT_EQ(v.height, 320);
  EXPECT_EQ(v.rotation, 90);
  EXPECT_EQ(v.display_width, 320);
  EXPECT_EQ(v.display_height, 568);
  EXPECT_TRUE(v.portrait());
  ASSERT_TRUE(info->has_audio());
  EXPECT_EQ(info->audio[0].channels, 1);
  EXPECT_EQ(info->audio[0].sample_rate, 44100);
}

TEST(ProbeTest, SixtyFpsPortraitWithMetadataTracks) {
  // Two Apple metadata tracks have no decoder: they are skipped, the video and audio remain.
  auto info = Probe(Media("nomexif_meta.mov"));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_EQ(info->video.size(), 1u);
  EXPECT_NEAR(info->video[0].frame_rate(), 60.0, 0.01);
  EXPECT_EQ(info->video[0].display_width, 720);
  EXPECT_EQ(info->video[0].display_height, 1280);
}

TEST(ProbeTest, AnamorphicPalDisplaySize) {
  auto info = Probe(Media("videotestdata_1-video-streamable.mp4"));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->video[0].width, 720);
  EXPECT_EQ(info->video[0].display_width, 1024);
  EXPECT_EQ(info->video[0].display_height, 576);
  EXPECT_EQ(info->video[0].fps_n, 25);
}

TEST(ProbeTest, AudioOnlyFile) {
  auto info = Probe(Media("moviepy_crunching.mp3"));
  ASSERT_TRUE(info.ok());
  EXPECT_FALSE(info->has_video());
  ASSERT_TRUE(info->has_audio());
  EXPECT_EQ(info->audio[0].codec, "mp3");
  EXPECT_NEAR(info->duration_seconds(), 8.3, 0.2);
}

TEST(ProbeTest, VideoWithoutAudio) {
  auto info = Probe(Media("nomexif_mkv_640x360.mkv"));
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->has_video());
  EXPECT_FALSE(info->has_audio());
  EXPECT_EQ(info->container, "Matroska");
  EXPECT_FALSE(info->duration_from_packets);
}

// GstDiscoverer gives no duration for a TS of less than about 4 s (tsdemux estimates it from
// PCRs); the packets' timestamps give it: the length asked of ffmpeg, to within AAC's priming
// and a frame.
TEST(ProbeTest, ShortTsIsMeasuredFromItsPackets) {
  TempDir dir;
  const std::string av = dir / "av.ts", audio = dir / "audio.ts";
  ASSERT_EQ(std::system(("ffmpeg -nostdin -v error -f lavfi -i color=black:s=640x360:r=25 -f lavfi "
                         "-i sine=frequency=1000 -t 2 -c:v libx264 -preset ultrafast -c:a aac " +
                         av +
                         " && ffmpeg -nostdin -v error -f lavfi -i sine=frequency=1000 -t "
                         "1.5 -c:a aac " +
                         audio)
                            .c_str()),
            0);
  for (const auto& [path, seconds] : {std::pair{av, 2.0}, std::pair{audio, 1.5}}) {
    SCOPED_TRACE(path);
    auto info = Probe(path);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_TRUE(info->duration_from_packets);  // else the discoverer's: a new input is needed
    EXPECT_NEAR(info->duration_seconds(), seconds + 0.025, 0.025);
    EXPECT_EQ(info->has_video(), path == av);
    EXPECT_TRUE(info->has_audio());
  }
}

// Two H.264 frames whose timing data (SPS VUI, -bsf h264_metadata) gives them 2^30 s each and a
// frame rate of 1/2^30: a frame counts for at most 10 s, and the rate is not believed.
TEST(ProbeTest, AStreamClaimingYearsPerFrameIsNotBelieved) {
  TempDir dir;
  const std::string ts = dir / "years.ts";
  ASSERT_EQ(testing::WriteTsClaimingYearsPerFrame(ts), 0);
  auto info = Probe(ts);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_TRUE(info->duration_from_packets);
  EXPECT_GT(info->duration_seconds(), 0.0);
  EXPECT_LE(info->duration_seconds(), 10.1);
  ASSERT_TRUE(info->has_video());
  EXPECT_EQ(info->video[0].fps_n, 25);
  EXPECT_EQ(info->video[0].fps_d, 1);
}

TEST(ProbeTest, EmptyFileIsAClearError) {
  TempDir dir;
  testing::WriteBytes(dir / "empty.mp4", "");
  auto info = Probe(dir / "empty.mp4");
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(info.status().message().find("empty"), std::string::npos);
}

TEST(ProbeTest, RandomBytesAreNotMedia) {
  TempDir dir;
  std::mt19937 rng(42);
  std::string bytes(64 * 1024, '\0');
  for (auto& c : bytes) c = static_cast<char>(rng());
  testing::WriteBytes(dir / "noise.mp4", bytes);
  auto info = Probe(dir / "noise.mp4");
  ASSERT_FALSE(info.ok());
  EXPECT_NE(info.status().message().find("not a media file"), std::string::npos)
      << info.status().message();
}

TEST(ProbeTest, MissingFile) {
  auto info = Probe("/nonexistent/clip.mp4");
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), ErrorCode::kNotFound);
}

TEST(ProbeTest, JsonHasDisplaySizeAndStreams) {
  auto info = Probe(Media("moviepy_chaplin.mp4"));
  ASSERT_TRUE(info.ok());
  auto j = ToJson(*info);
  ASSERT_EQ(j["streams"].size(), 2u);
  EXPECT_EQ(j["streams"][0]["type"], "video");
  EXPECT_EQ(j["streams"][0]["display_width"], 640);
  EXPECT_EQ(j["streams"][1]["codec"], "mp3");
}

}  // namespace
}  // namespace newsreel::transcoder
