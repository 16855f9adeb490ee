// newsreelswscale (transcoder/sws_scale.h) on real decoded frames, against what ffmpeg's own
// scale filter makes of the same frames, read back and compared by ffmpeg.
#include <gst/check/gstharness.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "tests/common/capture.h"
#include "tests/transcoder/test_util.h"
#include "transcoder/gst_util.h"
#include "transcoder/sws_scale.h"

namespace newsreel::transcoder {
namespace {

using newsreel::test_support::Capture;
using testing::Media;
using testing::RunToEos;
using testing::TempDir;

// SSIM (ffmpeg's, all planes) between two raw I420 files of `size` ("WxH").
double RawSsim(const std::string& a, const std::string& b, const std::string& size) {
  const std::string raw = "-f rawvideo -pix_fmt yuv420p -s " + size + " -i ";
  const std::string out = Capture("ffmpeg -nostdin " + raw + "'" + a + "' " + raw + "'" + b +
                                  "' -lavfi ssim -f null - 2>&1");
  const size_t at = out.rfind("All:");
  return at == std::string::npos ? -1 : std::atof(out.c_str() + at + 4);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Decodes `source` with GStreamer, scales with `scaler` to WxH and writes the raw frames. Sizes
// whose rows need no padding (W a multiple of 64), so that the file is plain I420.
bool ScaleWithGStreamer(const std::string& source, const std::string& scaler, int w, int h,
                        const std::string& out) {
  return RunToEos(
      "filesrc location=" + source +
      " ! qtdemux ! h264parse ! avdec_h264 ! videoconvert ! video/x-raw,format=I420 ! " + scaler +
      " ! video/x-raw,width=" + std::to_string(w) + ",height=" + std::to_string(h) +
      " ! filesink location=" + out);
}

TEST(SwsScaleTest, ScalesAsFfmpegDoes) {
  TempDir tmp;
  // A real clip halved, and a 1080p picture shrunk 1.5x (the HD rungs' factor).
  const std::string hd = tmp.path() / "hd.mp4";
  ASSERT_EQ(Capture("ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=1920x1080:rate=30 "
                    "-frames:v 10 -c:v libx264 -preset ultrafast -pix_fmt yuv420p '" +
                    hd + "' && echo ok"),
            "ok\n");
  struct Case {
    std::string source;
    int w, h;
  };
  for (const Case& c : {Case{Media("moviepy_chaplin.mp4"), 320, 180}, Case{hd, 1280, 720}}) {
    SCOPED_TRACE(c.source);
    const std::string size = std::to_string(c.w) + "x" + std::to_string(c.h);
    const std::string ours = tmp.path() / "ours.yuv";
    const std::string gst = tmp.path() / "videoscale.yuv";
    const std::string ffmpeg = tmp.path() / "ffmpeg.yuv";
    ASSERT_TRUE(ScaleWithGStreamer(c.source, kSwsScaleFactory, c.w, c.h, ours));
    ASSERT_TRUE(ScaleWithGStreamer(c.source, "videoscale method=4 sharpness=1.3", c.w, c.h, gst));
    ASSERT_EQ(Capture("ffmpeg -nostdin -v error -y -i '" + c.source +
                      "' -vf scale=" + std::to_string(c.w) + ":" + std::to_string(c.h) +
                      " -f rawvideo -pix_fmt yuv420p '" + ffmpeg + "' && echo ok"),
              "ok\n");
    const size_t frame = static_cast<size_t>(c.w) * c.h * 3 / 2;
    const std::string bytes = ReadAll(ours);
    ASSERT_GT(bytes.size(), 0u);
    EXPECT_EQ(bytes.size() % frame, 0u);
    EXPECT_EQ(bytes.size(), ReadAll(ffmpeg).size());
    const double ssim = RawSsim(ours, ffmpeg, size);
    const double other = RawSsim(gst, ffmpeg, size);
    // The same library and filter: the same frames but for rounding.
    EXPECT_GT(ssim, 0.999);
    EXPECT_GT(ssim, other);
    RecordProperty("ssim_" + size, std::to_string(ssim));
    RecordProperty("videoscale_ssim_" + size, std::to_string(other));
  }
}

// The cellular rung's sharper bicubic (bicubic-c=1) is ffmpeg's bicubic with param1=1.
TEST(SwsScaleTest, SharperBicubicIsFfmpegsWithParam1) {
  TempDir tmp;
  const std::string source = Media("moviepy_chaplin.mp4");
  const std::string sharp = tmp.path() / "sharp.yuv";
  const std::string usual = tmp.path() / "usual.yuv";
  const std::string ffmpeg = tmp.path() / "ffmpeg.yuv";
  ASSERT_TRUE(ScaleWithGStreamer(source, std::string(kSwsScaleFactory) + " bicubic-c=1.0", 256, 144,
                                 sharp));
  ASSERT_TRUE(ScaleWithGStreamer(source, kSwsScaleFactory, 256, 144, usual));
  ASSERT_EQ(Capture("ffmpeg -nostdin -v error -y -i '" + source +
                    "' -vf scale=256:144:flags=bicubic:param0=0:param1=1 -f rawvideo -pix_fmt "
                    "yuv420p '" +
                    ffmpeg + "' && echo ok"),
            "ok\n");
  ASSERT_EQ(ReadAll(sharp).size(), ReadAll(ffmpeg).size());
  const double same = RawSsim(sharp, ffmpeg, "256x144");
  const double other = RawSsim(usual, ffmpeg, "256x144");
  EXPECT_GT(same, 0.999);
  EXPECT_GT(same, other);  // the property reached libswscale
  EXPECT_NE(ReadAll(sharp), ReadAll(usual));
}

TEST(SwsScaleTest, KeepsThePicturesShapeWithBlackBars) {
  TempDir tmp;
  const std::string square = tmp.path() / "4x3.mp4";
  ASSERT_EQ(Capture("ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=640x480:rate=30 "
                    "-frames:v 5 -c:v libx264 -preset ultrafast -pix_fmt yuv420p '" +
                    square + "' && echo ok"),
            "ok\n");
  // A 4:3 picture in a 16:9 frame: 480x360 in the middle, 80 columns of black either side.
  const std::string ours = tmp.path() / "ours.yuv";
  ASSERT_TRUE(ScaleWithGStreamer(square, kSwsScaleFactory, 640, 360, ours));
  const std::string bytes = ReadAll(ours);
  ASSERT_GE(bytes.size(), 640u * 360 * 3 / 2);
  auto luma = [&](int x, int y) { return static_cast<unsigned char>(bytes[y * 640 + x]); };
  long picture = 0;
  for (int y = 0; y < 360; ++y) {
    for (int x = 0; x < 80; ++x) {
      EXPECT_EQ(luma(x, y), 16) << x << "," << y;
      EXPECT_EQ(luma(639 - x, y), 16) << 639 - x << "," << y;
      if (luma(x, y) != 16 || luma(639 - x, y) != 16) return;
    }
    for (int x = 80; x < 560; ++x) picture += luma(x, y);
  }
  EXPECT_GT(picture / (480 * 360), 40);  // testsrc2 is bright and busy, not black
  const size_t chroma = 640 * 360;
  EXPECT_EQ(static_cast<unsigned char>(bytes[chroma]), 128);              // U, top left
  EXPECT_EQ(static_cast<unsigned char>(bytes[chroma + 319]), 128);        // U, top right
  EXPECT_EQ(static_cast<unsigned char>(bytes[chroma + 320 * 180]), 128);  // V, top left

  // The middle is the whole picture, not a crop: as ffmpeg shrinks it to 480x360 and pads it.
  const std::string reference = tmp.path() / "ffmpeg.yuv";
  ASSERT_EQ(Capture("ffmpeg -nostdin -v error -i '" + square +
                    "' -vf scale=480:360,pad=640:360:80:0:black -f rawvideo -pix_fmt yuv420p '" +
                    reference + "' && echo ok"),
            "ok\n");
  EXPECT_GT(RawSsim(ours, reference, "640x360"), 0.99);
}

TEST(SwsScaleTest, SameSizePassesFramesThrough) {
  EnsureGstInit();
  GstHarness* h = gst_harness_new(kSwsScaleFactory);
  ASSERT_NE(h, nullptr);
  gst_harness_set_caps_str(h, "video/x-raw,format=I420,width=64,height=48,framerate=30/1",
                           "video/x-raw,format=I420,width=64,height=48,framerate=30/1");
  GstBuffer* in = gst_harness_create_buffer(h, 64 * 48 * 3 / 2);
  GstBuffer* out = gst_harness_push_and_pull(h, gst_buffer_ref(in));
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out, in);  // the very buffer: no copy, no scaling
  gst_buffer_unref(out);
  gst_buffer_unref(in);
  gst_harness_teardown(h);
}

}  // namespace
}  // namespace newsreel::transcoder
