#include "streaming/tus.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "catalog/ids.h"
#include "catalog/vietnamese_fold.h"
#include "common/log.h"
#include "streaming/ingest.h"
#include "streaming/internal/api.h"
#include "streaming/internal/authorize.h"
#include "streaming/internal/http_util.h"

namespace newsreel::streaming {

namespace fs = std::filesystem;

namespace {

constexpr char kTusVersion[] = "1.0.0";
constexpr char kOffsetOctetStream[] = "application/offset+octet-stream";
constexpr char kExtensions[] =
    "creation,creation-with-upload,creation-defer-length,termination,checksum,expiration";
constexpr char kChecksumAlgorithms[] = "md5,sha1,sha256";
constexpr int64_t kWritebackStep = 4 << 20;  // see TusHandler::Write

const EVP_MD* DigestFor(const std::string& algorithm) {
  if (algorithm == "sha1") return EVP_sha1();
  if (algorithm == "sha256") return EVP_sha256();
  if (algorithm == "md5") return EVP_md5();
  return nullptr;
}

// RFC 4648 base64 (with padding); nullopt when malformed.
std::optional<std::string> Base64Decode(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  for (char c : in)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/' && c != '=')
      return std::nullopt;
  std::string out(in.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return std::nullopt;
  size_t pad = 0;
  if (!in.empty() && in.back() == '=') ++pad;
  if (in.size() > 1 && in[in.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

std::string Base64Encode(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// A non-negative decimal integer header; nullopt when absent or malformed.
std::optional<int64_t> ParseCount(const TusHeaders& headers, const std::string& name,
                                  bool* malformed) {
  auto it = headers.find(name);
  if (it == headers.end()) return std::nullopt;
  std::optional<int64_t> n = ParseContentLength(it->second);
  if (!n) *malformed = true;
  return n;
}

std::string HeaderOr(const TusHeaders& headers, const std::string& name) {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

// A catalog error as a tus answer: the caller's mistakes as 4xx, anything else as 500.
HttpResponse TusStatusError(const Status& st) {
  switch (st.code()) {
    case ErrorCode::kInvalidArgument:
      return TusError(400, "invalid_argument", st.message());
    case ErrorCode::kNotFound:
      return TusError(404, "not_found", "no such upload");
    case ErrorCode::kFailedPrecondition:
      return TusError(409, "conflict", st.message());
    default:
      NR_LOG(kError) << "tus: catalog: " << st.ToString();
      return TusError(500, "internal", "the catalog failed: " + st.message());
  }
}

HttpResponse TusEmpty(int status) {
  HttpResponse r;
  r.status = status;
  r.content_type.clear();
  r.headers["Tus-Resumable"] = kTusVersion;
  r.headers["Cache-Control"] = "no-store";
  return r;
}

}  // namespace

HttpResponse TusError(int status, const std::string& code, const std::string& message) {
  HttpResponse r = ErrorResponse(status, code, message);
  r.headers["Tus-Resumable"] = kTusVersion;
  r.headers["Cache-Control"] = "no-store";
  return r;
}

bool UploadLocks::TryLock(const std::string& id) {
  std::lock_guard lock(mu_);
  return held_.insert(id).second;
}

void UploadLocks::Unlock(const std::string& id) {
  std::lock_guard lock(mu_);
  held_.erase(id);
}

const std::vector<std::string>& TusHeaderNames() {
  static const std::vector<std::string> kNames = {
      "tus-resumable",   "upload-offset",   "upload-length",          "upload-defer-length",
      "upload-metadata", "upload-checksum", "x-http-method-override", "upload-concat"};
  return kNames;
}

Result<std::map<std::string, std::string>> ParseUploadMetadata(std::string_view header) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start < header.size()) {
    size_t comma = header.find(',', start);
    std::string_view pair = header.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    while (!pair.empty() && pair.back() == ' ') pair.remove_suffix(1);
    size_t space = pair.find(' ');
    std::string_view key = pair.substr(0, space);
    if (key.empty() || key.size() > 64)
      return InvalidArgument("Upload-Metadata: empty or long key");
    for (char c : key)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-')
        return InvalidArgument("Upload-Metadata: bad key '" + std::string(key) + "'");
    std::string value;
    if (space != std::string_view::npos) {
      auto decoded = Base64Decode(pair.substr(space + 1));
      if (!decoded)
        return InvalidArgument("Upload-Metadata: value of '" + std::string(key) +
                               "' is not base64");
      if (!catalog::IsValidUtf8(*decoded) || decoded->find('\0') != std::string::npos)
        return InvalidArgument("Upload-Metadata: value of '" + std::string(key) +
                               "' is not UTF-8 text");
      value = std::move(*decoded);
    }
    if (!out.emplace(std::string(key), std::move(value)).second)
      return InvalidArgument("Upload-Metadata: key '" + std::string(key) + "' given twice");
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string FormatUploadMetadata(const std::map<std::string, std::string>& metadata) {
  std::string out;
  for (const auto& [key, value] : metadata) {
    if (!out.empty()) out += ',';
    out += key;
    if (!value.empty()) out += ' ' + Base64Encode(value);
  }
  return out;
}

std::string HttpDate(int64_t unix_ms) {
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

struct TusWrite::HashState {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~HashState() { EVP_MD_CTX_free(ctx); }
};

TusWrite::~TusWrite() {
  if (fd_ >= 0) close(fd_);
  if (locks_) locks_->Unlock(id_);
}

TusHandler::Start TusHandler::Begin(const Caller& caller, const std::string& method,
                                    const std::string& rest, const TusHeaders& headers,
                                    int64_t content_length) {
  Start start;
  if (method == "OPTIONS") {
    start.response = Options();
    return start;
  }
  // Every other request must speak our version (tus core: 412 with the versions we speak).
  const std::string version = HeaderOr(headers, "tus-resumable");
  if (version != kTusVersion) {
    HttpResponse r = TusError(
        412, "failed_precondition",
        version.empty() ? "missing Tus-Resumable header" : "unsupported tus version " + version);
    r.headers["Tus-Version"] = kTusVersion;
    start.response = r;
    return start;
  }
  if (headers.count("upload-concat")) {
    start.response =
        TusError(400, "invalid_argument", "the concatenation extension is not offered");
    return start;
  }
  if (rest.empty() || rest == "/") {
    if (method == "POST") {
      HttpResponse r = Create(caller, headers, content_length, start);
      if (!start.write) start.response = r;
      return start;
    }
    HttpResponse r = TusError(405, "method_not_allowed", "create uploads with POST");
    r.headers["Allow"] = "POST, OPTIONS";
    start.response = r;
    return start;
  }
  const std::string id = rest.substr(1);
  if (!catalog::ValidateId(id).ok()) {
    start.response = TusError(404, "not_found", "no such upload");
    return start;
  }
  if (method == "HEAD") {
    start.response = Head(caller, id);
  } else if (method == "PATCH") {
    HttpResponse r = Patch(caller, id, headers, content_length, start);
    if (!start.write) start.response = r;
  } else if (method == "DELETE") {
    start.response = Terminate(caller, id);
  } else {
    HttpResponse r = TusError(405, "method_not_allowed", method + " is not a tus method here");
    r.headers["Allow"] = "HEAD, PATCH, DELETE, OPTIONS";
    start.response = r;
  }
  return start;
}

HttpResponse TusHandler::Options() {
  HttpResponse r = TusEmpty(204);
  r.headers["Tus-Version"] = kTusVersion;
  r.headers["Tus-Extension"] = kExtensions;
  r.headers["Tus-Max-Size"] = std::to_string(options_.max_size);
  r.headers["Tus-Checksum-Algorithm"] = kChecksumAlgorithms;
  return r;
}

HttpResponse TusHandler::Create(const Caller& caller, const TusHeaders& headers,
                                int64_t content_length, Start& start) {
  if (Decision d = Authorize(caller, Action::kUpload); d != Decision::kAllow) {
    return d == Decision::kUnauthenticated
               ? TusError(401, "unauthenticated", "uploading needs you to sign in")
               : TusError(403, "permission_denied", "uploading needs the reporter role");
  }
  bool malformed = false;
  std::optional<int64_t> length = ParseCount(headers, "upload-length", &malformed);
  const std::string defer = HeaderOr(headers, "upload-defer-length");
  if (malformed) return TusError(400, "invalid_argument", "Upload-Length is not a number");
  if (!defer.empty() && defer != "1")
    return TusError(400, "invalid_argument", "Upload-Defer-Length must be 1");
  if (length && !defer.empty())
    return TusError(400, "invalid_argument", "give Upload-Length or Upload-Defer-Length, not both");
  if (!length && defer.empty())
    return TusError(400, "invalid_argument", "Upload-Length or Upload-Defer-Length: 1 is required");
  if (length && *length > options_.max_size) {
    NR_LOG(kInfo) << "tus: refused an upload of " << *length << " bytes (Tus-Max-Size "
                  << options_.max_size << ")";
    return TusError(413, "invalid_argument",
                    "upload of " + std::to_string(*length) + " bytes is larger than the " +
                        std::to_string(options_.max_size) + " bytes allowed");
  }
  auto metadata = ParseUploadMetadata(HeaderOr(headers, "upload-metadata"));
  if (!metadata.ok()) return TusError(400, "invalid_argument", metadata.status().message());
  // The reporter is the signed-in account; its display name is what the catalog shows.
  const int64_t owner = *caller.user_id();
  const std::string reporter =
      caller.user->display_name.empty() ? caller.user->name : caller.user->display_name;
  if (length)
    if (auto refused = CheckQuota(owner, *length)) return *refused;
  // Data in the creation request (creation-with-upload) must be tus data.
  const bool with_data = content_length > 0;
  if (with_data && HeaderOr(headers, "content-type") != kOffsetOctetStream)
    return TusError(415, "unsupported_media_type",
                    std::string("data in a creation request must be ") + kOffsetOctetStream);
  // The data must fit what the checks above allowed, like a PATCH's.
  if (with_data && length && content_length > *length)
    return TusError(413, "invalid_argument",
                    "the data (" + std::to_string(content_length) +
                        " bytes) is longer than Upload-Length " + std::to_string(*length));
  if (with_data && !length) {
    if (content_length > options_.max_size)
      return TusError(413, "invalid_argument", "the data is larger than Tus-Max-Size");
    if (auto refused = CheckQuota(owner, content_length)) return *refused;
  }

  catalog::Upload u;
  u.id = catalog::NewId();
  u.length = length;
  u.metadata = std::move(metadata).value();
  u.reporter = reporter;
  u.owner_id = owner;
  u.expires_at_ms = catalog::SystemNowMs() +
                    std::chrono::duration_cast<std::chrono::milliseconds>(options_.expiry).count();
  // The file first, so that a stored upload always has one; its name is durable before the
  // client learns the upload exists.
  const fs::path file = data_.uploads() / u.id;
  int fd = open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd < 0) {
    NR_LOG(kError) << "tus: cannot create " << file << ": " << std::strerror(errno);
    return TusError(500, "io", "cannot store the upload");
  }
  close(fd);
  if (Status st = SyncDirectory(data_.uploads()); !st.ok()) {
    NR_LOG(kError) << "tus: " << st.message();
    unlink(file.c_str());
    return TusError(500, "io", "cannot store the upload");
  }
  auto created = catalog_.uploads().Create(u);
  if (!created.ok()) {
    unlink(file.c_str());
    return TusError(500, "internal", created.status().message());
  }
  NR_LOG(kInfo) << "tus: upload " << created->id << " created by " << caller.name() << " ("
                << (length ? std::to_string(*length) + " bytes" : "length deferred") << ")";
  if (with_data) {
    if (auto refused = OpenWrite(*created, headers, content_length, start)) {
      // The refusal names no upload (no Location), so none may stay behind, holding quota
      // until it expires: a bad Upload-Checksum refuses the whole creation.
      (void)catalog_.uploads().Delete(created->id);
      unlink(file.c_str());
      return *refused;
    }
    start.write->creating_ = true;
    return HttpResponse{};
  }
  HttpResponse r = TusEmpty(201);
  r.headers["Location"] = "/files/" + created->id;
  AddUploadHeaders(r, *created);
  if (created->length && *created->length == 0) {
    // An empty file is complete at once (and will fail as media, readably).
    if (Status st = Complete(*created); !st.ok()) NR_LOG(kError) << "tus: " << st.message();
  }
  return r;
}

std::optional<HttpResponse> TusHandler::CheckQuota(int64_t owner, int64_t more) {
  if (options_.quota_bytes <= 0) return std::nullopt;
  auto held = catalog_.uploads().BytesHeldBy(owner);
  // A catalog that cannot say what the reporter holds lets nothing through.
  if (!held.ok()) return TusStatusError(held.status());
  if (*held + more <= options_.quota_bytes) return std::nullopt;
  NR_LOG(kInfo) << "tus: quota: account " << owner << " holds " << *held << " bytes, asked for "
                << more << " more";
  return TusError(413, "quota_exceeded",
                  "upload quota exceeded: " + std::to_string(*held) + " of " +
                      std::to_string(options_.quota_bytes) + " bytes already in use");
}

void TusHandler::AddUploadHeaders(HttpResponse& r, const catalog::Upload& u) {
  r.headers["Upload-Offset"] = std::to_string(u.offset);
  if (u.length) {
    r.headers["Upload-Length"] = std::to_string(*u.length);
  } else {
    r.headers["Upload-Defer-Length"] = "1";
  }
  if (!u.completed_at_ms) r.headers["Upload-Expires"] = HttpDate(u.expires_at_ms);
}

std::optional<HttpResponse> TusHandler::Find(const Caller& caller, const std::string& id,
                                             bool expired_ok, catalog::Upload& upload) {
  auto u = catalog_.uploads().Get(id);
  if (!u.ok()) {
    return TusStatusError(u.status());
  }
  // Only its reporter (or an editor) may see or touch an upload; anyone else is told there is
  // none, as for a hidden video.
  // An upload belongs to the account that created it: anyone else is told there is none.
  if (Decision d = Authorize(caller, Action::kTouchUpload, Resource::Owned(u->owner_id));
      d != Decision::kAllow) {
    if (d == Decision::kUnauthenticated)
      return TusError(401, "unauthenticated", "sign in to resume your upload");
    return TusError(404, "not_found", "no such upload");
  }
  if (!expired_ok && !u->completed_at_ms && u->expires_at_ms <= catalog::SystemNowMs())
    return TusError(410, "gone", "the upload expired");
  upload = std::move(u).value();
  return std::nullopt;
}

HttpResponse TusHandler::Head(const Caller& caller, const std::string& id) {
  catalog::Upload u;
  if (auto refused = Find(caller, id, false, u)) return *refused;
  HttpResponse r = TusEmpty(200);
  AddUploadHeaders(r, u);
  if (!u.metadata.empty()) r.headers["Upload-Metadata"] = FormatUploadMetadata(u.metadata);
  return r;
}

HttpResponse TusHandler::Patch(const Caller& caller, const std::string& id,
                               const TusHeaders& headers, int64_t content_length, Start& start) {
  if (HeaderOr(headers, "content-type") != kOffsetOctetStream)
    return TusError(415, "unsupported_media_type",
                    std::string("PATCH data must be ") + kOffsetOctetStream);
  bool malformed = false;
  std::optional<int64_t> offset = ParseCount(headers, "upload-offset", &malformed);
  if (!offset || malformed)
    return TusError(400, "invalid_argument", "Upload-Offset is missing or not a number");
  std::optional<int64_t> length = ParseCount(headers, "upload-length", &malformed);
  if (malformed) return TusError(400, "invalid_argument", "Upload-Length is not a number");
  if (content_length < 0) return TusError(411, "invalid_argument", "PATCH needs a Content-Length");

  catalog::Upload u;
  if (auto refused = Find(caller, id, false, u)) return *refused;
  if (*offset != u.offset) {
    HttpResponse r =
        TusError(409, "conflict",
                 "Upload-Offset " + std::to_string(*offset) +
                     " does not match the upload's offset " + std::to_string(u.offset));
    r.headers["Upload-Offset"] = std::to_string(u.offset);
    return r;
  }
  // creation-defer-length: the length comes with a PATCH, once.
  if (length) {
    if (u.length && *u.length != *length)
      return TusError(400, "invalid_argument", "the upload's length is already set");
    if (!u.length) {
      if (*length > options_.max_size)
        return TusError(413, "invalid_argument",
                        "upload of " + std::to_string(*length) + " bytes is larger than the " +
                            std::to_string(options_.max_size) + " bytes allowed");
      // Refused before the length is stored: a refused PATCH changes nothing.
      if (u.offset + content_length > *length)
        return TusError(413, "invalid_argument",
                        "the data would end at " + std::to_string(u.offset + content_length) +
                            ", past the length " + std::to_string(*length));
      // The catalog counts a deferred upload by its offset so far; its length replaces that.
      if (auto refused = CheckQuota(u.owner_id.value_or(0), *length - u.offset)) return *refused;
      auto set = catalog_.uploads().SetLength(id, *length);
      if (!set.ok()) return TusStatusError(set.status());
      u = *set;
    }
  }
  const int64_t end = u.offset + content_length;
  if (u.length && end > *u.length)
    return TusError(413, "invalid_argument",
                    "the data would end at " + std::to_string(end) + ", past the length " +
                        std::to_string(*u.length));
  if (!u.length) {
    if (end > options_.max_size)
      return TusError(413, "invalid_argument", "the upload would pass Tus-Max-Size");
    if (auto refused = CheckQuota(u.owner_id.value_or(0), content_length)) return *refused;
  }
  if (content_length == 0) {
    // Nothing to write: report where the upload stands (a deferred length may have completed it).
    if (!locks_.TryLock(id))
      return TusError(423, "locked", "another request is writing this upload");
    if (u.completed_at_ms)
      if (Status st = Complete(u); !st.ok()) NR_LOG(kError) << "tus: " << st.message();
    locks_.Unlock(id);
    HttpResponse r = TusEmpty(204);
    AddUploadHeaders(r, u);
    return r;
  }
  if (auto refused = OpenWrite(u, headers, content_length, start)) return *refused;
  return HttpResponse{};
}

std::optional<HttpResponse> TusHandler::OpenWrite(const catalog::Upload& u,
                                                  const TusHeaders& headers, int64_t content_length,
                                                  Start& start) {
  std::string algorithm, digest;
  if (std::string checksum = HeaderOr(headers, "upload-checksum"); !checksum.empty()) {
    size_t space = checksum.find(' ');
    algorithm = checksum.substr(0, space);
    for (char& c : algorithm) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!DigestFor(algorithm))
      return TusError(
          400, "invalid_argument",
          "unsupported checksum algorithm '" + algorithm + "' (use " + kChecksumAlgorithms + ")");
    auto raw = space == std::string::npos ? std::nullopt : Base64Decode(checksum.substr(space + 1));
    if (!raw || raw->size() != static_cast<size_t>(EVP_MD_size(DigestFor(algorithm))))
      return TusError(400, "invalid_argument", "Upload-Checksum is not '<algorithm> <base64>'");
    digest = std::move(*raw);
  }
  if (!locks_.TryLock(u.id))
    return TusError(423, "locked", "another request is writing this upload");
  auto w = std::unique_ptr<TusWrite>(new TusWrite());
  w->locks_ = &locks_;
  w->id_ = u.id;
  const fs::path file = data_.uploads() / u.id;
  w->fd_ = open(file.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  struct stat st;
  const bool opened = w->fd_ >= 0 && fstat(w->fd_, &st) == 0;
  // Acknowledged bytes that are not on disk (the file was removed or cut by someone else) are
  // lost: never fill them in with zeros.
  if ((!opened && errno == ENOENT) || (opened && st.st_size < u.offset)) {
    NR_LOG(kError) << "tus: upload " << u.id << ": " << file << " holds "
                   << (opened ? st.st_size : 0) << " bytes, but " << u.offset
                   << " were acknowledged";
    // Nothing can bring them back: forget the upload, so that the client's next HEAD gets 404
    // and it starts a new one (tus-js-client does that by itself).
    std::error_code ec;
    fs::remove(file, ec);
    (void)catalog_.uploads().Delete(u.id);
    return TusError(410, "gone",
                    "the upload's data was lost on the server; start the upload again");
  }
  if (!opened) {
    NR_LOG(kError) << "tus: cannot open " << file << ": " << std::strerror(errno);
    return TusError(500, "io", "cannot open the upload's data");
  }
  // Bytes past the stored offset were never acknowledged (a crash mid-request): drop them.
  if (ftruncate(w->fd_, u.offset) != 0 || lseek(w->fd_, u.offset, SEEK_SET) != u.offset) {
    NR_LOG(kError) << "tus: cannot cut " << file << " back to " << u.offset << ": "
                   << std::strerror(errno);
    return TusError(500, "io", "cannot open the upload's data");
  }
  w->start_offset_ = w->writeback_from_ = u.offset;
  w->expected_ = content_length;
  if (!algorithm.empty()) {
    w->checksum_algorithm_ = algorithm;
    w->checksum_expected_ = std::move(digest);
    w->hash_ = std::make_unique<TusWrite::HashState>();
    EVP_DigestInit_ex(w->hash_->ctx, DigestFor(algorithm), nullptr);
  }
  start.write = std::move(w);
  return std::nullopt;
}

void TusHandler::Write(TusWrite& w, const char* data, size_t length) {
  if (w.failed_) return;
  if (w.received_ + static_cast<int64_t>(length) > w.expected_) {
    w.failed_ = true;
    w.failure_ = "more data than Content-Length";
    return;
  }
  if (w.hash_) EVP_DigestUpdate(w.hash_->ctx, data, length);
  size_t done = 0;
  while (done < length) {
    ssize_t n = write(w.fd_, data + done, length - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      w.failed_ = true;
      w.failure_ = std::string("cannot write the upload: ") + std::strerror(errno);
      NR_LOG(kError) << "tus: upload " << w.id_ << ": " << w.failure_;
      return;
    }
    done += static_cast<size_t>(n);
  }
  w.received_ += static_cast<int64_t>(length);
  // Start writing back what arrived while more arrives, so that the fdatasync before the
  // acknowledgement has little left to do (without it the disk idles during the transfer and
  // then works alone). Asynchronous: it only queues the pages for writeback.
  const int64_t end = w.start_offset_ + w.received_;
  if (end - w.writeback_from_ >= kWritebackStep) {
    sync_file_range(w.fd_, w.writeback_from_, end - w.writeback_from_, SYNC_FILE_RANGE_WRITE);
    w.writeback_from_ = end;
  }
}

Result<catalog::Upload> TusHandler::Commit(TusWrite& w) {
  if (fdatasync(w.fd_) != 0)
    return IoError(std::string("cannot flush the upload: ") + std::strerror(errno));
  const int64_t expires =
      catalog::SystemNowMs() +
      std::chrono::duration_cast<std::chrono::milliseconds>(options_.expiry).count();
  auto u = catalog_.uploads().Advance(w.id_, w.start_offset_, w.start_offset_ + w.received_,
                                      std::nullopt, expires);
  if (!u.ok()) return u;
  if (u->completed_at_ms) {
    close(w.fd_);
    w.fd_ = -1;
    if (Status st = Complete(*u); !st.ok()) {
      // The bytes are safe and the upload is finished; the next sweep retries.
      NR_LOG(kError) << "tus: upload " << u->id
                     << " finished but not yet a video: " << st.message();
    }
  }
  return u;
}

HttpResponse TusHandler::Finish(TusWrite& w) {
  HttpResponse r = FinishWrite(w);
  // A creation with data: the upload exists whatever became of the data, so the client can
  // resume it (or terminate it) instead of leaving it to expire.
  if (w.creating_) r.headers["Location"] = "/files/" + w.id_;
  return r;
}

HttpResponse TusHandler::FinishWrite(TusWrite& w) {
  auto discard = [&] {
    if (w.fd_ >= 0 && ftruncate(w.fd_, w.start_offset_) != 0)
      NR_LOG(kWarning) << "tus: cannot cut back upload " << w.id_ << ": " << std::strerror(errno);
  };
  if (w.failed_) {
    discard();
    return TusError(500, "io", w.failure_);
  }
  if (w.received_ != w.expected_) {
    discard();
    return TusError(400, "invalid_argument", "the body ended before Content-Length");
  }
  if (w.hash_) {
    std::string got(static_cast<size_t>(EVP_MAX_MD_SIZE), '\0');
    unsigned int n = 0;
    EVP_DigestFinal_ex(w.hash_->ctx, reinterpret_cast<unsigned char*>(got.data()), &n);
    got.resize(n);
    if (got != w.checksum_expected_) {
      discard();
      NR_LOG(kInfo) << "tus: upload " << w.id_ << ": " << w.checksum_algorithm_ << " mismatch, "
                    << w.received_ << " bytes discarded";
      return TusError(460, "checksum_mismatch",
                      "the " + w.checksum_algorithm_ + " checksum of the data does not match");
    }
  }
  auto u = Commit(w);
  if (!u.ok()) {
    discard();
    if (u.status().code() == ErrorCode::kFailedPrecondition)
      return TusError(409, "conflict", u.status().message());
    if (u.status().code() == ErrorCode::kInvalidArgument) {
      // The data does not fit the upload (past its length): the client's mistake, not ours.
      NR_LOG(kInfo) << "tus: upload " << w.id_ << ": refused: " << u.status().message();
      return TusError(400, "invalid_argument", u.status().message());
    }
    NR_LOG(kError) << "tus: upload " << w.id_ << ": " << u.status().message();
    return TusError(500, "io", "cannot store the data");
  }
  HttpResponse r = TusEmpty(w.creating_ ? 201 : 204);
  AddUploadHeaders(r, *u);
  return r;
}

void TusHandler::Abandon(TusWrite& w) {
  if (w.failed_ || w.received_ == 0 || w.hash_) {
    if (w.fd_ >= 0 && ftruncate(w.fd_, w.start_offset_) != 0) {
      // Harmless: the next PATCH cuts the file back to the stored offset anyway.
    }
    return;
  }
  auto u = Commit(w);
  if (u.ok()) {
    NR_LOG(kInfo) << "tus: upload " << w.id_ << ": connection ended, kept " << w.received_ << " of "
                  << w.expected_ << " bytes (offset " << u->offset << ")";
  } else {
    NR_LOG(kWarning) << "tus: upload " << w.id_
                     << ": connection ended, bytes not kept: " << u.status().message();
  }
}

HttpResponse TusHandler::Terminate(const Caller& caller, const std::string& id) {
  catalog::Upload u;
  if (auto refused = Find(caller, id, true, u)) return *refused;
  if (u.completed_at_ms)
    return TusError(409, "conflict",
                    "the upload is complete and became a video; delete it with DELETE "
                    "/api/v1/videos/" +
                        id);
  if (!locks_.TryLock(id)) return TusError(423, "locked", "another request is writing this upload");
  Status st = catalog_.uploads().Delete(id);
  std::error_code ec;
  fs::remove(data_.uploads() / id, ec);
  locks_.Unlock(id);
  if (!st.ok() && st.code() != ErrorCode::kNotFound) return TusError(500, "internal", st.message());
  NR_LOG(kInfo) << "tus: upload " << id << " terminated at " << u.offset << " bytes";
  return TusEmpty(204);
}

Status TusHandler::Complete(const catalog::Upload& u) {
  if (catalog_.videos().Get(u.id).ok()) return Status::Ok();  // done before
  auto made = IngestUpload(data_, catalog_, u, options_.visibility);
  if (!made.ok()) {
    if (catalog_.videos().Get(u.id).ok()) return Status::Ok();  // another thread won
    return made.status();
  }
  NR_LOG(kInfo) << "tus: upload " << u.id << " complete (" << made->video.source.size_bytes
                << " bytes): video queued as job " << made->job.id;
  const EventAudience audience = AudienceOf(made->video);
  events_.Publish("video.created", VideoJson(made->video, nullptr, nullptr), audience);
  events_.Publish("job.queued", {{"job_id", made->job.id}, {"video_id", u.id}}, audience);
  return Status::Ok();
}

int TusHandler::Sweep() {
  int touched = 0;
  if (auto expired = catalog_.uploads().ListExpired(); expired.ok()) {
    for (const auto& listed : *expired) {
      if (!locks_.TryLock(listed.id)) continue;  // a request is writing it right now
      // A request may have moved it (and its expiry) between the listing and the lock.
      auto u = catalog_.uploads().Get(listed.id);
      if (!u.ok() || u->completed_at_ms || u->expires_at_ms > catalog::SystemNowMs()) {
        locks_.Unlock(listed.id);
        continue;
      }
      std::error_code ec;
      (void)catalog_.uploads().Delete(u->id);
      fs::remove(data_.uploads() / u->id, ec);
      locks_.Unlock(u->id);
      NR_LOG(kInfo) << "tus: upload " << u->id << " expired at " << u->offset << " bytes: removed";
      ++touched;
    }
  }
  if (auto pending = catalog_.uploads().ListCompletedWithoutVideo(); pending.ok()) {
    for (const auto& u : *pending) {
      if (!locks_.TryLock(u.id)) continue;
      Status st = Complete(u);
      locks_.Unlock(u.id);
      if (st.code() == ErrorCode::kNotFound) {
        NR_LOG(kError) << "tus: " << st.message() << "; forgetting the upload";
        (void)catalog_.uploads().Delete(u.id);
      } else if (!st.ok()) {
        NR_LOG(kError) << "tus: upload " << u.id << ": " << st.message();
      }
      ++touched;
    }
  }
  // Files without an upload row: a crash between creating the file and storing the row.
  const int64_t now = catalog::SystemNowMs();
  std::error_code ec;
  fs::directory_iterator it(data_.uploads(), ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const fs::path file = it->path();
    const std::string id = file.filename().string();
    if (!catalog::ValidateId(id).ok()) continue;
    // Only a row that certainly does not exist makes the file a stray (not a busy catalog).
    if (catalog_.uploads().Get(id).status().code() != ErrorCode::kNotFound) continue;
    struct stat st;
    if (stat(file.c_str(), &st) != 0) continue;
    const int64_t age_ms = now - static_cast<int64_t>(st.st_mtim.tv_sec) * 1000;
    if (age_ms < 3600 * 1000) continue;  // may be a creation in flight
    if (!locks_.TryLock(id)) continue;
    std::error_code rm;
    fs::remove(file, rm);
    locks_.Unlock(id);
    NR_LOG(kInfo) << "tus: removed stray upload data " << file;
    ++touched;
  }
  return touched;
}

}  // namespace newsreel::streaming
