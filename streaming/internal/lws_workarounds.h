#pragma once
// Every workaround for the behaviour of Debian's libwebsockets 4.1.6, in one place, so that an
// upgrade deletes this file (and docs/serving.md says which behaviour each one answers):
//
// - Request lines with a control byte (%00 and the like) make lws drop the connection without
//   an answer or cut the path; lws also holds malformed heads open with no answer (a NUL in a
//   header, a header without a colon, a folded line, an HTTP/0.9 line, CONNECT), answers
//   HTTP/9.9 and a line without a version 200, and accepts WebSocket version 99. Such heads are
//   answered here (ScreenRequestHead: 400, 405, 426, 431 or 505), before lws sees them, on the
//   first request of a connection (Admit) and on later ones of a kept-alive connection
//   (KeptAlive), then the connection lingers so that its close does not reset the answer.
// - After a response lws waits for POLLOUT before it reads the next request of a kept-alive
//   connection, and schedules its keep-alive timeout by walking a list of every kept-alive
//   connection: KeptAlive() feeds lws the POLLOUT it would wait for and removes that timeout
//   (the service thread enforces keep-alive itself).
// - A request pipelined behind another on the same connection gets its end of body
//   (LWS_CALLBACK_HTTP_BODY_COMPLETION) reported again and again, without lws returning to the
//   loop, until it has an answer, and keeps servicing the connection forever afterwards (a
//   core at 90 %): the service thread answers such a request at once, waiting for the pool if
//   it must, closes the connection after the answer, and ignores body callbacks when it waits
//   for no body (a PATCH behind a HEAD was stored, then answered again as an unknown request).
// - lws 4.1 does not answer "Expect: 100-continue" (SendContinue) and its response status line
//   follows the request's HTTP version (StatusLineMatches, for replayed responses).
//
// Over TLS the bytes on the socket are encrypted: the screen cannot read a request head, and
// does not run. A new connection's first byte is still peeked: a TLS handshake goes to lws; a
// plain HTTP request line gets a 400 that says the port speaks HTTPS (lws would drop it).
//
// Threading: one LwsWorkarounds per service thread, used on that thread only.

#include <ev.h>
#include <libwebsockets.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/status.h"
#include "streaming/metrics.h"

namespace newsreel::streaming {

// Whether the peer of socket `fd` sent bytes not read yet (peeked, never consumed): a
// connection with such bytes is not idle, however long this thread was kept from reading.
bool HasUnreadBytes(int fd);

// Whether the first line of `head` holds a byte lws would drop the connection over or cut the
// path at: a raw control byte (0x00-0x1F, 0x7F) other than the CR that ends the line, an
// encoded one in the path, or an encoded NUL, CR or LF in the query (an encoded tab there is
// a search term's business).
bool RequestLineHasControlByte(std::string_view head);

// Whether `head` starts like a request line: a method token (A-Z) and a space.
bool LooksLikeRequestLine(std::string_view head);

// Why a request head is refused before lws sees it: lws 4.1 holds some malformed heads open
// without an answer, and answers others 200 (docs/serving.md).
struct HeadRefusal {
  int status = 400;
  std::string message;
  std::vector<std::pair<std::string, std::string>> headers;  // extra ones ("Allow", ...)
  bool log = true;   // a log line for it (the per-address limits log an address's first only)
  std::string body;  // the JSON body when not made from status and message (a handler's answer)
};

// Screens the start of a request (`head`: what has arrived of it, maybe more): a control byte
// in the request line (400); once the request line is whole, a method the server does not
// speak (405; CONNECT and TRACE among them), a line without an HTTP version (HTTP/0.9, 400), or
// another version than HTTP/1.0 and 1.1 (505); once the whole head has arrived, a header line
// without a name and colon, an obsolete folded line, or a control byte in a header (400), more
// than 100 header fields (431), a WebSocket upgrade of another version than 13 (426) or without
// a proper Sec-WebSocket-Key (400). `buffer_full`: `head` is as much as the
// screen reads and holds no end of head: too large (431). nullopt: nothing wrong so far.
std::optional<HeadRefusal> ScreenRequestHead(std::string_view head, bool buffer_full = false);

// The whole answer (status line, headers, JSON body, "connection: close") to a refused head.
std::string RefusalResponse(const HeadRefusal& refusal, const std::string& cors_allow_origin);

// The screen of one kept-alive connection's later request lines. Owned by the connection's
// session; must stay put (not be moved) while the connection lives.
struct KeptAliveScreen {
  ev_io watcher{};
  lws* wsi = nullptr;
  bool armed = false;       // the watcher runs
  bool reads_held = false;  // lws's reading is paused until the line is whole
};

class LwsWorkarounds {
 public:
  // `loop` is the service thread's loop; `metrics` must outlive this. `tls`: the connections
  // speak TLS (see above).
  LwsWorkarounds(struct ev_loop* loop, Metrics& metrics, std::string cors_allow_origin,
                 bool tls = false);
  ~LwsWorkarounds();

  // Sets up the epoll set of connections waiting for bytes, on `vhost`.
  Status Start(lws_vhost* vhost);
  // Closes every connection still waiting, held or lingering. Before lws_context_destroy.
  void Stop();

  // What the owner hears about descriptors; the per-address connection count follows them.
  // `released(fd, wsi)`: a descriptor given to Admit, or one answering a refused request (see
  // `refused`), is no longer this object's: lws adopted it as `wsi`, or it was closed (`wsi`
  // null). `refused(wsi, fd)`: the connection `wsi` was refused and is about to close; the
  // answer goes out on `fd`, a duplicate of its descriptor that lingers here and is released
  // once closed. Both run on the service thread, also from Stop. Set before the first Admit.
  struct DescriptorEvents {
    std::function<void(int fd, lws* wsi)> released;
    std::function<void(lws* wsi, int fd)> refused;
  };
  void SetDescriptorEvents(DescriptorEvents events) { events_ = std::move(events); }

  // A new connection: handed to lws once its first bytes are here and pass the screen.
  void Admit(int fd);

  // A new connection that is not admitted (the per-address connection limit): `refusal` is
  // answered at once, before the request is read, and the descriptor lingers as after any
  // refusal. Takes `fd`, which is never reported released. Over TLS it is closed unanswered (a
  // client cannot read anything before its handshake).
  void RefuseConnection(int fd, const HeadRefusal& refusal);

  // Refuses the request lws is handling on `wsi` (the per-address request rate): the answer goes
  // out on a duplicate of its descriptor, which lingers. The caller must then close `wsi`. Over
  // TLS the answer goes through lws instead (no lingering), and an HTTP/2 stream gets none.
  void RefuseRequest(lws* wsi, const HeadRefusal& refusal);

  // After lws_http_transaction_completed on a kept-alive connection: feeds lws its POLLOUT
  // (see OnPrepare), removes lws's keep-alive timeout, and screens the next request line.
  void KeptAlive(lws* wsi, KeptAliveScreen& screen);

  // Ends the screen of a connection (lws has its request, or it is being destroyed): its
  // watcher, and a pause of lws's reading with it (resumed unless `destroying`).
  void StopScreen(KeptAliveScreen& screen, bool destroying = false);

  // The connection is being destroyed: forget it.
  void Forget(lws* wsi, KeptAliveScreen& screen);

  // Closes connections that waited for their first bytes longer than `idle_limit`, and refused
  // ones whose lingering is over. Returns how many waiting ones it closed.
  int CloseExpired(std::chrono::steady_clock::time_point now,
                   std::chrono::steady_clock::duration idle_limit);

  // Writes "HTTP/1.1 100 Continue" on `wsi`. `buffer` has LWS_PRE bytes of room before it.
  static bool SendContinue(lws* wsi, unsigned char* buffer);

  // Whether `bytes`, a whole earlier response, begins with the status line lws writes for
  // this request (it follows the request's HTTP version).
  static bool StatusLineMatches(lws* wsi, std::string_view bytes);

 private:
  static void OnPendingReadable(struct ev_loop* loop, ev_io* io, int) noexcept;
  static void OnKeptAliveReadable(struct ev_loop* loop, ev_io* w, int) noexcept;
  static void OnPrepare(struct ev_loop* loop, ev_prepare* w, int) noexcept;
  void Screen(int fd, const char* data, size_t n, bool buffer_full);
  // `reported`: `fd` is reported released once closed (see DescriptorEvents).
  void Refuse(int fd, const HeadRefusal& refusal, bool reported);
  void Adopt(int fd);
  void CloseAdmitted(int fd);
  void Linger(int fd, uint32_t events);
  void CheckNextRequestLine(KeptAliveScreen& screen, uint32_t held_events);

  struct ev_loop* const loop_;
  Metrics& metrics_;
  const std::string cors_allow_origin_;
  const bool tls_;
  lws_vhost* vhost_ = nullptr;
  DescriptorEvents events_;
  // Connections waiting for their first bytes (pending_), kept-alive ones whose next request
  // line is incomplete (held_), and refused ones lingering (lingering_), in one epoll set that
  // is one descriptor in the loop.
  int pending_epoll_ = -1;
  ev_io pending_watch_{};
  ev_prepare keepalive_watch_{};
  std::vector<lws*> rearming_;  // kept-alive connections to hand their POLLOUT (OnPrepare)
  std::unordered_map<int, std::chrono::steady_clock::time_point> pending_;  // fd -> accepted at
  std::unordered_map<int, KeptAliveScreen*> held_;  // fd -> screen whose lws reading is paused
  // A refused connection's own descriptor: read and dropped until the client closes or the
  // deadline, so that closing with unread bytes does not reset the connection under the 400.
  struct Lingering {
    std::chrono::steady_clock::time_point until;
    std::string unsent;     // what the socket did not take of the answer yet
    bool reported = false;  // reported released when closed
  };
  std::unordered_map<int, Lingering> lingering_;
};

}  // namespace newsreel::streaming
