#include "streaming/live_rings.h"

#include "streaming/internal/ws_endpoints.h"

namespace newsreel::streaming {

Result<std::shared_ptr<MediaRing>> LiveRings::Open(const std::string& stream_id,
                                                   const MediaRingOptions& options) {
  auto route = MatchWebSocketPath("/ws/live/" + stream_id);
  if (!route || route->stream_id != stream_id)
    return InvalidArgument("not a live stream id: " + stream_id);
  std::lock_guard lock(mu_);
  if (auto it = rings_.find(stream_id); it != rings_.end()) return it->second;
  auto ring = MediaRing::Create(options);
  if (!ring.ok()) return ring.status();
  rings_[stream_id] = *ring;
  return *ring;
}

std::shared_ptr<MediaRing> LiveRings::Find(const std::string& stream_id) const {
  std::lock_guard lock(mu_);
  auto it = rings_.find(stream_id);
  return it == rings_.end() ? nullptr : it->second;
}

void LiveRings::Close(const std::string& stream_id) {
  std::shared_ptr<MediaRing> ring;
  {
    std::lock_guard lock(mu_);
    auto it = rings_.find(stream_id);
    if (it == rings_.end()) return;
    ring = std::move(it->second);
    rings_.erase(it);
  }
  ring->End();  // outside our lock: it calls the viewers' threads' wake-ups
}

}  // namespace newsreel::streaming
