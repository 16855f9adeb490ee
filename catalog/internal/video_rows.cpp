#include "catalog/internal/video_rows.h"

#include <nlohmann/json.hpp>

#include "catalog/internal/connection.h"

namespace newsreel::catalog::internal {

const char kVideoColumns[] =
    "v.seq, v.id, v.title, v.description, v.tags, v.reporter, v.location, v.recorded_at, "
    "v.duration_ms, v.source_filename, v.source_container, v.source_video_codec, "
    "v.source_audio_codec, v.source_width, v.source_height, v.source_frame_rate, "
    "v.source_bit_rate, v.source_size_bytes, v.status, v.failure_reason, v.visibility, "
    "v.created_at, v.updated_at, v.owner_id, v.failure_code";

Video ReadVideo(SQLite::Statement& s) {
  Video v;
  v.id = s.getColumn(1).getString();
  v.title = s.getColumn(2).getString();
  v.description = s.getColumn(3).getString();
  v.tags = TagsFromJson(s.getColumn(4).getString());
  v.reporter = s.getColumn(5).getString();
  v.location = s.getColumn(6).getString();
  v.recorded_at_ms = OptionalInt64(s.getColumn(7));
  v.duration_ms = OptionalInt64(s.getColumn(8));
  v.source.filename = s.getColumn(9).getString();
  v.source.container = s.getColumn(10).getString();
  v.source.video_codec = s.getColumn(11).getString();
  v.source.audio_codec = s.getColumn(12).getString();
  v.source.width = s.getColumn(13).getInt();
  v.source.height = s.getColumn(14).getInt();
  v.source.frame_rate = s.getColumn(15).getDouble();
  v.source.bit_rate = s.getColumn(16).getInt64();
  v.source.size_bytes = s.getColumn(17).getInt64();
  // The CHECK constraints keep these parseable; a hand-edited row fails loudly.
  Result<VideoStatus> status = ParseVideoStatus(s.getColumn(18).getString());
  if (!status.ok()) throw std::runtime_error(status.status().message());
  v.status = *status;
  v.failure_reason = s.getColumn(19).getString();
  Result<Visibility> visibility = ParseVisibility(s.getColumn(20).getString());
  if (!visibility.ok()) throw std::runtime_error(visibility.status().message());
  v.visibility = *visibility;
  v.created_at_ms = s.getColumn(21).getInt64();
  v.updated_at_ms = s.getColumn(22).getInt64();
  v.owner_id = OptionalInt64(s.getColumn(23));
  v.failure_code = s.getColumn(24).getString();
  return v;
}

std::string TagsToJson(const std::vector<std::string>& tags) { return nlohmann::json(tags).dump(); }

std::vector<std::string> TagsFromJson(const std::string& json) {
  return nlohmann::json::parse(json).get<std::vector<std::string>>();
}

void AppendVideoFilter(const VideoFilter& f, std::string* sql) {
  if (f.status) *sql += " AND v.status = ?";
  if (f.visibility) *sql += " AND v.visibility = ?";
  if (f.reporter) *sql += " AND v.reporter = ?";
  if (f.owner_id) *sql += " AND v.owner_id = ?";
  if (f.published_or_owner) *sql += " AND (v.visibility = 'published' OR v.owner_id = ?)";
  if (f.recorded_from_ms) *sql += " AND v.recorded_at >= ?";
  if (f.recorded_to_ms) *sql += " AND v.recorded_at < ?";
  if (f.created_from_ms) *sql += " AND v.created_at >= ?";
  if (f.created_to_ms) *sql += " AND v.created_at < ?";
}

void BindVideoFilter(const VideoFilter& f, SQLite::Statement& s, int* i) {
  if (f.status) s.bind((*i)++, ToString(*f.status));
  if (f.visibility) s.bind((*i)++, ToString(*f.visibility));
  if (f.reporter) s.bind((*i)++, *f.reporter);
  if (f.owner_id) s.bind((*i)++, *f.owner_id);
  if (f.published_or_owner) s.bind((*i)++, *f.published_or_owner);
  if (f.recorded_from_ms) s.bind((*i)++, *f.recorded_from_ms);
  if (f.recorded_to_ms) s.bind((*i)++, *f.recorded_to_ms);
  if (f.created_from_ms) s.bind((*i)++, *f.created_from_ms);
  if (f.created_to_ms) s.bind((*i)++, *f.created_to_ms);
}

Status ValidateVideoFilter(const VideoFilter& f) {
  if (f.reporter && f.reporter->empty()) {
    return InvalidArgument("the reporter filter is empty; leave it unset to list every reporter");
  }
  return Status::Ok();
}

}  // namespace newsreel::catalog::internal
