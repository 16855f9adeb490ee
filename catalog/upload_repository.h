#pragma once
// State of tus uploads in progress (the bytes themselves live in data/uploads/<id>).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/types.h"
#include "common/status.h"

namespace newsreel::catalog {

namespace internal {
class Connection;
}

// Owned by a Catalog and used on its thread. Every write is durable before it returns, because
// the tus handler acknowledges offsets to the client right after.
class UploadRepository {
 public:
  explicit UploadRepository(internal::Connection& connection) : connection_(connection) {}

  // Stores a new upload at offset 0. An empty id is replaced by NewId(). expires_at_ms must be
  // set; a length, when known, must be >= 0. kAlreadyExists when the id is taken.
  Result<Upload> Create(Upload upload);

  Result<Upload> Get(std::string_view id);

  // Moves the offset from `expected_offset` to `new_offset` (compare-and-set, so that two
  // PATCH requests racing for one upload cannot both win): kFailedPrecondition when the stored
  // offset is not `expected_offset`, kInvalidArgument when `new_offset` goes backwards or past
  // the length. Stores `checksum_state` and `expires_at_ms` when given (an upload that keeps
  // moving need not expire). Sets completed_at when the offset reaches a known length. Returns
  // the upload as stored.
  Result<Upload> Advance(std::string_view id, int64_t expected_offset, int64_t new_offset,
                         std::optional<std::string> checksum_state = std::nullopt,
                         std::optional<int64_t> expires_at_ms = std::nullopt);

  // Sets a deferred length once. kFailedPrecondition when the length is already known;
  // kInvalidArgument when it is below the current offset.
  Result<Upload> SetLength(std::string_view id, int64_t length);

  // kNotFound when there is no such upload.
  Status Delete(std::string_view id);

  // Unfinished uploads whose expiry has passed, oldest expiry first, at most `limit`.
  Result<std::vector<Upload>> ListExpired(int limit = 100);

  // Finished uploads that have no video with their id yet (the server stopped between the last
  // byte and creating the video), oldest first, at most `limit`.
  Result<std::vector<Upload>> ListCompletedWithoutVideo(int limit = 100);

  // The unfinished, unexpired uploads of the account `owner_id`, most recently active first, at
  // most `limit` (a reporter's dashboard: what is still to be sent).
  Result<std::vector<Upload>> ListUnfinishedOf(int64_t owner_id, int limit = 100);

  // Bytes the account `owner_id` holds on disk through uploads: the length (or, while
  // deferred, the offset) of every finished upload and of every unfinished one that has not
  // expired. For quotas.
  Result<int64_t> BytesHeldBy(int64_t owner_id);

 private:
  internal::Connection& connection_;
};

}  // namespace newsreel::catalog
