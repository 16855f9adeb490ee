#pragma once
// Cuts one continuous MPEG-TS file (as mpegtsmux wrote it) into segments at given presentation
// times, at PES boundaries of its first elementary stream (audio or video). Each segment after
// the first is prefixed with the file's leading PAT/PMT so that it can be read on its own.
// Used for the audio-only rendition, whose cuts must follow the video renditions' cuts.

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace newsreel::transcoder {

// Writes `dir`/seg_00001.ts, seg_00002.ts, ...: segment i holds the access units whose PTS is at
// or after cut_pts[i] (less `tolerance` ticks) and before cut_pts[i + 1]; cut_pts[0] is ignored
// (everything before cut_pts[1] goes into the first segment). Returns the number of segments
// written (a cut that no access unit follows yields none). Times are 90 kHz ticks.
Result<int> SliceTsByPts(const std::string& input, const std::vector<int64_t>& cut_pts,
                         const std::string& dir, int64_t tolerance = 90);

// ffmpeg (and so ffprobe) recognises MPEG-TS by its content with confidence only from 11 packets
// on (libavformat/mpegts.c, mpegts_probe: fewer than 10 x 204 bytes score 2 of 100). A shorter
// segment whose last packet ends in three or more whole ADTS frames is taken for raw ADTS (score
// 25): a one-frame clip's audio segment, 3 packets, read as "aac Main, 0 Hz" from the PAT's
// stuffing on, and failed to decode. ffmpeg's own HLS muxer writes such segments too.
inline constexpr size_t kTsPacketsRecognizedByContent = 11;

// Appends one null packet (PID 0x1FFF, which every demuxer discards) to `ts`, whole 188-byte
// packets, when it holds fewer than kTsPacketsRecognizedByContent packets and does not already
// end with a null packet: the segment then never ends in elementary-stream bytes. Returns
// whether it appended one.
bool EndShortTsWithNullPacket(std::vector<uint8_t>& ts);
// The same on a file, rewritten in place when it changes.
Status EndShortTsFileWithNullPacket(const std::string& path);

}  // namespace newsreel::transcoder
