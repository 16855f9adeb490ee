#include "catalog/internal/connection.h"

#include <openssl/evp.h>
#include <sqlite3.h>

#include "catalog/vietnamese_fold.h"
#include "common/log.h"

namespace newsreel::catalog::internal {

Status StatusFromSqlite(const SQLite::Exception& e) {
  const int code = e.getErrorCode();
  const int extended = e.getExtendedErrorCode();
  std::string message = e.what();
  switch (code) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return {ErrorCode::kTimeout,
              "the database stayed locked by another connection (" + message + ")"};
    case SQLITE_CONSTRAINT:
      switch (extended) {
        case SQLITE_CONSTRAINT_UNIQUE:
        case SQLITE_CONSTRAINT_PRIMARYKEY:
          return {ErrorCode::kAlreadyExists, message};
        case SQLITE_CONSTRAINT_CHECK:
        case SQLITE_CONSTRAINT_NOTNULL:
          return InvalidArgument(message);
        default:
          return FailedPrecondition(message);
      }
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return IoError(message);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Internal("the catalog database is damaged or not a database: " + message);
    default:
      return Internal(message);
  }
}

namespace {

void FoldFunction(sqlite3_context* context, int argc, sqlite3_value** argv) noexcept {
  if (argc != 1 || sqlite3_value_type(argv[0]) == SQLITE_NULL) {
    sqlite3_result_null(context);
    return;
  }
  const auto* text = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
  int size = sqlite3_value_bytes(argv[0]);
  try {
    std::string folded = FoldVietnamese(std::string_view(text ? text : "", size));
    sqlite3_result_text(context, folded.data(), static_cast<int>(folded.size()), SQLITE_TRANSIENT);
  } catch (const std::bad_alloc&) {
    sqlite3_result_error_nomem(context);
  }
}

// nr_sha256(text) -> the SHA-256 of its bytes (a 32-byte blob): how stream keys are stored.
void Sha256Function(sqlite3_context* context, int argc, sqlite3_value** argv) noexcept {
  if (argc != 1 || sqlite3_value_type(argv[0]) == SQLITE_NULL) {
    sqlite3_result_null(context);
    return;
  }
  const auto* text = static_cast<const unsigned char*>(sqlite3_value_blob(argv[0]));
  const int size = sqlite3_value_bytes(argv[0]);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  if (EVP_Digest(text ? text : reinterpret_cast<const unsigned char*>(""),
                 static_cast<size_t>(size), digest, &digest_size, EVP_sha256(), nullptr) != 1) {
    sqlite3_result_error(context, "SHA-256 failed", -1);
    return;
  }
  sqlite3_result_blob(context, digest, static_cast<int>(digest_size), SQLITE_TRANSIENT);
}

}  // namespace

void RegisterSqlFunctions(SQLite::Database& db) {
  int rc = sqlite3_create_function_v2(db.getHandle(), "nr_fold", 1,
                                      SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS,
                                      nullptr, &FoldFunction, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) throw SQLite::Exception(db.getHandle(), rc);
  rc = sqlite3_create_function_v2(db.getHandle(), "nr_sha256", 1,
                                  SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, nullptr,
                                  &Sha256Function, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) throw SQLite::Exception(db.getHandle(), rc);
}

Connection::Connection(std::unique_ptr<SQLite::Database> db, Clock clock)
    : db_(std::move(db)), clock_(std::move(clock)) {}

Connection::~Connection() {
  // Statements must be finalized before the database handle closes.
  statements_.clear();
}

void Connection::SetSynchronous(Durability durability) {
  if (synchronous_ == durability) return;
  db_->exec(durability == Durability::kFull ? "PRAGMA synchronous = FULL"
                                            : "PRAGMA synchronous = NORMAL");
  synchronous_ = durability;
}

void Connection::RollbackOutermost() noexcept {
  // SQLite may already have rolled back on its own (SQLITE_FULL, SQLITE_IOERR, ...).
  if (sqlite3_get_autocommit(db_->getHandle())) return;
  int rc = db_->tryExec("ROLLBACK");
  if (rc != SQLITE_OK) {
    NR_LOG(kError) << "catalog: ROLLBACK failed: " << db_->getErrorMsg();
  }
}

Status Connection::Transact(Durability durability, const std::function<Status()>& body) {
  const bool outermost = depth_ == 0;
  const std::string savepoint = "nr_sp" + std::to_string(depth_);
  try {
    if (outermost) {
      SetSynchronous(durability);
      db_->exec("BEGIN IMMEDIATE");
    } else {
      db_->exec("SAVEPOINT " + savepoint);
    }
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e).WithContext("starting a transaction");
  }

  ++depth_;
  Status status;
  try {
    status = body();
  } catch (const SQLite::Exception& e) {
    status = StatusFromSqlite(e);
  } catch (const std::exception& e) {
    status = Internal(e.what());
  }
  --depth_;

  if (status.ok()) {
    try {
      db_->exec(outermost ? std::string("COMMIT") : "RELEASE " + savepoint);
      return status;
    } catch (const SQLite::Exception& e) {
      status = StatusFromSqlite(e).WithContext("committing");
    }
  }
  if (outermost) {
    RollbackOutermost();
  } else if (!sqlite3_get_autocommit(db_->getHandle())) {
    // Undo this savepoint's changes but stay inside the outer transaction.
    db_->tryExec(("ROLLBACK TO " + savepoint + "; RELEASE " + savepoint).c_str());
  }
  return status;
}

Query::Query(Connection& connection, const std::string& sql) {
  auto [it, inserted] = connection.statements_.try_emplace(sql);
  Connection::CachedStatement& cached = it->second;
  if (inserted) {
    try {
      cached.statement = std::make_unique<SQLite::Statement>(*connection.db_, sql);
    } catch (...) {
      connection.statements_.erase(it);
      throw;
    }
  }
  if (cached.in_use) {
    own_ = std::make_unique<SQLite::Statement>(*connection.db_, sql);
    statement_ = own_.get();
    return;
  }
  cached.in_use = true;
  cached_ = &cached;
  statement_ = cached.statement.get();
}

Query::~Query() {
  statement_->tryReset();
  if (cached_ != nullptr) {
    try {
      statement_->clearBindings();
    } catch (...) {
    }
    cached_->in_use = false;
  }
}

std::optional<int64_t> OptionalInt64(const SQLite::Column& column) {
  if (column.isNull()) return std::nullopt;
  return column.getInt64();
}

void BindOptional(SQLite::Statement& statement, int index, const std::optional<int64_t>& value) {
  if (value) {
    statement.bind(index, *value);
  } else {
    statement.bind(index);
  }
}

}  // namespace newsreel::catalog::internal
