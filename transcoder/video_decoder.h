#pragma once
// newsreelvideodec: an H.264 and HEVC decoder element over libavcodec, ranked above GStreamer's
// avdec_h264/avdec_h265 (the same libavcodec decoders) so that every decodebin of the process
// plugs it. The pictures, timestamps and caps are avdec's: the picture copied out of libav's
// frame into a buffer of the downstream pool (avdec's "direct-rendering" off, as
// TuneVideoDecoders sets it), the colorimetry, chroma siting, interlacing, frame rate and pixel
// aspect ratio taken from the parser's caps where it gives them and from the decoder where not.
//
// Why not avdec: GStreamer's libav plugin links libavformat and libavfilter with ~40 more
// libraries. Loading it costs a transcode ~18-25 MB of peak memory and ~0.1 s of start-up
// (docs/performance.md, "What GStreamer's libav plugin costs"); this element needs libavcodec.
//
// Sink: parsed access units (h264parse, h265parse): H.264 as avc or byte-stream, HEVC as hvc1,
// hev1 or byte-stream.
// Source: raw video in the decoder's own layout (I420, Y42B, Y444, their 10- and 12-bit forms,
// NV12, GRAY8, GBR); a pixel format GStreamer has no name for is refused with not-negotiated.
// Threads: the max-threads property, or DecoderThreads(this machine's cores) when it is 0 (the
// default); frame and slice threading; slice only when upstream is live, as avdec does.
// Closed captions: h264parse/h265parse put a stream's A/53 captions on each access unit as a
// GstVideoCaptionMeta, and the decoder base class carries it to the picture.
// Input libavcodec cannot decode is logged (warning) and its frames are released; the stream
// goes on with the next picture that decodes, as ffmpeg and avdec go on.

namespace newsreel::transcoder {

inline constexpr char kVideoDecoderFactory[] = "newsreelvideodec";

// Registers the element in this process at rank primary + 1 (once; EnsureGstInit calls it).
void RegisterVideoDecoder();

}  // namespace newsreel::transcoder
