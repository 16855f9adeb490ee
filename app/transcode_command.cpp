// `newsreel transcode INPUT OUTDIR`: one upload (or one live recording) in, an adaptive HLS ladder
// out.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "app/worker_tuning.h"
#include "common/worker_protocol.h"
#include "common/worker_reporter.h"
#include "transcoder/ladder.h"
#include "transcoder/transcode.h"

namespace newsreel::app {
namespace {

using transcoder::TranscodeProgress;

// How often a worker says it is alive, whether or not its progress moves.
constexpr std::chrono::seconds kHeartbeatInterval{2};

worker::Progress ToProgressMessage(const TranscodeProgress& p) {
  worker::Progress m;
  m.phase = p.phase;
  m.percent = std::round(p.percent * 10) / 10;
  m.fps = std::round(p.fps * 10) / 10;
  m.speed = std::round(p.speed * 100) / 100;
  if (p.eta_seconds >= 0) m.eta_seconds = std::round(p.eta_seconds);
  m.position_seconds = std::round(p.position_seconds * 100) / 100;
  m.duration_seconds = std::round(p.duration_seconds * 100) / 100;
  m.playable = p.playable;
  return m;
}

// The protocol's result, from the manifest the transcode wrote (transcode.cpp's shape).
worker::WorkResult ToResultMessage(const nlohmann::json& m, const std::string& manifest_path) {
  using nlohmann::json;
  worker::WorkResult r;
  for (const json& g : m.value("rungs", json::array()))
    r.rungs.push_back({g.value("name", ""), g.value("width", 0), g.value("height", 0),
                       g.value("bandwidth", int64_t{0}), g.value("average_bandwidth", int64_t{0}),
                       g.value("codecs", ""), g.value("frame_rate", 0.0), g.value("playlist", "")});
  r.encoder = m.value("encoder", "");
  r.encoder_element = m.value("encoder_element", "");
  r.duration_seconds = m.value("duration_seconds", 0.0);
  if (auto p = m.find("poster"); p != m.end() && p->is_object())
    r.poster = worker::ResultPoster{p->value("uri", "poster.jpg"), p->value("width", 0),
                                    p->value("height", 0)};
  if (auto s = m.find("storyboard"); s != m.end() && s->is_object())
    r.storyboard = worker::ResultStoryboard{s->value("image", "storyboard.jpg"),
                                            s->value("vtt", "storyboard.vtt"),
                                            s->value("tile_width", 0), s->value("tile_height", 0)};
  if (auto src = m.find("source"); src != m.end() && src->is_object()) {
    r.source.container = src->value("container", "");
    r.source.size_bytes = src->value("size_bytes", int64_t{0});
    for (const json& s : src->value("streams", json::array())) {
      if (s.value("type", "") == "video" && r.source.video_codec.empty()) {
        r.source.video_codec = s.value("codec", "");
        r.source.width = s.value("width", 0);
        r.source.height = s.value("height", 0);
      }
      if (s.value("type", "") == "audio" && r.source.audio_codec.empty())
        r.source.audio_codec = s.value("codec", "");
    }
  }
  r.manifest_path = manifest_path;
  return r;
}

// What kind of failure a transcode's error is, for the supervisor's retry policy
// (worker_protocol.h). Errors about the input (not media, unsupported, no decoder, unreadable
// or hostile content, a media error outside the encoder) fail the same way again: bad_input.
worker::FailureCode ClassifyFailure(const Status& status, bool encoder_failed) {
  using worker::FailureCode;
  if (encoder_failed) return FailureCode::kEncoderFailed;
  switch (status.code()) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kUnsupported:
    case ErrorCode::kNotFound:
    case ErrorCode::kAlreadyExists:
      return FailureCode::kBadInput;
    case ErrorCode::kTimeout:
      return FailureCode::kTimedOut;
    default:
      return FailureCode::kCrashed;  // I/O, internal: something that may not happen again
  }
}

// --progress json: one plain progress object per line on stdout, for scripts (the format
// before the worker protocol; the supervisor uses --progress protocol).
void PrintJsonProgress(const TranscodeProgress& p) {
  nlohmann::json j = {
      {"phase", p.phase},
      {"percent", std::round(p.percent * 10) / 10},
      {"fps", std::round(p.fps * 10) / 10},
      {"speed", std::round(p.speed * 100) / 100},
      {"eta_seconds",
       p.eta_seconds < 0 ? nlohmann::json(nullptr) : nlohmann::json(std::round(p.eta_seconds))},
      {"position_seconds", std::round(p.position_seconds * 100) / 100},
      {"duration_seconds", std::round(p.duration_seconds * 100) / 100}};
  if (p.playable) j["playable"] = true;
  std::cout << j.dump() << std::endl;
}

// A one-line bar on a terminal, redrawn in place.
void PrintBar(const TranscodeProgress& p) {
  const int width = 30;
  int filled = static_cast<int>(p.percent / 100.0 * width);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(width, '.');
  char eta[32] = "--";
  if (p.eta_seconds >= 0)
    std::snprintf(eta, sizeof eta, "%d:%02d", static_cast<int>(p.eta_seconds) / 60,
                  static_cast<int>(p.eta_seconds) % 60);
  std::fprintf(stderr, "\r%-9s [%s] %5.1f%%  %5.1f fps  %4.2fx  ETA %s ", p.phase.c_str(),
               bar.c_str(), p.percent, p.fps, p.speed, eta);
  if (p.phase == "done") std::fprintf(stderr, "\n");
  std::fflush(stderr);
}

}  // namespace

CommandRunner RegisterTranscodeCommand(CLI::App& app) {
  struct Args {
    std::string input, outdir, encoder = "auto", ladder, progress;
    bool force = false;
    bool progressive = false;
    int stall_timeout = 120;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("transcode", "Turn one media file into an adaptive HLS ladder");
  cmd->add_option("INPUT", a->input,
                  "Media file, or a live recording: a folder of sessions 1.ts, 2.ts, ... "
                  "(docs/live.md)")
      ->required();
  cmd->add_option("OUTDIR", a->outdir, "Output folder (created; must be empty unless --force)")
      ->required();
  cmd->add_option("--encoder", a->encoder, "auto, or an encoder name (see `newsreel encoders`)");
  cmd->add_option("--ladder", a->ladder,
                  "Short sides of the rungs, e.g. 1080,720,480,360,144 (the default)");
  cmd->add_option("--progress", a->progress,
                  "json: one progress object per line on stdout (for scripts); protocol: the "
                  "worker protocol on stdout (for the job supervisor, docs/workers.md); bar: a "
                  "bar on stderr; none")
      ->check(CLI::IsMember({"json", "protocol", "bar", "none"}));
  cmd->add_option("--stall-timeout", a->stall_timeout,
                  "Fail when nothing moves for this many seconds (default 120)")
      ->check(CLI::Range(1, 86400));
  cmd->add_flag("--force", a->force,
                "Replace an existing output folder once the new one is complete");
  cmd->add_flag("--publish-progressively", a->progressive,
                "Publish segments into an empty OUTDIR while transcoding, with growing (EVENT) "
                "playlists, so that players can start before the end (docs/transcoding.md)");
  return [a] {
    TuneTranscodingProcess();  // CPU -2.9 %, wall -2.2 %, peak memory -5 % on a 1080p ladder
    transcoder::TranscodeOptions options;
    options.encoder = a->encoder;
    options.force = a->force;
    options.publish_progressively = a->progressive;
    options.stall_timeout = std::chrono::seconds(a->stall_timeout);
    if (!a->ladder.empty()) {
      auto sides = transcoder::ParseLadderFlag(a->ladder);
      if (!sides.ok()) {
        std::cerr << "newsreel transcode: " << sides.status().message() << "\n";
        return 2;
      }
      options.ladder.short_sides = *sides;
    }
    std::string mode = a->progress;
    if (mode.empty()) mode = isatty(STDERR_FILENO) ? "bar" : "none";
    // protocol: the worker protocol on stdout, for the job supervisor.
    std::unique_ptr<worker::WorkerReporter> reporter;
    if (mode == "json") options.on_progress = PrintJsonProgress;
    if (mode == "protocol") {
      reporter = std::make_unique<worker::WorkerReporter>(STDOUT_FILENO, kHeartbeatInterval);
      Status version = worker::CheckServerProtocol(std::getenv(worker::kWorkerProtocolEnv));
      if (!version.ok()) {
        std::cerr << "newsreel transcode: " << version.message() << "\n";
        reporter->Send(worker::Failure{worker::FailureCode::kProtocolMismatch, version.message()});
        return 2;
      }
      reporter->Send(worker::Hello{worker::kWorkerProtocolVersion, "transcode", getpid()});
      options.on_progress = [r = reporter.get()](const TranscodeProgress& p) {
        r->Send(ToProgressMessage(p));
      };
    }
    if (mode == "bar") options.on_progress = PrintBar;
    bool encoder_failed = false;
    options.encoder_failed = &encoder_failed;
    auto result = transcoder::Transcode(a->input, a->outdir, options);
    if (!result.ok()) {
      if (mode == "bar") std::fprintf(stderr, "\n");
      std::cerr << "newsreel transcode: " << result.status().message() << "\n";
      if (reporter)
        reporter->Send(worker::Failure{ClassifyFailure(result.status(), encoder_failed),
                                       result.status().message()});
      return 1;
    }
    for (const auto& w : result->warnings)
      std::cerr << "newsreel transcode: warning: " << w << "\n";
    if (reporter) {
      std::error_code ec;
      auto manifest = std::filesystem::absolute(a->outdir, ec) / "manifest.json";
      reporter->Send(ToResultMessage(result->manifest, manifest.string()));
    }
    return 0;
  };
}

}  // namespace newsreel::app
