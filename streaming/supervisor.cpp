#include "streaming/supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
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

namespace newsreel::streaming {

using catalog::Job;
using catalog::JobState;
using Clock = std::chrono::steady_clock;

struct JobSupervisor::Worker {
  Job job;
  std::string worker_id;
  int pid = -1;
  int out_fd = -1;  // worker stdout (progress lines)
  int err_fd = -1;  // worker stderr (the last line is the failure reason)
  std::string out_buf, err_tail;
  Clock::time_point started, last_report, last_heartbeat;
  double speed = 0;
  double duration_seconds = 0;
  std::string end_reason;  // set when we ended it; why, for the job's error
  bool retryable_end = true;
  bool ended_by_request = false;  // cancelled or video deleted: touch nothing
  bool done_line = false;
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

int64_t ResidentMb(int pid) {
  std::ifstream statm("/proc/" + std::to_string(pid) + "/statm");
  long pages_total = 0, pages_resident = 0;
  if (!(statm >> pages_total >> pages_resident)) return 0;
  return static_cast<int64_t>(pages_resident) * sysconf(_SC_PAGESIZE) / (1024 * 1024);
}

std::string LastLine(const std::string& text) {
  size_t end = text.find_last_not_of("\r\n ");
  if (end == std::string::npos) return "";
  size_t start = text.find_last_of('\n', end);
  std::string line = text.substr(start == std::string::npos ? 0 : start + 1,
                                 end - (start == std::string::npos ? 0 : start + 1) + 1);
  const std::string prefix = "newsreel transcode: ";
  if (line.rfind(prefix, 0) == 0) line = line.substr(prefix.size());
  return line;
}

// What a finished transcode produced, from its manifest.json.
Result<catalog::VideoMedia> ReadManifest(const std::filesystem::path& dir, nlohmann::json* out) {
  std::ifstream in(dir / "manifest.json");
  if (!in) return NotFound("the worker wrote no manifest.json");
  nlohmann::json m = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (m.is_discarded() || !m.is_object()) return InvalidArgument("manifest.json is not JSON");
  catalog::VideoMedia media;
  try {
    for (const auto& r : m.value("rungs", nlohmann::json::array())) {
      catalog::Rendition rend;
      rend.name = r.value("name", "");
      rend.width = r.value("width", 0);
      rend.height = r.value("height", 0);
      rend.bandwidth = r.value("bandwidth", int64_t{0});
      rend.average_bandwidth = r.value("average_bandwidth", int64_t{0});
      rend.codecs = r.value("codecs", "");
      rend.frame_rate = r.value("frame_rate", 0.0);
      rend.playlist_path = r.value("playlist", "");
      rend.encoder = m.value("encoder_element", m.value("encoder", ""));
      media.renditions.push_back(rend);
    }
    if (m.contains("poster") && m["poster"].is_object()) {
      const auto& p = m["poster"];
      media.assets.push_back({catalog::AssetKind::kPoster, p.value("uri", "poster.jpg"),
                              p.value("width", 0), p.value("height", 0)});
    }
    if (m.contains("storyboard") && m["storyboard"].is_object()) {
      const auto& s = m["storyboard"];
      media.assets.push_back({catalog::AssetKind::kStoryboard, s.value("image", "storyboard.jpg"),
                              s.value("tile_width", 0), s.value("tile_height", 0)});
      media.assets.push_back(
          {catalog::AssetKind::kStoryboardVtt, s.value("vtt", "storyboard.vtt"), 0, 0});
    }
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("manifest.json has an unexpected shape: ") + e.what());
  }
  *out = std::move(m);
  return media;
}

}  // namespace

JobSupervisor::JobSupervisor(SupervisorOptions options, EventBus& events, Metrics& metrics)
    : options_(std::move(options)), events_(events), metrics_(metrics) {}

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
  thread_ = std::thread([this] { Run(); });
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

void JobSupervisor::EndJob(int64_t job_id, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (!pids_.count(job_id)) return;
  end_requests_[job_id] = true;
  lock.unlock();
  Wake();
  lock.lock();
  reaped_.wait_for(lock, timeout, [&] { return !pids_.count(job_id); });
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
    std::map<int64_t, bool> end_requests;
    {
      std::lock_guard lock(mu_);
      stopping = stopping_;
      end_requests.swap(end_requests_);
    }
    for (auto& [job_id, _] : end_requests) {
      auto it = workers_.find(job_id);
      if (it == workers_.end()) continue;
      it->second->ended_by_request = true;
      KillWorker(*it->second, "the job was cancelled");
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
    poll(fds.data(), fds.size(), 200);
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
      pid_t r = waitpid(w.pid, &status, WNOHANG);
      if (r == w.pid) {
        // Drain what is left in the pipes before judging the exit.
        while (w.out_fd >= 0 && PumpOutput(w, w.out_fd, true)) {
        }
        while (w.err_fd >= 0 && PumpOutput(w, w.err_fd, false)) {
        }
        Reap(w, status);
        {
          std::lock_guard lock(mu_);
          pids_.erase(it->first);
        }
        reaped_.notify_all();
        metrics_.workers_running.fetch_sub(1);
        it = workers_.erase(it);
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
  catalog_.reset();
}

void JobSupervisor::ClaimMore() {
  while (static_cast<int>(workers_.size()) < options_.concurrency) {
    const std::string worker_id = options_.worker_id_prefix + "-" + std::to_string(getpid()) + "-" +
                                  std::to_string(++spawned_);
    auto claimed = catalog_->jobs().Claim(worker_id, {std::string(catalog::kJobKindTranscode)});
    if (!claimed.ok()) {
      NR_LOG(kWarning) << "supervisor: claim failed: " << claimed.status().ToString();
      return;
    }
    if (!claimed->has_value()) return;
    Job job = **claimed;
    job.worker_id = worker_id;
    Spawn(job);
  }
}

void JobSupervisor::Spawn(const Job& job) {
  auto fail = [&](const std::string& reason, bool retryable) {
    NR_LOG(kWarning) << "supervisor: job " << job.id << ": " << reason;
    auto failed = catalog_->jobs().Fail(job.id, job.worker_id, reason, retryable);
    if (failed.ok() && failed->state == JobState::kFailed)
      events_.Publish("video.failed",
                      {{"id", job.video_id}, {"job_id", job.id}, {"reason", reason}});
  };
  nlohmann::json payload = nlohmann::json::parse(job.payload, nullptr, false);
  std::string input = payload.is_object() ? payload.value("input", "") : "";
  if (input.empty() || job.video_id.empty()) {
    fail("the job names no input file", false);
    return;
  }
  std::filesystem::path input_path = options_.data.root / input;
  std::filesystem::path out = options_.data.media() / job.video_id;
  // A retry uses the software encoder: whatever "auto" chose may be what failed.
  const bool software = job.attempts > 1;
  std::vector<std::string> args = {options_.worker_binary,
                                   "transcode",
                                   input_path.string(),
                                   out.string(),
                                   "--progress",
                                   "json",
                                   "--force"};
  if (software) {
    args.push_back("--encoder");
    args.push_back("x264");
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return fail("cannot create a pipe", true);
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return fail("cannot create a pipe", true);
  }
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    close_range(3, ~0U, 0);  // no listening socket or catalog handle leaks into the worker
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (pid < 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    return fail(std::string("cannot start a worker: ") + std::strerror(errno), true);
  }
  setpgid(pid, pid);  // also from the parent, so that the group exists before we signal it
  fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
  fcntl(err_pipe[0], F_SETFL, O_NONBLOCK);
  auto w = std::make_unique<Worker>();
  w->job = job;
  w->worker_id = job.worker_id;
  w->pid = pid;
  w->out_fd = out_pipe[0];
  w->err_fd = err_pipe[0];
  w->started = w->last_report = w->last_heartbeat = Clock::now();
  NR_LOG(kInfo) << "supervisor: job " << job.id << " (video " << job.video_id << ", attempt "
                << job.attempts << "/" << job.max_attempts << ") runs in worker pid " << pid
                << (software ? " with x264" : "");
  metrics_.worker_starts.fetch_add(1);
  metrics_.workers_running.fetch_add(1);
  {
    std::lock_guard lock(mu_);
    pids_[job.id] = pid;
  }
  catalog::JobUpdate update;
  if (software) update.encoder = "x264";
  (void)catalog_->jobs().Heartbeat(job.id, job.worker_id, update);
  events_.Publish("job.started", {{"job_id", job.id},
                                  {"video_id", job.video_id},
                                  {"worker_pid", pid},
                                  {"encoder", software ? "x264" : "auto"},
                                  {"attempt", job.attempts},
                                  {"max_attempts", job.max_attempts}});
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
  if (w.out_buf.size() > 65536) w.out_buf.clear();  // a runaway line is not progress
  return true;
}

void JobSupervisor::HandleLine(Worker& w, const std::string& line) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
  if (!j.is_object()) return;
  w.last_report = Clock::now();
  auto num = [&](const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
  };
  const std::string phase = j.value("phase", "");
  const double percent = std::clamp(num("percent"), 0.0, 100.0);
  w.speed = num("speed");
  w.duration_seconds = num("duration_seconds");
  if (phase == "done") w.done_line = true;
  catalog::JobProgress progress;
  progress.percent = percent;
  progress.fps = num("fps");
  if (j.contains("eta_seconds") && j["eta_seconds"].is_number())
    progress.eta_ms = static_cast<int64_t>(j["eta_seconds"].get<double>() * 1000);
  auto now = Clock::now();
  if (now - w.last_heartbeat >= std::chrono::seconds(1) || w.done_line) {
    w.last_heartbeat = now;
    catalog::JobUpdate update;
    update.progress = progress;
    Status hb = catalog_->jobs().Heartbeat(w.job.id, w.worker_id, update);
    if (hb.code() == ErrorCode::kCancelled) {
      w.ended_by_request = true;
      KillWorker(w, "the job was cancelled");
    } else if (hb.code() == ErrorCode::kFailedPrecondition || hb.code() == ErrorCode::kNotFound) {
      w.ended_by_request = true;
      KillWorker(w, "the job is no longer ours: " + hb.message());
    }
  }
  events_.PublishProgress(w.job.id,
                          {{"job_id", w.job.id},
                           {"video_id", w.job.video_id},
                           {"phase", phase},
                           {"percent", percent},
                           {"fps", progress.fps},
                           {"speed", w.speed},
                           {"eta_seconds", j.value("eta_seconds", nlohmann::json(nullptr))}},
                          w.done_line);
}

void JobSupervisor::CheckHealth(Worker& w) {
  if (!w.end_reason.empty()) return;  // already being ended
  auto now = Clock::now();
  if (now - w.last_report > options_.stall_timeout) {
    metrics_.worker_timeouts.fetch_add(1);
    KillWorker(w, "the worker stopped reporting progress for " +
                      std::to_string(options_.stall_timeout.count()) + " s and was ended");
    return;
  }
  int64_t rss = ResidentMb(w.pid);
  if (rss > options_.memory_limit_mb) {
    metrics_.worker_memory_kills.fetch_add(1);
    KillWorker(w, "the worker used " + std::to_string(rss) + " MB of memory, over the limit of " +
                      std::to_string(options_.memory_limit_mb) + " MB, and was ended");
  }
  // Keep the lease alive while a worker is busy but quiet between progress lines.
  if (now - w.last_heartbeat >= std::chrono::seconds(10)) {
    w.last_heartbeat = now;
    Status hb = catalog_->jobs().Heartbeat(w.job.id, w.worker_id);
    if (hb.code() == ErrorCode::kCancelled) {
      w.ended_by_request = true;
      KillWorker(w, "the job was cancelled");
    }
  }
}

void JobSupervisor::KillWorker(Worker& w, const std::string& reason) {
  if (w.end_reason.empty()) {
    w.end_reason = reason;
    NR_LOG(kWarning) << "supervisor: job " << w.job.id << " worker pid " << w.pid << ": " << reason;
  }
  kill(-w.pid, SIGKILL);
  kill(w.pid, SIGKILL);
}

void JobSupervisor::Reap(Worker& w, int wait_status) {
  CloseFd(w.out_fd);
  CloseFd(w.err_fd);
  const Job& job = w.job;
  // The worker may have left helpers in its group.
  kill(-w.pid, SIGKILL);
  if (w.ended_by_request) {
    NR_LOG(kInfo) << "supervisor: job " << job.id << " ended on request";
    return;
  }
  std::string reason;
  bool retryable = true;
  if (!w.end_reason.empty()) {
    reason = w.end_reason;
  } else if (WIFSIGNALED(wait_status)) {
    metrics_.worker_crashes.fetch_add(1);
    reason = "the worker crashed (" + SignalName(WTERMSIG(wait_status)) + ")";
  } else if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) != 0) {
    metrics_.worker_crashes.fetch_add(1);
    std::string last = LastLine(w.err_tail);
    reason = last.empty()
                 ? "the worker exited with status " + std::to_string(WEXITSTATUS(wait_status))
                 : last;
    // A clean failure with a message (not a media file, no decoder) will fail again the same
    // way, except when a hardware encoder was in play: then the retry uses x264.
    retryable = job.attempts == 1;
  }
  if (!reason.empty()) {
    NR_LOG(kWarning) << "supervisor: job " << job.id << " attempt " << job.attempts
                     << " failed: " << reason;
    auto failed = catalog_->jobs().Fail(job.id, w.worker_id, reason, retryable);
    if (!failed.ok()) {
      NR_LOG(kWarning) << "supervisor: cannot record the failure of job " << job.id << ": "
                       << failed.status().ToString();
      return;
    }
    nlohmann::json data = {{"job_id", job.id},
                           {"video_id", job.video_id},
                           {"state", catalog::ToString(failed->state)},
                           {"attempts", failed->attempts},
                           {"error", reason}};
    events_.Publish("job.failed", data);
    if (failed->state == JobState::kFailed) {
      auto video = catalog_->videos().Get(job.video_id);
      events_.Publish("video.failed", {{"id", job.video_id},
                                       {"job_id", job.id},
                                       {"reason", video.ok() ? video->failure_reason : reason}});
    } else {
      Wake();
    }
    return;
  }
  // Success: record what it produced.
  nlohmann::json manifest;
  auto media = ReadManifest(options_.data.media() / job.video_id, &manifest);
  if (!media.ok()) {
    auto failed = catalog_->jobs().Fail(job.id, w.worker_id, media.status().message(), true);
    events_.Publish(
        "job.failed",
        {{"job_id", job.id}, {"video_id", job.video_id}, {"error", media.status().message()}});
    return;
  }
  auto done = catalog_->jobs().Complete(job.id, w.worker_id, *media);
  if (!done.ok()) {
    NR_LOG(kWarning) << "supervisor: cannot complete job " << job.id << ": "
                     << done.status().ToString();
    return;
  }
  const double duration = manifest.value("duration_seconds", 0.0);
  if (auto video = catalog_->videos().Get(job.video_id); video.ok()) {
    catalog::SourceFacts facts = video->source;
    if (manifest.contains("source") && manifest["source"].is_object()) {
      const auto& src = manifest["source"];
      facts.container = src.value("container", facts.container);
      facts.size_bytes = src.value("size_bytes", facts.size_bytes);
      for (const auto& s : src.value("streams", nlohmann::json::array())) {
        if (s.value("type", "") == "video" && facts.video_codec.empty()) {
          facts.video_codec = s.value("codec", "");
          facts.width = s.value("width", 0);
          facts.height = s.value("height", 0);
        }
        if (s.value("type", "") == "audio" && facts.audio_codec.empty())
          facts.audio_codec = s.value("codec", "");
      }
    }
    (void)catalog_->videos().SetSourceFacts(job.video_id, facts,
                                            static_cast<int64_t>(std::llround(duration * 1000)));
  }
  metrics_.transcode_seconds_done_milli.fetch_add(static_cast<uint64_t>(duration * 1000));
  if (!w.done_line)
    events_.PublishProgress(
        job.id,
        {{"job_id", job.id}, {"video_id", job.video_id}, {"phase", "done"}, {"percent", 100.0}},
        true);
  NR_LOG(kInfo) << "supervisor: job " << job.id << " done, video " << job.video_id << " ready";
  events_.Publish("video.ready", {{"id", job.video_id},
                                  {"job_id", job.id},
                                  {"duration_seconds", duration},
                                  {"encoder", manifest.value("encoder", "")},
                                  {"master_playlist", "/media/" + job.video_id + "/master.m3u8"}});
}

void JobSupervisor::ReleaseAll(const std::string& reason) {
  for (auto& [id, w] : workers_) {
    w->ended_by_request = true;
    KillWorker(*w, reason);
  }
  for (auto& [id, w] : workers_) {
    int status;
    waitpid(w->pid, &status, 0);
    CloseFd(w->out_fd);
    CloseFd(w->err_fd);
    auto released = catalog_->jobs().Release(id, w->worker_id, reason);
    if (!released.ok())
      NR_LOG(kWarning) << "supervisor: cannot requeue job " << id << ": "
                       << released.status().ToString();
    else
      NR_LOG(kInfo) << "supervisor: job " << id << " requeued for the next start";
    metrics_.workers_running.fetch_sub(1);
  }
  {
    std::lock_guard lock(mu_);
    pids_.clear();
  }
  reaped_.notify_all();
  workers_.clear();
}

}  // namespace newsreel::streaming
