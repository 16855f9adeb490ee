// `newsreel serve`: the server (HTTP, WebSocket, REST API, media delivery, job supervisor).
#include <signal.h>

#include <iostream>

#include "app/commands.h"
#include "common/log.h"
#include "streaming/server.h"

namespace newsreel::app {

CommandRunner RegisterServeCommand(CLI::App& app) {
  auto o = std::make_shared<streaming::ServerOptions>();
  o->srt_port = 9000;  // live ingest on by default (docs/live.md)
  o->web_root = NEWSREEL_WEB_ROOT;
  auto* cmd = app.add_subcommand("serve", "Run the server: media, REST API, events, job workers");
  cmd->set_config("--config", "", "Config file (TOML or INI) with any of these options");
  cmd->add_option("--data", o->data_dir, "Data directory (created when missing)")
      ->capture_default_str();
  cmd->add_option("--web-root", o->web_root, "Folder of the web pages served under /")
      ->capture_default_str();
  cmd->add_option("--host", o->host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", o->port, "TCP port")
      ->capture_default_str()
      ->check(CLI::Range(1, 65535));
  cmd->add_option("--threads", o->threads, "HTTP service threads (0: one per core)")
      ->check(CLI::Range(0, 256));
  cmd->add_option("--workers", o->worker_concurrency, "Transcode jobs run at once (0: none)")
      ->capture_default_str()
      ->check(CLI::Range(0, 64));
  cmd->add_option("--worker-stall-timeout", o->worker_stall_timeout_seconds,
                  "End a worker that reports nothing for this many seconds")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400));
  cmd->add_option("--worker-nice", o->worker_nice,
                  "CPU priority of workers (nice 0-19): media work yields to serving")
      ->check(CLI::Range(0, 19));
  cmd->add_option("--blocking-threads", o->blocking_threads,
                  "Threads for blocking work (commits, fsyncs, ending jobs) off the event loops")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--worker-memory-mb", o->worker_memory_limit_mb,
                  "End a worker whose resident memory exceeds this")
      ->capture_default_str()
      ->check(CLI::Range(16, 1 << 20));
  cmd->add_option("--worker-cpu-limit-seconds", o->worker_cpu_limit_seconds,
                  "End a worker that has used this much CPU time (0: no limit); its job fails")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{30} * 86400));
  cmd->add_option("--shutdown-grace", o->shutdown_grace_seconds,
                  "On SIGTERM, wait this long for running jobs before requeueing them")
      ->capture_default_str()
      ->check(CLI::Range(0, 3600));
  cmd->add_option("--job-poll-ms", o->job_poll_interval_ms, "How often the job queue is checked")
      ->capture_default_str()
      ->check(CLI::Range(50, 60000));
  cmd->add_option("--retry-backoff-ms", o->retry_backoff_ms,
                  "Wait before a failed job's second attempt (doubles for each further one)")
      ->capture_default_str()
      ->check(CLI::Range(0, 86400000));
  cmd->add_option("--max-body-bytes", o->max_request_body_bytes, "Largest API request body")
      ->capture_default_str();
  cmd->add_option("--keepalive-timeout", o->keepalive_timeout_seconds,
                  "Seconds an idle keep-alive connection is kept")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  cmd->add_option("--idle-timeout", o->idle_timeout_seconds,
                  "Close a connection that sends nothing for this many seconds")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  cmd->add_option("--max-connections-per-address", o->max_connections_per_address,
                  "Connections one client address (IPv6: one /64) may hold open; more get 429 "
                  "(0: no limit)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 24));
  cmd->add_option("--rate-limit-per-address", o->rate_limit_per_address,
                  "Requests per second one client address may make, sustained; more get 429 "
                  "with Retry-After (0: no limit)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e9));
  cmd->add_option("--rate-limit-burst", o->rate_limit_burst,
                  "Requests one client address may make at once beyond the rate")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e9));
  auto expiry = std::make_shared<int64_t>(o->tus.expiry.count());
  auto grace = std::make_shared<int64_t>(o->tus.rate_grace.count());
  cmd->add_option("--upload-max-size", o->tus.max_size, "Largest upload in bytes (Tus-Max-Size)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 50));
  cmd->add_option("--upload-quota", o->tus.quota_bytes,
                  "Bytes one reporter may hold in uploads (0: no quota)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 52));
  cmd->add_option("--upload-expiry", *expiry,
                  "Seconds an untouched unfinished upload is kept before it is removed")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{365} * 86400));
  cmd->add_option("--upload-min-rate", o->tus.min_rate_bytes_per_second,
                  "Cut off upload requests slower than this many bytes/s on average (0: never)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  cmd->add_option("--upload-rate-grace", *grace,
                  "Seconds an upload request may run before the minimum rate applies")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{3600}));
  cmd->add_option("--upload-sweep-interval", o->upload_sweep_interval_seconds,
                  "Seconds between removals of expired uploads")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400));
  cmd->add_option("--cors-origin", o->cors_allow_origin, "Access-Control-Allow-Origin")
      ->capture_default_str();
  cmd->add_option("--public-url", o->public_url,
                  "The site's address as viewers reach it (https://news.example.vn), for the "
                  "absolute URLs of share tags and oEmbed; unset: the request's Host header");
  auto* tls_cert = cmd->add_option("--tls-cert", o->tls_cert,
                                   "Serve HTTPS and WSS: PEM certificate, then its intermediates "
                                   "(read again on SIGHUP)");
  auto* tls_key = cmd->add_option(
      "--tls-key", o->tls_key, "PEM private key of --tls-cert, unencrypted (read again on SIGHUP)");
  tls_cert->needs(tls_key);
  tls_key->needs(tls_cert);
  cmd->add_flag("--http2", o->http2,
                "With TLS, offer HTTP/2 too (media and API; uploads then need HTTP/1.1)");
  cmd->add_option("--signed-url-ttl", o->signed_url_ttl_seconds,
                  "Seconds the signed playback URLs of drafts and unlisted videos stay valid")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{60}, int64_t{366} * 86400));
  cmd->add_option("--srt-port", o->srt_port,
                  "UDP port of the SRT live ingest and pull (0: a free one; -1: no live streaming)")
      ->capture_default_str()
      ->check(CLI::Range(-1, 65535));
  cmd->add_option("--srt-host", o->srt_host, "Address the SRT port listens on (:: for IPv6 too)")
      ->capture_default_str();
  cmd->add_option("--srt-latency-ms", o->srt_latency_ms,
                  "SRT latency offered to encoders and pullers (the larger side's wins)")
      ->capture_default_str()
      ->check(CLI::Range(20, 8000));
  cmd->add_option("--live-streams", o->live_max_streams,
                  "Live streams published at once (each takes a live worker: about 40-50 % of "
                  "2 cores for 1080p in with the default ladder)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_option("--live-reconnect-grace", o->live_reconnect_grace_seconds,
                  "Seconds a stream whose encoder dropped waits for it before it ends")
      ->capture_default_str()
      ->check(CLI::Range(0, 86400));
  cmd->add_option("--live-ladder", o->live_ladder,
                  "Short sides of the live rungs, highest first (never above the source)")
      ->capture_default_str();
  cmd->add_option("--live-segment-seconds", o->live_segment_seconds,
                  "Live segment duration, also the GOP")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 6.0));
  cmd->add_option("--live-window-seconds", o->live_window_seconds,
                  "Media listed in each live playlist (at least 3 segments)")
      ->capture_default_str()
      ->check(CLI::Range(3.0, 3600.0));
  cmd->add_option("--live-low-latency", o->live_low_latency,
                  "Low-latency live: LL-HLS parts under /live/<id>/ll/ and WebSocket media at "
                  "/ws/live/<id> (true or false)")
      ->capture_default_str();
  cmd->add_option("--max-parked-per-address", o->max_parked_per_address,
                  "LL-HLS requests one client address may hold waiting, per service thread")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--live-viewer-lag-bytes", o->live_viewer_lag_bytes,
                  "How far a /ws/live viewer may fall behind before it skips to a keyframe")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
  return [o, expiry, grace] {
    o->tus.expiry = std::chrono::seconds(*expiry);
    o->tus.rate_grace = std::chrono::seconds(*grace);
    // Signals are taken by this thread with sigwait; every other thread (lws service threads,
    // the supervisor) inherits the blocked mask. SIGHUP reloads the TLS certificate.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    signal(SIGPIPE, SIG_IGN);
    streaming::Server server(*o);
    Status started = server.Start();
    if (!started.ok()) {
      std::cerr << "newsreel serve: " << started.message() << "\n";
      return 1;
    }
    int sig = 0;
    while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
      if (!o->tls()) {
        NR_LOG(kInfo) << "serve: got SIGHUP: nothing to reload without --tls-cert";
        continue;
      }
      NR_LOG(kInfo) << "serve: got SIGHUP: reloading the TLS certificate";
      (void)server.ReloadTls();  // logs the outcome; a failure keeps the old certificate
    }
    NR_LOG(kInfo) << "serve: got " << (sig == SIGTERM ? "SIGTERM" : "SIGINT");
    server.Stop();
    return 0;
  };
}

}  // namespace newsreel::app
