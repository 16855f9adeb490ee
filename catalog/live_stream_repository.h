#pragma once
// Live streams: what an encoder pushes in (identified by its stream key), who owns it, who may
// watch it, and its state (idle, live, reconnecting, ended).

#include <string>
#include <string_view>
#include <vector>

#include "catalog/types.h"
#include "common/status.h"

namespace newsreel::catalog {

namespace internal {
class Connection;
}

// A stream with its key, as Create and RotateKey give it: the only time the key is known.
struct LiveStreamWithKey {
  LiveStream stream;
  std::string key;  // 32 characters of base32; a secret
};

// Owned by a Catalog and used on its thread.
class LiveStreamRepository {
 public:
  explicit LiveStreamRepository(internal::Connection& connection) : connection_(connection) {}

  // SHA-256 of a key: what key_hash holds.
  static std::string HashKey(std::string_view key);

  // Stores a new stream in state idle with a fresh key and passphrase. An empty id is
  // generated. Taken from `stream`: id, title, owner_id, visibility, encrypt_ingest,
  // replace_publisher. kAlreadyExists when the id is taken.
  Result<LiveStreamWithKey> Create(LiveStream stream);

  Result<LiveStream> Get(std::string_view id);
  // The stream a key belongs to; kNotFound for an unknown key.
  Result<LiveStream> GetByKey(std::string_view key);
  // All streams, newest first.
  Result<std::vector<LiveStream>> List();

  // Changes the state and stamps state_since; going live stamps last_live_at too.
  Result<LiveStream> SetState(std::string_view id, LiveState state);
  // Stores title, visibility, encrypt_ingest and replace_publisher from `stream` (by its id).
  Result<LiveStream> Update(const LiveStream& stream);
  // Replaces the key with a new secret; the old one stops working at once.
  Result<LiveStreamWithKey> RotateKey(std::string_view id);
  // Records the video the stream's recording became.
  Result<LiveStream> SetRecordingVideo(std::string_view id, std::string_view video_id);

  Status Delete(std::string_view id);

 private:
  internal::Connection& connection_;
};

}  // namespace newsreel::catalog
