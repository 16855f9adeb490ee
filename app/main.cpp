// newsreel: the one binary. Sub-commands run the server or a worker job (see DESIGN.md).
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "transcoder/ladder.h"
#include "transcoder/probe.h"
#include "transcoder/transcode.h"

namespace {

using newsreel::transcoder::TranscodeProgress;

int RunProbe(const std::string& file) {
  auto info = newsreel::transcoder::Probe(file);
  if (!info.ok()) {
    std::cerr << "newsreel probe: " << info.status().message() << "\n";
    return 1;
  }
  std::cout << newsreel::transcoder::ToJson(*info).dump(2) << "\n";
  return 0;
}

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

int main(int argc, char** argv) {
  CLI::App app{"Newsreel: media transcoding and distribution server"};
  app.require_subcommand(1);

  std::string probe_file;
  auto* probe = app.add_subcommand("probe", "Print what a media file holds, as JSON");
  probe->add_option("FILE", probe_file, "Media file")->required();

  std::string input, outdir, encoder = "auto", ladder_flag, progress_mode;
  bool force = false;
  int stall_timeout = 120;
  auto* transcode =
      app.add_subcommand("transcode", "Turn one media file into an adaptive HLS ladder");
  transcode->add_option("INPUT", input, "Media file")->required();
  transcode->add_option("OUTDIR", outdir, "Output folder (created; must be empty unless --force)")
      ->required();
  transcode->add_option("--encoder", encoder, "auto, or an encoder name (see `newsreel encoders`)");
  transcode->add_option("--ladder", ladder_flag,
                        "Short sides of the rungs, e.g. 1080,720,480,360,144 (the default)");
  transcode->add_option("--progress", progress_mode, "json: one JSON object per line on stdout")
      ->check(CLI::IsMember({"json", "bar", "none"}));
  transcode
      ->add_option("--stall-timeout", stall_timeout,
                   "Fail when nothing moves for this many seconds (default 120)")
      ->check(CLI::Range(1, 86400));
  transcode->add_flag("--force", force,
                      "Replace an existing output folder once the new one is complete");

  CLI11_PARSE(app, argc, argv);
  if (*probe) return RunProbe(probe_file);
  if (*transcode) {
    newsreel::transcoder::TranscodeOptions options;
    options.encoder = encoder;
    options.force = force;
    options.stall_timeout = std::chrono::seconds(stall_timeout);
    if (!ladder_flag.empty()) {
      auto sides = newsreel::transcoder::ParseLadderFlag(ladder_flag);
      if (!sides.ok()) {
        std::cerr << "newsreel transcode: " << sides.status().message() << "\n";
        return 2;
      }
      options.ladder.short_sides = *sides;
    }
    if (progress_mode.empty()) progress_mode = isatty(STDERR_FILENO) ? "bar" : "none";
    if (progress_mode == "json") options.on_progress = PrintJsonProgress;
    if (progress_mode == "bar") options.on_progress = PrintBar;
    auto result = newsreel::transcoder::Transcode(input, outdir, options);
    if (!result.ok()) {
      if (progress_mode == "bar") std::fprintf(stderr, "\n");
      std::cerr << "newsreel transcode: " << result.status().message() << "\n";
      return 1;
    }
    for (const auto& w : result->warnings)
      std::cerr << "newsreel transcode: warning: " << w << "\n";
    return 0;
  }
  return 2;
}
