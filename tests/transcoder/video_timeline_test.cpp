// KeepOneVideoTimeline (video_timeline.h) in front of a real videorate at 30 fps, fed the way
// matroskademux feeds a file whose video starts 23 ms after its audio.
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <tuple>
#include <utility>
#include <vector>

#include "transcoder/video_timeline.h"

namespace newsreel::transcoder {
namespace {

constexpr GstClockTime kMs = GST_MSECOND;

class VideoTimelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gst_init(nullptr, nullptr);
    h_ = gst_harness_new("videorate");
    GstPad* sink = gst_element_get_static_pad(h_->element, "sink");
    KeepOneVideoTimeline(sink);
    gst_object_unref(sink);
    gst_harness_push_event(h_, gst_event_new_stream_start("video"));
    GstCaps* caps =
        gst_caps_from_string("video/x-raw,format=GRAY8,width=4,height=4,framerate=30/1");
    gst_harness_push_event(h_, gst_event_new_caps(caps));
    gst_caps_unref(caps);
  }
  void TearDown() override { gst_harness_teardown(h_); }

  void PushSegment(GstClockTime start, GstClockTime time) {
    GstSegment segment;
    gst_segment_init(&segment, GST_FORMAT_TIME);
    segment.start = start;
    segment.time = time;
    segment.position = start;
    ASSERT_TRUE(gst_harness_push_event(h_, gst_event_new_segment(&segment)));
  }

  // A 4x4 frame whose every byte is `picture`, presented at `pts`.
  void PushFrame(guint8 picture, GstClockTime pts) {
    GstBuffer* b = gst_buffer_new_allocate(nullptr, 16, nullptr);
    gst_buffer_memset(b, 0, picture, 16);
    GST_BUFFER_PTS(b) = pts;
    GST_BUFFER_DURATION(b) = 33 * kMs;
    ASSERT_EQ(gst_harness_push(h_, b), GST_FLOW_OK);
  }

  // (output time in ms, picture) of every frame videorate sent, after EOS.
  std::vector<std::pair<GstClockTime, int>> Output() {
    gst_harness_push_event(h_, gst_event_new_eos());
    std::vector<std::pair<GstClockTime, int>> out;
    while (GstBuffer* b = gst_harness_try_pull(h_)) {
      guint8 picture = 0;
      gst_buffer_extract(b, 0, &picture, 1);
      out.emplace_back(GST_BUFFER_PTS(b) / kMs, picture);
      gst_buffer_unref(b);
    }
    return out;
  }

  // Every segment that reached videorate's output.
  std::vector<GstSegment> SegmentsOut() {
    std::vector<GstSegment> out;
    while (GstEvent* e = gst_harness_try_pull_event(h_)) {
      if (GST_EVENT_TYPE(e) == GST_EVENT_SEGMENT) {
        const GstSegment* s = nullptr;
        gst_event_parse_segment(e, &s);
        out.push_back(*s);
      }
      gst_event_unref(e);
    }
    return out;
  }

  GstHarness* h_ = nullptr;
};

using Frames = std::vector<std::pair<GstClockTime, int>>;

TEST_F(VideoTimelineTest, SegmentCorrectedAfterTheFirstFrameKeepsEveryPictureInItsSlot) {
  // matroskademux: a segment from the first video frame, corrected to 0 by the first audio block.
  PushSegment(23 * kMs, 0);
  PushFrame(1, 23 * kMs);
  PushSegment(0, 0);
  PushFrame(2, 56 * kMs);
  PushFrame(3, 90 * kMs);
  PushFrame(4, 123 * kMs);
  // The pictures at 23, 56, 90 and 123 ms, each in the 30 fps slot nearest to it; slot 0 before
  // the first picture shows the first picture.
  const Frames expected = {{0, 1}, {33, 1}, {66, 2}, {100, 3}, {133, 4}};
  EXPECT_EQ(Output(), expected);
  const auto segments = SegmentsOut();
  ASSERT_EQ(segments.size(), 1u) << "videorate must see one segment only";
  EXPECT_EQ(segments[0].start, 0u);
  EXPECT_EQ(segments[0].base, 0u);
}

TEST_F(VideoTimelineTest, FramesAreStampedWithTheirRunningTime) {
  PushSegment(10 * GST_SECOND, 0);  // an edit list: the programme starts 10 s into the track
  PushFrame(1, 10 * GST_SECOND);
  PushFrame(2, 10 * GST_SECOND + 33 * kMs);
  PushFrame(3, 10 * GST_SECOND + 67 * kMs);
  const Frames expected = {{0, 1}, {33, 2}, {66, 3}};
  EXPECT_EQ(Output(), expected);
}

TEST_F(VideoTimelineTest, AOneFrameClipIsNotLost) {
  PushSegment(0, 0);
  PushFrame(7, 0);
  const Frames out = Output();
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.front(), std::make_pair(GstClockTime{0}, 7));
}

TEST_F(VideoTimelineTest, ARefusedFirstFrameIsReportedUpstream) {
  // A second probe, after ours, refuses the first frame that reaches videorate as downstream
  // would when it cannot take it (not negotiated).
  GstPad* sink = gst_element_get_static_pad(h_->element, "sink");
  int seen = 0;
  gst_pad_add_probe(
      sink, GST_PAD_PROBE_TYPE_BUFFER,
      +[](GstPad*, GstPadProbeInfo* info, gpointer seen) noexcept -> GstPadProbeReturn {
        if ((*static_cast<int*>(seen))++ > 0) return GST_PAD_PROBE_OK;
        gst_buffer_unref(GST_PAD_PROBE_INFO_BUFFER(info));
        GST_PAD_PROBE_INFO_DATA(info) = nullptr;
        GST_PAD_PROBE_INFO_FLOW_RETURN(info) = GST_FLOW_NOT_NEGOTIATED;
        return GST_PAD_PROBE_HANDLED;
      },
      &seen, nullptr);
  gst_object_unref(sink);
  PushSegment(0, 0);
  PushFrame(1, 0);  // held: nothing downstream yet
  GstBuffer* second = gst_buffer_new_allocate(nullptr, 16, nullptr);
  GST_BUFFER_PTS(second) = 33 * kMs;
  // The first frame is released ahead of this one and refused: the error comes back here.
  EXPECT_EQ(gst_harness_push(h_, second), GST_FLOW_NOT_NEGOTIATED);
  EXPECT_EQ(seen, 1);
}

// KeepEveryOtherFrame ahead of capssetter at half the rate, as the cellular rung uses them.
TEST(KeepEveryOtherFrameTest, KeepsTheOddFramesByCountWithTwiceTheDuration) {
  gst_init(nullptr, nullptr);
  GstHarness* h = gst_harness_new_parse("capssetter caps=video/x-raw,framerate=25/2");
  GstElement* setter = gst_harness_find_element(h, "capssetter");
  GstPad* sink = gst_element_get_static_pad(setter, "sink");
  KeepEveryOtherFrame(sink);
  gst_object_unref(sink);
  gst_object_unref(setter);
  gst_harness_set_src_caps_str(h, "video/x-raw,format=GRAY8,width=4,height=4,framerate=25/1");
  // Seven frames 40 ms apart, the last one an even-numbered (kept) frame: a clip that ends on
  // its IDR keeps it.
  for (guint8 i = 0; i < 7; ++i) {
    GstBuffer* b = gst_buffer_new_allocate(nullptr, 16, nullptr);
    gst_buffer_memset(b, 0, i, 16);
    GST_BUFFER_PTS(b) = i * 40 * kMs;
    GST_BUFFER_DURATION(b) = 40 * kMs;
    ASSERT_EQ(gst_harness_push(h, b), GST_FLOW_OK);
  }
  gst_harness_push_event(h, gst_event_new_eos());
  std::vector<std::tuple<GstClockTime, GstClockTime, int>> out;
  while (GstBuffer* b = gst_harness_try_pull(h)) {
    guint8 picture = 0;
    gst_buffer_extract(b, 0, &picture, 1);
    out.emplace_back(GST_BUFFER_PTS(b) / kMs, GST_BUFFER_DURATION(b) / kMs, picture);
    gst_buffer_unref(b);
  }
  const std::vector<std::tuple<GstClockTime, GstClockTime, int>> expected = {
      {0, 80, 0}, {80, 80, 2}, {160, 80, 4}, {240, 80, 6}};
  EXPECT_EQ(out, expected);
  GstCaps* caps = gst_pad_get_current_caps(h->sinkpad);
  ASSERT_NE(caps, nullptr);
  gint n = 0;
  gint d = 0;
  ASSERT_TRUE(gst_structure_get_fraction(gst_caps_get_structure(caps, 0), "framerate", &n, &d));
  EXPECT_EQ(n * 2, d * 25) << "the caps say half the rate";
  gst_caps_unref(caps);
  gst_harness_teardown(h);
}

// Closed captions are a byte stream spread over the pictures: the cellular rung's half of the
// frames carries the other half's captions too, each dropped frame's ahead of the next kept one's.
TEST(KeepEveryOtherFrameTest, CarriesADroppedFramesCaptionsToTheNextKeptOne) {
  gst_init(nullptr, nullptr);
  GstHarness* h = gst_harness_new_parse("capssetter caps=video/x-raw,framerate=25/2");
  GstElement* setter = gst_harness_find_element(h, "capssetter");
  GstPad* sink = gst_element_get_static_pad(setter, "sink");
  KeepEveryOtherFrame(sink);
  gst_object_unref(sink);
  gst_object_unref(setter);
  gst_harness_set_src_caps_str(h, "video/x-raw,format=GRAY8,width=4,height=4,framerate=25/1");
  // Frames 0-5, each with one triplet naming it, but frame 3 without captions.
  for (guint8 i = 0; i < 6; ++i) {
    GstBuffer* b = gst_buffer_new_allocate(nullptr, 16, nullptr);
    GST_BUFFER_PTS(b) = i * 40 * kMs;
    GST_BUFFER_DURATION(b) = 40 * kMs;
    const guint8 cc[] = {0xFC, i, i};
    if (i != 3) gst_buffer_add_video_caption_meta(b, GST_VIDEO_CAPTION_TYPE_CEA708_RAW, cc, 3);
    ASSERT_EQ(gst_harness_push(h, b), GST_FLOW_OK);
  }
  std::vector<std::vector<guint8>> out;
  while (GstBuffer* b = gst_harness_try_pull(h)) {
    int metas = 0;
    std::vector<guint8> bytes;
    gpointer state = nullptr;
    while (GstMeta* m =
               gst_buffer_iterate_meta_filtered(b, &state, GST_VIDEO_CAPTION_META_API_TYPE)) {
      const auto* cc = reinterpret_cast<const GstVideoCaptionMeta*>(m);
      bytes.assign(cc->data, cc->data + cc->size);
      ++metas;
    }
    EXPECT_EQ(metas, 1);
    out.push_back(bytes);
    gst_buffer_unref(b);
  }
  const std::vector<std::vector<guint8>> expected = {
      {0xFC, 0, 0}, {0xFC, 1, 1, 0xFC, 2, 2}, {0xFC, 4, 4}};
  EXPECT_EQ(out, expected);
  gst_harness_teardown(h);
}

}  // namespace
}  // namespace newsreel::transcoder
