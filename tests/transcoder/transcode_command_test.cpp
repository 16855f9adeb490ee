// `newsreel transcode` and `newsreel encoders` run as a user runs them: the real binary, a real
// clip, and what it leaves on stderr. A successful run prints no error line.
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <variant>
#include <vector>

#include "common/worker_protocol.h"
#include "tests/transcoder/test_util.h"

namespace newsreel::transcoder {
namespace {

namespace fs = std::filesystem;
using testing::Media;
using testing::ReadBytes;
using testing::ShiftTs;
using testing::TempDir;

struct CommandRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs the newsreel binary with `args` (shell words) in `dir`, with the environment variables
// `env` (shell words) added; its exit code, stdout and stderr.
CommandRun Newsreel(const TempDir& dir, const std::string& args, const std::string& env = "") {
  const std::string out = dir / "stdout.txt";
  const std::string err = dir / "stderr.txt";
  CommandRun r;
  int rc = std::system(
      (env + " " + std::string(NEWSREEL_BIN) + " " + args + " >" + out + " 2>" + err).c_str());
  r.exit_code = rc == -1 ? -1 : WEXITSTATUS(rc);
  r.out = ReadBytes(out);
  r.err = ReadBytes(err);
  return r;
}

// The lines of `text` that speak of an error, in any case.
std::string ErrorLines(const std::string& text) {
  std::istringstream lines(text);
  std::string line, found;
  while (std::getline(lines, line)) {
    std::string lower = line;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower.find("error") != std::string::npos) found += line + "\n";
  }
  return found;
}

// Video frames of the first video stream of `input` as ffprobe counts them by decoding.
int DecodedFrames(const std::string& input) {
  FILE* f = popen(("ffprobe -v error -count_frames -select_streams v:0 -show_entries "
                   "stream=nb_read_frames -of csv=p=0 '" +
                   input + "' 2>/dev/null")
                      .c_str(),
                  "r");
  if (f == nullptr) return -1;
  int n = -1;
  if (std::fscanf(f, "%d", &n) != 1) n = -1;
  pclose(f);
  return n;
}

bool Installed(const char* factory) {
  EnsureGstInit();
  GstPtr<GstElementFactory> f(gst_element_factory_find(factory));
  return f != nullptr;
}

TEST(TranscodeCommandTest, ASuccessfulRunLeavesNoErrorOnStderr) {
  TempDir dir;
  CommandRun r = Newsreel(dir, "transcode --ladder 360,144 --progress none " +
                                   Media("moviepy_chaplin.mp4") + " " + (dir / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir.path() / "out/master.m3u8"));
  EXPECT_EQ(ErrorLines(r.err), "") << r.err;
}

// The THP_enabled line of a process's /proc status ("1": may get transparent huge pages).
std::string ThpEnabled(const std::string& pid) {
  std::istringstream status(ReadBytes("/proc/" + pid + "/status"));
  for (std::string status_line; std::getline(status, status_line);)
    if (status_line.rfind("THP_enabled:", 0) == 0)
      return status_line.substr(status_line.find_first_not_of(" \t", 12));
  return "";
}

// What a worker's first line and the kernel said about it.
struct WorkerThp {
  bool said_hello = false;
  std::string first_line;
  std::string thp;  // THP_enabled of the worker while it ran
  int status = -1;  // as pclose returns it
};

// Runs `command` (a worker with --progress protocol, its stderr sent elsewhere) and reads the
// kernel's word on the worker once it has said hello: the first line, sent after the process
// set itself up and before its pipeline starts. Reads on to the end.
WorkerThp RunWorkerReadingThp(const std::string& command) {
  WorkerThp w;
  FILE* f = popen(command.c_str(), "r");
  if (f == nullptr) return w;
  char line[4096];
  if (std::fgets(line, sizeof line, f) != nullptr) w.first_line = line;
  const auto message = worker::DecodeWorkerLine(w.first_line);
  w.said_hello = message.ok() && std::holds_alternative<worker::Hello>(*message);
  if (w.said_hello) w.thp = ThpEnabled(std::to_string(std::get<worker::Hello>(*message).pid));
  while (std::fgets(line, sizeof line, f) != nullptr) {
  }
  w.status = pclose(f);
  return w;
}

// x264's frames on transparent huge pages cost system time and memory (app/worker_tuning.h): a
// transcode runs with them off. This process itself may have them, or the test could not tell.
TEST(TranscodeCommandTest, RunsWithoutTransparentHugePages) {
  ASSERT_EQ(ThpEnabled("self"), "1") << "this test's own process must be allowed huge pages";
  TempDir dir;
  const WorkerThp w = RunWorkerReadingThp(
      std::string(NEWSREEL_BIN) + " transcode --ladder 360 --progress protocol " +
      Media("moviepy_chaplin.mp4") + " " + (dir / "out") + " 2>/dev/null");
  ASSERT_TRUE(w.said_hello) << "the first line is not the worker's hello: " << w.first_line;
  EXPECT_EQ(w.thp, "0") << "THP_enabled of the running job";
  ASSERT_TRUE(WIFEXITED(w.status));
  EXPECT_EQ(WEXITSTATUS(w.status), 0);
}

// A live input: 2 s of a shared clip as MPEG-TS with H.264 and AAC, made by ffmpeg in `dir`;
// "" if ffmpeg failed.
std::string LiveSource(const TempDir& dir) {
  const std::string source = dir / "source.ts";
  const int rc =
      std::system(("ffmpeg -nostdin -v error -y -t 2 -i " + Media("moviepy_chaplin.mp4") +
                   " -c:v libx264 -preset ultrafast -g 30 -c:a aac -f mpegts " + source)
                      .c_str());
  return rc == 0 ? source : "";
}

// A live worker runs for hours with x264 on every rung: the same setting as a transcode. Its
// input is a real MPEG-TS on stdin; the stream ends with it.
TEST(LiveCommandTest, RunsWithoutTransparentHugePages) {
  ASSERT_EQ(ThpEnabled("self"), "1") << "this test's own process must be allowed huge pages";
  TempDir dir;
  const std::string source = LiveSource(dir);
  ASSERT_FALSE(source.empty());
  const WorkerThp w =
      RunWorkerReadingThp(std::string(worker::kWorkerProtocolEnv) + "=" +
                          std::to_string(worker::kWorkerProtocolVersion) + " " + NEWSREEL_BIN +
                          " live --ladder 360 --encoder x264 --progress protocol " +
                          (dir / "live") + " <" + source + " 2>/dev/null");
  ASSERT_TRUE(w.said_hello) << "the first line is not the worker's hello: " << w.first_line;
  EXPECT_EQ(w.thp, "0") << "THP_enabled of the running live worker";
  ASSERT_TRUE(WIFEXITED(w.status));
  EXPECT_EQ(WEXITSTATUS(w.status), 0);
  EXPECT_TRUE(fs::exists(dir.path() / "live/master.m3u8"));
}

// OpenH264 is the last resort of `auto` and what a machine without x264 uses: its trial and its
// rungs must not print the library's drain failure (encoder_entries.cpp).
TEST(TranscodeCommandTest, OpenH264RunLeavesNoErrorOnStderrAndKeepsEveryFrame) {
  if (!Installed("openh264enc")) GTEST_SKIP() << "openh264enc is not installed";
  TempDir dir;
  CommandRun r = Newsreel(dir, "transcode --encoder openh264 --ladder 360 --progress none " +
                                   Media("moviepy_chaplin.mp4") + " " + (dir / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ErrorLines(r.err), "") << r.err;
  // The end of stream skips the encoder's drain: no frame may be lost to it.
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir.path() / "out/360p"))
    if (e.path().extension() == ".ts") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  std::string list;
  for (const auto& f : files) list += (list.empty() ? "" : "|") + f;
  const int source = DecodedFrames(Media("moviepy_chaplin.mp4"));
  ASSERT_GT(source, 0);
  EXPECT_EQ(DecodedFrames("concat:" + list), source);
}

// The usual uploads need nothing of GStreamer's libav plugin: VP8 + Vorbis decode with libvpx
// and libvorbis; H.264 with AAC (a phone's clip) or with MP3 decode with newsreelvideodec and
// newsreelaudiodec; the AAC encoder and the encoder trial's decoder use libavcodec directly. The
// plugin would cost each job ~15-25 MB (docs/performance.md). GStreamer logs each plugin it
// loads.
TEST(TranscodeCommandTest, UsualJobsDoNotLoadGStreamersLibavPlugin) {
  for (const auto& [clip, plugin] : {std::pair{"nomexif_webm_480.webm", "libgstvpx.so"},
                                     std::pair{"jsonize_iphone_rotated.mov", "libgstisomp4.so"},
                                     std::pair{"moviepy_chaplin.mp4", "libgstaudioparsers.so"}}) {
    SCOPED_TRACE(clip);
    TempDir dir;
    CommandRun r = Newsreel(dir, "transcode --progress none " + Media(clip) + " " + (dir / "out"),
                            "GST_DEBUG=GST_PLUGIN_LOADING:4 GST_DEBUG_NO_COLOR=1");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(fs::exists(dir.path() / "out/audio/index.m3u8"));
    EXPECT_NE(r.err.find(std::string(plugin) + "\" loaded"), std::string::npos)
        << r.err;  // the log works
    EXPECT_EQ(r.err.find("libgstlibav"), std::string::npos) << r.err;
  }
}

// A live worker decodes H.264 and AAC and encodes AAC with the same elements as a transcode
// (libavcodec directly), and H.264 with newsreelx264: it holds the stream for hours, and the libav
// plugin would be ~15-25 MB of it, x264enc's held frames ~27 MB (docs/performance.md).
TEST(LiveCommandTest, DoesNotLoadGStreamersLibavOrX264Plugins) {
  TempDir dir;
  const std::string source = LiveSource(dir);
  ASSERT_FALSE(source.empty());
  CommandRun r = Newsreel(dir, "live --ladder 360 --encoder x264 " + (dir / "live") + " <" + source,
                          "GST_DEBUG=GST_PLUGIN_LOADING:4 GST_DEBUG_NO_COLOR=1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir.path() / "live/360p/index.m3u8"));
  EXPECT_NE(r.err.find("libgstmpegtsdemux.so\" loaded"), std::string::npos)
      << r.err;  // the log works
  EXPECT_EQ(r.err.find("libgstlibav"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("libgstx264"), std::string::npos) << r.err;
}

// A source whose every picture carries closed captions (A/53 in the H.264 SEI, written by
// GStreamer's x264enc from a caption meta per frame, one triplet each): 2 s of 320x240 at `fps`,
// in MPEG-TS. "" if the pipeline failed.
std::string CaptionedSource(const TempDir& dir, int fps = 25) {
  EnsureGstInit();
  const std::string path = dir / "captioned.ts";
  const std::string desc =
      "appsrc name=in format=time caps=video/x-raw,format=I420,width=320,height=240,"
      "framerate=" +
      std::to_string(fps) +
      "/1 ! x264enc speed-preset=ultrafast key-int-max=" + std::to_string(fps) +
      " ! h264parse ! mpegtsmux ! filesink location=" + path;
  GError* err = nullptr;
  GstPtr<GstElement> pipeline(gst_parse_launch(desc.c_str(), &err));
  if (err != nullptr) g_error_free(err);
  if (!pipeline) return "";
  GstPtr<GstElement> in(gst_bin_get_by_name(GST_BIN(pipeline.get()), "in"));
  gst_element_set_state(pipeline.get(), GST_STATE_PLAYING);
  const gsize size = 320 * 240 * 3 / 2;
  for (int i = 0; i < 2 * fps; ++i) {
    GstBuffer* frame = gst_buffer_new_allocate(nullptr, size, nullptr);
    gst_buffer_memset(frame, 0, static_cast<guint8>(40 + i), size);
    GST_BUFFER_PTS(frame) = static_cast<GstClockTime>(i) * GST_SECOND / fps;
    GST_BUFFER_DURATION(frame) = GST_SECOND / fps;
    const guint8 cc[] = {0xFC, static_cast<guint8>(0x41 + i % 26), 0x80};
    gst_buffer_add_video_caption_meta(frame, GST_VIDEO_CAPTION_TYPE_CEA708_RAW, cc, sizeof cc);
    GstFlowReturn pushed = GST_FLOW_OK;
    g_signal_emit_by_name(in.get(), "push-buffer", frame, &pushed);  // borrows the buffer
    gst_buffer_unref(frame);
    if (pushed != GST_FLOW_OK) break;
  }
  GstFlowReturn ended = GST_FLOW_OK;
  g_signal_emit_by_name(in.get(), "end-of-stream", &ended);
  GstPtr<GstBus> bus(gst_element_get_bus(pipeline.get()));
  MessagePtr done(
      gst_bus_timed_pop_filtered(bus.get(), GST_CLOCK_TIME_NONE,
                                 static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR)));
  const bool ok = done && GST_MESSAGE_TYPE(done.get()) == GST_MESSAGE_EOS;
  gst_element_set_state(pipeline.get(), GST_STATE_NULL);
  return ok ? path : "";
}

// The cc_data triplets counted in every A/53 caption SEI of `ts` (cc_count, the low five bits of
// the byte after "GA94" and its type code).
int CaptionTriplets(const std::string& ts) {
  int n = 0;
  for (size_t at = ts.find("GA94"); at != std::string::npos; at = ts.find("GA94", at + 4))
    if (at + 5 < ts.size() && ts[at + 4] == 0x03) n += ts[at + 5] & 0x1F;
  return n;
}

// The H.264 elementary stream of the MPEG-TS file `ts` (ffmpeg takes it out of the packets, so
// that an SEI split across two of them reads whole).
std::string ElementaryStream(const std::string& ts) {
  FILE* f =
      popen(("ffmpeg -nostdin -v error -i '" + ts + "' -map 0:v:0 -c copy -f h264 -").c_str(), "r");
  if (f == nullptr) return "";
  std::string bytes;
  char chunk[65536];
  for (size_t n; (n = std::fread(chunk, 1, sizeof chunk, f)) > 0;) bytes.append(chunk, n);
  pclose(f);
  return bytes;
}

// How many times `needle` occurs in `haystack`.
size_t Occurrences(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + needle.size()))
    ++n;
  return n;
}

// Every picture of the 240p and 144p rungs in `out` carries closed captions once, as ffprobe
// (a reader we did not write) sees them; the 240p rung every triplet of the source's
// `source_frames` frames, and the cellular rung, at half the 240p rung's rate, the captions of
// the frames it drops too (all but the last frame's).
void ExpectCaptionsInEveryRung(const fs::path& out, int source_frames = 50) {
  std::map<std::string, int> triplets;
  for (const char* rung : {"240p", "144p"}) {
    SCOPED_TRACE(rung);
    std::string all;
    int frames = 0;
    for (const auto& entry : fs::directory_iterator(out / rung)) {
      if (entry.path().extension() != ".ts") continue;
      all += ElementaryStream(entry.path().string());
      frames += DecodedFrames(entry.path().string());
      // ffprobe names them in the stream's description once it has decoded its first pictures.
      FILE* f = popen(("ffprobe -v info '" + entry.path().string() + "' 2>&1").c_str(), "r");
      ASSERT_NE(f, nullptr);
      std::string description;
      char line[512];
      while (std::fgets(line, sizeof line, f) != nullptr) description += line;
      pclose(f);
      EXPECT_NE(description.find("Closed Captions"), std::string::npos) << description;
    }
    ASSERT_GT(frames, 0);
    EXPECT_EQ(Occurrences(all, "GA94"), static_cast<size_t>(frames));  // once per picture
    triplets[rung] = CaptionTriplets(all);
  }
  // One per source frame, as they went in (a halved rate loses at most the last frame's).
  EXPECT_GE(triplets["240p"], source_frames - 1);
  EXPECT_LE(triplets["240p"], source_frames);
  EXPECT_GE(triplets["144p"], triplets["240p"] - 1);
}

// A newsroom's live feed keeps its closed captions, on every rung.
TEST(LiveCommandTest, KeepsClosedCaptions) {
  TempDir dir;
  const std::string source = CaptionedSource(dir);
  ASSERT_FALSE(source.empty());
  ASSERT_GT(Occurrences(ReadBytes(source), "GA94"), 40u);  // the input has them
  CommandRun r =
      Newsreel(dir, "live --ladder 240,144 --encoder x264 " + (dir / "live") + " <" + source);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectCaptionsInEveryRung(dir.path() / "live");
}

// Seconds of the `type` ("v" or "a") stream of `file`: the sum of its packets' durations.
double StreamSeconds(const std::string& file, const char* type) {
  FILE* f = popen(("ffprobe -v error -select_streams " + std::string(type) +
                   ":0 -show_entries packet=duration_time -of csv=p=0 '" + file + "'")
                      .c_str(),
                  "r");
  if (f == nullptr) return -1;
  double sum = 0, d = 0;
  while (std::fscanf(f, "%lf", &d) == 1) sum += d;
  pclose(f);
  return sum;
}

// 6 s of a real clip as a publisher's feed or an uploaded TS (25 fps, `audio`), its clock starting
// at 300 s, with `edit` applied to its bytes; and what `newsreel live` (`live`) or `newsreel
// transcode` made of it: every frame of the source in the 240p rung once, no more (a leap filled
// with a repeated picture, or pictures dropped for being behind, would change the count), as much
// audio as video, and the leap named on stderr.
void ExpectToRideOverALeap(bool live, const std::function<void(std::string&)>& edit,
                           const std::string& audio = "aac") {
  TempDir dir;
  const std::string clean = dir / "clean.ts";
  ASSERT_EQ(std::system(("ffmpeg -nostdin -v error -y -t 6 -i " + Media("moviepy_chaplin.mp4") +
                         " -c:v libx264 -preset ultrafast -g 25 -c:a " + audio +
                         " -output_ts_offset 300 "
                         "-f mpegts " +
                         clean)
                            .c_str()),
            0);
  std::string bytes = ReadBytes(clean);
  edit(bytes);
  const std::string source = dir / "leaping.ts";
  std::ofstream(source, std::ios::binary) << bytes;
  const int source_frames = DecodedFrames(clean);
  ASSERT_GT(source_frames, 140);
  CommandRun r =
      live ? Newsreel(dir, "live --ladder 240,144 --encoder x264 " + (dir / "out") + " <" + source)
           : Newsreel(dir,
                      "transcode --ladder 240,144 --progress none " + source + " " + (dir / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find(live ? "the feed's timestamps leapt" : "the input's timestamps leapt"),
            std::string::npos)
      << r.err;
  int frames = 0;
  double video = 0, audio = 0;
  for (const auto& entry : fs::directory_iterator(dir.path() / "out/240p")) {
    if (entry.path().extension() != ".ts") continue;
    frames += DecodedFrames(entry.path().string());
    video += StreamSeconds(entry.path().string(), "v");
    audio += StreamSeconds(entry.path().string(), "a");
  }
  EXPECT_GE(frames, source_frames - 2);
  EXPECT_LE(frames, source_frames + 2);
  EXPECT_NEAR(audio, video, 0.2);
}

// A live feed with one packet whose clock leaps a hundred seconds ahead (a corrupt or hostile
// one: fuzzing found a feed with a day's leap, which had a worker encode a day of one repeated
// picture as fast as it could): the leap is taken out and the stream goes on.
TEST(LiveCommandTest, RidesOverAStrayTimestamp) {
  ExpectToRideOverALeap(true,
                        [](std::string& ts) { ShiftTs(ts, 60, 61, int64_t{100} * 90000, false); });
}

// A publisher whose encoder restarts its clock two minutes back, mid-stream: the stream goes on
// where it was, rather than dropping every picture until the old time comes round.
TEST(LiveCommandTest, RidesOverAFeedWhoseClockGoesBack) {
  ExpectToRideOverALeap(true,
                        [](std::string& ts) { ShiftTs(ts, 75, 0, int64_t{-120} * 90000, true); });
}

// Opus in a TS comes out of tsdemux as lists of packets: they are moved with the rest.
TEST(LiveCommandTest, RidesOverALeapWithOpusAudio) {
  ExpectToRideOverALeap(
      true, [](std::string& ts) { ShiftTs(ts, 75, 0, int64_t{-120} * 90000, true); }, "libopus");
}

// The same leaps in an uploaded MPEG-TS (a recording off air, or a hostile upload): before, a
// 6 s file whose clock went back had a transcode encode tsdemux's 26.5-hour wrap of one picture,
// holding the job queue for up to the worker's CPU limit.
TEST(TranscodeCommandTest, RidesOverTimestampLeapsInAnUploadedTs) {
  ExpectToRideOverALeap(false, [](std::string& ts) {
    ShiftTs(ts, 40, 41, int64_t{100} * 90000, false);
    ShiftTs(ts, 75, 0, int64_t{-120} * 90000, true);
  });
}

// A 50 fps feed (European broadcast) is halved to 25 fps for every rung: the dropped frames'
// captions go on with the kept ones.
TEST(LiveCommandTest, KeepsClosedCaptionsOfA50FpsFeed) {
  TempDir dir;
  const std::string source = CaptionedSource(dir, 50);
  ASSERT_FALSE(source.empty());
  CommandRun r =
      Newsreel(dir, "live --ladder 240,144 --encoder x264 " + (dir / "live") + " <" + source);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectCaptionsInEveryRung(dir.path() / "live", 100);
}

// An upload's closed captions reach every rendition too.
TEST(TranscodeCommandTest, KeepsClosedCaptions) {
  TempDir dir;
  const std::string ts = CaptionedSource(dir);
  ASSERT_FALSE(ts.empty());
  const std::string mp4 = dir / "captioned.mp4";  // an upload: MP4, as a phone or an editor writes
  ASSERT_EQ(std::system(("ffmpeg -nostdin -v error -y -i " + ts + " -c copy " + mp4).c_str()), 0);
  CommandRun r =
      Newsreel(dir, "transcode --ladder 240,144 --progress none " + mp4 + " " + (dir / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectCaptionsInEveryRung(dir.path() / "out");
}

// So do those of an MPEG-2 upload (a broadcaster's archive), which carries them in the picture's
// user data rather than in an SEI; ffmpeg writes it from the H.264 source's captions.
TEST(TranscodeCommandTest, KeepsClosedCaptionsOfAnMpeg2Source) {
  TempDir dir;
  const std::string ts = CaptionedSource(dir);
  ASSERT_FALSE(ts.empty());
  const std::string mpeg2 = dir / "captioned_mpeg2.ts";
  ASSERT_EQ(std::system(("ffmpeg -nostdin -v error -y -i " + ts +
                         " -c:v mpeg2video -a53cc 1 -b:v 2M " + mpeg2)
                            .c_str()),
            0);
  ASSERT_EQ(Occurrences(ReadBytes(mpeg2), "GA94"), 50u);  // the source has them, each frame's
  CommandRun r =
      Newsreel(dir, "transcode --ladder 240,144 --progress none " + mpeg2 + " " + (dir / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectCaptionsInEveryRung(dir.path() / "out");
}

TEST(TranscodeCommandTest, EncodersSurveyLeavesNoErrorOnStderr) {
  TempDir dir;
  CommandRun r = Newsreel(dir, "encoders");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("x264"), std::string::npos) << r.out;
  if (Installed("openh264enc")) {
    EXPECT_NE(r.out.find("openh264enc    h264  no        yes      passed"), std::string::npos)
        << r.out;
  }
  EXPECT_EQ(ErrorLines(r.err), "") << r.err;
}

}  // namespace
}  // namespace newsreel::transcoder
