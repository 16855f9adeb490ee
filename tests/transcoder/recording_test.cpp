// A live stream's recording (recording.h) through Transcode: session files made by ffmpeg, a
// real encoder we did not write, with what a publisher's dropped link leaves behind: sessions of
// different sizes, frame rates and codecs, timestamps that restart or jump, a session starting
// mid-GOP and one cut mid-packet. The output is read back with ffmpeg and ffprobe.
#include "transcoder/recording.h"
#include "tests/common/capture.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/transcoder/test_util.h"
#include "transcoder/transcode.h"
#include "transcoder/ts_scanner.h"

namespace newsreel::transcoder {
namespace {

namespace fs = std::filesystem;
using testing::Media;
using testing::ShiftTs;
using testing::TempDir;

// Runs a shell command; its exit status (-1 when it could not run).
int Shell(const std::string& command) {
  int rc = std::system(command.c_str());
  return rc == -1 ? -1 : WEXITSTATUS(rc);
}

// Runs a shell command; what it wrote on stdout.
using newsreel::test_support::Capture;

// Keeps the bytes of `from` between the fractions `begin` and `end` of its length (`begin` on a
// TS packet boundary, `end` moved on by `extra` bytes: a cut mid-packet), as a dropped link does.
void Cut(const fs::path& from, const fs::path& to, double begin, double end, int extra = 0) {
  std::ifstream in(from, std::ios::binary);
  std::string d((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t b = static_cast<size_t>(d.size() * begin) / 188 * 188;
  const size_t e = std::min(d.size(), static_cast<size_t>(d.size() * end) / 188 * 188 + extra);
  std::ofstream(to, std::ios::binary) << d.substr(b, e - b);
}

// Packet times of one kind of stream ("v" or "a") in `file`, as ffprobe reads them: start, end.
std::vector<std::pair<double, double>> Packets(const fs::path& file, const char* kind) {
  std::istringstream lines(Capture("ffprobe -v error -select_streams " + std::string(kind) +
                                   " -show_entries packet=pts_time,duration_time -of csv=p=0 " +
                                   file.string() + " 2>/dev/null"));
  std::vector<std::pair<double, double>> out;
  std::string line;
  while (std::getline(lines, line)) {
    double pts = 0, duration = 0;
    if (std::sscanf(line.c_str(), "%lf,%lf", &pts, &duration) >= 1)
      out.emplace_back(pts, pts + duration);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<int64_t> SegmentStarts(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".ts") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::vector<int64_t> starts;
  for (const auto& f : files) {
    auto scan = ScanTsFile(f.string());
    EXPECT_TRUE(scan.ok());
    EXPECT_TRUE(!scan->video.empty() && scan->video.front().idr) << f;
    starts.push_back(scan->first_video_pts());
  }
  return starts;
}

// ffmpeg decodes `playlist` to its end: what it complained about (empty when nothing).
std::string DecodeErrors(const fs::path& playlist) {
  return Capture("ffmpeg -nostdin -v error -i " + playlist.string() +
                 " -f null - 2>&1; echo rc=$?");
}

// Three sessions from the shared media, as a publisher whose link dropped twice would leave them.
void MakeRealRecording(const fs::path& dir) {
  const std::string ff = "ffmpeg -nostdin -v error -y ";
  // 1: 640x360 HEVC at 30 fps with MP2 audio at 44.1 kHz; it begins mid-GOP (its head was lost).
  ASSERT_EQ(Shell(ff + "-ss 3 -i " + Media("nomexif_webm_480.webm") +
                  " -t 5.6 -vf scale=640:360 -c:v libx265 -preset ultrafast -x265-params "
                  "log-level=none:keyint=60 -c:a mp2 -ar 44100 -f mpegts " +
                  (dir / "whole1").string()),
            0);
  Cut(dir / "whole1", dir / "1.ts", 0.12, 1.0);
  // 2: 1080p H.264 at 25 fps with AAC; its timestamps start again from ffmpeg's 1.4 s.
  ASSERT_EQ(Shell(ff + "-i " + Media("moviepy_chaplin.mp4") +
                  " -t 6 -vf scale=1920:1080 -c:v libx264 -preset ultrafast -g 50 -c:a aac "
                  "-f mpegts " +
                  (dir / "2.ts").string()),
            0);
  // 3: 720p H.264 with Opus; its timestamps jump to 5000 s, and it ends mid-packet.
  ASSERT_EQ(Shell(ff + "-ss 6 -i " + Media("moviepy_chaplin.mp4") +
                  " -t 3.5 -vf scale=1280:720 -c:v libx264 -preset ultrafast -g 50 -c:a libopus "
                  "-b:a 64k -output_ts_offset 5000 -f mpegts " +
                  (dir / "whole3").string()),
            0);
  Cut(dir / "whole3", dir / "3.ts", 0, 0.9, 77);
  fs::remove(dir / "whole1");
  fs::remove(dir / "whole3");
}

TEST(RecordingTest, SessionsBecomeOneContinuousAlignedVideo) {
  TempDir tmp;
  const fs::path rec = tmp.path() / "recording";
  fs::create_directories(rec);
  MakeRealRecording(rec);
  // What the sessions last, as ffprobe reads them: from the first packet to the end of the last.
  double sum = 0;
  for (const char* name : {"1.ts", "2.ts", "3.ts"}) {
    auto v = Packets(rec / name, "v");
    auto a = Packets(rec / name, "a");
    ASSERT_FALSE(v.empty() || a.empty()) << name;
    double end = 0;
    for (const auto& p : v) end = std::max(end, p.second);
    for (const auto& p : a) end = std::max(end, p.second);
    sum += end - std::min(v.front().first, a.front().first);
  }

  TranscodeOptions options;
  options.ladder.short_sides = {720, 360, 144};
  auto r = Transcode(rec.string(), tmp / "out", options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& m = r->manifest;
  EXPECT_EQ(m["source"]["recording"]["sessions"], 3);
  // The ladder follows the largest session (1080p, the second), not the first (360p).
  ASSERT_EQ(m["rungs"].size(), 3u);
  EXPECT_EQ(m["rungs"][0]["width"], 1280);
  EXPECT_EQ(m["rungs"][0]["height"], 720);
  EXPECT_EQ(m["rungs"][0]["frame_rate"], 25.0);
  // One video as long as the sessions together. GStreamer cannot use the head of the first
  // session before its first complete audio frame and its parameter sets, a few tenths.
  const double duration = m["duration_seconds"].get<double>();
  EXPECT_NEAR(duration, sum, 0.5) << "sessions sum to " << sum;

  const fs::path out = tmp.path() / "out";
  std::vector<int64_t> reference;
  for (const char* rung : {"720p", "360p", "144p"}) {
    // ffmpeg plays every rung end to end without an error...
    EXPECT_EQ(DecodeErrors(out / rung / "index.m3u8"), "rc=0\n") << rung;
    // ...every rung is cut at the same instants, every segment opening on an IDR frame...
    auto starts = SegmentStarts(out / rung);
    if (reference.empty()) reference = starts;
    EXPECT_EQ(starts, reference) << rung;
    // ...and audio plays throughout: no hole longer than two AAC frames, from start to end.
    auto v = Packets(out / rung / "index.m3u8", "v");
    auto a = Packets(out / rung / "index.m3u8", "a");
    ASSERT_FALSE(v.empty() || a.empty()) << rung;
    EXPECT_LT(std::abs(a.front().first - v.front().first), 0.05) << rung;
    EXPECT_GT(a.back().second, v.back().second - 0.2) << rung;
    for (size_t i = 1; i < a.size(); ++i)
      ASSERT_LT(a[i].first - a[i - 1].second, 0.043) << rung << " audio hole at " << a[i].first;
  }
  EXPECT_GE(reference.size(), 3u);
  EXPECT_EQ(DecodeErrors(out / "master.m3u8"), "rc=0\n");
  for (const char* f : {"poster.jpg", "storyboard.jpg", "storyboard.vtt", "audio/index.m3u8"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
}

// Onsets (seconds) where `file`'s picture turns white, and where its sound starts.
std::vector<double> Onsets(const fs::path& file, bool audio) {
  const std::string cmd =
      audio ? "ffprobe -v error -f lavfi \"amovie=" + file.string() +
                  ",astats=metadata=1:reset=1\" -show_entries "
                  "frame=pts_time:frame_tags=lavfi.astats.Overall.RMS_level -of csv=p=0"
            : "ffprobe -v error -f lavfi \"movie=" + file.string() +
                  ",signalstats\" -show_entries frame=pts_time:frame_tags=lavfi.signalstats.YAVG "
                  "-of csv=p=0";
  std::istringstream lines(Capture(cmd + " 2>/dev/null"));
  std::vector<double> out;
  bool was_on = false;
  std::string line;
  while (std::getline(lines, line)) {
    auto comma = line.find(',');
    if (comma == std::string::npos) continue;
    const double t = std::atof(line.c_str());
    const std::string value = line.substr(comma + 1);
    const bool on = audio ? value.find("inf") == std::string::npos && std::atof(value.c_str()) > -30
                          : std::atof(value.c_str()) > 100;
    if (on && !was_on) out.push_back(t);
    was_on = on;
  }
  return out;
}

// Writes a session to `to` whose picture (a lavfi colour source: "s=640x360:r=25") flashes white
// while a tone sounds, 0.5 s into every second, for `seconds`, encoded with `codecs` (ffmpeg's
// output options). Returns ffmpeg's exit status.
int FlashingSession(const std::string& picture, const std::string& seconds,
                    const std::string& codecs, const fs::path& to) {
  return Shell("ffmpeg -nostdin -v error -y -f lavfi -i color=c=black:" + picture +
               " -f lavfi -i \"aevalsrc='if(between(mod(t,1),0.5,0.7),0.5*sin(2*PI*1000*t),0)':"
               "s=48000:c=stereo\" -t " +
               seconds +
               " -vf \"drawbox=c=white:t=fill:enable='between(mod(t\\,1)\\,0.5\\,0.7)'\" " +
               codecs + " -f mpegts " + to.string());
}

// Sessions whose picture flashes white while a tone sounds, 0.5 s into every second: in the
// output, every flash must come with its tone, in every session.
TEST(RecordingTest, AudioStaysInSyncInEverySession) {
  TempDir tmp;
  const fs::path rec = tmp.path() / "recording";
  fs::create_directories(rec);
  ASSERT_EQ(FlashingSession("s=640x360:r=30", "4.3",
                            "-c:v libx265 -preset ultrafast -x265-params log-level=none:keyint=60 "
                            "-c:a mp2 -ar 44100",
                            rec / "whole1"),
            0);
  Cut(rec / "whole1", rec / "1.ts", 0.3, 1.0);  // starts mid-GOP
  fs::remove(rec / "whole1");
  ASSERT_EQ(FlashingSession("s=1920x1080:r=25", "5",
                            "-c:v libx264 -preset ultrafast -g 50 -c:a aac", rec / "2.ts"),
            0);
  ASSERT_EQ(FlashingSession("s=1280x720:r=25", "3.6",
                            "-c:v libx264 -preset ultrafast -g 50 -c:a libopus "
                            "-output_ts_offset 5000",
                            rec / "whole3"),
            0);
  Cut(rec / "whole3", rec / "3.ts", 0, 0.9, 77);  // ends mid-packet
  fs::remove(rec / "whole3");

  TranscodeOptions options;
  options.ladder.short_sides = {360, 144};
  auto r = Transcode(rec.string(), tmp / "out", options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const fs::path rung = tmp.path() / "out" / "360p" / "index.m3u8";
  const auto flashes = Onsets(rung, false);
  const auto tones = Onsets(rung, true);
  // The first session lost its head up to its first IDR: its first tone may have no flash.
  EXPECT_GE(flashes.size(), 9u);
  EXPECT_GE(tones.size(), flashes.size());
  for (double f : flashes) {
    double nearest = 1e9;
    for (double t : tones) nearest = std::min(nearest, std::abs(t - f));
    // Two frames at 25 fps: the picture is sampled every 40 ms, the sound every 21 ms.
    EXPECT_LT(nearest, 0.08) << "flash at " << f << " has no tone within 80 ms";
  }
  // The sessions follow each other without overlap: one flash a second, never two.
  for (size_t i = 1; i < flashes.size(); ++i) EXPECT_GT(flashes[i] - flashes[i - 1], 0.9);
}

// A recorded session whose encoder restarted its clock two minutes back in its middle, with Opus
// audio, then a second session: every flash still has its tone, and the sessions follow each
// other (tsdemux takes the clock going back for a 26.5-hour wrap; the session's length was
// measured on that, and the transcode filled it with one picture).
TEST(RecordingTest, AClockRestartInsideASessionIsTakenOut) {
  TempDir tmp;
  const fs::path rec = tmp.path() / "recording";
  fs::create_directories(rec);
  ASSERT_EQ(FlashingSession("s=640x360:r=25", "4",
                            "-c:v libx264 -preset ultrafast -g 25 -c:a libopus "
                            "-output_ts_offset 300",
                            rec / "whole1"),
            0);
  std::string bytes = testing::ReadBytes(rec / "whole1");
  ShiftTs(bytes, 50, 0, int64_t{-120} * 90000, true);  // from its 50th picture (2 s) on
  std::ofstream(rec / "1.ts", std::ios::binary) << bytes;
  fs::remove(rec / "whole1");
  // 2 s: too short for GStreamer's discoverer to give a TS duration; measured from its packets
  // (ProbeTest.ShortTsIsMeasuredFromItsPackets), not left out.
  ASSERT_EQ(FlashingSession("s=640x360:r=25", "2", "-c:v libx264 -preset ultrafast -g 25 -c:a aac",
                            rec / "2.ts"),
            0);

  TranscodeOptions options;
  options.ladder.short_sides = {360, 144};
  auto r = Transcode(rec.string(), tmp / "out", options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  bool named = false;
  for (const std::string& w : r->warnings) named = named || w.find("leapt") != std::string::npos;
  EXPECT_TRUE(named) << "no warning names the leap";
  const fs::path rung = tmp.path() / "out" / "360p" / "index.m3u8";
  const double seconds =
      std::stod(Capture("ffprobe -v error -show_entries format=duration -of "
                        "csv=p=0 " +
                        rung.string() + " 2>/dev/null"));
  EXPECT_NEAR(seconds, 6.0, 0.3);  // 4 s and 2 s, end to end
  const auto flashes = Onsets(rung, false);
  const auto tones = Onsets(rung, true);
  EXPECT_EQ(flashes.size(), 6u);
  EXPECT_EQ(tones.size(), flashes.size());
  // The first session's, where its audio (Opus: tsdemux hands it on as lists) was moved with
  // its video. (Where the second session starts, the joining rule of the sessions is tested by
  // AudioStaysInSyncInEverySession.)
  for (size_t i = 0; i < 4 && i < flashes.size(); ++i) {
    const double f = flashes[i];
    double nearest = 1e9;
    for (double t : tones) nearest = std::min(nearest, std::abs(t - f));
    EXPECT_LT(nearest, 0.08) << "flash at " << f << " has no tone within 80 ms";
  }
}

// A session of 2 s at 640x360 with audio.
void MakeShortSession(const fs::path& to) {
  ASSERT_EQ(Shell("ffmpeg -nostdin -v error -y -i " + Media("moviepy_chaplin.mp4") +
                  " -t 2 -c:v libx264 -preset ultrafast -g 25 -c:a aac -f mpegts " + to.string()),
            0);
}

TEST(RecordingTest, UndecodableSessionsAreLeftOutWithAWarning) {
  TempDir tmp;
  const fs::path rec = tmp.path() / "recording";
  fs::create_directories(rec);
  std::string noise(200 * 188, '\0');
  for (size_t i = 0; i < noise.size(); ++i) noise[i] = static_cast<char>(i * 7919 % 251);
  testing::WriteBytes((rec / "1.ts").string(), noise);
  MakeShortSession(rec / "2.ts");
  // Audio only: no picture.
  ASSERT_EQ(Shell("ffmpeg -nostdin -v error -y -i " + Media("moviepy_crunching.mp3") +
                  " -t 2 -c:a aac -f mpegts " + (rec / "3.ts").string()),
            0);
  // A playlist that names media elsewhere, under a session's name.
  testing::WriteBytes((rec / "4.ts").string(),
                      "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nhttp://127.0.0.1:1/a.ts\n");
  // Only the middle of a long GOP: no frame that can be decoded on its own.
  ASSERT_EQ(Shell("ffmpeg -nostdin -v error -y -i " + Media("moviepy_chaplin.mp4") +
                  " -t 8 -an -c:v libx264 -preset ultrafast -g 250 -f mpegts " +
                  (rec / "whole5").string()),
            0);
  Cut(rec / "whole5", rec / "5.ts", 0.4, 0.8);
  fs::remove(rec / "whole5");
  testing::WriteBytes((rec / "6.ts").string(), "");
  // Not sessions: a link (it could name any file), a leading zero, a file being written.
  MakeShortSession(tmp.path() / "outside.ts");
  fs::create_symlink(tmp.path() / "outside.ts", rec / "7.ts");
  fs::copy_file(tmp.path() / "outside.ts", rec / "08.ts");
  fs::copy_file(tmp.path() / "outside.ts", rec / "9.ts.tmp");

  auto listed = ListRecordingSessions(rec.string());
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(listed->size(), 6u);

  TranscodeOptions options;
  options.ladder.short_sides = {360};
  auto r = Transcode(rec.string(), tmp / "out", options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->manifest["source"]["recording"]["sessions"], 1);
  EXPECT_EQ(r->manifest["source"]["recording"]["sessions_left_out"], 5);
  EXPECT_NEAR(r->manifest["duration_seconds"].get<double>(), 2.0, 0.2);
  std::string warnings;
  for (const auto& w : r->warnings) warnings += w + "\n";
  for (const char* name : {"1.ts", "3.ts", "4.ts", "5.ts", "6.ts"})
    EXPECT_NE(warnings.find(std::string("session ") + name + " left out"), std::string::npos)
        << name << " in:\n"
        << warnings;
  EXPECT_EQ(DecodeErrors(tmp.path() / "out" / "master.m3u8"), "rc=0\n");
}

// One session whose encoder restarted inside the file: new codecs (AAC, then Opus), timestamps
// jumping to 5000 s. decodebin switches to the new group of streams; the session goes on.
TEST(RecordingTest, ACodecChangeInsideASessionIsFollowed) {
  TempDir tmp;
  const fs::path rec = tmp.path() / "recording";
  fs::create_directories(rec);
  MakeShortSession(tmp.path() / "a.ts");
  ASSERT_EQ(Shell("ffmpeg -nostdin -v error -y -ss 5 -i " + Media("moviepy_chaplin.mp4") +
                  " -t 2 -c:v libx264 -preset ultrafast -g 25 -c:a libopus -output_ts_offset 5000 "
                  "-f mpegts " +
                  (tmp.path() / "b.ts").string()),
            0);
  ASSERT_EQ(Shell("cat " + (tmp.path() / "a.ts").string() + " " + (tmp.path() / "b.ts").string() +
                  " > " + (rec / "1.ts").string()),
            0);
  TranscodeOptions options;
  options.ladder.short_sides = {360};
  auto r = Transcode(rec.string(), tmp / "out", options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(r->manifest["duration_seconds"].get<double>(), 3.5);
  EXPECT_EQ(DecodeErrors(tmp.path() / "out" / "master.m3u8"), "rc=0\n");
}

TEST(RecordingTest, NothingDecodableIsBadInput) {
  TempDir tmp;
  const fs::path rec = tmp.path() / "recording";
  fs::create_directories(rec);
  // No sessions at all.
  auto empty = Transcode(rec.string(), tmp / "out", {});
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), ErrorCode::kNotFound) << empty.status().ToString();
  // Sessions, none with a picture.
  testing::WriteBytes((rec / "1.ts").string(), std::string(100 * 188, '\x47'));
  ASSERT_EQ(Shell("ffmpeg -nostdin -v error -y -i " + Media("moviepy_crunching.mp3") +
                  " -t 2 -c:a aac -f mpegts " + (rec / "2.ts").string()),
            0);
  auto none = Transcode(rec.string(), tmp / "out", {});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), ErrorCode::kInvalidArgument) << none.status().ToString();
  EXPECT_NE(none.status().message().find("nothing that can be decoded"), std::string::npos);
  EXPECT_FALSE(fs::exists(tmp.path() / "out"));
}

}  // namespace
}  // namespace newsreel::transcoder
