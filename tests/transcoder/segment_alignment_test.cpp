#include "transcoder/segment_alignment.h"

#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <string>

#include "tests/transcoder/test_util.h"
#include "transcoder/gst_util.h"
#include "transcoder/ts_scanner.h"

namespace newsreel::transcoder {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kSecond = 90000;  // 90 kHz ticks
constexpr int kFps = 25;
constexpr int64_t kFrame = kSecond / kFps;

// Encodes `frames` frames of 25 fps test video (an IDR every `key_int` frames) plus AAC into
// `dir`/seg_00001.ts, ... with splitmuxsink and mpegtsmux, as the VOD pipeline does; each
// segment ends at the first IDR after `max_seconds` (0: one file).
fs::path MakeRendition(const testing::TempDir& tmp, const std::string& name, int frames,
                       int key_int, double max_seconds) {
  const fs::path dir = tmp.path() / name;
  fs::create_directories(dir);
  const auto max_ns = static_cast<guint64>(max_seconds * 1e9 + (max_seconds > 0 ? 2e7 : 0));
  const std::string desc =
      "splitmuxsink name=split muxer-factory=mpegtsmux start-index=1 max-size-time=" +
      std::to_string(max_ns) + " location=" + (dir / "seg_%05d.ts").string() +
      " videotestsrc num-buffers=" + std::to_string(frames) +
      " ! video/x-raw,width=160,height=96,framerate=25/1 ! x264enc key-int-max=" +
      std::to_string(key_int) +
      " speed-preset=ultrafast option-string=scenecut=0 ! h264parse ! split.video"
      " audiotestsrc samplesperbuffer=1024 num-buffers=" +
      std::to_string(frames * 48000 / kFps / 1024) +
      " ! audio/x-raw,rate=48000 ! avenc_aac ! aacparse ! split.audio_0";
  EXPECT_TRUE(testing::RunToEos(desc));
  return dir;
}

// Continuity counter breaks in a file: a packet with payload must step its PID's counter by
// one, one without must repeat it (null packets aside).
int CounterBreaks(const fs::path& file) {
  auto bytes = ReadTsFile(file.string());
  EXPECT_TRUE(bytes.ok());
  if (!bytes.ok()) return -1;
  std::array<int, 0x2000> last;
  last.fill(-1);
  int breaks = 0;
  for (size_t p = 0; p + kTsPacketBytes <= bytes->size(); p += kTsPacketBytes) {
    const uint8_t* packet = bytes->data() + p;
    const int pid = ((packet[1] & 0x1f) << 8) | packet[2];
    if (pid == 0x1fff) continue;
    const int cc = packet[3] & 0x0f;
    const bool payload = (packet[3] & 0x10) != 0;
    if (last[pid] >= 0 && cc != (payload ? (last[pid] + 1) & 0x0f : last[pid])) ++breaks;
    last[pid] = cc;
  }
  return breaks;
}

struct Described {
  std::vector<int64_t> starts;  // first video PTS of each segment, from the first
  std::vector<bool> opens_with_idr_and_psi;
  size_t frames = 0;
  int64_t bytes = 0;
};

Described Describe(const fs::path& dir) {
  Described d;
  int64_t first = -1;
  for (const auto& f : ListSegmentFiles(dir)) {
    auto scan = ScanTsFile(f.string());
    EXPECT_TRUE(scan.ok()) << f << ": " << scan.status().ToString();
    if (!scan.ok()) continue;
    if (first < 0) first = scan->first_video_pts();
    d.starts.push_back(scan->first_video_pts() - first);
    d.opens_with_idr_and_psi.push_back(scan->psi_end > 0 && !scan->video.empty() &&
                                       scan->video.front().idr);
    d.frames += scan->video.size();
    d.bytes += scan->size_bytes;
  }
  return d;
}

TEST(SegmentAlignmentTest, ARenditionMissingACutIsCutAtItsIdrThere) {
  testing::TempDir tmp;
  const fs::path a = MakeRendition(tmp, "a", 75, kFps, 1.0);  // cut every second
  const fs::path b = MakeRendition(tmp, "b", 75, kFps, 0);    // one file
  const Described before = Describe(b);
  ASSERT_EQ(Describe(a).starts, (std::vector<int64_t>{0, kSecond, 2 * kSecond}));
  ASSERT_EQ(before.starts.size(), 1u);

  ASSERT_TRUE(AlignSegmentCuts({a, b}, kFrame, 90, 0).ok());
  const Described after = Describe(b);
  EXPECT_EQ(after.starts, (std::vector<int64_t>{0, kSecond, 2 * kSecond}));
  EXPECT_EQ(after.opens_with_idr_and_psi, (std::vector<bool>{true, true, true}));
  EXPECT_EQ(after.frames, before.frames) << "no frame lost or doubled";
  for (const auto& f : ListSegmentFiles(b)) EXPECT_EQ(CounterBreaks(f), 0) << f;
  EXPECT_EQ(Describe(a).starts.size(), 3u) << "the rendition that had every cut is untouched";
}

TEST(SegmentAlignmentTest, NoIdrWhereAnotherRenditionWasCutIsAnError) {
  testing::TempDir tmp;
  const fs::path a = MakeRendition(tmp, "a", 75, kFps, 1.0);
  const fs::path b = MakeRendition(tmp, "b", 75, 75, 0);  // one IDR, at the start
  const Status s = AlignSegmentCuts({a, b}, kFrame, 90, 0);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("rendition b has no IDR frame at 1.000 s"), std::string::npos)
      << s.message();
}

TEST(SegmentAlignmentTest, AShortLastSegmentJoinsTheOneBeforeWithCountersCarriedOn) {
  testing::TempDir tmp;
  // 2 s and two frames: the last segment holds the IDR at 2 s and one more frame.
  const fs::path a = MakeRendition(tmp, "a", 2 * kFps + 2, kFps, 1.0);
  const Described before = Describe(a);
  ASSERT_EQ(before.starts, (std::vector<int64_t>{0, kSecond, 2 * kSecond}));

  ASSERT_TRUE(AlignSegmentCuts({a}, kFrame).ok());
  const Described after = Describe(a);
  EXPECT_EQ(after.starts, (std::vector<int64_t>{0, kSecond}));
  EXPECT_EQ(after.frames, before.frames);
  EXPECT_FALSE(fs::exists(a / "seg_00003.ts"));

  // The joined file reads as one stream: each PID's continuity counter steps by one.
  EXPECT_EQ(CounterBreaks(a / "seg_00002.ts"), 0);
}

TEST(SegmentAlignmentTest, ALastSegmentOfASecondOrMoreStays) {
  testing::TempDir tmp;
  // 3 s: the last segment, from 2 s, lasts 1 s to the end of its last frame.
  const fs::path a = MakeRendition(tmp, "a", 3 * kFps, kFps, 1.0);
  ASSERT_TRUE(AlignSegmentCuts({a}, kFrame).ok());
  EXPECT_EQ(Describe(a).starts.size(), 3u);
}

TEST(SegmentAlignmentTest, FilesNotNumberedFromOneAreRefusedUntouched) {
  testing::TempDir tmp;
  const fs::path a = MakeRendition(tmp, "a", 75, kFps, 1.0);
  const fs::path b = MakeRendition(tmp, "b", 75, kFps, 0);
  fs::rename(b / "seg_00001.ts", b / "seg_00002.ts");
  const auto size = fs::file_size(b / "seg_00002.ts");
  const Status s = AlignSegmentCuts({a, b}, kFrame, 90, 0);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("unexpected segment file seg_00002.ts"), std::string::npos)
      << s.message();
  EXPECT_EQ(fs::file_size(b / "seg_00002.ts"), size);
  EXPECT_EQ(ListSegmentFiles(b).size(), 1u);
}

}  // namespace
}  // namespace newsreel::transcoder
