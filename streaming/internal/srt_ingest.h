#pragma once
// The SRT ingest listener (issue 14, points 2 and 6): one libsrt listening socket that encoders
// (OBS, Larix, vMix, ffmpeg, hardware encoders) call in publish mode, routed by stream id, and
// that broadcasters call in request mode to pull a stream's source back out. Our own, because
// GStreamer 1.22's srtsrc in listener mode serves its first caller only and cannot route by
// stream id. No demuxer: the bytes a publisher sends (MPEG-TS, 1316-byte payloads as a rule)
// are handed, unread, to an injected sink; the lead's live worker reads them. The same bytes
// go, unchanged, to the stream's pullers (below).
//
// How a caller is judged, before libsrt completes its handshake (srt_listen_callback):
//   - its stream id is parsed (srt_stream_id.h): malformed -> 400, no key -> 401,
//     unknown m= -> 405; m=bidirectional -> 405. A stream id without m= counts as publish;
//     m=request is a puller (below);
//   - the injected authorizer decides: accept (naming the stream the bytes belong to, and
//     optionally the passphrase the caller must use), or 401 / 403 / 404 / 503;
//   - a stream that already has a publisher refuses a second one with 409, unless the
//     authorizer asked to replace it (`replace_live`): then the newcomer wins and the old
//     connection is closed once the new one is accepted. Of two callers still in their handshake
//     for one stream, the later wins (a caller whose handshake fails, e.g. on a wrong passphrase,
//     must not block the next);
//   - with a passphrase, SRTO_PASSPHRASE is set on the new socket: a caller without it or with
//     another one fails its handshake (libsrt: SRT_REJ_UNSECURE / SRT_REJ_BADSECRET).
// A refusal carries SRT_REJC_PREDEFINED + the code (1400, 1401, 1403, ...), which callers show
// (ffmpeg: "connection rejected"; srt-live-transmit and GStreamer name the code).
//
// Pullers (`#!::r=<stream>,m=request`, no key needed; a key if given is ignored):
//   - the authorizer is asked with mode kRequest and must find the stream by r= alone: accept
//     naming the stream and writing its passphrase, or kNotFound. The passphrase is REQUIRED:
//     an accept without one is refused with 403 (pulling is off for a stream without one), and
//     libsrt refuses a puller without it or with another one (SRT_REJ_UNSECURE /
//     SRT_REJ_BADSECRET), so only holders of the passphrase get the bytes;
//   - more than max_pullers at once, or max_pullers_per_stream on one stream -> 402;
//     max_pullers == 0 turns pulling off (405);
//   - once connected, a puller gets every message the stream's publisher sends, as received
//     (srt_sendmsg, live mode, at most 1316 bytes a message), starting with the stream's latest
//     PAT and PMT and then the next video keyframe (ts_entry_point.h); after 10 s without one
//     (an encoder that marks none), from wherever the stream is. A new publisher (after a drop,
//     or replacing) starts every puller over that way;
//   - a puller never slows the publisher or the other pullers: it is disconnected ("fell
//     behind") when a send finds its send buffer full, when more than puller_backlog_bytes wait
//     unacknowledged in it, or when libsrt had to drop packets it could not deliver in time in
//     3 samples (about 3 s) in a row;
//   - a puller may connect while nobody publishes: it waits, connected and sent nothing, up to
//     puller_wait_seconds for a publisher (also after one leaves), then is closed ("no
//     publisher").
//
// Stream keys and passphrases are never logged: log lines describe a stream id with Describe().
//
// Threads: Start() makes one ingest thread of the module's own, which accepts and reads every
// connection (srt_epoll) and calls on_connect, on_data and on_disconnect. The authorizer and
// on_refused run on libsrt's receive thread, inside the listen callback. None of the callbacks
// may block for long: a slow sink delays every connection of this listener; a slow authorizer
// delays every handshake and, as libsrt's one receive thread per UDP port also takes in the
// publishers' packets, every publisher's data (answer from memory, not from a slow query).
// Public methods may be called from any thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "streaming/internal/srt_stream_id.h"

struct sockaddr;

namespace newsreel::streaming {

// Why a caller is refused; the number is the HTTP-like part of SRT_REJC_PREDEFINED + code.
enum class SrtRefusal : int {
  kBadRequest = 400,    // malformed stream id
  kUnauthorized = 401,  // no key (or the authorizer says so)
  kOverload = 402,      // max_connections reached
  kForbidden = 403,     // the key is not valid (the authorizer's usual answer)
  kNotFound = 404,      // r= names no stream (the authorizer's answer)
  kBadMode = 405,       // m= other than publish
  kConflict = 409,      // the stream already has a publisher
  kInternal = 500,      // an authorizer that threw, a passphrase libsrt refuses (see the log)
  kUnavailable = 503,   // shutting down, or the authorizer cannot decide now
};

// SRT_REJC_PREDEFINED + the code: what srt_setrejectreason gets and what the caller sees.
int SrtRejectReason(SrtRefusal refusal);
const char* SrtRefusalName(SrtRefusal refusal);  // "forbidden", ...

// The authorizer's answer for one caller (a publisher, or a puller: ParsedStreamId::mode).
struct SrtDecision {
  enum class Verdict { kAccept, kUnauthorized, kForbidden, kNotFound, kUnavailable };
  Verdict verdict = Verdict::kForbidden;
  // With kAccept: the stream the bytes belong to (the catalog's live stream id). Required: an
  // accept without it is refused with 500. Callers that use r= and those that send only the key
  // end up on the same stream through it; a puller gets the bytes of this stream.
  std::string stream;
  // With kAccept: whether this caller replaces a publisher already live on `stream` (the owner
  // asked for it) instead of being refused with 409. Ignored for a puller.
  bool replace_live = false;

  static SrtDecision Accept(std::string stream) { return {Verdict::kAccept, std::move(stream)}; }
  static SrtDecision Refuse(Verdict v) { return {v, {}}; }
};

// Decides a caller from its parsed stream id. Writes the passphrase the caller must use into
// `*passphrase` (10..79 bytes, libsrt's bounds), or leaves it empty for an unencrypted stream.
// For a puller (id.mode == StreamMode::kRequest): find the stream by id.resource (never by a
// key: a puller has none, and one it sends is to be ignored), answer kNotFound when it names
// none, and write the stream's passphrase (left empty, the puller is refused with 403).
// Runs on libsrt's thread; may throw (refused with 500).
using SrtAuthorizer = std::function<SrtDecision(const ParsedStreamId&, std::string* passphrase)>;

struct SrtConnectionInfo {
  uint64_t id = 0;          // ours, unique for the life of the SrtIngest
  std::string stream;       // SrtDecision::stream
  std::string peer;         // "203.0.113.5:50312", "[2001:db8::1]:50312"
  std::string description;  // Describe() of the stream id: loggable
};

struct SrtIngestCallbacks {
  // A publisher was accepted. Ingest thread.
  std::function<void(const SrtConnectionInfo&)> on_connect;
  // Bytes from a publisher, as received (MPEG-TS from any encoder we know, but unchecked: the
  // worker that demuxes them treats them as hostile). One call carries one or more SRT messages
  // read in a row, at most 64 KiB. The span is valid during the call only. Ingest thread.
  std::function<void(uint64_t connection, const std::string& stream, std::span<const uint8_t>)>
      on_data;
  // A publisher is gone: `why` is "closed by the caller", "replaced", "disconnected" (through
  // Disconnect) or "shutdown". Ingest thread; after on_disconnect no on_data for that id.
  std::function<void(const SrtConnectionInfo&, const std::string& why)> on_disconnect;
  // A caller was refused (for metrics and tests). libsrt's thread, inside the listen callback.
  std::function<void(SrtRefusal, const std::string& peer)> on_refused;
  // A puller was accepted (its handshake, passphrase included, succeeded). Ingest thread.
  std::function<void(const SrtConnectionInfo&)> on_puller_connect;
  // A puller is gone: `why` is "closed by the caller", "fell behind: ...", "no publisher",
  // "disconnected" (through DisconnectPullers) or "shutdown". Ingest thread.
  std::function<void(const SrtConnectionInfo&, const std::string& why)> on_puller_disconnect;
};

struct SrtIngestOptions {
  std::string bind_address = "0.0.0.0";  // an IPv4 or IPv6 literal; "::" takes both
  int port = 9000;                       // UDP; 0: a free port (see SrtIngest::port())
  int max_connections = 64;              // publishers at once, plus their handshakes in progress
  // SRTO_RCVLATENCY of accepted sockets in ms (SRTO_PEERLATENCY for pullers); the larger of it
  // and the caller's is used.
  int latency_ms = 120;
  // Pullers (m=request) at once, handshakes included: over all streams (0: pulling is off), and
  // on one stream. Over either: 402.
  int max_pullers = 32;
  int max_pullers_per_stream = 8;
  // How long a puller waits, connected, for a publisher before it is closed (>= 1).
  int puller_wait_seconds = 30;
  // A puller with more than this waiting unacknowledged in its send buffer fell behind (64 KiB
  // at least). 4 MiB is 3 s of a 10 Mb/s stream, far more than SRT's latency lets through.
  int64_t puller_backlog_bytes = 4 << 20;
};

// One connection's figures, from libsrt's own counters (srt_bstats), sampled about once a
// second by the ingest thread.
struct SrtConnectionStats {
  SrtConnectionInfo info;
  std::chrono::system_clock::time_point connected_at;
  uint64_t bytes_received = 0;        // payload bytes handed to on_data
  double bitrate_bps = 0;             // receive rate over the last sample interval
  double rtt_ms = 0;                  // smoothed round-trip time
  int64_t packets_received = 0;       // pktRecvTotal
  int64_t packets_lost = 0;           // pktRcvLossTotal: gaps seen (most are retransmitted)
  int64_t packets_retransmitted = 0;  // retransmitted packets received (pktRcvRetrans, summed)
  int64_t packets_dropped = 0;        // pktRcvDropTotal: lost for good (too late to play)
  int64_t packets_undecrypted = 0;    // pktRcvUndecryptTotal
};

// One puller's figures: ours (bytes handed to libsrt) and libsrt's sender counters, sampled about
// once a second by the ingest thread.
struct SrtPullerStats {
  SrtConnectionInfo info;  // stream: the stream pulled
  std::chrono::system_clock::time_point connected_at;
  bool receiving = false;             // a publisher is live and this puller got its start
  uint64_t bytes_sent = 0;            // payload bytes handed to srt_sendmsg
  double bitrate_bps = 0;             // send rate over the last sample interval
  double rtt_ms = 0;                  // smoothed round-trip time
  int64_t packets_sent = 0;           // pktSentTotal (retransmissions included)
  int64_t packets_retransmitted = 0;  // pktRetransTotal
  int64_t packets_dropped = 0;        // pktSndDropTotal: too late to deliver, given up
  uint64_t bytes_dropped = 0;         // byteSndDropTotal
  int64_t bytes_unacknowledged = 0;   // byteSndBuf: in the send buffer, not yet acknowledged
};

class SrtIngest {
 public:
  // Binds and listens, then starts the ingest thread. kInvalidArgument for a bad address or
  // port, kIo when libsrt cannot bind (the port is taken, ...).
  static Result<std::unique_ptr<SrtIngest>> Start(SrtIngestOptions options,
                                                  SrtAuthorizer authorizer,
                                                  SrtIngestCallbacks callbacks);
  ~SrtIngest();  // Stop()
  SrtIngest(const SrtIngest&) = delete;
  SrtIngest& operator=(const SrtIngest&) = delete;

  // Closes the listener, then every connection (on_disconnect "shutdown"), and joins the
  // ingest thread. Idempotent. Not from inside a callback.
  void Stop();

  // The UDP port listened on (the one chosen by the system when options.port was 0).
  int port() const { return port_; }

  // The publishers now live, with their latest figures.
  std::vector<SrtConnectionStats> Stats() const;

  // The pullers now connected, with their latest figures (their count per stream: count by
  // info.stream, or PullerCount).
  std::vector<SrtPullerStats> PullerStats() const;
  int PullerCount(const std::string& stream) const;

  // Closes the publisher of `stream`, if any (the stream ended, its key was rotated): on the
  // ingest thread, shortly after. Its encoder will call again and meet the authorizer again.
  void Disconnect(const std::string& stream);

  // Closes every puller of `stream` (the stream was deleted, its passphrase rotated): on the
  // ingest thread, shortly after. The publisher is not touched.
  void DisconnectPullers(const std::string& stream);

 private:
  // A caller the listen callback let through, not yet returned by srt_accept (its handshake
  // may still fail, e.g. on a wrong passphrase).
  struct Pending {
    SrtConnectionInfo info;
    bool puller = false;
    bool replace_live = false;
    std::chrono::steady_clock::time_point since;
  };
  struct Connection;  // a publisher, owned by the ingest thread
  struct Puller;      // a puller, owned by the ingest thread
  struct Feed;        // a stream's publisher and pullers, on the ingest thread

  SrtIngest(SrtIngestOptions options, SrtAuthorizer authorizer, SrtIngestCallbacks callbacks);
  Status Listen();
  static int ListenCallback(void* self, int ns, int hsversion, const ::sockaddr* peer,
                            const char* stream_id) noexcept;
  int Judge(int ns, const ::sockaddr* peer, const char* stream_id) noexcept;
  void Refuse(int ns, SrtRefusal refusal, const std::string& peer, const std::string& what,
              const std::string& why) noexcept;
  void Run() noexcept;
  void AcceptOne();
  void AcceptPuller(int sock, const Pending& pending);
  void ReadAll(Connection& c);
  void Relay(Feed& feed, const uint8_t* data, size_t size);
  bool Send(Puller& p, const uint8_t* data, size_t size, std::string* why);
  void DrainPuller(Puller& p);
  void Close(int sock, const std::string& why);
  void ClosePuller(int sock, const std::string& why);
  void SampleStats();
  void SamplePullers();
  void SweepPending();
  void CloseRequested();

  const SrtIngestOptions options_;
  const SrtAuthorizer authorizer_;
  const SrtIngestCallbacks callbacks_;
  int listener_ = -1;  // SRTSOCKET; closed by the ingest thread when it ends
  int epoll_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;

  // Ingest thread only.
  std::map<int, std::unique_ptr<Connection>> connections_;  // by SRTSOCKET
  std::map<int, std::unique_ptr<Puller>> pullers_;          // by SRTSOCKET
  std::map<std::string, std::unique_ptr<Feed>> feeds_;      // streams with a publisher or a puller
  std::chrono::steady_clock::time_point last_sample_;
  std::vector<uint8_t> batch_;  // ReadAll's buffer

  // Shared between the listen callback (libsrt's thread), the ingest thread and callers of the
  // public methods.
  mutable std::mutex mu_;
  std::map<int, Pending> pending_;               // guarded by mu_; by SRTSOCKET
  std::map<std::string, int> live_;              // guarded by mu_; stream -> SRTSOCKET
  std::map<int, SrtConnectionStats> stats_;      // guarded by mu_; by SRTSOCKET
  std::map<int, SrtPullerStats> puller_stats_;   // guarded by mu_; by SRTSOCKET
  std::vector<std::string> disconnect_;          // guarded by mu_; streams to close
  std::vector<std::string> disconnect_pullers_;  // guarded by mu_; streams whose pullers to close
  uint64_t next_id_ = 1;                         // guarded by mu_
};

}  // namespace newsreel::streaming
