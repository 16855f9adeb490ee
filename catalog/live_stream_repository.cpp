#include "catalog/live_stream_repository.h"

#include "catalog/ids.h"
#include "catalog/internal/connection.h"
#include "catalog/user_repository.h"
#include "catalog/vietnamese_fold.h"

namespace newsreel::catalog {

using internal::Durability;
using internal::Guard;
using internal::OptionalInt64;
using internal::Query;

namespace {

constexpr char kColumns[] =
    "id, title, owner_id, visibility, key_hash, passphrase, encrypt_ingest, replace_publisher, "
    "state, state_since, last_live_at, recording_video_id, created_at, updated_at";
constexpr size_t kMaxTitleBytes = 400;

LiveStream ReadStream(SQLite::Statement& s) {
  LiveStream l;
  l.id = s.getColumn(0).getString();
  l.title = s.getColumn(1).getString();
  l.owner_id = OptionalInt64(s.getColumn(2));
  Result<Visibility> visibility = ParseVisibility(s.getColumn(3).getString());
  if (!visibility.ok()) throw std::runtime_error(visibility.status().message());
  l.visibility = *visibility;
  const SQLite::Column hash = s.getColumn(4);
  l.key_hash.assign(static_cast<const char*>(hash.getBlob()), hash.getBytes());
  l.passphrase = s.getColumn(5).getString();
  l.encrypt_ingest = s.getColumn(6).getInt() != 0;
  l.replace_publisher = s.getColumn(7).getInt() != 0;
  Result<LiveState> state = ParseLiveState(s.getColumn(8).getString());
  if (!state.ok()) throw std::runtime_error(state.status().message());
  l.state = *state;
  l.state_since_ms = s.getColumn(9).getInt64();
  l.last_live_at_ms = OptionalInt64(s.getColumn(10));
  l.recording_video_id = s.getColumn(11).isNull() ? "" : s.getColumn(11).getString();
  l.created_at_ms = s.getColumn(12).getInt64();
  l.updated_at_ms = s.getColumn(13).getInt64();
  return l;
}

Result<LiveStream> LoadById(internal::Connection& c, std::string_view id) {
  Query q(c, std::string("SELECT ") + kColumns + " FROM live_streams WHERE id = ?");
  q->bind(1, std::string(id));
  if (!q->executeStep()) return NotFound("no live stream with id " + std::string(id));
  return ReadStream(*q);
}

void Store(internal::Connection& c, const LiveStream& l) {
  Query q(c,
          "UPDATE live_streams SET title = ?, visibility = ?, key_hash = ?, encrypt_ingest = ?, "
          "replace_publisher = ?, state = ?, state_since = ?, last_live_at = ?, "
          "recording_video_id = ?, updated_at = ? WHERE id = ?");
  q->bind(1, l.title);
  q->bind(2, ToString(l.visibility));
  q->bind(3, l.key_hash.data(), static_cast<int>(l.key_hash.size()));
  q->bind(4, l.encrypt_ingest ? 1 : 0);
  q->bind(5, l.replace_publisher ? 1 : 0);
  q->bind(6, ToString(l.state));
  q->bind(7, l.state_since_ms);
  internal::BindOptional(*q, 8, l.last_live_at_ms);
  if (l.recording_video_id.empty())
    q->bind(9);
  else
    q->bind(9, l.recording_video_id);
  q->bind(10, l.updated_at_ms);
  q->bind(11, l.id);
  q->exec();
}

Status CheckTitle(std::string_view title) {
  if (!IsValidUtf8(title)) return InvalidArgument("title is not valid UTF-8");
  if (title.size() > kMaxTitleBytes)
    return InvalidArgument("title is longer than " + std::to_string(kMaxTitleBytes) + " bytes");
  return Status::Ok();
}

// Loads, changes with `change`, stamps updated_at and stores, in one transaction.
template <typename Change>
Result<LiveStream> Modify(internal::Connection& c, std::string_view id, Change change) {
  return c.TransactResult<LiveStream>(Durability::kFull, [&]() -> Result<LiveStream> {
    Result<LiveStream> loaded = LoadById(c, id);
    if (!loaded.ok()) return loaded;
    LiveStream l = std::move(loaded).value();
    l.updated_at_ms = c.Now();
    change(l);
    Store(c, l);
    return l;
  });
}

}  // namespace

std::string LiveStreamRepository::HashKey(std::string_view key) {
  return UserRepository::HashSecret(key);
}

Result<LiveStreamWithKey> LiveStreamRepository::Create(LiveStream stream) {
  if (stream.id.empty()) {
    stream.id = NewId();
  } else {
    NR_RETURN_IF_ERROR(ValidateId(stream.id));
  }
  NR_RETURN_IF_ERROR(CheckTitle(stream.title));
  LiveStreamWithKey out;
  out.key = NewSecret(20);
  stream.key_hash = HashKey(out.key);
  stream.passphrase = NewSecret(15);  // 24 characters: within SRT's 10..79
  return Guard("creating live stream " + stream.id, [&]() -> Result<LiveStreamWithKey> {
    return connection_.TransactResult<LiveStreamWithKey>(
        Durability::kFull, [&]() -> Result<LiveStreamWithKey> {
          stream.state = LiveState::kIdle;
          stream.last_live_at_ms.reset();
          stream.recording_video_id.clear();
          stream.created_at_ms = stream.updated_at_ms = stream.state_since_ms = connection_.Now();
          Query q(connection_, std::string("INSERT INTO live_streams (") + kColumns +
                                   ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?)");
          q->bind(1, stream.id);
          q->bind(2, stream.title);
          internal::BindOptional(*q, 3, stream.owner_id);
          q->bind(4, ToString(stream.visibility));
          q->bind(5, stream.key_hash.data(), static_cast<int>(stream.key_hash.size()));
          q->bind(6, stream.passphrase);
          q->bind(7, stream.encrypt_ingest ? 1 : 0);
          q->bind(8, stream.replace_publisher ? 1 : 0);
          q->bind(9, ToString(stream.state));
          q->bind(10, stream.state_since_ms);
          q->bind(11, stream.created_at_ms);
          q->bind(12, stream.updated_at_ms);
          q->exec();  // a taken id throws SQLITE_CONSTRAINT -> kAlreadyExists
          out.stream = stream;
          return out;
        });
  });
}

Result<LiveStream> LiveStreamRepository::Get(std::string_view id) {
  return Guard("reading live stream",
               [&]() -> Result<LiveStream> { return LoadById(connection_, id); });
}

Result<LiveStream> LiveStreamRepository::GetByKey(std::string_view key) {
  return Guard("looking up a stream key", [&]() -> Result<LiveStream> {
    const std::string hash = HashKey(key);
    Query q(connection_,
            std::string("SELECT ") + kColumns + " FROM live_streams WHERE key_hash = ?");
    q->bind(1, hash.data(), static_cast<int>(hash.size()));
    if (!q->executeStep()) return NotFound("no live stream with that key");
    return ReadStream(*q);
  });
}

Result<std::vector<LiveStream>> LiveStreamRepository::List() {
  return Guard("listing live streams", [&]() -> Result<std::vector<LiveStream>> {
    Query q(connection_,
            std::string("SELECT ") + kColumns + " FROM live_streams ORDER BY created_at DESC, id");
    std::vector<LiveStream> out;
    while (q->executeStep()) out.push_back(ReadStream(*q));
    return out;
  });
}

Result<LiveStream> LiveStreamRepository::SetState(std::string_view id, LiveState state) {
  return Guard("changing live stream state", [&]() -> Result<LiveStream> {
    return Modify(connection_, id, [&](LiveStream& l) {
      if (l.state == state) return;
      l.state_since_ms = l.updated_at_ms;
      if (state == LiveState::kLive && l.state != LiveState::kReconnecting)
        l.last_live_at_ms = l.updated_at_ms;
      l.state = state;
    });
  });
}

Result<LiveStream> LiveStreamRepository::Update(const LiveStream& stream) {
  NR_RETURN_IF_ERROR(CheckTitle(stream.title));
  return Guard("changing live stream " + stream.id, [&]() -> Result<LiveStream> {
    return Modify(connection_, stream.id, [&](LiveStream& l) {
      l.title = stream.title;
      l.visibility = stream.visibility;
      l.encrypt_ingest = stream.encrypt_ingest;
      l.replace_publisher = stream.replace_publisher;
    });
  });
}

Result<LiveStreamWithKey> LiveStreamRepository::RotateKey(std::string_view id) {
  LiveStreamWithKey out;
  out.key = NewSecret(20);
  return Guard("rotating a stream key", [&]() -> Result<LiveStreamWithKey> {
    Result<LiveStream> changed =
        Modify(connection_, id, [&](LiveStream& l) { l.key_hash = HashKey(out.key); });
    if (!changed.ok()) return changed.status();
    out.stream = std::move(changed).value();
    return out;
  });
}

Result<LiveStream> LiveStreamRepository::SetRecordingVideo(std::string_view id,
                                                           std::string_view video_id) {
  return Guard(
      "recording the video of live stream " + std::string(id), [&]() -> Result<LiveStream> {
        return Modify(connection_, id,
                      [&](LiveStream& l) { l.recording_video_id = std::string(video_id); });
      });
}

Status LiveStreamRepository::Delete(std::string_view id) {
  return Guard("deleting live stream", [&]() -> Status {
    return connection_.Transact(Durability::kFull, [&]() -> Status {
      Query q(connection_, "DELETE FROM live_streams WHERE id = ?");
      q->bind(1, std::string(id));
      return q->exec() == 0 ? NotFound("no live stream with id " + std::string(id)) : Status::Ok();
    });
  });
}

}  // namespace newsreel::catalog
