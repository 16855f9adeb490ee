#include "catalog/upload_repository.h"

#include <nlohmann/json.hpp>

#include "catalog/ids.h"
#include "catalog/internal/connection.h"
#include "catalog/vietnamese_fold.h"

namespace newsreel::catalog {

using internal::Durability;
using internal::FailedPrecondition;
using internal::Guard;
using internal::OptionalInt64;
using internal::Query;

namespace {

constexpr char kUploadColumns[] =
    "id, byte_offset, byte_length, metadata, reporter, checksum_state, created_at, updated_at, "
    "expires_at, completed_at, owner_id";

Upload ReadUpload(SQLite::Statement& s) {
  Upload u;
  u.id = s.getColumn(0).getString();
  u.offset = s.getColumn(1).getInt64();
  u.length = OptionalInt64(s.getColumn(2));
  u.metadata =
      nlohmann::json::parse(s.getColumn(3).getString()).get<std::map<std::string, std::string>>();
  u.reporter = s.getColumn(4).getString();
  const SQLite::Column checksum = s.getColumn(5);
  if (!checksum.isNull()) {
    u.checksum_state.assign(static_cast<const char*>(checksum.getBlob()), checksum.getBytes());
  }
  u.created_at_ms = s.getColumn(6).getInt64();
  u.updated_at_ms = s.getColumn(7).getInt64();
  u.expires_at_ms = s.getColumn(8).getInt64();
  u.completed_at_ms = OptionalInt64(s.getColumn(9));
  u.owner_id = OptionalInt64(s.getColumn(10));
  return u;
}

Status NoSuchUpload(std::string_view id) {
  return NotFound("no upload with id " + std::string(id));
}

Result<Upload> Load(internal::Connection& c, std::string_view id) {
  Query q(c, std::string("SELECT ") + kUploadColumns + " FROM uploads WHERE id = ?");
  q->bind(1, std::string(id));
  if (!q->executeStep()) return NoSuchUpload(id);
  return ReadUpload(*q);
}

}  // namespace

Result<Upload> UploadRepository::Create(Upload upload) {
  if (upload.id.empty()) {
    upload.id = NewId();
  } else {
    NR_RETURN_IF_ERROR(ValidateId(upload.id));
  }
  if (upload.length && *upload.length < 0) return InvalidArgument("upload length is negative");
  if (upload.expires_at_ms <= 0) return InvalidArgument("an upload needs an expiry time");
  if (!IsValidUtf8(upload.reporter)) return InvalidArgument("reporter is not valid UTF-8");
  for (const auto& [key, value] : upload.metadata) {
    if (!IsValidUtf8(key) || !IsValidUtf8(value)) {
      return InvalidArgument("upload metadata must be UTF-8 text");
    }
  }
  return Guard("creating upload " + upload.id, [&]() -> Result<Upload> {
    return connection_.TransactResult<Upload>(Durability::kFull, [&]() -> Result<Upload> {
      Query exists(connection_, "SELECT 1 FROM uploads WHERE id = ?");
      exists->bind(1, upload.id);
      if (exists->executeStep()) {
        return Status(ErrorCode::kAlreadyExists,
                      "an upload with id " + upload.id + " already exists");
      }
      upload.offset = 0;
      upload.created_at_ms = upload.updated_at_ms = connection_.Now();
      upload.completed_at_ms =
          upload.length == 0 ? std::optional<int64_t>(upload.created_at_ms) : std::nullopt;
      Query q(connection_, std::string("INSERT INTO uploads (") + kUploadColumns +
                               ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
      q->bind(1, upload.id);
      q->bind(2, upload.offset);
      internal::BindOptional(*q, 3, upload.length);
      q->bind(4, nlohmann::json(upload.metadata).dump());
      q->bind(5, upload.reporter);
      if (upload.checksum_state.empty()) {
        q->bind(6);
      } else {
        q->bind(6, upload.checksum_state.data(), static_cast<int>(upload.checksum_state.size()));
      }
      q->bind(7, upload.created_at_ms);
      q->bind(8, upload.updated_at_ms);
      q->bind(9, upload.expires_at_ms);
      internal::BindOptional(*q, 10, upload.completed_at_ms);
      internal::BindOptional(*q, 11, upload.owner_id);
      q->exec();
      return upload;
    });
  });
}

Result<Upload> UploadRepository::Get(std::string_view id) {
  return Guard("reading upload", [&]() -> Result<Upload> { return Load(connection_, id); });
}

Result<Upload> UploadRepository::Advance(std::string_view id, int64_t expected_offset,
                                         int64_t new_offset,
                                         std::optional<std::string> checksum_state,
                                         std::optional<int64_t> expires_at_ms) {
  return Guard("advancing upload", [&]() -> Result<Upload> {
    return connection_.TransactResult<Upload>(Durability::kFull, [&]() -> Result<Upload> {
      Result<Upload> loaded = Load(connection_, id);
      if (!loaded.ok()) return loaded;
      Upload u = std::move(loaded).value();
      if (u.offset != expected_offset) {
        return FailedPrecondition("upload " + u.id + " is at offset " + std::to_string(u.offset) +
                                  ", not " + std::to_string(expected_offset));
      }
      if (new_offset < u.offset) return InvalidArgument("an upload offset cannot go backwards");
      if (u.length && new_offset > *u.length) {
        return InvalidArgument("offset " + std::to_string(new_offset) + " is past the length " +
                               std::to_string(*u.length) + " of upload " + u.id);
      }
      const int64_t now = connection_.Now();
      u.offset = new_offset;
      u.updated_at_ms = now;
      if (checksum_state) u.checksum_state = *checksum_state;
      if (expires_at_ms) u.expires_at_ms = *expires_at_ms;
      if (u.length && u.offset == *u.length && !u.completed_at_ms) u.completed_at_ms = now;
      Query q(connection_,
              "UPDATE uploads SET byte_offset = ?, checksum_state = ?, updated_at = ?, "
              "completed_at = ?, expires_at = ? WHERE id = ?");
      q->bind(1, u.offset);
      if (u.checksum_state.empty()) {
        q->bind(2);
      } else {
        q->bind(2, u.checksum_state.data(), static_cast<int>(u.checksum_state.size()));
      }
      q->bind(3, now);
      internal::BindOptional(*q, 4, u.completed_at_ms);
      q->bind(5, u.expires_at_ms);
      q->bind(6, u.id);
      q->exec();
      return u;
    });
  });
}

Result<Upload> UploadRepository::SetLength(std::string_view id, int64_t length) {
  return Guard("setting upload length", [&]() -> Result<Upload> {
    return connection_.TransactResult<Upload>(Durability::kFull, [&]() -> Result<Upload> {
      Result<Upload> loaded = Load(connection_, id);
      if (!loaded.ok()) return loaded;
      Upload u = std::move(loaded).value();
      if (u.length) {
        return FailedPrecondition("upload " + u.id + " already has a length (" +
                                  std::to_string(*u.length) + ")");
      }
      if (length < u.offset) {
        return InvalidArgument("length " + std::to_string(length) + " is below the offset " +
                               std::to_string(u.offset) + " already received");
      }
      const int64_t now = connection_.Now();
      u.length = length;
      u.updated_at_ms = now;
      if (u.offset == length) u.completed_at_ms = now;
      Query q(connection_,
              "UPDATE uploads SET byte_length = ?, updated_at = ?, completed_at = ? WHERE id = ?");
      q->bind(1, length);
      q->bind(2, now);
      internal::BindOptional(*q, 3, u.completed_at_ms);
      q->bind(4, u.id);
      q->exec();
      return u;
    });
  });
}

Status UploadRepository::Delete(std::string_view id) {
  return Guard("deleting upload", [&]() -> Status {
    return connection_.Transact(Durability::kFull, [&]() -> Status {
      Query q(connection_, "DELETE FROM uploads WHERE id = ?");
      q->bind(1, std::string(id));
      return q->exec() == 0 ? NoSuchUpload(id) : Status::Ok();
    });
  });
}

Result<std::vector<Upload>> UploadRepository::ListExpired(int limit) {
  if (limit < 1) return InvalidArgument("limit must be at least 1");
  return Guard("listing expired uploads", [&]() -> Result<std::vector<Upload>> {
    Query q(connection_, std::string("SELECT ") + kUploadColumns +
                             " FROM uploads WHERE completed_at IS NULL AND expires_at <= ? "
                             "ORDER BY expires_at, id LIMIT ?");
    q->bind(1, connection_.Now());
    q->bind(2, limit);
    std::vector<Upload> out;
    while (q->executeStep()) out.push_back(ReadUpload(*q));
    return out;
  });
}

Result<std::vector<Upload>> UploadRepository::ListUnfinishedOf(int64_t owner_id, int limit) {
  if (limit < 1) return InvalidArgument("limit must be at least 1");
  return Guard("listing unfinished uploads", [&]() -> Result<std::vector<Upload>> {
    Query q(connection_, std::string("SELECT ") + kUploadColumns +
                             " FROM uploads WHERE owner_id = ? AND completed_at IS NULL AND "
                             "expires_at > ? ORDER BY updated_at DESC, id LIMIT ?");
    q->bind(1, owner_id);
    q->bind(2, connection_.Now());
    q->bind(3, limit);
    std::vector<Upload> out;
    while (q->executeStep()) out.push_back(ReadUpload(*q));
    return out;
  });
}

Result<std::vector<Upload>> UploadRepository::ListCompletedWithoutVideo(int limit) {
  if (limit < 1) return InvalidArgument("limit must be at least 1");
  return Guard("listing finished uploads", [&]() -> Result<std::vector<Upload>> {
    Query q(connection_, std::string("SELECT ") + kUploadColumns +
                             " FROM uploads u WHERE completed_at IS NOT NULL AND NOT EXISTS "
                             "(SELECT 1 FROM videos v WHERE v.id = u.id) "
                             "ORDER BY completed_at, id LIMIT ?");
    q->bind(1, limit);
    std::vector<Upload> out;
    while (q->executeStep()) out.push_back(ReadUpload(*q));
    return out;
  });
}

Result<int64_t> UploadRepository::BytesHeldBy(int64_t owner_id) {
  return Guard("summing upload bytes", [&]() -> Result<int64_t> {
    Query q(connection_,
            "SELECT COALESCE(SUM(COALESCE(byte_length, byte_offset)), 0) FROM uploads "
            "WHERE owner_id = ? AND (completed_at IS NOT NULL OR expires_at > ?)");
    q->bind(1, owner_id);
    q->bind(2, connection_.Now());
    q->executeStep();
    return q->getColumn(0).getInt64();
  });
}

}  // namespace newsreel::catalog
