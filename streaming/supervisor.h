#pragma once
// The job supervisor: runs queued transcode jobs as worker processes (`newsreel transcode
// INPUT OUTDIR --progress json`), up to a concurrency limit; reads their progress lines into the
// catalog and onto the event bus; and ends a worker that crashes, stops reporting, exceeds its
// memory limit, or whose job was cancelled. The server process itself never touches media.
//
// Threading: one supervisor thread owns its own Catalog connection and every worker. Public
// methods are thread-safe; they talk to that thread through a mutex and a wake-up pipe.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/status.h"
#include "streaming/data_dir.h"
#include "streaming/events.h"
#include "streaming/metrics.h"

namespace newsreel::catalog {
class Catalog;
struct Job;
}  // namespace newsreel::catalog

namespace newsreel::streaming {

struct SupervisorOptions {
  DataDir data;
  std::string worker_binary;  // the `newsreel` executable to spawn
  int concurrency = 1;
  std::chrono::milliseconds poll_interval{500};  // how often the queue is checked
  std::chrono::seconds stall_timeout{60};        // no progress line for this long: ended
  int64_t memory_limit_mb = 3072;                // resident memory of a worker
  std::chrono::seconds shutdown_grace{10};       // Stop waits this long for jobs to finish
  std::string worker_id_prefix = "serve";
  int64_t retry_backoff_ms = 10'000;  // before the 2nd attempt; doubles for each further one
};

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

  // Ends the worker running `job_id`, if any, and waits (up to `timeout`) until it is reaped.
  // Call after the job was cancelled or its video deleted in the catalog.
  void EndJob(int64_t job_id, std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // The pid of the worker running `job_id` in this server, if any.
  std::optional<int> WorkerPid(int64_t job_id) const;

 private:
  struct Worker;
  void Run();
  void ClaimMore();
  void Spawn(const catalog::Job& job);
  bool PumpOutput(Worker& w, int fd, bool is_stdout);  // false: nothing read
  void HandleLine(Worker& w, const std::string& line);
  void CheckHealth(Worker& w);
  void Reap(Worker& w, int wait_status);
  void KillWorker(Worker& w, const std::string& reason);
  void ReleaseAll(const std::string& reason);

  const SupervisorOptions options_;
  EventBus& events_;
  Metrics& metrics_;
  std::unique_ptr<catalog::Catalog> catalog_;  // supervisor thread only
  std::thread thread_;
  int wake_pipe_[2] = {-1, -1};

  mutable std::mutex mu_;
  std::condition_variable reaped_;
  bool stopping_ = false;                               // guarded by mu_
  std::map<int64_t, int> pids_;                         // job id -> worker pid; guarded by mu_
  std::map<int64_t, bool> end_requests_;                // job ids to end; guarded by mu_
  std::map<int64_t, std::unique_ptr<Worker>> workers_;  // supervisor thread only
  int spawned_ = 0;                                     // supervisor thread only
};

}  // namespace newsreel::streaming
