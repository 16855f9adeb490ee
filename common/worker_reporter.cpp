#include "common/worker_reporter.h"

#include <unistd.h>

#include <cerrno>

namespace newsreel::worker {

WorkerReporter::WorkerReporter(int fd, std::chrono::milliseconds heartbeat_interval) : fd_(fd) {
  heartbeat_ = std::thread([this, heartbeat_interval] {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, heartbeat_interval, [this] { return stop_; })) {
      std::function<Heartbeat()> source = heartbeat_source_;
      lock.unlock();
      Send(source ? source() : Heartbeat{});
      lock.lock();
    }
  });
}

WorkerReporter::~WorkerReporter() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  heartbeat_.join();
}

void WorkerReporter::SetHeartbeatSource(std::function<Heartbeat()> source) {
  std::lock_guard lock(mu_);
  heartbeat_source_ = std::move(source);
}

void WorkerReporter::Send(const WorkerMessage& message) {
  const std::string line = Encode(message);
  std::lock_guard lock(write_mu_);
  WriteLine(line);
}

void WorkerReporter::WriteLine(const std::string& line) {
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

}  // namespace newsreel::worker
