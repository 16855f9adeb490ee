#pragma once
// The worker's side of the protocol (common/worker_protocol.h): writes messages to a file
// descriptor, one whole line per write, from any thread, and sends a heartbeat from its own
// thread every `heartbeat_interval` until destroyed.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "common/worker_protocol.h"

namespace newsreel::worker {

class WorkerReporter {
 public:
  // `fd` (usually STDOUT_FILENO) must stay open for the reporter's lifetime; it is not closed.
  WorkerReporter(int fd, std::chrono::milliseconds heartbeat_interval);
  ~WorkerReporter();  // stops and joins the heartbeat thread
  WorkerReporter(const WorkerReporter&) = delete;
  WorkerReporter& operator=(const WorkerReporter&) = delete;

  // Thread-safe. A reader that went away (EPIPE) is ignored: the worker finishes its work.
  void Send(const WorkerMessage& message);

  // Each heartbeat from now on is what `source` returns (called on the heartbeat thread; it
  // must be thread-safe and quick). A long-lived worker puts its figures there. Thread-safe.
  void SetHeartbeatSource(std::function<Heartbeat()> source);

 private:
  void WriteLine(const std::string& line);  // caller holds write_mu_

  const int fd_;
  std::mutex write_mu_;  // one line at a time
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                            // guarded by mu_
  std::function<Heartbeat()> heartbeat_source_;  // guarded by mu_
  std::thread heartbeat_;
};

}  // namespace newsreel::worker
