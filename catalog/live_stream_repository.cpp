#include "catalog/live_stream_repository.h"

#include "catalog/ids.h"
#include "catalog/internal/connection.h"
#include "catalog/vietnamese_fold.h"

namespace newsreel::catalog {

using internal::Durability;
using internal::Guard;
using internal::OptionalInt64;
using internal::Query;

namespace {

constexpr char kColumns[] = "id, name, stream_key, state, last_live_at, created_at, updated_at";

LiveStream ReadStream(SQLite::Statement& s) {
  LiveStream l;
  l.id = s.getColumn(0).getString();
  l.name = s.getColumn(1).getString();
  l.stream_key = s.getColumn(2).getString();
  Result<LiveState> state = ParseLiveState(s.getColumn(3).getString());
  if (!state.ok()) throw std::runtime_error(state.status().message());
  l.state = *state;
  l.last_live_at_ms = OptionalInt64(s.getColumn(4));
  l.created_at_ms = s.getColumn(5).getInt64();
  l.updated_at_ms = s.getColumn(6).getInt64();
  return l;
}

Result<LiveStream> LoadBy(internal::Connection& c, const char* column, std::string_view value) {
  Query q(c, std::string("SELECT ") + kColumns + " FROM live_streams WHERE " + column + " = ?");
  q->bind(1, std::string(value));
  if (!q->executeStep()) {
    return NotFound(std::string("no live stream with ") + (std::string_view(column) == "id"
                                                               ? "id " + std::string(value)
                                                               : std::string("that key")));
  }
  return ReadStream(*q);
}

void Store(internal::Connection& c, const LiveStream& l) {
  Query q(c,
          "UPDATE live_streams SET name = ?, stream_key = ?, state = ?, last_live_at = ?, "
          "updated_at = ? WHERE id = ?");
  q->bind(1, l.name);
  q->bind(2, l.stream_key);
  q->bind(3, ToString(l.state));
  internal::BindOptional(*q, 4, l.last_live_at_ms);
  q->bind(5, l.updated_at_ms);
  q->bind(6, l.id);
  q->exec();
}

Status CheckKey(std::string_view key) {
  if (key.size() < 16 || key.size() > 128) {
    return InvalidArgument("a stream key must be 16..128 characters");
  }
  for (char c : key) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    if (!ok) return InvalidArgument("a stream key may contain only A-Z, a-z, 0-9, '_' and '-'");
  }
  return Status::Ok();
}

}  // namespace

Result<LiveStream> LiveStreamRepository::Create(LiveStream stream) {
  if (stream.id.empty()) {
    stream.id = NewId();
  } else {
    NR_RETURN_IF_ERROR(ValidateId(stream.id));
  }
  if (stream.stream_key.empty()) {
    stream.stream_key = NewSecret(20);
  } else {
    NR_RETURN_IF_ERROR(CheckKey(stream.stream_key));
  }
  if (!IsValidUtf8(stream.name)) return InvalidArgument("stream name is not valid UTF-8");
  return Guard("creating live stream " + stream.id, [&]() -> Result<LiveStream> {
    return connection_.TransactResult<LiveStream>(Durability::kFull, [&]() -> Result<LiveStream> {
      stream.state = LiveState::kIdle;
      stream.last_live_at_ms.reset();
      stream.created_at_ms = stream.updated_at_ms = connection_.Now();
      Query q(connection_, std::string("INSERT INTO live_streams (") + kColumns +
                               ") VALUES (?, ?, ?, ?, NULL, ?, ?)");
      q->bind(1, stream.id);
      q->bind(2, stream.name);
      q->bind(3, stream.stream_key);
      q->bind(4, ToString(stream.state));
      q->bind(5, stream.created_at_ms);
      q->bind(6, stream.updated_at_ms);
      q->exec();  // a taken id or key throws SQLITE_CONSTRAINT -> kAlreadyExists
      return stream;
    });
  });
}

Result<LiveStream> LiveStreamRepository::Get(std::string_view id) {
  return Guard("reading live stream",
               [&]() -> Result<LiveStream> { return LoadBy(connection_, "id", id); });
}

Result<LiveStream> LiveStreamRepository::GetByKey(std::string_view stream_key) {
  return Guard("looking up a stream key", [&]() -> Result<LiveStream> {
    return LoadBy(connection_, "stream_key", stream_key);
  });
}

Result<std::vector<LiveStream>> LiveStreamRepository::List() {
  return Guard("listing live streams", [&]() -> Result<std::vector<LiveStream>> {
    Query q(connection_,
            std::string("SELECT ") + kColumns + " FROM live_streams ORDER BY name, id");
    std::vector<LiveStream> out;
    while (q->executeStep()) out.push_back(ReadStream(*q));
    return out;
  });
}

Result<LiveStream> LiveStreamRepository::SetState(std::string_view id, LiveState state) {
  return Guard("changing live stream state", [&]() -> Result<LiveStream> {
    return connection_.TransactResult<LiveStream>(Durability::kFull, [&]() -> Result<LiveStream> {
      Result<LiveStream> loaded = LoadBy(connection_, "id", id);
      if (!loaded.ok()) return loaded;
      LiveStream l = std::move(loaded).value();
      l.updated_at_ms = connection_.Now();
      if (state == LiveState::kLive && l.state != LiveState::kLive) {
        l.last_live_at_ms = l.updated_at_ms;
      }
      l.state = state;
      Store(connection_, l);
      return l;
    });
  });
}

Result<LiveStream> LiveStreamRepository::Rename(std::string_view id, std::string_view name) {
  if (!IsValidUtf8(name)) return InvalidArgument("stream name is not valid UTF-8");
  return Guard("renaming live stream", [&]() -> Result<LiveStream> {
    return connection_.TransactResult<LiveStream>(Durability::kFull, [&]() -> Result<LiveStream> {
      Result<LiveStream> loaded = LoadBy(connection_, "id", id);
      if (!loaded.ok()) return loaded;
      LiveStream l = std::move(loaded).value();
      l.name = std::string(name);
      l.updated_at_ms = connection_.Now();
      Store(connection_, l);
      return l;
    });
  });
}

Result<LiveStream> LiveStreamRepository::RotateKey(std::string_view id) {
  return Guard("rotating a stream key", [&]() -> Result<LiveStream> {
    return connection_.TransactResult<LiveStream>(Durability::kFull, [&]() -> Result<LiveStream> {
      Result<LiveStream> loaded = LoadBy(connection_, "id", id);
      if (!loaded.ok()) return loaded;
      LiveStream l = std::move(loaded).value();
      l.stream_key = NewSecret(20);
      l.updated_at_ms = connection_.Now();
      Store(connection_, l);
      return l;
    });
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
