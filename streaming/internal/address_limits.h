#pragma once
// Per-address limits: how many connections one client address may hold open at once, and how
// many requests it may make, as a token bucket (a sustained rate and a burst). Pure: no socket,
// no lws; the clock is injected, so tests move time by hand.
//
// What an address is: an IPv4 address is one client. IPv6 addresses are grouped by their /64
// prefix, since a subscriber usually holds a whole /64 and may take a fresh address from it at
// will. An IPv4-mapped IPv6 address (::ffff:a.b.c.d, seen on a dual-stack listener) is its IPv4
// address. Many viewers behind one NAT share one address: the defaults (server.h) leave room for
// a newsroom office of them.
//
// Memory: one entry per address that has an open connection or whose bucket is not full again.
// An entry with neither behaves like a new one and is forgotten as soon as that is seen. Past
// `max_addresses` entries, those without open connections that were used least recently are
// forgotten (they come back with a full bucket: the limit errs on the side of serving). Entries
// of addresses with open connections are never forgotten, so memory stays within
// `max_addresses` plus the open connections.
//
// Thread-safety: every member may be called from any thread. The table is split into shards by
// address, each under its own mutex; no call holds two.

#include <sys/socket.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace newsreel::streaming {

// One client address as the limits count it (see the top of this file).
struct AddressKey {
  uint8_t family = 4;              // 4 or 6
  std::array<uint8_t, 8> bytes{};  // IPv4: the first 4; IPv6: the /64 prefix

  bool operator==(const AddressKey&) const = default;
  // "203.0.113.7", "2001:db8:1:2::/64": for log lines.
  std::string ToString() const;
};

// The key of a peer address from accept(2) or getpeername(2); nullopt for other families (a
// Unix socket), which no limit applies to.
std::optional<AddressKey> AddressKeyOf(const sockaddr* address, socklen_t length);

struct AddressLimitOptions {
  int max_connections = 0;         // open at once per address; 0: no limit
  double requests_per_second = 0;  // sustained rate per address; 0: no rate limit
  // Requests an address may make at once, beyond the rate, after a quiet spell: the bucket's
  // size. Below 1 counts as 1.
  double burst = 0;
  size_t max_addresses = 65536;  // entries kept (see the top of this file)
};

enum class Admission {
  kAdmit,
  kRefuse,  // answer 429 with Retry-After
  kDrop,    // a connection over the limit from an address with no request tokens left either:
            // close it without an answer
};

struct AddressDecision {
  Admission admission = Admission::kAdmit;
  std::chrono::seconds retry_after{0};  // when refused: when trying again may succeed
  // The address's first refusal of this kind since it was last admitted: worth a log line
  // (the ones after it are not, or a flood would become a flood of log lines).
  bool first_refusal = false;
};

class AddressLimits {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // What a connection refused for the connection limit is told to wait: a slot frees when one
  // of the address's connections closes, which no one can predict.
  static constexpr std::chrono::seconds kConnectionRetryAfter{5};

  explicit AddressLimits(AddressLimitOptions options,
                         Clock clock = &std::chrono::steady_clock::now);
  ~AddressLimits();
  AddressLimits(const AddressLimits&) = delete;
  AddressLimits& operator=(const AddressLimits&) = delete;

  // Whether any limit is set. When not, no call needs to be made.
  bool enabled() const;

  // A connection from `key` was accepted. kAdmit: it counts against the address until
  // ConnectionClosed(key) (call it exactly once). kRefuse: the address holds max_connections
  // already; nothing is counted, but the refusal takes one of the address's request tokens, so
  // that answering refusals cannot be turned into a flood of its own. kDrop: over the limit and
  // out of request tokens as well.
  AddressDecision ConnectionOpened(const AddressKey& key);
  void ConnectionClosed(const AddressKey& key);

  // A request from `key` (its head has arrived): kAdmit, taking a token, or kRefuse with the
  // seconds until the bucket holds one again.
  AddressDecision RequestStarted(const AddressKey& key);

  // Entries held now, over every shard (tests and metrics).
  size_t tracked() const;

 private:
  struct Shard;
  static constexpr size_t kShards = 16;
  Shard& ShardOf(const AddressKey& key) const;

  const AddressLimitOptions options_;
  const double capacity_;  // the bucket's size (burst, at least 1)
  const Clock clock_;
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace newsreel::streaming
