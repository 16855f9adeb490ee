#include "transcoder/recording.h"

#include <algorithm>
#include <filesystem>

#include "common/log.h"
#include "transcoder/media_allowlist.h"
#include "transcoder/media_extent.h"
#include "transcoder/probe.h"

namespace newsreel::transcoder {
namespace {

namespace fs = std::filesystem;

// The session number of a file name "<n>.ts", or 0 when the name is not one.
int SessionNumber(const std::string& name) {
  if (name.size() < 4 || name.size() > 12 || !name.ends_with(".ts") || name[0] < '1' ||
      name[0] > '9')
    return 0;
  int n = 0;
  for (size_t i = 0; i + 3 < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return 0;
    n = n * 10 + (name[i] - '0');
  }
  return n;
}

// Checks and measures one session; an error says why it is left out.
Result<RecordingSession> OpenSession(const std::string& path, std::chrono::seconds timeout) {
  auto type = CheckMediaFormat(path);
  if (!type.ok()) return type.status();
  if (*type != "video/mpegts") return InvalidArgument("not MPEG-TS (" + *type + ")");
  auto info = Probe(path);
  if (!info.ok()) return info.status();
  if (!info->has_video()) return InvalidArgument("no video stream that can be decoded");
  auto times = MeasureByParsing(path, timeout);
  if (!times.ok()) return times.status();
  if (!times->video.seen() && !times->error.empty()) return InvalidArgument(times->error);
  if (!times->video.seen() || times->video.keyframes == 0)
    return InvalidArgument("no picture that can be decoded (no keyframe)");
  RecordingSession s;
  s.path = path;
  s.info = std::move(*info);
  s.has_audio = times->audio.seen() && s.info.has_audio();
  s.origin_ns = times->video.first;
  int64_t end = times->video.end;
  if (s.has_audio) {
    s.origin_ns = std::min(s.origin_ns, times->audio.first);
    end = std::max(end, times->audio.end);
  }
  s.length_ns = end - s.origin_ns;
  return s;
}

int64_t Pixels(const RecordingSession& s) {
  const VideoStreamInfo& v = s.info.video.front();
  return static_cast<int64_t>(v.display_width) * v.display_height;
}

}  // namespace

bool IsRecordingFolder(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

Result<std::vector<std::string>> ListRecordingSessions(const std::string& folder) {
  std::error_code ec;
  std::vector<std::pair<int, std::string>> found;
  fs::directory_iterator it(folder, ec);
  if (ec) return IoError("cannot list " + folder + ": " + ec.message());
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return IoError("cannot list " + folder + ": " + ec.message());
    const int n = SessionNumber(it->path().filename().string());
    if (n == 0) continue;
    // Not followed: a link could name any file on the machine.
    if (!fs::is_regular_file(it->symlink_status(ec))) continue;
    found.emplace_back(n, it->path().string());
    if (found.size() > static_cast<size_t>(kMaxRecordingSessions))
      return InvalidArgument("recording has more than " + std::to_string(kMaxRecordingSessions) +
                             " sessions: " + folder);
  }
  if (found.empty())
    return NotFound("recording holds no session files (1.ts, 2.ts, ...): " + folder);
  std::sort(found.begin(), found.end());
  std::vector<std::string> paths;
  for (auto& [n, path] : found) paths.push_back(std::move(path));
  return paths;
}

Result<Recording> OpenRecording(const std::string& folder, std::chrono::seconds timeout) {
  auto paths = ListRecordingSessions(folder);
  if (!paths.ok()) return paths.status();
  Recording r;
  int64_t offset = 0;
  for (const std::string& path : *paths) {
    auto session = OpenSession(path, timeout);
    if (!session.ok()) {
      std::string w = "session " + fs::path(path).filename().string() +
                      " left out: " + session.status().message();
      NR_LOG(kWarning) << "recording: " << w;
      r.warnings.push_back(std::move(w));
      ++r.skipped;
      continue;
    }
    NR_LOG(kInfo) << "recording: " << path << ": " << session->length_ns / 1e9 << " s at "
                  << offset / 1e9 << " s" << (session->has_audio ? "" : ", no audio");
    session->offset_ns = offset;
    offset += session->length_ns;
    r.sessions.push_back(std::move(*session));
  }
  if (r.sessions.empty())
    return InvalidArgument("recording holds nothing that can be decoded (" +
                           std::to_string(r.skipped) + " session" + (r.skipped == 1 ? "" : "s") +
                           " left out): " + folder);

  const RecordingSession* largest = &r.sessions.front();
  for (const RecordingSession& s : r.sessions)
    if (Pixels(s) > Pixels(*largest) ||
        (Pixels(s) == Pixels(*largest) && s.length_ns > largest->length_ns))
      largest = &s;
  MediaInfo& m = r.combined;
  m.path = folder;
  m.container = largest->info.container;
  m.duration_ns = offset;
  m.video.push_back(largest->info.video.front());
  for (const RecordingSession& s : r.sessions) {
    m.size_bytes += s.info.size_bytes;
    if (s.has_audio && m.audio.empty()) m.audio.push_back(s.info.audio.front());
  }
  return r;
}

}  // namespace newsreel::transcoder
