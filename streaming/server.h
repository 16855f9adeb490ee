#pragma once
// `newsreel serve`: the HTTP/WebSocket server (libwebsockets) with media delivery under
// /media/ and /live/, the REST API under /api/v1/, events on /ws, /healthz and /metrics, and
// the job supervisor.
//
// Serving spreads over the cores: `threads` lws contexts, each with its own service thread,
// listen on the same address and port (LWS_SERVER_OPTION_ALLOW_LISTEN_SHARE, i.e. SO_REUSEPORT;
// the kernel spreads new connections over them). Only a context's own thread touches its lws
// objects and its Catalog connection; events reach it through a queue and lws_cancel_service.

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "catalog/types.h"
#include "common/status.h"
#include "streaming/data_dir.h"
#include "streaming/events.h"
#include "streaming/live_rings.h"
#include "streaming/metrics.h"
#include "streaming/tus.h"

namespace newsreel::streaming {

struct ServerOptions {
  std::filesystem::path data_dir = "data";
  std::filesystem::path web_root;  // web_player/ pages served under `/`; empty = none
  std::string host = "127.0.0.1";
  int port = 8080;
  int threads = 0;  // service threads; 0 = one per core
  // Threads for blocking work (commits that flush, fsyncs, ending jobs, sub-processes), so
  // that no service thread waits (work_pool.h).
  int blocking_threads = 4;
  // Jobs.
  int worker_concurrency = 1;
  std::string worker_binary;  // the `newsreel` binary for workers; empty = this executable
  int worker_stall_timeout_seconds = 60;
  int64_t worker_memory_limit_mb = 3072;
  int worker_nice = 10;  // workers' CPU priority: media work yields to the service threads
  // CPU time one worker may use (RLIMIT_CPU); 0: no limit. 12 hours of one core: 3 to 8 hours
  // of 1080p footage (docs/workers.md, "Isolation").
  int64_t worker_cpu_limit_seconds = 12 * 3600;
  int shutdown_grace_seconds = 10;
  int job_poll_interval_ms = 500;
  int64_t retry_backoff_ms = 10'000;  // wait before a failed job's 2nd attempt (doubles after)
  // Limits.
  size_t max_request_body_bytes = 1 << 20;
  int keepalive_timeout_seconds = 75;
  // A connection that sends nothing for this long (headers, or a body that stalls) is closed.
  int idle_timeout_seconds = 30;
  // Per client address (IPv6: per /64; docs/serving.md): connections open at once, and requests
  // as a token bucket, a sustained rate and a burst. 0 turns each off. A newsroom office puts
  // many viewers behind one NAT address: the defaults leave room for ~100 of them watching and
  // starting at once (HLS players fetch a segment every few seconds, playlists, the page).
  int max_connections_per_address = 1000;
  double rate_limit_per_address = 1000;  // requests/s
  double rate_limit_burst = 2000;        // requests at once, beyond the rate
  // Uploads (tus at /files/).
  TusOptions tus;
  int upload_sweep_interval_seconds = 60;
  size_t send_buffer_bytes = 256 * 1024;  // per-write chunk for files (pt_serv_buf_size)
  // Events queued for one slow /ws client; beyond it the backlog is replaced by one
  // "overflow" message (event_socket.h): the client is never dropped for being slow.
  int max_websocket_backlog = 1000;
  std::string cors_allow_origin = "*";
  // The site's address as viewers reach it ("https://news.example.vn", optionally with a
  // path), for the absolute URLs of share tags and oEmbed; empty: the request's Host header.
  std::string public_url;
  // How long the signed playback URLs the API hands out for drafts and unlisted videos stay
  // valid (signed_url.h; the key is data/signing-key).
  int64_t signed_url_ttl_seconds = 6 * 3600;
  // TLS: with both set the port speaks HTTPS and WSS only (docs/serving.md). The files are read
  // again on Server::ReloadTls (SIGHUP).
  std::filesystem::path tls_cert;  // PEM: the certificate, then its intermediates
  std::filesystem::path tls_key;   // PEM: its private key, unencrypted
  // Offer h2 through ALPN (TLS only). Off by default: lws 4.1.6's HPACK decoder drops header
  // names it does not know, so tus uploads cannot work over HTTP/2 (they get a 505 there).
  bool http2 = false;

  // Live streams (docs/live.md): the SRT ingest port (UDP; 0: a free one, -1: no live
  // streaming; `newsreel serve` defaults to 9000), its address, and the live workers'
  // settings. Live needs workers (worker_concurrency > 0).
  int srt_port = -1;
  std::string srt_host = "0.0.0.0";
  int srt_latency_ms = 120;
  int live_max_streams = 4;
  int live_reconnect_grace_seconds = 60;
  std::string live_ladder = "720,480,360";
  double live_segment_seconds = 2;
  double live_window_seconds = 30;
  // Low latency (docs/live.md): live workers also write LL-HLS parts (/live/<id>/ll/...), which
  // feed /ws/live/<id>; a blocking playlist or part request waits at most 3 target durations,
  // and one client address may hold this many waiting on each service thread (more: 429).
  bool live_low_latency = true;
  int max_parked_per_address = 64;
  // How far a /ws/live/<id> viewer may lag (bytes of fragments not yet sent to it) before it
  // skips ahead to a keyframe (media_ring.h).
  int64_t live_viewer_lag_bytes = 4 << 20;

  // Whether the server speaks TLS: cookies then carry `Secure`, URLs are https://.
  bool tls() const { return !tls_cert.empty(); }
};

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();  // Stop()s
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Prepares the data directory, opens the catalog, binds, starts the service threads and the
  // supervisor. kIo when the address cannot be bound.
  Status Start();

  // Reads the TLS certificate and key again (ServerOptions::tls_cert, tls_key) and makes every
  // connection that starts from now on use them; connections already open keep theirs, and
  // the listeners are not touched. When the files do not make a valid pair, the error says why
  // and the server keeps the certificate it has. Returns once every service thread uses the new
  // one. kFailedPrecondition without TLS. Any thread but a service thread.
  Status ReloadTls();

  // Stops accepting and closes connections, lets running jobs finish or requeues them, closes
  // the catalog. Idempotent; call from any thread except a service thread (not from a signal
  // handler).
  void Stop();

  const DataDir& data() const;
  Metrics& metrics();
  EventBus& events();
  // The live streams on air: a producer opens a stream's ring and pushes fMP4 fragments into
  // it; /ws/live/<id> viewers receive them (live_rings.h).
  LiveRings& live_rings();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace newsreel::streaming
