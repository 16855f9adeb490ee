#pragma once
// One service thread: an lws context on its own epoll loop (libev) with its own SO_REUSEPORT
// listener, its own catalog connection, and an inbox through which other threads (the event
// bus, the work pool) hand it work. Only this thread touches its lws objects; it never waits:
// anything that may block goes to the work pool and comes back through the inbox.
//
// See docs/architecture.md for how a request, an upload and a job travel through it.

#include <atomic>
#include <deque>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

#include "catalog/catalog.h"
#include "common/status.h"
#include "streaming/data_dir.h"
#include "streaming/events.h"
#include "streaming/internal/address_limits.h"
#include "streaming/internal/api.h"
#include "streaming/internal/listener.h"
#include "streaming/internal/live_service.h"
#include "streaming/internal/share_meta.h"
#include "streaming/internal/tls.h"
#include "streaming/internal/visibility_cache.h"
#include "streaming/internal/work_pool.h"
#include "streaming/live_rings.h"
#include "streaming/metrics.h"
#include "streaming/server.h"
#include "streaming/signed_url.h"
#include "streaming/tus.h"

struct lws_context;

namespace newsreel::streaming {

class JobSupervisor;

// What a pool thread owns: its catalog connection and the handlers that run there.
struct PoolState {
  std::unique_ptr<catalog::Catalog> catalog;
  std::unique_ptr<ApiHandler> api;
  std::unique_ptr<TusHandler> tus;
};
using BlockingPool = WorkPool<PoolState>;

// What the service threads share. Owned by the Server; outlives every service thread and the
// pool. Everything here is thread-safe or read-only once the threads run.
struct SharedState {
  ServerOptions options;
  DataDir data;
  std::filesystem::path media_root, live_root;  // canonical
  std::filesystem::path web_root;               // canonical, empty when there are no pages
  Metrics metrics;
  EventBus events;
  VisibilityCache visibility;
  PlaybackSigning playback;  // the key of signed media URLs and their lifetime
  SiteAddress site;          // for the absolute URLs of share tags and oEmbed (share_meta.h)
  UploadLocks upload_locks;
  std::unique_ptr<AddressLimits> address_limits;  // per client address, over every thread
  std::unique_ptr<EncoderList> encoders;
  std::unique_ptr<JobSupervisor> supervisor;  // null when no jobs run here
  std::unique_ptr<LiveService> live;          // null when live streaming is off
  LiveRings live_rings;                       // live streams on air, for /ws/live/<id>
  AccountServices accounts;                   // signing in (accounts.h)
  BlockingPool pool;
  // TLS (options.tls()): the certificate that connections starting now get, and the session
  // ticket keys (fixed before the threads start).
  std::mutex tls_mu;
  std::shared_ptr<const TlsCertificate> tls_certificate;  // guarded by tls_mu
  TlsTicketKeys tls_ticket_keys{};
};

// Work handed to a service thread from elsewhere. Shared (shared_ptr) by everyone who may
// post, so that posting after the thread stopped is safe: the task is dropped.
class Inbox {
 public:
  // Queues `task` to run on the service thread and wakes it. Any thread.
  void Post(std::function<void()> task);

 private:
  friend class ServiceThread;
  std::mutex mu_;
  lws_context* context_ = nullptr;           // guarded by mu_; null: closed
  std::deque<std::function<void()>> tasks_;  // guarded by mu_
};

class ServiceThread {
 public:
  // `shared` must outlive the thread.
  ServiceThread(SharedState& shared, int index);
  ~ServiceThread();

  // Creates the context on `listener` and starts the thread.
  Status Start(UniqueFd listener);

  // Asks the thread to stop (any thread but this one); Join waits for it. The context and
  // every connection are destroyed on the service thread.
  void RequestStop();
  void Join();

  // Makes the thread's TLS context present `certificate` to connections that start from now on
  // (tls.h). Any thread; the future is ready once the thread has done it, with its status (a
  // broken promise when the thread stopped first).
  std::future<Status> UseTlsCertificate(std::shared_ptr<const TlsCertificate> certificate);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace newsreel::streaming
