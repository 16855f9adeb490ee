#include "streaming/data_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
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

Status SyncDirectory(const std::filesystem::path& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return IoError("cannot open " + dir.string() + ": " + std::strerror(errno));
  int rc = fsync(fd);
  close(fd);
  if (rc != 0) return IoError("cannot sync " + dir.string() + ": " + std::strerror(errno));
  return Status::Ok();
}

}  // namespace newsreel::streaming
