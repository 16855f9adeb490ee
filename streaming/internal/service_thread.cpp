#include "streaming/internal/service_thread.h"

#include <ev.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "catalog/ids.h"
#include "common/log.h"
#include "streaming/internal/event_socket.h"
#include "streaming/internal/health.h"
#include "streaming/internal/http_util.h"
#include "streaming/internal/ll_hls.h"
#include "streaming/internal/lru_cache.h"
#include "streaming/internal/lws_workarounds.h"
#include "streaming/internal/media_delivery.h"
#include "streaming/internal/media_files.h"
#include "streaming/internal/response_writer.h"
#include "streaming/internal/router.h"
#include "streaming/internal/supervisor.h"
#include "streaming/internal/tus_framing.h"
#include "streaming/internal/ws_endpoints.h"
#include "streaming/media_ring.h"

namespace newsreel::streaming {

namespace {

// Files up to this size go out in the same write as their headers; larger ones by sendfile.
constexpr uint64_t kInlineFileBytes = 64 * 1024;
// An HTTP/2 DATA frame's payload: the largest every peer must accept (SETTINGS_MAX_FRAME_SIZE
// is at least this). lws writes one frame per lws_write and does not split it.
constexpr size_t kH2FrameBytes = 16 * 1024;
// The payload of one WebSocket fragment over HTTP/2: a DATA frame less the largest header a
// server's WebSocket frame has (2 + 8 bytes, unmasked).
constexpr size_t kWsHeaderBytes = 10;
constexpr size_t kWsH2FragmentBytes = kH2FrameBytes - kWsHeaderBytes;
// Responses kept whole per service thread (response_cache_): files up to this size, and this
// much in all.
constexpr uint64_t kCachedResponseFileBytes = 16 * 1024;
constexpr size_t kResponseCacheBytes = 8 << 20;
constexpr size_t kGzipCacheBytes = 8 << 20;
// SO_SNDBUF of a /ws/live viewer's socket (the kernel doubles it); see StartLiveViewer.
constexpr int kLiveViewerSendBuffer = 128 << 10;

struct ContextDeleter {
  void operator()(lws_context* c) const { lws_context_destroy(c); }
};

// The answer the pool computes for a deferred request: posted back to the service thread, or
// waited for there in the one case lws leaves no choice (see LWS_CALLBACK_HTTP_BODY_COMPLETION).
struct PendingAnswer {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<HttpResponse> response;  // guarded by mu
};

// One HTTP transaction or WebSocket connection. Created on first use, destroyed with the wsi.
struct Session {
  uint64_t serial = 0;  // names the connection in work posted back from the pool
  // HTTP/2 (over TLS): each stream is a wsi and a Session of its own, whose `network` is the
  // connection's wsi. A connection's Session counts its streams (see CloseIdle).
  bool h2 = false;
  lws* network = nullptr;  // h2 streams only
  int streams = 0;         // on the connection's Session: streams open now
  bool carried_streams = false;
  // An HTTP/2 stream whose response is written, waiting for its connection to send it (see
  // Continue), and whether it closes then.
  bool h2_draining = false;
  bool h2_close_after = false;
  int refused_return = -1;  // an HTTP/2 stream refused by the limits: its callback's answer
  // Request.
  RequestContext request;
  Route route;
  bool awaiting_body = false;
  bool body_too_large = false;
  // A POST, PUT or PATCH without Content-Length: lws 4.1 then waits for a body that never
  // comes, and the connection's next request would hang. Its answer closes the connection.
  bool length_unknown = false;
  // A tus request body being written into an upload.
  std::unique_ptr<TusWrite> tus;
  // A refusal answered once the (small) body it refused has been read and dropped.
  std::optional<HttpResponse> after_body;
  // When the request's head had arrived, and how much of a body that is not an upload has
  // arrived since (SlowBodyRate).
  std::chrono::steady_clock::time_point body_started;
  uint64_t body_received = 0;
  // Work on the pool answers this request while `pending` is set: the connection waits (and is
  // never idle-closed); the answer arrives in `ready` and goes out from WRITEABLE.
  std::shared_ptr<PendingAnswer> pending;
  std::optional<HttpResponse> ready;
  int body_completions = 0;  // LWS_CALLBACK_HTTP_BODY_COMPLETION calls for this request
  // For idle connections (see ServiceThread::Impl::CloseIdle).
  std::chrono::steady_clock::time_point last_activity = std::chrono::steady_clock::now();
  int requests = 0;
  // Response body still to send: either `body` from `body_sent`, or the file range.
  std::string body;
  size_t body_sent = 0;
  int fd = -1;
  uint64_t file_pos = 0, file_end = 0;  // [pos, end)
  // A response to keep whole once sent (response_cache_): the file and its stat.
  std::string store_as;
  struct stat store_stat {};
  KeptAliveScreen screen;
  // WebSocket: events (/ws), or a live stream's media (/ws/live/<id>).
  std::unique_ptr<EventSocket> events;
  std::string live_stream;          // the stream id, from the upgrade request
  std::string live_rung;            // ?rung=; empty: the top rung
  std::optional<MediaCursor> live;  // where this viewer is in the stream's ring
  // A WebSocket message over HTTP/2 that goes out in fragments (WriteWsFragment).
  struct WsPending {
    std::shared_ptr<const std::string> message;
    size_t sent = 0;
    bool binary = false;
  };
  std::optional<WsPending> ws_pending;
  uint64_t live_skipped_counted = 0;  // of live->skipped_frames(), already in the metrics
  // LL-HLS: a request held back until the live worker announces a part (ParkedRequests); it
  // waits like a deferred one (never idle-closed). Woken, it is served from WRITEABLE as the
  // files are then (`unparking`), with the headers and the visibility read when it arrived.
  bool parked = false;
  bool unparking = false;
  std::optional<DeliveryRequest> delivery;  // the request's delivery headers, while parked
  std::optional<bool> visible;              // whether the caller may see the stream
  // The address this connection counts against (AddressLimits), until it is destroyed.
  std::optional<AddressKey> address;

  ~Session() {
    if (fd >= 0) close(fd);
  }
  void ResetResponse() {
    if (fd >= 0) close(fd);
    fd = -1;
    body.clear();
    body_sent = 0;
    file_pos = file_end = 0;
    store_as.clear();
  }
};

// Whole responses (status line, headers, body) to a plain GET of a small file, by file path.
// Each holds the inode, size and modification time the file had: a file written anew (and
// renamed into place, as everything under data/ is) or removed is never answered from here,
// since every hit first lstat()s the path. Playlists are most of what it holds.
// The change time as well, which no one can set back (cp -p and rsync -t set mtime).
struct CachedResponse {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  timespec mtime{}, ctime{};
  std::string bytes;
  bool Matches(const struct stat& st) const {
    return S_ISREG(st.st_mode) && st.st_dev == dev && st.st_ino == ino && st.st_size == size &&
           st.st_mtim.tv_sec == mtime.tv_sec && st.st_mtim.tv_nsec == mtime.tv_nsec &&
           st.st_ctim.tv_sec == ctime.tv_sec && st.st_ctim.tv_nsec == ctime.tv_nsec;
  }
};

}  // namespace

void Inbox::Post(std::function<void()> task) {
  std::lock_guard lock(mu_);
  if (!context_) return;  // the thread stopped: nothing will run it
  tasks_.push_back(std::move(task));
  lws_cancel_service(context_);
}

class ServiceThread::Impl {
 public:
  Impl(SharedState& shared, int index)
      : shared_(shared), index_(index), tls_(shared.options.tls()) {}

  ~Impl() { Join(); }

  Status Start(UniqueFd listener) {
    auto cat = catalog::Catalog::Open(shared_.data.catalog().string());
    if (!cat.ok()) return cat.status();
    catalog_ = std::move(cat).value();
    api_ =
        std::make_unique<ApiHandler>(shared_.data, *catalog_, shared_.events, shared_.visibility,
                                     *shared_.encoders, shared_.supervisor.get(), shared_.accounts,
                                     shared_.playback, shared_.live.get(), shared_.site);
    tus_ = std::make_unique<TusHandler>(shared_.data, *catalog_, shared_.events,
                                        shared_.upload_locks, shared_.options.tus);
    buffer_.resize(LWS_PRE + shared_.options.send_buffer_bytes);

    // tx_packet_size bounds each socket write of lws (0: rx_buffer_size, 4 KB). Over TLS a
    // body goes through lws in writes of up to send_buffer_bytes: one TLS write each, not 64.
    protocols_[0] = {"newsreel",
                     &Impl::Callback,
                     sizeof(void*),
                     4096,
                     0,
                     nullptr,
                     tls_ ? shared_.options.send_buffer_bytes : 0};
    protocols_[1] = {nullptr, nullptr, 0, 0, 0, nullptr, 0};
    lws_context_creation_info info;
    std::memset(&info, 0, sizeof info);
    // The context does not listen itself: Debian's lws 4.1.6 does not set SO_REUSEPORT for
    // LWS_SERVER_OPTION_ALLOW_LISTEN_SHARE, so a second context could not bind the port. Each
    // thread gets its own SO_REUSEPORT listener instead (listener.h), adopted below as a raw
    // descriptor; its readiness arrives as LWS_CALLBACK_RAW_RX_FILE on this thread, which
    // accepts and admits the new connections into this context.
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    info.protocols = protocols_;
    info.user = this;
    info.count_threads = 1;
    info.pt_serv_buf_size = static_cast<unsigned int>(shared_.options.send_buffer_bytes);
    info.keepalive_timeout = shared_.options.keepalive_timeout_seconds;
    info.timeout_secs = static_cast<unsigned int>(shared_.options.idle_timeout_seconds);
    info.max_http_header_data = 8192;
    // An epoll loop (libev) instead of lws's default poll(): poll() scans every descriptor on
    // each wake-up, which costs more than the requests themselves with thousands of
    // keep-alive connections. The loop is ours and runs on this thread (see Run).
    loop_ = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    if (!loop_) return Internal("cannot create an event loop");
    foreign_loops_[0] = loop_;
    info.foreign_loops = foreign_loops_;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_LIBEV;
    if (tls_) {
      // lws creates the vhost's SSL_CTX without a certificate; OnTlsContext sets it up (tls.h).
      // Connections adopted into the vhost then start with a TLS handshake; ALPN offers h2.
      info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_CREATE_VHOST_SSL_CTX;
      info.alpn = shared_.options.http2 ? "h2,http/1.1" : "http/1.1";
    }
    lws_context* ctx = lws_create_context(&info);
    if (!ctx) return Internal("cannot create a libwebsockets context");
    context_.reset(ctx);
    lws_vhost* vhost = lws_get_vhost_by_name(ctx, "default");
    if (!vhost) return Internal("the libwebsockets context has no vhost");
    workarounds_ = std::make_unique<LwsWorkarounds>(loop_, shared_.metrics,
                                                    shared_.options.cors_allow_origin, tls_);
    workarounds_->SetDescriptorEvents(
        {.released = [this](int fd, lws* wsi) { OnDescriptorReleased(fd, wsi); },
         .refused = [this](lws* wsi, int fd) { OnRequestRefused(wsi, fd); }});
    NR_RETURN_IF_ERROR(workarounds_->Start(vhost));
    lws_sock_file_fd_type desc;
    desc.filefd = listener.get();
    listener_wsi_ =
        lws_adopt_descriptor_vhost(vhost, LWS_ADOPT_RAW_FILE_DESC, desc, "newsreel", nullptr);
    if (!listener_wsi_) return Internal("cannot adopt the listening socket");
    listen_fd_ = listener.Release();  // the context owns it now
    sessions_.erase(listener_wsi_);   // the listener is not a connection
    shared_.metrics.open_connections.fetch_sub(1);
    ev_timer_init(&idle_timer_, &Impl::OnIdleTimer, 1.0, 1.0);
    idle_timer_.data = this;
    ev_timer_start(loop_, &idle_timer_);
    inbox_ = std::make_shared<Inbox>();
    {
      std::lock_guard lock(inbox_->mu_);
      inbox_->context_ = ctx;
    }
    subscription_ =
        shared_.events.Subscribe([inbox = inbox_, this](std::shared_ptr<const Event> e) {
          inbox->Post([this, e = std::move(e)] { DeliverEvent(e); });
        });
    part_subscription_ = shared_.live_rings.SubscribeParts(
        [inbox = inbox_, this](const std::string& stream, const std::string& rung,
                               PartPosition position, bool ended) {
          inbox->Post([this, stream, rung, position, ended] {
            OnPartNoted(stream, rung, position, ended);
          });
        });
    thread_ = std::thread([this] { Run(); });
    return Status::Ok();
  }

  void RequestStop() {
    stop_.store(true);
    if (inbox_) inbox_->Post([] {});  // wakes the loop, which sees stop_
  }

  void Join() {
    if (thread_.joinable()) thread_.join();
    if (subscription_) shared_.events.Unsubscribe(subscription_);
    subscription_ = 0;
    if (part_subscription_) shared_.live_rings.UnsubscribeParts(part_subscription_);
    part_subscription_ = 0;
    if (!thread_started_) TearDown();  // Start failed half-way: clean up on this thread
  }

  std::future<Status> UseTlsCertificate(std::shared_ptr<const TlsCertificate> certificate) {
    auto done = std::make_shared<std::promise<Status>>();
    std::future<Status> future = done->get_future();
    if (!inbox_) return future;  // never started: the promise breaks here
    inbox_->Post([this, done, certificate = std::move(certificate)] {
      done->set_value(ssl_ctx_ ? certificate->Use(ssl_ctx_)
                               : Internal("TLS: this service thread has no TLS context"));
    });
    return future;
  }

 private:
  void Run() {
    thread_started_ = true;
    while (!stop_.load()) ev_run(loop_, 0);  // returns on ev_break (see EVENT_WAIT_CANCELLED)
    TearDown();
  }

  // Destroys the context and every connection, on the thread that ran them.
  void TearDown() {
    shared_.events.Unsubscribe(subscription_);
    subscription_ = 0;
    if (part_subscription_) shared_.live_rings.UnsubscribeParts(part_subscription_);
    part_subscription_ = 0;
    if (inbox_) {
      std::lock_guard lock(inbox_->mu_);
      inbox_->context_ = nullptr;  // from here on, posts are dropped
      inbox_->tasks_.clear();
    }
    if (loop_) ev_timer_stop(loop_, &idle_timer_);
    for (auto& [id, group] : live_groups_) group.ring->Unsubscribe(group.subscription);
    live_groups_.clear();
    if (workarounds_) workarounds_->Stop();
    context_.reset();  // closes the listener and every connection, on this thread
    listen_fd_ = -1;
    sessions_.clear();
    by_serial_.clear();
    workarounds_.reset();
    if (loop_) {
      ev_run(loop_, EVRUN_NOWAIT);
      ev_loop_destroy(loop_);
      loop_ = nullptr;
    }
    api_.reset();
    tus_.reset();
    catalog_.reset();
  }

  static int Callback(lws* wsi, lws_callback_reasons reason, void* user, void* in,
                      size_t len) noexcept {
    lws_context* ctx = lws_get_context(wsi);
    auto* self = ctx ? static_cast<Impl*>(lws_context_user(ctx)) : nullptr;
    if (!self) return 0;
    try {
      if (reason == LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS)
        return self->OnTlsContext(static_cast<SSL_CTX*>(user));
      return self->Handle(wsi, reason, in, len);
    } catch (const std::exception& e) {
      NR_LOG(kError) << "http: unexpected exception: " << e.what();
      return -1;
    }
  }

  // The vhost's SSL_CTX, as lws creates it (inside lws_create_context, on the thread that
  // starts this one): our settings, the session ticket keys and the current certificate.
  int OnTlsContext(SSL_CTX* ctx) {
    Status configured = ConfigureTlsContext(ctx, shared_.tls_ticket_keys);
    if (configured.ok()) {
      std::shared_ptr<const TlsCertificate> certificate;
      {
        std::lock_guard lock(shared_.tls_mu);
        certificate = shared_.tls_certificate;
      }
      configured = certificate ? certificate->Use(ctx) : Internal("TLS: no certificate loaded");
    }
    if (!configured.ok()) {
      NR_LOG(kError) << "serve: " << configured.message();
      return 1;
    }
    ssl_ctx_ = ctx;
    return 0;
  }

  Session& SessionFor(lws* wsi) {
    auto& s = sessions_[wsi];
    if (!s) {
      s = std::make_unique<Session>();
      s->serial = ++next_serial_;
      by_serial_[s->serial] = wsi;
    }
    return *s;
  }

  // An HTTP/2 stream: its Session is marked, and its connection's counts it (the connection is
  // not idle while it has streams, see CloseIdle). A stream is no connection of its own for
  // the metrics, though lws announces it like one (WSI_CREATE).
  void NoteStream(lws* wsi, Session& s) {
    if (s.network) return;
    lws* network = lws_get_network_wsi(wsi);
    if (network == nullptr || network == wsi) return;
    s.h2 = true;
    s.network = network;
    shared_.metrics.open_connections.fetch_sub(1);
    Session& connection = SessionFor(network);
    ++connection.streams;
    connection.carried_streams = true;
  }

  void StreamEnded(const Session& stream) {
    auto found = sessions_.find(stream.network);
    if (found == sessions_.end()) return;
    Session& connection = *found->second;
    --connection.streams;
    connection.last_activity = std::chrono::steady_clock::now();  // keep-alive idle from here
  }

  int Handle(lws* wsi, lws_callback_reasons reason, void* in, size_t len) {
    Metrics& m = shared_.metrics;
    switch (reason) {
      case LWS_CALLBACK_WSI_CREATE:
        m.open_connections.fetch_add(1);
        SessionFor(wsi);  // starts its idle clock
        return 0;
      case LWS_CALLBACK_WSI_DESTROY: {
        auto it = sessions_.find(wsi);
        if (it == sessions_.end() || !it->second->network) m.open_connections.fetch_sub(1);
        if (it == sessions_.end()) return 0;
        Session& s = *it->second;
        if (s.address) shared_.address_limits->ConnectionClosed(*s.address);
        if (s.network) StreamEnded(s);
        // The connection ended before the body did: keep what arrived (a flush and a commit,
        // on the pool).
        if (s.tus) {
          std::shared_ptr<TusWrite> write(std::move(s.tus));
          shared_.pool.Submit([write](PoolState& pool) mutable {
            pool.tus->Abandon(*write);
            write.reset();  // releases the upload's lock
          });
        }
        if (workarounds_) workarounds_->Forget(wsi, s.screen);
        if (s.parked) {
          parked_.Remove(s.serial);
          shared_.metrics.ll_parked_requests.fetch_sub(1);
        }
        by_serial_.erase(s.serial);
        sessions_.erase(it);
        return 0;
      }
      case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        RunInbox();
        if (stop_.load() && loop_) ev_break(loop_, EVBREAK_ALL);
        return 0;
      case LWS_CALLBACK_RAW_RX_FILE:  // the listener is readable: accept what is waiting
        for (int i = 0; i < 256; ++i) {
          sockaddr_storage peer{};
          socklen_t peer_len = sizeof peer;
          int c = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &peer_len,
                          SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          if (stop_.load()) {
            close(c);
            continue;
          }
          if (AdmitConnection(c, peer, peer_len)) workarounds_->Admit(c);
        }
        return 0;
      case LWS_CALLBACK_RAW_CLOSE_FILE:
        listen_fd_ = -1;
        return 0;
      case LWS_CALLBACK_HTTP: {
        Session& s = SessionFor(wsi);
        NoteStream(wsi, s);
        workarounds_->StopScreen(s.screen);  // lws has the request (from bytes it held)
        if (!AdmitRequest(wsi, s)) return s.h2 ? s.refused_return : -1;
        s.ResetResponse();
        s.awaiting_body = s.body_too_large = false;
        s.body_completions = 0;
        s.after_body.reset();
        s.last_activity = s.body_started = std::chrono::steady_clock::now();
        s.body_received = 0;
        ++s.requests;
        return OnHttpRequest(wsi, s);
      }
      case LWS_CALLBACK_HTTP_BODY: {
        Session& s = SessionFor(wsi);
        if (!s.awaiting_body) return 0;  // see LWS_CALLBACK_HTTP_BODY_COMPLETION
        s.last_activity = std::chrono::steady_clock::now();
        if (s.tus) return OnUploadData(wsi, s, static_cast<const char*>(in), len);
        s.body_received += len;
        if (std::optional<int64_t> rate = SlowBodyRate(s, s.body_received)) {
          NR_LOG(kInfo) << "http: cutting off " << Peer(wsi) << ": " << s.request.method << " "
                        << s.request.path << " body at " << *rate << " B/s, below the minimum "
                        << shared_.options.tus.min_rate_bytes_per_second << " B/s";
          return -1;
        }
        if (s.after_body) return 0;
        if (s.request.body.size() + len > shared_.options.max_request_body_bytes)
          s.body_too_large = true;
        else
          s.request.body.append(static_cast<const char*>(in), len);
        return 0;
      }
      case LWS_CALLBACK_HTTP_BODY_COMPLETION: {
        Session& s = SessionFor(wsi);
        // lws 4.1 reports the end of a body again and again, without returning to the loop,
        // while a request it read from bytes it already held (pipelined behind an earlier one)
        // has no answer (lws_workarounds.h). Such a request cannot wait for the pool like the
        // others: its answer is waited for here, and the connection closed after it. Clients
        // that pipeline bodies are rare (tus clients do not); every other request never waits.
        // (lws also reports an empty body once after a POST with "Content-Length: 0", which
        // may already wait for the pool: that first report is not a repeat.)
        ++s.body_completions;
        if (s.pending) return s.body_completions > 1 ? AnswerNow(wsi, s) : 0;
        if (!s.awaiting_body) return 0;
        s.awaiting_body = false;
        if (s.tus) return FinishUpload(wsi, s);
        if (s.after_body) {
          HttpResponse resp = std::move(*s.after_body);
          s.after_body.reset();
          return Send(wsi, s, resp);
        }
        if (s.body_too_large)
          return Send(wsi, s, ErrorResponse(413, "invalid_argument", "request body too large"));
        return AnswerApi(wsi, s);
      }
      case LWS_CALLBACK_HTTP_WRITEABLE: {
        Session& s = SessionFor(wsi);
        if (s.ready) {
          HttpResponse resp = std::move(*s.ready);
          s.ready.reset();
          return Send(wsi, s, resp);
        }
        if (s.unparking) {
          current_wsi_ = wsi;
          const int r = ServeMedia(wsi, s, s.route.rest, /*live=*/true);
          s.unparking = false;
          s.delivery.reset();
          s.visible.reset();
          return r;
        }
        return OnHttpWriteable(wsi, s);
      }
      case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        // WebSocket upgrades on the paths of the endpoint table (ws_endpoints.h): /ws for
        // events, /ws/live/<id> for a stream on air (live_rings.h). Over HTTP/2 (RFC 8441) the
        // path is the CONNECT request's.
        // A refused upgrade is answered (lws would close it without a word) and closed.
        NoteStream(wsi, SessionFor(wsi));
        if (!AdmitRequest(wsi, SessionFor(wsi))) return 1;
        char uri[128] = "";
        std::optional<WsRoute> route;
        const bool h2 = SessionFor(wsi).h2;
        if (lws_hdr_copy(wsi, uri, sizeof uri,
                         h2 ? WSI_TOKEN_HTTP_COLON_PATH : WSI_TOKEN_GET_URI) >= 0) {
          std::string_view path(uri);
          route = MatchWebSocketPath(path.substr(0, path.find('?')));
        }
        if (!route) {
          workarounds_->RefuseRequest(wsi, {404, "no WebSocket endpoint at this path", {}});
          return 1;
        }
        // Version 13 only (lws 4.1 accepts others). Over plain HTTP the head screen answers
        // this with a 426 first (lws_workarounds.h); over TLS it cannot see the head.
        char version[8] = "";
        if (lws_hdr_copy(wsi, version, sizeof version, WSI_TOKEN_VERSION) < 0 ||
            std::strcmp(version, "13") != 0) {
          workarounds_->RefuseRequest(wsi, {426,
                                            "WebSocket version 13 is the one spoken here",
                                            {{"sec-websocket-version", "13"}}});
          return 1;
        }
        // A subscriber sees the events its caller may see (authorize.h); bad credentials
        // refuse the handshake.
        Result<Caller> caller = CallerFor(wsi);
        if (!caller.ok()) {
          workarounds_->RefuseRequest(wsi, {401, caller.status().message(), {}});
          return 1;
        }
        // A page of another site may open a WebSocket here, and the browser may send our
        // cookie with it (cross-site WebSocket hijacking): its events are the public's.
        if (caller->via_cookie &&
            !PassesCsrfCheck(*caller, "GET-UPGRADE", Authority(wsi, SessionFor(wsi)),
                             Header(wsi, WSI_TOKEN_ORIGIN), "")) {
          caller = Caller{.address = caller->address};
        }
        SessionFor(wsi).request.caller = std::move(caller).value();
        if (route->kind == WsEndpoint::kLiveMedia) {
          // A stream of the live service is watched by those who may watch its HLS (a draft:
          // its owner and staff); a ring a producer opened outside it (tests) by anyone the
          // policy lets watch live. Refused as a missing stream, so that a draft cannot be told
          // from none.
          // The caller judged above: a cookie from another site's page counts for nothing here
          // (reading the cookie again would let that page watch a draft).
          const Caller& who = SessionFor(wsi).request.caller;
          std::optional<LiveAccess> access =
              shared_.live ? shared_.live->Access(route->stream_id) : std::nullopt;
          const bool allowed =
              access ? Allowed(who, Action::kWatchLive, {access->owner_id, access->visibility})
                     : Allowed(who, Action::kWatchLive, Resource{});
          // ?rung=<name> (docs/api.md): that rung; without it, the top one.
          char arg[48] = "";
          const char* found = lws_get_urlarg_by_name(wsi, "rung=", arg, sizeof arg);
          const std::string rung = found ? found : "";  // points past "rung=" in `arg`
          const bool rung_ok = rung.empty() || IsRungName(rung);
          if (!allowed || !rung_ok || !shared_.live_rings.Find(route->stream_id, rung)) {
            workarounds_->RefuseRequest(wsi, {404, "no live stream on air by this id", {}});
            return 1;
          }
          SessionFor(wsi).live_stream = route->stream_id;
          SessionFor(wsi).live_rung = rung;
        }
        return 0;
      }
      case LWS_CALLBACK_ESTABLISHED: {
        Session& s = SessionFor(wsi);
        NoteStream(wsi, s);
        workarounds_->StopScreen(s.screen);
        if (!s.live_stream.empty()) return StartLiveViewer(wsi, s);
        s.events = std::make_unique<EventSocket>(
            s.request.caller, static_cast<size_t>(shared_.options.max_websocket_backlog));
        ws_clients_.push_back(wsi);
        m.websocket_clients.fetch_add(1);
        nlohmann::json hello = {{"type", "hello"},
                                {"seq", shared_.events.published()},
                                {"data", {{"server", "newsreel"}, {"thread", index_}}}};
        s.events->Push(std::make_shared<const std::string>(hello.dump()));
        lws_callback_on_writable(wsi);
        return 0;
      }
      case LWS_CALLBACK_CLOSED: {
        StopLiveViewer(wsi);
        auto it = std::find(ws_clients_.begin(), ws_clients_.end(), wsi);
        if (it != ws_clients_.end()) {
          ws_clients_.erase(it);
          m.websocket_clients.fetch_sub(1);
        }
        return 0;
      }
      case LWS_CALLBACK_SERVER_WRITEABLE: {
        Session& s = SessionFor(wsi);
        if (s.ws_pending) return WriteWsFragment(wsi, s);
        if (s.live) return SendLiveFrame(wsi, s);
        if (!s.events) return 0;
        std::shared_ptr<const std::string> msg = s.events->Next();
        if (!msg) return 0;
        if (s.h2) {
          s.ws_pending = Session::WsPending{msg, 0, false};
          return WriteWsFragment(wsi, s);  // asks for the next WRITEABLE itself
        }
        std::vector<unsigned char> frame(LWS_PRE + msg->size());
        std::memcpy(frame.data() + LWS_PRE, msg->data(), msg->size());
        if (lws_write(wsi, frame.data() + LWS_PRE, msg->size(), LWS_WRITE_TEXT) < 0) return -1;
        m.bytes_sent.fetch_add(msg->size());
        if (!s.events->empty()) lws_callback_on_writable(wsi);
        return 0;
      }
      case LWS_CALLBACK_RECEIVE: {
        // Neither endpoint takes messages from clients: the first byte of one fails the
        // connection (1008), whatever its size or opcode, so that a 16 MB frame, a frame that
        // announces 2^63 bytes or a flood of tiny ones costs at most one read.
        static const char kReason[] = "this endpoint takes no messages";
        char peer[64] = "";
        lws_get_peer_simple(wsi, peer, sizeof peer);
        NR_LOG(kInfo) << "ws: " << peer << " sent a message: connection failed";
        lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
                         reinterpret_cast<unsigned char*>(const_cast<char*>(kReason)),
                         sizeof kReason - 1);
        return -1;
      }
      default:
        return 0;
    }
  }

  // A /ws/live/<id> viewer joins: a cursor into the stream's ring, and this thread's wake-up
  // subscription to the ring when it is the first viewer here. Groups are by ring, not by
  // stream id: a stream taken off air and opened again under its id is a new ring.
  int StartLiveViewer(lws* wsi, Session& s) {
    std::shared_ptr<MediaRing> ring = shared_.live_rings.Find(s.live_stream, s.live_rung);
    if (!ring) return -1;  // went off air between the upgrade and now
    // What the kernel may hold for a viewer: bounded, so that a viewer that stops reading
    // stalls its cursor (and is skipped ahead to a keyframe) instead of piling up seconds of
    // media in socket buffers that autotune up to megabytes (wmem_max). Plenty for the rate
    // of a rung over any real round trip. Not over HTTP/2, whose socket carries other streams.
    if (!s.h2) {
      const int bytes = kLiveViewerSendBuffer;
      setsockopt(lws_get_socket_fd(wsi), SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
    }
    s.live.emplace(ring);
    LiveGroup& group = live_groups_[ring.get()];
    if (group.viewers.empty()) {
      group.ring = ring;
      auto waking = std::make_shared<std::atomic<bool>>(false);
      // Called by the producer after each push: one wake-up in flight per ring and thread.
      group.subscription = ring->Subscribe([inbox = inbox_, this, key = ring.get(), waking] {
        if (waking->exchange(true)) return;
        inbox->Post([this, key, waking] {
          waking->store(false);
          WakeLiveViewers(key);
        });
      });
    }
    group.viewers.push_back(wsi);
    shared_.metrics.live_viewers.fetch_add(1);
    lws_callback_on_writable(wsi);  // the init segment and the newest keyframe
    return 0;
  }

  void StopLiveViewer(lws* wsi) {
    auto found = sessions_.find(wsi);
    if (found == sessions_.end() || !found->second->live) return;
    Session& s = *found->second;
    auto group = live_groups_.find(s.live->ring().get());
    if (group != live_groups_.end()) {
      auto& v = group->second.viewers;
      v.erase(std::remove(v.begin(), v.end(), wsi), v.end());
      if (v.empty()) {
        group->second.ring->Unsubscribe(group->second.subscription);
        live_groups_.erase(group);
      }
    }
    s.live.reset();
    shared_.metrics.live_viewers.fetch_sub(1);
  }

  void WakeLiveViewers(const MediaRing* key) {
    auto group = live_groups_.find(key);
    if (group == live_groups_.end()) return;
    const bool ended = group->second.ring->ended();
    for (lws* wsi : group->second.viewers) {
      Session& s = SessionFor(wsi);
      if (s.live && (ended || s.live->Ready())) lws_callback_on_writable(wsi);
    }
  }

  // One frame to a live viewer. lws keeps what the socket does not take and asks for the next
  // write only once it is gone, so a viewer holds at most one frame beyond its cursor's bound.
  // Once the stream is off air and the cursor has nothing left, the viewer is closed normally.
  int SendLiveFrame(lws* wsi, Session& s) {
    std::optional<MediaFrame> frame = s.live->Next();
    const uint64_t skipped = s.live->skipped_frames();
    shared_.metrics.live_frames_skipped.fetch_add(skipped - s.live_skipped_counted);
    s.live_skipped_counted = skipped;
    if (frame && s.h2) {
      s.ws_pending = Session::WsPending{frame->payload, 0, true};
      if (WriteWsFragment(wsi, s) < 0) return -1;
      if (!frame->init) shared_.metrics.live_frames_sent.fetch_add(1, std::memory_order_relaxed);
    } else if (frame) {
      const std::string& payload = *frame->payload;
      unsigned char* out = buffer_.data() + LWS_PRE;
      std::vector<unsigned char> large;
      if (payload.size() > buffer_.size() - LWS_PRE) {
        large.resize(LWS_PRE + payload.size());
        out = large.data() + LWS_PRE;
      }
      std::memcpy(out, payload.data(), payload.size());
      if (lws_write(wsi, out, payload.size(), LWS_WRITE_BINARY) < 0) return -1;
      shared_.metrics.bytes_sent.fetch_add(payload.size(), std::memory_order_relaxed);
      if (!frame->init) shared_.metrics.live_frames_sent.fetch_add(1, std::memory_order_relaxed);
    }
    if (s.live->Ready()) {
      lws_callback_on_writable(wsi);
    } else if (s.live->ring()->ended()) {
      if (frame) {
        lws_callback_on_writable(wsi);  // close on the next turn, after this frame
        return 0;
      }
      static const char kReason[] = "the stream ended";
      lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL,
                       reinterpret_cast<unsigned char*>(const_cast<char*>(kReason)),
                       sizeof kReason - 1);
      return -1;
    }
    return 0;
  }

  // WebSocket over HTTP/2 (RFC 8441; Chromium uses it once it holds an HTTP/2 connection to the
  // server): lws 4.1 writes each lws_write as one DATA frame and does not split it, and a frame
  // may not exceed 16 KB nor the peer's flow-control window. So a message goes out as WebSocket
  // fragments, one per WRITEABLE; every call asks for the next WRITEABLE, which resumes the
  // connection's own traffic once the message is out.
  int WriteWsFragment(lws* wsi, Session& s) {
    Session::WsPending& p = *s.ws_pending;
    const std::string& message = *p.message;
    size_t n = std::min(kWsH2FragmentBytes, message.size() - p.sent);
    const lws_fileofs_t allowance = lws_get_peer_write_allowance(wsi);
    if (allowance >= 0) {
      if (allowance <= static_cast<lws_fileofs_t>(kWsHeaderBytes)) return 0;  // a window update
      n = std::min(n, static_cast<size_t>(allowance) - kWsHeaderBytes);       // brings WRITEABLE
    }
    const bool first = p.sent == 0;
    const bool last = p.sent + n == message.size();
    int mode = first ? (p.binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT) : LWS_WRITE_CONTINUATION;
    if (!last) mode |= LWS_WRITE_NO_FIN;
    std::memcpy(buffer_.data() + LWS_PRE, message.data() + p.sent, n);
    if (lws_write(wsi, buffer_.data() + LWS_PRE, n, static_cast<lws_write_protocol>(mode)) < 0)
      return -1;
    shared_.metrics.bytes_sent.fetch_add(n, std::memory_order_relaxed);
    p.sent += n;
    if (last) s.ws_pending.reset();
    lws_callback_on_writable(wsi);
    return 0;
  }

  // Runs what other threads posted (see Inbox).
  void RunInbox() {
    std::deque<std::function<void()>> tasks;
    {
      std::lock_guard lock(inbox_->mu_);
      tasks.swap(inbox_->tasks_);
    }
    for (auto& task : tasks) task();
  }

  void DeliverEvent(const std::shared_ptr<const Event>& event) {
    for (lws* wsi : ws_clients_) {
      Session& s = SessionFor(wsi);
      if (s.events && s.events->Offer(event)) lws_callback_on_writable(wsi);
    }
  }

  std::string Header(lws* wsi, lws_token_indexes token) {
    int n = lws_hdr_total_length(wsi, token);
    if (n <= 0) return {};
    std::string v(static_cast<size_t>(n) + 1, '\0');
    if (lws_hdr_copy(wsi, v.data(), n + 1, token) < 0) return {};
    v.resize(static_cast<size_t>(n));
    return v;
  }

  // --- Per-address limits (address_limits.h) ---------------------------------------------
  // A connection counts against its address from its accept until its descriptor closes: while
  // the workarounds hold it (accepted_), then in its session (Session::address), and after a
  // refused request while the answer lingers (accepted_ again, under the duplicate).

  // At accept. False when `fd` was refused: answered 429 and lingering, or closed; not ours.
  bool AdmitConnection(int fd, const sockaddr_storage& peer, socklen_t peer_len) {
    AddressLimits& limits = *shared_.address_limits;
    if (!limits.enabled()) return true;
    std::optional<AddressKey> key =
        AddressKeyOf(reinterpret_cast<const sockaddr*>(&peer), peer_len);
    if (!key) return true;
    const AddressDecision d = limits.ConnectionOpened(*key);
    if (d.admission == Admission::kAdmit) {
      accepted_[fd] = *key;
      return true;
    }
    if (d.first_refusal) {
      NR_LOG(kInfo) << "limits: " << key->ToString() << " holds "
                    << shared_.options.max_connections_per_address
                    << " connections: refusing more (429, then closed unanswered while it "
                       "keeps trying)";
    }
    if (d.admission == Admission::kDrop) {
      shared_.metrics.connections_dropped.fetch_add(1, std::memory_order_relaxed);
      close(fd);
      return false;
    }
    shared_.metrics.connections_refused.fetch_add(1, std::memory_order_relaxed);
    workarounds_->RefuseConnection(
        fd, TooManyRequests("too many connections from this address", d.retry_after));
    return false;
  }

  // A request's head arrived (an HTTP request or a WebSocket upgrade). False when it was
  // refused: answered 429 on a descriptor of the workarounds; the caller closes the connection.
  // An HTTP/2 stream counts against its connection's address, and is answered through lws
  // (Session::refused_return is what its callback returns).
  bool AdmitRequest(lws* wsi, Session& s) {
    const Session& connection = s.network ? SessionFor(s.network) : s;
    if (!connection.address) return true;
    const AddressKey address = *connection.address;
    const AddressDecision d = shared_.address_limits->RequestStarted(address);
    if (d.admission == Admission::kAdmit) return true;
    if (d.first_refusal) {
      NR_LOG(kInfo) << "limits: " << address.ToString() << " is over "
                    << shared_.options.rate_limit_per_address << " requests/s (burst "
                    << shared_.options.rate_limit_burst << "): refusing (429)";
    }
    shared_.metrics.requests_rate_limited.fetch_add(1, std::memory_order_relaxed);
    const HeadRefusal refusal =
        TooManyRequests("too many requests from this address", d.retry_after);
    if (s.h2) {
      HttpResponse resp = ErrorResponse(429, "too_many_requests", refusal.message);
      for (const auto& [name, value] : refusal.headers) resp.headers[name] = value;
      s.refused_return = Send(wsi, s, resp);
      return false;
    }
    workarounds_->RefuseRequest(wsi, refusal);
    return false;
  }

  static HeadRefusal TooManyRequests(const std::string& why, std::chrono::seconds retry_after) {
    const std::string seconds = std::to_string(retry_after.count());
    return {429,
            why + "; retry after " + seconds + " s",
            {{"retry-after", seconds}, {"access-control-expose-headers", "Retry-After"}},
            false};
  }

  // A descriptor of accepted_ was adopted by lws (the count moves to the session) or closed.
  void OnDescriptorReleased(int fd, lws* wsi) {
    auto it = accepted_.find(fd);
    if (it == accepted_.end()) return;
    const AddressKey key = it->second;
    accepted_.erase(it);
    if (auto session = wsi ? sessions_.find(wsi) : sessions_.end(); session != sessions_.end()) {
      session->second->address = key;
      return;
    }
    shared_.address_limits->ConnectionClosed(key);
  }

  // A refused request's answer lingers on `fd`: the connection still counts until it closes.
  void OnRequestRefused(lws* wsi, int fd) {
    auto session = sessions_.find(wsi);
    if (session == sessions_.end() || !session->second->address) return;
    accepted_[fd] = *session->second->address;
    session->second->address.reset();
  }
  // --- end of per-address limits ----------------------------------------------------------

  // The authority a request names: its Host header, or over HTTP/2 its :authority (lws 4.1
  // does not copy one into the other; HTTP/2 clients send :authority).
  std::string Authority(lws* wsi, const Session& s) {
    std::string authority = s.h2 ? Header(wsi, WSI_TOKEN_HTTP_COLON_AUTHORITY) : std::string();
    return authority.empty() ? Header(wsi, WSI_TOKEN_HOST) : authority;
  }

  // The one place a request's caller is decided (request_context.h): a Bearer token or a
  // session cookie (accounts.h), read through this thread's catalog without writing; the
  // token's last-use stamp, when due, is written on the pool.
  Result<Caller> CallerFor(lws* wsi) {
    char peer[64] = "";
    lws_get_peer_simple(wsi, peer, sizeof peer);
    Result<Identity> id = shared_.accounts.authenticator.Identify(
        catalog_->users(), Header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION),
        Header(wsi, WSI_TOKEN_HTTP_COOKIE), peer);
    if (!id.ok()) return id.status();
    if (id->touch_token) {
      shared_.pool.Submit([token = *id->touch_token](PoolState& pool) {
        if (Status s = pool.catalog->users().Touch(token); !s.ok())
          NR_LOG(kDebug) << "accounts: " << s.message();
      });
    }
    return std::move(id->caller);
  }

  // The answer when the caller cannot be decided: 401 for a bad token, else the catalog failed.
  static HttpResponse CallerError(const Status& status) {
    if (status.code() == ErrorCode::kNotFound || status.code() == ErrorCode::kInvalidArgument) {
      HttpResponse r = ErrorResponse(401, "unauthenticated", status.message());
      r.headers["WWW-Authenticate"] = "Bearer realm=\"newsreel\", error=\"invalid_token\"";
      return r;
    }
    return ErrorResponse(status);
  }

  int OnHttpRequest(lws* wsi, Session& s) {
    RequestContext& r = s.request;
    r = RequestContext{};
    static const std::pair<lws_token_indexes, const char*> kMethods[] = {
        {WSI_TOKEN_GET_URI, "GET"},        {WSI_TOKEN_HEAD_URI, "HEAD"},
        {WSI_TOKEN_POST_URI, "POST"},      {WSI_TOKEN_PATCH_URI, "PATCH"},
        {WSI_TOKEN_PUT_URI, "PUT"},        {WSI_TOKEN_DELETE_URI, "DELETE"},
        {WSI_TOKEN_OPTIONS_URI, "OPTIONS"}};
    for (auto [token, name] : kMethods) {
      if (lws_hdr_total_length(wsi, token) > 0) {
        r.method = name;
        r.path = Header(wsi, token);
        break;
      }
    }
    s.length_unknown = !s.h2 && (r.method == "POST" || r.method == "PUT" || r.method == "PATCH") &&
                       lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0;
    if (r.method.empty())
      return Send(wsi, s, ErrorResponse(405, "method_not_allowed", "unsupported method"));
    if (r.path.find('\0') != std::string::npos || r.path.empty() || r.path[0] != '/')
      return Send(wsi, s, ErrorResponse(400, "invalid_argument", "malformed request path"));
    // lws 4.1 does not decode chunked request bodies: it would hand us the chunk framing as
    // data (written into an upload as is, when the request also claims a Content-Length). Such
    // a request is refused, and the connection closed, since its body cannot be skipped.
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
      HttpResponse refused = ErrorResponse(
          411, "invalid_argument", "chunked request bodies are not supported; send Content-Length");
      if (r.path.rfind("/files", 0) == 0) refused.headers["Tus-Resumable"] = "1.0.0";
      return Refuse(wsi, s, refused);
    }
    char frag[1024];
    for (int i = 0; i < 64; ++i) {
      int n = lws_hdr_copy_fragment(wsi, frag, sizeof frag, WSI_TOKEN_HTTP_URI_ARGS, i);
      if (n < 0) break;
      std::string_view kv(frag, static_cast<size_t>(n));
      size_t eq = kv.find('=');
      r.query[std::string(kv.substr(0, eq))] =
          eq == std::string_view::npos ? std::string() : std::string(kv.substr(eq + 1));
    }
    r.host = Authority(wsi, s);
    current_wsi_ = wsi;  // the peer address is looked up only when a line is logged

    // A refusal before the body was read closes the connection: the body cannot be told
    // from a next request.
    const std::string length = Header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
    const bool body_follows = !length.empty() && length != "0";
    Result<Caller> caller = CallerFor(wsi);
    if (!caller.ok()) {
      NR_LOG(kInfo) << "http: " << Peer() << " " << r.method << " " << r.path
                    << ": refused credentials: " << caller.status().message();
      HttpResponse refused = CallerError(caller.status());
      if (r.path.rfind("/files", 0) == 0) refused.headers["Tus-Resumable"] = "1.0.0";
      return Send(wsi, s, refused, body_follows);
    }
    r.caller = std::move(caller).value();
    if (!PassesCsrfCheck(r.caller, r.method, Authority(wsi, s), Header(wsi, WSI_TOKEN_ORIGIN),
                         Header(wsi, WSI_TOKEN_HTTP_REFERER))) {
      NR_LOG(kWarning) << "http: " << Peer() << " " << r.method << " " << r.path
                       << ": refused a cross-site change (Origin " << Header(wsi, WSI_TOKEN_ORIGIN)
                       << ")";
      return Send(wsi, s,
                  ErrorResponse(403, "csrf",
                                "a change made with a session cookie must come from this "
                                "server's pages (Origin does not match Host)"),
                  body_follows);
    }

    s.route = RouteRequest(r.method, r.path);
    switch (s.route.handler) {
      case Handler::kUpload:
        // lws 4.1's HPACK decoder drops header names it does not know: over HTTP/2 none of
        // tus's headers (Tus-Resumable, Upload-Offset...) would arrive. Said plainly instead of
        // a 412 that blames the client.
        if (s.h2) {
          HttpResponse refused = ErrorResponse(
              505, "unsupported",
              "uploads need HTTP/1.1 here: this server drops tus headers over HTTP/2");
          refused.headers["Tus-Resumable"] = "1.0.0";
          return Send(wsi, s, refused);
        }
        return OnUploadRequest(wsi, s);
      case Handler::kPreflight:
        return Send(wsi, s, PreflightResponse());
      case Handler::kMedia:
        return ServeMedia(wsi, s, s.route.rest, false);
      case Handler::kLive:
        return ServeMedia(wsi, s, s.route.rest, true);
      case Handler::kApi: {
        const bool has_body = r.method == "POST" || r.method == "PATCH" || r.method == "PUT";
        const std::string cl = Header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
        if (has_body && !cl.empty()) {
          std::optional<int64_t> n = ParseContentLength(cl);
          if (!n)
            return Refuse(wsi, s, ErrorResponse(400, "invalid_argument", "bad Content-Length"));
          if (static_cast<uint64_t>(*n) > shared_.options.max_request_body_bytes)
            return Refuse(wsi, s, ErrorResponse(413, "invalid_argument", "request body too large"));
          if (*n > 0) {
            s.awaiting_body = true;
            return 0;  // LWS_CALLBACK_HTTP_BODY* follow
          }
        }
        return AnswerApi(wsi, s);
      }
      case Handler::kHealth:
        return Send(wsi, s, HealthResponse(*catalog_));
      case Handler::kMetrics:
        shared_.metrics.work_pool_queued.store(static_cast<int64_t>(shared_.pool.queued()));
        return Send(wsi, s, MetricsResponse(*catalog_, shared_.metrics, shared_.events));
      case Handler::kWebSocketOnly:
        return Send(wsi, s,
                    ErrorResponse(400, "invalid_argument", r.path + " needs a WebSocket upgrade"));
      case Handler::kEmbed:
        return ServeEmbed(wsi, s);
      case Handler::kPage:
        break;
    }
    if (!shared_.web_root.empty()) {
      auto page = ResolveWebPath(shared_.web_root, s.route.rest);
      if (page.ok()) {
        if (s.route.rest == "watch.html") return ServeWatchPage(wsi, s, *page);
        // Pages change with the server version: browsers revalidate (ETag -> 304).
        const std::string name = page->filename().string();
        return SendFile(wsi, s, *page, name, "no-cache", /*visible=*/true);
      }
    }
    return Send(wsi, s, ErrorResponse(404, "not_found", "nothing at " + r.path));
  }

  // /embed/<id>: the player page that partner sites frame, for a video anyone may watch:
  // published, or unlisted (whose media the page then gets through the signed URLs the API
  // hands out to anyone with its id). A draft, an unknown or malformed id: the same 404 page.
  // No X-Frame-Options or frame-ancestors here: being framed elsewhere is the page's purpose.
  int ServeEmbed(lws* wsi, Session& s) {
    const std::string& id = s.route.rest;
    bool watchable = false;
    if (catalog::ValidateId(id).ok()) {
      Result<catalog::Video> video = catalog_->videos().Get(id);
      watchable = video.ok() && video->visibility != catalog::Visibility::kDraft;
    }
    if (watchable && !shared_.web_root.empty()) {
      // The same bytes for every video (embed.js reads the id from the path): the file's own
      // ETag and the response cache are right for it.
      auto page = ResolveWebPath(shared_.web_root, "embed.html");
      if (page.ok()) return SendFile(wsi, s, *page, "embed.html", "no-cache", /*visible=*/true);
    }
    HttpResponse missing;
    missing.status = 404;
    missing.content_type = "text/html; charset=utf-8";
    missing.headers["Cache-Control"] = "no-store";
    missing.body =
        "<!doctype html>\n<html lang=\"vi\"><head><meta charset=\"utf-8\"><title>Newsreel</title>"
        "</head>\n<body style=\"margin:0;font:16px system-ui,sans-serif;background:#16181c;"
        "color:#f2f2f2;display:grid;place-items:center;min-height:100vh\">\n<p>Không có video "
        "này. <span lang=\"en\">No such video.</span></p>\n</body></html>\n";
    return Send(wsi, s, missing);
  }

  // watch.html?id=<id> of a published video: the page with the video's share tags (Open Graph,
  // Twitter card, oEmbed discovery; share_meta.h) written into its head, since crawlers run no
  // script. Its ETag comes from the rendered bytes (the tags change with the video). Any other
  // watch.html (no id, a draft, an unlisted or unknown video): the file as it is, so that
  // nothing of such a video shows before the page asks the API.
  int ServeWatchPage(lws* wsi, Session& s, const std::filesystem::path& file) {
    auto id = s.request.query.find("id");
    std::optional<ShareFacts> facts =
        id == s.request.query.end() ? std::nullopt : PublishedShareFacts(*catalog_, id->second);
    if (!facts) return SendFile(wsi, s, file, "watch.html", "no-cache", /*visible=*/true);
    std::ifstream in(file, std::ios::binary);
    std::string html((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof())
      return Send(wsi, s, ErrorResponse(404, "not_found", "nothing at " + s.request.path));
    const std::string base = SiteBase(shared_.site, s.request.host).value_or("");
    HttpResponse page;
    page.content_type = "text/html; charset=utf-8";
    page.body = InsertIntoHead(html, WatchPageTags(*facts, base));
    const std::string etag = ContentEtag(page.body);
    page.headers["ETag"] = etag;
    page.headers["Cache-Control"] = "no-cache";
    if (IfNoneMatchMatches(Header(wsi, WSI_TOKEN_HTTP_IF_NONE_MATCH), etag)) {
      page.status = 304;
      page.body.clear();
      page.content_type.clear();
    }
    return Send(wsi, s, page);
  }

  // Answers `resp` and closes the connection, whose request body (if any) is not read: the
  // answer goes out on a descriptor of the workarounds', which reads and drops what the client
  // still sends before closing (closing with unread bytes would reset the connection, and the
  // client would lose the answer). Returns what the lws callback must return.
  // Over TLS the answer goes through lws (the workarounds cannot write into the TLS stream).
  int Refuse(lws* wsi, Session& s, const HttpResponse& resp) {
    if (tls_) return Send(wsi, s, resp, /*close_after=*/true);
    HeadRefusal refusal{resp.status, s.request.method + " " + s.request.path, {}, true, resp.body};
    for (const auto& [name, value] : resp.headers) refusal.headers.emplace_back(name, value);
    workarounds_->RefuseRequest(wsi, refusal);
    return -1;
  }

  // An API request whose body (if any) has arrived: reads on this thread, changes on the pool.
  int AnswerApi(lws* wsi, Session& s) {
    if (!s.route.blocking) return Send(wsi, s, api_->Handle(s.request));
    return Defer(wsi, s,
                 [request = s.request](PoolState& pool) { return pool.api->Handle(request); });
  }

  // Runs `work` on the pool; its answer goes out on this connection from WRITEABLE (or is
  // dropped when the connection is gone by then).
  int Defer(lws* wsi, Session& s, std::function<HttpResponse(PoolState&)> work) {
    s.pending = std::make_shared<PendingAnswer>();
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);  // the wait is ours, not an idle client's
    const uint64_t serial = s.serial;
    shared_.pool.Submit([inbox = inbox_, this, serial, work = std::move(work),
                         pending = s.pending](PoolState& pool) {
      HttpResponse resp;
      try {
        resp = work(pool);
      } catch (const std::exception& e) {
        NR_LOG(kError) << "http: a blocking task failed: " << e.what();
        resp = ErrorResponse(500, "internal", "internal error");
      }
      {
        std::lock_guard lock(pending->mu);
        pending->response = std::move(resp);
      }
      pending->cv.notify_all();
      inbox->Post([this, serial, pending] { Resume(serial, pending); });
    });
    return 0;
  }

  // The pool's answer arrived: it goes out from WRITEABLE.
  void Resume(uint64_t serial, const std::shared_ptr<PendingAnswer>& pending) {
    auto found = by_serial_.find(serial);
    if (found == by_serial_.end()) {
      NR_LOG(kDebug) << "http: an answer for a connection that closed meanwhile: dropped";
      return;
    }
    Session& s = SessionFor(found->second);
    if (s.pending != pending) return;  // answered by AnswerNow
    s.pending.reset();
    {
      std::lock_guard lock(pending->mu);
      s.ready = std::move(*pending->response);
    }
    s.last_activity = std::chrono::steady_clock::now();
    lws_callback_on_writable(found->second);
  }

  // Waits for the pool's answer to a deferred request and sends it (see BODY_COMPLETION).
  int AnswerNow(lws* wsi, Session& s) {
    std::shared_ptr<PendingAnswer> pending = std::move(s.pending);
    HttpResponse resp;
    {
      std::unique_lock lock(pending->mu);
      pending->cv.wait(lock, [&] { return pending->response.has_value(); });
      resp = std::move(*pending->response);
    }
    // ... and the connection closes after it: lws 4.1 keeps such a connection on its list of
    // connections with buffered input and services it forever (a core at 90 %), even after the
    // answer. The client reconnects for its next request.
    return Send(wsi, s, resp, /*close_after=*/true);
  }

  // Every second: closes HTTP connections that have been silent too long. A connection that has
  // not finished its first request's headers, or whose request body or response has stopped
  // moving, gets idle_timeout_seconds; one idle between requests gets the keep-alive timeout.
  // (Debian's lws 4.1.6 with a foreign libev loop enforced its own timeouts only ~30 s late.)
  // A connection waiting for the pool is not idle. Closing a stalled upload keeps what arrived
  // (on the pool, see WSI_DESTROY), so any number of them may close in one pass.
  static void OnIdleTimer(struct ev_loop*, ev_timer* timer, int) noexcept {
    static_cast<Impl*>(timer->data)->CloseIdle();
  }

  void CloseIdle() {
    const auto now = std::chrono::steady_clock::now();
    for (uint64_t serial : parked_.Expire(now)) Unpark(serial, /*timed_out=*/true);
    // lws reads nothing from an HTTP/1.1 connection while its request is unanswered, so it
    // does not see a parked client go away: looked for here (a peek that finds the end).
    std::vector<lws*> gone;
    for (const auto& [wsi, s] : sessions_) {
      char byte;
      if (s->parked && !s->h2 &&
          recv(lws_get_socket_fd(wsi), &byte, 1, MSG_DONTWAIT | MSG_PEEK) == 0)
        gone.push_back(wsi);
    }
    for (lws* wsi : gone) lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
    const auto idle_limit = std::chrono::seconds(shared_.options.idle_timeout_seconds);
    const auto keepalive_limit = std::chrono::seconds(shared_.options.keepalive_timeout_seconds);
    const int waited_out = workarounds_->CloseExpired(now, idle_limit);
    shared_.metrics.idle_closed.fetch_add(static_cast<uint64_t>(waited_out),
                                          std::memory_order_relaxed);
    std::vector<lws*> doomed;
    for (const auto& [wsi, s] : sessions_) {
      if (s->events || s->live || s->pending || s->ready || s->parked || s->unparking ||
          wsi == listener_wsi_)
        continue;
      // An HTTP/2 connection is judged by its streams while it has some, each like a request
      // of its own; without any, it is kept alive like an HTTP/1.1 connection between requests.
      if (s->streams > 0) continue;
      const bool busy =
          s->awaiting_body || s->screen.reads_held || s->fd >= 0 || s->body_sent < s->body.size();
      const bool idle_between = s->requests > 0 || s->carried_streams;
      const auto limit = (busy || !idle_between) ? idle_limit : keepalive_limit;
      if (now - s->last_activity <= limit) continue;
      // Bytes waiting to be read: the client spoke, this thread was late (a loaded machine).
      // Not while a request line is held back unread (the screen waits for its end: those bytes
      // are the slow client's own).
      if (!s->screen.reads_held && HasUnreadBytes(lws_get_socket_fd(wsi))) continue;
      doomed.push_back(wsi);
    }
    for (lws* wsi : doomed) {
      Session& s = *sessions_[wsi];
      if (s.awaiting_body || s.requests == 0) {
        char peer[64] = "";
        lws_get_peer_simple(wsi, peer, sizeof peer);
        NR_LOG(kDebug) << "http: closing idle connection from " << peer;
      }
      shared_.metrics.idle_closed.fetch_add(1, std::memory_order_relaxed);
      lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
    }
  }

  // tus at /files/ (tus.h, tus_framing.h).
  int OnUploadRequest(lws* wsi, Session& s) {
    RequestContext& r = s.request;
    TusHeaders headers;
    for (const std::string& name : TusHeaderNames()) {
      const std::string key = name + ":";
      int n = lws_hdr_custom_length(wsi, key.c_str(), static_cast<int>(key.size()));
      if (n < 0) continue;
      std::string v(static_cast<size_t>(n) + 1, '\0');
      if (lws_hdr_custom_copy(wsi, v.data(), n + 1, key.c_str(), static_cast<int>(key.size())) < 0)
        continue;
      v.resize(static_cast<size_t>(n));
      headers[name] = v;
    }
    headers["content-type"] = Header(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE);
    if (std::string cl = Header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH); !cl.empty())
      headers["content-length"] = cl;
    if (std::string expect = Header(wsi, WSI_TOKEN_HTTP_EXPECT); !expect.empty())
      headers["expect"] = expect;
    auto framed = FrameTusRequest(r.method, s.route.rest, std::move(headers));
    if (!framed.ok()) return Refuse(wsi, s, TusFramingError(framed.status()));
    const TusRequest& tus = *framed;
    if (tus.method == "OPTIONS") {
      // A CORS preflight and a tus capabilities request at once.
      TusHandler::Start start = tus_->Begin(r.caller, tus.method, "", tus.headers, -1);
      for (const auto& [name, value] : PreflightResponse().headers)
        start.response->headers[name] = value;
      return Send(wsi, s, *start.response);
    }
    if (tus.content_length <= 0 && tus.method != "HEAD") {
      // No body follows: creating (a file, a directory fsync and a FULL commit), terminating
      // and an empty PATCH (which may complete a deferred upload) answer from the pool.
      return Defer(wsi, s, [caller = r.caller, tus](PoolState& pool) {
        TusHandler::Start start =
            pool.tus->Begin(caller, tus.method, tus.rest, tus.headers, tus.content_length);
        return start.response ? std::move(*start.response)
                              : TusError(500, "internal", "an upload without data");
      });
    }
    TusHandler::Start start =
        tus_->Begin(r.caller, tus.method, tus.rest, tus.headers, tus.content_length);
    if (start.response) {
      // A refused request whose body is on its way: a small body is read and dropped so that
      // the client gets to read the answer; for a large one the connection closes after it.
      switch (HowToRefuse(tus)) {
        case RefusalDelivery::kAnswer:
          return Send(wsi, s, *start.response);
        case RefusalDelivery::kAnswerAndClose:
          return Refuse(wsi, s, *start.response);
        case RefusalDelivery::kDrainThenAnswer:
          s.after_body = std::move(*start.response);
          s.awaiting_body = true;
          return 0;
      }
    }
    // (HTTP/2 has no such interim line to write: the client sends the body regardless.)
    if (tus.expects_continue && !s.h2 &&
        !LwsWorkarounds::SendContinue(wsi, buffer_.data() + LWS_PRE))
      return -1;
    s.tus = std::move(start.write);
    s.body_started = std::chrono::steady_clock::now();
    s.awaiting_body = true;
    return 0;  // LWS_CALLBACK_HTTP_BODY* follow
  }

  // Upload bytes as they arrive. A client that trickles slower than the minimum rate is cut
  // off (what arrived is kept when the connection is destroyed).
  int OnUploadData(lws* wsi, Session& s, const char* data, size_t len) {
    current_wsi_ = wsi;
    shared_.metrics.upload_bytes_received.fetch_add(len, std::memory_order_relaxed);
    tus_->Write(*s.tus, data, len);
    if (std::optional<int64_t> rate = SlowBodyRate(s, s.tus->received())) {
      NR_LOG(kInfo) << "tus: cutting off " << Peer() << ": upload " << s.tus->id() << " at "
                    << *rate << " B/s, below the minimum "
                    << shared_.options.tus.min_rate_bytes_per_second << " B/s";
      return -1;
    }
    return 0;  // a body that stops arriving is closed by CloseIdle
  }

  // The average rate of a request body that has `received` bytes so far, when it is below
  // --upload-min-rate once the grace period has passed (uploads and API bodies alike: a body
  // trickled a byte at a time would otherwise hold its connection for as long as it likes).
  std::optional<int64_t> SlowBodyRate(const Session& s, uint64_t received) {
    const TusOptions& o = shared_.options.tus;
    const auto elapsed = std::chrono::steady_clock::now() - s.body_started;
    if (o.min_rate_bytes_per_second <= 0 || elapsed <= o.rate_grace) return std::nullopt;
    const double rate =
        static_cast<double>(received) / std::chrono::duration<double>(elapsed).count();
    if (rate >= static_cast<double>(o.min_rate_bytes_per_second)) return std::nullopt;
    return static_cast<int64_t>(rate);
  }

  // The whole body of a tus request arrived: verify, flush, commit and answer, on the pool
  // (fdatasync, a FULL commit and, for the last byte, moving the original into place).
  int FinishUpload(lws* wsi, Session& s) {
    std::shared_ptr<TusWrite> write(std::move(s.tus));
    // The task may outlive this thread (Server::Stop runs the pool's queue after the threads
    // are gone): it holds the shared state, never `this`.
    return Defer(wsi, s, [write, &shared = shared_](PoolState& pool) mutable {
      HttpResponse resp = pool.tus->Finish(*write);
      write.reset();  // releases the upload's lock before the client hears the answer
      // The last byte queues the video's job: the supervisor looks now, not at its next poll.
      if (resp.status < 300 && shared.supervisor) shared.supervisor->Wake();
      return resp;
    });
  }

  // The peer address of `wsi` (by default the request being handled), for log lines.
  std::string Peer(lws* wsi = nullptr) {
    char peer[64] = "";
    if (wsi == nullptr) wsi = current_wsi_;
    if (wsi) lws_get_peer_simple(wsi, peer, sizeof peer);
    return peer;
  }

  // Whether the video's files may go to this request: a published video to anyone, a draft or
  // an unlisted one only through a valid signed URL (`signed_url`).
  // `finished` (optional) is set to whether the video's output is finished (ready): a video
  // still processing may serve a part published while it runs, whose playlists still grow.
  bool VideoServable(const std::string& id, bool live, bool signed_url, bool* finished = nullptr) {
    if (live) {
      // From the live service's memory: no query per segment. A draft stream is for those who
      // may see it (its owner, editors), signed in on this request (cookie or token).
      std::optional<LiveAccess> access = shared_.live ? shared_.live->Access(id) : std::nullopt;
      if (!access) return false;
      if (access->visibility != catalog::Visibility::kDraft) return true;
      Result<Caller> caller = CallerFor(current_wsi_);
      return caller.ok() &&
             Allowed(*caller, Action::kWatchLive, {access->owner_id, access->visibility});
    }
    std::optional<MediaEntry> entry = shared_.visibility.Lookup(id);
    if (!entry) {
      auto video = catalog_->videos().Get(id);
      entry = MediaEntry{};
      entry->access = !video.ok()                                            ? MediaAccess::kNone
                      : video->visibility == catalog::Visibility::kPublished ? MediaAccess::kPublic
                                                                             : MediaAccess::kSigned;
      entry->finished = !video.ok() || video->status == catalog::VideoStatus::kReady;
      shared_.visibility.Store(id, *entry);
    }
    if (finished != nullptr) *finished = entry->finished;
    return entry->access == MediaAccess::kPublic ||
           (entry->access == MediaAccess::kSigned && signed_url);
  }

  // /media/ and /live/: the signature (signed_url.h) and the path (media_files.h) are checked,
  // and who may see the video decided, before any file is opened or any cache consulted.
  int ServeMedia(lws* wsi, Session& s, std::string rest, bool live) {
    const RequestContext& r = s.request;
    // ---- Signed URLs: "/media/<id>/~s.<expires>.<sig>/<file>" (docs/serving.md) ----
    // Checked first, on every request, before the path cache and the response cache; a valid
    // signature leaves "<id>/<file>" to serve and the expiry, for Cache-Control.
    std::optional<int64_t> signed_until;
    const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    if (!live && shared_.playback.signer && rest.find('~') != std::string::npos) {
      char peer[64] = "";
      lws_get_peer_simple(wsi, peer, sizeof peer);
      SignedMediaCheck check =
          shared_.playback.signer->CheckMediaPath(rest, now_s, CanonicalAddress(peer).value_or(""));
      if (check.verdict == SignatureVerdict::kValid) {
        signed_until = check.expires_at_s;
        rest = std::move(check.unsigned_rest);
      } else if (check.verdict != SignatureVerdict::kUnsigned) {
        NR_LOG(kDebug) << "media: " << ToString(check.verdict) << " signature from " << peer << ": "
                       << r.path;
        if (check.verdict == SignatureVerdict::kExpired)
          return Send(wsi, s, ErrorResponse(410, "expired", "this signed link has expired"));
        return Send(wsi, s,
                    ErrorResponse(403, "permission_denied", "the link's signature is not valid"));
      }
    }
    // ---- end of signed URLs ----
    if (live && !s.unparking) {
      if (std::optional<int> held = HoldForPart(wsi, s, rest)) return *held;
    }
    // Resolving checks every path component (realpath); a resolved path is reused for a moment.
    const std::string cache_key = (live ? "L" : "M") + rest;
    Result<MediaTarget> target = NotFound("");
    if (const MediaTarget* cached = path_cache_.Get(cache_key)) {
      target = *cached;
    } else {
      target = ResolveMediaPath(live ? shared_.live_root : shared_.media_root, rest);
      if (target.ok()) path_cache_.Put(cache_key, *target);
    }
    if (!target.ok()) {
      if (target.status().code() == ErrorCode::kInvalidArgument) {
        NR_LOG(kInfo) << "media: refused " << Peer() << " " << r.method << " " << r.path << ": "
                      << target.status().message();
        return Send(
            wsi, s,
            ErrorResponse(400, "invalid_argument", "bad media path: " + target.status().message()));
      }
      // Do not tell a hidden video from a missing one: the same 404 either way.
      NR_LOG(kDebug) << "media: 404 " << r.path << " (" << target.status().message() << ")";
      return Send(wsi, s, ErrorResponse(404, "not_found", "no such media file"));
    }
    bool finished = true;  // a VOD video's transcode has ended (live: unused)
    const bool visible =
        s.visible ? *s.visible
                  : VideoServable(target->video_id, live, signed_until.has_value(), &finished);
    if (live && visible && shared_.live && target->relative.ends_with(".m3u8"))
      shared_.live->NoteViewer(target->video_id, Peer(wsi));
    // Playlists of a part published while the transcode runs grow, as live ones do.
    const std::string_view cache_control = CacheControlFor(target->relative, live || !finished);
    if (signed_until) {
      // Private, never past the link's expiry, and never kept in the response cache, which
      // would replay it to requests that bring no signature (or another).
      return SendFile(wsi, s, target->path, target->relative,
                      SignedCacheControl(cache_control, *signed_until - now_s), visible,
                      /*replayable=*/false);
    }
    return SendFile(wsi, s, target->path, target->relative, cache_control, visible);
  }

  // LL-HLS (docs/live.md, "Low latency"): /live/<id>/ll/<rung>/index.m3u8 with _HLS_msn (and
  // _HLS_part) waits until the playlist lists what it asks for; ll/<rung>/p<N>.<K>.m4s that is
  // not on disk yet waits when it is the next part to come (the one the preload hint names).
  // Either is parked: no thread waits, the connection sits in parked_ until this thread hears
  // of the part (OnPartNoted), the stream goes off air, or 3 target durations pass (503).
  // Returns nothing when the request is to be served now, as any other.
  std::optional<int> HoldForPart(lws* wsi, Session& s, const std::string& rest) {
    Result<MediaTarget> shape = ParseMediaPath(rest);
    if (!shape.ok() || !shape->relative.starts_with("ll/")) return std::nullopt;
    std::string_view rel = std::string_view(shape->relative).substr(3);
    const size_t slash = rel.find('/');
    if (slash == std::string_view::npos || rel.find('/', slash + 1) != std::string_view::npos)
      return std::nullopt;
    const std::string rung(rel.substr(0, slash));
    const std::string_view file = rel.substr(slash + 1);
    const std::string& id = shape->video_id;
    ParkedRequests::Entry entry;
    entry.stream = id;
    entry.rung = rung;
    if (file == "index.m3u8") {
      Result<std::optional<BlockingQuery>> query = ParseBlockingQuery(s.request.query);
      if (!query.ok())
        return Send(wsi, s, ErrorResponse(400, "invalid_argument", query.status().message()));
      if (!query->has_value()) return std::nullopt;
      entry.kind = ParkedRequests::Kind::kPlaylist;
      entry.playlist = **query;
    } else if (std::optional<PartPosition> part = ParsePartFileName(file)) {
      struct stat st;
      if (::stat((shared_.live_root / rest).c_str(), &st) == 0) return std::nullopt;  // there
      entry.kind = ParkedRequests::Kind::kPart;
      entry.part = *part;
    } else {
      return std::nullopt;
    }
    // A hidden stream is answered as a missing one, by the ordinary path.
    const bool visible = VideoServable(id, /*live=*/true, /*signed_url=*/false);
    if (!visible) return std::nullopt;
    // No part announced since the stream went on air (ended, or not low latency): the files
    // are served as they are.
    std::optional<PartPosition> last = shared_.live_rings.LastPart(id, rung);
    if (!last) return std::nullopt;
    const Readiness ready = entry.kind == ParkedRequests::Kind::kPlaylist
                                ? JudgePlaylist(entry.playlist, *last)
                                : JudgePart(entry.part, *last);
    if (ready == Readiness::kTooFar)
      return Send(wsi, s,
                  ErrorResponse(400, "invalid_argument",
                                "_HLS_msn is more than two segments ahead of the playlist"));
    if (ready != Readiness::kWait) return std::nullopt;
    entry.serial = s.serial;
    entry.address = s.address ? s.address->ToString() : Peer(wsi);
    entry.deadline = std::chrono::steady_clock::now() + BlockingTimeout();
    if (!parked_.Park(std::move(entry))) {
      shared_.metrics.ll_parked_refused.fetch_add(1, std::memory_order_relaxed);
      HttpResponse refused = ErrorResponse(
          429, "rate_limited", "too many low-latency requests waiting from this address");
      refused.headers["Retry-After"] = "1";
      return Send(wsi, s, refused);
    }
    s.parked = true;
    s.delivery = DeliveryRequestOf(wsi, s);
    s.visible = visible;
    shared_.metrics.ll_parked_requests.fetch_add(1);
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);  // the wait is ours, not an idle client's
    return 0;
  }

  // Three target durations (RFC 8216bis: a blocking request's time-out).
  std::chrono::milliseconds BlockingTimeout() const {
    const double target = std::max(1.0, std::ceil(shared_.options.live_segment_seconds));
    return std::chrono::milliseconds(static_cast<int64_t>(3 * target * 1000));
  }

  // The live worker announced a part of (stream, rung), or the stream went off air (`ended`):
  // the requests it satisfies go out.
  void OnPartNoted(const std::string& stream, const std::string& rung, PartPosition position,
                   bool ended) {
    for (uint64_t serial : ended ? parked_.WakeAll(stream) : parked_.Wake(stream, rung, position))
      Unpark(serial, /*timed_out=*/false);
  }

  // A parked request leaves parked_: it is served from WRITEABLE, or, `timed_out`, answered 503.
  void Unpark(uint64_t serial, bool timed_out) {
    shared_.metrics.ll_parked_requests.fetch_sub(1);
    auto found = by_serial_.find(serial);
    if (found == by_serial_.end()) return;
    Session& s = SessionFor(found->second);
    s.parked = false;
    s.last_activity = std::chrono::steady_clock::now();
    if (timed_out) {
      HttpResponse late =
          ErrorResponse(503, "unavailable", "the part asked for did not come in time");
      late.headers["Retry-After"] = "1";
      late.headers["Cache-Control"] = "no-cache";
      s.ready = std::move(late);
      s.delivery.reset();
      s.visible.reset();
    } else {
      s.unparking = true;
    }
    lws_callback_on_writable(found->second);
  }

  DeliveryRequest DeliveryRequestOf(lws* wsi, const Session& s) {
    if (s.delivery) return *s.delivery;  // a parked request's, read when it arrived
    DeliveryRequest d;
    d.method = s.request.method;
    d.range = Header(wsi, WSI_TOKEN_HTTP_RANGE);
    d.if_none_match = Header(wsi, WSI_TOKEN_HTTP_IF_NONE_MATCH);
    d.if_range = Header(wsi, WSI_TOKEN_HTTP_IF_RANGE);
    d.accept_encoding = Header(wsi, WSI_TOKEN_HTTP_ACCEPT_ENCODING);
    return d;
  }

  // Sends the regular file at `file` (already checked to be where it may be served from) as
  // the delivery plan for this request says (media_delivery.h). Only a visible file reaches
  // the response cache, which therefore never answers what a check above refused; and only a
  // `replayable` answer (the same for everyone: not one to a signed URL) is kept or replayed.
  int SendFile(lws* wsi, Session& s, const std::filesystem::path& file, const std::string& name,
               std::string_view cache_control, bool visible, bool replayable = true) {
    const DeliveryRequest request = DeliveryRequestOf(wsi, s);
    // Kept responses are HTTP/1.1 bytes: an HTTP/2 stream neither replays nor keeps them.
    const bool plain = visible && replayable && !s.h2 && IsPlainGet(request, name);
    if (plain) {
      // A plain GET of a small file that was answered before: the same bytes again, after one
      // lstat (see CachedResponse).
      struct stat link;
      const CachedResponse* hit = response_cache_.Get(file.string());
      if (hit != nullptr && lstat(file.c_str(), &link) == 0 && hit->Matches(link) &&
          LwsWorkarounds::StatusLineMatches(wsi, hit->bytes)) {
        const std::string& bytes = hit->bytes;
        shared_.metrics.CountRequest(200);
        std::memcpy(buffer_.data() + LWS_PRE, bytes.data(), bytes.size());
        if (lws_write(wsi, buffer_.data() + LWS_PRE, bytes.size(), LWS_WRITE_HTTP) !=
            static_cast<int>(bytes.size()))
          return -1;
        shared_.metrics.bytes_sent.fetch_add(bytes.size(), std::memory_order_relaxed);
        return Continue(wsi, s);
      }
    }
    DeliveryTarget target;
    target.name = name;
    target.cache_control = std::string(cache_control);
    target.visible = visible;
    int fd = -1;
    struct stat st {};
    if (visible) {
      fd = open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
      if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        target.file =
            FileFacts{static_cast<uint64_t>(st.st_size), st.st_ino,
                      static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
      }
    }
    DeliveryPlan plan = PlanDelivery(request, target);
    if (plan.body != BodySource::kFile && fd >= 0) {
      if (plan.body == BodySource::kGzip)
        return SendGzip(wsi, s, file, fd, target.file->size, plan);
      close(fd);
      fd = -1;
    }
    HttpResponse resp;
    resp.status = plan.status;
    resp.content_type = plan.content_type;
    resp.headers = std::move(plan.headers);
    if (!plan.ok()) {
      if (fd >= 0) close(fd);
      NR_LOG(kDebug) << "http: " << plan.status << " " << s.request.path;
      HttpResponse error = ErrorResponse(plan.status, plan.error_code, plan.error_message);
      for (auto& [k, v] : resp.headers) error.headers[k] = v;
      return Send(wsi, s, error);
    }
    if (plan.status == 304) return Send(wsi, s, resp);
    s.fd = fd;
    s.file_pos = plan.first;
    s.file_end = plan.first + plan.count;
    if (plain && resp.status == 200 && plan.count <= kCachedResponseFileBytes) {
      s.store_as = file.string();
      s.store_stat = st;
    }
    return Send(wsi, s, resp, false, plan.count);
  }

  // The whole file at `fd` (`size` bytes, from the fstat SendFile made), compressed.
  int SendGzip(lws* wsi, Session& s, const std::filesystem::path& file, int fd, uint64_t size,
               DeliveryPlan& plan) {
    std::string text(size, '\0');
    ssize_t got = size ? pread(fd, text.data(), size, 0) : 0;
    close(fd);
    if (got != static_cast<ssize_t>(size))
      return Send(wsi, s, ErrorResponse(404, "not_found", "no such file"));
    const std::pair<std::string, std::string>* cached = gzip_cache_.Get(file.string());
    std::string compressed;
    if (cached == nullptr || cached->first != plan.etag) {
      auto z = Gzip(text);
      if (!z.ok()) return Send(wsi, s, ErrorResponse(z.status()));
      compressed = std::move(z).value();
      gzip_cache_.Put(file.string(), {plan.etag, compressed},
                      compressed.size() + file.native().size());
    } else {
      compressed = cached->second;
    }
    HttpResponse resp;
    resp.status = plan.status;
    resp.content_type = plan.content_type;
    resp.headers = std::move(plan.headers);
    resp.body = std::move(compressed);
    return Send(wsi, s, resp);
  }

  // Writes the status line and headers, then as much of the body as fits in one write; the rest
  // goes out from LWS_CALLBACK_HTTP_WRITEABLE. For a file body (s.fd set) `file_length` is its
  // length. Returns what the lws callback must return.
  int Send(lws* wsi, Session& s, const HttpResponse& resp, bool close_after = false,
           uint64_t file_length = 0) {
    close_after = close_after || s.length_unknown;
    Metrics& m = shared_.metrics;
    m.CountRequest(resp.status);
    const bool head = s.request.method == "HEAD";
    const bool from_file = s.fd >= 0;
    const uint64_t length = from_file ? file_length : resp.body.size();
    unsigned char* start = buffer_.data() + LWS_PRE;
    unsigned char* p = start;
    unsigned char* end = buffer_.data() + buffer_.size() - 1;
    ResponseFraming framing;
    framing.cors_allow_origin = shared_.options.cors_allow_origin;
    framing.upload = s.route.handler == Handler::kUpload;
    framing.close_after = close_after && !s.h2;  // HTTP/2 has no "connection" header
    bool ok = lws_add_http_header_status(wsi, static_cast<unsigned int>(resp.status), &p, end) == 0;
    for (const auto& [name, value] : ResponseHeaderFields(resp, length, framing)) {
      ok = ok &&
           lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>(name.c_str()),
                                       reinterpret_cast<const unsigned char*>(value.data()),
                                       static_cast<int>(value.size()), &p, end) == 0;
    }
    ok = ok && lws_finalize_http_header(wsi, &p, end) == 0;
    if (!ok) {
      NR_LOG(kError) << "http: response headers do not fit the buffer";
      return -1;
    }
    if (resp.status >= 400 && resp.status != 404) {
      NR_LOG(kInfo) << "http: " << Peer() << " " << s.request.method << " " << s.request.path
                    << " -> " << resp.status;
    }
    if (s.h2) return SendH2Headers(wsi, s, resp, start, p, close_after);
    // Append as much body as fits after the headers, so that a small response is one write.
    size_t room = static_cast<size_t>(end - p);
    if (head || resp.status == 304) {
      s.ResetResponse();
    } else if (from_file && s.file_end - s.file_pos <= kInlineFileBytes &&
               s.file_end - s.file_pos <= room) {
      // A small file goes out with its headers in one write.
      size_t want = static_cast<size_t>(s.file_end - s.file_pos);
      ssize_t got = want ? pread(s.fd, p, want, static_cast<off_t>(s.file_pos)) : 0;
      if (got < 0) return -1;
      p += got;
      s.file_pos += static_cast<uint64_t>(got);
    } else if (from_file) {
      // A large one follows with sendfile(2) from LWS_CALLBACK_HTTP_WRITEABLE.
    } else {
      size_t n = std::min(room, resp.body.size());
      std::memcpy(p, resp.body.data(), n);
      p += n;
      if (n < resp.body.size()) {
        s.body = resp.body;
        s.body_sent = n;
      }
    }
    const size_t total = static_cast<size_t>(p - start);
    if (!s.store_as.empty()) {
      // The whole response is in this one write: keep it for the next plain GET (SendFile).
      if (!close_after && !head && s.file_pos == s.file_end) StoreResponse(s, start, total);
      s.store_as.clear();
    }
    if (lws_write(wsi, start, total, LWS_WRITE_HTTP) != static_cast<int>(total)) return -1;
    m.bytes_sent.fetch_add(total, std::memory_order_relaxed);
    return Continue(wsi, s, close_after);
  }

  // HTTP/2: the headers (HPACK, from `start` to `p`) are a HEADERS frame of their own, which
  // ends the stream when no body follows; the body follows from WRITEABLE, one DATA frame at a
  // time (OnHttpWriteable), since lws takes one write per stream and turn.
  int SendH2Headers(lws* wsi, Session& s, const HttpResponse& resp, unsigned char* start,
                    unsigned char* p, bool close_after) {
    const bool head = s.request.method == "HEAD";
    const bool from_file = s.fd >= 0;
    bool body_follows = false;
    if (head || resp.status == 304) {
      s.ResetResponse();
    } else if (from_file) {
      body_follows = s.file_pos < s.file_end;
    } else if (!resp.body.empty()) {
      s.body = resp.body;
      s.body_sent = 0;
      body_follows = true;
    }
    if (!body_follows) s.ResetResponse();
    s.store_as.clear();
    const size_t total = static_cast<size_t>(p - start);
    const int mode = LWS_WRITE_HTTP_HEADERS | (body_follows ? 0 : LWS_WRITE_H2_STREAM_END);
    if (lws_write(wsi, start, total, static_cast<lws_write_protocol>(mode)) !=
        static_cast<int>(total))
      return -1;
    shared_.metrics.bytes_sent.fetch_add(total, std::memory_order_relaxed);
    return Continue(wsi, s, close_after);
  }

  void StoreResponse(const Session& s, const unsigned char* bytes, size_t total) {
    CachedResponse c;
    c.dev = s.store_stat.st_dev;
    c.ino = s.store_stat.st_ino;
    c.size = s.store_stat.st_size;
    c.mtime = s.store_stat.st_mtim;
    c.ctime = s.store_stat.st_ctim;
    c.bytes.assign(reinterpret_cast<const char*>(bytes), total);
    response_cache_.Put(s.store_as, std::move(c), total + s.store_as.size());
  }

  int Continue(lws* wsi, Session& s, bool close_after = false) {
    const bool more = (s.fd >= 0 && s.file_pos < s.file_end) || s.body_sent < s.body.size();
    // lws 4.1 stops sending what it still holds for an HTTP/2 connection once the stream that
    // wrote it closes: the stream stays open until the connection has sent it all (streams are
    // called WRITEABLE only when the connection holds nothing).
    if (more || (s.h2 && lws_partial_buffered(lws_get_network_wsi(wsi)))) {
      s.h2_draining = !more;
      s.h2_close_after = close_after;
      lws_callback_on_writable(wsi);
      return 0;
    }
    s.ResetResponse();
    s.last_activity = std::chrono::steady_clock::now();  // keep-alive idle from here
    if (close_after) return -1;
    if (lws_http_transaction_completed(wsi)) return -1;
    workarounds_->KeptAlive(wsi, s.screen);
    return 0;
  }

  int OnHttpWriteable(lws* wsi, Session& s) {
    if (s.events) return 0;
    const bool sending = (s.fd >= 0 && s.file_pos < s.file_end) || s.body_sent < s.body.size();
    if (!sending && s.h2_draining) return Continue(wsi, s, s.h2_close_after);
    if (!sending) return 0;
    s.last_activity = std::chrono::steady_clock::now();  // a response moving, not a spare call
    unsigned char* start = buffer_.data() + LWS_PRE;
    size_t room = buffer_.size() - LWS_PRE;
    if (s.h2) {
      // One DATA frame, within the peer's flow-control window; a window update from the peer
      // brings the next WRITEABLE when it is spent.
      const lws_fileofs_t allowance = lws_get_peer_write_allowance(wsi);
      if (allowance == 0) return 0;
      room = std::min(room, kH2FrameBytes);
      if (allowance > 0) room = std::min(room, static_cast<size_t>(allowance));
    }
    size_t n = 0;
    if (tls_ && s.fd >= 0 && s.file_pos < s.file_end) {
      // Over TLS the bytes are encrypted on their way: read, then write through lws.
      n = static_cast<size_t>(std::min<uint64_t>(room, s.file_end - s.file_pos));
      const ssize_t got = pread(s.fd, start, n, static_cast<off_t>(s.file_pos));
      if (got <= 0) return -1;  // the file shrank under us
      n = static_cast<size_t>(got);
      s.file_pos += n;
    } else if (s.fd >= 0 && s.file_pos < s.file_end) {
      // Zero-copy from the page cache to the socket. lws calls WRITEABLE only once it has no
      // buffered output of its own for this connection (the headers went out before), and this
      // is plain HTTP/1.1 over TCP, so writing to the socket directly keeps the byte order.
      const int sock = lws_get_socket_fd(wsi);
      size_t budget = 4 * shared_.options.send_buffer_bytes;  // then let other connections run
      while (s.file_pos < s.file_end && budget > 0) {
        off_t off = static_cast<off_t>(s.file_pos);
        size_t want = static_cast<size_t>(std::min<uint64_t>(budget, s.file_end - s.file_pos));
        ssize_t sent = sendfile(sock, s.fd, &off, want);
        if (sent < 0 && (errno == EAGAIN || errno == EINTR)) break;
        if (sent <= 0) return -1;  // peer gone, or the file shrank under us
        s.file_pos += static_cast<uint64_t>(sent);
        budget -= std::min(budget, static_cast<size_t>(sent));
        shared_.metrics.bytes_sent.fetch_add(static_cast<uint64_t>(sent),
                                             std::memory_order_relaxed);
      }
      return Continue(wsi, s);
    } else if (s.body_sent < s.body.size()) {
      n = std::min(room, s.body.size() - s.body_sent);
      std::memcpy(start, s.body.data() + s.body_sent, n);
      s.body_sent += n;
    } else {
      return 0;
    }
    const bool last = !((s.fd >= 0 && s.file_pos < s.file_end) || s.body_sent < s.body.size());
    // The last DATA frame of an HTTP/2 response ends its stream.
    const lws_write_protocol mode = s.h2 && last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP;
    if (lws_write(wsi, start, n, mode) != static_cast<int>(n)) return -1;
    shared_.metrics.bytes_sent.fetch_add(n, std::memory_order_relaxed);
    return Continue(wsi, s);
  }

  SharedState& shared_;
  const int index_;
  const bool tls_;              // connections speak TLS (and maybe h2)
  SSL_CTX* ssl_ctx_ = nullptr;  // the vhost's, owned by lws; set once lws created it
  lws_protocols protocols_[2];
  struct ev_loop* loop_ = nullptr;
  void* foreign_loops_[1] = {nullptr};
  std::unique_ptr<lws_context, ContextDeleter> context_;
  int listen_fd_ = -1;  // owned by the context once adopted
  lws* listener_wsi_ = nullptr;
  ev_timer idle_timer_{};
  std::unique_ptr<LwsWorkarounds> workarounds_;
  std::thread thread_;
  bool thread_started_ = false;
  std::atomic<bool> stop_{false};
  int subscription_ = 0;
  std::shared_ptr<Inbox> inbox_;  // shared with the event bus's sink and pool tasks
  // Service thread only:
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<ApiHandler> api_;
  std::unique_ptr<TusHandler> tus_;
  std::vector<unsigned char> buffer_;
  std::unordered_map<lws*, std::unique_ptr<Session>> sessions_;
  std::unordered_map<uint64_t, lws*> by_serial_;
  // LL-HLS requests waiting for a part (HoldForPart), and this thread's subscription to the
  // parts the live service announces (LiveRings::SubscribeParts).
  ParkedRequests parked_{static_cast<size_t>(std::max(0, shared_.options.max_parked_per_address))};
  int part_subscription_ = 0;
  // Descriptors the workarounds hold, by the address each counts against (AdmitConnection).
  std::unordered_map<int, AddressKey> accepted_;
  uint64_t next_serial_ = 0;
  std::vector<lws*> ws_clients_;
  // The /ws/live viewers of this thread, by ring: the ring, this thread's subscription to its
  // wake-ups, and the viewers' connections.
  struct LiveGroup {
    std::shared_ptr<MediaRing> ring;
    int subscription = 0;
    std::vector<lws*> viewers;
  };
  std::unordered_map<const MediaRing*, LiveGroup> live_groups_;
  // The caches of this thread, each bounded (lru_cache.h): compressed text by file path (etag,
  // gzip), resolved media paths by request path for a moment (each resolution checks every
  // path component), and whole responses (CachedResponse).
  LruCache<std::string, std::pair<std::string, std::string>> gzip_cache_{
      {.max_entries = 512, .max_cost = kGzipCacheBytes}};
  LruCache<std::string, MediaTarget> path_cache_{
      {.max_entries = 4096, .ttl = std::chrono::seconds(2)}};
  LruCache<std::string, CachedResponse> response_cache_{
      {.max_entries = 4096, .max_cost = kResponseCacheBytes}};
  lws* current_wsi_ = nullptr;
};

ServiceThread::ServiceThread(SharedState& shared, int index)
    : impl_(std::make_unique<Impl>(shared, index)) {}
ServiceThread::~ServiceThread() = default;
Status ServiceThread::Start(UniqueFd listener) { return impl_->Start(std::move(listener)); }
void ServiceThread::RequestStop() { impl_->RequestStop(); }
void ServiceThread::Join() { impl_->Join(); }
std::future<Status> ServiceThread::UseTlsCertificate(
    std::shared_ptr<const TlsCertificate> certificate) {
  return impl_->UseTlsCertificate(std::move(certificate));
}

}  // namespace newsreel::streaming
