#include "streaming/internal/supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "catalog/catalog.h"
#include "common/log.h"
#include "streaming/internal/api.h"
#include "streaming/internal/worker_sandbox.h"

extern char** environ;

namespace newsreel::streaming {

using catalog::Job;
using catalog::JobState;
using worker::EncoderChoice;
using worker::FailureCode;
using Clock = std::chrono::steady_clock;

struct JobSupervisor::Worker {
  const WorkerKind* kind = nullptr;  // points into kinds_
  EventAudience audience;            // of its events: who may see the job's video
  Job job;
  std::string worker_id;
  EncoderChoice encoder = EncoderChoice::kAuto;
  int pid = -1;
  std::filesystem::path dir;  // its working directory (and TMPDIR), removed once it is reaped
  int out_fd = -1;            // worker stdout (the protocol)
  int err_fd = -1;            // worker stderr (its tail explains a death without a failure line)
  std::string out_buf, err_tail;
  Clock::time_point started, last_progress, last_message, last_lease;
  bool playable = false;  // the worker said its output is playable ("video.playable" sent)
  double speed = 0;
  double cpu_seconds = 0;                    // user + system, once it is reaped
  std::optional<worker::WorkResult> result;  // the worker's result line
  std::optional<worker::Failure> failure;    // the worker's failure line
  std::optional<worker::Failure> ended;      // we ended it: why, for the job's error
  bool ended_by_request = false;             // cancelled, deleted or shut down: touch nothing
  bool done_line = false;
  WorkerEnd end = WorkerEnd::kRetrying;          // set by Reap: what became of the job
  std::vector<std::function<void()>> on_reaped;  // RequestEnd callbacks
};

namespace {

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

std::string SignalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

// "4 s", "1.5 s".
std::string Seconds(std::chrono::milliseconds d) {
  std::ostringstream s;
  s << static_cast<double>(d.count()) / 1000.0 << " s";
  return s.str();
}

int64_t ResidentMb(int pid) {
  std::ifstream statm("/proc/" + std::to_string(pid) + "/statm");
  long pages_total = 0, pages_resident = 0;
  if (!(statm >> pages_total >> pages_resident)) return 0;
  return static_cast<int64_t>(pages_resident) * sysconf(_SC_PAGESIZE) / (1024 * 1024);
}

// The last line a dead worker wrote on stderr, without the "newsreel transcode: " prefix.
std::string LastLine(const std::string& text) {
  size_t end = text.find_last_not_of("\r\n ");
  if (end == std::string::npos) return "";
  size_t start = text.find_last_of('\n', end);
  start = start == std::string::npos ? 0 : start + 1;
  std::string line = text.substr(start, end - start + 1);
  if (size_t colon = line.find(": "); line.rfind("newsreel ", 0) == 0 && colon != std::string::npos)
    line = line.substr(colon + 2);
  return line;
}

catalog::VideoMedia ToVideoMedia(const worker::WorkResult& r) {
  catalog::VideoMedia media;
  for (const worker::ResultRung& g : r.rungs) {
    catalog::Rendition rend;
    rend.name = g.name;
    rend.width = g.width;
    rend.height = g.height;
    rend.bandwidth = g.bandwidth;
    rend.average_bandwidth = g.average_bandwidth;
    rend.codecs = g.codecs;
    rend.frame_rate = g.frame_rate;
    rend.playlist_path = g.playlist;
    rend.encoder = r.encoder_element.empty() ? r.encoder : r.encoder_element;
    media.renditions.push_back(rend);
  }
  if (r.poster)
    media.assets.push_back(
        {catalog::AssetKind::kPoster, r.poster->path, r.poster->width, r.poster->height});
  if (r.storyboard) {
    media.assets.push_back({catalog::AssetKind::kStoryboard, r.storyboard->image,
                            r.storyboard->tile_width, r.storyboard->tile_height});
    media.assets.push_back({catalog::AssetKind::kStoryboardVtt, r.storyboard->vtt, 0, 0});
  }
  return media;
}

// The environment of a worker: ours, with the protocol version we speak, and its own folder as
// TMPDIR (temporary files of libraries go there, and are removed with it).
std::vector<std::string> WorkerEnvironment(const std::filesystem::path& dir) {
  const std::string key = std::string(worker::kWorkerProtocolEnv) + "=";
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e)
    if (std::strncmp(*e, key.c_str(), key.size()) != 0 && std::strncmp(*e, "TMPDIR=", 7) != 0)
      env.emplace_back(*e);
  env.push_back(key + std::to_string(worker::kWorkerProtocolVersion));
  env.push_back("TMPDIR=" + dir.string());
  return env;
}

double CpuSeconds(const rusage& usage) {
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// Writes `message` on stderr (the worker's pipe) and ends the child. Async-signal-safe.
[[noreturn]] void RefuseToStart(const char* message) {
  [[maybe_unused]] ssize_t n = write(STDERR_FILENO, message, std::strlen(message));
  _exit(126);
}

// Removes `dir` and everything in it; logs what it cannot.
void RemoveWorkerDir(const std::filesystem::path& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) NR_LOG(kWarning) << "supervisor: cannot remove " << dir.string() << ": " << ec.message();
}

// `text` with every mention of `folder` (as given, and as the system resolves it) and the
// slash after it taken out.
std::string WithoutFolder(std::string text, const std::filesystem::path& folder) {
  std::error_code ec;
  const std::filesystem::path real = std::filesystem::weakly_canonical(folder, ec);
  for (const std::filesystem::path& f : {folder, ec ? folder : real}) {
    std::string prefix = f.string();
    if (prefix.empty() || prefix == "/") continue;
    if (prefix.back() != '/') prefix += '/';
    for (size_t at = text.find(prefix); at != std::string::npos; at = text.find(prefix, at))
      text.erase(at, prefix.size());
  }
  return text;
}

}  // namespace

// Who may hear of events about `job`: those who may see its video (api.h AudienceOf); staff
// only when it has none.
EventAudience AudienceOfJob(catalog::Catalog& catalog, const Job& job) {
  if (job.video_id.empty()) return {};
  auto video = catalog.videos().Get(job.video_id);
  return video.ok() ? AudienceOf(*video) : EventAudience{};
}

WorkerKind TranscodeWorkerKind(const SupervisorOptions& options) {
  WorkerKind kind;
  kind.name = std::string(catalog::kJobKindTranscode);
  kind.concurrency = options.concurrency;
  kind.health = HealthRule::kShort;
  kind.stall_timeout = options.stall_timeout;
  kind.memory_limit_mb = options.memory_limit_mb;
  kind.cpu_limit_seconds = options.cpu_limit_seconds;
  kind.nice = options.nice;
  kind.retry.backoff_ms = options.retry_backoff_ms;
  kind.argv = [data = options.data, binary = options.worker_binary](
                  const Job& job, EncoderChoice encoder) -> Result<std::vector<std::string>> {
    nlohmann::json payload = nlohmann::json::parse(job.payload, nullptr, false);
    std::string input;
    if (payload.is_object() && payload.contains("input") && payload["input"].is_string())
      input = payload["input"].get<std::string>();
    if (input.empty() || job.video_id.empty())
      return InvalidArgument("the job names no input file");
    std::vector<std::string> args = {binary, "transcode", (data.root / input).string(),
                                     (data.media() / job.video_id).string(), "--progress",
                                     "protocol", "--force",
                                     // Playable while it runs (docs/transcoding.md); a retry
                                     // over a published part replaces it atomically.
                                     "--publish-progressively"};
    if (encoder == EncoderChoice::kSoftware) {
      args.push_back("--encoder");
      args.push_back("x264");
    }
    return args;
  };
  return kind;
}

JobSupervisor::JobSupervisor(SupervisorOptions options, EventBus& events, Metrics& metrics)
    : options_(std::move(options)),
      kinds_(options_.kinds.empty() ? std::vector<WorkerKind>{TranscodeWorkerKind(options_)}
                                    : options_.kinds),
      events_(events),
      metrics_(metrics) {}

JobSupervisor::~JobSupervisor() {
  Stop();
  CloseFd(wake_pipe_[0]);
  CloseFd(wake_pipe_[1]);
}

Status JobSupervisor::Start() {
  catalog::CatalogOptions catalog_options;
  catalog_options.jobs.retry_backoff_ms = options_.retry_backoff_ms;
  auto cat = catalog::Catalog::Open(options_.data.catalog().string(), catalog_options);
  if (!cat.ok()) return cat.status().WithContext("supervisor");
  catalog_ = std::move(cat).value();
  auto reclaimed = catalog_->jobs().ReclaimExpired();
  if (reclaimed.ok() && *reclaimed > 0) {
    NR_LOG(kInfo) << "supervisor: requeued " << *reclaimed << " job(s) of a previous server";
  }
  if (pipe2(wake_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) return IoError("pipe2 failed");
  NR_RETURN_IF_ERROR(PrepareWorkerDirs());
  bool isolated = false, forced = false;
  for (const WorkerKind& kind : kinds_) {
    isolated |= kind.isolate_network;
    forced |= kind.isolate_network && kind.force_seccomp;
  }
  if (isolated) {
    const NetworkIsolation got = ProbeNetworkIsolation(forced);
    if (got == NetworkIsolation::kNone) {
      NR_LOG(kError) << "supervisor: workers cannot be kept off the network here (no network "
                        "namespace, no seccomp filter): every job will fail until that is fixed";
    } else {
      NR_LOG(kInfo) << "supervisor: workers have no network: " << NetworkIsolationName(got)
                    << (got == NetworkIsolation::kSeccomp && !forced
                            ? " (a network namespace is not permitted here)"
                            : "");
    }
  }
  {
    std::lock_guard lock(mu_);
    running_ = true;
  }
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

// The folder of the workers' own folders, and what workers of a server that is gone (it died
// without removing them) left there: folders named after a worker id whose pid is not running.
Status JobSupervisor::PrepareWorkerDirs() {
  workers_dir_ = options_.data.tmp() / "workers";
  std::error_code ec;
  std::filesystem::create_directories(workers_dir_, ec);
  if (ec) return IoError("cannot create " + workers_dir_.string() + ": " + ec.message());
  const std::string prefix = options_.worker_id_prefix + "-";
  for (const auto& entry : std::filesystem::directory_iterator(workers_dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
    if (pid <= 0 || pid == getpid() || kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH)
      continue;
    RemoveWorkerDir(entry.path());
  }
  return Status::Ok();
}

void JobSupervisor::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  Wake();
  if (thread_.joinable()) thread_.join();
}

void JobSupervisor::Wake() {
  if (wake_pipe_[1] >= 0) {
    char c = 1;
    [[maybe_unused]] ssize_t n = write(wake_pipe_[1], &c, 1);
  }
}

void JobSupervisor::RequestEnd(int64_t job_id, std::function<void()> on_reaped) {
  {
    std::lock_guard lock(mu_);
    if (running_) {
      auto& callbacks = end_requests_[job_id];
      if (on_reaped) callbacks.push_back(std::move(on_reaped));
      on_reaped = nullptr;
    }
  }
  if (on_reaped) {
    on_reaped();  // no supervisor thread: no worker to end
    return;
  }
  Wake();
}

void JobSupervisor::EndJob(int64_t job_id, std::chrono::milliseconds timeout) {
  {
    std::lock_guard lock(mu_);
    if (!pids_.count(job_id)) return;
  }
  auto gone = std::make_shared<bool>(false);  // guarded by mu_; may outlive this call
  RequestEnd(job_id, [this, gone] {
    std::lock_guard lock(mu_);
    *gone = true;
    reaped_.notify_all();
  });
  std::unique_lock lock(mu_);
  reaped_.wait_for(lock, timeout, [&] { return *gone; });
}

std::optional<int> JobSupervisor::WorkerPid(int64_t job_id) const {
  std::lock_guard lock(mu_);
  auto it = pids_.find(job_id);
  if (it == pids_.end()) return std::nullopt;
  return it->second;
}

void JobSupervisor::Run() {
  auto last_claim = Clock::now() - options_.poll_interval;
  std::optional<Clock::time_point> stop_deadline;
  while (true) {
    bool stopping;
    std::map<int64_t, std::vector<std::function<void()>>> end_requests;
    {
      std::lock_guard lock(mu_);
      stopping = stopping_;
      end_requests.swap(end_requests_);
    }
    for (auto& [job_id, callbacks] : end_requests) {
      auto it = workers_.find(job_id);
      if (it == workers_.end()) {
        for (auto& done : callbacks) done();  // nothing runs it here
        continue;
      }
      Worker& w = *it->second;
      for (auto& done : callbacks) w.on_reaped.push_back(std::move(done));
      EndOnRequest(w, "the job was cancelled");
    }
    if (stopping && !stop_deadline) {
      stop_deadline = Clock::now() + options_.shutdown_grace;
      if (!workers_.empty()) {
        NR_LOG(kInfo) << "supervisor: waiting up to " << options_.shutdown_grace.count()
                      << " s for " << workers_.size() << " running job(s)";
      }
    }
    if (stopping && workers_.empty()) break;
    if (stopping && Clock::now() >= *stop_deadline) {
      ReleaseAll("the server shut down before the job finished; it will run again");
      break;
    }
    if (!stopping && Clock::now() - last_claim >= options_.poll_interval) {
      last_claim = Clock::now();
      ClaimMore();
    }

    std::vector<pollfd> fds;
    std::vector<std::pair<Worker*, bool>> owners;
    fds.push_back({wake_pipe_[0], POLLIN, 0});
    owners.push_back({nullptr, false});
    for (auto& [id, w] : workers_) {
      if (w->out_fd >= 0) {
        fds.push_back({w->out_fd, POLLIN, 0});
        owners.push_back({w.get(), true});
      }
      if (w->err_fd >= 0) {
        fds.push_back({w->err_fd, POLLIN, 0});
        owners.push_back({w.get(), false});
      }
    }
    // Health is judged at least this often; a worker's exit shows as EOF on its pipes.
    auto poll_ms = std::chrono::milliseconds(200);
    for (const WorkerKind& k : kinds_)
      poll_ms = std::min({poll_ms, k.stall_timeout / 4, k.heartbeat_timeout / 4});
    poll(fds.data(), fds.size(), static_cast<int>(std::max<int64_t>(poll_ms.count(), 10)));
    if (fds[0].revents) {
      char buf[64];
      while (read(wake_pipe_[0], buf, sizeof buf) > 0) {
      }
      last_claim = Clock::now() - options_.poll_interval;  // a wake-up means: look at the queue
    }
    for (size_t i = 1; i < fds.size(); ++i)
      if (fds[i].revents) PumpOutput(*owners[i].first, fds[i].fd, owners[i].second);

    for (auto it = workers_.begin(); it != workers_.end();) {
      Worker& w = *it->second;
      int status = 0;
      rusage usage{};
      pid_t r = wait4(w.pid, &status, WNOHANG, &usage);
      if (r == w.pid) {
        // Drain what is left in the pipes before judging the exit.
        while (w.out_fd >= 0 && PumpOutput(w, w.out_fd, true)) {
        }
        while (w.err_fd >= 0 && PumpOutput(w, w.err_fd, false)) {
        }
        Reap(w, status, CpuSeconds(usage));
        if (w.kind->on_end) w.kind->on_end(w.job, w.end);
        {
          std::lock_guard lock(mu_);
          pids_.erase(it->first);
        }
        metrics_.workers_running.fetch_sub(1);
        std::vector<std::function<void()>> callbacks = std::move(w.on_reaped);
        it = workers_.erase(it);
        for (auto& done : callbacks) done();
        continue;
      }
      CheckHealth(w);
      ++it;
    }
    int64_t speed = 0;
    for (auto& [id, w] : workers_) speed += static_cast<int64_t>(w->speed * 1000);
    metrics_.transcode_speed_milli.store(speed);
  }
  metrics_.transcode_speed_milli.store(0);
  // From now on RequestEnd calls back at once; answer those that came in meanwhile.
  std::map<int64_t, std::vector<std::function<void()>>> late;
  {
    std::lock_guard lock(mu_);
    running_ = false;
    late.swap(end_requests_);
  }
  for (auto& [id, callbacks] : late)
    for (auto& done : callbacks) done();
  catalog_.reset();
}

void JobSupervisor::ClaimMore() {
  for (const WorkerKind& kind : kinds_) {
    if (mismatched_kinds_.count(kind.name)) continue;  // see RecordFailure
    auto running = [&] {
      int n = 0;
      for (auto& [id, w] : workers_) n += w->kind == &kind;
      return n;
    };
    while (running() < kind.concurrency) {
      const std::string worker_id = options_.worker_id_prefix + "-" + std::to_string(getpid()) +
                                    "-" + std::to_string(++spawned_);
      auto claimed = catalog_->jobs().Claim(worker_id, {kind.name});
      if (!claimed.ok()) {
        NR_LOG(kWarning) << "supervisor: claim failed: " << claimed.status().ToString();
        return;
      }
      if (!claimed->has_value()) break;
      Job job = **claimed;
      job.worker_id = worker_id;
      Spawn(kind, job);
    }
  }
}

void JobSupervisor::Spawn(const WorkerKind& kind, const Job& job) {
  auto fail = [&](const std::string& reason, bool retryable) {
    NR_LOG(kWarning) << "supervisor: job " << job.id << ": " << reason;
    auto failed = catalog_->jobs().Fail(job.id, job.worker_id, reason, retryable, std::nullopt,
                                        "not_started");
    if (failed.ok() && failed->state == JobState::kFailed && !job.video_id.empty())
      events_.Publish(
          "video.failed",
          {{"id", job.video_id}, {"job_id", job.id}, {"reason", reason}, {"code", "not_started"}},
          AudienceOfJob(*catalog_, job));
    // No worker ran, but its kind hears what became of the job all the same.
    if (kind.on_end)
      kind.on_end(job, failed.ok() && failed->state != JobState::kFailed ? WorkerEnd::kRetrying
                                                                         : WorkerEnd::kFailed);
  };
  // A job whose earlier attempt was sent to the software encoder stays there (RecordFailure).
  const EncoderChoice encoder =
      job.encoder == "x264" ? EncoderChoice::kSoftware : EncoderChoice::kAuto;
  const bool software = encoder == EncoderChoice::kSoftware;
  auto built = kind.argv ? kind.argv(job, encoder)
                         : Result<std::vector<std::string>>(
                               Internal("worker kind " + kind.name + " has no command"));
  if (!built.ok()) return fail(built.status().message(), false);
  std::vector<std::string> args = std::move(built).value();
  if (args.empty()) return fail("worker kind " + kind.name + " has no command", false);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // A fresh, empty folder of its own: its working directory and TMPDIR, removed once it ends.
  std::string dir = (workers_dir_ / (job.worker_id + "-XXXXXX")).string();
  if (mkdtemp(dir.data()) == nullptr)
    return fail("cannot create a folder for the worker: " + std::string(std::strerror(errno)),
                true);
  std::vector<std::string> env = WorkerEnvironment(dir);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  int input_fd = -1;
  if (kind.input) {
    Result<int> input = kind.input(job);
    if (!input.ok()) {
      RemoveWorkerDir(dir);
      return fail("no input for the worker: " + input.status().message(), true);
    }
    input_fd = *input;
  }
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    if (input_fd >= 0) close(input_fd);
    RemoveWorkerDir(dir);
    return fail("cannot create a pipe", true);
  }
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    if (input_fd >= 0) close(input_fd);
    RemoveWorkerDir(dir);
    return fail("cannot create a pipe", true);
  }
  const pid_t parent = getpid();
  const int nice = std::clamp(kind.nice, 0, 19);
  const int64_t cpu_limit = kind.cpu_limit_seconds;
  const bool isolate_network = kind.isolate_network;
  const bool force_seccomp = kind.force_seccomp;
  pid_t pid = fork();
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec (worker_sandbox.h).
    setpgid(0, 0);
    setpriority(PRIO_PROCESS, 0, nice);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    if (input_fd >= 0) {
      dup2(input_fd, STDIN_FILENO);  // clears close-on-exec on the copy
    } else {
      int devnull = open("/dev/null", O_RDONLY);
      if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    }
    close_range(3, ~0U, 0);  // no listening socket or catalog handle leaks into the worker
    // From here a refusal reaches the supervisor as the worker's last words on stderr.
    if (chdir(dir.c_str()) != 0) RefuseToStart("newsreel worker: cannot enter its own folder\n");
    if (cpu_limit > 0 && LimitCpu(cpu_limit) != 0)
      RefuseToStart("newsreel worker: cannot set its CPU-time limit\n");
    // No network: a network namespace of its own (no interface but a loopback that is down),
    // or where that is not permitted (not root) a seccomp filter that refuses every socket but
    // AF_UNIX. Media work needs none, and a hostile file that gets a demuxer to fetch something
    // reaches nothing. A worker that can be given neither does not start.
    if (isolate_network && IsolateNetwork(force_seccomp) == NetworkIsolation::kNone)
      RefuseToStart(
          "newsreel worker: cannot be kept off the network (no network namespace, no seccomp "
          "filter)\n");
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (input_fd >= 0) close(input_fd);
  if (pid < 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    RemoveWorkerDir(dir);
    return fail(std::string("cannot start a worker: ") + std::strerror(errno), true);
  }
  setpgid(pid, pid);  // also from the parent, so that the group exists before we signal it
  fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
  fcntl(err_pipe[0], F_SETFL, O_NONBLOCK);
  auto w = std::make_unique<Worker>();
  w->kind = &kind;
  w->audience = AudienceOfJob(*catalog_, job);
  w->job = job;
  w->worker_id = job.worker_id;
  w->encoder = encoder;
  w->pid = pid;
  w->dir = dir;
  w->out_fd = out_pipe[0];
  w->err_fd = err_pipe[0];
  w->started = w->last_progress = w->last_message = w->last_lease = Clock::now();
  NR_LOG(kInfo) << "supervisor: " << kind.name << " job " << job.id << " (video " << job.video_id
                << ", attempt " << job.attempts << "/" << job.max_attempts
                << ") runs in worker pid " << pid << (software ? " with x264" : "");
  metrics_.worker_starts.fetch_add(1);
  metrics_.workers_running.fetch_add(1);
  {
    std::lock_guard lock(mu_);
    pids_[job.id] = pid;
  }
  catalog::JobUpdate update;
  if (software) update.encoder = "x264";
  (void)catalog_->jobs().Heartbeat(job.id, job.worker_id, update);
  events_.Publish("job.started",
                  {{"job_id", job.id},
                   {"video_id", job.video_id},
                   {"kind", kind.name},
                   {"worker_pid", pid},
                   {"encoder", software ? "x264" : "auto"},
                   {"attempt", job.attempts},
                   {"max_attempts", job.max_attempts}},
                  w->audience);
  workers_[job.id] = std::move(w);
}

bool JobSupervisor::PumpOutput(Worker& w, int fd, bool is_stdout) {
  char buf[8192];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return false;
  if (n <= 0) {
    CloseFd(is_stdout ? w.out_fd : w.err_fd);
    return false;
  }
  if (!is_stdout) {
    w.err_tail.append(buf, static_cast<size_t>(n));
    if (w.err_tail.size() > 8192) w.err_tail.erase(0, w.err_tail.size() - 4096);
    return true;
  }
  w.out_buf.append(buf, static_cast<size_t>(n));
  size_t nl;
  while ((nl = w.out_buf.find('\n')) != std::string::npos) {
    std::string line = w.out_buf.substr(0, nl);
    w.out_buf.erase(0, nl + 1);
    HandleLine(w, line);
  }
  if (w.out_buf.size() > 1 << 20) w.out_buf.clear();  // a runaway line is not the protocol
  return true;
}

void JobSupervisor::HandleLine(Worker& w, const std::string& line) {
  if (w.ended) return;  // being ended: its last words change nothing
  auto decoded = worker::DecodeWorkerLine(line);
  if (!decoded.ok()) {
    if (decoded.status().code() == ErrorCode::kFailedPrecondition) {
      KillWorker(w, FailureCode::kProtocolMismatch, decoded.status().message());
    } else if (w.kind->on_other_line) {
      w.kind->on_other_line(w.job, line);
    } else {
      NR_LOG(kDebug) << "supervisor: job " << w.job.id << ": not a protocol line ("
                     << decoded.status().message() << "): " << line.substr(0, 200);
    }
    return;
  }
  w.last_message = Clock::now();
  worker::WorkerMessage& message = *decoded;
  if (auto* hello = std::get_if<worker::Hello>(&message)) {
    if (hello->kind != w.kind->name)
      NR_LOG(kWarning) << "supervisor: job " << w.job.id << ": a " << w.kind->name
                       << " job runs a worker of kind '" << hello->kind << "'";
  } else if (auto* progress = std::get_if<worker::Progress>(&message)) {
    w.last_progress = w.last_message;
    HandleProgress(w, *progress);
  } else if (auto* result = std::get_if<worker::WorkResult>(&message)) {
    w.result = std::move(*result);
  } else if (auto* failure = std::get_if<worker::Failure>(&message)) {
    w.failure = std::move(*failure);
  } else if (auto* heartbeat = std::get_if<worker::Heartbeat>(&message)) {
    if (w.kind->on_heartbeat) w.kind->on_heartbeat(w.job, *heartbeat);
  } else if (w.kind->on_other_line) {
    w.kind->on_other_line(w.job, line);  // a message this supervisor has no use for
  }
}

void JobSupervisor::HandleProgress(Worker& w, const worker::Progress& p) {
  w.speed = p.speed;
  if (p.phase == "done") w.done_line = true;
  if (p.playable && !w.playable && !w.job.video_id.empty()) {
    // The output folder now holds a playable part: the API offers playback from now on
    // (api.cpp, HasPublishedMedia) and the pages that wait for the video start playing.
    w.playable = true;
    NR_LOG(kInfo) << "supervisor: video " << w.job.video_id << " is playable while job " << w.job.id
                  << " runs";
    events_.Publish("video.playable",
                    {{"id", w.job.video_id},
                     {"job_id", w.job.id},
                     {"status", "processing"},
                     {"master_playlist", "/media/" + w.job.video_id + "/master.m3u8"}},
                    AudienceOfJob(*catalog_, w.job));  // as of now: it may have been published
  }
  catalog::JobProgress progress;
  progress.percent = p.percent;
  progress.fps = p.fps;
  if (p.eta_seconds) progress.eta_ms = static_cast<int64_t>(*p.eta_seconds * 1000);
  if (Clock::now() - w.last_lease >= std::chrono::seconds(1) || w.done_line) {
    catalog::JobUpdate update;
    update.progress = progress;
    RenewLease(w, update);
  }
  events_.PublishProgress(
      w.job.id,
      {{"job_id", w.job.id},
       {"video_id", w.job.video_id},
       {"phase", p.phase},
       {"percent", p.percent},
       {"fps", p.fps},
       {"speed", p.speed},
       {"eta_seconds", p.eta_seconds ? nlohmann::json(*p.eta_seconds) : nlohmann::json(nullptr)}},
      w.done_line, w.audience);
}

void JobSupervisor::RenewLease(Worker& w, const catalog::JobUpdate& update) {
  w.last_lease = Clock::now();
  Status hb = catalog_->jobs().Heartbeat(w.job.id, w.worker_id, update);
  if (hb.code() == ErrorCode::kCancelled) {
    EndOnRequest(w, "the job was cancelled");
  } else if (hb.code() == ErrorCode::kFailedPrecondition || hb.code() == ErrorCode::kNotFound) {
    EndOnRequest(w, "the job is no longer ours: " + hb.message());
  }
}

void JobSupervisor::CheckHealth(Worker& w) {
  if (w.ended || w.ended_by_request) return;  // already being ended
  const WorkerKind& kind = *w.kind;
  auto now = Clock::now();
  if (kind.health == HealthRule::kShort && now - w.last_progress > kind.stall_timeout) {
    metrics_.worker_timeouts.fetch_add(1);
    KillWorker(w, FailureCode::kTimedOut,
               "the worker stopped reporting progress for " + Seconds(kind.stall_timeout) +
                   " and was ended");
    return;
  }
  if (kind.health == HealthRule::kLongLived && now - w.last_message > kind.heartbeat_timeout) {
    metrics_.worker_timeouts.fetch_add(1);
    KillWorker(
        w, FailureCode::kTimedOut,
        "the worker sent no heartbeat for " + Seconds(kind.heartbeat_timeout) + " and was ended");
    return;
  }
  int64_t rss = ResidentMb(w.pid);
  if (rss > kind.memory_limit_mb) {
    metrics_.worker_memory_kills.fetch_add(1);
    KillWorker(w, FailureCode::kCrashed,
               "the worker used " + std::to_string(rss) + " MB of memory, over the limit of " +
                   std::to_string(kind.memory_limit_mb) + " MB, and was ended");
    return;
  }
  // Keep the lease alive while a worker is healthy but quiet between progress lines.
  if (now - w.last_lease >= options_.lease_renewal) RenewLease(w, {});
}

void JobSupervisor::KillWorker(Worker& w, FailureCode code, const std::string& reason) {
  if (!w.ended && !w.ended_by_request) {
    w.ended = worker::Failure{code, reason};
    NR_LOG(kWarning) << "supervisor: job " << w.job.id << " worker pid " << w.pid << ": " << reason;
  }
  kill(-w.pid, SIGKILL);
  kill(w.pid, SIGKILL);
}

void JobSupervisor::EndOnRequest(Worker& w, const std::string& reason) {
  if (!w.ended_by_request)
    NR_LOG(kInfo) << "supervisor: job " << w.job.id << " worker pid " << w.pid << ": " << reason;
  w.ended_by_request = true;
  kill(-w.pid, SIGKILL);
  kill(w.pid, SIGKILL);
}

void JobSupervisor::Reap(Worker& w, int wait_status, double cpu_seconds) {
  CloseFd(w.out_fd);
  CloseFd(w.err_fd);
  // The worker may have left helpers in its group.
  kill(-w.pid, SIGKILL);
  RemoveWorkerDir(w.dir);
  w.cpu_seconds = cpu_seconds;
  if (w.ended_by_request) {
    NR_LOG(kInfo) << "supervisor: job " << w.job.id << " ended on request";
    w.end = WorkerEnd::kEndedOnRequest;
    return;
  }
  if (w.ended) return RecordFailure(w, w.ended->code, w.ended->message);
  if (EndedByCpuLimit(wait_status, cpu_seconds, w.kind->cpu_limit_seconds)) {
    // The same input would use as much again: not retried.
    metrics_.worker_cpu_kills.fetch_add(1);
    NR_LOG(kWarning) << "supervisor: job " << w.job.id << " worker pid " << w.pid
                     << ": ended by the kernel at its CPU-time limit ("
                     << SignalName(WTERMSIG(wait_status)) << " after " << cpu_seconds
                     << " s of CPU)";
    return RecordFailure(w, FailureCode::kBadInput,
                         "the worker used more CPU time than allowed (" +
                             std::to_string(w.kind->cpu_limit_seconds) +
                             " s) and was ended: the video may be too long for this server");
  }
  if (w.failure) return RecordFailure(w, w.failure->code, w.failure->message);
  const bool clean_exit = WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0;
  if (clean_exit && w.result) return RecordResult(w, *w.result);
  // Died without saying why: a crash, whatever the exit looked like.
  metrics_.worker_crashes.fetch_add(1);
  const std::string last = LastLine(w.err_tail);
  std::string reason;
  if (WIFSIGNALED(wait_status)) {
    reason = "the worker crashed (" + SignalName(WTERMSIG(wait_status)) + ")";
  } else if (!clean_exit) {
    reason = last.empty()
                 ? "the worker exited with status " + std::to_string(WEXITSTATUS(wait_status))
                 : last;
  } else {
    reason = w.kind->health == HealthRule::kLongLived ? "the worker ended unexpectedly"
                                                      : "the worker exited without a result";
    if (!last.empty()) reason += ": " + last;
  }
  RecordFailure(w, FailureCode::kCrashed, reason);
}

void JobSupervisor::RecordFailure(Worker& w, FailureCode code, const std::string& full_reason) {
  const Job& job = w.job;
  // The reason is shown to reporters and API clients: the server's own folders stay out of it
  // (".../data/originals/ID/source.mp4" reads "originals/ID/source.mp4"); the log keeps it whole.
  const std::string reason = WithoutFolder(full_reason, options_.data.root);
  if (reason != full_reason)
    NR_LOG(kInfo) << "supervisor: job " << job.id << " failed: " << full_reason;
  if (code == FailureCode::kProtocolMismatch) {
    // The worker binary speaks another protocol than this server: it was replaced on disk
    // (an upgrade) under a running server. That is no fault of the job: it goes back to the
    // queue without spending an attempt, and this kind claims nothing more until the server
    // restarts (a server of the new version will run it).
    mismatched_kinds_.insert(w.kind->name);
    NR_LOG(kError) << "supervisor: " << reason << "; job " << job.id << " requeued, and no more "
                   << w.kind->name << " jobs run here: restart the server";
    auto released = catalog_->jobs().Release(job.id, w.worker_id, reason);
    if (!released.ok())
      NR_LOG(kWarning) << "supervisor: cannot requeue job " << job.id << ": "
                       << released.status().ToString();
    events_.Publish("job.failed",
                    {{"job_id", job.id},
                     {"video_id", job.video_id},
                     {"kind", w.kind->name},
                     {"state", "queued"},
                     {"attempts", job.attempts - 1},
                     {"code", worker::FailureCodeName(code)},
                     {"error", reason}},
                    w.audience);
    return;
  }
  const worker::RetryDecision decision =
      worker::DecideRetry(code, job.attempts, job.max_attempts, w.encoder, w.kind->retry);
  NR_LOG(kWarning) << "supervisor: job " << job.id << " attempt " << job.attempts << "/"
                   << job.max_attempts << " failed (" << worker::FailureCodeName(code)
                   << "): " << reason
                   << (decision.retry
                           ? "; retrying after " +
                                 Seconds(std::chrono::milliseconds(decision.backoff_ms)) +
                                 (decision.encoder == EncoderChoice::kSoftware ? " with x264" : "")
                           : std::string("; not retried"));
  if (decision.retry && decision.encoder == EncoderChoice::kSoftware &&
      w.encoder != EncoderChoice::kSoftware) {
    // Remembered in the job itself, so that whichever server claims it next uses x264.
    catalog::JobUpdate update;
    update.encoder = "x264";
    (void)catalog_->jobs().Heartbeat(job.id, w.worker_id, update);
  }
  auto failed = catalog_->jobs().Fail(job.id, w.worker_id, reason, decision.retry,
                                      decision.backoff_ms, worker::FailureCodeName(code));
  w.end =
      failed.ok() && failed->state != JobState::kFailed ? WorkerEnd::kRetrying : WorkerEnd::kFailed;
  if (!failed.ok()) {
    NR_LOG(kWarning) << "supervisor: cannot record the failure of job " << job.id << ": "
                     << failed.status().ToString();
    return;
  }
  events_.Publish("job.failed",
                  {{"job_id", job.id},
                   {"video_id", job.video_id},
                   {"kind", w.kind->name},
                   {"state", catalog::ToString(failed->state)},
                   {"attempts", failed->attempts},
                   {"code", worker::FailureCodeName(code)},
                   {"error", reason}},
                  w.audience);
  if (failed->state == JobState::kFailed) {
    if (!job.video_id.empty()) {
      auto video = catalog_->videos().Get(job.video_id);
      events_.Publish("video.failed",
                      {{"id", job.video_id},
                       {"job_id", job.id},
                       {"reason", video.ok() ? video->failure_reason : reason},
                       {"code", worker::FailureCodeName(code)}},
                      video.ok() ? AudienceOf(*video) : w.audience);
    }
  } else {
    Wake();
  }
}

void JobSupervisor::RecordResult(Worker& w, const worker::WorkResult& result) {
  const Job& job = w.job;
  const bool transcode = !job.video_id.empty() && job.kind == catalog::kJobKindTranscode;
  const double duration = result.duration_seconds;
  if (transcode) {
    // Before Complete, so that a ready video already has them.
    if (auto video = catalog_->videos().Get(job.video_id); video.ok()) {
      catalog::SourceFacts facts = video->source;
      const worker::ResultSource& src = result.source;
      if (!src.container.empty()) facts.container = src.container;
      if (src.size_bytes > 0) facts.size_bytes = src.size_bytes;
      if (facts.video_codec.empty() && !src.video_codec.empty()) {
        facts.video_codec = src.video_codec;
        facts.width = src.width;
        facts.height = src.height;
      }
      if (facts.audio_codec.empty()) facts.audio_codec = src.audio_codec;
      (void)catalog_->videos().SetSourceFacts(job.video_id, facts,
                                              static_cast<int64_t>(std::llround(duration * 1000)));
    }
  }
  std::optional<catalog::VideoMedia> media;
  if (!job.video_id.empty()) media = ToVideoMedia(result);
  auto done = catalog_->jobs().Complete(job.id, w.worker_id, media);
  w.end = done.ok() ? WorkerEnd::kSucceeded : WorkerEnd::kFailed;
  if (!done.ok()) {
    NR_LOG(kWarning) << "supervisor: cannot complete job " << job.id << ": "
                     << done.status().ToString();
    return;
  }
  if (!transcode) {
    NR_LOG(kInfo) << "supervisor: " << job.kind << " job " << job.id << " done";
    return;
  }
  metrics_.transcode_seconds_done_milli.fetch_add(static_cast<uint64_t>(duration * 1000));
  if (!w.done_line)
    events_.PublishProgress(
        job.id,
        {{"job_id", job.id}, {"video_id", job.video_id}, {"phase", "done"}, {"percent", 100.0}},
        true, w.audience);
  NR_LOG(kInfo) << "supervisor: job " << job.id << " done, video " << job.video_id << " ready ("
                << static_cast<int64_t>(std::llround(w.cpu_seconds)) << " s of CPU for "
                << static_cast<int64_t>(std::llround(duration)) << " s of video)";
  events_.Publish("video.ready",
                  {{"id", job.video_id},
                   {"job_id", job.id},
                   {"duration_seconds", duration},
                   {"encoder", result.encoder},
                   {"master_playlist", "/media/" + job.video_id + "/master.m3u8"}},
                  AudienceOfJob(*catalog_, job));
}

void JobSupervisor::ReleaseAll(const std::string& reason) {
  for (auto& [id, w] : workers_) EndOnRequest(*w, reason);
  std::vector<std::function<void()>> callbacks;
  for (auto& [id, w] : workers_) {
    int status;
    waitpid(w->pid, &status, 0);
    CloseFd(w->out_fd);
    CloseFd(w->err_fd);
    RemoveWorkerDir(w->dir);
    auto released = catalog_->jobs().Release(id, w->worker_id, reason);
    if (!released.ok())
      NR_LOG(kWarning) << "supervisor: cannot requeue job " << id << ": "
                       << released.status().ToString();
    else
      NR_LOG(kInfo) << "supervisor: job " << id << " requeued for the next start";
    metrics_.workers_running.fetch_sub(1);
    for (auto& done : w->on_reaped) callbacks.push_back(std::move(done));
  }
  {
    std::lock_guard lock(mu_);
    pids_.clear();
  }
  workers_.clear();
  for (auto& done : callbacks) done();
}

}  // namespace newsreel::streaming
