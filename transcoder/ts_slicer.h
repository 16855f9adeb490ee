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

}  // namespace newsreel::transcoder
