// StartDtsAligner (vod_pipeline.h) on the timestamps x264enc gives a 12.5 fps rung with its
// default B-pyramid: decode order I0 P4 B2 b1 b3 P8 ..., DTS two frames before PTS.
#include <gtest/gtest.h>

#include <vector>

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
    if (k == 0) EXPECT_EQ(aligned, pts);
    if (k > 0) EXPECT_GT(aligned, last_dts) << "decode timestamps must increase, frame " << k;
    EXPECT_LE(aligned, pts) << "a frame decoded after it is shown, frame " << k;
    if (dts > kStart) EXPECT_EQ(aligned, dts) << "frame " << k << " after the start is untouched";
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

}  // namespace
}  // namespace newsreel::transcoder
