// Defects seen on real phone footage, rebuilt at test time from the shared media with ffmpeg
// (a muxer we did not write) and read back with ffprobe and ffmpeg (players we did not write).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "tests/common/capture.h"
#include "tests/transcoder/test_util.h"
#include "transcoder/transcode.h"

namespace newsreel::transcoder {
namespace {

namespace fs = std::filesystem;
using testing::Media;
using testing::TempDir;

// Runs a shell command; what it wrote on stdout.
using newsreel::test_support::Capture;

struct Packet {
  double start = 0;
  double end = 0;
};

// Packets of one kind of stream ("v" or "a") in `input` (a file, or Segments()), as ffprobe reads
// them, in presentation order.
std::vector<Packet> Packets(const std::string& input, const char* kind) {
  std::istringstream lines(Capture("ffprobe -v error -select_streams " + std::string(kind) +
                                   " -show_entries packet=pts_time,duration_time -of csv=p=0 '" +
                                   input + "' 2>/dev/null"));
  std::vector<Packet> out;
  std::string line;
  while (std::getline(lines, line)) {
    double pts = 0, duration = 0;
    if (std::sscanf(line.c_str(), "%lf,%lf", &pts, &duration) == 2)
      out.push_back({pts, pts + duration});
  }
  std::sort(out.begin(), out.end(),
            [](const Packet& a, const Packet& b) { return a.start < b.start; });
  return out;
}

// The segments of a media playlist, in order, as one input for ffmpeg ("concat:a.ts|b.ts"):
// read as files, not through ffmpeg's HLS reader, which loses a packet of an audio-only stream
// while it probes it.
std::string Segments(const fs::path& playlist) {
  std::ifstream in(playlist);
  std::string line, joined;
  while (std::getline(in, line))
    if (!line.empty() && line[0] != '#')
      joined += (joined.empty() ? "" : "|") + (playlist.parent_path() / line).string();
  return "concat:" + joined;
}

constexpr int kRate = 48000;

// The first audio track of `input`, decoded by ffmpeg to mono 16-bit samples at kRate.
std::vector<int16_t> DecodeAudio(const std::string& input) {
  std::string bytes = Capture("ffmpeg -nostdin -v error -i '" + input + "' -map 0:a:0 -ac 1 -ar " +
                              std::to_string(kRate) + " -f s16le - 2>/dev/null");
  std::vector<int16_t> samples(bytes.size() / 2);
  std::memcpy(samples.data(), bytes.data(), samples.size() * 2);
  return samples;
}

// Root mean square of the samples between `from` and `to` seconds (0 when out of range).
double Rms(const std::vector<int16_t>& s, double from, double to) {
  const size_t a = static_cast<size_t>(from * kRate);
  const size_t b = std::min(s.size(), static_cast<size_t>(to * kRate));
  if (a >= b) return 0;
  double sum = 0;
  for (size_t i = a; i < b; ++i) sum += static_cast<double>(s[i]) * s[i];
  return std::sqrt(sum / static_cast<double>(b - a));
}

// What Android's MediaMuxer wrote for a reporter's phone: H.264 video of 2.4 s and AAC at 48 kHz
// whose second frame starts 0.18 s after the first (stts: 8640 samples, then 1024 each), the
// track ending at 2.42 s. The audio is a steady tone, so that what is missing can be heard.
void MakeAndroidClip(const fs::path& dir, const fs::path& clip) {
  const std::string ff = "ffmpeg -nostdin -v error -y ";
  const std::string tone = (dir / "tone.aac").string();
  const std::string video = (dir / "video.mp4").string();
  // 106 frames of AAC in ADTS: no edit list, the first frame at 0.
  ASSERT_EQ(Capture(ff + "-f lavfi -i sine=frequency=440:sample_rate=48000 -c:a aac -ac 1 " +
                    "-frames:a 106 " + tone + " 2>&1; echo $?"),
            "0\n");
  ASSERT_EQ(
      Capture(ff + "-i " + Media("moviepy_chaplin.mp4") +
              " -t 2.38 -an -c:v libx264 -preset ultrafast -r 25 " + video + " 2>&1; echo $?"),
      "0\n");
  // Every frame after the first moves 8640 - 1024 samples later (the muxer's time base is the
  // sample rate).
  ASSERT_EQ(
      Capture(ff + "-i " + video + " -i " + tone +
              " -map 0:v -map 1:a -c copy -bsf:a \"setts=ts=if(eq(N\\,0)\\,PTS\\,PTS+7616)\" " +
              clip.string() + " 2>&1; echo $?"),
      "0\n");
}

TEST(PhoneFootageTest, AndroidAudioGapKeepsTheWholeSentenceInEveryRendition) {
  TempDir tmp;
  const fs::path clip = tmp.path() / "android.mp4";
  MakeAndroidClip(tmp.path(), clip);
  if (HasFatalFailure()) return;

  // The input is what we meant: the gap after the first frame, the audio's end at 2.42 s.
  auto source = Packets(clip.string(), "a");
  ASSERT_EQ(source.size(), 106u);
  EXPECT_NEAR(source[0].start, 0.0, 0.001);
  EXPECT_NEAR(source[1].start, 0.18, 0.001);
  EXPECT_NEAR(source.back().end, 2.42, 0.002);
  auto source_video = Packets(clip.string(), "v");
  ASSERT_FALSE(source_video.empty());
  EXPECT_NEAR(source_video.back().end, 2.4, 0.03);

  TranscodeOptions options;
  options.ladder.short_sides = {360, 144};
  auto r = Transcode(clip.string(), tmp / "out", options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const fs::path out = tmp.path() / "out";
  // Every rendition shares one timeline: the video's first frame is its zero.
  auto video = Packets(Segments(out / "360p/index.m3u8"), "v");
  ASSERT_FALSE(video.empty());
  const double zero = video.front().start;

  for (const char* rendition : {"360p", "144p", "audio"}) {
    SCOPED_TRACE(rendition);
    const std::string playlist = Segments(out / rendition / "index.m3u8");
    auto audio = Packets(playlist, "a");
    ASSERT_FALSE(audio.empty());
    // From the first frame's place to the source's end, one frame of slack at each end (AAC
    // frames of 1024 samples; the encoder's last, partial frame is 9 ms)...
    EXPECT_NEAR(audio.front().start - zero, 0.0, 0.022);
    EXPECT_GT(audio.back().end - zero, 2.42 - 0.022);
    // ... without a hole: the gap is there as silence, not as missing packets.
    for (size_t i = 1; i < audio.size(); ++i)
      ASSERT_NEAR(audio[i].start, audio[i - 1].end, 0.002) << "packet " << i;

    // What a listener hears: the tone, silence where the source had none, and the tone again to
    // the end of the sentence.
    auto pcm = DecodeAudio(playlist);
    EXPECT_GT(pcm.size(), static_cast<size_t>(2.40 * kRate));
    const double tone = Rms(pcm, 0.30, 2.20);
    EXPECT_GT(tone, 1000) << "the tone itself";
    EXPECT_LT(Rms(pcm, 0.05, 0.15), tone / 20) << "the gap after the first frame";
    EXPECT_GT(Rms(pcm, 2.30, 2.40), tone / 2) << "the last 0.1 s";
  }
}

// A phone held upright records landscape pictures and a rotation in the track header's matrix
// (the "rotate-90" of GStreamer's tags, ffmpeg's display matrix). Built from a test pattern with
// ffmpeg, then the matrix written in: the pattern shows which way the picture was turned.
void MakeTurnedClip(const fs::path& clip, int degrees) {
  ASSERT_EQ(Capture("ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=640x360:rate=30 "
                    "-t 2 -c:v libx264 -preset ultrafast -pix_fmt yuv420p " +
                    clip.string() + " 2>&1; echo $?"),
            "0\n");
  std::fstream f(clip, std::ios::in | std::ios::out | std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const size_t tkhd = bytes.find("tkhd");  // the only track's header, version 0
  ASSERT_NE(tkhd, std::string::npos);
  ASSERT_EQ(bytes[tkhd + 4], 0);
  // a b u / c d v / x y w, 16.16 fixed point (w 2.30): turned a quarter clockwise or back.
  const int32_t one = 0x10000, q = degrees == 90 ? 1 : -1;
  const int32_t matrix[9] = {
      0, q * one, 0, -q * one, 0, 0, q == 1 ? 360 * one : 0, q == 1 ? 0 : 640 * one, 1 << 30};
  f.seekp(static_cast<std::streamoff>(tkhd + 44));
  for (int32_t v : matrix) {
    const uint32_t u = static_cast<uint32_t>(v);
    const char be[4] = {static_cast<char>(u >> 24), static_cast<char>(u >> 16),
                        static_cast<char>(u >> 8), static_cast<char>(u)};
    f.write(be, 4);
  }
  ASSERT_TRUE(f.good());
}

// SSIM (ffmpeg's, all planes) of the first 30 frames of `rendition` against `source` scaled to
// the rendition's 360x640, ffmpeg turning the source by its matrix or (`as_stored`) not.
double SsimAgainstSource(const std::string& rendition, const std::string& source, bool as_stored) {
  const std::string out =
      Capture("ffmpeg -nostdin -i '" + rendition + "' " + (as_stored ? "-noautorotate " : "") +
              "-i '" + source +
              "' -filter_complex \"[1:v]scale=360:640,setsar=1[s];[0:v]setsar=1[r];[r][s]ssim\" "
              "-frames:v 30 -f null - 2>&1");
  const size_t at = out.rfind("All:");
  return at == std::string::npos ? -1 : std::atof(out.c_str() + at + 4);
}

TEST(PhoneFootageTest, TurnedClipComesOutUpright) {
  for (int degrees : {90, 270}) {
    SCOPED_TRACE(degrees);
    TempDir tmp;
    const fs::path clip = tmp.path() / "turned.mp4";
    MakeTurnedClip(clip, degrees);
    if (HasFatalFailure()) return;
    // The input is what we meant: ffmpeg reads the rotation back.
    EXPECT_NE(Capture("ffprobe -v error -show_streams '" + clip.string() + "'")
                  .find("rotation=" + std::to_string(degrees == 90 ? -90 : 90)),
              std::string::npos);

    TranscodeOptions options;
    options.ladder.short_sides = {360};
    auto r = Transcode(clip.string(), tmp / "out", options);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    const std::string rendition = (tmp.path() / "out/360p/index.m3u8").string();
    // (ffprobe lists the stream once per program of the HLS input.)
    const std::string sizes = Capture(
        "ffprobe -v error -select_streams v -show_entries stream=width,height -of csv=p=0 '" +
        rendition + "'");
    EXPECT_EQ(sizes.substr(0, sizes.find('\n')), "360,640");
    // The picture itself turned, the right way: like ffmpeg's own turn of the source, unlike
    // the stored picture squeezed into the portrait frame (measured: 0.95 against 0.51).
    const double upright = SsimAgainstSource(rendition, clip.string(), false);
    const double stored = SsimAgainstSource(rendition, clip.string(), true);
    EXPECT_GT(upright, 0.9);
    EXPECT_LT(stored, upright - 0.2);
  }
}

}  // namespace
}  // namespace newsreel::transcoder
