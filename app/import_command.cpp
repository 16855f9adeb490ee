// `newsreel import --data DIR FILE`: add a file on the server machine to the catalog and queue
// its transcode. Works while `newsreel serve` runs on the same data directory.
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "catalog/catalog.h"
#include "streaming/ingest.h"

namespace newsreel::app {

CommandRunner RegisterImportCommand(CLI::App& app) {
  struct Args {
    std::string data = "data", visibility = "published";
    streaming::ImportRequest request;
    std::string file;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd =
      app.add_subcommand("import", "Add a media file from this machine and queue its transcode");
  cmd->add_option("FILE", a->file, "Media file")->required();
  cmd->add_option("--data", a->data, "Data directory of the server")->capture_default_str();
  cmd->add_option("--title", a->request.title, "Title (default: the file name)");
  cmd->add_option("--description", a->request.description, "Description");
  cmd->add_option("--reporter", a->request.reporter, "Reporter's name");
  cmd->add_option("--location", a->request.location, "Where it was filmed");
  cmd->add_option("--tag", a->request.tags, "A tag (repeat for more)");
  cmd->add_option("--visibility", a->visibility, "draft, unlisted or published")
      ->capture_default_str()
      ->check(CLI::IsMember({"draft", "unlisted", "published"}));
  cmd->add_flag("--json", a->json, "Print the video and job as JSON");
  return [a] {
    a->request.file = a->file;
    a->request.visibility = *catalog::ParseVisibility(a->visibility);
    auto data = streaming::PrepareDataDir(a->data);
    if (!data.ok()) {
      std::cerr << "newsreel import: " << data.status().message() << "\n";
      return 1;
    }
    auto cat = catalog::Catalog::Open(data->catalog().string());
    if (!cat.ok()) {
      std::cerr << "newsreel import: " << cat.status().message() << "\n";
      return 1;
    }
    auto result = streaming::ImportFile(*data, **cat, a->request);
    if (!result.ok()) {
      std::cerr << "newsreel import: " << result.status().message() << "\n";
      return 1;
    }
    if (a->json) {
      std::cout << nlohmann::json{{"video_id", result->video.id},
                                  {"job_id", result->job.id},
                                  {"title", result->video.title},
                                  {"visibility", catalog::ToString(result->video.visibility)}}
                       .dump()
                << "\n";
    } else {
      std::cout << result->video.id << "\n";
      std::cerr << "newsreel import: video " << result->video.id << " (\"" << result->video.title
                << "\") queued as job " << result->job.id << "; once ready it plays at /media/"
                << result->video.id << "/master.m3u8\n";
    }
    return 0;
  };
}

}  // namespace newsreel::app
