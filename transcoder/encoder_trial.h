#pragma once
// Detection with proof: an encoder counts only once a short trial encode
// (videotestsrc → encoder bin → parser, then libavcodec's decoder) has produced a valid stream
// within a time limit. EncoderProver runs each trial at most once and keeps the result for its
// lifetime (EncoderProver::Default() for the process).

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "transcoder/encoder_registry.h"

namespace newsreel::transcoder {

struct TrialOptions {
  // Two GOPs: enough to see an IDR repeat where it was asked for. A job whose encoder needs a
  // trial pays for it before its first frame (30 frames cost ~70 ms more CPU than 8 with x264).
  int frames = 8;
  int gop_frames = 4;
  int width = 320;
  int height = 240;
  // Upper bound on the whole trial (start, encode, drain). A hanging encoder fails at this point.
  std::chrono::milliseconds timeout{10000};
};

// Runs one trial encode of `encoder`. OK when the stream parses, decodes to `frames` frames,
// has an IDR at frame 0 and then exactly every gop_frames, and every IDR carries its parameter
// sets (so every HLS segment decodes on its own). Otherwise the status says what was wrong;
// kTimeout when it did not finish in time.
Status TrialEncode(const VideoEncoder& encoder, const TrialOptions& options = {});

// What `newsreel encoders` prints for one encoder.
struct EncoderReport {
  std::string name;
  std::string element;
  std::string codec;  // "h264", "h265"
  bool hardware = false;
  bool present = false;
  bool proven = false;
  std::string error;  // why it is not proven; empty when proven or absent
};

class EncoderProver {
 public:
  // `registry` must outlive the prover.
  explicit EncoderProver(const EncoderRegistry& registry, TrialOptions options = {});

  // The process-wide prover over EncoderRegistry::Default().
  static EncoderProver& Default();

  const EncoderRegistry& registry() const { return registry_; }

  // Presence and trial result of one encoder; the trial runs on first use only. Thread-safe
  // (trials run one at a time).
  EncoderReport Check(const VideoEncoder& encoder);
  // Every encoder of the registry, in priority order (runs the trials still missing).
  std::vector<EncoderReport> Survey();

  // The encoders to try for a job, best first, each present and proven (or present, for one
  // that needs no trial: VideoEncoder::NeedsTrial):
  //  "auto": every proven H.264 encoder in priority order, trials run lazily as the caller
  //          walks the list; empty list is an error.
  //  a name: just that one; an error that says why when it is unknown, absent or fails its trial.
  // `next` is called with each candidate in turn until it returns true.
  Status ForEachCandidate(const std::string& choice,
                          const std::function<bool(const VideoEncoder&)>& next);

  // The encoder "auto" picks now, or an error.
  Result<const VideoEncoder*> Auto();

 private:
  // Check() for an encoder that needs a trial; for one that does not, the result of a trial
  // that already ran, or else presence alone.
  EncoderReport Candidate(const VideoEncoder& encoder);

  const EncoderRegistry& registry_;
  TrialOptions options_;
  std::mutex mu_;                                 // guards results_ and serialises trials
  std::map<std::string, EncoderReport> results_;  // by encoder name
};

}  // namespace newsreel::transcoder
