#pragma once
// The one SQLite connection behind a Catalog, its cache of prepared statements, and the
// transaction helper every repository uses. Internal to catalog/.
//
// Threading: a Connection, like the Catalog that owns it, is used by one thread at a time.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>

#include "catalog/types.h"
#include "common/status.h"

namespace newsreel::catalog::internal {

// How hard a commit works to survive a power cut. Both survive a killed process.
enum class Durability {
  kFull,     // synchronous=FULL: the WAL is fsynced before COMMIT returns. For anything
             // acknowledged to a user (a created video, an upload offset, a finished job).
  kRelaxed,  // synchronous=NORMAL: may be lost on power loss, never corrupts. For progress
             // heartbeats and "last used" stamps that the next write would overwrite anyway.
};

// Maps a SQLite error to a Status a caller can act on: constraint violations become
// kAlreadyExists / kInvalidArgument / kFailedPrecondition, a lock held past the busy timeout
// becomes kTimeout, disk trouble kIo, the rest kInternal.
Status StatusFromSqlite(const SQLite::Exception& e);

inline Status FailedPrecondition(std::string message) {
  return {ErrorCode::kFailedPrecondition, std::move(message)};
}

// Runs `body` and turns any exception it throws into a Status prefixed with `what`. Every public
// function of the catalog goes through this so that no exception leaves the module.
template <typename F>
auto Guard(std::string_view what, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e).WithContext(std::string(what));
  } catch (const std::exception& e) {
    return Internal(std::string(what) + ": " + e.what());
  }
}

// Registers the SQL functions the schema's triggers use (nr_fold) on a connection. Every
// connection that writes videos needs them; the migrations do too.
void RegisterSqlFunctions(SQLite::Database& db);

class Connection {
 public:
  Connection(std::unique_ptr<SQLite::Database> db, Clock clock);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  SQLite::Database& db() { return *db_; }
  int64_t Now() const { return clock_(); }

  // Runs `body` inside a transaction and commits when it returns OK; rolls back when it returns
  // an error or throws. The outermost call starts BEGIN IMMEDIATE (the write lock is taken up
  // front, so a busy database waits for busy_timeout instead of failing half way); nested calls
  // become savepoints and join the outer transaction, whose durability wins.
  Status Transact(Durability durability, const std::function<Status()>& body);

  // Transact for a body that returns a value.
  template <typename T>
  Result<T> TransactResult(Durability durability, const std::function<Result<T>()>& body) {
    std::optional<T> value;
    Status status = Transact(durability, [&]() -> Status {
      Result<T> result = body();
      if (!result.ok()) return result.status();
      value.emplace(std::move(result).value());
      return Status::Ok();
    });
    if (!status.ok()) return status;
    return std::move(*value);
  }

  bool InTransaction() const { return depth_ > 0; }

 private:
  friend class Query;
  struct CachedStatement {
    std::unique_ptr<SQLite::Statement> statement;
    bool in_use = false;
  };

  void SetSynchronous(Durability durability);
  void RollbackOutermost() noexcept;

  std::unique_ptr<SQLite::Database> db_;
  Clock clock_;
  std::unordered_map<std::string, CachedStatement> statements_;
  int depth_ = 0;  // nesting of Transact calls
  std::optional<Durability> synchronous_;
};

// One execution of a prepared statement, taken from the connection's cache (prepared once per
// distinct SQL text) and reset with its bindings cleared when the Query goes out of scope, so
// that no read snapshot outlives the call. If the cached statement is already in use (a nested
// query with the same SQL), a private one is prepared instead.
class Query {
 public:
  Query(Connection& connection, const std::string& sql);
  ~Query();
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  SQLite::Statement& operator*() { return *statement_; }
  SQLite::Statement* operator->() { return statement_; }

 private:
  Connection::CachedStatement* cached_ = nullptr;
  std::unique_ptr<SQLite::Statement> own_;
  SQLite::Statement* statement_ = nullptr;
};

// Column helpers: NULL maps to nullopt.
std::optional<int64_t> OptionalInt64(const SQLite::Column& column);
// Binds an optional value, or NULL.
void BindOptional(SQLite::Statement& statement, int index, const std::optional<int64_t>& value);

}  // namespace newsreel::catalog::internal
