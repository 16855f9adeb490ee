#pragma once
// A small writer of fragmented MP4 (CMAF-style, ISO/IEC 14496-12 and 23000-19) for the live
// worker's low-latency output: an init segment (ftyp + moov with one H.264 track and, optionally,
// one AAC track) and fragments (moof + mdat) made of access units the caller has already cut.
// Ours rather than mp4mux's fragment mode, so that what lands in each part (which frames, which
// decode times) is decided by the live pipeline and nothing else. Pure: no files, no GStreamer.
//
// Track 1 is video (timescale kCmafVideoTimescale), track 2 audio (timescale: its sample rate).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace newsreel::transcoder {

inline constexpr uint32_t kCmafVideoTrack = 1;
inline constexpr uint32_t kCmafAudioTrack = 2;
inline constexpr uint32_t kCmafVideoTimescale = 90000;

struct CmafVideoConfig {
  int width = 0;
  int height = 0;
  std::string sps;  // one SPS NAL unit, without a start code
  std::string pps;  // one PPS NAL unit, without a start code

  bool operator==(const CmafVideoConfig&) const = default;
};

struct CmafAudioConfig {
  int sample_rate = 48000;
  int channels = 2;
  std::string asc;  // AudioSpecificConfig (2 bytes for AAC-LC)

  bool operator==(const CmafAudioConfig&) const = default;
};

// ftyp + moov: the init segment every part and segment of a rung is decoded with.
std::string CmafInitSegment(const CmafVideoConfig& video,
                            const std::optional<CmafAudioConfig>& audio);

struct CmafSample {
  uint32_t size = 0;               // bytes in CmafRun::data
  uint32_t duration = 0;           // in the track's timescale
  bool sync = false;               // a keyframe (IDR); every audio frame is one
  int32_t composition_offset = 0;  // PTS - DTS, in the track's timescale

  bool operator==(const CmafSample&) const = default;
};

// Samples of one track, back to back, starting at `base_decode_time` (tfdt).
struct CmafRun {
  uint32_t track_id = kCmafVideoTrack;
  uint64_t base_decode_time = 0;
  std::vector<CmafSample> samples;
  std::string data;  // the samples' bytes, in order; sizes add up to data.size()
};

// One moof (mfhd with `sequence_number`, one traf: tfhd, tfdt, trun) and its mdat. An empty run
// gives an empty string.
std::string CmafFragment(uint32_t sequence_number, const CmafRun& run);

// An H.264 access unit in Annex B form (start codes), as h264parse writes for MPEG-TS, turned
// into an MP4 sample: each NAL unit with a 4-byte length, access unit delimiters left out. The
// parameter sets are copied out for the init segment and also kept in the sample: a segment then
// decodes even with an init segment of another run (the slate's, after a discontinuity), which
// decoders of 'avc1' accept (Chromium, ffmpeg, hls.js).
struct AvcSample {
  std::string data;  // length-prefixed NAL units
  std::string sps;   // the access unit's SPS, when it carries one
  std::string pps;
  bool idr = false;  // holds an IDR slice
};
AvcSample AvcSampleFromAnnexB(std::string_view annex_b);

// Splits ADTS bytes (one or more frames, as AacBundle gathers them) into raw AAC frames, and
// fills `config` from the first header. kInvalidArgument on a broken header or a cut frame.
Result<std::vector<std::string_view>> SplitAdtsFrames(std::string_view adts,
                                                      CmafAudioConfig* config);

// "avc1.64001f" from an SPS NAL unit (its profile, constraint flags and level bytes).
std::string AvcCodecsOfSps(const std::string& sps);

}  // namespace newsreel::transcoder
