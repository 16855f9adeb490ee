// `newsreel probe FILE`: what a media file holds, as JSON.
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "transcoder/probe.h"

namespace newsreel::app {

CommandRunner RegisterProbeCommand(CLI::App& app) {
  auto file = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("probe", "Print what a media file holds, as JSON");
  cmd->add_option("FILE", *file, "Media file")->required();
  return [file] {
    auto info = transcoder::Probe(*file);
    if (!info.ok()) {
      std::cerr << "newsreel probe: " << info.status().message() << "\n";
      return 1;
    }
    std::cout << transcoder::ToJson(*info).dump(2) << "\n";
    return 0;
  };
}

}  // namespace newsreel::app
