#pragma once
// Which videos /media may serve, cached for a moment so that segment requests do not each
// query SQLite. Shared by all service threads; thread-safe. The API invalidates an entry
// before it answers a change, so that a hidden video is never served after the PATCH returns.

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

namespace newsreel::streaming {

class VisibilityCache {
 public:
  explicit VisibilityCache(std::chrono::milliseconds ttl = std::chrono::milliseconds(1000))
      : ttl_(ttl) {}

  // The cached answer for `video_id`, or -1 when unknown or expired.
  int Lookup(const std::string& video_id) {
    std::lock_guard lock(mu_);
    auto it = entries_.find(video_id);
    if (it == entries_.end() || std::chrono::steady_clock::now() > it->second.expires) return -1;
    return it->second.servable ? 1 : 0;
  }
  void Store(const std::string& video_id, bool servable) {
    std::lock_guard lock(mu_);
    if (entries_.size() > 100'000) entries_.clear();
    entries_[video_id] = {servable, std::chrono::steady_clock::now() + ttl_};
  }
  void Invalidate(const std::string& video_id) {
    std::lock_guard lock(mu_);
    entries_.erase(video_id);
  }

 private:
  struct Entry {
    bool servable;
    std::chrono::steady_clock::time_point expires;
  };
  const std::chrono::milliseconds ttl_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;  // guarded by mu_
};

}  // namespace newsreel::streaming
