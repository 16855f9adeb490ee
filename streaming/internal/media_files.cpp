#include "streaming/internal/media_files.h"

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

bool IsServedMediaFile(std::string_view relative) {
  const size_t dot = relative.rfind('.');
  if (dot == std::string_view::npos || relative.find('/', dot) != std::string_view::npos)
    return false;
  const std::string_view ext = relative.substr(dot + 1);
  for (std::string_view served :
       {"m3u8", "ts", "m4s", "mp4", "m4a", "aac", "jpg", "jpeg", "png", "webp", "vtt"})
    if (ext == served) return true;
  return false;
}

Result<MediaTarget> ResolveMediaPath(const std::filesystem::path& root, std::string_view rest) {
  Result<MediaTarget> parsed = ParseMediaPath(rest);
  if (!parsed.ok()) return parsed.status();
  MediaTarget t = std::move(parsed).value();
  if (!IsServedMediaFile(t.relative)) return NotFound("not a media file");
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

Result<std::filesystem::path> ResolveWebPath(const std::filesystem::path& web_root,
                                             std::string_view rest) {
  static const std::pair<std::string_view, std::string_view> kVendor[] = {
      {"vendor/hls.min.js", "node_modules/hls.js/dist/hls.min.js"},
      // hls.js without alternate audio, subtitles, DRM and CMCD: 120 KB gzipped instead of 190,
      // for the pages that play plain VOD on weak links.
      {"vendor/hls.light.min.js", "node_modules/hls.js/dist/hls.light.min.js"},
      {"vendor/tus.min.js", "node_modules/tus-js-client/dist/tus.min.js"},
  };
  std::string relative;
  if (rest.empty()) relative = "index.html";
  for (auto [name, file] : kVendor)
    if (rest == name) relative = file;
  if (relative.empty()) {
    if (rest.size() > 255 || rest.front() == '.') return InvalidArgument("bad page name");
    for (char c : rest)
      if (!SegmentCharOk(c)) return InvalidArgument("bad page name");
    relative = std::string(rest);
  }
  const std::string root = web_root.string();
  std::string real = RealPath(root + "/" + relative);
  if (real.empty()) return NotFound("no such page");
  // The vendor files resolve through node_modules (npm may link them); they stay inside root.
  if (real.compare(0, root.size() + 1, root + "/") != 0) return NotFound("page outside web root");
  struct stat st;
  if (stat(real.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return NotFound("not a file");
  return std::filesystem::path(real);
}

}  // namespace newsreel::streaming
