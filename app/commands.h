#pragma once
// Each sub-command lives in its own file and registers itself on the CLI here.
// Register*Command adds the sub-command to `app` and returns the function that runs it once
// CLI11 has parsed the command line (it returns the process exit code).

#include <CLI/CLI.hpp>

#include <functional>

namespace newsreel::app {

using CommandRunner = std::function<int()>;

CommandRunner RegisterProbeCommand(CLI::App& app);
CommandRunner RegisterTranscodeCommand(CLI::App& app);
CommandRunner RegisterLiveCommand(CLI::App& app);
CommandRunner RegisterEncodersCommand(CLI::App& app);
CommandRunner RegisterServeCommand(CLI::App& app);
CommandRunner RegisterImportCommand(CLI::App& app);
CommandRunner RegisterUserCommand(CLI::App& app);
CommandRunner RegisterTokenCommand(CLI::App& app);
CommandRunner RegisterSignCommand(CLI::App& app);

}  // namespace newsreel::app
