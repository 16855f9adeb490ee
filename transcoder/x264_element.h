#pragma once
// newsreelx264: an H.264 encoder element over libx264 that lets go of each input frame as soon
// as x264 has copied it. GStreamer's x264enc keeps every frame mapped until its encoded picture
// leaves the encoder (x264's lookahead, B-frames and frame threads: about 15 frames per rung,
// 47 MB at 1080p), while x264 took its own copy at once; ffmpeg frees the frame at that point.
// Everything else follows x264enc, so the same settings give the same stream: the speed preset
// and tune, then the option string, then the properties below, ABR with the VBV max rate at the
// bitrate, annex-B with an access unit delimiter, SPS/PPS before every IDR, the profile the
// downstream caps ask for, PTS offset by 1000 hours so that the first DTS is not negative, and a
// frame's closed captions (GstVideoCaptionMeta, CEA-708 raw) written as A/53 SEI.
//
// Sink: I420 in system memory. Source: video/x-h264, byte-stream, one access unit per buffer.
// Properties (x264enc's names): speed-preset, tune, bitrate (kbit/s), vbv-buf-capacity (ms),
// key-int-max, byte-stream (must be true), threads, sync-lookahead, bframes, rc-lookahead,
// b-pyramid, option-string.

namespace newsreel::transcoder {

inline constexpr char kX264Factory[] = "newsreelx264";

// Registers the element in this process (once; EnsureGstInit calls it).
void RegisterX264Element();

}  // namespace newsreel::transcoder
