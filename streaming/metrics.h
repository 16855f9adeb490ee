#pragma once
// Counters for /metrics, updated lock-free from every service thread and the supervisor.

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <string>

namespace newsreel::streaming {

struct Metrics {
  std::array<std::atomic<uint64_t>, 600> requests_by_status{};  // index = status code
  std::atomic<uint64_t> bytes_sent{0};
  std::atomic<int64_t> open_connections{0};  // HTTP and WebSocket
  std::atomic<int64_t> websocket_clients{0};
  std::atomic<int64_t> live_viewers{0};        // /ws/live/<id> clients
  std::atomic<int64_t> ll_parked_requests{0};  // LL-HLS requests waiting for a part
  std::atomic<uint64_t> ll_parked_refused{0};  // refused for the per-address cap (429)
  std::atomic<uint64_t> live_frames_sent{0};
  std::atomic<uint64_t> live_frames_skipped{0};  // by viewers that fell behind
  std::atomic<uint64_t> live_bytes_received{0};  // from SRT publishers
  std::atomic<uint64_t> live_bytes_dropped{0};   // from publishers, not taken by a live worker
  std::atomic<int64_t> live_streams_on_air{0};   // state live
  std::atomic<int64_t> live_streams_reconnecting{0};
  std::atomic<int64_t> live_pullers{0};      // SRT pullers connected
  std::atomic<int64_t> work_pool_queued{0};  // blocking tasks waiting (set when /metrics renders)
  std::atomic<uint64_t> events_published{0};
  std::atomic<uint64_t> idle_closed{0};  // connections closed for being silent
  // The per-address limits (address_limits.h): connections over the connection limit, answered
  // 429 or (the address's request tokens spent too) closed unanswered; requests over the rate.
  std::atomic<uint64_t> connections_refused{0};
  std::atomic<uint64_t> connections_dropped{0};
  std::atomic<uint64_t> requests_rate_limited{0};
  std::atomic<uint64_t> upload_bytes_received{0};  // tus request bodies
  std::atomic<uint64_t> worker_starts{0};
  std::atomic<uint64_t> worker_crashes{0};   // died (signal, exit) without a failure line
  std::atomic<uint64_t> worker_timeouts{0};  // ended for not reporting
  std::atomic<uint64_t> worker_memory_kills{0};
  std::atomic<uint64_t> worker_cpu_kills{0};  // ended by their CPU-time limit
  std::atomic<int64_t> workers_running{0};
  // Sum of the speeds (x realtime) the running workers last reported, times 1000.
  std::atomic<int64_t> transcode_speed_milli{0};
  std::atomic<uint64_t> transcode_seconds_done_milli{0};  // media seconds transcoded, x1000

  void CountRequest(int status) {
    if (status >= 100 && status < 600)
      requests_by_status[status].fetch_add(1, std::memory_order_relaxed);
  }
};

// The Prometheus text exposition (version 0.0.4) of `m`, plus jobs by state from the catalog.
std::string RenderPrometheus(const Metrics& m, const std::map<std::string, int64_t>& jobs_by_state);

}  // namespace newsreel::streaming
