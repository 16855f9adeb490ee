#include "transcoder/ts_scanner.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "tests/transcoder/test_util.h"
#include "transcoder/gst_util.h"

namespace newsreel::transcoder {
namespace {

// Encodes 60 frames (two 30-frame GOPs) of test video plus AAC into MPEG-TS with the same
// elements the VOD pipeline uses, and returns the file's path.
std::string MakeTs(const testing::TempDir& dir) {
  std::string path = dir / "clip.ts";
  std::string desc =
      "videotestsrc num-buffers=60 ! video/x-raw,width=320,height=180,framerate=30/1 ! "
      "x264enc key-int-max=30 speed-preset=veryfast option-string=scenecut=0 ! "
      "video/x-h264,profile=high ! h264parse ! mpegtsmux name=mux ! filesink location=" +
      path +
      " audiotestsrc num-buffers=40 ! avenc_aac ! aacparse ! audio/mpeg,stream-format=adts ! mux.";
  EXPECT_TRUE(testing::RunToEos(desc));
  return path;
}

TEST(TsScannerTest, FindsAccessUnitsIdrsSpsAndAac) {
  testing::TempDir dir;
  auto scan = ScanTsFile(MakeTs(dir));
  ASSERT_TRUE(scan.ok()) << scan.status().ToString();
  EXPECT_EQ(scan->video.size(), 60u);
  int idrs = 0;
  for (const auto& au : scan->video) idrs += au.idr ? 1 : 0;
  EXPECT_EQ(idrs, 2);
  EXPECT_TRUE(scan->video.front().idr);
  ASSERT_TRUE(scan->sps.has_value());
  EXPECT_EQ((*scan->sps)[0], 100);  // High profile
  EXPECT_EQ(AvcCodecString(*scan->sps).substr(0, 7), "avc1.64");
  EXPECT_EQ(scan->aac_object_type, 2);
  EXPECT_GT(scan->audio_frames, 0);
  EXPECT_GT(scan->psi_end, 0);
  // Presentation times span 59 frame intervals of 3000 ticks.
  EXPECT_NEAR(scan->last_video_pts() - scan->first_video_pts(), 59 * 3000, 1);
  // Byte ranges tile the stream's PES starts in order.
  for (size_t i = 1; i < scan->video.size(); ++i)
    EXPECT_EQ(scan->video[i - 1].offset + scan->video[i - 1].length, scan->video[i].offset);
}

TEST(TsScannerTest, ReadTsFileReadsTheWholeFileOrSaysWhy) {
  testing::TempDir dir;
  const std::string ts = MakeTs(dir);
  auto bytes = ReadTsFile(ts);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  ASSERT_EQ(bytes->size(), std::filesystem::file_size(ts));
  std::ifstream in(ts, std::ios::binary);
  std::vector<uint8_t> expected(bytes->size());
  in.read(reinterpret_cast<char*>(expected.data()), static_cast<std::streamsize>(expected.size()));
  EXPECT_EQ(*bytes, expected);

  const std::string empty = dir / "empty.ts";
  std::ofstream(empty).close();
  auto none = ReadTsFile(empty);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());

  auto missing = ReadTsFile(dir / "missing.ts");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("missing.ts"), std::string::npos);

  // A folder is refused with a message, not read as a file of absurd size.
  auto folder = ReadTsFile(dir.path().string());
  ASSERT_FALSE(folder.ok());
  EXPECT_NE(folder.status().message().find("not a regular file"), std::string::npos)
      << folder.status().ToString();
}

TEST(TsScannerTest, RejectsBytesThatAreNotTs) {
  EXPECT_FALSE(ScanTsBytes(std::vector<uint8_t>(188 * 3, 0x00)).ok());
  EXPECT_FALSE(ScanTsBytes(std::vector<uint8_t>(100, 0x47)).ok());
}

}  // namespace
}  // namespace newsreel::transcoder
