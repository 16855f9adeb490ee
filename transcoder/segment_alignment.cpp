#include "transcoder/segment_alignment.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <string>

#include "transcoder/ts_scanner.h"

namespace newsreel::transcoder {
namespace fs = std::filesystem;
namespace {

std::string SegmentName(size_t number) {
  char name[32];
  std::snprintf(name, sizeof name, "seg_%05zu.ts", number);
  return name;
}

Status WriteBytes(const fs::path& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return IoError("cannot write " + path.string());
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) return IoError("short write to " + path.string());
  return Status::Ok();
}

// One rendition: its files and the first video PTS of each.
struct RenditionCuts {
  fs::path dir;
  std::vector<fs::path> files;
  std::vector<int64_t> starts;  // 90 kHz, as written
  int64_t end = -1;             // the last segment's last video PTS or audio end, the later
};

// Scans the first 64 KB (whole packets) of the TS file at `path`.
Result<TsSegmentScan> ScanTsHead(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError("cannot open " + path.string());
  std::vector<uint8_t> head(348 * kTsPacketBytes);
  in.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()) / kTsPacketBytes * kTsPacketBytes);
  auto scan = ScanTsBytes(head);
  if (!scan.ok()) return scan.status().WithContext(path.string());
  return scan;
}

Result<RenditionCuts> ReadCuts(const fs::path& dir, int64_t frame_ticks) {
  RenditionCuts r{dir, ListSegmentFiles(dir), {}};
  for (size_t i = 0; i < r.files.size(); ++i) {
    // Renumbering assumes seg_00001.ts, seg_00002.ts, ... with no gap: a rename never replaces.
    if (r.files[i].filename() != SegmentName(i + 1))
      return Internal("unexpected segment file " + r.files[i].filename().string() + " in " +
                      dir.filename().string());
  }
  for (size_t i = 0; i < r.files.size(); ++i) {
    const fs::path& f = r.files[i];
    // A segment's first frame is its IDR, near the start of the file: the head is enough
    // (transcode.cpp scans every file whole afterwards). The last one is read whole, for its end.
    const bool last = i + 1 == r.files.size();
    auto scan = last ? ScanTsFile(f.string()) : ScanTsHead(f);
    if (!scan.ok()) return scan.status();
    if (!last && scan->video.empty()) scan = ScanTsFile(f.string());  // an unusually long head
    if (!scan.ok()) return scan.status();
    const int64_t start = scan->first_video_pts();
    if (start < 0)
      return Internal(f.filename().string() + " of " + dir.filename().string() + " holds no video");
    r.starts.push_back(start);
    if (last) r.end = std::max(scan->last_video_pts() + frame_ticks, scan->audio_end_pts());
  }
  if (r.files.empty()) return Internal("no segments were written in " + dir.filename().string());
  return r;
}

bool HasCut(const RenditionCuts& r, int64_t offset, int64_t tolerance) {
  return std::any_of(r.starts.begin(), r.starts.end(), [&](int64_t s) {
    return std::llabs(s - r.starts.front() - offset) <= tolerance;
  });
}

int Pid(const uint8_t* packet) { return ((packet[1] & 0x1f) << 8) | packet[2]; }
bool HasPayload(const uint8_t* packet) { return (packet[3] & 0x10) != 0; }
void SetCounter(uint8_t* packet, int cc) {
  packet[3] = static_cast<uint8_t>((packet[3] & 0xf0) | (cc & 0x0f));
}

// Cuts segment `index` of `r` at its IDR frame `at` (90 kHz, as written), renumbering the
// files after it. The new file opens with the segment's leading PAT/PMT, their continuity
// counters set to lead into the next PAT/PMT packets of the part they open.
Status CutSegment(RenditionCuts& r, size_t index, int64_t at, int64_t tolerance) {
  const fs::path& path = r.files[index];
  auto read = ReadTsFile(path.string());
  if (!read.ok()) return read.status();
  const std::vector<uint8_t>& bytes = *read;
  auto scan = ScanTsBytes(bytes);
  if (!scan.ok()) return scan.status().WithContext(path.string());
  auto idr = std::find_if(scan->video.begin(), scan->video.end(), [&](const TsAccessUnit& au) {
    return au.idr && std::llabs(au.pts - at) <= tolerance;
  });
  if (idr == scan->video.end() || idr->offset <= scan->psi_end) {
    char when[32];
    std::snprintf(when, sizeof when, "%.3f s", static_cast<double>(at - r.starts.front()) / 9e4);
    return Internal("rendition " + r.dir.filename().string() + " has no IDR frame at " + when +
                    ", where another rendition starts a segment");
  }

  // Make room: every later file moves up by one, the last first.
  for (size_t i = r.files.size(); i-- > index + 1;) {
    const fs::path moved = r.dir / SegmentName(i + 2);
    std::error_code ec;
    fs::rename(r.files[i], moved, ec);
    if (ec) return IoError("cannot rename " + r.files[i].string() + ": " + ec.message());
    r.files[i] = moved;
  }
  const fs::path second = r.dir / SegmentName(index + 2);
  std::vector<uint8_t> rest(bytes.begin(), bytes.begin() + scan->psi_end);
  rest.insert(rest.end(), bytes.begin() + idr->offset, bytes.end());
  const size_t psi = static_cast<size_t>(scan->psi_end);
  for (size_t p = 0; p + kTsPacketBytes <= psi; p += kTsPacketBytes) {
    const int pid = Pid(&rest[p]);
    int copies_after = 0;  // this PID's copied packets after this one
    for (size_t q = p + kTsPacketBytes; q + kTsPacketBytes <= psi; q += kTsPacketBytes)
      copies_after += Pid(&rest[q]) == pid ? 1 : 0;
    for (size_t q = psi; q + kTsPacketBytes <= rest.size(); q += kTsPacketBytes) {
      if (Pid(&rest[q]) != pid || !HasPayload(&rest[q])) continue;
      SetCounter(&rest[p], (rest[q + 3] & 0x0f) - 1 - copies_after + 32);
      break;
    }
  }
  NR_RETURN_IF_ERROR(WriteBytes(second, rest.data(), rest.size()));
  NR_RETURN_IF_ERROR(WriteBytes(path, bytes.data(), static_cast<size_t>(idr->offset)));
  r.files.insert(r.files.begin() + static_cast<std::ptrdiff_t>(index) + 1, second);
  r.starts.insert(r.starts.begin() + static_cast<std::ptrdiff_t>(index) + 1, idr->pts);
  return Status::Ok();
}

// Appends the last segment of `r` to the one before it: without its leading PAT/PMT, and with
// each PID's continuity counter carried on from the earlier file (the muxer restarted them).
Status JoinLastSegment(RenditionCuts& r) {
  const fs::path& last = r.files.back();
  const fs::path& before = r.files[r.files.size() - 2];
  auto head = ReadTsFile(before.string());
  if (!head.ok()) return head.status();
  auto tail = ReadTsFile(last.string());
  if (!tail.ok()) return tail.status();
  auto tail_scan = ScanTsBytes(*tail);
  if (!tail_scan.ok()) return tail_scan.status().WithContext(last.string());

  std::array<int, 0x2000> counter;
  counter.fill(-1);
  const std::vector<uint8_t>& h = *head;
  for (size_t p = 0; p + kTsPacketBytes <= h.size(); p += kTsPacketBytes)
    if (HasPayload(&h[p])) counter[Pid(&h[p])] = h[p + 3] & 0x0f;
  std::vector<uint8_t> joined = std::move(*head);
  const std::vector<uint8_t>& t = *tail;
  for (size_t p = static_cast<size_t>(tail_scan->psi_end); p + kTsPacketBytes <= t.size();
       p += kTsPacketBytes) {
    const size_t at = joined.size();
    joined.insert(joined.end(), t.begin() + static_cast<std::ptrdiff_t>(p),
                  t.begin() + static_cast<std::ptrdiff_t>(p + kTsPacketBytes));
    const int pid = Pid(&joined[at]);
    if (pid == 0x1fff) continue;  // null packets carry no count
    // A packet with payload steps its PID's counter; one without repeats it.
    if (HasPayload(&joined[at])) counter[pid] = (counter[pid] + 1) & 0x0f;
    if (counter[pid] >= 0) SetCounter(&joined[at], counter[pid]);
  }
  NR_RETURN_IF_ERROR(WriteBytes(before, joined.data(), joined.size()));
  std::error_code ec;
  fs::remove(last, ec);
  if (ec) return IoError("cannot remove " + last.string() + ": " + ec.message());
  r.files.pop_back();
  r.starts.pop_back();
  return Status::Ok();
}

}  // namespace

std::vector<fs::path> ListSegmentFiles(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".ts") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

Status AlignSegmentCuts(const std::vector<fs::path>& rendition_dirs, int64_t frame_ticks,
                        int64_t tolerance, int64_t min_last) {
  std::vector<RenditionCuts> renditions;
  for (const auto& dir : rendition_dirs) {
    auto cuts = ReadCuts(dir, frame_ticks);
    if (!cuts.ok()) return cuts.status();
    renditions.push_back(std::move(*cuts));
  }
  // Every instant, from the first frame, at which some rendition starts a segment.
  std::vector<int64_t> offsets;
  for (const auto& r : renditions)
    for (int64_t s : r.starts)
      if (std::none_of(offsets.begin(), offsets.end(), [&](int64_t o) {
            return std::llabs(o - (s - r.starts.front())) <= tolerance;
          }))
        offsets.push_back(s - r.starts.front());
  std::sort(offsets.begin(), offsets.end());

  for (auto& r : renditions) {
    for (int64_t offset : offsets) {
      if (HasCut(r, offset, tolerance)) continue;
      const int64_t at = r.starts.front() + offset;
      // The segment that spans `at`: the last one starting before it.
      size_t index = 0;
      while (index + 1 < r.starts.size() && r.starts[index + 1] < at) ++index;
      NR_RETURN_IF_ERROR(CutSegment(r, index, at, tolerance));
    }
  }

  if (renditions.empty() || renditions.front().files.size() < 2) return Status::Ok();
  int64_t last_length = 0;
  for (const auto& r : renditions) last_length = std::max(last_length, r.end - r.starts.back());
  if (last_length >= min_last) return Status::Ok();
  for (auto& r : renditions) NR_RETURN_IF_ERROR(JoinLastSegment(r));
  return Status::Ok();
}

}  // namespace newsreel::transcoder
