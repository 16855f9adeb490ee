#include "streaming/internal/lws_workarounds.h"

#include <fcntl.h>
#include <netdb.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "streaming/internal/api.h"
#include "streaming/internal/http_util.h"

namespace newsreel::streaming {

namespace {

// How long a refused connection is read and drained before it is closed regardless.
constexpr std::chrono::seconds kLingerAfterRefusal(5);
// Header fields a request may have (Apache's LimitRequestFields; browsers send about 20). lws
// would take more, as long as they fit its 8 KB.
constexpr int kMaxHeaderFields = 100;

}  // namespace

bool RequestLineHasControlByte(std::string_view head) {
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

bool LooksLikeRequestLine(std::string_view head) {
  size_t i = 0;
  while (i < head.size() && i < 16 && head[i] >= 'A' && head[i] <= 'Z') ++i;
  return i > 0 && (i == head.size() || head[i] == ' ');
}

namespace {

bool IsTokenChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsWebSocketKey(std::string_view key) {
  if (key.size() != 24 || !key.ends_with("==")) return false;
  for (char c : key.substr(0, 22)) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/') return false;
  }
  return true;
}

std::string_view ErrorCodeFor(int status) {
  switch (status) {
    case 405:
      return "method_not_allowed";
    case 426:
      return "upgrade_required";
    case 429:
      return "too_many_requests";
    case 431:
      return "invalid_argument";
    case 505:
      return "unsupported";
    default:
      return "invalid_argument";
  }
}

}  // namespace

bool HasUnreadBytes(int fd) {
  char byte;
  return fd >= 0 && recv(fd, &byte, 1, MSG_DONTWAIT | MSG_PEEK) > 0;
}

std::optional<HeadRefusal> ScreenRequestHead(std::string_view head, bool buffer_full) {
  if (RequestLineHasControlByte(head))
    return HeadRefusal{400, "control byte in the request path", {}};
  const size_t eol = head.find('\n');
  if (eol == std::string_view::npos) {
    if (buffer_full) return HeadRefusal{431, "request line too long", {}};
    return std::nullopt;  // the request line is not whole yet
  }
  std::string_view line = head.substr(0, eol);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  const std::string_view method = line.substr(0, sp1);
  static constexpr std::string_view kMethods[] = {"GET",   "HEAD",   "POST",   "PUT",
                                                  "PATCH", "DELETE", "OPTIONS"};
  bool known = false;
  for (std::string_view m : kMethods) known |= method == m;
  if (!known)
    return HeadRefusal{405,
                       "method " + std::string(method.substr(0, 16)) + " is not supported",
                       {{"allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"}}};
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos)
    return HeadRefusal{400, "a request line needs a method, a target and an HTTP version", {}};
  const std::string_view version = line.substr(sp2 + 1);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    if (version.starts_with("HTTP/"))
      return HeadRefusal{
          505,
          "HTTP version " + std::string(version.substr(5, 8)) + " is not supported (HTTP/1.1 is)",
          {}};
    return HeadRefusal{400, "malformed request line", {}};
  }
  // The header lines, once the head is whole.
  size_t end = head.find("\r\n\r\n", eol - 1);
  size_t blank = end == std::string_view::npos ? head.find("\n\n", eol) : end;
  if (blank == std::string_view::npos) {
    if (buffer_full) return HeadRefusal{431, "request headers too large", {}};
    return std::nullopt;
  }
  std::string_view fields = head.substr(eol + 1, blank - eol);
  bool websocket = false;
  std::string_view ws_version, ws_key;
  int count = 0;
  while (!fields.empty()) {
    const size_t nl = fields.find('\n');
    std::string_view field = fields.substr(0, nl);
    fields.remove_prefix(nl == std::string_view::npos ? fields.size() : nl + 1);
    if (!field.empty() && field.back() == '\r') field.remove_suffix(1);
    if (field.empty()) continue;
    if (++count > kMaxHeaderFields)
      return HeadRefusal{
          431, "more than " + std::to_string(kMaxHeaderFields) + " header fields", {}};
    if (field.front() == ' ' || field.front() == '\t')
      return HeadRefusal{400, "folded header lines are not accepted", {}};
    for (char c : field) {
      const auto b = static_cast<unsigned char>(c);
      if ((b < 0x20 && c != '\t') || b == 0x7f)
        return HeadRefusal{400, "control byte in a header", {}};
    }
    const size_t colon = field.find(':');
    if (colon == 0 || colon == std::string_view::npos)
      return HeadRefusal{400, "a header line without a name and a colon", {}};
    const std::string_view name = field.substr(0, colon);
    for (char c : name)
      if (!IsTokenChar(c)) return HeadRefusal{400, "malformed header name", {}};
    const std::string_view value = TrimOws(field.substr(colon + 1));
    if (EqualsIgnoreCase(name, "upgrade")) {
      for (size_t i = 0; i + 9 <= value.size(); ++i)
        websocket |= EqualsIgnoreCase(value.substr(i, 9), "websocket");
    }
    if (EqualsIgnoreCase(name, "sec-websocket-version")) ws_version = value;
    if (EqualsIgnoreCase(name, "sec-websocket-key")) ws_key = value;
  }
  if (websocket && ws_version != "13")
    return HeadRefusal{
        426, "WebSocket version 13 is the one spoken here", {{"sec-websocket-version", "13"}}};
  // lws closes an upgrade without a key without an answer. The key is 16 bytes in base64.
  if (websocket && !IsWebSocketKey(ws_key))
    return HeadRefusal{400, "a WebSocket upgrade needs a Sec-WebSocket-Key of 16 bytes", {}};
  return std::nullopt;
}

std::string RefusalResponse(const HeadRefusal& refusal, const std::string& cors_allow_origin) {
  const std::string body =
      !refusal.body.empty()
          ? refusal.body
          : ErrorResponse(refusal.status, std::string(ErrorCodeFor(refusal.status)),
                          refusal.message)
                .body;
  std::string response =
      "HTTP/1.1 " + std::to_string(refusal.status) + " " + ReasonPhrase(refusal.status) +
      "\r\ncontent-type: application/json\r\ncontent-length: " + std::to_string(body.size()) +
      "\r\naccess-control-allow-origin: " + cors_allow_origin;
  for (const auto& [name, value] : refusal.headers) response += "\r\n" + name + ": " + value;
  return response + "\r\nconnection: close\r\n\r\n" + body;
}

LwsWorkarounds::LwsWorkarounds(struct ev_loop* loop, Metrics& metrics,
                               std::string cors_allow_origin, bool tls)
    : loop_(loop), metrics_(metrics), cors_allow_origin_(std::move(cors_allow_origin)), tls_(tls) {}

LwsWorkarounds::~LwsWorkarounds() { Stop(); }

Status LwsWorkarounds::Start(lws_vhost* vhost) {
  vhost_ = vhost;
  pending_epoll_ = epoll_create1(EPOLL_CLOEXEC);
  if (pending_epoll_ < 0) return IoError(std::string("epoll_create1: ") + std::strerror(errno));
  ev_io_init(&pending_watch_, &LwsWorkarounds::OnPendingReadable, pending_epoll_, EV_READ);
  pending_watch_.data = this;
  ev_io_start(loop_, &pending_watch_);
  ev_set_userdata(loop_, this);
  ev_prepare_init(&keepalive_watch_, &LwsWorkarounds::OnPrepare);
  keepalive_watch_.data = this;
  ev_prepare_start(loop_, &keepalive_watch_);
  return Status::Ok();
}

void LwsWorkarounds::Stop() {
  if (pending_epoll_ < 0) return;
  ev_io_stop(loop_, &pending_watch_);
  ev_prepare_stop(loop_, &keepalive_watch_);
  rearming_.clear();
  std::unordered_map<int, std::chrono::steady_clock::time_point> pending;
  pending.swap(pending_);
  for (auto& [fd, since] : pending) CloseAdmitted(fd);
  for (auto& [fd, screen] : held_) {
    if (screen->armed) ev_io_stop(loop_, &screen->watcher);
    screen->armed = screen->reads_held = false;
  }
  held_.clear();
  std::unordered_map<int, Lingering> lingering;
  lingering.swap(lingering_);
  for (auto& [fd, linger] : lingering) {
    if (linger.reported)
      CloseAdmitted(fd);
    else
      close(fd);
  }
  close(pending_epoll_);
  pending_epoll_ = -1;
}

// A new connection is handed to lws once its first bytes are here, after one check of them
// (peeked, so that lws reads them itself). Connections waiting for their first bytes sit in an
// epoll set of their own (one descriptor in the loop), so that the loop never watches one of
// them for us and for lws at once.
void LwsWorkarounds::Admit(int fd) {
  char buf[8192];
  ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT | MSG_PEEK);
  if (n > 0) return Screen(fd, buf, static_cast<size_t>(n), static_cast<size_t>(n) == sizeof buf);
  if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
    CloseAdmitted(fd);
    return;
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.fd = fd;
  if (epoll_ctl(pending_epoll_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    Adopt(fd);  // let lws wait for it unscreened
    return;
  }
  pending_[fd] = std::chrono::steady_clock::now();
}

void LwsWorkarounds::Adopt(int fd) {
  lws* wsi = lws_adopt_socket_vhost(vhost_, fd);  // closes fd itself on failure
  if (events_.released) events_.released(fd, wsi);
}

void LwsWorkarounds::CloseAdmitted(int fd) {
  close(fd);
  if (events_.released) events_.released(fd, nullptr);
}

void LwsWorkarounds::RefuseConnection(int fd, const HeadRefusal& refusal) {
  if (tls_) {
    // A TLS client cannot read an answer before its handshake: closed unanswered.
    close(fd);
    return;
  }
  Refuse(fd, refusal, /*reported=*/false);
}

void LwsWorkarounds::RefuseRequest(lws* wsi, const HeadRefusal& refusal) {
  if (tls_) {
    // The answer goes through lws, which encrypts it and sends it before the connection
    // closes (the caller closes it). An HTTP/2 stream gets none here: it is reset (the service
    // thread answers the requests it refuses on a stream itself).
    if (lws_get_network_wsi(wsi) != wsi) return;
    std::string response = RefusalResponse(refusal, cors_allow_origin_);
    std::vector<unsigned char> buffer(LWS_PRE + response.size());
    std::memcpy(buffer.data() + LWS_PRE, response.data(), response.size());
    metrics_.CountRequest(refusal.status);
    lws_write(wsi, buffer.data() + LWS_PRE, response.size(), LWS_WRITE_HTTP);
    return;
  }
  // Answered on a descriptor of our own, which outlives lws's close of the connection.
  const int own = fcntl(lws_get_socket_fd(wsi), F_DUPFD_CLOEXEC, 0);
  if (own < 0) return;
  if (events_.refused) events_.refused(wsi, own);
  Refuse(own, refusal, /*reported=*/true);
}

void LwsWorkarounds::OnPendingReadable(struct ev_loop*, ev_io* io, int) noexcept {
  auto* self = static_cast<LwsWorkarounds*>(io->data);
  epoll_event events[64];
  int n = epoll_wait(self->pending_epoll_, events, 64, 0);
  for (int i = 0; i < n; ++i) {
    const int fd = events[i].data.fd;
    if (auto held = self->held_.find(fd); held != self->held_.end()) {
      self->CheckNextRequestLine(*held->second, events[i].events);
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

void LwsWorkarounds::Screen(int fd, const char* data, size_t n, bool buffer_full) {
  if (tls_) {
    // 0x16: a TLS handshake record, the first thing a TLS client sends.
    if (static_cast<unsigned char>(data[0]) == 0x16) {
      Adopt(fd);
      return;
    }
    if (LooksLikeRequestLine(std::string_view(data, n))) {
      Refuse(fd, HeadRefusal{400, "this port speaks HTTPS: use https://", {}}, /*reported=*/true);
      return;
    }
    CloseAdmitted(fd);  // neither TLS nor HTTP
    return;
  }
  std::optional<HeadRefusal> refusal = ScreenRequestHead(std::string_view(data, n), buffer_full);
  if (!refusal) {
    Adopt(fd);
    return;
  }
  Refuse(fd, *refusal, /*reported=*/true);
}

// Answers a refused head on `fd` (ours), bypassing lws, and logs it; then lingers (see
// lingering_).
void LwsWorkarounds::Refuse(int fd, const HeadRefusal& refusal, bool reported) {
  std::string response = RefusalResponse(refusal, cors_allow_origin_);
  const ssize_t sent = send(fd, response.data(), response.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  response.erase(0, sent > 0 ? static_cast<size_t>(sent) : 0);
  metrics_.CountRequest(refusal.status);
  if (refusal.log) {
    char peer[64] = "";
    sockaddr_storage addr{};
    socklen_t addr_len = sizeof addr;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &addr_len) == 0)
      getnameinfo(reinterpret_cast<sockaddr*>(&addr), addr_len, peer, sizeof peer, nullptr, 0,
                  NI_NUMERICHOST);
    NR_LOG(kInfo) << "http: " << peer << " refused: " << refusal.message << " -> "
                  << refusal.status;
  }
  if (response.empty()) shutdown(fd, SHUT_WR);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | (response.empty() ? 0u : static_cast<uint32_t>(EPOLLOUT));
  ev.data.fd = fd;
  if (epoll_ctl(pending_epoll_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    if (reported)
      CloseAdmitted(fd);
    else
      close(fd);
    return;
  }
  lingering_[fd] = {std::chrono::steady_clock::now() + kLingerAfterRefusal, std::move(response),
                    reported};
}

// A refused connection: sends what is left of the answer, reads and drops whatever the client
// still sends, and closes once it closes its side (or at the deadline, CloseExpired).
void LwsWorkarounds::Linger(int fd, uint32_t events) {
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
  const bool reported = it->second.reported;
  lingering_.erase(it);
  if (reported)
    CloseAdmitted(fd);  // leaves the epoll set with it
  else
    close(fd);
}

int LwsWorkarounds::CloseExpired(std::chrono::steady_clock::time_point now,
                                 std::chrono::steady_clock::duration idle_limit) {
  int closed = 0;
  std::vector<int> admitted;  // closed once the loops are done (the owner hears of each)
  for (auto it = pending_.begin(); it != pending_.end();) {
    // Bytes that arrived while this thread was held up (a loaded machine) make it no idler:
    // the readable event that is due takes it.
    if (now - it->second > idle_limit && !HasUnreadBytes(it->first)) {
      admitted.push_back(it->first);
      ++closed;
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = lingering_.begin(); it != lingering_.end();) {
    if (now > it->second.until) {
      if (it->second.reported)
        admitted.push_back(it->first);
      else
        close(it->first);
      it = lingering_.erase(it);
    } else {
      ++it;
    }
  }
  for (int fd : admitted) CloseAdmitted(fd);  // leaves the epoll set with it
  return closed;
}

// lws_http_transaction_completed leaves a kept-alive connection waiting for POLLOUT before it
// reads the next request (LRS_DEFERRING_ACTION). Through the loop that is an epoll_ctl to add
// POLLOUT, a wake-up, and an epoll_ctl to remove it, per request. The socket has just taken a
// small response and is writable, so lws's watcher is fed that event here, as the loop's
// prepare watcher: libev runs it (lws's own handler, which also restarts lws's idle hook that
// serves pipelined requests) before it passes its changes to the kernel, so the two changes
// cancel out and never reach epoll. A connection closed meanwhile has left rearming_.
void LwsWorkarounds::OnPrepare(struct ev_loop* loop, ev_prepare* w, int) noexcept {
  auto* self = static_cast<LwsWorkarounds*>(w->data);
  for (lws* wsi : self->rearming_) {
    const int fd = lws_get_socket_fd(wsi);
    if (fd >= 0) ev_feed_fd_event(loop, fd, EV_WRITE);
  }
  self->rearming_.clear();
}

void LwsWorkarounds::KeptAlive(lws* wsi, KeptAliveScreen& screen) {
  // lws has just scheduled its keep-alive timeout in a list it keeps sorted by walking it from
  // the head, i.e. past every other kept-alive connection: with 2,000 of them that walk took a
  // quarter of the CPU. The service thread enforces the keep-alive timeout instead, so lws's is
  // removed at once and its list stays short.
  lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
  rearming_.push_back(wsi);  // see OnPrepare
  if (tls_) return;          // the next request line arrives encrypted: nothing to screen
  // The screen of the next request line. From here until it has been seen, a watcher of ours on
  // the connection's descriptor, at a higher priority than lws's own, runs first when bytes
  // arrive (on lws's epoll registration: no system call to arm or disarm it). It peeks at the
  // line: with a control byte the request is answered 400 and the connection closed. A line not
  // yet whole pauses lws's reading and waits, edge-triggered, in the pending epoll set. Bytes
  // that do not start like a request line (a body the handler left unread) and requests lws
  // starts from bytes it already holds (pipelined behind an earlier one; then lws closes the
  // connection or cuts the path at a NUL, docs/serving.md) are left to lws.
  if (screen.armed || screen.reads_held) return;
  if (screen.wsi == nullptr) {
    // Once per connection: setting a watcher's descriptor makes libev re-register it with
    // epoll at its next start; starting and stopping it later costs no system call.
    const int fd = lws_get_socket_fd(wsi);
    if (fd < 0) return;
    ev_io_init(&screen.watcher, &LwsWorkarounds::OnKeptAliveReadable, fd, EV_READ);
    ev_set_priority(&screen.watcher, EV_MAXPRI);
    screen.watcher.data = &screen;
    screen.wsi = wsi;
  }
  ev_io_start(loop_, &screen.watcher);
  screen.armed = true;
}

void LwsWorkarounds::StopScreen(KeptAliveScreen& screen, bool destroying) {
  if (screen.armed) ev_io_stop(loop_, &screen.watcher);
  screen.armed = false;
  if (!screen.reads_held) return;
  screen.reads_held = false;
  held_.erase(screen.watcher.fd);
  epoll_ctl(pending_epoll_, EPOLL_CTL_DEL, screen.watcher.fd, nullptr);  // fails once closed
  if (!destroying) lws_rx_flow_control(screen.wsi, 1);
}

void LwsWorkarounds::Forget(lws* wsi, KeptAliveScreen& screen) {
  rearming_.erase(std::remove(rearming_.begin(), rearming_.end(), wsi), rearming_.end());
  StopScreen(screen, /*destroying=*/true);
}

void LwsWorkarounds::OnKeptAliveReadable(struct ev_loop* loop, ev_io* w, int) noexcept {
  auto* self = static_cast<LwsWorkarounds*>(ev_userdata(loop));
  self->CheckNextRequestLine(*static_cast<KeptAliveScreen*>(w->data), 0);
}

// Peeks at the next request line of a kept-alive connection (see KeptAlive).
void LwsWorkarounds::CheckNextRequestLine(KeptAliveScreen& s, uint32_t held_events) {
  const int fd = s.watcher.fd;
  lws* wsi = s.wsi;
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
    ev_io_stop(loop_, &s.watcher);  // level-triggered: it would fire until the line is whole
    s.armed = false;
    s.reads_held = true;
    held_[fd] = &s;
    lws_rx_flow_control(wsi, 0);
    return;
  }
  StopScreen(s);
  if (!whole && hangup) {  // the client gave up halfway through a request line
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
    return;
  }
  if (!LooksLikeRequestLine(head)) return;  // to lws
  std::optional<HeadRefusal> refusal = ScreenRequestHead(head, head.size() == sizeof buf);
  if (!refusal) return;  // to lws
  RefuseRequest(wsi, *refusal);
  lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
}

bool LwsWorkarounds::SendContinue(lws* wsi, unsigned char* buffer) {
  static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
  std::memcpy(buffer, kContinue, sizeof kContinue - 1);
  return lws_write(wsi, buffer, sizeof kContinue - 1, LWS_WRITE_HTTP) == sizeof kContinue - 1;
}

bool LwsWorkarounds::StatusLineMatches(lws* wsi, std::string_view bytes) {
  unsigned char line[64];
  unsigned char* p = line;
  if (lws_add_http_header_status(wsi, 200, &p, line + sizeof line) != 0) return false;
  const size_t n = static_cast<size_t>(p - line);
  return bytes.size() > n && std::memcmp(bytes.data(), line, n) == 0;
}

}  // namespace newsreel::streaming
