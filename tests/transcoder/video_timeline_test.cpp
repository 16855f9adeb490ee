// KeepOneVideoTimeline (video_timeline.h) in front of a real videorate at 30 fps, fed the way
// matroskademux feeds a file whose video starts 23 ms after its audio.
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <string>
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

// KeepEveryOtherFrame ahead of capssetter at half the rate, as the cellular rung uses them, fed
// 4x4 frames at 25 fps.
GstHarness* HalfRateHarness() {
  gst_init(nullptr, nullptr);
  GstHarness* h = gst_harness_new_parse("capssetter caps=video/x-raw,framerate=25/2");
  GstElement* setter = gst_harness_find_element(h, "capssetter");
  GstPad* sink = gst_element_get_static_pad(setter, "sink");
  KeepEveryOtherFrame(sink);
  gst_object_unref(sink);
  gst_object_unref(setter);
  gst_harness_set_src_caps_str(h, "video/x-raw,format=GRAY8,width=4,height=4,framerate=25/1");
  return h;
}

TEST(KeepEveryOtherFrameTest, KeepsTheOddFramesByCountWithTwiceTheDuration) {
  GstHarness* h = HalfRateHarness();
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

// The caption bytes (CEA-708 raw) on each buffer `h` gives out, one meta at most each.
std::vector<std::vector<guint8>> PullCaptions(GstHarness* h) {
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
    EXPECT_LE(metas, 1);
    out.push_back(bytes);
    gst_buffer_unref(b);
  }
  return out;
}

// Frame `i` of a 25 fps stream into `h`, with `cc` (cc_data triplets) as its captions if any.
void PushCaptionedFrame(GstHarness* h, guint8 i, const std::vector<guint8>& cc) {
  GstBuffer* b = gst_buffer_new_allocate(nullptr, 16, nullptr);
  GST_BUFFER_PTS(b) = i * 40 * kMs;
  GST_BUFFER_DURATION(b) = 40 * kMs;
  if (!cc.empty())
    gst_buffer_add_video_caption_meta(b, GST_VIDEO_CAPTION_TYPE_CEA708_RAW, cc.data(), cc.size());
  EXPECT_EQ(gst_harness_push(h, b), GST_FLOW_OK);
}

// Closed captions are a byte stream spread over the pictures: the cellular rung's half of the
// frames carries the other half's captions too, each dropped frame's ahead of the next kept one's.
TEST(KeepEveryOtherFrameTest, CarriesADroppedFramesCaptionsToTheNextKeptOne) {
  GstHarness* h = HalfRateHarness();
  // Frames 0-5, each with one triplet naming it, but frame 3 without captions.
  for (guint8 i = 0; i < 6; ++i)
    PushCaptionedFrame(h, i, i == 3 ? std::vector<guint8>{} : std::vector<guint8>{0xFC, i, i});
  const std::vector<std::vector<guint8>> out = PullCaptions(h);
  const std::vector<std::vector<guint8>> expected = {
      {0xFC, 0, 0}, {0xFC, 1, 1, 0xFC, 2, 2}, {0xFC, 4, 4}};
  EXPECT_EQ(out, expected);
  gst_harness_teardown(h);
}

// videorate from `in_fps` to `out_fps` with CarryCaptionsThrough, fed 1 s of 4x4 frames, frame i
// with the one triplet {0xFC, i, i}: the caption bytes of each frame that comes out.
std::vector<std::vector<guint8>> ThroughVideorate(int in_fps, int out_fps) {
  gst_init(nullptr, nullptr);
  GstHarness* h = gst_harness_new_parse(
      ("videorate ! capsfilter caps=video/x-raw,framerate=" + std::to_string(out_fps) + "/1")
          .c_str());
  GstElement* rate = gst_harness_find_element(h, "videorate");
  CarryCaptionsThrough(rate);
  gst_object_unref(rate);
  gst_harness_set_src_caps_str(
      h, ("video/x-raw,format=GRAY8,width=4,height=4,framerate=" + std::to_string(in_fps) + "/1")
             .c_str());
  for (int i = 0; i < in_fps; ++i) {
    GstBuffer* b = gst_buffer_new_allocate(nullptr, 16, nullptr);
    GST_BUFFER_PTS(b) = i * GST_SECOND / in_fps;
    GST_BUFFER_DURATION(b) = GST_SECOND / in_fps;
    const guint8 cc[] = {0xFC, static_cast<guint8>(i), static_cast<guint8>(i)};
    gst_buffer_add_video_caption_meta(b, GST_VIDEO_CAPTION_TYPE_CEA708_RAW, cc, 3);
    EXPECT_EQ(gst_harness_push(h, b), GST_FLOW_OK);
  }
  gst_harness_push_event(h, gst_event_new_eos());
  std::vector<std::vector<guint8>> out = PullCaptions(h);
  gst_harness_teardown(h);
  return out;
}

// Every caption byte that went in, once and in order: `out` concatenated is {0xFC, i, i} for i
// from 0 to n - 1, at least the first `at_least` of them.
void ExpectEveryTripletOnce(const std::vector<std::vector<guint8>>& out, int n, int at_least) {
  std::vector<guint8> all;
  for (const auto& bytes : out) all.insert(all.end(), bytes.begin(), bytes.end());
  ASSERT_EQ(all.size() % 3, 0u);
  const int got = static_cast<int>(all.size() / 3);
  EXPECT_GE(got, at_least);
  EXPECT_LE(got, n);
  for (int i = 0; i < got; ++i) {
    const std::vector<guint8> want = {0xFC, static_cast<guint8>(i), static_cast<guint8>(i)};
    EXPECT_EQ(std::vector<guint8>(all.begin() + 3 * i, all.begin() + 3 * i + 3), want) << i;
  }
}

// Halving 50 fps to 25, as the ladder does for 50/60 fps sources, keeps the dropped frames'
// captions; videorate alone dropped them with their frames.
TEST(CarryCaptionsThroughTest, HalvingTheRateKeepsEveryCaption) {
  const auto out = ThroughVideorate(50, 25);
  ASSERT_GE(out.size(), 24u);
  ExpectEveryTripletOnce(out, 50, 48);
}

// Filling gaps (12 fps to 25) repeats frames, not their captions.
TEST(CarryCaptionsThroughTest, ARepeatedFrameDoesNotRepeatItsCaptions) {
  const auto out = ThroughVideorate(12, 25);
  ASSERT_GE(out.size(), 20u);
  ExpectEveryTripletOnce(out, 12, 11);
  int empty = 0;
  for (const auto& bytes : out) empty += bytes.empty() ? 1 : 0;
  EXPECT_GT(empty, 10);  // the repeats carry none
}

// Two frames' captions in one picture can exceed the 31 triplets A/53 allows: a kept frame with
// its dropped predecessor, 40 triplets of which 18 padding, become 22, CEA-608's ahead of the
// DTVCC ones.
TEST(KeepEveryOtherFrameTest, MergedCaptionsDropPaddingBeyondThirtyOneTriplets) {
  GstHarness* h = HalfRateHarness();
  for (guint8 i = 0; i < 3; ++i) {
    std::vector<guint8> cc;
    for (int k = 0; k < 10; ++k) cc.insert(cc.end(), {0xFE, i, 0x01});
    for (int k = 0; k < 9; ++k) cc.insert(cc.end(), {0xFA, 0x00, 0x00});
    cc.insert(cc.end(), {0xFC, static_cast<guint8>(0x41 + i), 0x80});
    PushCaptionedFrame(h, i, cc);
  }
  const auto out = PullCaptions(h);
  gst_harness_teardown(h);
  ASSERT_EQ(out.size(), 2u);
  const std::vector<guint8>& merged = out[1];  // frame 1's captions, then frame 2's
  ASSERT_EQ(merged.size(), 22u * 3);
  EXPECT_EQ(merged[0], 0xFC);
  EXPECT_EQ(merged[1], 0x42);  // frame 1's 608 pair, then frame 2's
  EXPECT_EQ(merged[3], 0xFC);
  EXPECT_EQ(merged[4], 0x43);
  for (size_t k = 6; k < merged.size(); k += 3) EXPECT_EQ(merged[k], 0xFE) << k;  // no padding
}

}  // namespace
}  // namespace newsreel::transcoder
