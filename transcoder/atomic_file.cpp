#include "transcoder/atomic_file.h"

#include <fstream>
#include <string>
#include <system_error>

namespace newsreel::transcoder {

namespace fs = std::filesystem;

Status WriteFileAtomically(const fs::path& path, const void* data, size_t size) {
  const fs::path tmp = path.parent_path() / ("." + path.filename().string() + ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return IoError("cannot write " + tmp.string());
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    out.flush();
    if (!out) return IoError("short write to " + tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return IoError("cannot rename " + tmp.string() + ": " + ec.message());
  return Status::Ok();
}

}  // namespace newsreel::transcoder
