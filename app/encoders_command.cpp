// `newsreel encoders [--json]`: every known encoder, whether its element is installed, whether
// its trial encode passed (and why not), and which one `--encoder auto` picks.
// The JSON form is read by the server (GET /api/v1/encoders); keep its shape stable:
//   {"auto":"x264","encoders":[{"name","element","codec","hardware","present","proven","error"}]}
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "transcoder/encoder_trial.h"

namespace newsreel::app {

CommandRunner RegisterEncodersCommand(CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand(
      "encoders", "List the video encoders, prove each with a trial encode, show what auto picks");
  cmd->add_flag("--json", *json, "One JSON object on stdout");
  return [json] {
    auto& prover = transcoder::EncoderProver::Default();
    auto reports = prover.Survey();
    auto picked = prover.Auto();
    const std::string auto_name = picked.ok() ? (*picked)->name() : "";
    if (*json) {
      nlohmann::json list = nlohmann::json::array();
      for (const auto& r : reports)
        list.push_back(
            {{"name", r.name},
             {"element", r.element},
             {"codec", r.codec},
             {"hardware", r.hardware},
             {"present", r.present},
             {"proven", r.proven},
             {"error", r.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.error)}});
      nlohmann::json out = {
          {"auto", auto_name.empty() ? nlohmann::json(nullptr) : nlohmann::json(auto_name)},
          {"encoders", list}};
      std::cout << out.dump() << std::endl;
    } else {
      std::printf("%-12s %-14s %-5s %-9s %-8s %s\n", "ENCODER", "ELEMENT", "CODEC", "HARDWARE",
                  "PRESENT", "TRIAL");
      for (const auto& r : reports) {
        std::string trial = !r.present ? "-" : r.proven ? "passed" : "failed: " + r.error;
        std::printf("%-12s %-14s %-5s %-9s %-8s %s\n", r.name.c_str(), r.element.c_str(),
                    r.codec.c_str(), r.hardware ? "yes" : "no", r.present ? "yes" : "no",
                    trial.c_str());
      }
      if (picked.ok()) {
        std::printf("\nauto: %s\n", auto_name.c_str());
      } else {
        std::printf("\nauto: none (%s)\n", picked.status().message().c_str());
      }
    }
    return picked.ok() ? 0 : 1;
  };
}

}  // namespace newsreel::app
