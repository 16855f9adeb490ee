#include "streaming/server.h"

#include <sys/resource.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include <libwebsockets.h>

#include "catalog/catalog.h"
#include "common/log.h"
#include "streaming/first_admin.h"
#include "streaming/internal/listener.h"
#include "streaming/internal/live_service.h"
#include "streaming/internal/service_thread.h"
#include "streaming/internal/supervisor.h"
#include "streaming/signing_key.h"

namespace newsreel::streaming {

// The server is its parts, wired here: the shared state, the work pool, the service threads,
// the supervisor and the upload janitor. Start brings them up in that order (the pool before
// the threads that submit to it); Stop takes them down so that nothing is lost: the service
// threads first (their last connections hand unfinished uploads to the pool), then the pool
// (which runs everything still queued), then the supervisor.
struct Server::Impl {
  SharedState shared;
  std::thread janitor;  // expired and unfinished uploads
  std::mutex janitor_mu;
  std::condition_variable janitor_cv;
  bool janitor_stop = false;  // guarded by janitor_mu
  std::vector<std::unique_ptr<ServiceThread>> threads;
  std::mutex stop_mu;
  bool started = false, stopped = false;
};

namespace {
void LwsLog(int level, const char* line) {
  std::string text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  NR_LOG(kWarning) << "lws: " << text;
}

// With TLS on: the certificate and key, checked before anything listens (a missing, unreadable
// or mismatched file stops the start and says which), and the session ticket keys.
Status LoadTls(SharedState& s) {
  const ServerOptions& o = s.options;
  if (o.tls_cert.empty() != o.tls_key.empty())
    return InvalidArgument("--tls-cert and --tls-key go together: give both, or neither");
  if (!o.tls()) return Status::Ok();
  auto certificate = TlsCertificate::Load(o.tls_cert, o.tls_key);
  if (!certificate.ok()) return certificate.status();
  auto keys = NewTlsTicketKeys();
  if (!keys.ok()) return keys.status();
  s.tls_ticket_keys = *keys;
  NR_LOG(kInfo) << "serve: TLS certificate " << (*certificate)->Describe();
  if ((*certificate)->expired())
    NR_LOG(kWarning) << "serve: the TLS certificate " << o.tls_cert.string()
                     << " has expired: clients will refuse it";
  std::lock_guard lock(s.tls_mu);
  s.tls_certificate = std::move(certificate).value();
  return Status::Ok();
}
}  // namespace

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->shared.options = std::move(options);
}

Server::~Server() { Stop(); }

const DataDir& Server::data() const { return impl_->shared.data; }
Metrics& Server::metrics() { return impl_->shared.metrics; }
EventBus& Server::events() { return impl_->shared.events; }
LiveRings& Server::live_rings() { return impl_->shared.live_rings; }

Status Server::Start() {
  SharedState& s = impl_->shared;
  ServerOptions& o = s.options;
  if (o.port < 1 || o.port > 65535) return InvalidArgument("port must be 1..65535");
  if (o.threads <= 0) o.threads = std::max(1u, std::thread::hardware_concurrency());
  if (o.worker_concurrency < 0) return InvalidArgument("worker concurrency must be >= 0");
  if (o.blocking_threads < 1) return InvalidArgument("blocking threads must be >= 1");
  if (o.max_connections_per_address < 0 || o.rate_limit_per_address < 0 || o.rate_limit_burst < 0)
    return InvalidArgument("per-address limits must be >= 0 (0: no limit)");
  s.address_limits = std::make_unique<AddressLimits>(
      AddressLimitOptions{.max_connections = o.max_connections_per_address,
                          .requests_per_second = o.rate_limit_per_address,
                          .burst = o.rate_limit_burst});
  if (o.worker_binary.empty()) {
    std::error_code ec;
    o.worker_binary = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    if (ec) return IoError("cannot find this executable for workers: " + ec.message());
  }
  // A bad certificate or key stops the start before anything is created or bound.
  NR_RETURN_IF_ERROR(LoadTls(s));
  s.site.tls = o.tls();
  if (!o.public_url.empty()) {
    Result<std::string> url = ParsePublicUrl(o.public_url);
    if (!url.ok()) return url.status();
    s.site.public_url = *url;
  }
  auto data = PrepareDataDir(o.data_dir);
  if (!data.ok()) return data.status();
  s.data = *data;
  if (o.signed_url_ttl_seconds < 1) return InvalidArgument("signed URL lifetime must be >= 1 s");
  {
    const bool made = !std::filesystem::exists(s.data.signing_key());
    auto key = LoadOrCreateSigningKey(s.data.signing_key());
    if (!key.ok()) return key.status().WithContext("signed URLs");
    s.playback.signer.emplace(*key);
    s.playback.ttl_seconds = o.signed_url_ttl_seconds;
    if (made)
      NR_LOG(kInfo) << "serve: made the key of signed media URLs: "
                    << s.data.signing_key().string();
  }
  std::error_code ec;
  s.media_root = std::filesystem::canonical(s.data.media(), ec);
  s.live_root = std::filesystem::canonical(s.data.live(), ec);
  if (ec) return IoError("cannot resolve the media folders: " + ec.message());
  if (!o.web_root.empty()) {
    s.web_root = std::filesystem::canonical(o.web_root, ec);
    if (ec) {
      NR_LOG(kWarning) << "serve: no web pages: cannot open " << o.web_root.string() << ": "
                       << ec.message();
      s.web_root.clear();
    }
  }
  // Create and migrate the catalog once before the threads open their own connections; on
  // first start, create the first admin (first_admin.h).
  {
    auto cat = catalog::Catalog::Open(s.data.catalog().string());
    if (!cat.ok()) return cat.status();
    Result<bool> made = EnsureFirstAdmin(**cat, s.data);
    if (!made.ok()) return made.status().WithContext("creating the first admin");
  }
  s.accounts.admin_password = AdminPasswordFile(s.data);
  s.accounts.secure_cookies = o.tls();
  // Many idle keep-alive connections need many descriptors.
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  lws_set_log_level(LLL_ERR | LLL_WARN, LwsLog);
  s.encoders = std::make_unique<EncoderList>(o.worker_binary);
  if (o.worker_concurrency > 0) {
    SupervisorOptions so;
    so.data = s.data;
    so.worker_binary = o.worker_binary;
    so.concurrency = o.worker_concurrency;
    so.poll_interval = std::chrono::milliseconds(o.job_poll_interval_ms);
    so.stall_timeout = std::chrono::seconds(o.worker_stall_timeout_seconds);
    so.memory_limit_mb = o.worker_memory_limit_mb;
    so.nice = o.worker_nice;
    so.cpu_limit_seconds = o.worker_cpu_limit_seconds;
    so.shutdown_grace = std::chrono::seconds(o.shutdown_grace_seconds);
    so.retry_backoff_ms = o.retry_backoff_ms;
    if (o.srt_port >= 0) {
      LiveServiceOptions lo;
      lo.data = s.data;
      lo.worker_binary = o.worker_binary;
      lo.srt.bind_address = o.srt_host;
      lo.srt.port = o.srt_port;
      lo.srt.latency_ms = o.srt_latency_ms;
      lo.max_streams = o.live_max_streams;
      lo.reconnect_grace = std::chrono::seconds(o.live_reconnect_grace_seconds);
      lo.ladder = o.live_ladder;
      lo.segment_seconds = o.live_segment_seconds;
      lo.window_seconds = o.live_window_seconds;
      lo.low_latency = o.live_low_latency;
      lo.rings = &s.live_rings;
      if (o.live_viewer_lag_bytes < 1) return InvalidArgument("the viewer lag must be >= 1 byte");
      lo.ring_options.max_client_bytes = static_cast<size_t>(o.live_viewer_lag_bytes);
      lo.worker_memory_limit_mb = o.worker_memory_limit_mb;
      if (o.live_max_streams < 1) return InvalidArgument("live streams at once must be >= 1");
      if (o.live_reconnect_grace_seconds < 0)
        return InvalidArgument("the reconnect grace must be >= 0 s");
      s.live = std::make_unique<LiveService>(lo, s.events, s.metrics);
      so.kinds = {TranscodeWorkerKind(so), s.live->Kind()};
    }
    s.supervisor = std::make_unique<JobSupervisor>(so, s.events, s.metrics);
  } else if (o.srt_port >= 0) {
    NR_LOG(kWarning) << "serve: live streaming is off: it needs workers (--workers 0 was given)";
  }
  NR_RETURN_IF_ERROR(CheckPortFree(o.host, o.port));
  // Live before the threads that ask it (its SRT port is bound by then) and before the
  // supervisor, so that the live jobs a previous server left are cancelled before it looks.
  if (s.live) NR_RETURN_IF_ERROR(s.live->Start(s.supervisor.get()));
  // The pool for blocking work: each thread with its own catalog connection and handlers.
  NR_RETURN_IF_ERROR(
      s.pool.Start(o.blocking_threads, [&s](int) -> Result<std::unique_ptr<PoolState>> {
        auto state = std::make_unique<PoolState>();
        auto cat = catalog::Catalog::Open(s.data.catalog().string());
        if (!cat.ok()) return cat.status().WithContext("work pool");
        state->catalog = std::move(cat).value();
        state->api = std::make_unique<ApiHandler>(s.data, *state->catalog, s.events, s.visibility,
                                                  *s.encoders, s.supervisor.get(), s.accounts,
                                                  s.playback, s.live.get(), s.site);
        state->tus = std::make_unique<TusHandler>(s.data, *state->catalog, s.events, s.upload_locks,
                                                  s.options.tus);
        return state;
      }));
  std::vector<UniqueFd> listeners;
  for (int i = 0; i < o.threads; ++i) {
    auto fd = OpenListener(o.host, o.port);
    if (!fd.ok()) {
      s.pool.Stop();
      if (s.live) s.live->Stop();
      return fd.status();
    }
    listeners.push_back(std::move(fd).value());
  }
  for (int i = 0; i < o.threads; ++i) {
    auto t = std::make_unique<ServiceThread>(s, i);
    Status st = t->Start(std::move(listeners[static_cast<size_t>(i)]));
    if (!st.ok()) {
      t->Join();
      for (auto& started : impl_->threads) started->RequestStop();
      for (auto& started : impl_->threads) started->Join();
      impl_->threads.clear();
      s.pool.Stop();
      if (s.live) s.live->Stop();
      return st;
    }
    impl_->threads.push_back(std::move(t));
  }
  if (s.supervisor) NR_RETURN_IF_ERROR(s.supervisor->Start());
  // Uploads: finish what a previous run left complete, remove what expired, then every interval.
  Impl& impl = *impl_;
  impl.janitor = std::thread([&s, &impl] {
    auto cat = catalog::Catalog::Open(s.data.catalog().string());
    if (!cat.ok()) {
      NR_LOG(kError) << "serve: upload sweeps disabled: " << cat.status().message();
      return;
    }
    TusHandler tus(s.data, **cat, s.events, s.upload_locks, s.options.tus);
    std::unique_lock lock(impl.janitor_mu);
    while (!impl.janitor_stop) {
      lock.unlock();
      try {
        tus.Sweep();
      } catch (const std::exception& e) {
        NR_LOG(kError) << "serve: upload sweep failed: " << e.what();
      }
      lock.lock();
      impl.janitor_cv.wait_for(lock, std::chrono::seconds(s.options.upload_sweep_interval_seconds),
                               [&impl] { return impl.janitor_stop; });
    }
  });
  impl.started = true;
  NR_LOG(kInfo) << "serve: listening on " << (o.tls() ? "https://" : "http://") << o.host << ":"
                << o.port << " with " << o.threads << " service thread(s), data in "
                << s.data.root.string() << ", " << o.worker_concurrency << " worker(s), "
                << o.blocking_threads << " thread(s) for blocking work";
  return Status::Ok();
}

Status Server::ReloadTls() {
  SharedState& s = impl_->shared;
  if (!s.options.tls())
    return Status(ErrorCode::kFailedPrecondition, "TLS is off: there is no certificate to reload");
  auto certificate = TlsCertificate::Load(s.options.tls_cert, s.options.tls_key);
  std::shared_ptr<const TlsCertificate> current;
  {
    std::lock_guard lock(s.tls_mu);
    current = s.tls_certificate;
  }
  if (!certificate.ok()) {
    NR_LOG(kError) << "serve: TLS reload failed, the server keeps its certificate ("
                   << (current ? current->Describe() : "none")
                   << "): " << certificate.status().message();
    return certificate.status();
  }
  {
    std::lock_guard lock(s.tls_mu);
    s.tls_certificate = *certificate;
  }
  std::vector<std::future<Status>> applied;
  {
    std::lock_guard lock(impl_->stop_mu);  // the threads stay while they apply it
    for (auto& t : impl_->threads) applied.push_back(t->UseTlsCertificate(*certificate));
    for (auto& done : applied) {
      try {
        Status st = done.get();
        if (!st.ok()) {
          NR_LOG(kError) << "serve: TLS reload: " << st.message();
          return st;
        }
      } catch (const std::future_error&) {
        // The thread stopped first: it serves no one any more.
      }
    }
  }
  NR_LOG(kInfo) << "serve: TLS certificate reloaded: " << (*certificate)->Describe();
  if ((*certificate)->expired())
    NR_LOG(kWarning) << "serve: the TLS certificate " << s.options.tls_cert.string()
                     << " has expired: clients will refuse it";
  return Status::Ok();
}

void Server::Stop() {
  Impl& impl = *impl_;
  SharedState& s = impl.shared;
  std::lock_guard lock(impl.stop_mu);
  if (impl.stopped) return;
  impl.stopped = true;
  NR_LOG(kInfo) << "serve: stopping: no new connections";
  for (auto& t : impl.threads) t->RequestStop();
  for (auto& t : impl.threads) t->Join();
  impl.threads.clear();
  s.pool.Stop();  // after the threads: it runs what their last connections handed it
  {
    std::lock_guard janitor_lock(impl.janitor_mu);
    impl.janitor_stop = true;
  }
  impl.janitor_cv.notify_all();
  if (impl.janitor.joinable()) impl.janitor.join();
  if (s.live) s.live->Stop();  // publishers first, then its thread; its workers end below
  if (s.supervisor) s.supervisor->Stop();
  s.supervisor.reset();
  if (impl.started) {
    auto cat = catalog::Catalog::Open(s.data.catalog().string());
    if (cat.ok()) (void)(*cat)->Checkpoint();
  }
  NR_LOG(kInfo) << "serve: stopped";
}

}  // namespace newsreel::streaming
