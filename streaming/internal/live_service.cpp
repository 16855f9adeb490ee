#include "streaming/internal/live_service.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "catalog/catalog.h"
#include "catalog/ids.h"
#include "catalog/live_stream_repository.h"
#include "common/log.h"
#include "streaming/ingest.h"

extern char** environ;

namespace newsreel::streaming {

using catalog::LiveState;
namespace fs = std::filesystem;

namespace {

// Viewers: addresses that fetched a playlist within this long (a player reloads the playlist
// about every target duration).
constexpr std::chrono::seconds kViewerWindow{15};
// At most this many addresses are remembered per stream (a bound against address rotation).
constexpr size_t kMaxViewerEntries = 100'000;
// A live job's attempts: restarts after crashes (the supervisor backs off between them).
constexpr int kLiveJobAttempts = 1000;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

EventAudience AudienceOf(const catalog::LiveStream& row) {
  return {row.visibility == catalog::Visibility::kPublished, row.owner_id};
}

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

// Runs `argv` to its end; its exit status, or -1 when it could not start.
int RunToEnd(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

struct LiveService::Stream {
  catalog::LiveStream row;
  // The publisher (set by the ingest thread, under mu_).
  bool publishing = false;
  uint64_t connection = 0;
  int pipe = -1;               // the write end of the running worker's stdin; -1: none reading
  std::string held;            // bytes waiting for a worker
  int64_t dropped = 0;         // bytes of this broadcast no worker took
  bool new_broadcast = false;  // the publisher came to an idle or ended stream
  fs::path broadcast;          // this broadcast's recording folder; empty: none yet
  int recording = -1;          // the open recording part (ingest thread only)
  // The worker (service thread, under mu_).
  int64_t job = 0;
  std::string job_mode;         // "publish" or "slate"
  uint64_t job_connection = 0;  // the publisher a publish job was started for
  bool ending_job = false;
  bool end_requested = false;   // End(), or the grace ran out
  bool publish_failed = false;  // the worker failed for good on this publisher's bytes
  bool deleted = false;
  Clock::time_point grace_until;
  std::optional<worker::LiveFigures> figures;
  std::map<std::string, Clock::time_point> viewers;
  size_t viewers_pruned_at = 0;
  // Low latency (service thread only): the init segment each rung's ring has, as the file's
  // identity ("inode-size-mtime"), so that a worker that wrote a new one is noticed.
  std::map<std::string, std::string> ll_inits;
};

LiveService::LiveService(LiveServiceOptions options, EventBus& events, Metrics& metrics)
    : options_(std::move(options)), events_(events), metrics_(metrics) {}

LiveService::~LiveService() { Stop(); }

fs::path LiveService::OutDir(const std::string& id) const { return options_.data.live() / id; }

fs::path LiveService::RecordingDir(const std::string& id) const {
  return options_.data.root / "recordings" / id;
}

WorkerKind LiveService::Kind() {
  WorkerKind kind;
  kind.name = kJobKindLive;
  kind.argv = [this](const catalog::Job& job, worker::EncoderChoice encoder) {
    return WorkerArgv(job, encoder);
  };
  kind.concurrency = 2 * options_.max_streams;  // a stream's worker and its successor
  kind.health = HealthRule::kLongLived;
  kind.heartbeat_timeout = std::chrono::seconds(20);
  kind.memory_limit_mb = options_.worker_memory_limit_mb;
  kind.nice = options_.worker_nice;
  kind.cpu_limit_seconds = 0;   // a live stream has no length
  kind.retry.backoff_ms = 500;  // a viewer waits: restart at once, not after 10 s
  kind.retry.max_backoff_ms = 5000;
  kind.input = [this](const catalog::Job& job) { return WorkerInput(job); };
  kind.on_heartbeat = [this](const catalog::Job& job, const worker::Heartbeat& h) {
    OnHeartbeat(job, h);
  };
  kind.on_end = [this](const catalog::Job& job, WorkerEnd end) { OnWorkerEnd(job, end); };
  kind.on_other_line = [this](const catalog::Job& job, const std::string& line) {
    OnWorkerLine(job, line);
  };
  return kind;
}

Status LiveService::Start(JobSupervisor* supervisor) {
  supervisor_ = supervisor;
  auto cat = catalog::Catalog::Open(options_.data.catalog().string());
  if (!cat.ok()) return cat.status().WithContext("live streams");
  catalog_ = std::move(cat).value();
  // Live jobs of a previous server: their publishers are gone with it.
  catalog::JobFilter filter;
  filter.kind = kJobKindLive;
  filter.limit = 500;
  for (catalog::JobState state : {catalog::JobState::kQueued, catalog::JobState::kRunning}) {
    filter.state = state;
    auto jobs = catalog_->jobs().List(filter);
    if (!jobs.ok()) return jobs.status().WithContext("live streams");
    for (const catalog::Job& job : *jobs)
      (void)catalog_->jobs().Cancel(job.id,
                                    "the server restarted; the stream waits for its publisher");
  }
  auto rows = catalog_->live_streams().List();
  if (!rows.ok()) return rows.status().WithContext("live streams");
  {
    std::lock_guard lock(mu_);
    for (catalog::LiveStream& row : *rows) {
      auto s = std::make_unique<Stream>();
      s->row = std::move(row);
      // On air when the server stopped: its publisher has the grace to call again, and the
      // broadcast's recording goes on in its folder (the stream's newest), before the SRT port
      // opens and an encoder can call.
      s->grace_until = Clock::now() + options_.reconnect_grace;
      if (s->row.state == LiveState::kLive || s->row.state == LiveState::kReconnecting) {
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(RecordingDir(s->row.id), ec))
          if (e.is_directory(ec) && (s->broadcast.empty() || e.path() > s->broadcast))
            s->broadcast = e.path();
      }
      by_key_hash_[s->row.key_hash] = s->row.id;
      streams_[s->row.id] = std::move(s);
    }
  }
  SrtIngestCallbacks callbacks;
  callbacks.on_connect = [this](const SrtConnectionInfo& info) { OnConnect(info); };
  callbacks.on_data = [this](uint64_t, const std::string& stream, std::span<const uint8_t> b) {
    OnData(stream, b);
  };
  callbacks.on_disconnect = [this](const SrtConnectionInfo& info, const std::string& why) {
    OnDisconnect(info, why);
  };
  callbacks.on_puller_connect = [this](const SrtConnectionInfo& info) {
    metrics_.live_pullers.fetch_add(1);
    NR_LOG(kInfo) << "live: " << info.stream << ": puller " << info.peer << " connected";
  };
  callbacks.on_puller_disconnect = [this](const SrtConnectionInfo& info, const std::string& why) {
    metrics_.live_pullers.fetch_sub(1);
    NR_LOG(kInfo) << "live: " << info.stream << ": puller " << info.peer << " gone (" << why << ")";
  };
  auto ingest = SrtIngest::Start(
      options_.srt,
      [this](const ParsedStreamId& id, std::string* passphrase) {
        return Authorize(id, passphrase);
      },
      std::move(callbacks));
  if (!ingest.ok()) return ingest.status().WithContext("SRT ingest");
  ingest_ = std::move(ingest).value();
  NR_LOG(kInfo) << "live: SRT ingest on UDP port " << ingest_->port();
  thread_ = std::thread([this] { Run(); });
  // Streams that were on air when the server stopped wait for their publishers.
  Post([this] {
    std::vector<std::string> ids;
    {
      std::lock_guard lock(mu_);
      for (auto& [id, s] : streams_) {
        if (s->row.state != LiveState::kLive && s->row.state != LiveState::kReconnecting) continue;
        if (!s->publishing) ids.push_back(id);  // one that called already is live
      }
    }
    for (const std::string& id : ids) {
      SetState(id, LiveState::kReconnecting);
      Advance(id);
    }
    CountStates();
  });
  return Status::Ok();
}

void LiveService::Stop() {
  if (ingest_) ingest_->Stop();  // publishers go first: no bytes, no new connections
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  for (auto& [id, s] : streams_) CloseFd(s->pipe);
}

int LiveService::srt_port() const { return ingest_ ? ingest_->port() : 0; }

// ---- SRT side ----------------------------------------------------------------------------

SrtDecision LiveService::Authorize(const ParsedStreamId& id, std::string* passphrase) {
  using V = SrtDecision::Verdict;
  if (id.mode == StreamMode::kRequest) {
    // A puller: r= names the stream; the passphrase is what protects it.
    std::lock_guard lock(mu_);
    auto it = streams_.find(id.resource);
    if (it == streams_.end() || it->second->deleted) return SrtDecision::Refuse(V::kNotFound);
    *passphrase = it->second->row.passphrase;
    return SrtDecision::Accept(it->first);
  }
  const std::string hash = catalog::LiveStreamRepository::HashKey(id.key);
  std::lock_guard lock(mu_);
  if (stopping_) return SrtDecision::Refuse(V::kUnavailable);
  auto key = by_key_hash_.find(hash);
  if (key == by_key_hash_.end()) return SrtDecision::Refuse(V::kForbidden);
  auto it = streams_.find(key->second);
  if (it == streams_.end() || it->second->deleted) return SrtDecision::Refuse(V::kForbidden);
  Stream& s = *it->second;
  // r=, when given, must name the key's stream.
  if (!id.resource.empty() && id.resource != s.row.id) return SrtDecision::Refuse(V::kForbidden);
  if (!s.publishing) {
    int on_air = 0;
    for (auto& [other, t] : streams_) on_air += t->publishing ? 1 : 0;
    if (on_air >= options_.max_streams) return SrtDecision::Refuse(V::kUnavailable);
  }
  if (s.row.encrypt_ingest) *passphrase = s.row.passphrase;
  SrtDecision d = SrtDecision::Accept(s.row.id);
  d.replace_live = s.row.replace_publisher;
  return d;
}

void LiveService::OnConnect(const SrtConnectionInfo& info) {
  fs::path part;
  {
    std::lock_guard lock(mu_);
    auto it = streams_.find(info.stream);
    if (it == streams_.end()) return;
    Stream& s = *it->second;
    s.publishing = true;
    s.publish_failed = false;
    s.connection = info.id;
    s.held.clear();
    // A new encoder is a new MPEG-TS stream (its own clocks and counters): a worker still
    // reading the last one's bytes finishes them, and the next worker starts on these after a
    // discontinuity (a replaced publisher's, or one that is back before its worker ended).
    CloseFd(s.pipe);
    if (s.row.state == LiveState::kIdle || s.row.state == LiveState::kEnded) {
      s.new_broadcast = true;
      s.dropped = 0;
    }
    if (s.broadcast.empty()) s.broadcast = RecordingDir(s.row.id) / std::to_string(NowMs());
    part = s.broadcast;
  }
  // The recording: one file per publishing session, in order (the ingest thread's alone).
  std::error_code ec;
  fs::create_directories(part, ec);
  int n = 1;
  for (const auto& e : fs::directory_iterator(part, ec)) n += e.path().extension() == ".ts";
  const fs::path file = part / (std::to_string(n) + ".ts");
  const int fd = open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    NR_LOG(kWarning) << "live: " << info.stream << ": cannot record to " << file.string() << ": "
                     << std::strerror(errno);
  {
    std::lock_guard lock(mu_);
    auto it = streams_.find(info.stream);
    if (it != streams_.end()) it->second->recording = fd;
  }
  NR_LOG(kInfo) << "live: " << info.stream << ": publisher " << info.peer << " connected ("
                << info.description << ")";
  const std::string id = info.stream;
  Post([this, id] {
    bool fresh = false;
    {
      std::lock_guard lock(mu_);
      auto it = streams_.find(id);
      if (it == streams_.end() || !it->second->publishing) return;
      Stream& s = *it->second;
      s.end_requested = false;
      // New playlists for a new broadcast: the stream was idle or ended when it called (or it
      // ended since, while this waited).
      fresh = (s.new_broadcast || s.row.state == LiveState::kEnded) && s.job == 0;
      if (fresh) s.new_broadcast = false;
    }
    if (fresh) {
      // A new broadcast starts with new playlists.
      std::error_code ec;
      fs::remove_all(OutDir(id), ec);
      fs::create_directories(OutDir(id), ec);
    }
    SetState(id, LiveState::kLive);
    Advance(id);
  });
}

void LiveService::OnData(const std::string& stream, std::span<const uint8_t> bytes) {
  int recording = -1;
  {
    std::lock_guard lock(mu_);
    auto it = streams_.find(stream);
    if (it == streams_.end()) return;
    WriteToWorker(*it->second, bytes);
    recording = it->second->recording;
  }
  metrics_.live_bytes_received.fetch_add(bytes.size(), std::memory_order_relaxed);
  // The ingest thread alone writes and closes the recording: no lock needed for the write.
  if (recording >= 0) {
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = write(recording, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
  }
}

void LiveService::WriteToWorker(Stream& s, std::span<const uint8_t> bytes) {
  auto hold = [&](const uint8_t* data, size_t n) {
    const size_t room =
        options_.max_held_bytes > s.held.size() ? options_.max_held_bytes - s.held.size() : 0;
    const size_t kept = std::min(room, n);
    s.held.append(reinterpret_cast<const char*>(data), kept);
    if (kept < n) {
      s.dropped += static_cast<int64_t>(n - kept);
      metrics_.live_bytes_dropped.fetch_add(n - kept, std::memory_order_relaxed);
    }
  };
  if (s.pipe < 0) return hold(bytes.data(), bytes.size());
  // What waits goes first, in order.
  while (!s.held.empty()) {
    const ssize_t n = write(s.pipe, s.held.data(), s.held.size());
    if (n > 0) {
      s.held.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) CloseFd(s.pipe);  // the worker is gone (EPIPE)
    return hold(bytes.data(), bytes.size());
  }
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = write(s.pipe, bytes.data() + done, bytes.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) CloseFd(s.pipe);
    break;
  }
  if (done < bytes.size()) hold(bytes.data() + done, bytes.size() - done);
}

void LiveService::OnDisconnect(const SrtConnectionInfo& info, const std::string& why) {
  {
    std::lock_guard lock(mu_);
    auto it = streams_.find(info.stream);
    if (it == streams_.end()) return;
    Stream& s = *it->second;
    if (s.connection != info.id) return;  // a replaced publisher: the new one goes on
    s.publishing = false;
    CloseFd(s.recording);
    CloseFd(s.pipe);  // the worker reads to the end, closes its last segment and exits
    s.held.clear();
  }
  NR_LOG(kInfo) << "live: " << info.stream << ": publisher " << info.peer << " gone (" << why
                << ")";
  const std::string id = info.stream;
  Post([this, id] {
    bool dropped = false;
    {
      std::lock_guard lock(mu_);
      auto it = streams_.find(id);
      if (it == streams_.end() || it->second->publishing) return;
      Stream& s = *it->second;
      s.grace_until = Clock::now() + options_.reconnect_grace;
      dropped = !s.end_requested && !s.deleted && s.row.state == LiveState::kLive;
    }
    if (dropped) SetState(id, LiveState::kReconnecting);
    Advance(id);
  });
}

// ---- The worker kind's hooks (supervisor thread) -------------------------------------------

Result<std::vector<std::string>> LiveService::WorkerArgv(const catalog::Job& job,
                                                         worker::EncoderChoice encoder) {
  const nlohmann::json payload = nlohmann::json::parse(job.payload, nullptr, false);
  if (!payload.is_object() || !payload.contains("stream") || !payload["stream"].is_string() ||
      !payload.contains("mode") || !payload["mode"].is_string())
    return InvalidArgument("a live job needs a stream and a mode");
  const std::string id = payload["stream"].get<std::string>();
  const std::string mode = payload["mode"].get<std::string>();
  NR_RETURN_IF_ERROR(catalog::ValidateId(id));
  if (mode != "publish" && mode != "slate") return InvalidArgument("unknown live mode " + mode);
  {
    // Only the stream's current job runs (one worker per stream folder): an old one queued
    // again (a retry from the API) fails for good here.
    std::lock_guard lock(mu_);
    auto it = streams_.find(id);
    if (it == streams_.end() || it->second->job != job.id)
      return InvalidArgument("job " + std::to_string(job.id) +
                             " is not the live stream's current one");
  }
  char segment[32], window[32];
  std::snprintf(segment, sizeof segment, "%g", options_.segment_seconds);
  std::snprintf(window, sizeof window, "%g", options_.window_seconds);
  std::vector<std::string> argv = {options_.worker_binary,
                                   "live",
                                   OutDir(id).string(),
                                   "--continue",
                                   "--open-end",
                                   "--ladder",
                                   options_.ladder,
                                   "--segment-seconds",
                                   segment,
                                   "--window-seconds",
                                   window,
                                   "--progress",
                                   "protocol"};
  if (mode == "slate") argv.push_back("--slate");
  if (options_.low_latency) argv.push_back("--low-latency");
  if (encoder == worker::EncoderChoice::kSoftware) {
    argv.push_back("--encoder");
    argv.push_back("x264");
  }
  return argv;
}

Result<int> LiveService::WorkerInput(const catalog::Job& job) {
  const nlohmann::json payload = nlohmann::json::parse(job.payload, nullptr, false);
  if (!payload.is_object() || payload.value("mode", "") != "publish") return -1;  // /dev/null
  const std::string id = payload.value("stream", "");
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return IoError(std::string("pipe: ") + std::strerror(errno));
  fcntl(fds[1], F_SETFL, O_NONBLOCK);
  fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);  // about 1 s of a 8 Mb/s stream; best effort
  std::lock_guard lock(mu_);
  auto it = streams_.find(id);
  if (it == streams_.end() || !it->second->publishing || it->second->job != job.id) {
    close(fds[1]);  // nobody publishes (or not for this job): an empty input, and it ends
    return fds[0];
  }
  Stream& s = *it->second;
  CloseFd(s.pipe);
  s.pipe = fds[1];
  WriteToWorker(s, {});  // what arrived while no worker read
  return fds[0];
}

void LiveService::OnHeartbeat(const catalog::Job& job, const worker::Heartbeat& heartbeat) {
  if (!heartbeat.live) return;
  std::lock_guard lock(mu_);
  auto j = job_streams_.find(job.id);
  if (j == job_streams_.end()) return;
  auto it = streams_.find(j->second);
  if (it != streams_.end()) it->second->figures = heartbeat.live;
}

void LiveService::OnWorkerLine(const catalog::Job& job, const std::string& line) {
  if (!options_.low_latency || !options_.rings) return;
  Result<PartEvent> part = ParsePartMessage(line);
  if (!part.ok()) {
    if (part.status().code() != ErrorCode::kNotFound)
      NR_LOG(kWarning) << "live: job " << job.id << ": a bad part message ("
                       << part.status().message() << ")";
    return;
  }
  std::string id;
  {
    std::lock_guard lock(mu_);
    auto j = job_streams_.find(job.id);
    if (j == job_streams_.end()) return;
    id = j->second;
  }
  Post([this, id, p = std::move(part).value()] { TakePart(id, p); });
}

namespace {

// The whole regular file at `path` (not a link), up to `max` bytes; nullopt when there is
// none, it is larger, or it cannot be read.
std::optional<std::string> ReadSmallFile(const fs::path& path, size_t max, struct stat* st) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return std::nullopt;
  std::optional<std::string> bytes;
  if (fstat(fd, st) == 0 && S_ISREG(st->st_mode) && st->st_size > 0 &&
      static_cast<uint64_t>(st->st_size) <= max) {
    std::string b(static_cast<size_t>(st->st_size), '\0');
    size_t got = 0;
    while (got < b.size()) {
      const ssize_t n = pread(fd, b.data() + got, b.size() - got, static_cast<off_t>(got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    if (got == b.size()) bytes = std::move(b);
  }
  close(fd);
  return bytes;
}

}  // namespace

void LiveService::TakePart(const std::string& id, const PartEvent& part) {
  const fs::path out = OutDir(id);
  {
    std::lock_guard lock(mu_);
    auto it = streams_.find(id);
    // A late message of a broadcast that has ended would open a ring nobody closes.
    if (it == streams_.end() || it->second->deleted || it->second->row.state == LiveState::kEnded)
      return;
  }
  auto ring = options_.rings->Open(id, options_.ring_options, part.rung);
  if (!ring.ok()) {
    NR_LOG(kWarning) << "live: " << id << ": no ring for rung " << part.rung << ": "
                     << ring.status().message();
    return;
  }
  struct stat st {};
  // The init segment: read again only when the file changed (a new run may write a new one).
  struct stat init_st {};
  if (::stat((out / part.init).c_str(), &init_st) == 0) {
    const std::string identity =
        std::to_string(init_st.st_ino) + "-" + std::to_string(init_st.st_size) + "-" +
        std::to_string(init_st.st_mtim.tv_sec) + "." + std::to_string(init_st.st_mtim.tv_nsec);
    std::string known;
    {
      std::lock_guard lock(mu_);
      auto it = streams_.find(id);
      if (it != streams_.end()) known = it->second->ll_inits[part.rung];
    }
    if (identity != known) {
      std::optional<std::string> init =
          ReadSmallFile(out / part.init, options_.max_part_bytes, &st);
      if (init && (*ring)->SetInit(std::make_shared<const std::string>(std::move(*init))).ok()) {
        std::lock_guard lock(mu_);
        auto it = streams_.find(id);
        if (it != streams_.end()) it->second->ll_inits[part.rung] = identity;
      }
    }
  }
  std::optional<std::string> bytes = ReadSmallFile(out / part.file, options_.max_part_bytes, &st);
  if (!bytes) {
    // Gone already (a window that slid past it), or never there: viewers skip it.
    NR_LOG(kDebug) << "live: " << id << ": part " << part.file << " could not be read";
  } else {
    (void)(*ring)->Push(std::make_shared<const std::string>(std::move(*bytes)), part.independent);
  }
  // The playlist lists it either way: requests waiting for it may go.
  options_.rings->NotePart(id, part.rung, {part.msn, part.part});
}

void LiveService::CloseRings(const std::string& id) {
  {
    std::lock_guard lock(mu_);
    auto it = streams_.find(id);
    if (it != streams_.end()) it->second->ll_inits.clear();
  }
  if (options_.rings) options_.rings->Close(id);
}

void LiveService::OnWorkerEnd(const catalog::Job& job, WorkerEnd end) {
  const int64_t job_id = job.id;
  if (end == WorkerEnd::kEndedOnRequest) {
    // Ended by the service itself (Advance's callback takes it from there), or by someone else:
    // an admin cancelling the job, a lost lease. Then the stream has no worker any more.
    std::lock_guard lock(mu_);
    auto j = job_streams_.find(job_id);
    if (j == job_streams_.end()) return;
    auto it = streams_.find(j->second);
    if (it != streams_.end() && it->second->job == job_id && it->second->ending_job) return;
    end = WorkerEnd::kFailed;
  }
  Post([this, job_id, end] {
    std::string id;
    {
      std::lock_guard lock(mu_);
      auto j = job_streams_.find(job_id);
      if (j == job_streams_.end()) return;
      id = j->second;
      auto it = streams_.find(id);
      if (it == streams_.end() || it->second->job != job_id) return;
      Stream& s = *it->second;
      s.figures.reset();
      if (end == WorkerEnd::kFailed && s.job_mode == "publish" && s.publishing &&
          s.job_connection == s.connection) {
        // The input itself failed (not media live takes, say): not started again for this
        // publisher, which is sent away; it meets a fresh worker when it calls again.
        NR_LOG(kWarning) << "live: " << id
                         << ": the live worker failed on this publisher's stream; disconnecting it";
        s.publish_failed = true;
      }
      // A job being retried runs again (the supervisor restarts it): it stays the stream's.
      if (end == WorkerEnd::kRetrying) {
        NR_LOG(kWarning) << "live: " << id << ": the " << s.job_mode
                         << " worker ended; it is restarted";
      } else {
        s.job = 0;
        job_streams_.erase(job_id);
      }
    }
    bool disconnect = false;
    {
      std::lock_guard lock(mu_);
      auto it = streams_.find(id);
      disconnect = it != streams_.end() && it->second->publish_failed;
    }
    if (disconnect && ingest_) ingest_->Disconnect(id);
    Advance(id);
  });
}

// ---- The service thread ---------------------------------------------------------------------

void LiveService::Post(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    tasks_.push_back(std::move(task));
  }
  wake_.notify_all();
}

void LiveService::Run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (!tasks_.empty()) {
      std::function<void()> task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();
      lock.lock();
      continue;
    }
    // The next grace to run out.
    std::optional<Clock::time_point> next;
    std::vector<std::string> due;
    const Clock::time_point now = Clock::now();
    for (auto& [id, s] : streams_) {
      if (s->row.state != LiveState::kReconnecting || s->end_requested || s->publishing) continue;
      if (s->grace_until <= now) {
        due.push_back(id);
      } else if (!next || s->grace_until < *next) {
        next = s->grace_until;
      }
    }
    if (!due.empty()) {
      for (const std::string& id : due) {
        streams_[id]->end_requested = true;
        NR_LOG(kInfo) << "live: " << id << ": nobody came back within the grace; the stream ends";
      }
      lock.unlock();
      for (const std::string& id : due) Advance(id);
      lock.lock();
      continue;
    }
    if (next)
      wake_.wait_until(lock, *next);
    else
      wake_.wait(lock);
  }
}

// Without mu_ (the catalog write must not hold up the SRT threads). Service thread.
void LiveService::SetState(const std::string& id, LiveState state) {
  {
    std::lock_guard lock(mu_);
    auto it = streams_.find(id);
    if (it == streams_.end() || it->second->row.state == state) return;
  }
  auto changed = catalog_->live_streams().SetState(id, state);
  if (!changed.ok())
    NR_LOG(kWarning) << "live: " << id << ": cannot record state " << ToString(state) << ": "
                     << changed.status().message();
  {
    std::lock_guard lock(mu_);
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    Stream& s = *it->second;
    if (changed.ok()) {
      s.row = *changed;
    } else {
      s.row.state = state;  // memory follows the truth even when the catalog cannot
      s.row.state_since_ms = NowMs();
    }
    PublishState(s);
  }
  CountStates();
}

void LiveService::CountStates() {
  int64_t on_air = 0, reconnecting = 0;
  std::lock_guard lock(mu_);
  for (const auto& [id, t] : streams_) {
    on_air += t->row.state == LiveState::kLive;
    reconnecting += t->row.state == LiveState::kReconnecting;
  }
  metrics_.live_streams_on_air.store(on_air);
  metrics_.live_streams_reconnecting.store(reconnecting);
}

void LiveService::PublishState(const Stream& s) {
  events_.Publish("live.state",
                  {{"id", s.row.id},
                   {"state", ToString(s.row.state)},
                   {"since_ms", s.row.state_since_ms},
                   {"recording_video_id", s.row.recording_video_id.empty()
                                              ? nlohmann::json(nullptr)
                                              : nlohmann::json(s.row.recording_video_id)}},
                  AudienceOf(s.row));
}

// Starts what the stream's state calls for. Service thread; takes mu_ to decide and to record,
// never across a catalog write, a command or a call into the supervisor.
void LiveService::Advance(const std::string& id) {
  enum class Next { kNothing, kStartPublish, kStartSlate, kEndJob, kFinish, kForget };
  Next next = Next::kNothing;
  int64_t job = 0;
  {
    std::lock_guard lock(mu_);
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    Stream& s = *it->second;
    const bool over = s.end_requested || s.deleted;
    std::string wanted;
    if (s.publishing && !s.deleted && !s.publish_failed)
      wanted = "publish";
    else if (!over && s.row.state == LiveState::kReconnecting)
      wanted = "slate";
    if (s.job != 0) {
      if (s.job_mode == wanted || s.ending_job) return;
      // A publish worker whose publisher left reads to the end of its pipe and exits by itself.
      if (s.job_mode == "publish" && !s.publishing && !s.deleted && s.pipe < 0 && !over) return;
      next = Next::kEndJob;
      s.ending_job = true;
      job = s.job;
    } else if (wanted == "publish") {
      next = Next::kStartPublish;
    } else if (wanted == "slate") {
      next = Next::kStartSlate;
    } else if (s.deleted && !s.publishing) {  // a publisher still connected: its leaving comes
      next = Next::kForget;
    } else if (over && !s.deleted && s.row.state != LiveState::kEnded) {
      next = Next::kFinish;
    }
  }
  switch (next) {
    case Next::kNothing:
      return;
    case Next::kStartPublish:
    case Next::kStartSlate:
      StartJob(id, next == Next::kStartPublish ? "publish" : "slate");
      return;
    case Next::kEndJob: {
      (void)catalog_->jobs().Cancel(job, "the live stream changed state");
      auto gone = [this, id, job] {
        Post([this, id, job] {
          {
            std::lock_guard lock(mu_);
            job_streams_.erase(job);
            auto it = streams_.find(id);
            if (it == streams_.end() || it->second->job != job) return;
            it->second->job = 0;
            it->second->ending_job = false;
            it->second->figures.reset();
          }
          Advance(id);
        });
      };
      if (supervisor_)
        supervisor_->RequestEnd(job, gone);
      else
        gone();
      return;
    }
    case Next::kFinish:
      Finish(id);
      return;
    case Next::kForget: {
      CloseRings(id);
      std::error_code ec;
      fs::remove_all(OutDir(id), ec);
      fs::remove_all(RecordingDir(id), ec);
      std::lock_guard lock(mu_);
      streams_.erase(id);
      NR_LOG(kInfo) << "live: " << id << ": deleted";
      return;
    }
  }
}

// Queues the stream's next worker. Service thread, without mu_.
void LiveService::StartJob(const std::string& id, const std::string& mode) {
  catalog::JobSpec spec;
  spec.kind = kJobKindLive;
  spec.max_attempts = kLiveJobAttempts;
  spec.priority = 10;  // before transcodes: a live stream cannot wait
  spec.payload = nlohmann::json{{"stream", id}, {"mode", mode}}.dump();
  auto job = catalog_->jobs().Enqueue(spec);
  if (!job.ok()) {
    // Nothing would start it later: a publisher is sent away to call again (a fresh try); a
    // slate is tried again when the grace runs out, or the stream ends then.
    NR_LOG(kError) << "live: " << id << ": cannot queue its " << mode
                   << " worker: " << job.status().message();
    if (mode == "publish" && ingest_) ingest_->Disconnect(id);
    return;
  }
  {
    std::lock_guard lock(mu_);
    auto it = streams_.find(id);
    if (it != streams_.end()) {
      Stream& s = *it->second;
      s.job = job->id;
      s.job_mode = mode;
      s.job_connection = mode == "publish" ? s.connection : 0;
      s.ending_job = false;
      job_streams_[job->id] = id;
    }
  }
  NR_LOG(kInfo) << "live: " << id << ": " << mode << " worker queued (job " << job->id << ")";
  if (supervisor_) supervisor_->Wake();
}

// EXT-X-ENDLIST, then the recording becomes a video. Service thread, without mu_ (a command to
// run, catalog writes: the SRT threads must not wait for them). The stream has no worker.
void LiveService::Finish(const std::string& id) {
  fs::path broadcast;
  {
    std::lock_guard lock(mu_);
    auto it = streams_.find(id);
    if (it == streams_.end() || it->second->publishing) return;  // someone came back
    Stream& s = *it->second;
    s.end_requested = false;
    broadcast = s.broadcast;
    s.broadcast.clear();  // a publisher that comes now starts the next broadcast
  }
  const fs::path out = OutDir(id);
  if (fs::exists(out / "live-state.json")) {
    const int rc = RunToEnd({options_.worker_binary, "live", out.string(), "--finish"});
    if (rc != 0)
      NR_LOG(kWarning) << "live: " << id << ": `newsreel live --finish` ended with " << rc;
  }
  CloseRings(id);  // the playlists have ended: requests still waiting get them now
  // Only now: a player told "ended" finds EXT-X-ENDLIST in the playlists.
  SetState(id, LiveState::kEnded);
  catalog::LiveStream row;
  {
    std::lock_guard lock(mu_);
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    row = it->second->row;
  }
  const std::string video_id = RecordingToVideo(row, broadcast);
  if (video_id.empty()) return;
  std::lock_guard lock(mu_);
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  it->second->row.recording_video_id = video_id;
  events_.Publish("live.recorded", {{"id", id}, {"video_id", video_id}}, AudienceOf(row));
  PublishState(*it->second);
}

// The broadcast's recording becomes a draft video of the stream's owner: its id, or "" when
// there was nothing recorded (or it could not be kept: logged). Without mu_.
std::string LiveService::RecordingToVideo(const catalog::LiveStream& row,
                                          const fs::path& broadcast) {
  if (broadcast.empty()) return "";
  std::error_code ec;
  uintmax_t bytes = 0;
  for (const auto& e : fs::directory_iterator(broadcast, ec))
    if (e.is_regular_file(ec)) bytes += e.file_size(ec);
  if (bytes == 0) {
    fs::remove_all(broadcast, ec);
    return "";
  }
  catalog::Video video;
  video.id = catalog::NewId();
  video.owner_id = row.owner_id;
  video.visibility = catalog::Visibility::kDraft;
  video.title = row.title.empty() ? "Live " + row.id : row.title;
  video.description = "Recording of live stream " + row.id;
  const fs::path original = options_.data.originals() / video.id;
  fs::create_directories(original, ec);
  fs::rename(broadcast, original / "recording", ec);
  if (ec) {
    NR_LOG(kError) << "live: " << row.id << ": cannot keep the recording " << broadcast.string()
                   << ": " << ec.message();
    return "";
  }
  (void)SyncDirectory(original);
  auto made = RegisterOriginal(*catalog_, video, "recording");
  if (!made.ok()) {
    NR_LOG(kError) << "live: " << row.id
                   << ": the recording did not become a video: " << made.status().message();
    return "";
  }
  auto recorded = catalog_->live_streams().SetRecordingVideo(row.id, made->video.id);
  if (!recorded.ok()) NR_LOG(kWarning) << "live: " << row.id << ": " << recorded.status().message();
  NR_LOG(kInfo) << "live: " << row.id << ": recording (" << bytes << " bytes) is video "
                << made->video.id << " (job " << made->job.id << ")";
  if (supervisor_) supervisor_->Wake();
  return made->video.id;
}

// ---- The API's side ---------------------------------------------------------------------------

void LiveService::Created(const catalog::LiveStream& row) {
  std::lock_guard lock(mu_);
  if (streams_.count(row.id)) return;
  auto s = std::make_unique<Stream>();
  s->row = row;
  by_key_hash_[row.key_hash] = row.id;
  streams_[row.id] = std::move(s);
}

void LiveService::Updated(const catalog::LiveStream& row, bool key_rotated) {
  {
    std::lock_guard lock(mu_);
    auto it = streams_.find(row.id);
    if (it == streams_.end() || it->second->deleted) return;  // deleted meanwhile
    Stream& s = *it->second;
    if (s.row.key_hash != row.key_hash) {
      by_key_hash_.erase(s.row.key_hash);
      by_key_hash_[row.key_hash] = row.id;
    }
    // The service owns the state: keep its own.
    const LiveState state = s.row.state;
    const int64_t since = s.row.state_since_ms;
    s.row = row;
    s.row.state = state;
    s.row.state_since_ms = since;
  }
  if (key_rotated && ingest_) ingest_->Disconnect(row.id);
}

void LiveService::Deleted(const std::string& id) {
  {
    std::lock_guard lock(mu_);
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    it->second->deleted = true;
    by_key_hash_.erase(it->second->row.key_hash);
  }
  // At once: Access() no longer knows the stream, so until the worker is reaped its rings would
  // be judged as a producer's outside the service (anyone may watch) and still hold its media.
  CloseRings(id);
  if (ingest_) {
    ingest_->Disconnect(id);
    ingest_->DisconnectPullers(id);
  }
  Post([this, id] { Advance(id); });
}

void LiveService::End(const std::string& id) {
  {
    std::lock_guard lock(mu_);
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    it->second->end_requested = true;
  }
  if (ingest_) ingest_->Disconnect(id);
  Post([this, id] { Advance(id); });
}

std::optional<LiveStreamFigures> LiveService::Figures(const std::string& id) const {
  std::optional<SrtConnectionStats> ingest;
  if (ingest_) {
    for (SrtConnectionStats& c : ingest_->Stats())
      if (c.info.stream == id) ingest = std::move(c);
  }
  const int pullers = ingest_ ? ingest_->PullerCount(id) : 0;
  std::lock_guard lock(mu_);
  auto it = streams_.find(id);
  if (it == streams_.end()) return std::nullopt;
  const Stream& s = *it->second;
  LiveStreamFigures f;
  f.pullers = pullers;
  f.state = s.row.state;
  f.state_since_ms = s.row.state_since_ms;
  if (s.publishing) f.ingest = std::move(ingest);
  f.worker = s.figures;
  const Clock::time_point since = Clock::now() - kViewerWindow;
  for (const auto& [address, seen] : s.viewers) f.viewers += seen >= since ? 1 : 0;
  f.dropped_bytes = s.dropped;
  return f;
}

std::optional<LiveAccess> LiveService::Access(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = streams_.find(id);
  if (it == streams_.end() || it->second->deleted) return std::nullopt;
  return LiveAccess{it->second->row.owner_id, it->second->row.visibility};
}

void LiveService::NoteViewer(const std::string& id, const std::string& address) {
  std::lock_guard lock(mu_);
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  Stream& s = *it->second;
  const Clock::time_point now = Clock::now();
  if (s.viewers.size() >= kMaxViewerEntries && !s.viewers.count(address)) return;
  s.viewers[address] = now;
  // Forget those long gone once the map has doubled since the last time: amortised O(1).
  if (s.viewers.size() > 2 * std::max<size_t>(s.viewers_pruned_at, 32)) {
    for (auto v = s.viewers.begin(); v != s.viewers.end();)
      v = now - v->second > kViewerWindow ? s.viewers.erase(v) : std::next(v);
    s.viewers_pruned_at = s.viewers.size();
  }
}

}  // namespace newsreel::streaming
