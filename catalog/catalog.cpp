#include "catalog/catalog.h"

#include <sqlite3.h>

#include "catalog/internal/connection.h"
#include "catalog/internal/migrations.h"
#include "common/log.h"

namespace newsreel::catalog {

using internal::Guard;

Result<std::unique_ptr<Catalog>> Catalog::Open(const std::string& path, CatalogOptions options) {
  if (!options.clock) options.clock = &SystemNowMs;
  if (options.busy_timeout_ms < 0) return InvalidArgument("busy timeout is negative");
  if (options.jobs.lease_ms <= 0) return InvalidArgument("job lease must be positive");
  if (options.search_rank_window < 1) return InvalidArgument("search rank window must be >= 1");
  return Guard("opening catalog " + path, [&]() -> Result<std::unique_ptr<Catalog>> {
    int flags = SQLite::OPEN_READWRITE | SQLite::OPEN_NOMUTEX;
    if (options.create_if_missing) flags |= SQLite::OPEN_CREATE;
    auto db = std::make_unique<SQLite::Database>(path, flags, options.busy_timeout_ms);
    // The WAL file survives on disk; switching to it needs a moment without other writers,
    // which the busy timeout provides.
    const std::string journal = db->execAndGet("PRAGMA journal_mode = WAL").getString();
    if (journal != "wal" && path != ":memory:") {
      return IoError("could not switch the catalog to WAL mode (journal_mode is " + journal +
                     "); is the file on a network filesystem?");
    }
    db->exec("PRAGMA foreign_keys = ON");
    db->exec("PRAGMA synchronous = FULL");
    internal::RegisterSqlFunctions(*db);
    NR_RETURN_IF_ERROR(internal::Migrate(*db, internal::LatestSchemaVersion()));
    auto connection = std::make_unique<internal::Connection>(std::move(db), options.clock);
    return std::unique_ptr<Catalog>(new Catalog(std::move(connection), options));
  });
}

Catalog::Catalog(std::unique_ptr<internal::Connection> connection, const CatalogOptions& options)
    : connection_(std::move(connection)),
      videos_(*connection_),
      jobs_(*connection_, videos_, options.jobs),
      uploads_(*connection_),
      live_streams_(*connection_),
      users_(*connection_),
      search_(*connection_, options.search_rank_window) {}

Catalog::~Catalog() = default;

Status Catalog::RunInTransaction(const std::function<Status()>& body) {
  return connection_->Transact(internal::Durability::kFull, body);
}

Result<int> Catalog::SchemaVersion() { return internal::SchemaVersion(connection_->db()); }

int Catalog::LatestSchemaVersion() { return internal::LatestSchemaVersion(); }

Status Catalog::CheckIntegrity() {
  return Guard("checking catalog integrity", [&]() -> Status {
    SQLite::Statement q(connection_->db(), "PRAGMA integrity_check");
    std::string report;
    while (q.executeStep()) {
      if (!report.empty()) report += "; ";
      report += q.getColumn(0).getString();
    }
    if (report == "ok") return Status::Ok();
    return Internal("integrity check failed: " + report);
  });
}

Status Catalog::Checkpoint() {
  return Guard("checkpointing the catalog", [&]() -> Status {
    if (connection_->InTransaction()) {
      return internal::FailedPrecondition("cannot checkpoint inside a transaction");
    }
    SQLite::Statement q(connection_->db(), "PRAGMA wal_checkpoint(TRUNCATE)");
    if (q.executeStep() && q.getColumn(0).getInt() != 0) {
      return Status(ErrorCode::kTimeout, "readers kept the checkpoint from finishing");
    }
    return Status::Ok();
  });
}

int64_t Catalog::Now() const { return connection_->Now(); }

}  // namespace newsreel::catalog
