// `newsreel sign --data DIR VIDEO_ID`: print a signed URL path of a video's master playlist, to
// share a draft or an unlisted video (docs/serving.md, "Signed URLs"). Uses the server's key in
// DIR/signing-key (made there when the server has never run); works while the server runs.
#include <sys/stat.h>

#include <chrono>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "catalog/catalog.h"
#include "streaming/data_dir.h"
#include "streaming/signed_url.h"
#include "streaming/signing_key.h"

namespace newsreel::app {

CommandRunner RegisterSignCommand(CLI::App& app) {
  struct Args {
    std::string data = "data", video_id, address;
    int64_t expires_in = 6 * 3600;
    int64_t expires_at = 0;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "sign", "Print a signed playback URL path for a video (to share a draft or unlisted video)");
  cmd->add_option("VIDEO_ID", a->video_id, "The video")->required();
  cmd->add_option("--data", a->data, "Data directory of the server")->capture_default_str();
  auto* in = cmd->add_option("--expires-in", a->expires_in, "Seconds the URL stays valid")
                 ->capture_default_str()
                 ->check(CLI::Range(int64_t{1}, int64_t{10} * 366 * 86400));
  cmd->add_option("--expires-at", a->expires_at,
                  "The URL's last valid second, as Unix time (instead of --expires-in)")
      ->excludes(in)
      ->check(CLI::Range(int64_t{1}, int64_t{99'999'999'999}));
  cmd->add_option("--address", a->address,
                  "Valid only for a client at this IP address (as the server sees it: no proxy "
                  "in between)");
  cmd->add_flag("--json", a->json, "Print the prefix, master playlist, expiry as JSON");
  return [a] {
    auto fail = [](const std::string& message) {
      std::cerr << "newsreel sign: " << message << "\n";
      return 1;
    };
    std::optional<std::string> address;
    if (!a->address.empty()) {
      address = streaming::CanonicalAddress(a->address);
      if (!address) return fail("not an IP address: " + a->address);
    }
    // An existing server's data directory: signing for a folder that has no catalog is a typo.
    const std::filesystem::path root = a->data;
    struct stat st {};
    if (stat((root / "catalog.db").c_str(), &st) != 0)
      return fail("no catalog in " + a->data + " (is it the server's --data directory?)");
    auto data = streaming::PrepareDataDir(root);
    if (!data.ok()) return fail(data.status().message());
    auto cat = catalog::Catalog::Open(data->catalog().string());
    if (!cat.ok()) return fail(cat.status().message());
    auto video = (*cat)->videos().Get(a->video_id);
    if (!video.ok()) return fail("no video " + a->video_id + ": " + video.status().message());
    auto key = streaming::LoadOrCreateSigningKey(data->signing_key());
    if (!key.ok()) return fail(key.status().message());

    const int64_t now = std::time(nullptr);
    const int64_t expires_at = a->expires_at ? a->expires_at : now + a->expires_in;
    const std::string prefix = streaming::UrlSigner(*key).MediaPrefix(
        video->id, expires_at, address ? std::optional<std::string_view>(*address) : std::nullopt);
    if (a->json) {
      std::cout << nlohmann::json{{"video_id", video->id},
                                  {"visibility", catalog::ToString(video->visibility)},
                                  {"prefix", prefix},
                                  {"master", prefix + "master.m3u8"},
                                  {"expires_at", expires_at},
                                  {"address", address ? nlohmann::json(*address) : nullptr}}
                       .dump()
                << "\n";
    } else {
      std::cout << prefix << "master.m3u8\n";
      std::cerr << "newsreel sign: valid until " << expires_at << " (Unix time, "
                << (expires_at - now) << " s from now)"
                << (address ? " for clients at " + *address : std::string()) << "\n";
    }
    if (expires_at < now) std::cerr << "newsreel sign: warning: this URL has already expired\n";
    return 0;
  };
}

}  // namespace newsreel::app
