#pragma once
// The catalog: one SQLite database (data/catalog.db) holding videos, renditions, assets, jobs,
// uploads, live streams, users and tokens, with full-text search over videos.
//
// Threading and processes: a Catalog owns one SQLite connection and is NOT thread-safe. Use it
// from one thread at a time; give each thread that needs the catalog (the job supervisor, each
// lws service thread) and each process (`newsreel import` next to `newsreel serve`) its own
// Catalog opened on the same file. The database runs in WAL mode, so readers never block and
// are never blocked by the one writer; writers queue behind each other for up to
// busy_timeout_ms and then fail with kTimeout. Every write call is one short transaction.
//
// Errors: no function throws; each returns a Status or a Result<T> (common/status.h).
//
//   Result<std::unique_ptr<Catalog>> catalog = Catalog::Open("data/catalog.db");
//   if (!catalog.ok()) { NR_LOG(kError) << catalog.status().ToString(); return 1; }
//   Result<Video> video = (*catalog)->videos().Create({.title = "Lũ quét ở Sơn La"});

#include <functional>
#include <memory>
#include <string>

#include "catalog/job_queue.h"
#include "catalog/live_stream_repository.h"
#include "catalog/search.h"
#include "catalog/types.h"
#include "catalog/upload_repository.h"
#include "catalog/user_repository.h"
#include "catalog/video_repository.h"
#include "common/status.h"

namespace newsreel::catalog {

namespace internal {
class Connection;
}

struct CatalogOptions {
  Clock clock;  // defaults to SystemNowMs
  int busy_timeout_ms = 5'000;
  bool create_if_missing = true;
  JobQueueOptions jobs;
  // Search ranks at most this many matches, the most recent ones (see VideoSearch::Search).
  int search_rank_window = 5'000;
};

class Catalog {
 public:
  // Opens (creating it when allowed) the catalog at `path` and brings its schema up to date:
  // WAL journal, foreign keys on, busy timeout, synchronous=FULL for commits that acknowledge
  // something to a user. Fails with kFailedPrecondition when the file's schema is newer than
  // this code or the file is not a Newsreel catalog, kIo when it cannot be opened.
  // ":memory:" opens a private in-memory catalog (no WAL; for tools and quick tests).
  static Result<std::unique_ptr<Catalog>> Open(const std::string& path,
                                               CatalogOptions options = {});

  ~Catalog();
  Catalog(const Catalog&) = delete;
  Catalog& operator=(const Catalog&) = delete;

  // The repositories live as long as the Catalog and share its connection and thread.
  VideoRepository& videos() { return videos_; }
  JobQueue& jobs() { return jobs_; }
  UploadRepository& uploads() { return uploads_; }
  LiveStreamRepository& live_streams() { return live_streams_; }
  UserRepository& users() { return users_; }
  VideoSearch& search() { return search_; }

  // Runs `body` as one durable transaction: the repository calls it makes join it, and all of
  // them commit together when it returns OK, or none when it returns an error. For changes that
  // span repositories, e.g. turning a finished upload into a video and its transcode job.
  Status RunInTransaction(const std::function<Status()>& body);

  // The database's schema version, and the newest one this code knows.
  Result<int> SchemaVersion();
  static int LatestSchemaVersion();

  // Runs PRAGMA integrity_check; kInternal with SQLite's report when it is not "ok".
  Status CheckIntegrity();

  // Copies any WAL content into the main file (PRAGMA wal_checkpoint(TRUNCATE)), e.g. before a
  // backup or at clean shutdown. kTimeout when readers keep it from finishing.
  Status Checkpoint();

  // The time the catalog stamps on rows, from the injected clock.
  int64_t Now() const;

 private:
  Catalog(std::unique_ptr<internal::Connection> connection, const CatalogOptions& options);

  std::unique_ptr<internal::Connection> connection_;
  VideoRepository videos_;
  JobQueue jobs_;
  UploadRepository uploads_;
  LiveStreamRepository live_streams_;
  UserRepository users_;
  VideoSearch search_;
};

}  // namespace newsreel::catalog
