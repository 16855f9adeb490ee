// `newsreel transcode INPUT OUTDIR`: one upload in, an adaptive HLS ladder out.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "transcoder/ladder.h"
#include "transcoder/transcode.h"

namespace newsreel::app {
namespace {

using transcoder::TranscodeProgress;

// One JSON object per line on stdout: what the job supervisor reads.
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
    int stall_timeout = 120;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("transcode", "Turn one media file into an adaptive HLS ladder");
  cmd->add_option("INPUT", a->input, "Media file")->required();
  cmd->add_option("OUTDIR", a->outdir, "Output folder (created; must be empty unless --force)")
      ->required();
  cmd->add_option("--encoder", a->encoder, "auto, or an encoder name (see `newsreel encoders`)");
  cmd->add_option("--ladder", a->ladder,
                  "Short sides of the rungs, e.g. 1080,720,480,360,144 (the default)");
  cmd->add_option("--progress", a->progress,
                  "json: one JSON object per line on stdout; bar: a bar on stderr; none")
      ->check(CLI::IsMember({"json", "bar", "none"}));
  cmd->add_option("--stall-timeout", a->stall_timeout,
                  "Fail when nothing moves for this many seconds (default 120)")
      ->check(CLI::Range(1, 86400));
  cmd->add_flag("--force", a->force,
                "Replace an existing output folder once the new one is complete");
  return [a] {
    transcoder::TranscodeOptions options;
    options.encoder = a->encoder;
    options.force = a->force;
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
    if (mode == "json") options.on_progress = PrintJsonProgress;
    if (mode == "bar") options.on_progress = PrintBar;
    auto result = transcoder::Transcode(a->input, a->outdir, options);
    if (!result.ok()) {
      if (mode == "bar") std::fprintf(stderr, "\n");
      std::cerr << "newsreel transcode: " << result.status().message() << "\n";
      return 1;
    }
    for (const auto& w : result->warnings)
      std::cerr << "newsreel transcode: warning: " << w << "\n";
    return 0;
  };
}

}  // namespace newsreel::app
