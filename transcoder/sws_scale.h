#pragma once
// newsreelswscale: a GStreamer element that resizes I420 frames with libswscale's bicubic filter,
// the scaler of ffmpeg's own ladders. GStreamer's videoscale could not match it at the HD rungs
// (SSIM after x264, RGB: the synthetic 720p rung 0.002 below ffmpeg's with any method or
// sharpness of videoscale) and took more CPU for the same frames (docs/performance.md).
//
// Sink and source are I420 in system memory at any size; the colour space is left as it is (no
// matrix or range conversion), and equal sizes pass frames through untouched.

namespace newsreel::transcoder {

inline constexpr char kSwsScaleFactory[] = "newsreelswscale";

// Registers the element in this process (once; EnsureGstInit calls it).
void RegisterSwsScale();

}  // namespace newsreel::transcoder
