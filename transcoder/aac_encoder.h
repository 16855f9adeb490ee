#pragma once
// newsreelaacenc: an AAC-LC encoder element over libavcodec's native AAC encoder, with
// libavcodec's own settings: the same packets as ffmpeg's `-c:a aac` from the same samples.
// Frames and timestamps are handled as GStreamer's avenc_aac handles them (frames of the
// encoder's size, each packet finished with its sample count, the priming samples it skips as
// clipping metadata). avenc_aac differs in one setting: GStreamer shows the encoder's
// three-way M/S stereo option ("auto") as a boolean, so avenc_aac forces M/S on every band.
// And it comes from GStreamer's libav plugin, which allocates two spare codec contexts per
// element (~1.1 MB for AAC) and links libavformat and libavfilter with ~40 more libraries
// (docs/performance.md, "What GStreamer's libav plugin costs"); this element needs libavcodec.
//
// Sink: audio/x-raw, F32LE interleaved, 1 or 2 channels, one of AAC's sampling rates.
// Source: audio/mpeg, mpegversion 4, stream-format raw, with codec_data (aacparse makes ADTS).
// Property: bitrate (bit/s, an int as avenc_aac's; default 128000).

namespace newsreel::transcoder {

inline constexpr char kAacEncoderFactory[] = "newsreelaacenc";

// Registers the element in this process (once; EnsureGstInit calls it).
void RegisterAacEncoder();

}  // namespace newsreel::transcoder
