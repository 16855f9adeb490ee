#include "transcoder/progressive.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "tests/transcoder/test_util.h"
#include "transcoder/transcode.h"
#include "transcoder/ts_scanner.h"

namespace newsreel::transcoder {
namespace {

namespace fs = std::filesystem;
using testing::Media;
using testing::TempDir;

constexpr int64_t kSecond = 1'000'000'000;

std::string ReadText(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The URIs (non-tag lines) of a playlist.
std::vector<std::string> Uris(const std::string& text) {
  std::vector<std::string> uris;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line[0] != '#') uris.push_back(line);
  return uris;
}

// BANDWIDTH of each variant of a master playlist, by its URI.
std::map<std::string, int64_t> Bandwidths(const std::string& master) {
  std::map<std::string, int64_t> out;
  std::istringstream in(master);
  int64_t pending = -1;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("#EXT-X-STREAM-INF:BANDWIDTH=", 0) == 0) {
      pending = std::stoll(line.substr(28));
    } else if (!line.empty() && line[0] != '#' && pending >= 0) {
      out[line] = pending;
      pending = -1;
    }
  }
  return out;
}

TEST(SegmentScheduleTest, TwoShortSegmentsThenFullOnes) {
  Ladder ladder;  // 30 fps, GOP 2 s, segments of three GOPs
  const SegmentSchedule s = ProgressiveSchedule(ladder);
  ASSERT_TRUE(s.short_start());
  EXPECT_EQ(s.StartOf(0), 0);
  EXPECT_EQ(s.StartOf(1), 2 * kSecond);
  EXPECT_EQ(s.StartOf(2), 4 * kSecond);
  EXPECT_EQ(s.StartOf(3), 10 * kSecond);
  EXPECT_EQ(s.StartOf(4), 16 * kSecond);
  EXPECT_EQ(s.SegmentAt(0), 0);
  EXPECT_EQ(s.SegmentAt(2 * kSecond - 1), 0);
  EXPECT_EQ(s.SegmentAt(2 * kSecond), 1);
  EXPECT_EQ(s.SegmentAt(4 * kSecond - 1), 1);
  EXPECT_EQ(s.SegmentAt(4 * kSecond), 2);
  EXPECT_EQ(s.SegmentAt(10 * kSecond - 1), 2);
  EXPECT_EQ(s.SegmentAt(10 * kSecond), 3);
  // Every instant lies in the segment that starts at or before it.
  for (int64_t t = 0; t < 60 * kSecond; t += kSecond / 3) {
    const int64_t k = s.SegmentAt(t);
    EXPECT_LE(s.StartOf(k), t);
    EXPECT_GT(s.StartOf(k + 1), t);
  }
}

TEST(SegmentScheduleTest, WithoutShortStartEverySegmentIsFull) {
  const SegmentSchedule s{0, 6 * kSecond, 0};
  EXPECT_FALSE(s.short_start());
  EXPECT_EQ(s.StartOf(2), 12 * kSecond);
  EXPECT_EQ(s.SegmentAt(13 * kSecond), 2);
}

TEST(ProgressiveTest, TargetDurationCoversAFullSegmentWithAJoinedLastPiece) {
  Ladder ladder;
  ladder.rungs.push_back({"144p", 256, 144, 15, 1, 30, 64000, 64000, 128000, true});
  // 6 s, plus under 1 s joined, plus one 15 fps frame.
  EXPECT_EQ(ProgressiveTargetDuration(ladder), 8);
}

TEST(ProgressiveTest, UpperBoundCoversTheVbvBufferOnShortSegments) {
  Ladder ladder;
  ladder.has_audio = true;
  const Rung r{"720p", 1280, 720, 30, 1, 60, 2500000, 2500000, 5000000, false};
  const int64_t two = UpperBoundBandwidth(&r, ladder, 2.0);
  const int64_t six = UpperBoundBandwidth(&r, ladder, 6.0);
  // The cap, what a full buffer adds over the segment, and the audio, before TS overhead.
  EXPECT_GE(two, 2500000 + 5000000 / 2 + 64000);
  EXPECT_GT(two, six);
  EXPECT_GE(six, 2500000 + 5000000 / 6 + 64000);
  EXPECT_GT(UpperBoundBandwidth(nullptr, ladder, 2.0), 64000);
  EXPECT_LT(UpperBoundBandwidth(nullptr, ladder, 2.0), UpperBoundBandwidth(&r, ladder, 2.0));
}

// While the transcode runs (inside the progress callback, so that nothing is published
// meanwhile), OUTDIR holds a master playlist and EVENT playlists that list the same segments in
// every rendition; every listed video segment starts with an IDR frame at the same instant in
// every rung. At the end the playlists are VOD, and the measured BANDWIDTH stays under the bound
// the master carried while processing.
TEST(ProgressiveTest, PublishesAlignedSegmentsWhileRunningThenTheFinishedOutput) {
  TempDir dir;
  const fs::path out = dir.path() / "out";
  TranscodeOptions options;
  options.ladder.short_sides = {360, 144};
  options.publish_progressively = true;
  bool checked = false;
  std::string running_master;
  options.on_progress = [&](const TranscodeProgress& p) {
    if (!p.playable || checked) return;
    checked = true;
    EXPECT_NE(p.phase, "done") << "playable before the end";
    running_master = ReadText(out / "master.m3u8");
    EXPECT_EQ(running_master.find("AVERAGE-BANDWIDTH"), std::string::npos);
    const std::vector<std::string> playlists = Uris(running_master);
    ASSERT_EQ(playlists.size(), 3u) << running_master;  // 360p, 144p, audio
    std::vector<std::string> listed;
    std::vector<int64_t> starts;
    for (const std::string& p : playlists) {
      const std::string text = ReadText(out / p);
      EXPECT_NE(text.find("#EXT-X-PLAYLIST-TYPE:EVENT"), std::string::npos) << p;
      EXPECT_EQ(text.find("#EXT-X-ENDLIST"), std::string::npos) << p;
      const std::vector<std::string> segments = Uris(text);
      ASSERT_FALSE(segments.empty()) << p;
      if (listed.empty()) listed = segments;
      EXPECT_EQ(segments, listed) << p << ": every rendition lists the same segments";
      if (p.rfind("audio/", 0) == 0) continue;
      const fs::path rung = out / fs::path(p).parent_path();
      for (size_t i = 0; i < segments.size(); ++i) {
        auto scan = ScanTsFile((rung / segments[i]).string());
        ASSERT_TRUE(scan.ok()) << scan.status().ToString();
        ASSERT_FALSE(scan->video.empty());
        EXPECT_TRUE(scan->video.front().idr) << p << " " << segments[i];
        if (starts.size() <= i) starts.push_back(scan->first_video_pts());
        EXPECT_NEAR(scan->first_video_pts(), starts[i], 90) << p << " " << segments[i];
      }
    }
  };
  auto r = Transcode(Media("moviepy_chaplin.mp4"), out.string(), options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(checked) << "never reported playable while running";
  for (const std::string& w : r->warnings) ADD_FAILURE() << "warning: " << w;
  // The first segments last one GOP each.
  const std::string rung = ReadText(out / "360p" / "index.m3u8");
  EXPECT_NE(rung.find("#EXTINF:2.00000,\nseg_00001.ts\n#EXTINF:2.00000,\nseg_00002.ts"),
            std::string::npos)
      << rung;
  for (const char* p : {"360p/index.m3u8", "144p/index.m3u8", "audio/index.m3u8"}) {
    const std::string text = ReadText(out / p);
    EXPECT_NE(text.find("#EXT-X-PLAYLIST-TYPE:VOD"), std::string::npos) << p;
    EXPECT_NE(text.find("#EXT-X-ENDLIST"), std::string::npos) << p;
    EXPECT_NE(text.find("#EXT-X-TARGETDURATION:8"), std::string::npos) << p;
  }
  const std::string final_master = ReadText(out / "master.m3u8");
  EXPECT_NE(final_master.find("AVERAGE-BANDWIDTH"), std::string::npos);
  EXPECT_NE(final_master.find("I-FRAME-STREAM-INF"), std::string::npos);
  const auto bound = Bandwidths(running_master);
  const auto measured = Bandwidths(final_master);
  ASSERT_EQ(bound.size(), measured.size());
  for (const auto& [uri, bps] : measured) {
    ASSERT_TRUE(bound.count(uri)) << uri;
    EXPECT_GE(bound.at(uri), bps) << uri << ": the bound is not below the measured peak";
  }
  // Nothing of the staging folder is left behind.
  for (const auto& e : fs::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename(), "out") << e.path();
}

// A retry finds a published part in OUTDIR: it publishes nothing while it runs (the part stays
// as it was, never missing), and the finished output replaces it in one step.
TEST(ProgressiveTest, RetryOverAPublishedPartSwapsTheFinishedOutputIn) {
  TempDir dir;
  const fs::path out = dir.path() / "out";
  fs::create_directories(out / "360p");
  const std::string partial = "#EXTM3U\n# the part a killed worker published\n";
  testing::WriteBytes((out / "master.m3u8").string(), partial);
  testing::WriteBytes((out / "360p" / "left-over.ts").string(), "x");
  TranscodeOptions options;
  options.ladder.short_sides = {360};
  options.publish_progressively = true;
  options.force = true;
  int checks = 0;
  options.on_progress = [&](const TranscodeProgress& p) {
    if (p.phase == "done") return;
    EXPECT_FALSE(p.playable);
    EXPECT_EQ(ReadText(out / "master.m3u8"), partial);
    ++checks;
  };
  auto r = Transcode(Media("moviepy_chaplin.mp4"), out.string(), options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(checks, 0);
  EXPECT_NE(ReadText(out / "master.m3u8"), partial);
  EXPECT_FALSE(fs::exists(out / "360p" / "left-over.ts"));
  EXPECT_TRUE(fs::exists(out / "manifest.json"));
  for (const auto& e : fs::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename(), "out") << e.path();
}

}  // namespace
}  // namespace newsreel::transcoder
