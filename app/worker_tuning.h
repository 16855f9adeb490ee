#pragma once
// How a transcoding process (`newsreel transcode`, `newsreel live`) sets up its own memory
// before its first pipeline. Figures: docs/performance.md, "Transparent huge pages off".

namespace newsreel::app {

// Two malloc arenas instead of one per streaming thread, and no transparent huge pages for this
// process. Call it first, before any thread starts.
//
// Arenas: GStreamer's many streaming threads would each get one; the frames they free, scattered
// over them, kept ~15 % more memory resident than the live data.
// Huge pages: x264 asks for them for its frames (madvise). The kernel then zeroes 2 MB at each
// first touch and, with memory fragmented, compacts it inside the page fault (a 10 s 1080p
// ladder: 0.80-1.03 s of system time with them, 0.36-0.40 s without). Kernels before 3.15
// refuse the request and nothing changes.
void TuneTranscodingProcess();

}  // namespace newsreel::app
