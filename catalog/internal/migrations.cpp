#include "catalog/internal/migrations.h"

#include <sqlite3.h>

#include <iterator>
#include <string>

#include "catalog/internal/connection.h"
#include "common/log.h"

namespace newsreel::catalog::internal {
namespace {

// Version 1: users and tokens, videos with their renditions and assets, the job queue.
constexpr char kCoreSchema[] = R"sql(
CREATE TABLE users (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE COLLATE NOCASE,
  display_name TEXT NOT NULL DEFAULT '',
  role TEXT NOT NULL CHECK (role IN ('viewer', 'reporter', 'editor', 'admin')),
  disabled INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE tokens (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  hash BLOB NOT NULL UNIQUE,
  label TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  last_used_at INTEGER,
  revoked_at INTEGER
);
CREATE INDEX tokens_by_user ON tokens(user_id);

-- seq is the stable integer key (the full-text index refers to it); id is the public one.
CREATE TABLE videos (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  title TEXT NOT NULL DEFAULT '',
  description TEXT NOT NULL DEFAULT '',
  tags TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(tags)),
  reporter TEXT NOT NULL DEFAULT '',
  location TEXT NOT NULL DEFAULT '',
  recorded_at INTEGER,
  duration_ms INTEGER,
  source_filename TEXT NOT NULL DEFAULT '',
  source_container TEXT NOT NULL DEFAULT '',
  source_video_codec TEXT NOT NULL DEFAULT '',
  source_audio_codec TEXT NOT NULL DEFAULT '',
  source_width INTEGER NOT NULL DEFAULT 0,
  source_height INTEGER NOT NULL DEFAULT 0,
  source_frame_rate REAL NOT NULL DEFAULT 0,
  source_bit_rate INTEGER NOT NULL DEFAULT 0,
  source_size_bytes INTEGER NOT NULL DEFAULT 0,
  status TEXT NOT NULL DEFAULT 'uploading'
      CHECK (status IN ('uploading', 'queued', 'processing', 'ready', 'failed')),
  failure_reason TEXT NOT NULL DEFAULT '',
  visibility TEXT NOT NULL DEFAULT 'draft'
      CHECK (visibility IN ('draft', 'unlisted', 'published')),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX videos_by_created ON videos(created_at);
CREATE INDEX videos_by_status ON videos(status, created_at);
CREATE INDEX videos_by_visibility ON videos(visibility, created_at);
CREATE INDEX videos_by_reporter ON videos(reporter, created_at);
CREATE INDEX videos_by_recorded ON videos(recorded_at);

CREATE TABLE renditions (
  video_id TEXT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  bandwidth INTEGER NOT NULL,
  average_bandwidth INTEGER NOT NULL,
  codecs TEXT NOT NULL,
  frame_rate REAL NOT NULL,
  playlist_path TEXT NOT NULL,
  encoder TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (video_id, name)
) WITHOUT ROWID;

CREATE TABLE assets (
  video_id TEXT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
  kind TEXT NOT NULL CHECK (kind IN ('poster', 'storyboard', 'storyboard_vtt')),
  path TEXT NOT NULL,
  width INTEGER NOT NULL DEFAULT 0,
  height INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (video_id, kind)
) WITHOUT ROWID;

CREATE TABLE jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  video_id TEXT REFERENCES videos(id) ON DELETE CASCADE,
  state TEXT NOT NULL DEFAULT 'queued'
      CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  priority INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
  payload TEXT NOT NULL DEFAULT '',
  worker_id TEXT,
  lease_expires_at INTEGER,
  run_after INTEGER NOT NULL DEFAULT 0,
  progress_percent REAL NOT NULL DEFAULT 0,
  progress_fps REAL NOT NULL DEFAULT 0,
  eta_ms INTEGER,
  encoder TEXT NOT NULL DEFAULT '',
  error TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER
);
CREATE INDEX jobs_runnable ON jobs(state, priority DESC, id);
CREATE INDEX jobs_by_lease ON jobs(lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_by_video ON jobs(video_id);
)sql";

// Version 2: tus uploads in progress and live streams.
constexpr char kUploadsAndLive[] = R"sql(
CREATE TABLE uploads (
  id TEXT PRIMARY KEY,
  byte_offset INTEGER NOT NULL DEFAULT 0 CHECK (byte_offset >= 0),
  byte_length INTEGER CHECK (byte_length IS NULL OR (byte_length >= 0 AND byte_offset <= byte_length)),
  metadata TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
  reporter TEXT NOT NULL DEFAULT '',
  checksum_state BLOB,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  completed_at INTEGER
);
CREATE INDEX uploads_by_expiry ON uploads(expires_at) WHERE completed_at IS NULL;

CREATE TABLE live_streams (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL DEFAULT '',
  stream_key TEXT NOT NULL UNIQUE,
  state TEXT NOT NULL DEFAULT 'idle' CHECK (state IN ('idle', 'live', 'ended')),
  last_live_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
)sql";

// Version 3: full-text search. The index holds folded copies (nr_fold: lower case, no
// Vietnamese marks) of the searchable columns, kept in step by triggers, keyed by videos.seq.
// Existing videos are indexed by the migration itself.
constexpr char kSearch[] = R"sql(
CREATE VIRTUAL TABLE videos_fts USING fts5(
  title, description, tags, reporter, location,
  tokenize = 'unicode61 remove_diacritics 2',
  prefix = '1 2 3'
);
INSERT INTO videos_fts(videos_fts, rank) VALUES ('rank', 'bm25(10.0, 1.0, 5.0, 3.0, 2.0)');

CREATE TRIGGER videos_fts_insert AFTER INSERT ON videos BEGIN
  INSERT INTO videos_fts(rowid, title, description, tags, reporter, location)
  VALUES (new.seq, nr_fold(new.title), nr_fold(new.description),
          nr_fold((SELECT group_concat(value, ' ') FROM json_each(new.tags))),
          nr_fold(new.reporter), nr_fold(new.location));
END;

CREATE TRIGGER videos_fts_delete AFTER DELETE ON videos BEGIN
  DELETE FROM videos_fts WHERE rowid = old.seq;
END;

CREATE TRIGGER videos_fts_update
AFTER UPDATE OF title, description, tags, reporter, location ON videos
WHEN old.title IS NOT new.title OR old.description IS NOT new.description
  OR old.tags IS NOT new.tags OR old.reporter IS NOT new.reporter
  OR old.location IS NOT new.location
BEGIN
  UPDATE videos_fts
  SET title = nr_fold(new.title),
      description = nr_fold(new.description),
      tags = nr_fold((SELECT group_concat(value, ' ') FROM json_each(new.tags))),
      reporter = nr_fold(new.reporter),
      location = nr_fold(new.location)
  WHERE rowid = new.seq;
END;

INSERT INTO videos_fts(rowid, title, description, tags, reporter, location)
SELECT seq, nr_fold(title), nr_fold(description),
       nr_fold((SELECT group_concat(value, ' ') FROM json_each(videos.tags))),
       nr_fold(reporter), nr_fold(location)
FROM videos;
)sql";

// Version 4: accounts. Users sign in with a password (an scrypt hash, password.h); a session is
// a token of kind 'session' held in a cookie; videos and uploads belong to the user who made
// them (NULL for imports and for rows older than accounts, which editors manage).
constexpr char kAccounts[] = R"sql(
ALTER TABLE users ADD COLUMN password_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'api' CHECK (kind IN ('api', 'session'));
ALTER TABLE videos ADD COLUMN owner_id INTEGER REFERENCES users(id) ON DELETE SET NULL;
CREATE INDEX videos_by_owner ON videos(owner_id, created_at);
ALTER TABLE uploads ADD COLUMN owner_id INTEGER REFERENCES users(id) ON DELETE SET NULL;
CREATE INDEX uploads_by_owner ON uploads(owner_id) WHERE completed_at IS NULL;
)sql";

// Version 5: live streams owned, shown and secured like videos (issue 14). The key is stored as
// its SHA-256 (shown once, on creation and rotation); the passphrase stays readable, because
// the SRT listener sets it on each connection and pullers are given it. The table is rebuilt:
// SQLite cannot change a CHECK constraint in place. Keys made before keep working.
constexpr char kLive[] = R"sql(
CREATE TABLE live_streams_v5 (
  id TEXT PRIMARY KEY,
  title TEXT NOT NULL DEFAULT '',
  owner_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
  visibility TEXT NOT NULL DEFAULT 'draft'
    CHECK (visibility IN ('draft', 'unlisted', 'published')),
  key_hash BLOB NOT NULL UNIQUE,
  passphrase TEXT NOT NULL,
  encrypt_ingest INTEGER NOT NULL DEFAULT 0,
  replace_publisher INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL DEFAULT 'idle' CHECK (state IN ('idle', 'live', 'reconnecting', 'ended')),
  state_since INTEGER NOT NULL,
  last_live_at INTEGER,
  recording_video_id TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
INSERT INTO live_streams_v5 (id, title, key_hash, passphrase, state, state_since, last_live_at,
                             created_at, updated_at)
  SELECT id, name, nr_sha256(stream_key), lower(hex(randomblob(12))), state, updated_at,
         last_live_at, created_at, updated_at
  FROM live_streams;
DROP TABLE live_streams;
ALTER TABLE live_streams_v5 RENAME TO live_streams;
CREATE INDEX live_streams_by_owner ON live_streams(owner_id);
)sql";

// Version 6: why a video failed as a word a page can translate (issue 17: the newsroom reads
// Vietnamese, the server's reasons are English), beside the reason itself.
constexpr char kFailureCode[] = R"sql(
ALTER TABLE videos ADD COLUMN failure_code TEXT NOT NULL DEFAULT '';
)sql";

constexpr Migration kMigrations[] = {
    {1, "users, tokens, videos, renditions, assets, jobs", kCoreSchema},
    {2, "uploads and live streams", kUploadsAndLive},
    {3, "full-text search over videos", kSearch},
    {4, "accounts: passwords, sessions, owners of videos and uploads", kAccounts},
    {5, "live streams: owners, visibility, hashed keys, passphrases, reconnecting", kLive},
    {6, "videos: failure codes", kFailureCode},
};

int QueryInt(SQLite::Database& db, const char* sql) { return db.execAndGet(sql).getInt(); }

}  // namespace

const Migration* Migrations(int* count) {
  *count = static_cast<int>(std::size(kMigrations));
  return kMigrations;
}

int LatestSchemaVersion() { return kMigrations[std::size(kMigrations) - 1].version; }

Result<int> SchemaVersion(SQLite::Database& db) {
  return Guard("reading the schema version",
               [&]() -> Result<int> { return QueryInt(db, "PRAGMA user_version"); });
}

Status Migrate(SQLite::Database& db, int target_version) {
  const int latest = LatestSchemaVersion();
  if (target_version < 0 || target_version > latest) {
    return InvalidArgument("no schema version " + std::to_string(target_version));
  }
  return Guard("migrating the catalog schema", [&]() -> Status {
    for (;;) {
      db.exec("BEGIN IMMEDIATE");
      try {
        // Read inside the write transaction: another process may have migrated meanwhile.
        const int current = QueryInt(db, "PRAGMA user_version");
        const int application_id = QueryInt(db, "PRAGMA application_id");
        Status refusal;
        if (current > latest) {
          refusal = FailedPrecondition(
              "the catalog database has schema version " + std::to_string(current) +
              ", newer than this build of newsreel understands (" + std::to_string(latest) +
              "); run a newer newsreel, or restore a backup made for this version");
        } else if (current > 0 && application_id != kApplicationId) {
          refusal = FailedPrecondition("the file is an SQLite database but not a Newsreel catalog");
        } else if (current == 0 && QueryInt(db, "SELECT count(*) FROM sqlite_schema") != 0) {
          refusal = FailedPrecondition(
              "the file is an SQLite database with tables of its own, not a Newsreel catalog");
        }
        if (!refusal.ok() || current >= target_version) {
          db.exec("ROLLBACK");
          return refusal;
        }
        const Migration& migration = kMigrations[current];
        db.exec(migration.sql);
        db.exec("PRAGMA application_id = " + std::to_string(kApplicationId));
        db.exec("PRAGMA user_version = " + std::to_string(migration.version));
        db.exec("COMMIT");
        NR_LOG(kInfo) << "catalog: migrated schema to version " << migration.version << " ("
                      << migration.description << ")";
      } catch (...) {
        if (!sqlite3_get_autocommit(db.getHandle())) db.tryExec("ROLLBACK");
        throw;
      }
    }
  });
}

}  // namespace newsreel::catalog::internal
