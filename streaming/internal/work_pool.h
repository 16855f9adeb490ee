#pragma once
// A small pool of threads for blocking work, so that a service thread never waits: catalog
// commits that flush, fsyncs, ending a worker, running a sub-process. A service thread submits
// a task and returns to its loop; the task, on a pool thread, posts its result back to the
// service thread's inbox (service_thread.h), which carries it out on that thread.
//
// Each pool thread owns a `State` made by the factory on that thread (for the server: its own
// catalog connection and handlers), so tasks need no locking of their own to use it.
//
// Thread-safety: Submit may be called from any thread, also from a task. Stop runs every task
// already submitted, then joins: nothing submitted is dropped (an upload's last bytes are
// committed even while the server stops).

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/log.h"
#include "common/status.h"

namespace newsreel::streaming {

template <typename State>
class WorkPool {
 public:
  using Task = std::function<void(State&)>;
  // Makes the state of pool thread `index`, on that thread.
  using Factory = std::function<Result<std::unique_ptr<State>>(int index)>;

  WorkPool() = default;
  ~WorkPool() { Stop(); }
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  // Starts `threads` threads and waits until each has made its state. On an error from the
  // factory the pool is stopped again and the first error returned.
  Status Start(int threads, Factory factory) {
    std::vector<Status> made(static_cast<size_t>(threads), Status::Ok());
    int ready = 0;
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this, i, &factory, &made, &ready] {
        auto state = factory(i);
        {
          std::lock_guard lock(mu_);
          if (!state.ok()) made[static_cast<size_t>(i)] = state.status();
          ++ready;
        }
        cv_.notify_all();
        if (state.ok()) Run(**state);
      });
    }
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return ready == threads; });
    }
    for (const Status& s : made) {
      if (!s.ok()) {
        Stop();
        return s;
      }
    }
    return Status::Ok();
  }

  // Queues `task`. Never blocks. After Stop the task runs on no thread and is dropped.
  void Submit(Task task) {
    {
      std::lock_guard lock(mu_);
      if (stopped_) {
        NR_LOG(kWarning) << "work pool: a task arrived after the pool stopped; dropped";
        return;
      }
      tasks_.push_back(std::move(task));
      ++submitted_;
    }
    cv_.notify_one();
  }

  // Runs what is queued, then joins the threads. Idempotent.
  void Stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    threads_.clear();
    std::lock_guard lock(mu_);
    stopped_ = true;
  }

  // Tasks waiting for a thread (for /metrics).
  size_t queued() const {
    std::lock_guard lock(mu_);
    return tasks_.size();
  }
  uint64_t submitted() const {
    std::lock_guard lock(mu_);
    return submitted_;
  }

 private:
  void Run(State& state) {
    for (;;) {
      Task task;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
        if (tasks_.empty()) return;  // stopping, and nothing left
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      try {
        task(state);
      } catch (const std::exception& e) {
        NR_LOG(kError) << "work pool: a task failed: " << e.what();
      }
    }
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> tasks_;  // guarded by mu_
  bool stopping_ = false;   // guarded by mu_
  bool stopped_ = false;    // guarded by mu_
  uint64_t submitted_ = 0;  // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace newsreel::streaming
