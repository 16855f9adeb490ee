// newsreelaacenc (transcoder/aac_encoder.h): from the same real samples, the packets of ffmpeg's
// `-c:a aac` (the same libavcodec encoder with its own settings) and the timestamps of
// GStreamer's avenc_aac; and a clear refusal of input it cannot encode.
#include <gst/check/gstharness.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/transcoder/test_util.h"
#include "transcoder/aac_encoder.h"
#include "transcoder/gst_util.h"

namespace newsreel::transcoder {
namespace {

using testing::Media;
using testing::TempDir;

struct Packet {
  std::string bytes;  // raw AAC, no ADTS header
  GstClockTime pts, duration;
};

// The audio of `clip` as the VOD pipeline converts it (stereo float at `rate`), into `path`.
void DecodeTo(const std::string& clip, int rate, const std::string& path) {
  ASSERT_TRUE(testing::RunToEos("filesrc location=" + Media(clip) +
                                " ! decodebin ! audioconvert ! audioresample ! "
                                "audio/x-raw,format=F32LE,layout=interleaved,channels=2,rate=" +
                                std::to_string(rate) + " ! filesink location=" + path));
}

// The raw samples in `path` through `factory` at 96 kb/s: every packet, in order.
std::vector<Packet> EncodeWith(const std::string& factory, const std::string& path, int rate) {
  EnsureGstInit();
  const std::string desc = "filesrc location=" + path +
                           " ! rawaudioparse format=pcm pcm-format=f32le num-channels=2 "
                           "sample-rate=" +
                           std::to_string(rate) + " ! " + factory +
                           " bitrate=96000 ! appsink name=out sync=false";
  GError* err = nullptr;
  GstPtr<GstElement> pipeline(gst_parse_launch(desc.c_str(), &err));
  EXPECT_EQ(err, nullptr) << (err ? err->message : "");
  if (err != nullptr) g_error_free(err);
  std::vector<Packet> packets;
  if (!pipeline) return packets;
  GstPtr<GstElement> out(gst_bin_get_by_name(GST_BIN(pipeline.get()), "out"));
  gst_element_set_state(pipeline.get(), GST_STATE_PLAYING);
  testing::PullEach(out.get(), [&](GstBuffer* buffer, const GstMapInfo& map) {
    packets.push_back({std::string(reinterpret_cast<const char*>(map.data), map.size),
                       GST_BUFFER_PTS(buffer), GST_BUFFER_DURATION(buffer)});
  });
  GstPtr<GstBus> bus(gst_element_get_bus(pipeline.get()));
  MessagePtr error(gst_bus_pop_filtered(bus.get(), GST_MESSAGE_ERROR));
  EXPECT_FALSE(error) << DescribeGstMessage(error.get());
  gst_element_set_state(pipeline.get(), GST_STATE_NULL);
  return packets;
}

// The same samples through ffmpeg's AAC encoder at 96 kb/s: the payload of every ADTS frame.
std::vector<std::string> EncodeWithFfmpeg(const std::string& path, int rate,
                                          const std::string& out) {
  const std::string command = "ffmpeg -nostdin -v error -y -f f32le -ar " + std::to_string(rate) +
                              " -ac 2 -i " + path + " -c:a aac -b:a 96k -f adts " + out;
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  std::ifstream in(out, std::ios::binary);
  const std::string adts((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> payloads;
  for (size_t at = 0; at + 7 <= adts.size();) {
    const auto byte = [&](size_t i) { return static_cast<unsigned char>(adts[at + i]); };
    EXPECT_EQ(byte(0), 0xFF) << "not an ADTS header at " << at;
    const size_t length = ((byte(3) & 3u) << 11) | (byte(4) << 3) | (byte(5) >> 5);
    const size_t header = (byte(1) & 1u) ? 7 : 9;  // without or with a CRC
    if (length < header || at + length > adts.size()) break;
    payloads.push_back(adts.substr(at + header, length - header));
    at += length;
  }
  return payloads;
}

void ExpectFfmpegsPacketsAndAvencAacsTimestamps(const std::string& clip, int rate,
                                                size_t at_least) {
  TempDir dir;
  const std::string raw = dir / "samples.f32";
  DecodeTo(clip, rate, raw);
  const std::vector<std::string> ffmpeg = EncodeWithFfmpeg(raw, rate, dir / "ffmpeg.aac");
  const std::vector<Packet> theirs = EncodeWith("avenc_aac", raw, rate);
  const std::vector<Packet> ours = EncodeWith(kAacEncoderFactory, raw, rate);
  ASSERT_GE(ffmpeg.size(), at_least);
  ASSERT_EQ(ours.size(), ffmpeg.size());
  ASSERT_EQ(ours.size(), theirs.size());
  for (size_t i = 0; i < ours.size(); ++i) {
    SCOPED_TRACE("packet " + std::to_string(i));
    EXPECT_EQ(ours[i].bytes.size(), ffmpeg[i].size());
    EXPECT_TRUE(ours[i].bytes == ffmpeg[i]);
    EXPECT_EQ(ours[i].pts, theirs[i].pts);
    EXPECT_EQ(ours[i].duration, theirs[i].duration);
  }
}

// Chaplin's MP3 track (9.6 s) at 44.1 kHz: 1024 samples a packet, the last one short.
TEST(AacEncoderTest, WritesFfmpegsPacketsWithAvencAacsTimestamps) {
  ExpectFfmpegsPacketsAndAvencAacsTimestamps("moviepy_chaplin.mp4", 44100, 9 * 44100 / 1024);
}

// Another clip, resampled to 48 kHz.
TEST(AacEncoderTest, WritesFfmpegsPacketsAt48kHz) {
  ExpectFfmpegsPacketsAndAvencAacsTimestamps("moviepy_crunching.mp3", 48000, 7 * 48000 / 1024);
}

// A sampling rate AAC has no index for is refused at negotiation: samples then get a
// not-negotiated flow, and nothing crashes.
TEST(AacEncoderTest, RefusesARateAacCannotCarry) {
  EnsureGstInit();
  for (int rate : {12345, 44100}) {
    SCOPED_TRACE(rate);
    GstHarness* h = gst_harness_new(kAacEncoderFactory);
    gst_harness_set_src_caps_str(
        h, ("audio/x-raw,format=F32LE,layout=interleaved,channels=2,rate=" + std::to_string(rate))
               .c_str());
    GstBuffer* samples = gst_buffer_new_allocate(nullptr, 4096 * 2 * sizeof(float), nullptr);
    gst_buffer_memset(samples, 0, 0, 4096 * 2 * sizeof(float));
    GST_BUFFER_PTS(samples) = 0;
    const GstFlowReturn pushed = gst_harness_push(h, samples);
    if (rate == 12345)
      EXPECT_EQ(pushed, GST_FLOW_NOT_NEGOTIATED);
    else
      EXPECT_EQ(pushed, GST_FLOW_OK);  // the same push at a rate it takes
    gst_harness_teardown(h);
  }
}

}  // namespace
}  // namespace newsreel::transcoder
