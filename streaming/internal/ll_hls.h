#pragma once
// Low-Latency HLS on the server (issue 15; docs/live.md "Low latency"): the pure parts. The live
// worker writes CMAF parts and LL-HLS playlists into data/live/<id>/ll/<rung>/ and says so with
// a `part` message per part; the server serves those files, and holds back (parks) a request
// for a playlist update or a part that does not exist yet until the worker's message says it
// does. Nothing here touches a socket or a file.
//
//   ParsePartMessage    one stdout line of the worker -> the part it announces
//   ParseBlockingQuery  ?_HLS_msn=N&_HLS_part=K -> what a playlist request waits for
//   JudgePlaylist       whether that is there now, must wait, or is too far ahead (400)
//   ParsePartFileName / JudgePart   the same for a request of a part file (the preload hint)
//   ParkedRequests      the requests one service thread holds, by stream and rung, with their
//                       deadlines and a cap per client address

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "streaming/live_rings.h"

namespace newsreel::streaming {

// A `part` message of the live worker (the contract of docs/workers.md):
//   {"type":"part","rung":"720p","msn":12,"part":3,"file":"ll/720p/p12.3.m4s",
//    "independent":true,"duration":0.333,"init":"ll/720p/init.mp4"}
// Paths are relative to the worker's output folder.
struct PartEvent {
  std::string rung;
  int64_t msn = 0;
  int part = 0;
  std::string file;  // always "ll/<rung>/p<msn>.<part>.m4s"
  std::string init;  // always "ll/<rung>/init.mp4"
  bool independent = false;
  double duration = 0;

  bool operator==(const PartEvent&) const = default;
};

// The largest part index and media sequence number taken (a bound for hostile numbers).
inline constexpr int kMaxPartIndex = 9999;
inline constexpr int64_t kMaxMediaSequence = int64_t{1} << 50;

// Whether `name` may name a rung: [A-Za-z0-9_-]{1,32} (the worker's are "720p", "360p").
bool IsRungName(std::string_view name);

// One line of the worker's stdout. kNotFound when it is not a part message (another type, or
// not JSON: the supervisor's business); kInvalidArgument when it is one with bad fields: a
// rung that is no rung name, numbers out of range, or a file or init path other than the
// contract's (so that no message can point the server at a file elsewhere).
Result<PartEvent> ParsePartMessage(std::string_view line);

// What a blocking playlist request asks for: the playlist that holds part `part` of segment
// `msn`, or, without a part, the playlist in which segment `msn` is complete.
struct BlockingQuery {
  int64_t msn = 0;
  std::optional<int> part;

  bool operator==(const BlockingQuery&) const = default;
};

// From a request's query parameters (already split, not percent-decoded). nullopt when it has
// neither _HLS_msn nor _HLS_part (an ordinary request); kInvalidArgument (answer 400) for
// _HLS_part without _HLS_msn, or a value that is not a decimal number in range.
Result<std::optional<BlockingQuery>> ParseBlockingQuery(
    const std::map<std::string, std::string>& query);

enum class Readiness {
  kReady,     // answer now
  kWait,      // park until the worker announces more
  kTooFar,    // 400: more than two segments ahead of the last
  kNotThere,  // 404: a part that is neither on disk nor the next one to come
};

// A playlist request against the newest part announced (`last`; msn -1: none yet). A part K
// of segment N is listed once the worker announced it, or any part of a later segment; segment
// N is complete once a part of N+1 was announced. N more than two segments ahead of the
// segment in progress is kTooFar.
Readiness JudgePlaylist(const BlockingQuery& query, PartPosition last);

// "p<msn>.<part>.m4s" -> {msn, part}; nullopt for any other name (no leading zeros, no signs).
std::optional<PartPosition> ParsePartFileName(std::string_view name);

// A request for a part file that is not on disk: kWait when it is the next part to come (the
// one the preload hint names: the next part of the segment in progress, or part 0 of the next
// segment), kReady when the worker announced it already (the file went meanwhile, or a race
// with the rename: serve what is there), else kNotThere.
Readiness JudgePart(PartPosition wanted, PartPosition last);

// The requests one service thread holds back. Not thread-safe: the service thread's own.
// Each is named by the connection's serial; the caller keeps the connection and, when an
// entry leaves the registry (woken, expired), answers it.
class ParkedRequests {
 public:
  using Clock = std::chrono::steady_clock;

  enum class Kind { kPlaylist, kPart };
  struct Entry {
    uint64_t serial = 0;
    std::string stream, rung;
    Kind kind = Kind::kPlaylist;
    BlockingQuery playlist;  // for kPlaylist
    PartPosition part;       // for kPart
    Clock::time_point deadline;
    std::string address;  // the client's, for the cap
  };

  // `max_per_address`: entries one client address may have here at once; 0: no cap.
  explicit ParkedRequests(size_t max_per_address) : max_per_address_(max_per_address) {}

  // False (and nothing kept) when the entry's address has max_per_address entries already,
  // or its serial is held already.
  bool Park(Entry entry);

  // The worker announced `last` for (stream, rung): the serials of the entries that are now
  // ready, or that will never be (a playlist request now too far ahead cannot happen: they
  // only come closer), removed from here.
  std::vector<uint64_t> Wake(const std::string& stream, const std::string& rung, PartPosition last);

  // Every entry of `stream` (the stream went off air), removed.
  std::vector<uint64_t> WakeAll(const std::string& stream);

  // The entries whose deadline is at or before `now`, removed.
  std::vector<uint64_t> Expire(Clock::time_point now);

  // Forgets `serial` (its connection closed). No-op when not held.
  void Remove(uint64_t serial);

  bool Holds(uint64_t serial) const { return entries_.count(serial) > 0; }
  size_t size() const { return entries_.size(); }

 private:
  void Erase(std::map<uint64_t, Entry>::iterator it);
  // Removes the entries `take` chooses; returns their serials, in order.
  std::vector<uint64_t> TakeIf(const std::function<bool(const Entry&)>& take);

  const size_t max_per_address_;
  std::map<uint64_t, Entry> entries_;         // by serial
  std::map<std::string, size_t> by_address_;  // entries per address, > 0 only
};

}  // namespace newsreel::streaming
