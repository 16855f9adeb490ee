#include "streaming/media_files.h"

#include <sys/stat.h>

#include <cstdlib>
#include <memory>

#include "catalog/ids.h"

namespace newsreel::streaming {
namespace {

bool SegmentCharOk(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

std::string RealPath(const std::string& p) {
  std::unique_ptr<char, decltype(&std::free)> r(realpath(p.c_str(), nullptr), &std::free);
  return r ? std::string(r.get()) : std::string();
}

}  // namespace

Result<MediaTarget> ParseMediaPath(std::string_view rest) {
  if (rest.empty()) return InvalidArgument("empty media path");
  if (rest.size() > 1024) return InvalidArgument("media path too long");
  if (rest.front() == '/') return InvalidArgument("absolute media path");
  MediaTarget t;
  size_t start = 0;
  int segments = 0;
  while (start <= rest.size()) {
    size_t slash = rest.find('/', start);
    std::string_view seg = rest.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (seg.empty() || seg.size() > 255) return InvalidArgument("empty or long path segment");
    if (seg.front() == '.') return InvalidArgument("path segment starts with '.'");
    for (char c : seg)
      if (!SegmentCharOk(c)) return InvalidArgument("character not allowed in a media path");
    if (segments == 0) {
      if (!catalog::ValidateId(seg).ok()) return InvalidArgument("not a video id");
      t.video_id = std::string(seg);
    } else {
      if (!t.relative.empty()) t.relative += '/';
      t.relative += seg;
    }
    ++segments;
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (segments < 2) return InvalidArgument("no file named");
  return t;
}

Result<MediaTarget> ResolveMediaPath(const std::filesystem::path& root, std::string_view rest) {
  Result<MediaTarget> parsed = ParseMediaPath(rest);
  if (!parsed.ok()) return parsed.status();
  MediaTarget t = std::move(parsed).value();
  const std::string folder = root.string() + "/" + t.video_id;
  // The video's folder itself must be a real folder inside root, not a link elsewhere.
  if (RealPath(folder) != folder) return NotFound("no such video folder");
  std::string real = RealPath(folder + "/" + t.relative);
  if (real.empty()) return NotFound("no such file");
  if (real.compare(0, folder.size() + 1, folder + "/") != 0)
    return NotFound("file resolves outside the video's folder");
  struct stat st;
  if (stat(real.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return NotFound("not a file");
  t.path = real;
  return t;
}

}  // namespace newsreel::streaming
