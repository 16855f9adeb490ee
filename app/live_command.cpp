// `newsreel live OUTDIR`: one MPEG-TS stream in (stdin, a file or a descriptor), live ABR HLS out;
// or the slate (--slate) while no one publishes; or the end of a stream (--finish).
// A long-lived worker (docs/workers.md, docs/live.md): with --progress protocol it says hello,
// sends a heartbeat with the stream's figures every 2 s, and ends with a result or a failure.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "app/worker_tuning.h"
#include "common/worker_protocol.h"
#include "common/worker_reporter.h"
#include "transcoder/ladder.h"
#include "transcoder/live_pipeline.h"

namespace newsreel::app {
namespace {

constexpr std::chrono::seconds kHeartbeatInterval{2};

// Set by SIGTERM/SIGINT: the stream ends as if its input had ended (EXT-X-ENDLIST unless
// --open-end, exit 0).
std::atomic<bool> g_stop{false};
extern "C" void OnStopSignal(int) { g_stop.store(true); }

double Round(double v, double unit) { return std::round(v / unit) * unit; }

worker::LiveFigures ToFigures(const transcoder::LiveStats& s) {
  worker::LiveFigures f;
  f.input_bitrate = std::round(s.input_bitrate);
  f.fps = Round(s.fps, 0.1);
  f.speed = Round(s.speed, 0.01);
  f.position_seconds = Round(s.position_seconds, 0.01);
  f.segments = s.segments;
  if (s.latency_seconds) f.latency_seconds = Round(*s.latency_seconds, 0.01);
  return f;
}

worker::FailureCode Classify(const Status& status, bool encoder_failed) {
  using worker::FailureCode;
  if (encoder_failed) return FailureCode::kEncoderFailed;
  switch (status.code()) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kUnsupported:
      return FailureCode::kBadInput;
    case ErrorCode::kTimeout:
      return FailureCode::kTimedOut;
    default:
      return FailureCode::kCrashed;
  }
}

worker::WorkResult ToResult(const transcoder::LiveResult& r) {
  worker::WorkResult w;
  for (const auto& g : r.rungs)
    w.rungs.push_back({g.name, g.width, g.height, g.bandwidth, g.average_bandwidth, g.codecs,
                       g.frame_rate, g.playlist});
  w.encoder = r.encoder;
  w.encoder_element = r.encoder_element;
  w.duration_seconds = Round(r.duration_seconds, 0.01);
  w.source = {"mpegts", r.input_bytes, r.video_codec, r.width, r.height, r.audio_codec};
  return w;
}

}  // namespace

CommandRunner RegisterLiveCommand(CLI::App& app) {
  struct Args {
    std::string outdir, input = "-", ladder = "720,480,360", encoder = "auto", progress = "none";
    int input_fd = -1;
    double segment_seconds = 2, window_seconds = 30, delete_grace = -1;
    int64_t first_sequence = 0;
    int stall_timeout = 30;
    int ll_parts_ms = 0;
    bool continue_stream = false, open_end = false, slate = false, finish = false;
    bool low_latency = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "live", "Turn one live MPEG-TS stream (stdin by default) into live adaptive HLS");
  cmd->add_option("OUTDIR", a->outdir, "Output folder (created)")->required();
  cmd->add_option("--input", a->input, "MPEG-TS file or FIFO to read; - for stdin (the default)");
  cmd->add_option("--input-fd", a->input_fd, "Read MPEG-TS from this open file descriptor")
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--ladder", a->ladder,
                  "Short sides of the rungs, highest first, never above the source "
                  "(default 720,480,360: what one stream on 2 cores encodes in real time)");
  cmd->add_option("--segment-seconds", a->segment_seconds,
                  "Segment duration, also the GOP: one IDR per segment (default 2)")
      ->check(CLI::Range(1.0, 6.0));
  cmd->add_option("--window-seconds", a->window_seconds,
                  "Media listed in each playlist (default 30; at least 3 target durations)");
  cmd->add_option("--delete-grace", a->delete_grace,
                  "Seconds a segment's file stays after it left the window (default: window + "
                  "target duration, the least RFC 8216 section 6.2.2 allows)");
  cmd->add_option("--first-sequence", a->first_sequence,
                  "Media sequence number of the first segment (default 0)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  cmd->add_option("--encoder", a->encoder, "auto, or an encoder name (see `newsreel encoders`)");
  cmd->add_option("--stall-timeout", a->stall_timeout,
                  "Fail when no input arrives for this many seconds (default 30)")
      ->check(CLI::Range(1, 86400));
  cmd->add_flag("--continue", a->continue_stream,
                "Continue the stream whose live-state.json is in OUTDIR (same rungs, sequence "
                "numbers go on, EXT-X-DISCONTINUITY first); without one, start a new stream");
  cmd->add_flag("--open-end", a->open_end,
                "At the end of the input or on SIGTERM write no EXT-X-ENDLIST: another run "
                "continues the stream");
  auto* slate = cmd->add_flag("--slate", a->slate,
                              "No input: show \"The broadcast will resume shortly\" with silent "
                              "audio in real time until SIGTERM");
  auto* finish = cmd->add_flag(
      "--finish", a->finish,
      "No pipeline: end the stream in OUTDIR, rewriting its playlists with EXT-X-ENDLIST");
  slate->excludes(finish);
  cmd->add_flag("--low-latency", a->low_latency,
                "Also write every rung as CMAF parts with an LL-HLS playlist in OUTDIR/ll/ (no "
                "B-frames; parts of --ll-parts-ms)");
  cmd->add_option("--ll-parts-ms", a->ll_parts_ms,
                  "Low-latency part duration in milliseconds (default 200 with --low-latency; "
                  "implies it)")
      ->check(CLI::Range(100, 1000));
  cmd->add_option("--progress", a->progress,
                  "protocol: the worker protocol on stdout (docs/workers.md); json: one figures "
                  "object per second on stdout; none (the default)")
      ->check(CLI::IsMember({"json", "protocol", "none"}));
  return [a] {
    TuneTranscodingProcess();
    transcoder::LiveOptions options;
    auto sides = transcoder::ParseLadderFlag(a->ladder);
    if (!sides.ok()) {
      std::cerr << "newsreel live: " << sides.status().message() << "\n";
      return 2;
    }
    options.short_sides = *sides;
    options.segment_seconds = a->segment_seconds;
    options.window_seconds = a->window_seconds;
    if (a->delete_grace >= 0)
      options.delete_grace = std::chrono::milliseconds(std::llround(a->delete_grace * 1000));
    options.first_sequence = a->first_sequence;
    options.encoder = a->encoder;
    options.stall_timeout = std::chrono::seconds(a->stall_timeout);
    options.stop = &g_stop;
    options.continue_stream = a->continue_stream;
    options.open_end = a->open_end;
    if (a->low_latency || a->ll_parts_ms > 0)
      options.ll_part_ms = a->ll_parts_ms > 0 ? a->ll_parts_ms : 200;
    if ((a->slate || a->finish) && (a->input != "-" || a->input_fd >= 0)) {
      std::cerr << "newsreel live: --slate and --finish read no input\n";
      return 2;
    }

    std::unique_ptr<worker::WorkerReporter> reporter;
    if (a->progress == "protocol") {
      reporter = std::make_unique<worker::WorkerReporter>(STDOUT_FILENO, kHeartbeatInterval);
      Status version = worker::CheckServerProtocol(std::getenv(worker::kWorkerProtocolEnv));
      if (!version.ok()) {
        std::cerr << "newsreel live: " << version.message() << "\n";
        reporter->Send(worker::Failure{worker::FailureCode::kProtocolMismatch, version.message()});
        return 2;
      }
      reporter->Send(worker::Hello{worker::kWorkerProtocolVersion, "live", getpid()});
    }
    auto fail = [&](const Status& status, bool encoder_failed) {
      std::cerr << "newsreel live: " << status.message() << "\n";
      if (reporter)
        reporter->Send(worker::Failure{Classify(status, encoder_failed), status.message()});
      return 1;
    };

    if (a->finish) {
      Status finished = transcoder::FinishLive(a->outdir);
      if (!finished.ok()) return fail(finished, false);
      if (reporter) {
        worker::WorkResult w;
        w.source.container = "state";
        reporter->Send(w);
      }
      return 0;
    }

    int fd = STDIN_FILENO;
    if (a->slate) {
      fd = -1;
    } else if (a->input_fd >= 0) {
      fd = a->input_fd;
    } else if (a->input != "-") {
      fd = open(a->input.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return fail(IoError("cannot open " + a->input), false);
    }

    struct sigaction sa {};
    sa.sa_handler = OnStopSignal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);

    std::mutex figures_mu;
    std::optional<worker::LiveFigures> figures;  // guarded by figures_mu
    if (reporter)
      reporter->SetHeartbeatSource([&figures_mu, &figures] {
        std::lock_guard lock(figures_mu);
        return worker::Heartbeat{figures};
      });
    if (reporter) {
      options.on_part = [&reporter](const transcoder::LivePart& p) {
        reporter->Send(worker::Part{p.rung, p.msn, p.part, p.file, p.independent,
                                    std::round(p.duration * 1e5) / 1e5, p.init});
      };
    }
    auto on_stats = [&](const transcoder::LiveStats& s) {
      worker::LiveFigures f = ToFigures(s);
      {
        std::lock_guard lock(figures_mu);
        figures = f;
      }
      if (a->progress == "json") {
        nlohmann::json j = {
            {"input_bitrate", f.input_bitrate},
            {"fps", f.fps},
            {"speed", f.speed},
            {"position_seconds", f.position_seconds},
            {"segments", f.segments},
            {"latency_seconds",
             f.latency_seconds ? nlohmann::json(*f.latency_seconds) : nlohmann::json(nullptr)}};
        std::cout << j.dump() << std::endl;
      }
    };
    transcoder::LiveFailure failure;
    auto result = a->slate ? transcoder::RunLiveSlate(a->outdir, options, on_stats, &failure)
                           : transcoder::RunLive(fd, a->outdir, options, on_stats, &failure);
    if (reporter) reporter->SetHeartbeatSource(nullptr);
    if (fd >= 0 && fd != STDIN_FILENO && a->input_fd < 0) close(fd);
    if (!result.ok()) return fail(result.status(), failure.encoder_failed);
    for (const auto& w : result->warnings) std::cerr << "newsreel live: warning: " << w << "\n";
    if (reporter) {
      worker::WorkResult w = ToResult(*result);
      if (a->slate) w.source.container = "slate";
      reporter->Send(w);
    }
    return 0;
  };
}

}  // namespace newsreel::app
