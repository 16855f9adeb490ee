#include "streaming/internal/address_limits.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <random>
#include <unordered_map>
#include <vector>

namespace newsreel::streaming {

std::string AddressKey::ToString() const {
  char text[INET6_ADDRSTRLEN] = "";
  if (family == 4) {
    inet_ntop(AF_INET, bytes.data(), text, sizeof text);
    return text;
  }
  uint8_t full[16] = {};
  std::memcpy(full, bytes.data(), bytes.size());
  inet_ntop(AF_INET6, full, text, sizeof text);
  return std::string(text) + "/64";
}

std::optional<AddressKey> AddressKeyOf(const sockaddr* address, socklen_t length) {
  if (address == nullptr) return std::nullopt;
  AddressKey key;
  if (address->sa_family == AF_INET && length >= sizeof(sockaddr_in)) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    std::memcpy(key.bytes.data(), &in->sin_addr, 4);
    return key;
  }
  if (address->sa_family == AF_INET6 && length >= sizeof(sockaddr_in6)) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
    const uint8_t* b = in6->sin6_addr.s6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      std::memcpy(key.bytes.data(), b + 12, 4);
      return key;
    }
    key.family = 6;
    std::memcpy(key.bytes.data(), b, 8);
    return key;
  }
  return std::nullopt;
}

namespace {

using TimePoint = std::chrono::steady_clock::time_point;

struct Entry {
  int connections = 0;
  double tokens = 0;   // as of `refilled`
  TimePoint refilled;  // when `tokens` was last brought up to date
  TimePoint used;      // the last call about this address (which entries to forget first)
  bool refusing_connections = false;  // refused since last admitted (log only the first)
  bool refusing_requests = false;
};

// A keyed hash with a seed chosen per process, so that no one can pick addresses (IPv6 /64s are
// cheap) that all land in one bucket.
struct KeyHash {
  uint64_t seed = 0;
  size_t operator()(const AddressKey& key) const {
    uint64_t x;
    std::memcpy(&x, key.bytes.data(), sizeof x);
    x ^= seed + key.family;
    // splitmix64's finaliser
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return static_cast<size_t>(x ^ (x >> 31));
  }
};

}  // namespace

struct AddressLimits::Shard {
  std::mutex mu;
  std::unordered_map<AddressKey, Entry, KeyHash> entries;  // guarded by mu
};

AddressLimits::AddressLimits(AddressLimitOptions options, Clock clock)
    : options_(options),
      capacity_(std::max(1.0, options.burst)),
      clock_(std::move(clock)),
      shards_(std::make_unique<Shard[]>(kShards)) {
  std::random_device random;
  const uint64_t seed = (static_cast<uint64_t>(random()) << 32) ^ random();
  for (size_t i = 0; i < kShards; ++i)
    shards_[i].entries = decltype(Shard::entries)(0, KeyHash{seed});
}

AddressLimits::~AddressLimits() = default;

bool AddressLimits::enabled() const {
  return options_.max_connections > 0 || options_.requests_per_second > 0;
}

AddressLimits::Shard& AddressLimits::ShardOf(const AddressKey& key) const {
  const size_t h = shards_[0].entries.hash_function()(key);
  return shards_[(h >> 32) % kShards];  // the high bits: the map in the shard uses the low ones
}

namespace {

// Brings the bucket up to `now`.
void Refill(Entry& e, TimePoint now, double rate, double capacity) {
  if (rate > 0 && now > e.refilled) {
    const double elapsed = std::chrono::duration<double>(now - e.refilled).count();
    e.tokens = std::min(capacity, e.tokens + elapsed * rate);
  }
  e.refilled = now;
}

// Whether forgetting `e` changes nothing: no open connection, and a full bucket (after Refill).
bool Idle(const Entry& e, double rate, double capacity) {
  return e.connections == 0 && (rate <= 0 || e.tokens >= capacity);
}

// The entry of `key` in a shard's `entries` (whose mutex the caller holds), brought up to `now`;
// a new one has a full bucket. Makes room first when the shard holds `max_entries` (see the top of
// the header).
Entry& EntryFor(std::unordered_map<AddressKey, Entry, KeyHash>& entries, const AddressKey& key,
                TimePoint now, size_t max_entries, double rate, double capacity) {
  auto found = entries.find(key);
  if (found == entries.end() && entries.size() >= max_entries) {
    for (auto it = entries.begin(); it != entries.end();) {
      Refill(it->second, now, rate, capacity);
      it = Idle(it->second, rate, capacity) ? entries.erase(it) : std::next(it);
    }
    if (entries.size() >= max_entries) {
      // Forget the least recently used without connections, down to 7/8 of the room, so that
      // the next insertions do not each scan the shard again.
      std::vector<std::pair<TimePoint, AddressKey>> candidates;
      for (const auto& [k, e] : entries)
        if (e.connections == 0) candidates.emplace_back(e.used, k);
      const size_t target = max_entries - max_entries / 8 - 1;
      const size_t excess = entries.size() > target ? entries.size() - target : 0;
      const size_t n = std::min(excess, candidates.size());
      std::nth_element(candidates.begin(), candidates.begin() + static_cast<ptrdiff_t>(n),
                       candidates.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      for (size_t i = 0; i < n; ++i) entries.erase(candidates[i].second);
    }
  }
  if (found == entries.end()) {
    found = entries.emplace(key, Entry{}).first;
    found->second.tokens = capacity;
    found->second.refilled = now;
  }
  Entry& e = found->second;
  Refill(e, now, rate, capacity);
  e.used = now;
  return e;
}

}  // namespace

AddressDecision AddressLimits::ConnectionOpened(const AddressKey& key) {
  if (!enabled()) return {};
  const TimePoint now = clock_();
  const double rate = options_.requests_per_second;
  Shard& shard = ShardOf(key);
  std::lock_guard lock(shard.mu);
  Entry& e = EntryFor(shard.entries, key, now,
                      std::max<size_t>(1, options_.max_addresses / kShards), rate, capacity_);
  if (options_.max_connections <= 0 || e.connections < options_.max_connections) {
    ++e.connections;
    e.refusing_connections = false;
    return {};
  }
  AddressDecision d;
  d.first_refusal = !e.refusing_connections;
  e.refusing_connections = true;
  if (rate > 0 && e.tokens < 1) {
    d.admission = Admission::kDrop;
    return d;
  }
  if (rate > 0) e.tokens -= 1;
  d.admission = Admission::kRefuse;
  d.retry_after = kConnectionRetryAfter;
  return d;
}

void AddressLimits::ConnectionClosed(const AddressKey& key) {
  if (!enabled()) return;
  const TimePoint now = clock_();
  Shard& shard = ShardOf(key);
  std::lock_guard lock(shard.mu);
  auto it = shard.entries.find(key);
  if (it == shard.entries.end()) return;
  Entry& e = it->second;
  if (e.connections > 0) --e.connections;
  Refill(e, now, options_.requests_per_second, capacity_);
  e.used = now;
  if (Idle(e, options_.requests_per_second, capacity_)) shard.entries.erase(it);
}

AddressDecision AddressLimits::RequestStarted(const AddressKey& key) {
  const double rate = options_.requests_per_second;
  if (rate <= 0) return {};
  const TimePoint now = clock_();
  Shard& shard = ShardOf(key);
  std::lock_guard lock(shard.mu);
  Entry& e = EntryFor(shard.entries, key, now,
                      std::max<size_t>(1, options_.max_addresses / kShards), rate, capacity_);
  if (e.tokens >= 1) {
    e.tokens -= 1;
    e.refusing_requests = false;
    return {};
  }
  AddressDecision d;
  d.admission = Admission::kRefuse;
  d.first_refusal = !e.refusing_requests;
  e.refusing_requests = true;
  d.retry_after = std::chrono::seconds(
      std::max<int64_t>(1, static_cast<int64_t>(std::ceil((1 - e.tokens) / rate))));
  return d;
}

size_t AddressLimits::tracked() const {
  size_t n = 0;
  for (size_t i = 0; i < kShards; ++i) {
    std::lock_guard lock(shards_[i].mu);
    n += shards_[i].entries.size();
  }
  return n;
}

}  // namespace newsreel::streaming
