// StartDtsAligner (vod_pipeline.h) on the timestamps x264enc gives a 12.5 fps rung with its
// default B-pyramid: decode order I0 P4 B2 b1 b3 P8 ..., DTS two frames before PTS; and the
// shared chain's colour caps (SharedChainCaps); and, of gst_util.h, the decoder settings of
// TuneVideoDecoders on a real decodebin and where libav's messages go.
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include <libavutil/log.h>
}

#include "tests/transcoder/test_util.h"
#include "transcoder/gst_util.h"
#include "transcoder/vod_pipeline.h"

namespace newsreel::transcoder {
namespace {

constexpr GstClockTime kFrame = 80 * GST_MSECOND;  // 12.5 fps
constexpr GstClockTime kStart = 3600 * GST_SECOND;

TEST(StartDtsAlignerTest, FirstDtsEqualsFirstPtsAndLaterOnesAreKept) {
  // Display index of each frame in decode order; the encoder's DTS is (decode index - 2) frames.
  const std::vector<int> shown = {0, 4, 2, 1, 3, 8, 6, 5, 7};
  StartDtsAligner aligner(kFrame);
  GstClockTime last_dts = 0;
  for (size_t k = 0; k < shown.size(); ++k) {
    const GstClockTime pts = kStart + shown[k] * kFrame;
    const GstClockTime dts = kStart + k * kFrame - 2 * kFrame;
    const GstClockTime aligned = aligner.Align(pts, dts);
    if (k == 0) {
      EXPECT_EQ(aligned, pts);
    } else {
      EXPECT_GT(aligned, last_dts) << "decode timestamps must increase, frame " << k;
    }
    EXPECT_LE(aligned, pts) << "a frame decoded after it is shown, frame " << k;
    if (dts > kStart) {
      EXPECT_EQ(aligned, dts) << "frame " << k << " after the start is untouched";
    }
    last_dts = aligned;
  }
  EXPECT_TRUE(aligner.done());
}

TEST(StartDtsAlignerTest, StreamWithoutReorderingIsUntouched) {
  StartDtsAligner aligner(kFrame);
  for (int k = 0; k < 4; ++k) {
    const GstClockTime t = kStart + k * kFrame;
    EXPECT_EQ(aligner.Align(t, t), t);
  }
}

// What the shared chain pins for decoded caps `decoded` (a caps string), read back as GStreamer
// reads it.
GstVideoInfo Pinned(const char* decoded) {
  EnsureGstInit();
  CapsPtr in(gst_caps_from_string(decoded));
  CapsPtr spelled = DecodedColourSpelledOut(in.get());  // as the shared chain's probe does
  const std::string out = SharedChainCaps(spelled ? spelled.get() : in.get());
  CapsPtr caps(gst_caps_from_string(out.c_str()));
  GstStructure* s = gst_caps_get_structure(caps.get(), 0);
  EXPECT_NE(gst_structure_get_string(s, "colorimetry"), nullptr) << out;
  EXPECT_NE(gst_structure_get_string(s, "chroma-site"), nullptr) << out;
  // Complete it with a size, as the rungs' caps do, to read it back.
  gst_caps_set_simple(caps.get(), "width", G_TYPE_INT, 640, "height", G_TYPE_INT, 360, nullptr);
  GstVideoInfo info;
  EXPECT_TRUE(gst_video_info_from_caps(&info, caps.get())) << out;
  EXPECT_EQ(GST_VIDEO_INFO_FORMAT(&info), GST_VIDEO_FORMAT_I420) << out;
  return info;
}

TEST(SharedChainCapsTest, UntaggedHdSourceStaysBt709InEveryRung) {
  // avdec_h264's caps for an untagged 1080p stream: no colorimetry, so GStreamer assumes BT.709
  // at 1080 lines but BT.601 at 360: the pinned caps say BT.709 for the 360p rung as well.
  GstVideoInfo info =
      Pinned("video/x-raw,format=I420,width=1920,height=1080,chroma-site=mpeg2,framerate=30/1");
  EXPECT_EQ(info.colorimetry.matrix, GST_VIDEO_COLOR_MATRIX_BT709);
  EXPECT_EQ(info.colorimetry.primaries, GST_VIDEO_COLOR_PRIMARIES_BT709);
  EXPECT_EQ(info.colorimetry.range, GST_VIDEO_COLOR_RANGE_16_235);
  EXPECT_EQ(info.chroma_site, GST_VIDEO_CHROMA_SITE_MPEG2);
}

TEST(SharedChainCapsTest, UntaggedSdSourceStaysBt601WithLeftChroma) {
  GstVideoInfo info = Pinned("video/x-raw,format=I420,width=720,height=576,framerate=25/1");
  EXPECT_EQ(info.colorimetry.matrix, GST_VIDEO_COLOR_MATRIX_BT601);
  EXPECT_EQ(info.chroma_site, GST_VIDEO_CHROMA_SITE_MPEG2);
}

TEST(SharedChainCapsTest, Untagged4kIsBt709NotGStreamersBt2020Guess) {
  GstVideoInfo info = Pinned("video/x-raw,format=I420,width=3840,height=2160,framerate=30/1");
  EXPECT_EQ(info.colorimetry.matrix, GST_VIDEO_COLOR_MATRIX_BT709);
  EXPECT_EQ(info.colorimetry.primaries, GST_VIDEO_COLOR_PRIMARIES_BT709);
}

TEST(SharedChainCapsTest, CapsThatSayEverythingAreLeftAsTheyAre) {
  EnsureGstInit();
  CapsPtr full(gst_caps_from_string(
      "video/x-raw,format=I420,width=640,height=360,colorimetry=bt709,chroma-site=jpeg"));
  EXPECT_EQ(DecodedColourSpelledOut(full.get()), nullptr);
  CapsPtr rgb(gst_caps_from_string("video/x-raw,format=RGB,width=640,height=360"));
  EXPECT_EQ(DecodedColourSpelledOut(rgb.get()), nullptr);
}

TEST(SharedChainCapsTest, TaggedSdrSourceKeepsItsMatrixAndPrimariesInLimitedRange) {
  // A phone clip: full range, BT.601 matrix, BT.709 transfer, Display P3 primaries.
  GstVideoInfo info = Pinned(
      "video/x-raw,format=I420,width=720,height=1280,colorimetry=(string)1:4:5:11,"
      "chroma-site=jpeg");
  EXPECT_EQ(info.colorimetry.matrix, GST_VIDEO_COLOR_MATRIX_BT601);
  EXPECT_EQ(info.colorimetry.primaries, GST_VIDEO_COLOR_PRIMARIES_SMPTEEG432);
  EXPECT_EQ(info.colorimetry.range, GST_VIDEO_COLOR_RANGE_16_235);
  EXPECT_EQ(info.chroma_site, GST_VIDEO_CHROMA_SITE_JPEG);
}

TEST(SharedChainCapsTest, HdrAndBt2020KeepTheirColourSpace) {
  // Not converted, not relabelled: a BT.709 label on PQ or BT.2020 code values would show them
  // dark and washed out.
  GstVideoInfo pq =
      Pinned("video/x-raw,format=I420_10LE,width=3840,height=2160,colorimetry=bt2100-pq");
  EXPECT_EQ(pq.colorimetry.matrix, GST_VIDEO_COLOR_MATRIX_BT2020);
  EXPECT_EQ(pq.colorimetry.primaries, GST_VIDEO_COLOR_PRIMARIES_BT2020);
  EXPECT_EQ(pq.colorimetry.transfer, GST_VIDEO_TRANSFER_SMPTE2084);
  EXPECT_EQ(pq.colorimetry.range, GST_VIDEO_COLOR_RANGE_16_235);
  GstVideoInfo hlg =
      Pinned("video/x-raw,format=I420_10LE,width=1920,height=1080,colorimetry=bt2100-hlg");
  EXPECT_EQ(hlg.colorimetry.transfer, GST_VIDEO_TRANSFER_ARIB_STD_B67);
}

TEST(SharedChainCapsTest, RgbAnd444GetAYuvMatrixAndLeftChroma) {
  for (const char* f : {"RGB", "Y444"}) {
    GstVideoInfo info =
        Pinned((std::string("video/x-raw,format=") + f + ",width=1280,height=720").c_str());
    EXPECT_EQ(info.colorimetry.matrix, GST_VIDEO_COLOR_MATRIX_BT709) << f;
    EXPECT_EQ(info.chroma_site, GST_VIDEO_CHROMA_SITE_MPEG2) << f;
  }
}

TEST(SharedChainCapsTest, UnreadableCapsOnlyAskForI420) {
  EnsureGstInit();
  EXPECT_EQ(SharedChainCaps(nullptr), "video/x-raw,format=I420");
  CapsPtr any(gst_caps_from_string("video/x-h264"));
  EXPECT_EQ(SharedChainCaps(any.get()), "video/x-raw,format=I420");
}

// One decoder thread per four cores, never none.
TEST(TuneVideoDecodersTest, OneDecoderThreadPerFourCores) {
  EXPECT_EQ(DecoderThreads(0), 1);
  EXPECT_EQ(DecoderThreads(1), 1);
  EXPECT_EQ(DecoderThreads(2), 1);
  EXPECT_EQ(DecoderThreads(7), 1);
  EXPECT_EQ(DecoderThreads(8), 2);
  EXPECT_EQ(DecoderThreads(64), 16);
}

// The libav video decoder a decodebin plugs for a clip (MPEG-4 Part 2: H.264 and HEVC go to
// newsreelvideodec) decodes into its own frames with DecoderThreads threads, and the clip still
// decodes to its end; a decodebin left alone keeps libav's defaults.
TEST(TuneVideoDecodersTest, TunesPluggedVideoDecoders) {
  testing::TempDir dir;
  const std::string clip = dir / "mpeg4.mp4";
  ASSERT_EQ(std::system(("ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=320x240:rate=25 -f "
                         "lavfi -i sine -t 2 -c:v mpeg4 -c:a aac " +
                         clip)
                            .c_str()),
            0);
  for (bool hooked : {true, false}) {
    SCOPED_TRACE(hooked);
    EnsureGstInit();
    GError* err = nullptr;
    GstPtr<GstElement> pipeline(
        gst_parse_launch(("filesrc location=" + clip +
                          " ! decodebin name=d d. ! queue ! fakesink d. ! queue ! fakesink")
                             .c_str(),
                         &err));
    ASSERT_EQ(err, nullptr) << err->message;
    GstPtr<GstElement> decodebin(gst_bin_get_by_name(GST_BIN(pipeline.get()), "d"));
    ASSERT_TRUE(decodebin);
    if (hooked) TuneVideoDecoders(decodebin.get());
    gst_element_set_state(pipeline.get(), GST_STATE_PLAYING);
    GstPtr<GstBus> bus(gst_element_get_bus(pipeline.get()));
    MessagePtr msg(gst_bus_timed_pop_filtered(
        bus.get(), 30 * GST_SECOND,
        static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR)));
    ASSERT_TRUE(msg);
    EXPECT_EQ(GST_MESSAGE_TYPE(msg.get()), GST_MESSAGE_EOS) << DescribeGstMessage(msg.get());

    int video_decoders = 0;
    GstIterator* it = gst_bin_iterate_recurse(GST_BIN(decodebin.get()));
    GValue item = G_VALUE_INIT;
    while (gst_iterator_next(it, &item) == GST_ITERATOR_OK) {
      auto* element = GST_ELEMENT(g_value_get_object(&item));
      const std::string factory =
          gst_plugin_feature_get_name(GST_PLUGIN_FEATURE(gst_element_get_factory(element)));
      if (factory == "avdec_mpeg4") {
        ++video_decoders;
        gboolean direct = TRUE;
        gint threads = -1;
        g_object_get(element, "direct-rendering", &direct, "max-threads", &threads, nullptr);
        EXPECT_EQ(direct, hooked ? FALSE : TRUE);
        const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
        EXPECT_EQ(threads, hooked ? DecoderThreads(cores) : 0);  // 0: libav's own choice
      }
      g_value_reset(&item);
    }
    g_value_unset(&item);
    gst_iterator_free(it);
    gst_element_set_state(pipeline.get(), GST_STATE_NULL);
    EXPECT_EQ(video_decoders, 1);
  }
}

// A message from libavcodec or libswscale (av_log), as the AAC encoder or the scaler may write
// one, lands in GStreamer's log once EnsureGstInit has run, and stderr stays empty: a job may
// not load GStreamer's libav plugin, which used to route them.
TEST(LibavLogTest, GoesToGStreamersLogNotStderr) {
  EnsureGstInit();
  std::vector<std::string> logged;
  GstLogFunction collect =
      +[](GstDebugCategory* category, GstDebugLevel, const gchar*, const gchar*, gint, GObject*,
          GstDebugMessage* message, gpointer user) noexcept {
        // Ours, or the libav plugin's once an earlier test has loaded it: it installs its own.
        const std::string name = gst_debug_category_get_name(category);
        if (name == "newsreel-libav" || name == "libav")
          static_cast<std::vector<std::string>*>(user)->push_back(gst_debug_message_get(message));
      };
  // GStreamer's own printer would write what the threshold lets through to stderr (as with
  // GST_DEBUG set): only ours listens here.
  gst_debug_remove_log_function(gst_debug_log_default);
  gst_debug_add_log_function(collect, &logged, nullptr);
  gst_debug_set_threshold_for_name("newsreel-libav", GST_LEVEL_LOG);
  gst_debug_set_threshold_for_name("libav", GST_LEVEL_LOG);  // it logs warnings as INFO
  testing::TempDir dir;
  const std::string captured = dir / "stderr.txt";
  std::fflush(stderr);
  const int saved = dup(2);
  const int file = open(captured.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(file, 0);
  dup2(file, 2);
  av_log(nullptr, AV_LOG_WARNING, "newsreel test: a warning from libav\n");
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(file);
  gst_debug_remove_log_function(collect);
  gst_debug_add_log_function(gst_debug_log_default, nullptr, nullptr);
  gst_debug_unset_threshold_for_name("newsreel-libav");
  gst_debug_unset_threshold_for_name("libav");
  std::ifstream in(captured);
  const std::string err((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(err, "");
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_NE(logged[0].find("newsreel test: a warning from libav"), std::string::npos) << logged[0];
}

}  // namespace
}  // namespace newsreel::transcoder
