#include "streaming/data_dir.h"

#include <system_error>

namespace newsreel::streaming {

Result<DataDir> PrepareDataDir(const std::filesystem::path& root) {
  std::error_code ec;
  DataDir dir{std::filesystem::absolute(root, ec).lexically_normal()};
  if (ec) return IoError("cannot resolve data directory " + root.string() + ": " + ec.message());
  for (const auto& p : {dir.root, dir.media(), dir.originals(), dir.uploads(), dir.live()}) {
    std::filesystem::create_directories(p, ec);
    if (ec) return IoError("cannot create " + p.string() + ": " + ec.message());
  }
  // Without a trailing separator: lexically_normal keeps one for "data/".
  if (dir.root.filename().empty()) dir.root = dir.root.parent_path();
  return dir;
}

}  // namespace newsreel::streaming
