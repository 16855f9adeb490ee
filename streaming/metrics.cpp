#include "streaming/metrics.h"

#include <sstream>

namespace newsreel::streaming {

std::string RenderPrometheus(const Metrics& m,
                             const std::map<std::string, int64_t>& jobs_by_state) {
  std::ostringstream o;
  auto gauge = [&](const char* name, const char* help, const char* type, auto value) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n'
      << name << ' ' << value << '\n';
  };
  o << "# HELP newsreel_http_requests_total HTTP requests answered, by status code.\n"
       "# TYPE newsreel_http_requests_total counter\n";
  for (size_t code = 100; code < m.requests_by_status.size(); ++code) {
    uint64_t n = m.requests_by_status[code].load(std::memory_order_relaxed);
    if (n) o << "newsreel_http_requests_total{code=\"" << code << "\"} " << n << '\n';
  }
  gauge("newsreel_http_sent_bytes_total", "Bytes of HTTP responses sent (headers and bodies).",
        "counter", m.bytes_sent.load());
  gauge("newsreel_open_connections", "Open HTTP and WebSocket connections.", "gauge",
        m.open_connections.load());
  gauge("newsreel_websocket_clients", "Connected /ws clients.", "gauge",
        m.websocket_clients.load());
  gauge("newsreel_live_viewers", "Connected /ws/live/<id> viewers.", "gauge",
        m.live_viewers.load());
  gauge("newsreel_ll_parked_requests",
        "LL-HLS playlist and part requests waiting for the live worker's next part.", "gauge",
        m.ll_parked_requests.load());
  gauge("newsreel_ll_parked_refused_total",
        "LL-HLS requests refused (429) because their address held too many waiting.", "counter",
        m.ll_parked_refused.load());
  gauge("newsreel_live_frames_sent_total", "Live media frames sent to /ws/live viewers.", "counter",
        m.live_frames_sent.load());
  gauge("newsreel_live_frames_skipped_total",
        "Live media frames skipped by viewers that fell behind (they resume at a keyframe).",
        "counter", m.live_frames_skipped.load());
  gauge("newsreel_live_bytes_received_total", "Bytes received from SRT publishers.", "counter",
        m.live_bytes_received.load());
  gauge("newsreel_live_bytes_dropped_total",
        "Bytes from SRT publishers that no live worker took (it was starting or fell behind).",
        "counter", m.live_bytes_dropped.load());
  gauge("newsreel_live_streams_on_air", "Live streams whose publisher is connected.", "gauge",
        m.live_streams_on_air.load());
  gauge("newsreel_live_streams_reconnecting",
        "Live streams waiting for their publisher to come back (a slate plays).", "gauge",
        m.live_streams_reconnecting.load());
  gauge("newsreel_live_pullers", "SRT pullers (broadcasters) connected.", "gauge",
        m.live_pullers.load());
  gauge("newsreel_work_pool_queued", "Blocking tasks waiting for a pool thread.", "gauge",
        m.work_pool_queued.load());
  gauge("newsreel_events_published_total", "Events published to /ws clients.", "counter",
        m.events_published.load());
  gauge("newsreel_idle_connections_closed_total",
        "HTTP connections closed for sending or reading nothing too long.", "counter",
        m.idle_closed.load());
  o << "# HELP newsreel_refused_connections_total Connections refused for the per-address "
       "connection limit: answered 429, or closed unanswered once the address had no request "
       "tokens left either.\n"
       "# TYPE newsreel_refused_connections_total counter\n"
       "newsreel_refused_connections_total{answer=\"429\"} "
    << m.connections_refused.load() << "\nnewsreel_refused_connections_total{answer=\"none\"} "
    << m.connections_dropped.load() << '\n';
  gauge("newsreel_rate_limited_requests_total",
        "Requests answered 429 for the per-address request rate.", "counter",
        m.requests_rate_limited.load());
  gauge("newsreel_upload_received_bytes_total", "Bytes of upload data received at /files/.",
        "counter", m.upload_bytes_received.load());
  o << "# HELP newsreel_jobs Jobs in the catalog, by state.\n# TYPE newsreel_jobs gauge\n";
  for (const char* state : {"queued", "running", "succeeded", "failed", "cancelled"}) {
    auto it = jobs_by_state.find(state);
    o << "newsreel_jobs{state=\"" << state << "\"} " << (it == jobs_by_state.end() ? 0 : it->second)
      << '\n';
  }
  gauge("newsreel_workers_running", "Worker processes running.", "gauge", m.workers_running.load());
  gauge("newsreel_worker_starts_total", "Worker processes started.", "counter",
        m.worker_starts.load());
  gauge("newsreel_worker_crashes_total",
        "Workers that died (a signal, an exit) without reporting a failure.", "counter",
        m.worker_crashes.load());
  gauge("newsreel_worker_timeouts_total", "Workers ended for not reporting progress.", "counter",
        m.worker_timeouts.load());
  gauge("newsreel_worker_memory_kills_total", "Workers ended for exceeding the memory limit.",
        "counter", m.worker_memory_kills.load());
  gauge("newsreel_worker_cpu_kills_total", "Workers ended by their CPU-time limit.", "counter",
        m.worker_cpu_kills.load());
  gauge("newsreel_transcode_speed", "Sum of the running workers' speeds (x realtime).", "gauge",
        m.transcode_speed_milli.load() / 1000.0);
  gauge("newsreel_transcoded_media_seconds_total", "Seconds of media transcoded successfully.",
        "counter", m.transcode_seconds_done_milli.load() / 1000.0);
  return o.str();
}

}  // namespace newsreel::streaming
