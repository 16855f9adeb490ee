#include "streaming/server.h"

#include <ev.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "catalog/catalog.h"
#include "common/log.h"
#include "streaming/api.h"
#include "streaming/http_util.h"
#include "streaming/media_files.h"
#include "streaming/supervisor.h"
#include "streaming/tus.h"
#include "streaming/visibility_cache.h"

namespace newsreel::streaming {

namespace {

// Files up to this size go out in the same write as their headers; larger ones by sendfile.
constexpr uint64_t kInlineFileBytes = 64 * 1024;
// Responses kept whole per service thread (ServiceThread::response_cache_): files up to this
// size, and this much in all.
constexpr uint64_t kCachedResponseFileBytes = 16 * 1024;
// How long a refused connection is read and drained before it is closed regardless.
constexpr std::chrono::seconds kLingerAfterRefusal(5);
constexpr size_t kResponseCacheBytes = 8 << 20;
// Stalled upload requests closed per second by the idle timer (see CloseIdle).
constexpr int kIdleUploadClosesPerPass = 32;
// A refused upload request body up to this size is read (and dropped) before the answer.
constexpr int64_t kDrainBodyBytes = 16 << 20;

constexpr char kCorsMethods[] = "GET, HEAD, POST, PATCH, DELETE, OPTIONS";
constexpr char kCorsHeaders[] =
    "Range, If-None-Match, If-Range, Content-Type, Authorization, Tus-Resumable, Upload-Length, "
    "Upload-Defer-Length, Upload-Metadata, Upload-Offset, Upload-Checksum, Upload-Concat, "
    "X-HTTP-Method-Override, X-Requested-With";
constexpr char kCorsExpose[] =
    "Content-Length, Content-Range, Content-Encoding, ETag, Accept-Ranges";
// Upload responses expose the tus headers too (kept off media responses, which are many and
// small).
constexpr char kCorsExposeTus[] =
    "Content-Length, ETag, Location, Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, "
    "Tus-Checksum-Algorithm, Upload-Offset, Upload-Length, Upload-Defer-Length, Upload-Metadata, "
    "Upload-Expires";

struct ContextDeleter {
  void operator()(lws_context* c) const { lws_context_destroy(c); }
};

// One HTTP transaction or WebSocket connection. Created on first use, destroyed with the wsi.
struct Session {
  // Request.
  RequestContext request;
  bool awaiting_body = false;
  bool body_too_large = false;
  // A tus request body being written into an upload, and when its body started.
  std::unique_ptr<TusWrite> tus;
  // A refusal answered once the (small) body it refused has been read and dropped.
  std::optional<HttpResponse> after_body;
  std::chrono::steady_clock::time_point body_started;
  // For idle connections (see ServiceThread::CloseIdle).
  std::chrono::steady_clock::time_point last_activity = std::chrono::steady_clock::now();
  int requests = 0;
  // Response body still to send: either `body` from `body_sent`, or the file range.
  std::string body;
  size_t body_sent = 0;
  int fd = -1;
  uint64_t file_pos = 0, file_end = 0;  // [pos, end)
  // A response to keep whole once sent (ServiceThread::response_cache_): the file and its stat.
  std::string store_as;
  struct stat store_stat {};
  // The screen of a kept-alive connection's later request lines (ServiceThread::ScreenKeptAlive):
  // its watcher runs between requests only; while the next line is incomplete, lws's reading
  // is paused and the descriptor waits in the pending epoll set instead.
  ev_io screen{};
  bool screen_armed = false;
  bool reads_held = false;
  // WebSocket.
  bool websocket = false;
  std::deque<std::shared_ptr<const std::string>> outbox;

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

using AddrInfoPtr = std::unique_ptr<addrinfo, decltype(&freeaddrinfo)>;

// The address `serve` listens on (the first one `host` resolves to).
Result<AddrInfoPtr> ResolveListenAddress(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0)
    return InvalidArgument("cannot resolve listen address " + host + ": " + gai_strerror(rc));
  return AddrInfoPtr(res, &freeaddrinfo);
}

// A listening TCP socket with SO_REUSEPORT, so that each service thread can have its own and the
// kernel spreads new connections over them.
Result<int> OpenListener(const std::string& host, int port) {
  auto address = ResolveListenAddress(host, port);
  if (!address.ok()) return address.status();
  const addrinfo* res = address->get();
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return IoError(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
    std::string why = std::strerror(errno);
    close(fd);
    return IoError("cannot listen on " + host + ":" + std::to_string(port) + ": " + why);
  }
  return fd;
}

// Whether another socket listens on host:port. SO_REUSEPORT would let a second `newsreel
// serve` (or anything else that sets it) share the port silently, each taking part of the
// connections: a plain bind, which fails whenever the port is taken, is tried first.
Status CheckPortFree(const std::string& host, int port) {
  if (port == 0) return Status::Ok();
  auto address = ResolveListenAddress(host, port);
  if (!address.ok()) return address.status();
  const addrinfo* res = address->get();
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return IoError(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // TIME_WAIT is not "taken"
  const bool taken = bind(fd, res->ai_addr, res->ai_addrlen) != 0 && errno == EADDRINUSE;
  close(fd);
  if (taken)
    return IoError("cannot listen on " + host + ":" + std::to_string(port) +
                   ": the port is in use (is another newsreel serve running there?)");
  return Status::Ok();
}

}  // namespace

class ServiceThread;

struct Server::Impl {
  ServerOptions options;
  DataDir data;
  std::filesystem::path media_root, live_root;  // canonical
  std::filesystem::path web_root;               // canonical, empty when there are no pages
  Metrics metrics;
  EventBus events;
  VisibilityCache visibility;
  UploadLocks upload_locks;
  std::thread janitor;  // expired and unfinished uploads
  std::mutex janitor_mu;
  std::condition_variable janitor_cv;
  bool janitor_stop = false;  // guarded by janitor_mu
  std::unique_ptr<EncoderList> encoders;
  std::unique_ptr<JobSupervisor> supervisor;
  std::vector<std::unique_ptr<ServiceThread>> threads;
  std::mutex stop_mu;
  bool started = false, stopped = false;
};

// One lws context and the thread that services it.
class ServiceThread {
 public:
  ServiceThread(Server::Impl& server, int index) : server_(server), index_(index) {}

  ~ServiceThread() { Join(); }

  // Takes ownership of `listen_fd`.
  Status Start(int listen_fd) {
    auto cat = catalog::Catalog::Open(server_.data.catalog().string());
    if (!cat.ok()) return cat.status();
    catalog_ = std::move(cat).value();
    api_ = std::make_unique<ApiHandler>(server_.data, *catalog_, server_.events, server_.visibility,
                                        *server_.encoders, server_.supervisor.get());
    tus_ = std::make_unique<TusHandler>(server_.data, *catalog_, server_.events,
                                        server_.upload_locks, server_.options.tus);
    buffer_.resize(LWS_PRE + server_.options.send_buffer_bytes);

    protocols_[0] = {"newsreel", &ServiceThread::Callback, sizeof(void*), 4096, 0, nullptr, 0};
    protocols_[1] = {nullptr, nullptr, 0, 0, 0, nullptr, 0};
    lws_context_creation_info info;
    std::memset(&info, 0, sizeof info);
    // The context does not listen itself: Debian's lws 4.1.6 does not set SO_REUSEPORT for
    // LWS_SERVER_OPTION_ALLOW_LISTEN_SHARE, so a second context could not bind the port. Each
    // thread gets its own SO_REUSEPORT listener instead, adopted below as a raw descriptor; its
    // readiness arrives as LWS_CALLBACK_RAW_RX_FILE on this thread, which accepts and adopts
    // the new connections into this context (lws_adopt_socket_vhost).
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    info.protocols = protocols_;
    info.user = this;
    info.count_threads = 1;
    info.pt_serv_buf_size = static_cast<unsigned int>(server_.options.send_buffer_bytes);
    info.keepalive_timeout = server_.options.keepalive_timeout_seconds;
    info.timeout_secs = static_cast<unsigned int>(server_.options.idle_timeout_seconds);
    info.max_http_header_data = 8192;
    // An epoll loop (libev) instead of lws's default poll(): poll() scans every descriptor on
    // each wake-up, which costs more than the requests themselves with thousands of
    // keep-alive connections. The loop is ours and runs on this thread (see Run).
    loop_ = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    if (!loop_) {
      close(listen_fd);
      return Internal("cannot create an event loop");
    }
    foreign_loops_[0] = loop_;
    info.foreign_loops = foreign_loops_;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_LIBEV;
    lws_context* ctx = lws_create_context(&info);
    if (!ctx) {
      close(listen_fd);
      return Internal("cannot create a libwebsockets context");
    }
    context_.reset(ctx);
    vhost_ = lws_get_vhost_by_name(ctx, "default");
    lws_sock_file_fd_type desc;
    desc.filefd = listen_fd;
    listen_fd_ = listen_fd;
    if (vhost_)
      listener_wsi_ =
          lws_adopt_descriptor_vhost(vhost_, LWS_ADOPT_RAW_FILE_DESC, desc, "newsreel", nullptr);
    if (!listener_wsi_) return Internal("cannot adopt the listening socket");
    sessions_.erase(listener_wsi_);  // the listener is not a connection
    ev_timer_init(&idle_timer_, &ServiceThread::OnIdleTimer, 1.0, 1.0);
    idle_timer_.data = this;
    ev_timer_start(loop_, &idle_timer_);
    pending_epoll_ = epoll_create1(EPOLL_CLOEXEC);
    if (pending_epoll_ < 0) return IoError(std::string("epoll_create1: ") + std::strerror(errno));
    ev_io_init(&pending_watch_, &ServiceThread::OnPendingReadable, pending_epoll_, EV_READ);
    pending_watch_.data = this;
    ev_io_start(loop_, &pending_watch_);
    ev_set_userdata(loop_, this);
    ev_prepare_init(&keepalive_watch_, &ServiceThread::OnPrepare);
    keepalive_watch_.data = this;
    ev_prepare_start(loop_, &keepalive_watch_);
    server_.metrics.open_connections.fetch_sub(1);  // the listener is not a connection
    subscription_ = server_.events.Subscribe([this](std::shared_ptr<const std::string> e) {
      {
        std::lock_guard lock(inbox_mu_);
        inbox_.push_back(std::move(e));
      }
      lws_cancel_service(context_.get());
    });
    thread_ = std::thread([this] { Run(); });
    return Status::Ok();
  }

  // Asks the thread to stop; Join waits for it and destroys the context on that thread.
  void RequestStop() {
    stop_.store(true);
    if (context_) lws_cancel_service(context_.get());
  }

  void Join() {
    if (thread_.joinable()) thread_.join();
    if (subscription_) server_.events.Unsubscribe(subscription_);
    subscription_ = 0;
  }

 private:
  void Run() {
    while (!stop_.load()) ev_run(loop_, 0);  // returns on ev_break (see EVENT_WAIT_CANCELLED)
    ev_timer_stop(loop_, &idle_timer_);
    ev_io_stop(loop_, &pending_watch_);
    ev_prepare_stop(loop_, &keepalive_watch_);
    rearming_.clear();
    for (auto& [fd, since] : pending_) close(fd);
    pending_.clear();
    close(pending_epoll_);
    server_.events.Unsubscribe(subscription_);
    subscription_ = 0;
    context_.reset();  // closes the listener and every connection, on this thread
    for (auto& [wsi, session] : sessions_)
      if (session->screen_armed) ev_io_stop(loop_, &session->screen);
    sessions_.clear();
    held_.clear();
    for (auto& [fd, linger] : lingering_) close(fd);
    lingering_.clear();
    ev_run(loop_, EVRUN_NOWAIT);
    ev_loop_destroy(loop_);
    loop_ = nullptr;
    api_.reset();
    tus_.reset();
    catalog_.reset();
  }

  static int Callback(lws* wsi, lws_callback_reasons reason, void* user, void* in,
                      size_t len) noexcept {
    lws_context* ctx = lws_get_context(wsi);
    auto* self = ctx ? static_cast<ServiceThread*>(lws_context_user(ctx)) : nullptr;
    if (!self) return 0;
    try {
      return self->Handle(wsi, reason, in, len);
    } catch (const std::exception& e) {
      NR_LOG(kError) << "http: unexpected exception: " << e.what();
      return -1;
    }
  }

  Session& SessionFor(lws* wsi) {
    auto& s = sessions_[wsi];
    if (!s) s = std::make_unique<Session>();
    return *s;
  }

  int Handle(lws* wsi, lws_callback_reasons reason, void* in, size_t len) {
    Metrics& m = server_.metrics;
    switch (reason) {
      case LWS_CALLBACK_WSI_CREATE:
        m.open_connections.fetch_add(1);
        SessionFor(wsi);  // starts its idle clock
        return 0;
      case LWS_CALLBACK_WSI_DESTROY: {
        m.open_connections.fetch_sub(1);
        rearming_.erase(std::remove(rearming_.begin(), rearming_.end(), wsi), rearming_.end());
        auto it = sessions_.find(wsi);
        if (it != sessions_.end() && it->second->tus) tus_->Abandon(*it->second->tus);
        if (it != sessions_.end()) StopScreen(*it->second, /*destroying=*/true);
        sessions_.erase(wsi);
        return 0;
      }
      case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        DeliverEvents();
        if (stop_.load() && loop_) ev_break(loop_, EVBREAK_ALL);
        return 0;
      case LWS_CALLBACK_RAW_RX_FILE:  // the listener is readable: accept what is waiting
        for (int i = 0; i < 256; ++i) {
          int c = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          if (stop_.load()) {
            close(c);
            continue;
          }
          Admit(c);
        }
        return 0;
      case LWS_CALLBACK_RAW_CLOSE_FILE:
        listen_fd_ = -1;
        return 0;
      case LWS_CALLBACK_HTTP: {
        Session& s = SessionFor(wsi);
        StopScreen(s);  // lws has the request (from bytes it held, when pipelined)
        s.ResetResponse();
        s.awaiting_body = s.body_too_large = false;
        s.after_body.reset();
        s.last_activity = std::chrono::steady_clock::now();
        ++s.requests;
        return OnHttpRequest(wsi, s, static_cast<const char*>(in), len);
      }
      case LWS_CALLBACK_HTTP_BODY: {
        Session& s = SessionFor(wsi);
        s.last_activity = std::chrono::steady_clock::now();
        if (s.tus) return OnUploadData(wsi, s, static_cast<const char*>(in), len);
        if (s.after_body) return 0;
        if (s.request.body.size() + len > server_.options.max_request_body_bytes)
          s.body_too_large = true;
        else
          s.request.body.append(static_cast<const char*>(in), len);
        return 0;
      }
      case LWS_CALLBACK_HTTP_BODY_COMPLETION: {
        Session& s = SessionFor(wsi);
        s.awaiting_body = false;
        if (s.tus) {
          HttpResponse resp = tus_->Finish(*s.tus);
          s.tus.reset();
          return Send(wsi, s, resp);
        }
        if (s.after_body) {
          HttpResponse resp = std::move(*s.after_body);
          s.after_body.reset();
          return Send(wsi, s, resp);
        }
        if (s.body_too_large)
          return Send(wsi, s, ErrorResponse(413, "invalid_argument", "request body too large"));
        return Send(wsi, s, api_->Handle(s.request));
      }
      case LWS_CALLBACK_HTTP_WRITEABLE:
        return OnHttpWriteable(wsi, SessionFor(wsi));
      case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        // WebSocket upgrades only on /ws.
        char uri[64] = "";
        if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) < 0) return 1;
        return std::strcmp(uri, "/ws") == 0 ? 0 : 1;
      }
      case LWS_CALLBACK_ESTABLISHED: {
        Session& s = SessionFor(wsi);
        StopScreen(s);
        s.websocket = true;
        ws_clients_.push_back(wsi);
        m.websocket_clients.fetch_add(1);
        nlohmann::json hello = {{"type", "hello"},
                                {"seq", server_.events.published()},
                                {"data", {{"server", "newsreel"}, {"thread", index_}}}};
        s.outbox.push_back(std::make_shared<const std::string>(hello.dump()));
        lws_callback_on_writable(wsi);
        return 0;
      }
      case LWS_CALLBACK_CLOSED: {
        auto it = std::find(ws_clients_.begin(), ws_clients_.end(), wsi);
        if (it != ws_clients_.end()) {
          ws_clients_.erase(it);
          m.websocket_clients.fetch_sub(1);
        }
        return 0;
      }
      case LWS_CALLBACK_SERVER_WRITEABLE: {
        Session& s = SessionFor(wsi);
        if (s.outbox.empty()) return 0;
        std::shared_ptr<const std::string> msg = s.outbox.front();
        s.outbox.pop_front();
        std::vector<unsigned char> frame(LWS_PRE + msg->size());
        std::memcpy(frame.data() + LWS_PRE, msg->data(), msg->size());
        if (lws_write(wsi, frame.data() + LWS_PRE, msg->size(), LWS_WRITE_TEXT) < 0) return -1;
        m.bytes_sent.fetch_add(msg->size());
        if (!s.outbox.empty()) lws_callback_on_writable(wsi);
        return 0;
      }
      case LWS_CALLBACK_RECEIVE:
        return 0;  // clients have nothing to say yet
      default:
        return 0;
    }
  }

  void DeliverEvents() {
    std::deque<std::shared_ptr<const std::string>> events;
    {
      std::lock_guard lock(inbox_mu_);
      events.swap(inbox_);
    }
    if (events.empty()) return;
    for (lws* wsi : ws_clients_) {
      Session& s = SessionFor(wsi);
      for (auto& e : events) s.outbox.push_back(e);
      if (static_cast<int>(s.outbox.size()) > server_.options.max_websocket_backlog) {
        NR_LOG(kWarning) << "ws: dropping a client that does not keep up";
        s.outbox.clear();
        lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
                         reinterpret_cast<unsigned char*>(const_cast<char*>("too slow")), 8);
        lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
        continue;
      }
      lws_callback_on_writable(wsi);
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

  int OnHttpRequest(lws* wsi, Session& s, const char* uri_in, size_t uri_len) {
    RequestContext& r = s.request;
    r = RequestContext{};
    r.caller.anonymous = true;
    r.caller.role = server_.options.anonymous_role;
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
      return Send(wsi, s, refused, /*close_after=*/true);
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
    current_wsi_ = wsi;  // the peer address is looked up only when a line is logged

    const std::string& path = r.path;
    if (path == "/files" || path.rfind("/files/", 0) == 0) return OnUploadRequest(wsi, s);
    if (r.method == "OPTIONS") {  // CORS preflight
      HttpResponse resp;
      resp.status = 204;
      resp.content_type.clear();
      resp.headers["Access-Control-Allow-Methods"] = kCorsMethods;
      resp.headers["Access-Control-Allow-Headers"] = kCorsHeaders;
      resp.headers["Access-Control-Max-Age"] = "86400";
      return Send(wsi, s, resp);
    }
    if (path.rfind("/media/", 0) == 0) return ServeFile(wsi, s, path.substr(7), false);
    if (path.rfind("/live/", 0) == 0) return ServeFile(wsi, s, path.substr(6), true);
    if (path == "/api/v1" || path.rfind("/api/v1/", 0) == 0) {
      const bool has_body = r.method == "POST" || r.method == "PATCH" || r.method == "PUT";
      std::string cl = Header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
      if (has_body && !cl.empty() && cl != "0") {
        char* end = nullptr;
        unsigned long long n = std::strtoull(cl.c_str(), &end, 10);
        if (n > server_.options.max_request_body_bytes)
          return Send(wsi, s, ErrorResponse(413, "invalid_argument", "request body too large"),
                      /*close=*/true);
        s.awaiting_body = true;
        return 0;  // LWS_CALLBACK_HTTP_BODY* follow
      }
      return Send(wsi, s, api_->Handle(r));
    }
    if (path == "/healthz") {
      auto counts = catalog_->jobs().CountByState();
      nlohmann::json j = {{"status", counts.ok() ? "ok" : "degraded"},
                          {"catalog", counts.ok() ? "ok" : counts.status().ToString()}};
      HttpResponse resp;
      resp.status = counts.ok() ? 200 : 503;
      resp.body = j.dump();
      resp.headers["Cache-Control"] = "no-store";
      return Send(wsi, s, resp);
    }
    if (path == "/metrics") {
      std::map<std::string, int64_t> jobs;
      if (auto counts = catalog_->jobs().CountByState(); counts.ok())
        for (auto& [state, n] : *counts) jobs[catalog::ToString(state)] = n;
      server_.metrics.events_published.store(server_.events.published());
      HttpResponse resp;
      resp.content_type = "text/plain; version=0.0.4; charset=utf-8";
      resp.body = RenderPrometheus(server_.metrics, jobs);
      resp.headers["Cache-Control"] = "no-store";
      return Send(wsi, s, resp);
    }
    if (path == "/ws")
      return Send(wsi, s, ErrorResponse(400, "invalid_argument", "/ws needs a WebSocket upgrade"));
    if (!server_.web_root.empty()) {
      auto page = ResolveWebPath(server_.web_root, std::string_view(path).substr(1));
      if (page.ok()) {
        // Pages change with the server version: browsers revalidate (ETag -> 304).
        const std::string name = page->filename().string();
        return SendFile(wsi, s, *page, name, "no-cache");
      }
    }
    return Send(wsi, s, ErrorResponse(404, "not_found", "nothing at " + path));
  }

  // Every second: closes HTTP connections that have been silent too long. A connection that has
  // not finished its first request's headers, or whose request body or response has stopped
  // moving, gets idle_timeout_seconds; one idle between requests gets the keep-alive timeout.
  // (Debian's lws 4.1.6 with a foreign libev loop enforced its own timeouts only ~30 s late.)
  static void OnIdleTimer(struct ev_loop*, ev_timer* timer, int) noexcept {
    static_cast<ServiceThread*>(timer->data)->CloseIdle();
  }

  void CloseIdle() {
    const auto now = std::chrono::steady_clock::now();
    const auto idle_limit = std::chrono::seconds(server_.options.idle_timeout_seconds);
    const auto keepalive_limit = std::chrono::seconds(server_.options.keepalive_timeout_seconds);
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (now - it->second > idle_limit) {
        close(it->first);  // leaves the epoll set with it
        server_.metrics.idle_closed.fetch_add(1, std::memory_order_relaxed);
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto it = lingering_.begin(); it != lingering_.end();) {
      if (now > it->second.until) {
        close(it->first);
        it = lingering_.erase(it);
      } else {
        ++it;
      }
    }
    std::vector<lws*> doomed;
    int uploads = 0;
    for (const auto& [wsi, s] : sessions_) {
      if (s->websocket || wsi == listener_wsi_) continue;
      const bool busy =
          s->awaiting_body || s->reads_held || s->fd >= 0 || s->body_sent < s->body.size();
      const auto limit = (busy || s->requests == 0) ? idle_limit : keepalive_limit;
      if (now - s->last_activity <= limit) continue;
      // Closing a stalled upload keeps what arrived: a flush and a catalog commit on this
      // thread. A few per pass, so that a crowd of them does not hold up everyone else here.
      if (s->tus && ++uploads > kIdleUploadClosesPerPass) continue;
      doomed.push_back(wsi);
    }
    for (lws* wsi : doomed) {
      Session& s = *sessions_[wsi];
      if (s.awaiting_body || s.requests == 0) {
        char peer[64] = "";
        lws_get_peer_simple(wsi, peer, sizeof peer);
        NR_LOG(kDebug) << "http: closing idle connection from " << peer;
      }
      server_.metrics.idle_closed.fetch_add(1, std::memory_order_relaxed);
      lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
    }
  }

  // A new connection is handed to lws once its first bytes are here, after one check of them
  // (peeked, so that lws reads them itself): libwebsockets drops a request whose path holds a NUL
  // byte (%00) or another control byte without any answer, so such a request line is answered
  // 400 here (later requests of a kept-alive connection: ScreenKeptAlive).
  // Connections waiting for their first bytes sit in an epoll set of their own (one descriptor
  // in the loop), so that the loop never watches one of them for us and for lws at once.
  void Admit(int fd) {
    char buf[8192];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT | MSG_PEEK);
    if (n > 0) return Screen(fd, buf, static_cast<size_t>(n));
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
      close(fd);
      return;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.fd = fd;
    if (epoll_ctl(pending_epoll_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      lws_adopt_socket_vhost(vhost_, fd);  // let lws wait for it unscreened
      return;
    }
    pending_[fd] = std::chrono::steady_clock::now();
  }

  static void OnPendingReadable(struct ev_loop*, ev_io* io, int) noexcept {
    auto* self = static_cast<ServiceThread*>(io->data);
    epoll_event events[64];
    int n = epoll_wait(self->pending_epoll_, events, 64, 0);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (auto held = self->held_.find(fd); held != self->held_.end()) {
        auto session = self->sessions_.find(held->second);
        if (session != self->sessions_.end())
          self->CheckNextRequestLine(held->second, *session->second, events[i].events);
        continue;
      }
      if (self->lingering_.count(fd)) {
        self->Linger(fd, events[i].events);
        continue;
      }
      epoll_ctl(self->pending_epoll_, EPOLL_CTL_DEL, fd, nullptr);
      self->pending_.erase(fd);
      self->Admit(fd);
    }
  }

  // Whether the first line of `head` holds a byte lws would drop the connection over or cut the
  // path at: a raw control byte (0x00-0x1F, 0x7F) other than the CR that ends the line, an
  // encoded one in the path, or an encoded NUL, CR or LF in the query (an encoded tab there is
  // a search term's business).
  static bool RequestLineHasControlByte(std::string_view head) {
    std::string_view line = head.substr(0, head.find('\n'));
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    auto hex = [](char c) {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    bool query = false;
    for (size_t i = 0; i < line.size(); ++i) {
      const int raw = static_cast<unsigned char>(line[i]);
      if (raw < 0x20 || raw == 0x7f) return true;
      if (raw == '?') query = true;
      if (raw != '%' || i + 2 >= line.size() || hex(line[i + 1]) < 0 || hex(line[i + 2]) < 0)
        continue;
      const int c = hex(line[i + 1]) * 16 + hex(line[i + 2]);
      if (query ? (c == 0 || c == '\r' || c == '\n') : (c < 0x20 || c == 0x7f)) return true;
    }
    return false;
  }

  // Whether `head` starts like a request line: a method token (A-Z) and a space.
  static bool LooksLikeRequestLine(std::string_view head) {
    size_t i = 0;
    while (i < head.size() && i < 16 && head[i] >= 'A' && head[i] <= 'Z') ++i;
    return i > 0 && (i == head.size() || head[i] == ' ');
  }

  // Answers 400 on `fd` (ours) for a request line with a control byte, bypassing lws, and logs
  // it; then lingers (see lingering_) so that the close does not reset the connection before
  // the client has read the answer.
  void RefuseControlByteRequest(int fd) {
    const std::string body =
        ErrorResponse(400, "invalid_argument", "control byte in the request path").body;
    std::string response =
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
        "content-length: " +
        std::to_string(body.size()) +
        "\r\naccess-control-allow-origin: " + server_.options.cors_allow_origin +
        "\r\nconnection: close\r\n\r\n" + body;
    const ssize_t sent = send(fd, response.data(), response.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    response.erase(0, sent > 0 ? static_cast<size_t>(sent) : 0);
    server_.metrics.CountRequest(400);
    char peer[64] = "";
    sockaddr_storage addr{};
    socklen_t addr_len = sizeof addr;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &addr_len) == 0)
      getnameinfo(reinterpret_cast<sockaddr*>(&addr), addr_len, peer, sizeof peer, nullptr, 0,
                  NI_NUMERICHOST);
    NR_LOG(kInfo) << "http: " << peer << " control byte in the request line -> 400";
    if (response.empty()) shutdown(fd, SHUT_WR);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | (response.empty() ? 0u : static_cast<uint32_t>(EPOLLOUT));
    ev.data.fd = fd;
    if (epoll_ctl(pending_epoll_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      close(fd);
      return;
    }
    lingering_[fd] = {std::chrono::steady_clock::now() + kLingerAfterRefusal, std::move(response)};
  }

  // A refused connection: sends what is left of the answer, reads and drops whatever the client
  // still sends, and closes once it closes its side (or at the deadline, CloseIdle).
  void Linger(int fd, uint32_t events) {
    auto it = lingering_.find(fd);
    if (it == lingering_.end()) return;
    std::string& unsent = it->second.unsent;
    if (!unsent.empty() && (events & EPOLLOUT) != 0) {
      const ssize_t sent = send(fd, unsent.data(), unsent.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (sent > 0) unsent.erase(0, static_cast<size_t>(sent));
      if (unsent.empty()) {
        shutdown(fd, SHUT_WR);
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.fd = fd;
        epoll_ctl(pending_epoll_, EPOLL_CTL_MOD, fd, &ev);
      }
    }
    char buf[16384];
    for (;;) {
      const ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      break;  // the client closed its side, or the connection is gone
    }
    close(fd);  // leaves the epoll set with it
    lingering_.erase(it);
  }

  void Screen(int fd, const char* data, size_t n) {
    if (!RequestLineHasControlByte(std::string_view(data, n))) {
      lws_adopt_socket_vhost(vhost_, fd);  // closes fd itself on failure
      return;
    }
    RefuseControlByteRequest(fd);
  }

  // The same screen for the later requests of a kept-alive connection. From the end of a
  // response until the next request line has been seen, a watcher of ours on the connection's
  // descriptor, at a higher priority than lws's own, runs first when bytes arrive (on lws's
  // epoll registration: no system call to arm or disarm it). It peeks at the line: with a
  // control byte the request is answered 400 and the connection closed. A line not yet whole
  // pauses lws's reading and waits, edge-triggered, in the pending epoll set (OnHeld). Bytes
  // that do not start like a request line (a body the handler left unread) and requests lws
  // starts from bytes it already holds (pipelined behind an earlier one; then lws closes the
  // connection or cuts the path at a NUL, docs/serving.md) are left to lws.
  void ScreenKeptAlive(lws* wsi, Session& s) {
    if (s.screen_armed || s.reads_held) return;
    if (s.screen.data == nullptr) {
      // Once per connection: setting a watcher's descriptor makes libev re-register it with
      // epoll at its next start; starting and stopping it later costs no system call.
      const int fd = lws_get_socket_fd(wsi);
      if (fd < 0) return;
      ev_io_init(&s.screen, &ServiceThread::OnKeptAliveReadable, fd, EV_READ);
      ev_set_priority(&s.screen, EV_MAXPRI);
      s.screen.data = wsi;
    }
    ev_io_start(loop_, &s.screen);
    s.screen_armed = true;
  }

  // Ends the screen of `s`: its watcher, and a pause of lws's reading with it (resumed unless
  // the connection is being destroyed).
  void StopScreen(Session& s, bool destroying = false) {
    if (s.screen_armed) ev_io_stop(loop_, &s.screen);
    s.screen_armed = false;
    if (!s.reads_held) return;
    s.reads_held = false;
    held_.erase(s.screen.fd);
    epoll_ctl(pending_epoll_, EPOLL_CTL_DEL, s.screen.fd, nullptr);  // fails once it is closed
    if (!destroying) lws_rx_flow_control(static_cast<lws*>(s.screen.data), 1);
  }

  static void OnKeptAliveReadable(struct ev_loop* loop, ev_io* w, int) noexcept {
    auto* self = static_cast<ServiceThread*>(ev_userdata(loop));
    auto* wsi = static_cast<lws*>(w->data);
    auto it = self->sessions_.find(wsi);
    if (it == self->sessions_.end()) {
      ev_io_stop(loop, w);
      return;
    }
    self->CheckNextRequestLine(wsi, *it->second, 0);
  }

  // Peeks at the next request line of a kept-alive connection (see ScreenKeptAlive).
  void CheckNextRequestLine(lws* wsi, Session& s, uint32_t held_events) {
    const int fd = s.screen.fd;
    char buf[8192];
    const ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT | MSG_PEEK);
    const bool hangup = (held_events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
    if (n <= 0 && !hangup) return;  // nothing yet, or lws will see the end itself
    const std::string_view head(buf, n > 0 ? static_cast<size_t>(n) : 0);
    const bool whole = head.find('\n') != std::string_view::npos || head.size() == sizeof buf;
    if (!whole && LooksLikeRequestLine(head) && !hangup) {
      if (s.reads_held) return;  // still waiting for the rest
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
      ev.data.fd = fd;
      if (epoll_ctl(pending_epoll_, EPOLL_CTL_ADD, fd, &ev) != 0) return;
      ev_io_stop(loop_, &s.screen);  // level-triggered: it would fire until the line is whole
      s.screen_armed = false;
      s.reads_held = true;
      held_[fd] = wsi;
      lws_rx_flow_control(wsi, 0);
      return;
    }
    StopScreen(s);
    if (!whole && hangup) {  // the client gave up halfway through a request line
      lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
      return;
    }
    if (!LooksLikeRequestLine(head) || !RequestLineHasControlByte(head)) return;  // to lws
    // Answered on a descriptor of our own, which outlives lws's close of the connection.
    const int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (own >= 0) RefuseControlByteRequest(own);
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
  }

  // tus at /files/ (streaming/tus.h).
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
    int64_t content_length = -1;
    const std::string cl = Header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
    if (!cl.empty()) {
      if (cl.size() > 18 || cl.find_first_not_of("0123456789") != std::string::npos) {
        HttpResponse bad = ErrorResponse(400, "invalid_argument", "bad Content-Length");
        bad.headers["Tus-Resumable"] = "1.0.0";
        return Send(wsi, s, bad, true);
      }
      content_length = std::stoll(cl);
    }
    std::string method = r.method;
    if (auto o = headers.find("x-http-method-override"); o != headers.end() && method == "POST")
      method = o->second;
    if (method == "OPTIONS") {
      // A CORS preflight and a tus capabilities request at once.
      TusHandler::Start start = tus_->Begin(r.caller, method, "", headers, -1);
      start.response->headers["Access-Control-Allow-Methods"] = kCorsMethods;
      start.response->headers["Access-Control-Allow-Headers"] = kCorsHeaders;
      start.response->headers["Access-Control-Max-Age"] = "86400";
      return Send(wsi, s, *start.response);
    }
    TusHandler::Start start =
        tus_->Begin(r.caller, method, r.path.substr(6), headers, content_length);
    // "Expect: 100-continue" (curl sends it for uploads over 1 MB and otherwise waits a second
    // before sending the body): the client holds its body until we say whether we want it.
    std::string expect = Header(wsi, WSI_TOKEN_HTTP_EXPECT);
    for (char& c : expect) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const bool expects_continue = expect == "100-continue" && content_length > 0;
    if (start.response) {
      // A refused request whose body is on its way: a small body is read and dropped so that
      // the client gets to read the answer; for a large one the connection closes after it.
      // A client waiting for 100 Continue sends no body: answer, and close in case it does.
      if (expects_continue) return Send(wsi, s, *start.response, true);
      if (content_length > 0 && content_length <= kDrainBodyBytes) {
        s.after_body = std::move(*start.response);
        s.awaiting_body = true;
        return 0;
      }
      return Send(wsi, s, *start.response, content_length > 0);
    }
    if (expects_continue) {
      static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
      unsigned char* p = buffer_.data() + LWS_PRE;
      std::memcpy(p, kContinue, sizeof kContinue - 1);
      if (lws_write(wsi, p, sizeof kContinue - 1, LWS_WRITE_HTTP) != sizeof kContinue - 1)
        return -1;
    }
    s.tus = std::move(start.write);
    s.body_started = std::chrono::steady_clock::now();
    s.awaiting_body = true;
    return 0;  // LWS_CALLBACK_HTTP_BODY* follow
  }

  // Upload bytes as they arrive. A client that trickles slower than the minimum rate is cut
  // off (what arrived is kept by Abandon when the connection is destroyed).
  int OnUploadData(lws* wsi, Session& s, const char* data, size_t len) {
    current_wsi_ = wsi;
    server_.metrics.upload_bytes_received.fetch_add(len, std::memory_order_relaxed);
    tus_->Write(*s.tus, data, len);
    const TusOptions& o = server_.options.tus;
    const auto elapsed = std::chrono::steady_clock::now() - s.body_started;
    if (o.min_rate_bytes_per_second > 0 && elapsed > o.rate_grace) {
      const double seconds = std::chrono::duration<double>(elapsed).count();
      if (static_cast<double>(s.tus->received()) / seconds <
          static_cast<double>(o.min_rate_bytes_per_second)) {
        NR_LOG(kInfo) << "tus: cutting off " << Peer() << ": upload " << s.tus->id() << " at "
                      << static_cast<int64_t>(static_cast<double>(s.tus->received()) / seconds)
                      << " B/s, below the minimum " << o.min_rate_bytes_per_second << " B/s";
        return -1;
      }
    }
    return 0;  // a body that stops arriving is closed by CloseIdle
  }

  // The peer address of the request being handled, for log lines.
  std::string Peer() {
    char peer[64] = "";
    if (current_wsi_) lws_get_peer_simple(current_wsi_, peer, sizeof peer);
    return peer;
  }

  bool VideoServable(const std::string& id, bool live) {
    if (live) return catalog_->live_streams().Get(id).ok();
    int cached = server_.visibility.Lookup(id);
    if (cached >= 0) return cached == 1;
    auto video = catalog_->videos().Get(id);
    bool servable = video.ok() && video->visibility != catalog::Visibility::kDraft;
    server_.visibility.Store(id, servable);
    return servable;
  }

  int ServeFile(lws* wsi, Session& s, const std::string& rest, bool live) {
    const RequestContext& r = s.request;
    auto not_found = [&](const std::string& why) {
      NR_LOG(kDebug) << "media: 404 " << r.path << " (" << why << ")";
      return Send(wsi, s, ErrorResponse(404, "not_found", "no such media file"));
    };
    // Resolving checks every path component (realpath); a resolved path is reused for a moment.
    const std::string cache_key = (live ? "L" : "M") + rest;
    auto now = std::chrono::steady_clock::now();
    Result<MediaTarget> target = NotFound("");
    auto cached_path = path_cache_.find(cache_key);
    if (cached_path != path_cache_.end() && now < cached_path->second.second) {
      target = cached_path->second.first;
    } else {
      target = ResolveMediaPath(live ? server_.live_root : server_.media_root, rest);
      if (target.ok()) {
        if (path_cache_.size() > 4096) path_cache_.clear();
        path_cache_[cache_key] = {*target, now + std::chrono::seconds(2)};
      }
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
      return not_found(target.status().message());
    }
    if (!VideoServable(target->video_id, live)) return not_found("not visible");
    return SendFile(wsi, s, target->path, target->relative,
                    CacheControlFor(target->relative, live));
  }

  // Sends the regular file at `file` (already checked to be where it may be served from) with
  // its type from `name`: 304, gzip, Range/206/416 and HEAD as for media.
  int SendFile(lws* wsi, Session& s, const std::filesystem::path& file, const std::string& name,
               std::string_view cache_control) {
    const RequestContext& r = s.request;
    auto not_found = [&](const std::string& why) {
      NR_LOG(kDebug) << "http: 404 " << r.path << " (" << why << ")";
      return Send(wsi, s, ErrorResponse(404, "not_found", "no such file"));
    };
    if (r.method != "GET" && r.method != "HEAD") {
      HttpResponse resp = ErrorResponse(405, "method_not_allowed", "this resource is read-only");
      resp.headers["Allow"] = "GET, HEAD, OPTIONS";
      return Send(wsi, s, resp);
    }
    // A plain GET of a small file that was answered before: the same bytes again, after one
    // lstat (see response_cache_).
    const bool plain =
        r.method == "GET" && lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_RANGE) <= 0 &&
        lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_IF_NONE_MATCH) <= 0 &&
        !(IsCompressible(name) && AcceptsGzip(Header(wsi, WSI_TOKEN_HTTP_ACCEPT_ENCODING)));
    if (plain) {
      struct stat link;
      auto hit = response_cache_.find(file.string());
      if (hit != response_cache_.end() && lstat(file.c_str(), &link) == 0 &&
          hit->second.Matches(link) && StatusLineMatches(wsi, hit->second.bytes)) {
        const std::string& bytes = hit->second.bytes;
        server_.metrics.CountRequest(200);
        std::memcpy(buffer_.data() + LWS_PRE, bytes.data(), bytes.size());
        if (lws_write(wsi, buffer_.data() + LWS_PRE, bytes.size(), LWS_WRITE_HTTP) !=
            static_cast<int>(bytes.size()))
          return -1;
        server_.metrics.bytes_sent.fetch_add(bytes.size(), std::memory_order_relaxed);
        return Continue(wsi, s);
      }
    }
    int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      if (fd >= 0) close(fd);
      return not_found("cannot open");
    }
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    const int64_t mtime_ns =
        static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    const std::string range_header = Header(wsi, WSI_TOKEN_HTTP_RANGE);
    const bool gzip = IsCompressible(name) && range_header.empty() && size <= (8u << 20) &&
                      AcceptsGzip(Header(wsi, WSI_TOKEN_HTTP_ACCEPT_ENCODING));
    const std::string etag = MakeEtag(st.st_ino, size, mtime_ns, gzip);

    HttpResponse resp;
    resp.content_type = std::string(ContentTypeFor(name));
    resp.headers["Cache-Control"] = std::string(cache_control);
    resp.headers["ETag"] = etag;
    resp.headers["Accept-Ranges"] = "bytes";
    if (IsCompressible(name)) resp.headers["Vary"] = "Accept-Encoding";

    std::string inm = Header(wsi, WSI_TOKEN_HTTP_IF_NONE_MATCH);
    if (!inm.empty() && IfNoneMatchMatches(inm, etag)) {
      close(fd);
      resp.status = 304;
      resp.content_type.clear();
      return Send(wsi, s, resp);
    }
    if (gzip) {
      std::string text(size, '\0');
      ssize_t got = size ? pread(fd, text.data(), size, 0) : 0;
      close(fd);
      if (got != static_cast<ssize_t>(size)) return not_found("short read");
      auto& cached = gzip_cache_[file.string()];
      if (cached.first != etag) {
        auto z = Gzip(text);
        if (!z.ok()) return Send(wsi, s, ErrorResponse(z.status()));
        if (gzip_cache_.size() > 512) gzip_cache_.clear();
        cached = {etag, std::move(z).value()};
      }
      resp.headers["Content-Encoding"] = "gzip";
      resp.body = cached.second;
      return Send(wsi, s, resp);
    }
    RangeResult range;
    if (!range_header.empty()) {
      std::string if_range = Header(wsi, WSI_TOKEN_HTTP_IF_RANGE);
      if (if_range.empty() || if_range == etag) range = ParseRange(range_header, size);
    }
    uint64_t first = 0, count = size;
    if (range.outcome == RangeOutcome::kUnsatisfiable) {
      close(fd);
      HttpResponse bad = ErrorResponse(416, "invalid_argument", "range not satisfiable");
      bad.headers["Content-Range"] = "bytes */" + std::to_string(size);
      bad.headers["Accept-Ranges"] = "bytes";
      return Send(wsi, s, bad);
    }
    if (range.outcome == RangeOutcome::kSatisfiable) {
      resp.status = 206;
      first = range.range.first;
      count = range.range.length();
      resp.headers["Content-Range"] = "bytes " + std::to_string(range.range.first) + "-" +
                                      std::to_string(range.range.last) + "/" + std::to_string(size);
    }
    s.fd = fd;
    s.file_pos = first;
    s.file_end = first + count;
    if (plain && resp.status == 200 && size <= kCachedResponseFileBytes) {
      s.store_as = file.string();
      s.store_stat = st;
    }
    return Send(wsi, s, resp, false, count);
  }

  // Whether `bytes`, a cached response, begins with the status line lws writes for this
  // request (its HTTP version follows the request's).
  bool StatusLineMatches(lws* wsi, const std::string& bytes) {
    unsigned char line[64];
    unsigned char* p = line;
    if (lws_add_http_header_status(wsi, 200, &p, line + sizeof line) != 0) return false;
    const size_t n = static_cast<size_t>(p - line);
    return bytes.size() > n && std::memcmp(bytes.data(), line, n) == 0;
  }

  // Writes the status line and headers, then as much of the body as fits in one write; the rest
  // goes out from LWS_CALLBACK_HTTP_WRITEABLE. For a file body (s.fd set) `file_length` is its
  // length. Returns what the lws callback must return.
  int Send(lws* wsi, Session& s, const HttpResponse& resp, bool close_after = false,
           uint64_t file_length = 0) {
    Metrics& m = server_.metrics;
    m.CountRequest(resp.status);
    const bool head = s.request.method == "HEAD";
    const bool from_file = s.fd >= 0;
    const uint64_t length = from_file ? file_length : resp.body.size();
    unsigned char* start = buffer_.data() + LWS_PRE;
    unsigned char* p = start;
    unsigned char* end = buffer_.data() + buffer_.size() - 1;
    auto add = [&](const char* name, const std::string& value) {
      return lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>(name),
                                         reinterpret_cast<const unsigned char*>(value.data()),
                                         static_cast<int>(value.size()), &p, end) == 0;
    };
    bool ok = lws_add_http_header_status(wsi, static_cast<unsigned int>(resp.status), &p, end) == 0;
    if (!resp.content_type.empty()) ok = ok && add("content-type:", resp.content_type);
    if (resp.status != 304) ok = ok && add("content-length:", std::to_string(length));
    ok = ok && add("access-control-allow-origin:", server_.options.cors_allow_origin);
    const bool upload = s.request.path.rfind("/files", 0) == 0;
    ok = ok && add("access-control-expose-headers:", upload ? kCorsExposeTus : kCorsExpose);
    for (const auto& [name, value] : resp.headers) {
      std::string lower;
      for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      ok = ok && add((lower + ":").c_str(), value);
    }
    if (!resp.headers.count("Cache-Control") && resp.content_type == "application/json")
      ok = ok && add("cache-control:", "no-store");
    if (close_after) ok = ok && add("connection:", "close");
    ok = ok && lws_finalize_http_header(wsi, &p, end) == 0;
    if (!ok) {
      NR_LOG(kError) << "http: response headers do not fit the buffer";
      return -1;
    }
    if (resp.status >= 400 && resp.status != 404) {
      NR_LOG(kInfo) << "http: " << Peer() << " " << s.request.method << " " << s.request.path
                    << " -> " << resp.status;
    }
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
      if (!close_after && !head && s.file_pos == s.file_end) {
        if (response_cache_bytes_ + total > kResponseCacheBytes) {
          response_cache_.clear();
          response_cache_bytes_ = 0;
        }
        CachedResponse& c = response_cache_[s.store_as];
        if (c.bytes.empty()) response_cache_bytes_ += s.store_as.size() + sizeof(CachedResponse);
        response_cache_bytes_ += total - std::min(c.bytes.size(), response_cache_bytes_);
        c.dev = s.store_stat.st_dev;
        c.ino = s.store_stat.st_ino;
        c.size = s.store_stat.st_size;
        c.mtime = s.store_stat.st_mtim;
        c.ctime = s.store_stat.st_ctim;
        c.bytes.assign(reinterpret_cast<const char*>(start), total);
      }
      s.store_as.clear();
    }
    if (lws_write(wsi, start, total, LWS_WRITE_HTTP) != static_cast<int>(total)) return -1;
    m.bytes_sent.fetch_add(total, std::memory_order_relaxed);
    return Continue(wsi, s, close_after);
  }

  int Continue(lws* wsi, Session& s, bool close_after = false) {
    const bool more = (s.fd >= 0 && s.file_pos < s.file_end) || s.body_sent < s.body.size();
    if (more) {
      lws_callback_on_writable(wsi);
      return 0;
    }
    s.ResetResponse();
    s.last_activity = std::chrono::steady_clock::now();  // keep-alive idle from here
    if (close_after) return -1;
    if (lws_http_transaction_completed(wsi)) return -1;
    // lws has just scheduled its keep-alive timeout in a list it keeps sorted by walking it from
    // the head, i.e. past every other kept-alive connection: with 2,000 of them that walk took a
    // quarter of the CPU. CloseIdle enforces the keep-alive timeout instead, so lws's is removed
    // at once and its list stays short.
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
    rearming_.push_back(wsi);  // see OnPrepare
    ScreenKeptAlive(wsi, s);
    return 0;
  }

  // lws_http_transaction_completed leaves a kept-alive connection waiting for POLLOUT before it
  // reads the next request (LRS_DEFERRING_ACTION). Through the loop that is an epoll_ctl to add
  // POLLOUT, a wake-up, and an epoll_ctl to remove it, per request. The socket has just taken a
  // small response and is writable, so lws's watcher is fed that event here, as the loop's
  // prepare watcher: libev runs it (lws's own handler, which also restarts lws's idle hook that
  // serves pipelined requests) before it passes its changes to the kernel, so the two changes
  // cancel out and never reach epoll. A connection closed meanwhile has left rearming_.
  static void OnPrepare(struct ev_loop* loop, ev_prepare* w, int) noexcept {
    auto* self = static_cast<ServiceThread*>(w->data);
    for (lws* wsi : self->rearming_) {
      const int fd = lws_get_socket_fd(wsi);
      if (fd >= 0) ev_feed_fd_event(loop, fd, EV_WRITE);
    }
    self->rearming_.clear();
  }

  int OnHttpWriteable(lws* wsi, Session& s) {
    if (s.websocket) return 0;
    const bool sending = (s.fd >= 0 && s.file_pos < s.file_end) || s.body_sent < s.body.size();
    if (!sending) return 0;
    s.last_activity = std::chrono::steady_clock::now();  // a response moving, not a spare call
    unsigned char* start = buffer_.data() + LWS_PRE;
    const size_t room = buffer_.size() - LWS_PRE;
    size_t n = 0;
    if (s.fd >= 0 && s.file_pos < s.file_end) {
      // Zero-copy from the page cache to the socket. lws calls WRITEABLE only once it has no
      // buffered output of its own for this connection (the headers went out before), and this
      // is plain HTTP/1.1 over TCP, so writing to the socket directly keeps the byte order.
      const int sock = lws_get_socket_fd(wsi);
      size_t budget = 4 * server_.options.send_buffer_bytes;  // then let other connections run
      while (s.file_pos < s.file_end && budget > 0) {
        off_t off = static_cast<off_t>(s.file_pos);
        size_t want = static_cast<size_t>(std::min<uint64_t>(budget, s.file_end - s.file_pos));
        ssize_t sent = sendfile(sock, s.fd, &off, want);
        if (sent < 0 && (errno == EAGAIN || errno == EINTR)) break;
        if (sent <= 0) return -1;  // peer gone, or the file shrank under us
        s.file_pos += static_cast<uint64_t>(sent);
        budget -= std::min(budget, static_cast<size_t>(sent));
        server_.metrics.bytes_sent.fetch_add(static_cast<uint64_t>(sent),
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
    if (lws_write(wsi, start, n, LWS_WRITE_HTTP) != static_cast<int>(n)) return -1;
    server_.metrics.bytes_sent.fetch_add(n, std::memory_order_relaxed);
    return Continue(wsi, s);
  }

  Server::Impl& server_;
  const int index_;
  lws_protocols protocols_[2];
  struct ev_loop* loop_ = nullptr;
  void* foreign_loops_[1] = {nullptr};
  std::unique_ptr<lws_context, ContextDeleter> context_;
  lws_vhost* vhost_ = nullptr;
  int listen_fd_ = -1;  // owned by the context once adopted
  lws* listener_wsi_ = nullptr;
  ev_timer idle_timer_;
  // Connections waiting for their first bytes (see Admit), kept-alive ones whose next request
  // line is incomplete (held_), and refused ones lingering (lingering_).
  int pending_epoll_ = -1;
  ev_io pending_watch_;
  ev_prepare keepalive_watch_;
  std::vector<lws*> rearming_;  // kept-alive connections to hand their POLLOUT (OnPrepare)
  std::unordered_map<int, std::chrono::steady_clock::time_point> pending_;  // fd -> accepted at
  std::unordered_map<int, lws*> held_;  // fd -> connection whose lws reading is paused
  // A refused connection's own descriptor: read and dropped until the client closes or the
  // deadline, so that closing with unread bytes does not reset the connection under the 400.
  struct Lingering {
    std::chrono::steady_clock::time_point until;
    std::string unsent;  // what the socket did not take of the answer yet
  };
  std::unordered_map<int, Lingering> lingering_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  int subscription_ = 0;
  // Service thread only:
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<ApiHandler> api_;
  std::unique_ptr<TusHandler> tus_;
  std::vector<unsigned char> buffer_;
  std::unordered_map<lws*, std::unique_ptr<Session>> sessions_;
  std::vector<lws*> ws_clients_;
  std::unordered_map<std::string, std::pair<std::string, std::string>>
      gzip_cache_;  // path -> etag, gz
  std::unordered_map<std::string, std::pair<MediaTarget, std::chrono::steady_clock::time_point>>
      path_cache_;  // request path -> resolved file, until the time
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
  std::unordered_map<std::string, CachedResponse> response_cache_;
  size_t response_cache_bytes_ = 0;
  lws* current_wsi_ = nullptr;
  // Shared with publishers:
  std::mutex inbox_mu_;
  std::deque<std::shared_ptr<const std::string>> inbox_;  // guarded by inbox_mu_
};

namespace {
void LwsLog(int level, const char* line) {
  std::string text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  NR_LOG(kWarning) << "lws: " << text;
}
}  // namespace

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}

Server::~Server() { Stop(); }

const DataDir& Server::data() const { return impl_->data; }
Metrics& Server::metrics() { return impl_->metrics; }
EventBus& Server::events() { return impl_->events; }

Status Server::Start() {
  Impl& s = *impl_;
  ServerOptions& o = s.options;
  if (o.port < 1 || o.port > 65535) return InvalidArgument("port must be 1..65535");
  if (o.threads <= 0) o.threads = std::max(1u, std::thread::hardware_concurrency());
  if (o.worker_concurrency < 0) return InvalidArgument("worker concurrency must be >= 0");
  if (o.worker_binary.empty()) {
    std::error_code ec;
    o.worker_binary = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    if (ec) return IoError("cannot find this executable for workers: " + ec.message());
  }
  auto data = PrepareDataDir(o.data_dir);
  if (!data.ok()) return data.status();
  s.data = *data;
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
  // Create and migrate the catalog once before the threads open their own connections.
  {
    auto cat = catalog::Catalog::Open(s.data.catalog().string());
    if (!cat.ok()) return cat.status();
  }
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
    so.shutdown_grace = std::chrono::seconds(o.shutdown_grace_seconds);
    so.retry_backoff_ms = o.retry_backoff_ms;
    s.supervisor = std::make_unique<JobSupervisor>(so, s.events, s.metrics);
  }
  NR_RETURN_IF_ERROR(CheckPortFree(o.host, o.port));
  std::vector<int> listeners;
  for (int i = 0; i < o.threads; ++i) {
    auto fd = OpenListener(o.host, o.port);
    if (!fd.ok()) {
      for (int l : listeners) close(l);
      return fd.status();
    }
    listeners.push_back(*fd);
  }
  for (int i = 0; i < o.threads; ++i) {
    auto t = std::make_unique<ServiceThread>(s, i);
    Status st = t->Start(listeners[static_cast<size_t>(i)]);
    listeners[static_cast<size_t>(i)] = -1;
    if (!st.ok()) {
      for (int l : listeners)
        if (l >= 0) close(l);
      for (auto& started : s.threads) started->RequestStop();
      s.threads.clear();
      return st;
    }
    s.threads.push_back(std::move(t));
  }
  if (s.supervisor) NR_RETURN_IF_ERROR(s.supervisor->Start());
  // Uploads: finish what a previous run left complete, remove what expired, then every interval.
  s.janitor = std::thread([&s] {
    auto cat = catalog::Catalog::Open(s.data.catalog().string());
    if (!cat.ok()) {
      NR_LOG(kError) << "serve: upload sweeps disabled: " << cat.status().message();
      return;
    }
    TusHandler tus(s.data, **cat, s.events, s.upload_locks, s.options.tus);
    std::unique_lock lock(s.janitor_mu);
    while (!s.janitor_stop) {
      lock.unlock();
      try {
        tus.Sweep();
      } catch (const std::exception& e) {
        NR_LOG(kError) << "serve: upload sweep failed: " << e.what();
      }
      lock.lock();
      s.janitor_cv.wait_for(lock, std::chrono::seconds(s.options.upload_sweep_interval_seconds),
                            [&s] { return s.janitor_stop; });
    }
  });
  s.started = true;
  NR_LOG(kInfo) << "serve: listening on http://" << o.host << ":" << o.port << " with " << o.threads
                << " service thread(s), data in " << s.data.root.string() << ", "
                << o.worker_concurrency << " worker(s)";
  return Status::Ok();
}

void Server::Stop() {
  Impl& s = *impl_;
  std::lock_guard lock(s.stop_mu);
  if (s.stopped) return;
  s.stopped = true;
  NR_LOG(kInfo) << "serve: stopping: no new connections";
  for (auto& t : s.threads) t->RequestStop();
  for (auto& t : s.threads) t->Join();
  s.threads.clear();
  {
    std::lock_guard janitor_lock(s.janitor_mu);
    s.janitor_stop = true;
  }
  s.janitor_cv.notify_all();
  if (s.janitor.joinable()) s.janitor.join();
  if (s.supervisor) s.supervisor->Stop();
  s.supervisor.reset();
  if (s.started) {
    auto cat = catalog::Catalog::Open(s.data.catalog().string());
    if (cat.ok()) (void)(*cat)->Checkpoint();
  }
  NR_LOG(kInfo) << "serve: stopped";
}

}  // namespace newsreel::streaming
