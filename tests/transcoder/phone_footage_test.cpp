// Defects seen on real phone footage, rebuilt at test time from the shared media with ffmpeg
// (a muxer we did not write) and read back with ffprobe and ffmpeg (players we did not write).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
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

}  // namespace
}  // namespace newsreel::transcoder
