// RunLive on real streams: ffmpeg (a real encoder we did not write) sends MPEG-TS through a pipe
// at real-time pace (-re), and the test watches the output folder while the stream runs,
// waking on inotify events, never on sleeps.
#include "transcoder/live_pipeline.h"
#include "transcoder/ll_playlist.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "tests/transcoder/test_util.h"
#include "transcoder/ts_scanner.h"

namespace newsreel::transcoder {
namespace {

namespace fs = std::filesystem;

// Runs a shell command; its exit status (-1 when it could not run).
int Shell(const std::string& command) {
  int rc = std::system(command.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string ReadText(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// What a media playlist says.
struct MediaPlaylist {
  bool ok = false;
  int target = 0;
  int64_t sequence = -1;
  std::vector<std::pair<std::string, double>> segments;
  bool ended = false;
  int64_t discontinuity_sequence = 0;
  std::set<int64_t> after_discontinuity;  // sequence numbers with EXT-X-DISCONTINUITY before
};

MediaPlaylist ParseMediaPlaylist(const fs::path& p) {
  MediaPlaylist m;
  std::istringstream in(ReadText(p));
  std::string line;
  double duration = -1;
  while (std::getline(in, line)) {
    if (line.rfind("#EXTM3U", 0) == 0) m.ok = true;
    if (line.rfind("#EXT-X-TARGETDURATION:", 0) == 0) m.target = std::stoi(line.substr(22));
    if (line.rfind("#EXT-X-MEDIA-SEQUENCE:", 0) == 0) m.sequence = std::stoll(line.substr(22));
    if (line.rfind("#EXTINF:", 0) == 0) duration = std::stod(line.substr(8));
    if (line == "#EXT-X-ENDLIST") m.ended = true;
    if (line.rfind("#EXT-X-DISCONTINUITY-SEQUENCE:", 0) == 0)
      m.discontinuity_sequence = std::stoll(line.substr(30));
    if (line == "#EXT-X-DISCONTINUITY")
      m.after_discontinuity.insert(m.sequence + static_cast<int64_t>(m.segments.size()));
    if (!line.empty() && line[0] != '#') m.segments.emplace_back(line, duration);
  }
  return m;
}

// Waits on inotify events in `root` and its sub-folders (added as they appear) until `done`
// holds. The 180 s cap only stops a hang; it asserts nothing about speed.
class FolderWatch {
 public:
  explicit FolderWatch(fs::path root) : root_(std::move(root)), fd_(inotify_init1(IN_CLOEXEC)) {
    Watch(root_);
  }
  ~FolderWatch() { close(fd_); }

  bool WaitUntil(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
    while (std::chrono::steady_clock::now() < deadline) {
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(root_, ec))
        if (e.is_directory()) Watch(e.path());
      if (done()) return true;
      pollfd p{fd_, POLLIN, 0};
      // Woken by any change; the timeout only re-checks for folders created before their watch.
      if (poll(&p, 1, 1000) > 0) {
        char buf[16384];
        (void)!read(fd_, buf, sizeof buf);
      }
    }
    return done();
  }

 private:
  void Watch(const fs::path& dir) {
    if (watched_.insert(dir.string()).second)
      inotify_add_watch(fd_, dir.c_str(), IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_CLOSE_WRITE);
  }
  fs::path root_;
  int fd_;
  std::set<std::string> watched_;
};

class LivePipelineTest : public ::testing::Test {
 protected:
  // 24 s of 854x480 test pattern at 30 fps with a tone, H.264 with a GOP of 50 frames (not the
  // live GOP: the worker sets its own) and AAC, as an encoder in the field would send it.
  static void SetUpTestSuite() {
    source_dir_ = new testing::TempDir();
    source_ = *source_dir_ / "source.ts";
    ASSERT_EQ(
        Shell("ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=854x480:rate=30 -f lavfi "
              "-i sine=frequency=440:sample_rate=48000 -t 24 -c:v libx264 -preset ultrafast "
              "-g 50 -pix_fmt yuv420p -c:a aac -b:a 96k -f mpegts " +
              source_),
        0);
  }
  static void TearDownTestSuite() {
    delete source_dir_;
    source_dir_ = nullptr;
  }

  static testing::TempDir* source_dir_;
  static std::string source_;
};

testing::TempDir* LivePipelineTest::source_dir_ = nullptr;
std::string LivePipelineTest::source_;

TEST_F(LivePipelineTest, AStreamAtRealTimePaceBecomesASlidingAlignedLiveLadder) {
  testing::TempDir tmp;
  const fs::path out = tmp.path() / "live";
  fs::create_directories(out);
  // ffmpeg relays the file at its own pace, as an encoder would (-re, stream copy).
  FILE* feed = popen(
      ("ffmpeg -nostdin -v error -re -i " + source_ + " -c copy -f mpegts pipe:1").c_str(), "r");
  ASSERT_NE(feed, nullptr);

  LiveOptions options;
  options.short_sides = {480, 360, 240};
  options.segment_seconds = 2;
  options.window_seconds = 6;  // three target durations: the window slides within the clip
  options.delete_grace = std::chrono::milliseconds(8000);  // the least RFC 8216 allows here
  options.encoder = "x264";
  Result<LiveResult> result = Status(ErrorCode::kInternal, "not run");
  std::vector<LiveStats> stats;
  std::thread worker([&] {
    result = RunLive(fileno(feed), out.string(), options,
                     [&](const LiveStats& s) { stats.push_back(s); });
  });

  const std::vector<std::string> rungs = {"480p", "360p", "240p"};
  FolderWatch watch(out);

  // The multivariant playlist lists every rung, highest first, with what players choose by.
  ASSERT_TRUE(watch.WaitUntil([&] { return fs::exists(out / "master.m3u8"); }));
  const std::string master = ReadText(out / "master.m3u8");
  size_t at = 0;
  for (const char* resolution :
       {"RESOLUTION=854x480", "RESOLUTION=640x360", "RESOLUTION=428x240"}) {
    size_t found = master.find(resolution, at);
    ASSERT_NE(found, std::string::npos) << resolution << " in\n" << master;
    at = found;
  }
  EXPECT_NE(master.find("CODECS=\"avc1.64"), std::string::npos) << master;
  EXPECT_NE(master.find(",mp4a.40.2\""), std::string::npos) << master;
  for (const auto& r : rungs) EXPECT_NE(master.find(r + "/index.m3u8"), std::string::npos);

  // ffprobe, a player we did not write, reads the live stream while it runs.
  EXPECT_EQ(Shell("ffprobe -v error -show_entries stream=codec_name -of csv=p=0 " +
                  (out / "master.m3u8").string() + " | grep -q h264"),
            0);

  // Watch the window slide. Every time a playlist is read: target duration honoured, every
  // listed segment on disk, media sequence never going back; every segment of a sequence
  // number begins with an IDR frame at the same PTS in every rung.
  std::map<std::string, int64_t> last_sequence;
  std::map<int64_t, int64_t> start_pts;  // by sequence number, the first rung's
  std::set<std::string> seen_listed;     // "<rung>/<file>"
  std::set<int64_t> compared;
  bool left_and_kept = false;  // a segment out of the window still on disk
  auto observe = [&](bool& all_slid) {
    all_slid = true;
    for (const auto& r : rungs) {
      const MediaPlaylist m = ParseMediaPlaylist(out / r / "index.m3u8");
      if (!m.ok) {
        all_slid = false;
        continue;
      }
      EXPECT_EQ(m.target, 2);
      EXPECT_GE(m.sequence, last_sequence[r]) << r << ": the media sequence went back";
      // A segment seen listed before and now gone from the window: its file is still there
      // (the grace is 8 s; this check runs at the playlist's rename).
      for (int64_t s = last_sequence[r]; s < m.sequence; ++s) {
        char name[32];
        std::snprintf(name, sizeof name, "seg_%05lld.ts", static_cast<long long>(s));
        if (seen_listed.count(r + "/" + name) != 0) {
          EXPECT_TRUE(fs::exists(out / r / name)) << r << "/" << name << " deleted at once";
          left_and_kept = left_and_kept || fs::exists(out / r / name);
        }
      }
      last_sequence[r] = m.sequence;
      int64_t seq = m.sequence;
      for (const auto& [uri, duration] : m.segments) {
        EXPECT_LE(duration, m.target + 0.0005) << r << "/" << uri;
        EXPECT_GT(duration, 0) << r << "/" << uri;
        EXPECT_TRUE(fs::exists(out / r / uri)) << r << "/" << uri << " is listed but gone";
        seen_listed.insert(r + "/" + uri);
        if (m.ended || compared.count(seq) == 0) {
          auto scan = ScanTsFile((out / r / uri).string());
          if (scan.ok()) {
            ASSERT_FALSE(scan->video.empty()) << r << "/" << uri;
            EXPECT_TRUE(scan->video.front().idr)
                << r << "/" << uri << " does not begin with an IDR";
            EXPECT_EQ(scan->psi_end, 2 * 188) << r << "/" << uri << " does not open with PAT, PMT";
            auto [it, inserted] = start_pts.emplace(seq, scan->first_video_pts());
            if (!inserted) {
              EXPECT_EQ(it->second, scan->first_video_pts())
                  << r << "/" << uri << " is not cut at the same instant as the other rungs";
            }
            if (r == rungs.back()) compared.insert(seq);
          }
        }
        ++seq;
      }
      if (m.sequence < 3) all_slid = false;
    }
  };
  bool slid = false;
  ASSERT_TRUE(watch.WaitUntil([&] {
    observe(slid);
    return slid && !fs::exists(out / "480p" / "seg_00000.ts");
  })) << "the window never slid far enough for the first segment to be deleted";
  EXPECT_TRUE(left_and_kept) << "no segment was seen kept after it left the window";
  EXPECT_GE(compared.size(), 3u);

  // The end of the input ends the stream: EXT-X-ENDLIST everywhere and a clean return.
  worker.join();
  EXPECT_EQ(pclose(feed), 0);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  observe(slid);
  for (const auto& r : rungs) {
    const MediaPlaylist m = ParseMediaPlaylist(out / r / "index.m3u8");
    EXPECT_TRUE(m.ended) << r;
    double listed = 0;
    for (const auto& s : m.segments) listed += s.second;
    EXPECT_GE(listed, 6.0 - 0.001) << r << ": a window of at least three target durations";
  }
  ASSERT_EQ(result->rungs.size(), 3u);
  for (const LiveRungResult& r : result->rungs) {
    EXPECT_LE(r.peak_bandwidth, r.bandwidth)
        << r.name << ": a segment went over the BANDWIDTH the master announced";
    EXPECT_GT(r.average_bandwidth, 0);
    EXPECT_LE(r.average_bandwidth, r.peak_bandwidth);
  }
  EXPECT_EQ(result->video_codec, "h264");
  EXPECT_EQ(result->audio_codec, "aac");
  EXPECT_EQ(result->encoder, "x264");
  EXPECT_NEAR(result->duration_seconds, 24.0, 0.1);
  // The ended playlist decodes from start to end with ffmpeg.
  EXPECT_EQ(
      Shell("ffmpeg -nostdin -v error -i " + (out / "240p" / "index.m3u8").string() + " -f null -"),
      0);
  ASSERT_FALSE(stats.empty());
  EXPECT_GT(stats.back().input_bitrate, 0);
  EXPECT_GT(stats.back().segments, 0);
  EXPECT_TRUE(stats.back().latency_seconds.has_value());
}

TEST_F(LivePipelineTest, HevcWithMp2AudioIsTaken) {
  testing::TempDir tmp;
  const std::string ts = tmp / "hevc.ts";
  ASSERT_EQ(Shell("ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=640x360:rate=25 -f lavfi "
                  "-i sine=sample_rate=48000 -t 5 -c:v libx265 -preset ultrafast -x265-params "
                  "log-level=error -c:a mp2 -f mpegts " +
                  ts),
            0);
  int fd = open(ts.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  LiveOptions options;
  options.short_sides = {360, 240};
  options.window_seconds = 6;
  options.delete_grace = std::chrono::milliseconds(8000);
  options.encoder = "x264";
  auto result = RunLive(fd, tmp / "out", options, nullptr);
  close(fd);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->video_codec, "h265");
  EXPECT_EQ(result->audio_codec, "mp2");
  ASSERT_EQ(result->rungs.size(), 2u);
  const MediaPlaylist m = ParseMediaPlaylist(fs::path(tmp.path()) / "out" / "360p" / "index.m3u8");
  EXPECT_TRUE(m.ended);
  EXPECT_EQ(m.segments.size(), 3u);  // 2 + 2 + 1 s
  EXPECT_EQ(
      Shell("ffprobe -v error -select_streams a -show_entries stream=codec_name -of csv=p=0 " +
            (tmp.path() / "out" / "master.m3u8").string() + " | grep -q aac"),
      0);
}

// Runs RunLive on `path` (read as fast as it goes) into `out`.
Result<LiveResult> RunLiveOnFile(const std::string& path, const fs::path& out,
                                 const LiveOptions& options) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0) << path;
  auto result = RunLive(fd, out.string(), options, nullptr);
  close(fd);
  return result;
}

LiveOptions ContinuedOptions() {
  LiveOptions options;
  options.short_sides = {480, 240};
  options.window_seconds = 6;  // three target durations: the window slides between runs
  options.delete_grace = std::chrono::milliseconds(8000);
  options.encoder = "x264";
  options.continue_stream = true;
  options.open_end = true;
  return options;
}

// A stream across three runs and the end, as the server will run them on one folder: a
// publisher (854x480, 30 fps), the slate while it is away, the publisher back with another
// picture (640x640, 25 fps, 44.1 kHz), then --finish. Checked with our own parser against
// RFC 8216's rules and with ffmpeg/ffprobe as the players.
TEST_F(LivePipelineTest, AStreamContinuesAcrossRunsThroughTheSlateAndFinishes) {
  testing::TempDir tmp;
  const std::string first = tmp / "first.ts", second = tmp / "second.ts";
  ASSERT_EQ(Shell("ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=854x480:rate=30 -f lavfi "
                  "-i sine=sample_rate=48000 -t 8 -c:v libx264 -preset ultrafast -g 50 "
                  "-pix_fmt yuv420p -c:a aac -f mpegts " +
                  first),
            0);
  ASSERT_EQ(Shell("ffmpeg -nostdin -v error -y -f lavfi -i testsrc=size=640x640:rate=25 -f lavfi "
                  "-i sine=frequency=880:sample_rate=44100 -t 3 -c:v libx264 -preset ultrafast "
                  "-pix_fmt yuv420p -c:a aac -f mpegts " +
                  second),
            0);
  const fs::path out = tmp.path() / "live";
  const std::vector<std::string> rungs = {"480p", "240p"};
  std::set<int64_t> run_starts;  // the first sequence number of every run after the first
  int64_t next = 0;              // the sequence number the next run must start at
  // Every playlist, every time: sequence numbers go on from the last run, the tags stand
  // exactly before each run's first segment, and EXT-X-DISCONTINUITY-SEQUENCE counts the
  // tags that slid out; every listed file exists.
  auto check_playlists = [&](const char* when, bool ended) {
    for (const auto& r : rungs) {
      const MediaPlaylist m = ParseMediaPlaylist(out / r / "index.m3u8");
      ASSERT_TRUE(m.ok) << when << " " << r;
      EXPECT_EQ(m.ended, ended) << when << " " << r;
      EXPECT_EQ(m.target, 2);
      ASSERT_FALSE(m.segments.empty()) << when << " " << r;
      EXPECT_EQ(m.sequence + static_cast<int64_t>(m.segments.size()), next) << when << " " << r;
      int64_t slid = 0;
      for (int64_t s : run_starts) slid += s < m.sequence ? 1 : 0;
      EXPECT_EQ(m.discontinuity_sequence, slid) << when << " " << r;
      std::set<int64_t> expected;
      for (int64_t s : run_starts)
        if (s >= m.sequence) expected.insert(s);
      EXPECT_EQ(m.after_discontinuity, expected) << when << " " << r;
      int64_t seq = m.sequence;
      for (const auto& [uri, duration] : m.segments) {
        char name[32];
        std::snprintf(name, sizeof name, "seg_%05lld.ts", static_cast<long long>(seq++));
        EXPECT_EQ(uri, name) << when << " " << r;
        EXPECT_TRUE(fs::exists(out / r / uri)) << when << " " << r << "/" << uri;
      }
    }
  };
  auto size_of = [&](const std::string& rung, int64_t seq) {
    char name[32];
    std::snprintf(name, sizeof name, "seg_%05lld.ts", static_cast<long long>(seq));
    FILE* p = popen(("ffprobe -v error -select_streams v -show_entries stream=width,height -of "
                     "csv=p=0 " +
                     (out / rung / name).string())
                        .c_str(),
                    "r");
    char buf[64] = {0};
    if (p != nullptr) {
      (void)!fgets(buf, sizeof buf, p);
      pclose(p);
    }
    return std::string(buf);
  };

  // 1. The publisher; its end leaves the stream open, and the state says where it is.
  auto run1 = RunLiveOnFile(first, out, ContinuedOptions());
  ASSERT_TRUE(run1.ok()) << run1.status().ToString();
  EXPECT_EQ(run1->segments, 4);
  next = 4;
  check_playlists("after the first run", false);
  ASSERT_TRUE(fs::exists(out / "live-state.json"));
  const std::string master = ReadText(out / "master.m3u8");
  EXPECT_NE(master.find("RESOLUTION=854x480"), std::string::npos) << master;
  EXPECT_NE(master.find("RESOLUTION=428x240"), std::string::npos) << master;
  // seg 0 left the window and waits out its grace: the next run must delete it.
  ASSERT_TRUE(fs::exists(out / "480p" / "seg_00000.ts"));
  EXPECT_NE(ReadText(out / "live-state.json").find("\"uri\": \"seg_00000.ts\""), std::string::npos);

  // 2. The slate, until it has published two segments and the first run's leftover is gone.
  run_starts.insert(next);
  std::atomic<bool> stop{false};
  LiveOptions slate_options = ContinuedOptions();
  slate_options.stop = &stop;
  Result<LiveResult> slate = Status(ErrorCode::kInternal, "not run");
  std::thread slate_thread([&] { slate = RunLiveSlate(out.string(), slate_options, nullptr); });
  {
    FolderWatch watch(out);
    EXPECT_TRUE(watch.WaitUntil([&] {
      const MediaPlaylist m = ParseMediaPlaylist(out / "240p" / "index.m3u8");
      const int64_t last = m.sequence + static_cast<int64_t>(m.segments.size()) - 1;
      return last >= 4 + 1 && !fs::exists(out / "480p" / "seg_00000.ts");
    })) << "the slate published no two segments, or the first run's segment outlived its grace";
  }
  stop = true;
  slate_thread.join();
  ASSERT_TRUE(slate.ok()) << slate.status().ToString();
  EXPECT_GE(slate->segments, 2);
  next += slate->segments;
  check_playlists("after the slate", false);
  EXPECT_EQ(ReadText(out / "master.m3u8"), master) << "the variants changed";
  EXPECT_EQ(size_of("480p", 4), "854,480\n") << "the slate has the stream's size";
  EXPECT_EQ(Shell("ffprobe -v error -select_streams a -show_entries stream=codec_name -of "
                  "csv=p=0 " +
                  (out / "240p" / "seg_00004.ts").string() + " | grep -q aac"),
            0)
      << "the slate carries an audio track";

  // 3. The publisher is back with a square picture: scaled into the same rungs.
  run_starts.insert(next);
  const int64_t second_start = next;
  auto run2 = RunLiveOnFile(second, out, ContinuedOptions());
  ASSERT_TRUE(run2.ok()) << run2.status().ToString();
  EXPECT_EQ(run2->segments, 2);  // 2 + 1 s
  next += run2->segments;
  check_playlists("after the second run", false);
  EXPECT_EQ(ReadText(out / "master.m3u8"), master) << "the variants changed";
  EXPECT_EQ(size_of("480p", second_start), "854,480\n");
  EXPECT_EQ(size_of("240p", second_start), "428,240\n");

  // 4. The end: every playlist ends, twice over the same.
  ASSERT_TRUE(FinishLive(out.string()).ok());
  check_playlists("after --finish", true);
  const std::string ended = ReadText(out / "480p" / "index.m3u8");
  ASSERT_TRUE(FinishLive(out.string()).ok());
  EXPECT_EQ(ReadText(out / "480p" / "index.m3u8"), ended) << "--finish is idempotent";
  EXPECT_EQ(ReadText(out / "master.m3u8"), master);
  // The final window crosses the last discontinuity (slate, then the second run); ffmpeg
  // reads it end to end, and what it decodes lasts what the playlist says.
  const MediaPlaylist final_list = ParseMediaPlaylist(out / "240p" / "index.m3u8");
  EXPECT_EQ(final_list.after_discontinuity.count(second_start), 1u);
  double listed = 0;
  for (const auto& seg : final_list.segments) listed += seg.second;
  FILE* p = popen(("ffmpeg -nostdin -v error -i " + (out / "240p" / "index.m3u8").string() +
                   " -map 0:v -fps_mode passthrough -f framemd5 - 2>/dev/null | grep -c '^0,'")
                      .c_str(),
                  "r");
  char frames_text[32] = {0};
  ASSERT_NE(p, nullptr);
  (void)!fgets(frames_text, sizeof frames_text, p);
  pclose(p);
  // The slate at 5 fps, then the second run's 3 s at the stream's 30 fps.
  const int64_t slate_frames = std::llround((listed - 3.0) * 5);
  EXPECT_EQ(std::atoll(frames_text), slate_frames + 3 * 30) << "listed " << listed << " s";
  // ffmpeg's HLS reader ignores EXT-X-DISCONTINUITY: its null muxer complains (on stderr) of
  // the timestamps starting again, and decodes on.
  EXPECT_EQ(Shell("ffmpeg -nostdin -v error -i " + (out / "480p" / "index.m3u8").string() +
                  " -f null - 2>/dev/null"),
            0);
  // The whole stream: the sum of the runs.
  EXPECT_NEAR(run1->duration_seconds + slate->duration_seconds + run2->duration_seconds,
              8.0 + slate->segments * 2.0 + 3.0, 2.01);

  // An ended stream cannot go on.
  auto after_end = RunLiveOnFile(second, out, ContinuedOptions());
  EXPECT_EQ(after_end.status().code(), ErrorCode::kFailedPrecondition);
}

TEST_F(LivePipelineTest, ACorruptStateFileIsRefusedAndNothingIsOverwritten) {
  testing::TempDir tmp;
  const fs::path out = tmp.path() / "live";
  fs::create_directories(out / "480p");
  testing::WriteBytes(out / "live-state.json", "{\"version\": 1, \"rungs\": [");
  testing::WriteBytes(out / "480p" / "index.m3u8", "#EXTM3U\nkept\n");
  auto run = RunLiveOnFile(source_, out, ContinuedOptions());
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(run.status().message().find("live-state.json is corrupt"), std::string::npos)
      << run.status().message();
  auto slate = RunLiveSlate(out.string(), ContinuedOptions(), nullptr);
  EXPECT_EQ(slate.status().code(), ErrorCode::kInvalidArgument);
  Status finish = FinishLive(out.string());
  EXPECT_EQ(finish.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ReadText(out / "480p" / "index.m3u8"), "#EXTM3U\nkept\n");
  EXPECT_FALSE(fs::exists(out / "master.m3u8"));
  // No state at all: nothing to finish.
  EXPECT_EQ(FinishLive((tmp.path() / "empty").string()).code(), ErrorCode::kNotFound);
}

// Feeds `path` to RunLive through its descriptor; the failure.
Status LiveFailureOf(const std::string& path, const testing::TempDir& tmp) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0) << path;
  LiveOptions options;
  options.encoder = "x264";
  auto result = RunLive(fd, tmp / "out", options, nullptr);
  close(fd);
  return result.ok() ? Status::Ok() : result.status();
}

TEST_F(LivePipelineTest, InputThatIsNotMpegTsIsRefusedWithAReason) {
  testing::TempDir tmp;
  Status mp4 = LiveFailureOf(testing::Media("moviepy_chaplin.mp4"), tmp);
  EXPECT_EQ(mp4.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(mp4.message().find("not MPEG-TS (it looks like video/quicktime)"), std::string::npos)
      << mp4.message();

  testing::WriteBytes(tmp / "playlist.m3u8",
                      "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nhttp://10.0.0.1/x.ts\n");
  Status hls = LiveFailureOf(tmp / "playlist.m3u8", tmp);
  EXPECT_EQ(hls.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(hls.message().find("not MPEG-TS"), std::string::npos) << hls.message();

  testing::WriteBytes(tmp / "empty", "");
  Status empty = LiveFailureOf(tmp / "empty", tmp);
  EXPECT_EQ(empty.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(empty.message().find("empty"), std::string::npos) << empty.message();

  // MPEG-TS, but with a video codec live does not take.
  ASSERT_EQ(Shell("ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=320x240:rate=25 -t 2 "
                  "-c:v mpeg2video -f mpegts " +
                  (tmp / "mpeg2.ts")),
            0);
  Status mpeg2 = LiveFailureOf(tmp / "mpeg2.ts", tmp);
  EXPECT_EQ(mpeg2.code(), ErrorCode::kUnsupported);
  EXPECT_NE(mpeg2.message().find("live takes H.264 or HEVC"), std::string::npos) << mpeg2.message();
  // Nothing was published for any of them.
  EXPECT_FALSE(fs::exists(tmp.path() / "out" / "master.m3u8"));
}

}  // namespace
}  // namespace newsreel::transcoder

namespace newsreel::transcoder {
namespace {

// The video track's tfdt and the summed durations of its samples in one CMAF part (video's
// moof+mdat comes first in every part this worker writes), in 90 kHz ticks.
std::pair<uint64_t, uint64_t> VideoTiming(const fs::path& part) {
  const std::string b = ReadText(part);
  auto u32 = [&](size_t at) {
    return (static_cast<uint32_t>(static_cast<uint8_t>(b[at])) << 24) |
           (static_cast<uint8_t>(b[at + 1]) << 16) | (static_cast<uint8_t>(b[at + 2]) << 8) |
           static_cast<uint8_t>(b[at + 3]);
  };
  const size_t tfdt = b.find("tfdt");
  const size_t trun = b.find("trun");
  if (tfdt == std::string::npos || trun == std::string::npos) return {0, 0};
  const uint64_t decode = (static_cast<uint64_t>(u32(tfdt + 8)) << 32) | u32(tfdt + 12);
  uint64_t duration = 0;
  for (uint32_t i = 0; i < u32(trun + 8); ++i) duration += u32(trun + 16 + 16 * i);
  return {decode, duration};
}

// Low latency across runs on one folder: the publisher, the slate, then the end. Part numbers
// never repeat, the decode times go on from one run to the next, the second run's first segment
// carries EXT-X-DISCONTINUITY after the first run's, and --finish ends the LL playlists.
TEST_F(LivePipelineTest, LowLatencyPartsGoOnAcrossRunsAndFinish) {
  testing::TempDir tmp;
  const std::string first = tmp / "first.ts";
  ASSERT_EQ(Shell("ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=640x360:rate=25 -f lavfi "
                  "-i sine=sample_rate=48000 -t 5 -c:v libx264 -preset ultrafast -bf 2 -g 50 "
                  "-pix_fmt yuv420p -c:a aac -f mpegts " +
                  first),
            0);
  const fs::path out = tmp.path() / "live";
  std::vector<LivePart> parts;  // every run's, in order (on_part runs on the run's thread)
  std::atomic<bool> stop{false};
  int slate_parts = 0;
  LiveOptions options = ContinuedOptions();
  options.short_sides = {360};
  options.ll_part_ms = 333;
  options.on_part = [&](const LivePart& p) {
    parts.push_back(p);
    EXPECT_TRUE(fs::exists(out / p.file)) << p.file;
    EXPECT_TRUE(fs::exists(out / p.init)) << p.init;
  };
  auto run1 = RunLiveOnFile(first, out, options);
  ASSERT_TRUE(run1.ok()) << run1.status().ToString();
  const size_t first_run = parts.size();
  ASSERT_GE(first_run, 14u) << "5 s at 25 fps: seven parts per 2 s segment";
  EXPECT_NE(ReadText(out / "ll" / "master.m3u8").find("CODECS=\"avc1.64"), std::string::npos);

  LiveOptions slate_options = options;
  slate_options.stop = &stop;
  slate_options.on_part = [&](const LivePart& p) {
    parts.push_back(p);
    if (++slate_parts >= 12) stop = true;  // past a whole slate segment (10 parts of 0.2 s)
  };
  auto slate = RunLiveSlate(out.string(), slate_options, nullptr);
  ASSERT_TRUE(slate.ok()) << slate.status().ToString();
  ASSERT_GE(slate_parts, 12);

  // Numbers only go forward, part by part, and never name a file twice.
  std::set<std::string> files;
  for (size_t i = 0; i < parts.size(); ++i) {
    EXPECT_TRUE(files.insert(parts[i].file).second) << parts[i].file << " twice";
    if (i == 0) continue;
    const LivePart& a = parts[i - 1];
    const LivePart& b = parts[i];
    EXPECT_TRUE((b.msn == a.msn && b.part == a.part + 1) || (b.msn > a.msn && b.part == 0))
        << a.file << " then " << b.file;
    EXPECT_EQ(b.independent, b.part == 0) << b.file;
  }
  // Decode times: each part starts where the one before ended, within a frame across the runs.
  for (size_t i = 1; i < parts.size(); ++i) {
    const auto [start, duration] = VideoTiming(out / parts[i].file);
    const auto [prev_start, prev_duration] = VideoTiming(out / parts[i - 1].file);
    ASSERT_GT(duration, 0u) << parts[i].file;
    const int64_t gap =
        static_cast<int64_t>(start) - static_cast<int64_t>(prev_start + prev_duration);
    if (i == first_run)
      EXPECT_LE(std::abs(gap), 3600) << "the slate's first part is more than a frame off";
    else
      EXPECT_EQ(gap, 0) << parts[i].file;
  }

  ASSERT_TRUE(FinishLive(out.string()).ok());
  const std::string ended = ReadText(out / "ll" / "360p" / "index.m3u8");
  EXPECT_NE(ended.find("#EXT-X-ENDLIST\n"), std::string::npos) << ended;
  EXPECT_EQ(ended.find("PRELOAD-HINT"), std::string::npos) << ended;
  const size_t discontinuity = ended.find("#EXT-X-DISCONTINUITY\n");
  ASSERT_NE(discontinuity, std::string::npos) << ended;
  EXPECT_LT(discontinuity, ended.find("p" + std::to_string(parts[first_run].msn) + ".0.m4s"))
      << ended;
}

// A low-latency state file that cannot be read (a disk that lost it half-written, a hand edit)
// does not stop the stream: the next run (here the slate) still runs, and its LL output starts
// again past every part number already on disk, so no file a player may have cached is rewritten.
TEST_F(LivePipelineTest, ACorruptLowLatencyStateStartsTheLowLatencyOutputAfresh) {
  testing::TempDir tmp;
  const std::string first = tmp / "first.ts";
  ASSERT_EQ(Shell("ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=640x360:rate=25 -f lavfi "
                  "-i sine=sample_rate=48000 -t 3 -c:v libx264 -preset ultrafast -g 50 "
                  "-pix_fmt yuv420p -c:a aac -f mpegts " +
                  first),
            0);
  const fs::path out = tmp.path() / "live";
  std::vector<LivePart> parts;
  std::atomic<bool> stop{false};
  LiveOptions options = ContinuedOptions();
  options.short_sides = {360};
  options.ll_part_ms = 200;
  options.on_part = [&](const LivePart& p) { parts.push_back(p); };
  auto run1 = RunLiveOnFile(first, out, options);
  ASSERT_TRUE(run1.ok()) << run1.status().ToString();
  ASSERT_FALSE(parts.empty());
  int64_t last_msn = 0;
  for (const LivePart& p : parts) last_msn = std::max(last_msn, p.msn);
  {
    std::ofstream corrupt(out / "ll" / "ll-state.json", std::ios::trunc);
    corrupt << "{\"version\":1,\"rungs\":[";
  }

  std::vector<LivePart> slate_parts;
  LiveOptions slate_options = options;
  slate_options.stop = &stop;
  slate_options.on_part = [&](const LivePart& p) {
    slate_parts.push_back(p);
    if (slate_parts.size() >= 3) stop = true;
  };
  auto slate = RunLiveSlate(out.string(), slate_options, nullptr);
  ASSERT_TRUE(slate.ok()) << slate.status().ToString();
  ASSERT_GE(slate_parts.size(), 3u);
  EXPECT_GT(slate_parts.front().msn, last_msn) << slate_parts.front().file;
  const std::string playlist = ReadText(out / "ll" / "360p" / "index.m3u8");
  EXPECT_NE(playlist.find("#EXT-X-DISCONTINUITY\n"), std::string::npos) << playlist;
  EXPECT_NE(
      playlist.find("#EXT-X-MEDIA-SEQUENCE:" + std::to_string(slate_parts.front().msn) + "\n"),
      std::string::npos)
      << playlist;
  // And the state is whole again for the run after.
  EXPECT_TRUE(ParseLlState(ReadText(out / "ll" / "ll-state.json")).ok());

  // Corrupt again, then the end: the stream still ends (its MPEG-TS playlists closed).
  {
    std::ofstream corrupt(out / "ll" / "ll-state.json", std::ios::trunc);
    corrupt << "not json";
  }
  ASSERT_TRUE(FinishLive(out.string()).ok());
  const std::string ended = ReadText(out / "360p" / "index.m3u8");
  EXPECT_NE(ended.find("#EXT-X-ENDLIST\n"), std::string::npos) << ended;
}

}  // namespace
}  // namespace newsreel::transcoder
