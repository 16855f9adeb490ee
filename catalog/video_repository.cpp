#include "catalog/video_repository.h"

#include <charconv>
#include <set>

#include "catalog/ids.h"
#include "catalog/internal/connection.h"
#include "catalog/internal/video_rows.h"
#include "catalog/vietnamese_fold.h"

namespace newsreel::catalog {

using internal::Durability;
using internal::FailedPrecondition;
using internal::Guard;
using internal::Query;

namespace {

constexpr int kMaxPageSize = 200;

Status CheckText(std::string_view field, const std::string& text) {
  if (!IsValidUtf8(text)) return InvalidArgument(std::string(field) + " is not valid UTF-8");
  return Status::Ok();
}

Status ValidateEditable(const Video& v) {
  NR_RETURN_IF_ERROR(CheckText("title", v.title));
  NR_RETURN_IF_ERROR(CheckText("description", v.description));
  NR_RETURN_IF_ERROR(CheckText("reporter", v.reporter));
  NR_RETURN_IF_ERROR(CheckText("location", v.location));
  NR_RETURN_IF_ERROR(CheckText("failure reason", v.failure_reason));
  NR_RETURN_IF_ERROR(ValidateFailureCode(v.failure_code));
  NR_RETURN_IF_ERROR(CheckText("source file name", v.source.filename));
  for (const std::string& tag : v.tags) {
    if (tag.empty()) return InvalidArgument("a tag is empty");
    NR_RETURN_IF_ERROR(CheckText("a tag", tag));
  }
  if (v.status == VideoStatus::kFailed && v.failure_reason.empty()) {
    return InvalidArgument("a failed video needs a reason a reporter can read");
  }
  return Status::Ok();
}

// A path the transcoder wrote inside the video's media folder.
Status CheckRelativePath(const std::string& path) {
  if (path.empty()) return InvalidArgument("a media path is empty");
  if (path.front() == '/' || path.find('\\') != std::string::npos ||
      path.find('\0') != std::string::npos) {
    return InvalidArgument("media path '" + path + "' must be relative, with '/' separators");
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string_view part(path.data() + start, end - start);
    if (part == ".." || part == "." || part.empty()) {
      return InvalidArgument("media path '" + path + "' must stay inside the video's folder");
    }
    start = end + 1;
  }
  return Status::Ok();
}

Status NoSuchVideo(std::string_view id) { return NotFound("no video with id " + std::string(id)); }

std::string EncodeCursor(int64_t created_at, int64_t seq) {
  return std::to_string(created_at) + "_" + std::to_string(seq);
}

bool DecodeCursor(const std::string& cursor, int64_t* created_at, int64_t* seq) {
  size_t sep = cursor.find('_');
  if (sep == std::string::npos) return false;
  const char* begin = cursor.data();
  const char* end = begin + cursor.size();
  auto a = std::from_chars(begin, begin + sep, *created_at);
  auto b = std::from_chars(begin + sep + 1, end, *seq);
  return a.ec == std::errc() && a.ptr == begin + sep && b.ec == std::errc() && b.ptr == end;
}

Result<Video> Load(internal::Connection& c, std::string_view id) {
  Query q(c, std::string("SELECT ") + internal::kVideoColumns + " FROM videos AS v WHERE v.id = ?");
  q->bind(1, std::string(id));
  if (!q->executeStep()) return NoSuchVideo(id);
  return internal::ReadVideo(*q);
}

// Binds the columns of `v` in the order of kStoredColumns, starting at 1; returns the next index.
int BindStored(SQLite::Statement& q, const Video& v) {
  int i = 1;
  q.bind(i++, v.title);
  q.bind(i++, v.description);
  q.bind(i++, internal::TagsToJson(v.tags));
  q.bind(i++, v.reporter);
  q.bind(i++, v.location);
  internal::BindOptional(q, i++, v.recorded_at_ms);
  internal::BindOptional(q, i++, v.duration_ms);
  q.bind(i++, v.source.filename);
  q.bind(i++, v.source.container);
  q.bind(i++, v.source.video_codec);
  q.bind(i++, v.source.audio_codec);
  q.bind(i++, v.source.width);
  q.bind(i++, v.source.height);
  q.bind(i++, v.source.frame_rate);
  q.bind(i++, v.source.bit_rate);
  q.bind(i++, v.source.size_bytes);
  q.bind(i++, ToString(v.status));
  q.bind(i++, v.failure_reason);
  q.bind(i++, v.failure_code);
  q.bind(i++, ToString(v.visibility));
  internal::BindOptional(q, i++, v.owner_id);
  q.bind(i++, v.updated_at_ms);
  return i;
}

// Every column but seq, id and created_at, in BindStored's order.
constexpr char kStoredColumns[] =
    "title, description, tags, reporter, location, recorded_at, duration_ms, source_filename, "
    "source_container, source_video_codec, source_audio_codec, source_width, source_height, "
    "source_frame_rate, source_bit_rate, source_size_bytes, status, failure_reason, failure_code, "
    "visibility, owner_id, updated_at";
constexpr int kStoredColumnCount = 22;

// Writes every column of `v` except id, seq and created_at to its existing row.
void Store(internal::Connection& c, const Video& v) {
  static const std::string sql = [] {
    std::string columns = kStoredColumns;
    std::string sets;
    size_t start = 0;
    while (start < columns.size()) {
      size_t end = columns.find(", ", start);
      if (end == std::string::npos) end = columns.size();
      if (!sets.empty()) sets += ", ";
      sets += columns.substr(start, end - start) + " = ?";
      start = end + 2;
    }
    return "UPDATE videos SET " + sets + " WHERE id = ?";
  }();
  Query q(c, sql);
  int i = BindStored(*q, v);
  q->bind(i, v.id);
  q->exec();
}

void Insert(internal::Connection& c, const Video& v) {
  static const std::string sql = [] {
    std::string marks;
    for (int i = 0; i < kStoredColumnCount; ++i) marks += "?, ";
    return std::string("INSERT INTO videos (") + kStoredColumns + ", id, created_at) VALUES (" +
           marks + "?, ?)";
  }();
  Query q(c, sql);
  int i = BindStored(*q, v);
  q->bind(i++, v.id);
  q->bind(i, v.created_at_ms);
  q->exec();
}

}  // namespace

bool IsAllowedTransition(VideoStatus from, VideoStatus to) {
  using S = VideoStatus;
  if (from == to) return true;
  switch (from) {
    case S::kUploading:
      return to == S::kQueued || to == S::kFailed;
    case S::kQueued:
      return to == S::kProcessing || to == S::kFailed;
    case S::kProcessing:
      return to == S::kReady || to == S::kFailed || to == S::kQueued;
    case S::kReady:
      return to == S::kQueued;
    case S::kFailed:
      return to == S::kQueued;
  }
  return false;
}

Result<Video> VideoRepository::Create(Video video) {
  if (video.id.empty()) {
    video.id = NewId();
  } else {
    NR_RETURN_IF_ERROR(ValidateId(video.id));
  }
  NR_RETURN_IF_ERROR(ValidateEditable(video));
  if (video.status != VideoStatus::kFailed) {
    video.failure_reason.clear();
    video.failure_code.clear();
  }
  return Guard("creating video " + video.id, [&]() -> Result<Video> {
    return connection_.TransactResult<Video>(Durability::kFull, [&]() -> Result<Video> {
      video.created_at_ms = video.updated_at_ms = connection_.Now();
      Query exists(connection_, "SELECT 1 FROM videos WHERE id = ?");
      exists->bind(1, video.id);
      if (exists->executeStep()) {
        return Status(ErrorCode::kAlreadyExists, "a video with id " + video.id + " already exists");
      }
      Insert(connection_, video);
      return video;
    });
  });
}

Result<Video> VideoRepository::Get(std::string_view id) {
  return Guard("reading video", [&]() -> Result<Video> { return Load(connection_, id); });
}

Result<Video> VideoRepository::Update(std::string_view id, const VideoPatch& patch) {
  return Guard("updating video", [&]() -> Result<Video> {
    return connection_.TransactResult<Video>(Durability::kFull, [&]() -> Result<Video> {
      Result<Video> loaded = Load(connection_, id);
      if (!loaded.ok()) return loaded.status();
      Video v = std::move(loaded).value();
      if (patch.title) v.title = *patch.title;
      if (patch.description) v.description = *patch.description;
      if (patch.tags) v.tags = *patch.tags;
      if (patch.reporter) v.reporter = *patch.reporter;
      if (patch.location) v.location = *patch.location;
      if (patch.recorded_at_ms) v.recorded_at_ms = *patch.recorded_at_ms;
      if (patch.visibility) v.visibility = *patch.visibility;
      NR_RETURN_IF_ERROR(ValidateEditable(v));
      v.updated_at_ms = connection_.Now();
      Store(connection_, v);
      return v;
    });
  });
}

Result<Video> VideoRepository::SetStatus(std::string_view id, VideoStatus status,
                                         std::string_view failure_reason) {
  if (status == VideoStatus::kFailed && failure_reason.empty()) {
    return InvalidArgument("a failed video needs a reason a reporter can read");
  }
  if (!IsValidUtf8(failure_reason)) return InvalidArgument("failure reason is not valid UTF-8");
  return Guard("changing video status", [&]() -> Result<Video> {
    return connection_.TransactResult<Video>(Durability::kFull, [&]() -> Result<Video> {
      Result<Video> loaded = Load(connection_, id);
      if (!loaded.ok()) return loaded.status();
      Video v = std::move(loaded).value();
      if (!IsAllowedTransition(v.status, status)) {
        return FailedPrecondition("video " + v.id + " cannot go from " + ToString(v.status) +
                                  " to " + ToString(status));
      }
      v.status = status;
      v.failure_reason = status == VideoStatus::kFailed ? std::string(failure_reason) : "";
      v.failure_code.clear();
      v.updated_at_ms = connection_.Now();
      Store(connection_, v);
      return v;
    });
  });
}

Result<Video> VideoRepository::SetSourceFacts(std::string_view id, const SourceFacts& source,
                                              std::optional<int64_t> duration_ms) {
  if (!IsValidUtf8(source.filename)) return InvalidArgument("source file name is not valid UTF-8");
  return Guard("recording source facts", [&]() -> Result<Video> {
    return connection_.TransactResult<Video>(Durability::kFull, [&]() -> Result<Video> {
      Result<Video> loaded = Load(connection_, id);
      if (!loaded.ok()) return loaded.status();
      Video v = std::move(loaded).value();
      v.source = source;
      v.duration_ms = duration_ms;
      v.updated_at_ms = connection_.Now();
      Store(connection_, v);
      return v;
    });
  });
}

Status VideoRepository::Delete(std::string_view id) {
  return Guard("deleting video", [&]() -> Status {
    return connection_.Transact(Durability::kFull, [&]() -> Status {
      Query q(connection_, "DELETE FROM videos WHERE id = ?");
      q->bind(1, std::string(id));
      if (q->exec() == 0) return NoSuchVideo(id);
      return Status::Ok();
    });
  });
}

Result<VideoPage> VideoRepository::List(const VideoFilter& filter, const PageRequest& page) {
  if (page.limit < 1 || page.limit > kMaxPageSize) {
    return InvalidArgument("page limit must be 1.." + std::to_string(kMaxPageSize));
  }
  NR_RETURN_IF_ERROR(internal::ValidateVideoFilter(filter));
  int64_t after_created = 0;
  int64_t after_seq = 0;
  const bool has_cursor = !page.cursor.empty();
  if (has_cursor && !DecodeCursor(page.cursor, &after_created, &after_seq)) {
    return InvalidArgument("malformed page cursor '" + page.cursor + "'");
  }
  return Guard("listing videos", [&]() -> Result<VideoPage> {
    std::string sql =
        std::string("SELECT ") + internal::kVideoColumns + " FROM videos AS v WHERE 1 = 1";
    internal::AppendVideoFilter(filter, &sql);
    if (has_cursor) sql += " AND (v.created_at, v.seq) < (?, ?)";
    sql += " ORDER BY v.created_at DESC, v.seq DESC LIMIT ?";
    Query q(connection_, sql);
    int i = 1;
    internal::BindVideoFilter(filter, *q, &i);
    if (has_cursor) {
      q->bind(i++, after_created);
      q->bind(i++, after_seq);
    }
    q->bind(i++, page.limit + 1);
    VideoPage result;
    int64_t last_created = 0;
    int64_t last_seq = 0;
    while (q->executeStep()) {
      if (static_cast<int>(result.videos.size()) == page.limit) {
        result.next_cursor = EncodeCursor(last_created, last_seq);
        break;
      }
      result.videos.push_back(internal::ReadVideo(*q));
      last_created = result.videos.back().created_at_ms;
      last_seq = q->getColumn(0).getInt64();
    }
    return result;
  });
}

Status VideoRepository::CheckExists(std::string_view id) {
  Query q(connection_, "SELECT 1 FROM videos WHERE id = ?");
  q->bind(1, std::string(id));
  return q->executeStep() ? Status::Ok() : NoSuchVideo(id);
}

Status VideoRepository::ReplaceMedia(std::string_view id, const VideoMedia& media) {
  std::set<std::string> names;
  for (const Rendition& r : media.renditions) {
    if (r.name.empty() || !IsValidUtf8(r.name)) {
      return InvalidArgument("a rendition name is empty or not UTF-8");
    }
    if (!names.insert(r.name).second) {
      return InvalidArgument("rendition name '" + r.name + "' appears twice");
    }
    NR_RETURN_IF_ERROR(CheckRelativePath(r.playlist_path));
  }
  std::set<AssetKind> kinds;
  for (const Asset& a : media.assets) {
    if (!kinds.insert(a.kind).second) {
      return InvalidArgument(std::string("asset kind '") + ToString(a.kind) + "' appears twice");
    }
    NR_RETURN_IF_ERROR(CheckRelativePath(a.path));
  }
  return Guard("replacing renditions and assets", [&]() -> Status {
    return connection_.Transact(Durability::kFull, [&]() -> Status {
      NR_RETURN_IF_ERROR(CheckExists(id));
      const std::string video_id(id);
      {
        Query q(connection_, "DELETE FROM renditions WHERE video_id = ?");
        q->bind(1, video_id);
        q->exec();
      }
      {
        Query q(connection_, "DELETE FROM assets WHERE video_id = ?");
        q->bind(1, video_id);
        q->exec();
      }
      for (const Rendition& r : media.renditions) {
        Query q(connection_,
                "INSERT INTO renditions (video_id, name, width, height, bandwidth, "
                "average_bandwidth, codecs, frame_rate, playlist_path, encoder) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        int i = 1;
        q->bind(i++, video_id);
        q->bind(i++, r.name);
        q->bind(i++, r.width);
        q->bind(i++, r.height);
        q->bind(i++, r.bandwidth);
        q->bind(i++, r.average_bandwidth);
        q->bind(i++, r.codecs);
        q->bind(i++, r.frame_rate);
        q->bind(i++, r.playlist_path);
        q->bind(i++, r.encoder);
        q->exec();
      }
      for (const Asset& a : media.assets) {
        Query q(connection_,
                "INSERT INTO assets (video_id, kind, path, width, height) VALUES (?, ?, ?, ?, ?)");
        q->bind(1, video_id);
        q->bind(2, ToString(a.kind));
        q->bind(3, a.path);
        q->bind(4, a.width);
        q->bind(5, a.height);
        q->exec();
      }
      Query touch(connection_, "UPDATE videos SET updated_at = ? WHERE id = ?");
      touch->bind(1, connection_.Now());
      touch->bind(2, video_id);
      touch->exec();
      return Status::Ok();
    });
  });
}

Result<std::vector<Rendition>> VideoRepository::ListRenditions(std::string_view id) {
  return Guard("listing renditions", [&]() -> Result<std::vector<Rendition>> {
    NR_RETURN_IF_ERROR(CheckExists(id));
    Query q(connection_,
            "SELECT name, width, height, bandwidth, average_bandwidth, codecs, frame_rate, "
            "playlist_path, encoder FROM renditions WHERE video_id = ? "
            "ORDER BY bandwidth DESC, name");
    q->bind(1, std::string(id));
    std::vector<Rendition> out;
    while (q->executeStep()) {
      Rendition r;
      r.name = q->getColumn(0).getString();
      r.width = q->getColumn(1).getInt();
      r.height = q->getColumn(2).getInt();
      r.bandwidth = q->getColumn(3).getInt64();
      r.average_bandwidth = q->getColumn(4).getInt64();
      r.codecs = q->getColumn(5).getString();
      r.frame_rate = q->getColumn(6).getDouble();
      r.playlist_path = q->getColumn(7).getString();
      r.encoder = q->getColumn(8).getString();
      out.push_back(std::move(r));
    }
    return out;
  });
}

Result<std::vector<Asset>> VideoRepository::ListAssets(std::string_view id) {
  return Guard("listing assets", [&]() -> Result<std::vector<Asset>> {
    NR_RETURN_IF_ERROR(CheckExists(id));
    Query q(connection_,
            "SELECT kind, path, width, height FROM assets WHERE video_id = ? ORDER BY kind");
    q->bind(1, std::string(id));
    std::vector<Asset> out;
    while (q->executeStep()) {
      Asset a;
      Result<AssetKind> kind = ParseAssetKind(q->getColumn(0).getString());
      if (!kind.ok()) return kind.status();
      a.kind = *kind;
      a.path = q->getColumn(1).getString();
      a.width = q->getColumn(2).getInt();
      a.height = q->getColumn(3).getInt();
      out.push_back(std::move(a));
    }
    return out;
  });
}

}  // namespace newsreel::catalog
