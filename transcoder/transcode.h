#pragma once
// `newsreel transcode`: one input file in, an aligned adaptive HLS ladder out.
// Runs demuxers and decoders: call it only in a worker process, never in the server.

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "transcoder/ladder.h"

namespace newsreel::transcoder {

struct TranscodeProgress {
  std::string phase;        // "encoding", "packaging", "done"
  double percent = 0;       // 0..100
  double fps = 0;           // video frames per second of wall time
  double speed = 0;         // media seconds per wall second
  double eta_seconds = -1;  // -1 while unknown
  double position_seconds = 0;
  double duration_seconds = 0;
  // Progressive publishing: the output folder holds a playable part of the video (every rung
  // has at least its first segment, and the master playlist lists them all).
  bool playable = false;
};

class EncoderProver;
class HardwareSessions;

struct TranscodeOptions {
  // "auto": the best encoder that passed its trial (x264 needs none); when it fails mid-job the
  // whole job runs again on the next one (x264 last). A name forces that encoder, with no fallback.
  std::string encoder = "auto";
  // Known and proven encoders; null: EncoderProver::Default(). Must outlive the call.
  EncoderProver* encoders = nullptr;
  // Hardware session cap (one session per rung); null: HardwareSessions::Default().
  HardwareSessions* sessions = nullptr;
  LadderOptions ladder;
  bool force = false;  // replace an existing, non-empty output folder
  // Publish segments into the output folder while the transcode runs (progressive.h,
  // docs/transcoding.md): only when the output folder is empty or absent and the source has
  // video; otherwise (a retry over a partial output, a new transcode over a finished one) the
  // output is made aside and swapped in at the end, as without this flag.
  bool publish_progressively = false;
  std::chrono::seconds stall_timeout{120};
  // Called on the transcoding thread, at most about twice a second, and once with "done".
  std::function<void(const TranscodeProgress&)> on_progress;
  // When not null, set on failure to whether the encoder (not the input) was to blame: the last
  // encoder tried failed mid-job, wedged, or could not get its hardware sessions. Another
  // encoder may then succeed where this run did not.
  bool* encoder_failed = nullptr;
};

struct TranscodeResult {
  nlohmann::json manifest;  // also written to OUTDIR/manifest.json
  std::vector<std::string> warnings;
};

// Probes `input`, picks the ladder, runs the pipeline into a staging folder beside `outdir`, writes
// playlists, poster, storyboard and manifest.json there, then renames the staging folder to
// `outdir` in one step (an existing `outdir` is exchanged with it atomically, then removed).
// With publish_progressively, final segments also appear in `outdir` while the job runs. On failure
// nothing is left under `outdir`'s name (an existing output is only replaced when `force` is set,
// and only after the new one is complete).
Result<TranscodeResult> Transcode(const std::string& input, const std::string& outdir,
                                  const TranscodeOptions& options);

}  // namespace newsreel::transcoder
