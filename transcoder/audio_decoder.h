#pragma once
// newsreelaudiodec: an AAC and MPEG audio (layers 1-3, MP3) decoder element over libavcodec's
// float decoders, the ones ffmpeg picks, ranked above GStreamer's avdec_aac (primary) and
// avdec_mp3/mpg123audiodec (marginal) so that every decodebin of the process plugs it. Like
// video_decoder.h, it spares a transcode GStreamer's libav plugin and the ~40 libraries that
// plugin links (docs/performance.md).
//
// Sink: parsed frames (aacparse, mpegaudioparse): AAC raw with codec_data or ADTS; MPEG-1/2
// audio layers 1, 2 and 3.
// Source: F32LE interleaved at the stream's rate, in GStreamer's channel order (the channels
// of libavcodec's layout reordered when the two orders differ; unpositioned when the stream
// names no layout).
// A frame libavcodec cannot decode is logged (warning) and counted as decoded with no output:
// the stream goes on, as it does in ffmpeg and avdec.

namespace newsreel::transcoder {

inline constexpr char kAudioDecoderFactory[] = "newsreelaudiodec";

// Registers the element in this process at rank primary + 1 (once; EnsureGstInit calls it).
void RegisterAudioDecoder();

}  // namespace newsreel::transcoder
