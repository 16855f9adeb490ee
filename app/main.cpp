// newsreel: the one binary. Sub-commands run the server or a worker job (see DESIGN.md);
// this file only wires them together.
#include <CLI/CLI.hpp>

#include <vector>

#include "app/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"Newsreel: media transcoding and distribution server"};
  app.require_subcommand(1);
  std::vector<std::pair<CLI::App*, newsreel::app::CommandRunner>> commands;
  auto add = [&](newsreel::app::CommandRunner (*reg)(CLI::App&)) {
    auto runner = reg(app);
    commands.emplace_back(app.get_subcommands({}).back(), std::move(runner));
  };
  add(newsreel::app::RegisterProbeCommand);
  add(newsreel::app::RegisterTranscodeCommand);
  add(newsreel::app::RegisterLiveCommand);
  add(newsreel::app::RegisterEncodersCommand);
  add(newsreel::app::RegisterServeCommand);
  add(newsreel::app::RegisterImportCommand);
  add(newsreel::app::RegisterUserCommand);
  add(newsreel::app::RegisterTokenCommand);
  add(newsreel::app::RegisterSignCommand);

  CLI11_PARSE(app, argc, argv);
  for (auto& [cmd, run] : commands)
    if (cmd->parsed()) return run();
  return 2;
}
