#pragma once
// The catalog schema as a list of versioned migrations. Internal to catalog/ (and its tests).
//
// The schema version lives in PRAGMA user_version; the file is marked as a Newsreel catalog with
// PRAGMA application_id. Migration N takes a database from version N-1 to N. Released
// migrations are never edited: a schema change is a new migration at the end of the list.

#include <SQLiteCpp/Database.h>

#include "common/status.h"

namespace newsreel::catalog::internal {

inline constexpr int kApplicationId = 0x4E52434C;  // "NRCL"

struct Migration {
  int version;              // the user_version after it is applied
  const char* description;  // for logs
  const char* sql;          // one or more statements, run in one transaction
};

// The migrations in order; the last one's version is the newest schema this code understands.
const Migration* Migrations(int* count);
int LatestSchemaVersion();

// The database's schema version (PRAGMA user_version).
Result<int> SchemaVersion(SQLite::Database& db);

// Brings `db` up to `target_version` (<= LatestSchemaVersion()), one migration per transaction
// (BEGIN IMMEDIATE, so that two processes opening the same file at once apply each migration
// exactly once). Fails with kFailedPrecondition when the file's schema is newer than this code
// or when the file is an SQLite database that is not a Newsreel catalog. The connection must
// have the SQL functions of RegisterSqlFunctions(). Not for use inside a transaction.
Status Migrate(SQLite::Database& db, int target_version);

}  // namespace newsreel::catalog::internal
