#pragma once
// Who /media may serve each video to, cached for a moment so that segment requests do not each
// query SQLite. Shared by all service threads; thread-safe. The API invalidates an entry
// before it answers a change, so that a hidden video is never served after the PATCH returns.
// Bounded: past max_entries the least recently looked-up videos are forgotten (and queried
// again when asked for), rather than the whole cache at once.

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "streaming/internal/lru_cache.h"

namespace newsreel::streaming {

// Who may fetch a video's files under /media/.
enum class MediaAccess {
  kNone,    // no such video: 404 for everyone
  kSigned,  // a draft or an unlisted video: only through a signed URL (signed_url.h)
  kPublic,  // published: anyone, with or without a signature
};

// What /media needs to know of a video: who may fetch it, and whether its output is finished
// (a video still processing may have a published part whose playlists still grow: they are
// served with no-cache, CacheControlFor).
struct MediaEntry {
  MediaAccess access = MediaAccess::kNone;
  bool finished = true;

  bool operator==(const MediaEntry&) const = default;
};

class VisibilityCache {
 public:
  using Clock = LruCache<std::string, MediaEntry>::Clock;

  // `now` is for tests; the server uses the steady clock.
  explicit VisibilityCache(std::chrono::milliseconds ttl = std::chrono::milliseconds(1000),
                           size_t max_entries = 100'000,
                           Clock now = &std::chrono::steady_clock::now)
      : entries_({.max_entries = max_entries, .ttl = ttl}, std::move(now)) {}

  // The cached answer for `video_id`, or nullopt when unknown or expired.
  std::optional<MediaEntry> Lookup(const std::string& video_id) {
    std::lock_guard lock(mu_);
    const MediaEntry* entry = entries_.Get(video_id);
    if (entry == nullptr) return std::nullopt;
    return *entry;
  }
  void Store(const std::string& video_id, MediaEntry entry) {
    std::lock_guard lock(mu_);
    entries_.Put(video_id, entry);
  }
  void Invalidate(const std::string& video_id) {
    std::lock_guard lock(mu_);
    entries_.Erase(video_id);
  }

 private:
  std::mutex mu_;
  LruCache<std::string, MediaEntry> entries_;  // guarded by mu_
};

}  // namespace newsreel::streaming
