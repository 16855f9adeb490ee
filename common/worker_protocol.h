#pragma once
// The protocol between the job supervisor (in `newsreel serve`) and its worker processes
// (`newsreel transcode`, later `newsreel live`). Both sides include this header; docs/workers.md
// describes it for people.
//
// A worker writes one JSON object per line on its stdout. Every object carries
// "v": kWorkerProtocolVersion and a "type":
//   hello      first line: protocol version, worker kind, pid
//   progress   how far the work is (short workers: the supervisor's sign of health), and
//              whether a playable part of the output is published yet ("playable")
//   heartbeat  "still alive", sent every few seconds even when progress does not move
//   result     the work is done: what it produced (the last line of a successful worker)
//   failure    the work failed: a FailureCode and a message a reporter can read (last line)
//   part       (live, low latency) a CMAF part and the LL-HLS playlist naming it are in place
// The supervisor passes its own version to the worker in the environment (kWorkerProtocolEnv);
// a worker that speaks another version refuses with a failure (kProtocolMismatch) and exits.
// The supervisor likewise refuses a line whose "v" differs from its own.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/status.h"

namespace newsreel::worker {

inline constexpr int kWorkerProtocolVersion = 1;
// Environment variable through which the supervisor tells a worker its protocol version.
inline constexpr char kWorkerProtocolEnv[] = "NEWSREEL_WORKER_PROTOCOL";

// Why a worker failed; the supervisor's retry policy (DecideRetry) depends on nothing else.
enum class FailureCode {
  kBadInput,          // the input is not media, unsupported, hostile: never retried
  kEncoderFailed,     // the encoder failed, not the input: retried once on the software encoder
  kCrashed,           // died (signal, unexpected exit, out of memory): retried with back-off
  kTimedOut,          // stopped making progress: retried with back-off
  kProtocolMismatch,  // worker and server speak different protocol versions: never retried
};

// Stable lower-case names ("bad_input"), used on the wire, in logs and in docs.
const char* FailureCodeName(FailureCode code);
Result<FailureCode> ParseFailureCode(std::string_view name);

struct Hello {
  int protocol = kWorkerProtocolVersion;
  std::string kind;  // the worker kind, e.g. "transcode"
  int64_t pid = 0;

  bool operator==(const Hello&) const = default;
};

struct Progress {
  std::string phase;  // "encoding", "packaging", "done", ...
  double percent = 0;
  double fps = 0;
  double speed = 0;                   // media seconds per wall second
  std::optional<double> eta_seconds;  // unknown while absent
  double position_seconds = 0;
  double duration_seconds = 0;
  // The output folder already holds a playable part of the work (progressive publishing: every
  // rung has its first segment, the master playlist lists them). Once true, stays true in later
  // lines. An optional field (absent means false): the protocol version is unchanged.
  bool playable = false;

  bool operator==(const Progress&) const = default;
};

// What a long-lived worker (`newsreel live`) says about its stream with each heartbeat.
struct LiveFigures {
  double input_bitrate = 0;     // bits/s read from the input over the last interval
  double fps = 0;               // frames per second through the shared video chain
  double speed = 0;             // media seconds per wall second (about 1.0 when keeping up)
  double position_seconds = 0;  // media time of the latest frame
  int64_t segments = 0;         // segments published so far (per rung)
  // From the first frame of the latest published segment entering the worker to the segment
  // appearing in its playlist; absent until a segment is published.
  std::optional<double> latency_seconds;

  bool operator==(const LiveFigures&) const = default;
};

struct Heartbeat {
  std::optional<LiveFigures> live;  // short workers send none

  bool operator==(const Heartbeat&) const = default;
};

// One rendition of the output, as the transcoder measured it.
struct ResultRung {
  std::string name;  // "720p"
  int width = 0;
  int height = 0;
  int64_t bandwidth = 0;          // peak, bits/s
  int64_t average_bandwidth = 0;  // bits/s
  std::string codecs;             // "avc1.64001f,mp4a.40.2"
  double frame_rate = 0;
  std::string playlist;  // relative to the output folder: "720p/index.m3u8"

  bool operator==(const ResultRung&) const = default;
};

struct ResultPoster {
  std::string path;  // relative to the output folder
  int width = 0;
  int height = 0;

  bool operator==(const ResultPoster&) const = default;
};

struct ResultStoryboard {
  std::string image;  // relative to the output folder
  std::string vtt;
  int tile_width = 0;
  int tile_height = 0;

  bool operator==(const ResultStoryboard&) const = default;
};

// What the worker learnt about its input.
struct ResultSource {
  std::string container;
  int64_t size_bytes = 0;
  std::string video_codec;  // empty without video
  int width = 0;
  int height = 0;
  std::string audio_codec;  // empty without audio

  bool operator==(const ResultSource&) const = default;
};

// A finished job: what the supervisor records in the catalog.
struct WorkResult {
  std::vector<ResultRung> rungs;
  std::string encoder;          // the encoder's name in the registry: "x264", "vaapi-h264"
  std::string encoder_element;  // its GStreamer element: "newsreelx264", "vah264enc"
  double duration_seconds = 0;
  std::optional<ResultPoster> poster;
  std::optional<ResultStoryboard> storyboard;
  ResultSource source;
  std::string manifest_path;  // the full manifest.json, for people and tools; may be empty

  bool operator==(const WorkResult&) const = default;
};

// A low-latency part of a live stream, sent once its file and the playlist listing it are in
// place (docs/live.md). Paths are relative to the worker's output folder; no media bytes.
struct Part {
  std::string rung;          // "720p"
  int64_t msn = 0;           // media sequence number of the part's segment
  int part = 0;              // 0-based index in the segment
  std::string file;          // "ll/720p/p42.3.m4s"
  bool independent = false;  // starts with an IDR frame
  double duration = 0;       // seconds
  std::string init;          // the init segment it decodes with: "ll/720p/init.mp4"

  bool operator==(const Part&) const = default;
};

struct Failure {
  FailureCode code = FailureCode::kCrashed;
  std::string message;

  bool operator==(const Failure&) const = default;
};

using WorkerMessage = std::variant<Hello, Progress, Heartbeat, WorkResult, Failure, Part>;

// One line of the protocol, ending in '\n'.
std::string Encode(const WorkerMessage& message);

// Reads one line (with or without its '\n'). Errors:
//   kFailedPrecondition  the line speaks another protocol version; the message says which
//                        ("worker speaks protocol v2, this server v1")
//   kInvalidArgument     not a protocol line (not JSON, no "v", unknown type, bad fields)
Result<WorkerMessage> DecodeWorkerLine(std::string_view line);

// Worker side: checks the version the supervisor announced in kWorkerProtocolEnv (`announced`
// is that variable's value, null when unset: then there is nothing to check).
// kFailedPrecondition ("server speaks protocol v2, this worker v1") when they differ.
Status CheckServerProtocol(const char* announced);

// Which encoder a transcode attempt runs with.
enum class EncoderChoice {
  // The best proven encoder (hardware first; x264 needs no trial), falling back inside the
  // worker.
  kAuto,
  kSoftware,  // x264 only
};

struct RetryPolicy {
  int64_t backoff_ms = 10'000;       // before the first retry after a crash or time-out
  int64_t max_backoff_ms = 600'000;  // the doubling stops here
};

struct RetryDecision {
  bool retry = false;
  EncoderChoice encoder = EncoderChoice::kAuto;  // for the next attempt
  int64_t backoff_ms = 0;                        // wait before the next attempt
};

// The retry policy, by failure code. `attempt` is the attempt that failed (1-based), `used` the
// encoder it ran with.
//   bad_input, protocol_mismatch: never retried; the same input or the same binaries fail the
//     same way again.
//   encoder_failed: retried once, at once, on the software encoder; when the failing attempt
//     already ran on it, there is no further encoder to try and the job fails.
//   crashed, timed_out: retried until max_attempts, after backoff_ms * 2^(attempt-1) (capped).
//     The retry runs on the software encoder: a hardware driver is the usual suspect of a crash
//     or a hang that the input did not cause, and x264 rules it out.
RetryDecision DecideRetry(FailureCode code, int attempt, int max_attempts, EncoderChoice used,
                          const RetryPolicy& policy = {});

}  // namespace newsreel::worker
