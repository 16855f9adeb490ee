#pragma once
// Resumable uploads: the tus 1.0 protocol at /files/ (https://tus.io/protocols/resumable-upload)
// with the creation, creation-with-upload, creation-defer-length, termination, checksum (md5,
// sha1, sha256) and expiration extensions. docs/uploads.md is the users' page.
//
// Durability: the bytes of upload <id> stream into data/uploads/<id> as they arrive (one write
// per received buffer, constant memory) and are fdatasync'ed before the new offset is stored in
// the catalog (synchronous=FULL) and acknowledged. Bytes written but never acknowledged (a crash
// mid-request) are cut off at the next PATCH, which starts at the stored offset. A request whose
// connection drops mid-body keeps what arrived (tus core: the next HEAD reports it), unless it
// carried a checksum, which can then not be verified.
//
// When the last byte is stored the original moves to data/originals/<id>/ and the video (same
// id) and its transcode job are created in one transaction; a server that stops in between
// finishes this at its next sweep (Sweep, at start and every --upload-sweep-interval).
//
// Threading: one TusHandler per service thread, pool thread and janitor, each using its own
// thread's Catalog (a body is written on the service thread, finished on the pool). UploadLocks is
// shared: one request at a time may write an upload, a second one gets 423 (as tusd does).

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "catalog/catalog.h"
#include "common/status.h"
#include "streaming/data_dir.h"
#include "streaming/events.h"
#include "streaming/request_context.h"

namespace newsreel::streaming {

struct TusOptions {
  int64_t max_size = int64_t{16} << 30;      // Tus-Max-Size: the largest upload, 413 above
  int64_t quota_bytes = int64_t{100} << 30;  // per reporter, over live and finished uploads
  std::chrono::seconds expiry{24 * 3600};    // an upload untouched this long is removed
  // A request body arriving slower than this on average, once `rate_grace` has passed, is cut
  // off (what arrived is kept): a thousand trickling clients cannot hold the server.
  int64_t min_rate_bytes_per_second = 1024;
  std::chrono::seconds rate_grace{20};
  // Videos from uploads start as drafts: only editors publish (authorize.h).
  catalog::Visibility visibility = catalog::Visibility::kDraft;
};

// Which uploads have a request writing them right now. Thread-safe.
class UploadLocks {
 public:
  bool TryLock(const std::string& id);
  void Unlock(const std::string& id);

 private:
  std::mutex mu_;
  std::set<std::string> held_;  // guarded by mu_
};

// The headers tus reads, lower-case names without the colon ("upload-offset").
using TusHeaders = std::map<std::string, std::string>;

// The header names the server must read for tus (custom headers for libwebsockets).
const std::vector<std::string>& TusHeaderNames();

// Upload-Metadata: "key base64,key base64" (RFC 4648 base64; a key may come without value).
// Keys are 1..64 characters of [A-Za-z0-9._-], unique; decoded values must be UTF-8.
// kInvalidArgument naming the problem.
Result<std::map<std::string, std::string>> ParseUploadMetadata(std::string_view header);
std::string FormatUploadMetadata(const std::map<std::string, std::string>& metadata);

// An error answer under /files/: the API's JSON error with the tus headers.
HttpResponse TusError(int status, const std::string& code, const std::string& message);

// An RFC 7231 HTTP date ("Thu, 26 Nov 2026 09:00:00 GMT") for Upload-Expires.
std::string HttpDate(int64_t unix_ms);

// A request body being written into an upload. Owned by the connection's session; destroying it
// releases the upload's lock and closes the file (call Finish or Abandon first).
class TusWrite {
 public:
  ~TusWrite();
  TusWrite(const TusWrite&) = delete;
  TusWrite& operator=(const TusWrite&) = delete;

  const std::string& id() const { return id_; }
  int64_t received() const { return received_; }
  int64_t expected() const { return expected_; }

 private:
  friend class TusHandler;
  TusWrite() = default;

  UploadLocks* locks_ = nullptr;
  std::string id_;
  int fd_ = -1;
  int64_t start_offset_ = 0;
  int64_t received_ = 0;
  int64_t expected_ = 0;        // Content-Length
  int64_t writeback_from_ = 0;  // file offset from which writeback has not been started
  bool creating_ = false;       // POST with data: answer 201
  bool failed_ = false;         // a write failed; the rest is swallowed and the request fails
  std::string failure_;
  std::string checksum_algorithm_;  // empty: none
  std::string checksum_expected_;   // raw digest
  struct HashState;
  std::unique_ptr<HashState> hash_;
};

class TusHandler {
 public:
  // Everything must outlive the handler.
  TusHandler(const DataDir& data, catalog::Catalog& catalog, EventBus& events, UploadLocks& locks,
             const TusOptions& options)
      : data_(data), catalog_(catalog), events_(events), locks_(locks), options_(options) {}

  // What to do with a request under /files/: answer now, or feed its body into `write`.
  struct Start {
    std::optional<HttpResponse> response;
    std::unique_ptr<TusWrite> write;
  };
  // `rest` is the path after "/files" ("" or "/" for the collection, "/<id>" for one upload);
  // `method` is the HTTP method after X-HTTP-Method-Override; `content_length` is -1 when absent.
  // Every operation takes the caller: creating needs the reporter role and records the caller
  // as the upload's reporter; HEAD, PATCH and DELETE reach only uploads the caller may touch.
  Start Begin(const Caller& caller, const std::string& method, const std::string& rest,
              const TusHeaders& headers, int64_t content_length);

  // Appends body bytes. Never fails the connection: a failed write is remembered and the
  // request answered with an error by Finish.
  void Write(TusWrite& write, const char* data, size_t length);

  // The whole body arrived: verify, flush, store the new offset, answer. Completes the upload
  // into a video when it was the last byte.
  HttpResponse Finish(TusWrite& write);

  // The connection ended before the body did: keep what arrived (without a checksum to check),
  // so that the client resumes from there.
  void Abandon(TusWrite& write);

  // Housekeeping, from a timer: removes expired unfinished uploads (file and row) and finishes
  // finished uploads that have no video yet. Returns how many uploads were touched.
  int Sweep();

 private:
  // Loads upload `id` into `upload`, or returns the answer when there is none (404), it cannot be
  // read (500), or it expired (410, unless `expired_ok`).
  std::optional<HttpResponse> Find(const Caller& caller, const std::string& id, bool expired_ok,
                                   catalog::Upload& upload);
  HttpResponse FinishWrite(TusWrite& write);
  HttpResponse Options();
  HttpResponse Create(const Caller& caller, const TusHeaders& headers, int64_t content_length,
                      Start& start);
  HttpResponse Head(const Caller& caller, const std::string& id);
  HttpResponse Patch(const Caller& caller, const std::string& id, const TusHeaders& headers,
                     int64_t content_length, Start& start);
  HttpResponse Terminate(const Caller& caller, const std::string& id);
  // The one quota check: whether account `owner` may hold `more` bytes beyond what the
  // catalog counts for it now. An answer (413, or 500 when the catalog cannot tell) refuses.
  std::optional<HttpResponse> CheckQuota(int64_t owner, int64_t more);
  // Opens the upload's file for writing at `offset` and prepares `start.write`. Takes the lock.
  std::optional<HttpResponse> OpenWrite(const catalog::Upload& upload, const TusHeaders& headers,
                                        int64_t content_length, Start& start);
  // Stores the offset after `write` (flushed first) and completes the upload when done.
  Result<catalog::Upload> Commit(TusWrite& write);
  // Moves the finished bytes into originals/ and creates the video and its job (idempotent).
  Status Complete(const catalog::Upload& upload);
  void AddUploadHeaders(HttpResponse& response, const catalog::Upload& upload);

  const DataDir& data_;
  catalog::Catalog& catalog_;
  EventBus& events_;
  UploadLocks& locks_;
  const TusOptions& options_;
};

}  // namespace newsreel::streaming
