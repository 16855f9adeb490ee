// newsreelx264 (transcoder/x264_element.h) against GStreamer's x264enc: the same stream from the
// same real frames and settings, and input frames let go of as soon as x264 has copied them.
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "tests/transcoder/test_util.h"
#include "transcoder/encoder_registry.h"
#include "transcoder/gst_util.h"
#include "transcoder/video_decoder.h"
#include "transcoder/x264_element.h"

namespace newsreel::transcoder {
namespace {

using testing::Media;

struct Unit {
  std::string bytes;
  GstClockTime pts, dts;
  bool key;
};

// A VOD rung's settings on one thread (frame threads make x264's rate control depend on timing,
// so only a single thread gives the same bytes twice).
VideoEncodeSettings RungSettings() {
  VideoEncodeSettings s;
  s.width = 320;
  s.height = 180;
  s.fps_n = 25;
  s.fps_d = 1;
  s.bitrate = 300000;
  s.max_bitrate = 300000;
  s.buffer_size = 600000;
  s.gop_frames = 25;
  s.threads = 1;
  s.fast_analysis = true;
  return s;
}

// The chaplin clip at 320x180 through `factory` with `settings` mapped as for a VOD rung: every
// access unit, in order.
std::vector<Unit> Encode(const std::string& factory, const VideoEncodeSettings& settings) {
  EnsureGstInit();
  const std::string desc =
      "filesrc location=" + Media("moviepy_chaplin.mp4") +
      " ! qtdemux ! h264parse ! avdec_h264 ! videoconvert ! videoscale ! "
      "videorate ! video/x-raw,format=I420,width=320,height=180,"
      "framerate=25/1 ! " +
      factory +
      " name=enc ! video/x-h264,profile=high,stream-format=byte-stream,alignment=au ! appsink "
      "name=out sync=false";
  GError* err = nullptr;
  GstPtr<GstElement> pipeline(gst_parse_launch(desc.c_str(), &err));
  EXPECT_EQ(err, nullptr) << (err ? err->message : "");
  if (err != nullptr) g_error_free(err);
  std::vector<Unit> units;
  if (!pipeline) return units;
  GstPtr<GstElement> enc(gst_bin_get_by_name(GST_BIN(pipeline.get()), "enc"));
  for (const ElementProperty& p : X264Encoder().Configure(settings).properties)
    gst_util_set_object_arg(G_OBJECT(enc.get()), p.name.c_str(), p.value.c_str());
  GstPtr<GstElement> out(gst_bin_get_by_name(GST_BIN(pipeline.get()), "out"));
  gst_element_set_state(pipeline.get(), GST_STATE_PLAYING);
  testing::PullEach(out.get(), [&](GstBuffer* buffer, const GstMapInfo& map) {
    units.push_back({std::string(reinterpret_cast<const char*>(map.data), map.size),
                     GST_BUFFER_PTS(buffer), GST_BUFFER_DTS(buffer),
                     !GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT)});
  });
  GstPtr<GstBus> bus(gst_element_get_bus(pipeline.get()));
  MessagePtr error(gst_bus_pop_filtered(bus.get(), GST_MESSAGE_ERROR));
  EXPECT_FALSE(error) << DescribeGstMessage(error.get());
  gst_element_set_state(pipeline.get(), GST_STATE_NULL);
  return units;
}

TEST(X264ElementTest, WritesTheSameStreamAsX264enc) {
  const VideoEncodeSettings s = RungSettings();
  const std::vector<Unit> theirs = Encode("x264enc", s);
  const std::vector<Unit> ours = Encode(kX264Factory, s);
  ASSERT_GT(theirs.size(), 200u);  // 9.6 s at 25 fps
  ASSERT_EQ(ours.size(), theirs.size());
  size_t keys = 0;
  for (size_t i = 0; i < ours.size(); ++i) {
    SCOPED_TRACE("access unit " + std::to_string(i));
    EXPECT_EQ(ours[i].bytes.size(), theirs[i].bytes.size());
    EXPECT_TRUE(ours[i].bytes == theirs[i].bytes);
    EXPECT_EQ(ours[i].pts, theirs[i].pts);
    EXPECT_EQ(ours[i].dts, theirs[i].dts);
    EXPECT_EQ(ours[i].key, theirs[i].key);
    keys += ours[i].key ? 1 : 0;
  }
  // An IDR every 25 frames, none in between: the settings reached x264.
  EXPECT_EQ(keys, (ours.size() + 24) / 25);
}

constexpr char kSmallCaps[] = "video/x-raw,format=I420,width=64,height=64,framerate=25/1";

// Frame `i` of a 64x64 stream at 25 fps: flat grey, another shade in each frame.
GstBuffer* SmallFrame(int i) {
  const gsize size = 64 * 64 * 3 / 2;
  GstBuffer* frame = gst_buffer_new_allocate(nullptr, size, nullptr);
  gst_buffer_memset(frame, 0, static_cast<guint8>(i * 5), size);
  GST_BUFFER_PTS(frame) = static_cast<GstClockTime>(i) * GST_SECOND / 25;
  GST_BUFFER_DURATION(frame) = GST_SECOND / 25;
  return frame;
}

// A harness around `factory` at veryfast with `properties` set, fed 64x64 frames (SmallFrame).
GstHarness* SmallHarness(const char* factory,
                         std::initializer_list<std::pair<const char*, const char*>> properties) {
  EnsureGstInit();
  GstHarness* h = gst_harness_new(factory);
  gst_util_set_object_arg(G_OBJECT(h->element), "speed-preset", "veryfast");
  for (const auto& [name, value] : properties)
    gst_util_set_object_arg(G_OBJECT(h->element), name, value);
  gst_harness_set_src_caps_str(h, kSmallCaps);
  return h;
}

// Frames pushed into `factory` that are still alive, at most, over 40 frames; and the access
// units that came out after EOS.
struct Held {
  int most_alive = 0;
  size_t units = 0;
};

void Died(gpointer alive, GstMiniObject*) { --*static_cast<int*>(alive); }

Held PushFrames(const char* factory) {
  GstHarness* h = SmallHarness(factory, {{"threads", "1"}, {"byte-stream", "true"}});
  gst_harness_set_sink_caps_str(h,
                                "video/x-h264,stream-format=byte-stream,alignment=au,profile=high");
  int alive = 0;
  Held held;
  for (int i = 0; i < 40; ++i) {
    GstBuffer* frame = SmallFrame(i);
    ++alive;
    gst_mini_object_weak_ref(GST_MINI_OBJECT(frame), Died, &alive);
    EXPECT_EQ(gst_harness_push(h, frame), GST_FLOW_OK);
    held.most_alive = std::max(held.most_alive, alive);
  }
  EXPECT_TRUE(gst_harness_push_event(h, gst_event_new_eos()));
  held.units = gst_harness_buffers_in_queue(h);
  gst_harness_teardown(h);
  EXPECT_EQ(alive, 0);
  return held;
}

TEST(X264ElementTest, LetsGoOfEachFrameOnceX264HasCopiedIt) {
  const Held ours = PushFrames(kX264Factory);
  EXPECT_EQ(ours.most_alive, 0);
  EXPECT_EQ(ours.units, 40u);  // every frame encoded, the delayed ones at EOS
  // What it replaces keeps them until their pictures leave x264's lookahead and B-frames.
  const Held theirs = PushFrames("x264enc");
  EXPECT_GT(theirs.most_alive, 5);
  EXPECT_EQ(theirs.units, 40u);
}

TEST(X264ElementTest, ForcedKeyUnitStartsAnIdr) {
  GstHarness* h =
      SmallHarness(kX264Factory, {{"key-int-max", "250"}, {"option-string", "scenecut=0"}});
  const GstClockTime forced = 17 * GST_SECOND / 25;
  for (int i = 0; i < 30; ++i) {
    GstBuffer* frame = SmallFrame(i);
    const GstClockTime pts = GST_BUFFER_PTS(frame);
    if (pts == forced) {
      ASSERT_TRUE(gst_harness_push_event(
          h, gst_video_event_new_downstream_force_key_unit(pts, pts, pts, TRUE, 1)));
    }
    ASSERT_EQ(gst_harness_push(h, frame), GST_FLOW_OK);
  }
  ASSERT_TRUE(gst_harness_push_event(h, gst_event_new_eos()));
  std::vector<GstClockTime> keys;
  while (GstBuffer* unit = gst_harness_try_pull(h)) {
    if (!GST_BUFFER_FLAG_IS_SET(unit, GST_BUFFER_FLAG_DELTA_UNIT))
      keys.push_back(GST_BUFFER_PTS(unit));
    gst_buffer_unref(unit);
  }
  gst_harness_teardown(h);
  // The first frame, and the forced one (PTS as they leave, offset alike).
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[1] - keys[0], forced);
}

// Frame i's closed captions: two cc_data triplets (CEA-608 field 1, then a padding one).
std::vector<guint8> CaptionOf(int i) {
  return {0xFC, static_cast<guint8>(0x41 + i % 26), static_cast<guint8>(0x61 + i % 26), 0xFC, 0x80,
          0x80};
}

// The SEI NAL units of an access unit that carry A/53 captions ("GA94"), start codes removed.
std::vector<std::string> CaptionSeis(const std::string& unit) {
  std::vector<std::string> seis;
  std::vector<size_t> starts;
  for (size_t i = 0; i + 3 <= unit.size(); ++i)
    if (unit[i] == 0 && unit[i + 1] == 0 && unit[i + 2] == 1) starts.push_back(i + 3);
  for (size_t k = 0; k < starts.size(); ++k) {
    size_t end = k + 1 < starts.size() ? starts[k + 1] - 3 : unit.size();
    while (end > starts[k] && unit[end - 1] == 0) --end;  // the next start code's leading zero
    const std::string nal = unit.substr(starts[k], end - starts[k]);
    if (!nal.empty() && (nal[0] & 0x1F) == 6 && nal.find("GA94") != std::string::npos)
      seis.push_back(nal);
  }
  return seis;
}

// Every access unit out of `factory` for 30 small frames, each with its captions attached.
std::vector<Unit> EncodeWithCaptions(const char* factory) {
  GstHarness* h = SmallHarness(factory, {{"threads", "1"}, {"byte-stream", "true"}});
  gst_harness_set_sink_caps_str(h,
                                "video/x-h264,stream-format=byte-stream,alignment=au,profile=high");
  for (int i = 0; i < 30; ++i) {
    GstBuffer* frame = SmallFrame(i);
    const std::vector<guint8> cc = CaptionOf(i);
    gst_buffer_add_video_caption_meta(frame, GST_VIDEO_CAPTION_TYPE_CEA708_RAW, cc.data(),
                                      cc.size());
    EXPECT_EQ(gst_harness_push(h, frame), GST_FLOW_OK);
  }
  EXPECT_TRUE(gst_harness_push_event(h, gst_event_new_eos()));
  std::vector<Unit> units;
  while (GstBuffer* unit = gst_harness_try_pull(h)) {
    GstMapInfo map;
    gst_buffer_map(unit, &map, GST_MAP_READ);
    units.push_back({std::string(reinterpret_cast<const char*>(map.data), map.size),
                     GST_BUFFER_PTS(unit), GST_BUFFER_DTS(unit),
                     !GST_BUFFER_FLAG_IS_SET(unit, GST_BUFFER_FLAG_DELTA_UNIT)});
    gst_buffer_unmap(unit, &map);
    gst_buffer_unref(unit);
  }
  gst_harness_teardown(h);
  return units;
}

// A frame's closed captions come out as x264enc writes them (a live feed's captions go on to the
// viewers): the same A/53 SEI in every access unit, byte for byte.
TEST(X264ElementTest, WritesClosedCaptionsAsX264encDoes) {
  const std::vector<Unit> ours = EncodeWithCaptions(kX264Factory);
  const std::vector<Unit> theirs = EncodeWithCaptions("x264enc");
  ASSERT_EQ(ours.size(), 30u);
  ASSERT_EQ(theirs.size(), ours.size());
  for (size_t i = 0; i < ours.size(); ++i) {
    SCOPED_TRACE(i);
    const std::vector<std::string> seis = CaptionSeis(ours[i].bytes);
    ASSERT_EQ(seis.size(), 1u);
    EXPECT_EQ(seis, CaptionSeis(theirs[i].bytes));
    // The frame's own triplets, after the header (T.35 United States, ATSC, "GA94", cc_data).
    const int frame = static_cast<int>((ours[i].pts - ours[0].pts) * 25 / GST_SECOND);
    const std::vector<guint8> cc = CaptionOf(frame);
    EXPECT_NE(seis[0].find(std::string(cc.begin(), cc.end())), std::string::npos);
  }
}

// And a stream's captions reach the pictures through h264parse and newsreelvideodec (the parser
// reads the SEI, the decoder's base class carries its meta over), once each: x264enc's stream
// (written by GStreamer's element, not ours) decoded, every frame's triplets on its picture.
TEST(X264ElementTest, TheDecoderPassesClosedCaptionsOn) {
  const std::vector<Unit> units = EncodeWithCaptions("x264enc");
  ASSERT_EQ(units.size(), 30u);
  GstHarness* h =
      gst_harness_new_parse((std::string("h264parse ! ") + kVideoDecoderFactory).c_str());
  gst_harness_set_src_caps_str(h, "video/x-h264,stream-format=byte-stream,alignment=au");
  for (const Unit& u : units) {
    GstBuffer* b = gst_buffer_new_memdup(u.bytes.data(), u.bytes.size());
    GST_BUFFER_PTS(b) = u.pts;
    GST_BUFFER_DTS(b) = u.dts;
    if (!u.key) GST_BUFFER_FLAG_SET(b, GST_BUFFER_FLAG_DELTA_UNIT);
    ASSERT_EQ(gst_harness_push(h, b), GST_FLOW_OK);
  }
  ASSERT_TRUE(gst_harness_push_event(h, gst_event_new_eos()));
  int pictures = 0;
  while (GstBuffer* picture = gst_harness_try_pull(h)) {
    SCOPED_TRACE(pictures);
    auto* cc = reinterpret_cast<GstVideoCaptionMeta*>(
        gst_buffer_get_meta(picture, GST_VIDEO_CAPTION_META_API_TYPE));
    EXPECT_NE(cc, nullptr);
    int metas = 0;
    gpointer state = nullptr;
    while (gst_buffer_iterate_meta_filtered(picture, &state, GST_VIDEO_CAPTION_META_API_TYPE))
      ++metas;
    EXPECT_EQ(metas, 1);
    if (cc != nullptr) {
      EXPECT_EQ(cc->caption_type, GST_VIDEO_CAPTION_TYPE_CEA708_RAW);
      const std::vector<guint8> want = CaptionOf(pictures);  // display order
      EXPECT_EQ(std::vector<guint8>(cc->data, cc->data + cc->size), want);
    }
    gst_buffer_unref(picture);
    ++pictures;
  }
  gst_harness_teardown(h);
  EXPECT_EQ(pictures, 30);
}

TEST(X264ElementTest, AnOptionX264DoesNotKnowIsAnError) {
  EnsureGstInit();
  GstHarness* h = gst_harness_new(kX264Factory);
  GstPtr<GstBus> bus(gst_bus_new());
  gst_element_set_bus(h->element, bus.get());
  gst_util_set_object_arg(G_OBJECT(h->element), "option-string", "no-such-option=1");
  gst_harness_set_src_caps_str(h, kSmallCaps);
  EXPECT_NE(gst_harness_push(h, SmallFrame(0)), GST_FLOW_OK);
  MessagePtr error(gst_bus_pop_filtered(bus.get(), GST_MESSAGE_ERROR));
  ASSERT_TRUE(error);
  EXPECT_NE(DescribeGstMessage(error.get()).find("bad x264 options"), std::string::npos)
      << DescribeGstMessage(error.get());
  gst_element_set_bus(h->element, nullptr);
  gst_harness_teardown(h);
}

}  // namespace
}  // namespace newsreel::transcoder
