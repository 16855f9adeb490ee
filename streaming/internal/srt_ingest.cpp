#include "streaming/internal/srt_ingest.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <srt/logging_api.h>
#include <srt/srt.h>
#include <sys/socket.h>
#include <syslog.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <mutex>
#include <type_traits>

#include "common/log.h"
#include "streaming/internal/ts_entry_point.h"

namespace newsreel::streaming {

static_assert(std::is_same_v<SRTSOCKET, int>, "SrtIngest keeps SRTSOCKETs as int");

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr int kMaxEvents = 64;
constexpr int64_t kWaitMs = 100;           // how soon Stop() and Disconnect() are noticed
constexpr auto kSampleInterval = 1s;       // srt_bstats
constexpr auto kPendingLimit = 30s;        // a handshake never takes this long
constexpr size_t kBatchBytes = 64 * 1024;  // one on_data call at most
constexpr int kMessagesPerWakeUp = 256;    // then the other connections get their turn
constexpr size_t kRecvRoom = 1500;         // > SRT_LIVE_MAX_PLSIZE (1456)
constexpr size_t kSendBytes = 1316;        // SRT_LIVE_DEF_PLSIZE: what a puller takes at once
constexpr auto kStartWait = 10s;           // for a keyframe, then a puller starts anyway
constexpr int kBehindSamples = 3;          // samples in a row with packets dropped for a puller

std::string PeerString(const sockaddr* addr) {
  if (addr == nullptr) return "unknown";
  char host[INET6_ADDRSTRLEN] = {};
  if (addr->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (addr->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  return "unknown";
}

std::string LastSrtError() { return srt_getlasterror_str(); }

// libsrt's own log lines (warnings and errors: a handshake that failed on the passphrase, ...)
// in our format. They name sockets and reasons, not stream ids or passphrases.
void LibsrtLog(void*, int level, const char*, int, const char*, const char* message) noexcept {
  try {
    if (level <= LOG_ERR) {
      NR_LOG(kError) << "libsrt: " << message;
    } else {
      NR_LOG(kWarning) << "libsrt: " << message;
    }
  } catch (...) {
  }
}

// Process-wide: libsrt has one log configuration. Only this module uses libsrt in the server.
void RouteLibsrtLog() {
  static std::once_flag once;
  std::call_once(once, [] {
    srt_setloglevel(LOG_WARNING);
    srt_setlogflags(SRT_LOGF_DISABLE_TIME | SRT_LOGF_DISABLE_THREADNAME | SRT_LOGF_DISABLE_EOL);
    srt_setloghandler(nullptr, &LibsrtLog);
  });
}

}  // namespace

int SrtRejectReason(SrtRefusal refusal) { return SRT_REJC_PREDEFINED + static_cast<int>(refusal); }

const char* SrtRefusalName(SrtRefusal refusal) {
  switch (refusal) {
    case SrtRefusal::kBadRequest:
      return "bad request";
    case SrtRefusal::kUnauthorized:
      return "unauthorized";
    case SrtRefusal::kOverload:
      return "overload";
    case SrtRefusal::kForbidden:
      return "forbidden";
    case SrtRefusal::kNotFound:
      return "not found";
    case SrtRefusal::kBadMode:
      return "bad mode";
    case SrtRefusal::kConflict:
      return "conflict";
    case SrtRefusal::kInternal:
      return "internal error";
    case SrtRefusal::kUnavailable:
      return "unavailable";
  }
  return "refused";
}

struct SrtIngest::Connection {
  int sock = -1;
  SrtConnectionInfo info;
  uint64_t bytes = 0;
  int64_t retransmitted = 0;  // pktRcvRetrans is per interval: summed here
};

struct SrtIngest::Puller {
  int sock = -1;
  SrtConnectionInfo info;
  // Whether it got its start (the tables, then a keyframe) from the current publisher.
  bool started = false;
  // Since when it waits: for a publisher (none live), or for a start point (one live).
  Clock::time_point waiting_since;
  uint64_t bytes = 0;
  int drop_streak = 0;  // samples in a row in which libsrt dropped packets for it
};

struct SrtIngest::Feed {
  int publisher = -1;  // SRTSOCKET of the live publisher, or -1
  TsEntryPoint entry;  // from the current publisher's bytes
  std::vector<int> pullers;
};

SrtIngest::SrtIngest(SrtIngestOptions options, SrtAuthorizer authorizer,
                     SrtIngestCallbacks callbacks)
    : options_(std::move(options)),
      authorizer_(std::move(authorizer)),
      callbacks_(std::move(callbacks)) {}

Result<std::unique_ptr<SrtIngest>> SrtIngest::Start(SrtIngestOptions options,
                                                    SrtAuthorizer authorizer,
                                                    SrtIngestCallbacks callbacks) {
  if (options.port < 0 || options.port > 65535) {
    return InvalidArgument("SRT port " + std::to_string(options.port) + " is not a port");
  }
  if (!authorizer) return InvalidArgument("SRT ingest needs an authorizer");
  if (options.max_connections < 1) return InvalidArgument("SRT max_connections must be >= 1");
  if (options.max_pullers < 0) return InvalidArgument("SRT max_pullers must be >= 0");
  if (options.max_pullers_per_stream < 1) {
    return InvalidArgument("SRT max_pullers_per_stream must be >= 1");
  }
  if (options.puller_wait_seconds < 1)
    return InvalidArgument("SRT puller_wait_seconds must be >= 1");
  if (options.puller_backlog_bytes < 64 * 1024) {
    return InvalidArgument("SRT puller_backlog_bytes must be >= 64 KiB");
  }
  RouteLibsrtLog();
  // srt_startup counts its callers; the destructor's srt_cleanup undoes this one.
  if (srt_startup() < 0) return Internal("srt_startup failed: " + LastSrtError());
  std::unique_ptr<SrtIngest> ingest(
      new SrtIngest(std::move(options), std::move(authorizer), std::move(callbacks)));
  NR_RETURN_IF_ERROR(ingest->Listen());
  ingest->last_sample_ = Clock::now();
  ingest->thread_ = std::thread([raw = ingest.get()] { raw->Run(); });
  NR_LOG(kInfo) << "srt: ingest listening on " << ingest->options_.bind_address << " port "
                << ingest->port_ << " (udp)";
  return ingest;
}

Status SrtIngest::Listen() {
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  const std::string& host = options_.bind_address;
  bool v6 = false;
  auto* in = reinterpret_cast<sockaddr_in*>(&addr);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (inet_pton(AF_INET, host.c_str(), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(static_cast<uint16_t>(options_.port));
    addr_len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(options_.port));
    addr_len = sizeof(sockaddr_in6);
    v6 = true;
  } else {
    return InvalidArgument("SRT bind address '" + host + "' is not an IP address");
  }

  listener_ = srt_create_socket();
  if (listener_ == SRT_INVALID_SOCK) return Internal("srt_create_socket: " + LastSrtError());
  const bool no = false;
  const int latency = options_.latency_ms;
  const int v6only = 0;
  // Non-blocking accept, receive and send; accepted sockets inherit them from the listener. No
  // SO_REUSEADDR on the UDP socket (libsrt sets it by default): with it, another process that
  // sets it too could bind the same port and silently take part of the datagrams.
  if (srt_setsockflag(listener_, SRTO_RCVSYN, &no, sizeof no) < 0 ||
      srt_setsockflag(listener_, SRTO_SNDSYN, &no, sizeof no) < 0 ||
      srt_setsockflag(listener_, SRTO_REUSEADDR, &no, sizeof no) < 0 ||
      srt_setsockflag(listener_, SRTO_RCVLATENCY, &latency, sizeof latency) < 0 ||
      srt_setsockflag(listener_, SRTO_PEERLATENCY, &latency, sizeof latency) < 0 ||
      (v6 && srt_setsockflag(listener_, SRTO_IPV6ONLY, &v6only, sizeof v6only) < 0)) {
    return Internal("srt_setsockflag on the listener: " + LastSrtError());
  }
  if (srt_bind(listener_, reinterpret_cast<sockaddr*>(&addr), static_cast<int>(addr_len)) < 0) {
    return IoError("cannot bind SRT to " + host + " port " + std::to_string(options_.port) + ": " +
                   LastSrtError());
  }
  if (srt_listen_callback(listener_, &SrtIngest::ListenCallback, this) < 0) {
    return Internal("srt_listen_callback: " + LastSrtError());
  }
  if (srt_listen(listener_, options_.max_connections + options_.max_pullers) < 0) {
    // libsrt shares one UDP socket among its sockets on one port (SRTO_REUSEADDR), so a port
    // that another SRT listener of this process holds fails here rather than in srt_bind.
    return IoError("cannot listen for SRT on " + host + " port " + std::to_string(options_.port) +
                   ": " + LastSrtError());
  }
  sockaddr_storage bound{};
  int bound_len = sizeof bound;
  if (srt_getsockname(listener_, reinterpret_cast<sockaddr*>(&bound), &bound_len) < 0) {
    return Internal("srt_getsockname: " + LastSrtError());
  }
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  epoll_ = srt_epoll_create();
  if (epoll_ < 0) return Internal("srt_epoll_create: " + LastSrtError());
  const int events = SRT_EPOLL_IN | SRT_EPOLL_ERR;
  if (srt_epoll_add_usock(epoll_, listener_, &events) < 0) {
    return Internal("srt_epoll_add_usock: " + LastSrtError());
  }
  return Status::Ok();
}

SrtIngest::~SrtIngest() {
  Stop();
  // Start() failed half-way: the ingest thread never ran to close these.
  if (listener_ != -1) srt_close(listener_);
  if (epoll_ != -1) srt_epoll_release(epoll_);
  srt_cleanup();
}

void SrtIngest::Stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

int SrtIngest::ListenCallback(void* self, SRTSOCKET ns, int /*hsversion*/, const sockaddr* peer,
                              const char* stream_id) noexcept {
  return static_cast<SrtIngest*>(self)->Judge(ns, peer, stream_id);
}

void SrtIngest::Refuse(int ns, SrtRefusal refusal, const std::string& peer, const std::string& what,
                       const std::string& why) noexcept {
  srt_setrejectreason(ns, SrtRejectReason(refusal));
  try {
    NR_LOG(kInfo) << "srt: refused " << peer << " (" << what << "): " << static_cast<int>(refusal)
                  << " " << SrtRefusalName(refusal) << ": " << why;
    if (callbacks_.on_refused) callbacks_.on_refused(refusal, peer);
  } catch (...) {
  }
}

// libsrt's receive thread, during the caller's handshake. Returns 0 to let it through, -1 to
// refuse it with the reason set by Refuse().
int SrtIngest::Judge(int ns, const sockaddr* peer_addr, const char* stream_id) noexcept {
  try {
    const std::string peer = PeerString(peer_addr);
    if (stopping_) {
      Refuse(ns, SrtRefusal::kUnavailable, peer, "-", "shutting down");
      return -1;
    }
    auto parsed_or = ParseStreamId(stream_id == nullptr ? "" : stream_id);
    if (auto* error = std::get_if<StreamIdError>(&parsed_or)) {
      SrtRefusal r = error->problem == StreamIdProblem::kNoKey     ? SrtRefusal::kUnauthorized
                     : error->problem == StreamIdProblem::kBadMode ? SrtRefusal::kBadMode
                                                                   : SrtRefusal::kBadRequest;
      Refuse(ns, r, peer, "stream id not parsed", error->message);
      return -1;
    }
    const auto& parsed = std::get<ParsedStreamId>(parsed_or);
    const std::string what = Describe(parsed);
    const bool puller = parsed.mode == StreamMode::kRequest;
    if (parsed.mode == StreamMode::kBidirectional) {
      Refuse(ns, SrtRefusal::kBadMode, peer, what,
             "publish with m=publish, pull with m=request; m=bidirectional is neither");
      return -1;
    }
    if (puller && options_.max_pullers == 0) {
      Refuse(ns, SrtRefusal::kBadMode, peer, what, "pulling is off on this listener");
      return -1;
    }
    // Callbacks run outside mu_: on_refused may call Stats().
    bool full = false;
    if (!puller) {
      std::lock_guard lock(mu_);
      size_t publishers = stats_.size();
      for (const auto& [sock, p] : pending_) publishers += p.puller ? 0 : 1;
      full = publishers >= static_cast<size_t>(options_.max_connections);
    }
    if (full) {
      Refuse(ns, SrtRefusal::kOverload, peer, what,
             "already " + std::to_string(options_.max_connections) + " connections");
      return -1;
    }

    std::string passphrase;
    SrtDecision decision;
    try {
      decision = authorizer_(parsed, &passphrase);
    } catch (const std::exception& e) {
      Refuse(ns, SrtRefusal::kInternal, peer, what,
             std::string("the authorizer threw: ") + e.what());
      return -1;
    }
    switch (decision.verdict) {
      case SrtDecision::Verdict::kAccept:
        break;
      case SrtDecision::Verdict::kUnauthorized:
        Refuse(ns, SrtRefusal::kUnauthorized, peer, what, "the authorizer refused the key");
        return -1;
      case SrtDecision::Verdict::kForbidden:
        Refuse(ns, SrtRefusal::kForbidden, peer, what, "no stream has this key");
        return -1;
      case SrtDecision::Verdict::kNotFound:
        Refuse(ns, SrtRefusal::kNotFound, peer, what, "no such stream");
        return -1;
      case SrtDecision::Verdict::kUnavailable:
        Refuse(
            ns, SrtRefusal::kUnavailable, peer, what,
            puller ? "the stream cannot be pulled now" : "the stream cannot take a publisher now");
        return -1;
    }
    if (decision.stream.empty()) {
      Refuse(ns, SrtRefusal::kInternal, peer, what, "the authorizer accepted without a stream");
      return -1;
    }
    if (puller && passphrase.empty()) {
      Refuse(ns, SrtRefusal::kForbidden, peer, what,
             "stream " + decision.stream + " has no passphrase: pulling needs one");
      return -1;
    }
    if (!passphrase.empty() && srt_setsockflag(ns, SRTO_PASSPHRASE, passphrase.data(),
                                               static_cast<int>(passphrase.size())) < 0) {
      // libsrt wants 10..79 bytes; the message names the length, never the passphrase.
      Refuse(ns, SrtRefusal::kInternal, peer, what,
             "libsrt refused the stream's passphrase (" + std::to_string(passphrase.size()) +
                 " bytes; 10 to 79 needed)");
      return -1;
    }

    std::unique_lock lock(mu_);
    if (puller) {
      // Pullers connected and in their handshake, overall and on this stream.
      size_t all = puller_stats_.size(), here = 0;
      for (const auto& [sock, s] : puller_stats_) here += s.info.stream == decision.stream ? 1 : 0;
      for (const auto& [sock, p] : pending_) {
        if (!p.puller) continue;
        ++all;
        here += p.info.stream == decision.stream ? 1 : 0;
      }
      std::string over;
      if (all >= static_cast<size_t>(options_.max_pullers)) {
        over = "already " + std::to_string(options_.max_pullers) + " pullers";
      } else if (here >= static_cast<size_t>(options_.max_pullers_per_stream)) {
        over = "already " + std::to_string(options_.max_pullers_per_stream) +
               " pullers on stream " + decision.stream;
      }
      if (!over.empty()) {
        lock.unlock();
        Refuse(ns, SrtRefusal::kOverload, peer, what, over);
        return -1;
      }
    } else {
      if (live_.count(decision.stream) != 0 && !decision.replace_live) {
        lock.unlock();
        Refuse(ns, SrtRefusal::kConflict, peer, what,
               "stream " + decision.stream + " already has a publisher");
        return -1;
      }
      // Of two publishers' handshakes in flight for one stream, the later wins: the earlier
      // one, if it completes, finds no Pending at srt_accept and is closed.
      for (auto it = pending_.begin(); it != pending_.end();) {
        const bool earlier = !it->second.puller && it->second.info.stream == decision.stream;
        it = earlier ? pending_.erase(it) : std::next(it);
      }
    }
    Pending p;
    p.info.id = next_id_++;
    p.info.stream = decision.stream;
    p.info.peer = peer;
    p.info.description = what;
    p.puller = puller;
    p.replace_live = decision.replace_live;
    p.since = Clock::now();
    pending_[ns] = std::move(p);
    return 0;
  } catch (...) {
    srt_setrejectreason(ns, SrtRejectReason(SrtRefusal::kInternal));
    return -1;
  }
}

void SrtIngest::Run() noexcept {
  try {
    std::array<SRT_EPOLL_EVENT, kMaxEvents> events;
    while (!stopping_) {
      int n = srt_epoll_uwait(epoll_, events.data(), kMaxEvents, kWaitMs);
      for (int i = 0; i < n; ++i) {
        const int sock = events[i].fd;
        if (sock == listener_) {
          AcceptOne();
          continue;
        }
        auto it = connections_.find(sock);
        if (it != connections_.end()) {
          if (events[i].events & SRT_EPOLL_IN) ReadAll(*it->second);
          if ((events[i].events & SRT_EPOLL_ERR) && connections_.count(sock) != 0) {
            Close(sock, "closed by the caller");
          }
          continue;
        }
        auto p = pullers_.find(sock);
        if (p == pullers_.end()) continue;
        if (events[i].events & SRT_EPOLL_IN) DrainPuller(*p->second);
        if ((events[i].events & SRT_EPOLL_ERR) && pullers_.count(sock) != 0) {
          ClosePuller(sock, "closed by the caller");
        }
      }
      CloseRequested();
      if (Clock::now() - last_sample_ >= kSampleInterval) {
        last_sample_ = Clock::now();
        SampleStats();
        SweepPending();
      }
    }
    srt_close(listener_);  // no callback runs once this returns
    listener_ = -1;
    while (!connections_.empty()) Close(connections_.begin()->first, "shutdown");
    while (!pullers_.empty()) ClosePuller(pullers_.begin()->first, "shutdown");
    srt_epoll_release(epoll_);
    epoll_ = -1;
    std::lock_guard lock(mu_);
    pending_.clear();
  } catch (const std::exception& e) {
    NR_LOG(kError) << "srt: the ingest thread stopped: " << e.what();
  } catch (...) {
    NR_LOG(kError) << "srt: the ingest thread stopped on an unknown exception";
  }
}

// One caller per wake-up: the listener is level-triggered, so the next one wakes the loop again
// (and a non-blocking srt_accept with nobody waiting logs an error in libsrt).
void SrtIngest::AcceptOne() {
  sockaddr_storage addr{};
  int addr_len = sizeof addr;
  int sock = srt_accept(listener_, reinterpret_cast<sockaddr*>(&addr), &addr_len);
  if (sock == SRT_INVALID_SOCK) {
    if (srt_getlasterror(nullptr) != SRT_EASYNCRCV) {
      NR_LOG(kWarning) << "srt: accept failed: " << LastSrtError();
    }
    return;
  }
  Pending pending;
  int replaced = -1;
  bool refused = false;
  {
    std::lock_guard lock(mu_);
    auto it = pending_.find(sock);
    if (it == pending_.end()) {
      refused = true;  // a later handshake for the same stream took its place
    } else {
      pending = std::move(it->second);
      pending_.erase(it);
      auto live = live_.find(pending.info.stream);
      if (pending.puller) {
        SrtPullerStats& s = puller_stats_[sock];
        s.info = pending.info;
        s.connected_at = std::chrono::system_clock::now();
      } else if (live != live_.end() && !pending.replace_live) {
        refused = true;  // two callers raced past the listen callback: the first stays
      } else {
        if (live != live_.end()) replaced = live->second;
        live_[pending.info.stream] = sock;
        SrtConnectionStats& s = stats_[sock];
        s.info = pending.info;
        s.connected_at = std::chrono::system_clock::now();
      }
    }
  }
  if (refused) {
    NR_LOG(kInfo) << "srt: closed " << PeerString(reinterpret_cast<sockaddr*>(&addr))
                  << ": no longer expected (another caller took its place for the same "
                     "stream, or the stream was disconnected)";
    srt_close(sock);
    return;
  }
  if (pending.puller) {
    AcceptPuller(sock, pending);
    return;
  }
  if (replaced != -1 && connections_.count(replaced) != 0) Close(replaced, "replaced");
  auto c = std::make_unique<Connection>();
  c->sock = sock;
  c->info = pending.info;
  const int events = SRT_EPOLL_IN | SRT_EPOLL_ERR;
  if (srt_epoll_add_usock(epoll_, sock, &events) < 0) {
    NR_LOG(kError) << "srt: cannot watch a new connection: " << LastSrtError();
    std::lock_guard lock(mu_);
    live_.erase(pending.info.stream);
    stats_.erase(sock);
    srt_close(sock);
    return;
  }
  const SrtConnectionInfo info = c->info;
  connections_[sock] = std::move(c);
  // The stream's pullers start over from this publisher's tables and first keyframe.
  auto& feed = feeds_[info.stream];
  if (!feed) feed = std::make_unique<Feed>();
  feed->publisher = sock;
  feed->entry.Reset();
  for (int p : feed->pullers) {
    pullers_.at(p)->started = false;
    pullers_.at(p)->waiting_since = Clock::now();
  }
  NR_LOG(kInfo) << "srt: publisher " << info.id << " from " << info.peer << " on stream "
                << info.stream << " (" << info.description << ")";
  if (callbacks_.on_connect) callbacks_.on_connect(info);
}

void SrtIngest::AcceptPuller(int sock, const Pending& pending) {
  const int events = SRT_EPOLL_IN | SRT_EPOLL_ERR;
  if (srt_epoll_add_usock(epoll_, sock, &events) < 0) {
    NR_LOG(kError) << "srt: cannot watch a new puller: " << LastSrtError();
    std::lock_guard lock(mu_);
    puller_stats_.erase(sock);
    srt_close(sock);
    return;
  }
  auto p = std::make_unique<Puller>();
  p->sock = sock;
  p->info = pending.info;
  p->waiting_since = Clock::now();
  auto& feed = feeds_[p->info.stream];
  if (!feed) feed = std::make_unique<Feed>();
  feed->pullers.push_back(sock);
  const SrtConnectionInfo info = p->info;
  pullers_[sock] = std::move(p);
  NR_LOG(kInfo) << "srt: puller " << info.id << " from " << info.peer << " on stream "
                << info.stream << " (" << info.description << ")"
                << (feed->publisher == -1 ? ": waiting for a publisher" : "");
  if (callbacks_.on_puller_connect) callbacks_.on_puller_connect(info);
}

void SrtIngest::ReadAll(Connection& c) {
  // The publisher's feed: made at accept, kept while the publisher lives.
  Feed& feed = *feeds_.at(c.info.stream);
  std::vector<uint8_t>& batch = batch_;
  batch.resize(kBatchBytes + kRecvRoom);
  size_t used = 0;
  bool gone = false;
  auto flush = [&] {
    if (used == 0) return;
    c.bytes += used;
    if (callbacks_.on_data) callbacks_.on_data(c.info.id, c.info.stream, {batch.data(), used});
    used = 0;
  };
  for (int i = 0; i < kMessagesPerWakeUp; ++i) {
    int n = srt_recvmsg2(c.sock, reinterpret_cast<char*>(batch.data() + used),
                         static_cast<int>(batch.size() - used), nullptr);
    if (n < 0) {
      gone = srt_getlasterror(nullptr) != SRT_EASYNCRCV;
      break;
    }
    Relay(feed, batch.data() + used, static_cast<size_t>(n));
    used += static_cast<size_t>(n);
    if (used >= kBatchBytes) flush();
  }
  flush();
  if (gone) Close(c.sock, "closed by the caller");
}

void SrtIngest::Close(int sock, const std::string& why) {
  auto it = connections_.find(sock);
  if (it == connections_.end()) return;
  std::unique_ptr<Connection> c = std::move(it->second);
  connections_.erase(it);
  srt_epoll_remove_usock(epoll_, sock);
  srt_close(sock);
  {
    std::lock_guard lock(mu_);
    auto live = live_.find(c->info.stream);
    if (live != live_.end() && live->second == sock) live_.erase(live);
    stats_.erase(sock);
  }
  auto feed = feeds_.find(c->info.stream);
  if (feed != feeds_.end() && feed->second->publisher == sock) {
    feed->second->publisher = -1;
    if (feed->second->pullers.empty()) {
      feeds_.erase(feed);
    } else {
      for (int p : feed->second->pullers) {
        pullers_.at(p)->started = false;
        pullers_.at(p)->waiting_since = Clock::now();
      }
    }
  }
  NR_LOG(kInfo) << "srt: publisher " << c->info.id << " on stream " << c->info.stream
                << " ended: " << why << " (" << c->bytes << " bytes)";
  if (callbacks_.on_disconnect) callbacks_.on_disconnect(c->info, why);
}

// One message of the publisher's, as received, to each of the stream's pullers. A puller not
// started yet gets the latest PAT and PMT, then the message from its first keyframe packet on.
void SrtIngest::Relay(Feed& feed, const uint8_t* data, size_t size) {
  const std::span<const uint8_t> message(data, size);
  feed.entry.Observe(message);
  if (feed.pullers.empty()) return;
  bool looked = false;
  size_t start = TsEntryPoint::kNone;
  std::vector<std::pair<int, std::string>> behind;
  for (int sock : feed.pullers) {
    Puller& p = *pullers_.at(sock);
    size_t from = 0;
    if (!p.started) {
      if (!looked) {
        start = feed.entry.FindStart(message);
        looked = true;
      }
      if (start != TsEntryPoint::kNone) {
        from = start;
      } else if (Clock::now() - p.waiting_since < kStartWait) {
        continue;
      } else {
        NR_LOG(kInfo) << "srt: puller " << p.info.id << " on stream " << p.info.stream
                      << ": no keyframe marked in 10 s, starting anyway";
      }
      const auto tables = feed.entry.Tables();
      std::string why;
      if (!tables.empty() && !Send(p, tables.data(), tables.size(), &why)) {
        behind.emplace_back(sock, why);
        continue;
      }
      p.started = true;
    }
    std::string why;
    if (!Send(p, data + from, size - from, &why)) behind.emplace_back(sock, why);
  }
  for (const auto& [sock, why] : behind) ClosePuller(sock, why);
}

// Hands bytes to libsrt for one puller, at most kSendBytes a message; never waits. False, with
// why the puller must go, when libsrt takes them not.
bool SrtIngest::Send(Puller& p, const uint8_t* data, size_t size, std::string* why) {
  for (size_t at = 0; at < size; at += kSendBytes) {
    const int n = static_cast<int>(std::min(kSendBytes, size - at));
    if (srt_sendmsg2(p.sock, reinterpret_cast<const char*>(data + at), n, nullptr) < 0) {
      *why = srt_getlasterror(nullptr) == SRT_EASYNCSND ? "fell behind: its send buffer is full"
                                                        : "closed by the caller";
      return false;
    }
    p.bytes += static_cast<uint64_t>(n);
  }
  return true;
}

// A puller has nothing to say: what it sends anyway is read and dropped, so that the listener,
// level-triggered, does not wake for it again and again.
void SrtIngest::DrainPuller(Puller& p) {
  char sink[kRecvRoom];
  for (int i = 0; i < kMessagesPerWakeUp; ++i) {
    if (srt_recvmsg2(p.sock, sink, sizeof sink, nullptr) < 0) {
      if (srt_getlasterror(nullptr) != SRT_EASYNCRCV) ClosePuller(p.sock, "closed by the caller");
      return;
    }
  }
}

void SrtIngest::ClosePuller(int sock, const std::string& why) {
  auto it = pullers_.find(sock);
  if (it == pullers_.end()) return;
  std::unique_ptr<Puller> p = std::move(it->second);
  pullers_.erase(it);
  srt_epoll_remove_usock(epoll_, sock);
  srt_close(sock);
  {
    std::lock_guard lock(mu_);
    puller_stats_.erase(sock);
  }
  auto feed = feeds_.find(p->info.stream);
  if (feed != feeds_.end()) {
    auto& socks = feed->second->pullers;
    socks.erase(std::remove(socks.begin(), socks.end(), sock), socks.end());
    if (socks.empty() && feed->second->publisher == -1) feeds_.erase(feed);
  }
  NR_LOG(kInfo) << "srt: puller " << p->info.id << " on stream " << p->info.stream
                << " ended: " << why << " (" << p->bytes << " bytes sent)";
  if (callbacks_.on_puller_disconnect) callbacks_.on_puller_disconnect(p->info, why);
}

void SrtIngest::SampleStats() {
  for (auto& [sock, c] : connections_) {
    SRT_TRACEBSTATS t{};
    if (srt_bstats(sock, &t, 1) < 0) continue;  // closing: the next wake-up ends it
    c->retransmitted += t.pktRcvRetrans;
    std::lock_guard lock(mu_);
    auto it = stats_.find(sock);
    if (it == stats_.end()) continue;
    SrtConnectionStats& s = it->second;
    s.bytes_received = c->bytes;
    s.bitrate_bps = t.mbpsRecvRate * 1e6;
    s.rtt_ms = t.msRTT;
    s.packets_received = t.pktRecvTotal;
    s.packets_lost = t.pktRcvLossTotal;
    s.packets_retransmitted = c->retransmitted;
    s.packets_dropped = t.pktRcvDropTotal;
    s.packets_undecrypted = t.pktRcvUndecryptTotal;
  }
  SamplePullers();
}

// libsrt's sender counters of each puller, and the verdict on those that fell behind or waited
// too long for a publisher.
void SrtIngest::SamplePullers() {
  const auto now = Clock::now();
  const auto wait = std::chrono::seconds(options_.puller_wait_seconds);
  std::vector<std::pair<int, std::string>> gone;
  for (auto& [sock, p] : pullers_) {
    const Feed& feed = *feeds_.at(p->info.stream);
    if (feed.publisher == -1 && now - p->waiting_since > wait) {
      gone.emplace_back(sock, "no publisher");
      continue;
    }
    SRT_TRACEBSTATS t{};
    if (srt_bstats(sock, &t, 1) < 0) continue;  // closing: the next wake-up ends it
    p->drop_streak = t.pktSndDrop > 0 ? p->drop_streak + 1 : 0;
    {
      std::lock_guard lock(mu_);
      auto it = puller_stats_.find(sock);
      if (it != puller_stats_.end()) {
        SrtPullerStats& s = it->second;
        s.receiving = p->started && feed.publisher != -1;
        s.bytes_sent = p->bytes;
        s.bitrate_bps = t.mbpsSendRate * 1e6;
        s.rtt_ms = t.msRTT;
        s.packets_sent = t.pktSentTotal;
        s.packets_retransmitted = t.pktRetransTotal;
        s.packets_dropped = t.pktSndDropTotal;
        s.bytes_dropped = t.byteSndDropTotal;
        s.bytes_unacknowledged = t.byteSndBuf;
      }
    }
    if (t.byteSndBuf > options_.puller_backlog_bytes) {
      gone.emplace_back(sock,
                        "fell behind: " + std::to_string(t.byteSndBuf) + " bytes unacknowledged");
    } else if (p->drop_streak >= kBehindSamples) {
      gone.emplace_back(sock, "fell behind: packets too late to deliver, " +
                                  std::to_string(kBehindSamples) + " samples in a row");
    }
  }
  for (const auto& [sock, why] : gone) ClosePuller(sock, why);
}

// A caller let through by the listen callback whose handshake then failed (a wrong passphrase)
// never reaches srt_accept: forget it, so that it counts against max_connections no longer.
void SrtIngest::SweepPending() {
  // libsrt is asked outside mu_: the listen callback holds libsrt's locks while it waits for mu_.
  std::vector<std::pair<int, Clock::time_point>> pending;
  {
    std::lock_guard lock(mu_);
    for (const auto& [sock, p] : pending_) pending.emplace_back(sock, p.since);
  }
  const auto now = Clock::now();
  std::vector<int> gone;
  for (const auto& [sock, since] : pending) {
    SRT_SOCKSTATUS state = srt_getsockstate(sock);
    bool alive = state == SRTS_INIT || state == SRTS_OPENED || state == SRTS_CONNECTING ||
                 state == SRTS_CONNECTED;
    if (!alive || now - since > kPendingLimit) gone.push_back(sock);
  }
  std::lock_guard lock(mu_);
  for (int sock : gone) pending_.erase(sock);
}

void SrtIngest::CloseRequested() {
  std::vector<std::string> streams, puller_streams;
  std::vector<int> socks;
  {
    std::lock_guard lock(mu_);
    if (disconnect_.empty() && disconnect_pullers_.empty()) return;
    streams.swap(disconnect_);
    puller_streams.swap(disconnect_pullers_);
    for (const auto& stream : streams) {
      auto live = live_.find(stream);
      if (live != live_.end()) socks.push_back(live->second);
    }
    // Handshakes in flight for those streams: of publishers, or of pullers.
    for (auto it = pending_.begin(); it != pending_.end();) {
      const auto& list = it->second.puller ? puller_streams : streams;
      const bool drop = std::find(list.begin(), list.end(), it->second.info.stream) != list.end();
      it = drop ? pending_.erase(it) : std::next(it);
    }
  }
  for (int sock : socks) Close(sock, "disconnected");
  for (const auto& stream : puller_streams) {
    auto feed = feeds_.find(stream);
    if (feed == feeds_.end()) continue;
    const std::vector<int> pullers = feed->second->pullers;  // ClosePuller may erase the feed
    for (int sock : pullers) ClosePuller(sock, "disconnected");
  }
}

std::vector<SrtConnectionStats> SrtIngest::Stats() const {
  std::lock_guard lock(mu_);
  std::vector<SrtConnectionStats> out;
  out.reserve(stats_.size());
  for (const auto& [sock, s] : stats_) out.push_back(s);
  return out;
}

void SrtIngest::Disconnect(const std::string& stream) {
  std::lock_guard lock(mu_);
  disconnect_.push_back(stream);
}

std::vector<SrtPullerStats> SrtIngest::PullerStats() const {
  std::lock_guard lock(mu_);
  std::vector<SrtPullerStats> out;
  out.reserve(puller_stats_.size());
  for (const auto& [sock, s] : puller_stats_) out.push_back(s);
  return out;
}

int SrtIngest::PullerCount(const std::string& stream) const {
  std::lock_guard lock(mu_);
  int n = 0;
  for (const auto& [sock, s] : puller_stats_) n += s.info.stream == stream ? 1 : 0;
  return n;
}

void SrtIngest::DisconnectPullers(const std::string& stream) {
  std::lock_guard lock(mu_);
  disconnect_pullers_.push_back(stream);
}

}  // namespace newsreel::streaming
