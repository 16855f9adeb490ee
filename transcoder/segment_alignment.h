#pragma once
// Every video rendition cut at the same instants, so that renditions are interchangeable at
// every segment boundary (DESIGN.md, "HLS output").
//
// Why: splitmuxsink (1.22) checks a finished GOP against max-size-time only once every stream
// of the file has reached the GOP's end. When the video ends while the audio has not yet caught
// up with the last IDR, splitmuxsink takes the end for the GOP's end and lets the last GOP join
// the segment before it, unchecked. Which rendition that happens to depends on thread timing: a
// clip ending three frames after a segment cut came out as two segments in one rung and one in
// the other. splitmuxsink only ever misses a cut, never adds one, so each rendition is cut again
// wherever another rendition was cut, at its own IDR frame there. A very short last segment is
// then joined to the one before it, in every rendition alike.

#include <cstdint>
#include <filesystem>
#include <vector>

#include "common/status.h"

namespace newsreel::transcoder {

// The segment files of one rendition folder (*.ts), in name order.
std::vector<std::filesystem::path> ListSegmentFiles(const std::filesystem::path& dir);

// `rendition_dirs` each hold seg_00001.ts, seg_00002.ts, ... of one video rendition, all of one
// timeline (the folders may also be one only).
// 1. A segment that spans an instant where another rendition starts a segment (measured from
//    each rendition's first frame, within `tolerance` 90 kHz ticks) is cut in two at its IDR
//    frame there: the file keeps what precedes the IDR, and a new file, opened with the
//    segment's PAT/PMT, takes the rest; later files are renumbered.
// 2. Then, when the last segment of every rendition lasts less than `min_last` ticks (from its
//    first frame to the end of its last video frame, `frame_ticks` long, or of its audio,
//    whichever is later, in any rendition), it is appended to the segment before it, its PAT/PMT
//    dropped and its continuity counters carried on. Such a segment is mostly its IDR frame: its
//    bit rate would set the variant's peak BANDWIDTH, by which players choose variants (a 0.16 s
//    last segment of the cellular rung measured 235 kb/s, over the 192 kb/s it must stay under).
// Fails, naming the rendition and the instant, when a rendition has no IDR frame where another
// was cut, or when its files are not numbered 1, 2, 3... Files are rewritten in place: on
// failure the folders are left half done, to be thrown away with the rest of the staging folder.
Status AlignSegmentCuts(const std::vector<std::filesystem::path>& rendition_dirs,
                        int64_t frame_ticks, int64_t tolerance = 90, int64_t min_last = 90000);

}  // namespace newsreel::transcoder
