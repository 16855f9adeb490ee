#pragma once
// Live streams: what an encoder pushes in (identified by its stream key) and its current state.

#include <string>
#include <string_view>
#include <vector>

#include "catalog/types.h"
#include "common/status.h"

namespace newsreel::catalog {

namespace internal {
class Connection;
}

// Owned by a Catalog and used on its thread.
class LiveStreamRepository {
 public:
  explicit LiveStreamRepository(internal::Connection& connection) : connection_(connection) {}

  // Stores a new stream in state idle. Empty id and stream_key are generated (the key is a
  // 160-bit secret). kAlreadyExists when the id or the key is taken.
  Result<LiveStream> Create(LiveStream stream);

  Result<LiveStream> Get(std::string_view id);
  // The stream an encoder's key belongs to; kNotFound for an unknown key.
  Result<LiveStream> GetByKey(std::string_view stream_key);
  // All streams by name, then id.
  Result<std::vector<LiveStream>> List();

  // Going live stamps last_live_at.
  Result<LiveStream> SetState(std::string_view id, LiveState state);
  Result<LiveStream> Rename(std::string_view id, std::string_view name);
  // Replaces the key with a new secret; the old one stops working at once.
  Result<LiveStream> RotateKey(std::string_view id);

  Status Delete(std::string_view id);

 private:
  internal::Connection& connection_;
};

}  // namespace newsreel::catalog
