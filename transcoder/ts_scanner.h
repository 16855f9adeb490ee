#pragma once
// Reads an MPEG-TS segment we wrote and reports what the playlists need: where each access unit
// starts, which are IDR frames, presentation times, the H.264 SPS profile/level bytes and the
// AAC object type. Only the subset of MPEG-TS that mpegtsmux produces is understood (one
// program, H.264 video 0x1B and ADTS AAC audio 0x0F); anything else is skipped.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace newsreel::transcoder {

struct TsAccessUnit {
  int64_t offset = 0;  // byte offset of the first TS packet of this PES
  int64_t length = 0;  // bytes up to the next PES start of the same stream (or end of file)
  int64_t pts = -1;    // 90 kHz, -1 when absent
  bool idr = false;    // video only: contains an IDR slice (NAL type 5)
  int frames = 0;      // audio only: ADTS frames in this PES
};

struct TsSegmentScan {
  int64_t size_bytes = 0;
  std::vector<TsAccessUnit> video;  // in file (decode) order
  std::vector<TsAccessUnit> audio;
  int audio_frames = 0;  // ADTS frames seen in total
  int audio_sample_rate = 0;
  int aac_object_type = 0;                    // 2 = AAC-LC; 0 when no audio
  std::optional<std::array<uint8_t, 3>> sps;  // profile_idc, constraint flags, level_idc
  int64_t psi_end = 0;  // end offset of the PAT+PMT run at the start of the file

  // Smallest and largest video PTS (presentation order), -1 when none.
  int64_t first_video_pts() const;
  int64_t last_video_pts() const;
  int64_t first_audio_pts() const;
  // End of the last audio frame (90 kHz), -1 when there is no audio.
  int64_t audio_end_pts() const;
};

// Bytes in one MPEG-TS packet.
inline constexpr size_t kTsPacketBytes = 188;

// The whole file, for scanning (segments are a few MB at most).
Result<std::vector<uint8_t>> ReadTsFile(const std::string& path);
Result<TsSegmentScan> ScanTsFile(const std::string& path);
Result<TsSegmentScan> ScanTsBytes(const std::vector<uint8_t>& bytes);

// "avc1.64001f" from SPS bytes.
std::string AvcCodecString(const std::array<uint8_t, 3>& sps);

}  // namespace newsreel::transcoder
