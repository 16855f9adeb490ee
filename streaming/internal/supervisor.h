#pragma once
// The job supervisor: runs queued jobs as worker processes, per worker kind (a transcode is
// `newsreel transcode INPUT OUTDIR --progress protocol`), up to each kind's concurrency limit;
// reads the workers' typed protocol (common/worker_protocol.h) into the catalog and onto the event
// bus; ends a worker that is unhealthy by its kind's rule, exceeds its memory limit, or whose job
// was cancelled; and retries a failed job by its failure code (worker::DecideRetry). The server
// process itself never touches media. docs/workers.md describes the protocol and the policy.
//
// Threading: one supervisor thread owns its own Catalog connection and every worker. Public
// methods are thread-safe; they talk to that thread through a mutex and a wake-up pipe.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "common/worker_protocol.h"
#include "streaming/data_dir.h"
#include "streaming/events.h"
#include "streaming/metrics.h"

namespace newsreel::catalog {
class Catalog;
struct Job;
struct JobUpdate;
}  // namespace newsreel::catalog

namespace newsreel::streaming {

// How the supervisor judges that a running worker is still healthy.
enum class HealthRule {
  kShort,      // a job that ends (transcode): healthy while progress arrives within stall_timeout
  kLongLived,  // a service (a live stream): healthy while any message, heartbeats included,
               // arrives within heartbeat_timeout; progress is not required
};

// What became of a job when its worker was reaped (WorkerKind::on_end).
enum class WorkerEnd {
  kSucceeded,       // a result, exit 0: the job is done
  kRetrying,        // failed; the job is queued again (after its back-off)
  kFailed,          // failed for good
  kEndedOnRequest,  // RequestEnd, a cancel or the shutdown: the job row was left alone
};

// One kind of worker: which catalog jobs it runs and how it is started, limited and judged.
struct WorkerKind {
  std::string name;  // the job kind in the catalog ([a-z0-9_]{1,32}), e.g. "transcode"
  // The worker's argv (argv[0]: the executable) for `job`, running with `encoder`. Called on
  // the supervisor thread. An error fails the job for good with the error's message.
  std::function<Result<std::vector<std::string>>(const catalog::Job& job,
                                                 worker::EncoderChoice encoder)>
      argv;
  int concurrency = 1;  // workers of this kind at once
  HealthRule health = HealthRule::kShort;
  std::chrono::milliseconds stall_timeout{60'000};      // kShort
  std::chrono::milliseconds heartbeat_timeout{30'000};  // kLongLived
  int64_t memory_limit_mb = 3072;                       // resident memory of one worker
  // The workers' CPU priority (nice, 0..19): media work yields to the service threads, so
  // that viewers are served on time while every core encodes.
  int nice = 10;
  // CPU time (user + system) one worker may use, in seconds; 0: no limit. Enforced by the
  // kernel (RLIMIT_CPU: SIGXCPU at the limit, SIGKILL a little later). A worker that reaches it
  // fails its job for good ("used more CPU time than allowed"): the same input would use as
  // much again. For a long-lived kind it bounds one run, not the stream's life: choose 0.
  int64_t cpu_limit_seconds = 0;
  // No network for the worker: a network namespace of its own (no interface but a loopback that
  // is down) where the system allows it; where it does not (unshare fails, e.g. without root),
  // a seccomp filter that refuses every socket but AF_UNIX. Media work needs none; live ingest
  // gets its bytes through a pipe.
  bool isolate_network = true;
  // Test hook: skip the namespace and go straight to the seccomp filter, as on a system that
  // refuses namespaces.
  bool force_seccomp = false;
  // Back-off of retries after a crash or a time-out; for a long-lived kind these are its
  // restarts. How many attempts a job gets is the job's max_attempts in the catalog.
  worker::RetryPolicy retry;
  // Optional hooks, each called on the supervisor thread (keep them short; they may post work
  // elsewhere). `input`: the worker's stdin (a pipe's read end, say) for this start of `job`;
  // the supervisor closes it in the server once the worker has it. An error fails the attempt
  // (retried as a crash); unset: /dev/null.
  std::function<Result<int>(const catalog::Job& job)> input;
  // Every heartbeat of a worker of this kind (a live worker's figures).
  std::function<void(const catalog::Job& job, const worker::Heartbeat& heartbeat)> on_heartbeat;
  // Every stdout line of a worker of this kind that the supervisor does not act on itself: not
  // a message of the protocol it knows, or one it has no use for (a live worker's `part`).
  std::function<void(const catalog::Job& job, const std::string& line)> on_other_line;
  // A worker of this kind was reaped; `end` says what became of its job.
  std::function<void(const catalog::Job& job, WorkerEnd end)> on_end;
};

// The transcode workers' default CPU-time limit: 12 hours of one core. The 1080p ladder costs
// 1.4 to 3.9 CPU-seconds per second of footage (clean to grainy; docs/workers.md), so this lets
// 3 to 8 hours of 1080p through; it stops a worker that a hostile file keeps busy without end
// (one that stalls is caught sooner, by the stall timeout).
inline constexpr int64_t kDefaultWorkerCpuLimitSeconds = 12 * 3600;

struct SupervisorOptions {
  DataDir data;
  std::string worker_binary;  // the `newsreel` executable to spawn
  // The transcode kind, when `kinds` is empty, is built from the next fields.
  int concurrency = 1;
  std::chrono::milliseconds stall_timeout{60'000};  // no progress line for this long: ended
  int64_t memory_limit_mb = 3072;                   // resident memory of a worker
  int64_t retry_backoff_ms = 10'000;  // before the 2nd attempt; doubles for each further one
  int nice = 10;                      // the workers' CPU priority (see WorkerKind::nice)
  int64_t cpu_limit_seconds = kDefaultWorkerCpuLimitSeconds;  // see WorkerKind
  // Every kind this supervisor runs; empty: TranscodeWorkerKind(*this) alone.
  std::vector<WorkerKind> kinds;

  std::chrono::milliseconds poll_interval{500};     // how often the queue is checked
  std::chrono::seconds shutdown_grace{10};          // Stop waits this long for jobs to finish
  std::chrono::milliseconds lease_renewal{10'000};  // catalog heartbeat of a quiet worker
  std::string worker_id_prefix = "serve";
};

// The transcode kind: `worker_binary transcode DATA/<payload.input> DATA/media/<video id>
// --progress protocol --force [--encoder x264]`, short-lived, limits from `options`.
WorkerKind TranscodeWorkerKind(const SupervisorOptions& options);

class JobSupervisor {
 public:
  // `events` and `metrics` must outlive the supervisor.
  JobSupervisor(SupervisorOptions options, EventBus& events, Metrics& metrics);
  ~JobSupervisor();  // Stop()s

  // Opens the supervisor's catalog connection, requeues jobs whose leases expired (a previous
  // server died) and starts the thread.
  Status Start();

  // Stops claiming, lets running workers finish for up to shutdown_grace, then ends the rest
  // and gives their jobs back to the queue (without counting the attempt). Joins the thread.
  void Stop();

  // Look at the queue now rather than at the next poll.
  void Wake();

  // Ends the worker running `job_id`, if any, without waiting: returns at once. `on_reaped`
  // (may be empty) runs on the supervisor thread once that worker is gone, or when there was
  // none; if the supervisor thread is not running it runs before RequestEnd returns. Call after
  // the job was cancelled or its video deleted in the catalog; the job row is left alone.
  void RequestEnd(int64_t job_id, std::function<void()> on_reaped = {});

  // RequestEnd, then waits (up to `timeout`) until the worker is reaped. Blocks: not for an
  // event loop.
  void EndJob(int64_t job_id, std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // The pid of the worker running `job_id` in this server, if any.
  std::optional<int> WorkerPid(int64_t job_id) const;

 private:
  struct Worker;
  void Run();
  void ClaimMore();
  void Spawn(const WorkerKind& kind, const catalog::Job& job);
  bool PumpOutput(Worker& w, int fd, bool is_stdout);  // false: nothing read
  void HandleLine(Worker& w, const std::string& line);
  void HandleProgress(Worker& w, const worker::Progress& p);
  void CheckHealth(Worker& w);
  void RenewLease(Worker& w, const catalog::JobUpdate& update);
  void Reap(Worker& w, int wait_status, double cpu_seconds);
  Status PrepareWorkerDirs();
  void RecordFailure(Worker& w, worker::FailureCode code, const std::string& reason);
  void RecordResult(Worker& w, const worker::WorkResult& result);
  void KillWorker(Worker& w, worker::FailureCode code, const std::string& reason);
  void EndOnRequest(Worker& w, const std::string& reason);
  void ReleaseAll(const std::string& reason);

  const SupervisorOptions options_;
  const std::vector<WorkerKind> kinds_;
  EventBus& events_;
  Metrics& metrics_;
  std::unique_ptr<catalog::Catalog> catalog_;  // supervisor thread only
  std::thread thread_;
  int wake_pipe_[2] = {-1, -1};
  std::filesystem::path workers_dir_;  // data/tmp/workers: one folder per running worker

  mutable std::mutex mu_;
  std::condition_variable reaped_;
  bool stopping_ = false;        // guarded by mu_
  bool running_ = false;         // the thread runs and takes end requests; guarded by mu_
  std::map<int64_t, int> pids_;  // job id -> worker pid; guarded by mu_
  // Job ids to end -> callbacks for when they are gone; guarded by mu_.
  std::map<int64_t, std::vector<std::function<void()>>> end_requests_;
  std::map<int64_t, std::unique_ptr<Worker>> workers_;  // supervisor thread only
  int spawned_ = 0;                                     // supervisor thread only
  // Kinds whose worker binary speaks another protocol version: they claim nothing more.
  std::set<std::string> mismatched_kinds_;  // supervisor thread only
};

}  // namespace newsreel::streaming
