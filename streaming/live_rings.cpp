#include "streaming/live_rings.h"

#include <vector>

#include "streaming/internal/ws_endpoints.h"

namespace newsreel::streaming {

namespace {

bool IsRung(const std::string& rung) {
  if (rung.size() > 32) return false;
  for (char c : rung) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// The number a rung's name starts with ("720p" -> 720), or -1.
int64_t RungRank(const std::string& rung) {
  int64_t n = -1;
  for (char c : rung) {
    if (c < '0' || c > '9' || n > 1'000'000) break;
    n = (n < 0 ? 0 : n * 10) + (c - '0');
  }
  return n;
}

}  // namespace

Result<std::shared_ptr<MediaRing>> LiveRings::Open(const std::string& stream_id,
                                                   const MediaRingOptions& options,
                                                   const std::string& rung) {
  auto route = MatchWebSocketPath("/ws/live/" + stream_id);
  if (!route || route->stream_id != stream_id)
    return InvalidArgument("not a live stream id: " + stream_id);
  if (!IsRung(rung)) return InvalidArgument("not a rung name: " + rung);
  std::lock_guard lock(mu_);
  const Key key{stream_id, rung};
  if (auto it = rings_.find(key); it != rings_.end()) return it->second;
  auto ring = MediaRing::Create(options);
  if (!ring.ok()) return ring.status();
  rings_[key] = *ring;
  return *ring;
}

std::shared_ptr<MediaRing> LiveRings::Find(const std::string& stream_id,
                                           const std::string& rung) const {
  std::lock_guard lock(mu_);
  if (!rung.empty() || rings_.count({stream_id, ""})) {
    auto it = rings_.find({stream_id, rung});
    return it == rings_.end() ? nullptr : it->second;
  }
  std::shared_ptr<MediaRing> top;
  int64_t top_rank = -2;
  for (auto it = rings_.lower_bound({stream_id, ""});
       it != rings_.end() && it->first.first == stream_id; ++it) {
    const int64_t rank = RungRank(it->first.second);
    if (rank > top_rank) {
      top = it->second;
      top_rank = rank;
    }
  }
  return top;
}

void LiveRings::Close(const std::string& stream_id) {
  std::vector<std::shared_ptr<MediaRing>> closed;
  {
    std::lock_guard lock(mu_);
    for (auto it = rings_.lower_bound({stream_id, ""});
         it != rings_.end() && it->first.first == stream_id;) {
      closed.push_back(std::move(it->second));
      it = rings_.erase(it);
    }
    for (auto it = parts_.lower_bound({stream_id, ""});
         it != parts_.end() && it->first.first == stream_id;)
      it = parts_.erase(it);
  }
  for (auto& ring : closed) ring->End();  // outside our lock: it calls the viewers' wake-ups
  CallSubscribers(stream_id, "", {}, /*ended=*/true);
}

void LiveRings::NotePart(const std::string& stream_id, const std::string& rung,
                         PartPosition position) {
  {
    std::lock_guard lock(mu_);
    PartPosition& last = parts_[{stream_id, rung}];
    if (position <= last) return;
    last = position;
  }
  CallSubscribers(stream_id, rung, position, /*ended=*/false);
}

std::optional<PartPosition> LiveRings::LastPart(const std::string& stream_id,
                                                const std::string& rung) const {
  std::lock_guard lock(mu_);
  auto it = parts_.find({stream_id, rung});
  if (it == parts_.end()) return std::nullopt;
  return it->second;
}

int LiveRings::SubscribeParts(PartCallback on_part) {
  std::lock_guard lock(subs_mu_);
  const int id = next_sub_id_++;
  subscribers_[id] = std::move(on_part);
  return id;
}

void LiveRings::UnsubscribeParts(int id) {
  std::lock_guard lock(subs_mu_);
  subscribers_.erase(id);
}

void LiveRings::CallSubscribers(const std::string& stream, const std::string& rung,
                                PartPosition position, bool ended) {
  std::lock_guard lock(subs_mu_);
  for (auto& [id, on_part] : subscribers_) on_part(stream, rung, position, ended);
}

}  // namespace newsreel::streaming
