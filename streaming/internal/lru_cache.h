#pragma once
// A cache bounded by entry count and by a total "cost" (usually bytes), evicting the least
// recently used entries, with an optional time to live.
//
// Not thread-safe: a cache shared by several threads must be guarded by its owner's mutex (see
// VisibilityCache). Get() touches the entry, so even lookups need the mutex held exclusively.

#include <chrono>
#include <cstddef>
#include <functional>
#include <iterator>
#include <limits>
#include <list>
#include <unordered_map>
#include <utility>

namespace newsreel::streaming {

struct LruCacheOptions {
  size_t max_entries = 1024;                             // >= 1
  size_t max_cost = std::numeric_limits<size_t>::max();  // sum of the costs given to Put
  // Entries older than this (since their Put) are not returned. Zero: they never expire.
  std::chrono::steady_clock::duration ttl = std::chrono::steady_clock::duration::zero();
};

template <typename Key, typename Value, typename Hash = std::hash<Key>>
class LruCache {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // `now` is read by Put (to stamp the entry) and by Get (to check its age); tests pass a fake
  // clock. Only read when options.ttl is not zero.
  explicit LruCache(LruCacheOptions options, Clock now = &std::chrono::steady_clock::now)
      : options_(options), now_(std::move(now)) {
    if (options_.max_entries == 0) options_.max_entries = 1;
  }

  // The value cached under `key`, or nullptr when there is none or it expired (an expired entry
  // is erased). Makes the entry the most recently used. The pointer is valid until the next
  // call to a non-const member.
  Value* Get(const Key& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    auto node = it->second;
    if (Expired(*node)) {
      Remove(it);
      return nullptr;
    }
    entries_.splice(entries_.begin(), entries_, node);
    return &node->value;
  }

  // Stores `value` under `key` with `cost`, replacing (and un-counting) any previous value of
  // `key`, then evicts least recently used entries until both bounds hold. An entry costing
  // more than max_cost alone is not stored (and the previous value of `key` is gone). Returns
  // whether the value was stored.
  bool Put(const Key& key, Value value, size_t cost = 1) {
    if (auto it = index_.find(key); it != index_.end()) Remove(it);
    if (cost > options_.max_cost) return false;
    while (!entries_.empty() &&
           (entries_.size() >= options_.max_entries || cost_ > options_.max_cost - cost)) {
      Remove(index_.find(entries_.back().key));
    }
    entries_.push_front(Entry{key, std::move(value), cost, Expiry()});
    index_.emplace(key, entries_.begin());
    cost_ += cost;
    return true;
  }

  // Removes `key`; returns whether it was there (expired or not).
  bool Erase(const Key& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return false;
    Remove(it);
    return true;
  }

  void Clear() {
    index_.clear();
    entries_.clear();
    cost_ = 0;
  }

  // Entries held, expired ones included until they are looked up or evicted.
  size_t size() const { return entries_.size(); }
  // The sum of the costs of the entries held; never more than options.max_cost.
  size_t cost() const { return cost_; }

 private:
  struct Entry {
    Key key;
    Value value;
    size_t cost;
    std::chrono::steady_clock::time_point expires;  // meaningful when ttl is not zero
  };
  using List = std::list<Entry>;  // most recently used first
  using Index = std::unordered_map<Key, typename List::iterator, Hash>;

  std::chrono::steady_clock::time_point Expiry() const {
    if (options_.ttl == std::chrono::steady_clock::duration::zero()) return {};
    return now_() + options_.ttl;
  }
  bool Expired(const Entry& e) const {
    return options_.ttl != std::chrono::steady_clock::duration::zero() && now_() >= e.expires;
  }
  void Remove(typename Index::iterator it) {
    cost_ -= it->second->cost;
    entries_.erase(it->second);
    index_.erase(it);
  }

  LruCacheOptions options_;
  Clock now_;
  List entries_;
  Index index_;
  size_t cost_ = 0;
};

}  // namespace newsreel::streaming
