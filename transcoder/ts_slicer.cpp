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

bool EndShortTsWithNullPacket(std::vector<uint8_t>& ts) {
  const size_t packets = ts.size() / kTsPacketBytes;
  if (packets >= kTsPacketsRecognizedByContent) return false;
  auto pid = [&](size_t packet) {
    return ((ts[packet * kTsPacketBytes + 1] & 0x1f) << 8) | ts[packet * kTsPacketBytes + 2];
  };
  if (packets > 0 && pid(packets - 1) == 0x1fff) return false;
  // Sync byte, PID 0x1FFF, payload only, continuity counter 0 (ignored on null packets).
  const uint8_t header[4] = {0x47, 0x1f, 0xff, 0x10};
  ts.insert(ts.end(), header, header + 4);
  ts.insert(ts.end(), kTsPacketBytes - 4, 0xff);
  return true;
}

Status EndShortTsFileWithNullPacket(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return IoError("cannot read the size of " + path + ": " + ec.message());
  if (size >= kTsPacketsRecognizedByContent * kTsPacketBytes) return Status::Ok();  // most segments
  auto read = ReadTsFile(path);
  if (!read.ok()) return read.status();
  std::vector<uint8_t>& bytes = *read;
  if (!EndShortTsWithNullPacket(bytes)) return Status::Ok();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) return IoError("cannot rewrite " + path);
  return Status::Ok();
}

}  // namespace newsreel::transcoder
