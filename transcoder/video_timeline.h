#pragma once
// One timeline for the decoded video before videorate: a single TIME segment [0, ∞) downstream
// and every frame stamped with its running time in the segment it belongs to.
//
// Why: videorate takes every new segment for a new timeline. It closes the old one by pushing
// the frame it holds once, forgets it, and fills the new grid from the new segment's start with
// the next frame. matroskademux starts a file whose video begins after its audio (hevc_10bit.mkv:
// video at 23 ms, audio at 0) with a segment from the first video frame (start 23 ms, time 0),
// then, on the first earlier audio block, corrects it to start 0. videorate thus lost the first
// picture for slot 1 and showed the second one in slots 0 to 2: one slot early and twice.
//
// The first frame is held until the next frame or a non-segment event: a demuxer that corrects
// its segment does so before it sends anything else, and the corrected segment is the one that
// places the first frame against the audio (23 ms, not 0). Later frames are stamped against the
// segment current when they arrive. A frame outside its segment is dropped, as a sink would.
// Non-TIME segments and rates other than 1 are passed through untouched (never met in VOD).

#include <gst/gst.h>

namespace newsreel::transcoder {

// Adds the probe to `pad`, videorate's sink pad, before data flows. The pad owns the probe's
// state and frees it (with a frame still held) when the probe is removed or the pad finalized.
// Only the pad's streaming thread runs the probe.
void KeepOneVideoTimeline(GstPad* pad);

// Halves a constant-rate stream by count: the 1st, 3rd, 5th... frame pass with their duration
// doubled, the others are dropped. For the cellular rung, ahead of its scaler (half the scaling):
// its IDRs (every gop_frames/2 of its frames) then fall on the other rungs' IDR instants, and it
// keeps the shared stream's last frame whenever that frame's index is even. videorate decides by
// timestamps instead; ahead of the scaler it made GOPs of 29 and 31 frames, and at EOS it drops
// the last frame unless a whole output frame fits in it (a clip ending on an IDR lost it).
// A dropped frame's closed captions (GstVideoCaptionMeta, CEA-708 raw) go ahead of the next kept
// frame's own, in one meta. A capssetter after this relabels the frame rate. Adds the probe to
// `pad` before data flows; a flush restarts the count. The pad owns the probe's state; only its
// streaming thread runs it.
void KeepEveryOtherFrame(GstPad* pad);

// Closed captions through a frame-rate converter (`element`: videorate, with "sink" and "src"
// pads): every frame that comes out carries the caption bytes (GstVideoCaptionMeta, CEA-708 raw)
// of the frames that went in up to its timestamp and have not gone out yet (its own, and those
// dropped since the last), so that halving 50/60 fps to 25/30 keeps the whole caption stream and
// a repeated frame does not repeat it. A caption is a byte
// stream spread over the pictures: losing half of it, or repeating some, garbles every line.
// At most 8 frames' captions wait: beyond that the oldest go out with the next frame whatever its
// timestamp. Adds probes to both pads before data flows; they own their shared state.
void CarryCaptionsThrough(GstElement* element);

}  // namespace newsreel::transcoder
