// newsreelaudiodec (transcoder/audio_decoder.h) against GStreamer's avdec_aac, avdec_mp3float
// and avdec_mp2float, which wrap the same libavcodec decoders (and ffmpeg's own decode of the
// MP3 files: see SameAsAvdecOnTheSharedMp3Tracks): on every AAC and MP3 track of the
// shared media and on inputs made here with ffmpeg (5.1 AAC, ADTS, MPEG-1 layer 2 in TS), the
// same samples, timestamps and channel layout. And decodebin plugs it before avdec and mpg123.
#include <gst/app/gstappsink.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "tests/common/capture.h"
#include "tests/transcoder/test_util.h"
#include "transcoder/audio_decoder.h"
#include "transcoder/gst_util.h"

namespace newsreel::transcoder {
namespace {

using testing::Media;
using testing::TempDir;

struct Decoded {
  std::string caps;  // after audioconvert to interleaved F32LE
  std::string samples;
  std::vector<GstClockTime> pts, durations;
  std::string error;
};

// The first audio track of `path`, parsed by parsebin, decoded by `decoder`, interleaved.
Decoded DecodeWith(const std::string& path, const char* decoder) {
  EnsureGstInit();
  Decoded result;
  Pipeline pipeline("decode");
  GstElement* src = pipeline.Add(MakeElement("filesrc"));
  GstElement* parse = pipeline.Add(MakeElement("parsebin"));
  GstElement* dec = pipeline.Add(MakeElement(decoder));
  GstElement* convert = pipeline.Add(MakeElement("audioconvert"));
  GstElement* filter = pipeline.Add(MakeElement("capsfilter"));
  GstElement* sink = pipeline.Add(MakeElement("appsink"));
  g_object_set(src, "location", path.c_str(), nullptr);
  g_object_set(sink, "sync", FALSE, nullptr);
  CapsPtr interleaved(gst_caps_from_string("audio/x-raw,format=F32LE,layout=interleaved"));
  g_object_set(filter, "caps", interleaved.get(), nullptr);
  if (!gst_element_link(src, parse) ||
      !gst_element_link_many(dec, convert, filter, sink, nullptr)) {
    result.error = "cannot link";
    return result;
  }
  testing::LinkFirstPad(parse, "audio/", dec);
  gst_element_set_state(pipeline.element(), GST_STATE_PLAYING);
  while (GstSample* sample = gst_app_sink_pull_sample(GST_APP_SINK(sink))) {
    SamplePtr owner(sample);
    if (result.caps.empty()) {
      GCharPtr text(gst_caps_to_string(gst_sample_get_caps(sample)));
      result.caps = text.get();
    }
    GstBuffer* buffer = gst_sample_get_buffer(sample);
    result.pts.push_back(GST_BUFFER_PTS(buffer));
    result.durations.push_back(GST_BUFFER_DURATION(buffer));
    BufferMap map(buffer);
    if (map.ok()) result.samples.append(reinterpret_cast<const char*>(map.data()), map.size());
  }
  MessagePtr error(gst_bus_pop_filtered(pipeline.bus(), GST_MESSAGE_ERROR));
  if (error) result.error = DescribeGstMessage(error.get());
  return result;
}

// Where the samples to compare with come from.
enum class Samples { kAvdec, kFfmpeg };

// Decodes `path` with newsreelaudiodec and with `avdec`, and expects the same of both: caps,
// timestamps and, from `reference`, samples. Returns the caps of what newsreelaudiodec decoded.
std::string ExpectAvdecsSamples(const std::string& path, const char* avdec,
                                Samples reference = Samples::kAvdec) {
  SCOPED_TRACE(path);
  const Decoded ours = DecodeWith(path, kAudioDecoderFactory);
  Decoded theirs = DecodeWith(path, avdec);
  if (reference == Samples::kFfmpeg)
    theirs.samples = test_support::Capture("ffmpeg -nostdin -v error -i '" + path +
                                           "' -map 0:a:0 -c:a pcm_f32le -f f32le -");
  EXPECT_EQ(ours.error, "");
  EXPECT_EQ(theirs.error, "");
  EXPECT_FALSE(theirs.samples.empty());
  CapsPtr a(gst_caps_from_string(ours.caps.c_str())), b(gst_caps_from_string(theirs.caps.c_str()));
  EXPECT_TRUE(a && b && gst_caps_is_equal(a.get(), b.get())) << ours.caps << "\n" << theirs.caps;
  EXPECT_EQ(ours.samples.size(), theirs.samples.size());
  EXPECT_TRUE(ours.samples == theirs.samples) << "the samples differ";
  EXPECT_EQ(ours.pts, theirs.pts);
  EXPECT_EQ(ours.durations, theirs.durations);
  return ours.caps;
}

int Shell(const std::string& command) {
  const int rc = std::system(command.c_str());
  return rc == -1 ? -1 : WEXITSTATUS(rc);
}

// A clip of ffmpeg's sine source, `channels` of it, encoded with `audio` options.
std::string Generate(const TempDir& dir, const std::string& name, int channels,
                     const std::string& audio) {
  const std::string path = dir / name;
  const std::string command =
      "ffmpeg -nostdin -v error -y -f lavfi -i sine=frequency=440:sample_rate=48000 -t 3 -af "
      "aformat=channel_layouts=" +
      std::string(channels == 6 ? "5.1" : "stereo") + " " + audio + " " + path;
  EXPECT_EQ(Shell(command), 0) << command;
  return path;
}

TEST(AudioDecoderTest, SameAsAvdecOnTheSharedAacTracks) {
  // (nomexif_udta.auth.mp4's AAC track gives no samples to either: it is not compared.)
  for (const char* clip :
       {"jsonize_iphone_rotated.mov", "nomexif_meta.mov", "videotestdata_1-video-streamable.mp4"})
    ExpectAvdecsSamples(Media(clip), "avdec_aac");
}

TEST(AudioDecoderTest, SameAsAvdecOnTheSharedMp3Tracks) {
  for (const char* clip : {"moviepy_chaplin.mp4", "moviepy_video_with_failing_audio.mp4"})
    ExpectAvdecsSamples(Media(clip), "avdec_mp3float");
  // Of the two MP3 files, avdec_mp3float's first frames differ now and then on a loaded machine
  // (2 runs in 75, three in parallel; the rest of its samples and all timestamps the same), so
  // their samples are compared with ffmpeg's own decode, which avdec's equals otherwise. In the
  // MP4s ffmpeg trims by the edit list where GStreamer does not: avdec's are the reference there.
  for (const char* clip : {"moviepy_crunching.mp3", "moviepy_rain.mp3"})
    ExpectAvdecsSamples(Media(clip), "avdec_mp3float", Samples::kFfmpeg);
}

TEST(AudioDecoderTest, SameAsAvdecOnSurroundAdtsAndLayerTwo) {
  TempDir dir;
  std::string caps = ExpectAvdecsSamples(Generate(dir, "surround.mp4", 6, "-c:a aac"), "avdec_aac");
  EXPECT_NE(caps.find("channels=(int)6"), std::string::npos) << caps;
  EXPECT_NE(caps.find("channel-mask=(bitmask)0x000000000000003f"), std::string::npos) << caps;
  caps = ExpectAvdecsSamples(Generate(dir, "adts.aac", 2, "-c:a aac"), "avdec_aac");
  EXPECT_NE(caps.find("rate=(int)48000"), std::string::npos) << caps;
  ExpectAvdecsSamples(Generate(dir, "mp2.ts", 2, "-c:a mp2"), "avdec_mp2float");
  // The rate changes mid-stream (two ADTS files end to end): new caps, the decoder drained and
  // opened again, the same samples as avdec's.
  const std::string first = Generate(dir, "a.aac", 2, "-c:a aac");
  const std::string second = Generate(dir, "b.aac", 2, "-c:a aac -ar 44100");
  const std::string joined = dir / "joined.aac";
  ASSERT_EQ(Shell("cat " + first + " " + second + " > " + joined), 0);
  ExpectAvdecsSamples(joined, "avdec_aac");
}

// Rank primary + 1: decodebin picks it over avdec_aac (primary), avdec_mp3 and mpg123audiodec
// (marginal).
TEST(AudioDecoderTest, DecodebinPlugsItBeforeAvdecAndMpg123) {
  for (const char* clip : {"moviepy_chaplin.mp4", "nomexif_udta.auth.mp4"}) {
    SCOPED_TRACE(clip);
    const auto plugged = testing::FactoriesDecodebinPlugs(Media(clip));
    EXPECT_NE(std::find(plugged.begin(), plugged.end(), kAudioDecoderFactory), plugged.end());
    for (const std::string& name : plugged) {
      EXPECT_NE(name.rfind("avdec_", 0), 0u) << name;
      EXPECT_NE(name, "mpg123audiodec");
    }
  }
}

}  // namespace
}  // namespace newsreel::transcoder
