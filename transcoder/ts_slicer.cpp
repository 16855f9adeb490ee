#include "transcoder/ts_slicer.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "transcoder/ts_scanner.h"

namespace newsreel::transcoder {

Result<int> SliceTsByPts(const std::string& input, const std::vector<int64_t>& cut_pts,
                         const std::string& dir, int64_t tolerance) {
  auto read = ReadTsFile(input);
  if (!read.ok()) return read.status();
  const std::vector<uint8_t>& bytes = *read;
  auto scan = ScanTsBytes(bytes);
  if (!scan.ok()) return scan.status().WithContext(input);
  const auto& aus = scan->audio.empty() ? scan->video : scan->audio;
  if (aus.empty()) return Internal("no access units in " + input);

  // The byte offset where each segment starts: the first access unit at or after its cut.
  std::vector<int64_t> starts = {0};
  for (size_t c = 1; c < cut_pts.size(); ++c) {
    auto it = std::find_if(aus.begin(), aus.end(), [&](const TsAccessUnit& au) {
      return au.pts >= cut_pts[c] - tolerance;
    });
    if (it == aus.end()) break;
    if (it->offset > starts.back()) starts.push_back(it->offset);
  }
  const std::vector<uint8_t> psi(bytes.begin(), bytes.begin() + scan->psi_end);
  int written = 0;
  for (size_t i = 0; i < starts.size(); ++i) {
    int64_t begin = starts[i];
    int64_t end = i + 1 < starts.size() ? starts[i + 1] : static_cast<int64_t>(bytes.size());
    char name[32];
    std::snprintf(name, sizeof name, "seg_%05zu.ts", i + 1);
    std::filesystem::path path = std::filesystem::path(dir) / name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) return IoError("cannot write " + path.string());
    if (i > 0)
      out.write(reinterpret_cast<const char*>(psi.data()),
                static_cast<std::streamsize>(psi.size()));
    out.write(reinterpret_cast<const char*>(bytes.data() + begin), end - begin);
    if (!out) return IoError("short write to " + path.string());
    ++written;
  }
  return written;
}

}  // namespace newsreel::transcoder
