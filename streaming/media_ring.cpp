#include "streaming/media_ring.h"

#include <algorithm>
#include <utility>

namespace newsreel::streaming {

Result<std::shared_ptr<MediaRing>> MediaRing::Create(const MediaRingOptions& options) {
  if (options.max_frames == 0 || options.max_bytes == 0 || options.max_client_bytes == 0) {
    return InvalidArgument("media ring: max_frames, max_bytes and max_client_bytes must be >= 1");
  }
  return std::shared_ptr<MediaRing>(new MediaRing(options));
}

MediaRing::MediaRing(const MediaRingOptions& options)
    : options_(options), slots_(options.max_frames) {}

Status MediaRing::SetInit(std::shared_ptr<const std::string> init) {
  if (init == nullptr || init->empty()) return InvalidArgument("media ring: empty init segment");
  {
    std::lock_guard lock(mu_);
    init_ = std::move(init);
    ++init_generation_;
    init_first_seq_ = head();
  }
  std::lock_guard lock(subs_mu_);
  for (auto& [id, wake] : subscribers_) wake();
  return Status();
}

Result<uint64_t> MediaRing::Push(std::shared_ptr<const std::string> payload, bool keyframe) {
  if (payload == nullptr || payload->empty()) return InvalidArgument("media ring: empty frame");
  const size_t size = payload->size();
  if (size > options_.max_bytes) {
    return InvalidArgument("media ring: a frame of " + std::to_string(size) +
                           " bytes is larger than the ring (" + std::to_string(options_.max_bytes) +
                           " bytes)");
  }
  uint64_t seq;
  {
    std::lock_guard lock(mu_);
    while (count_ == slots_.size() || bytes_ + size > options_.max_bytes) DropOldest();
    seq = head();
    pushed_bytes_ += size;
    Slot& slot = SlotOf(seq);
    slot.payload = std::move(payload);
    slot.keyframe = keyframe;
    slot.end_offset = pushed_bytes_;
    ++count_;
    bytes_ += size;
    if (keyframe) newest_key_ = seq;
  }
  std::lock_guard lock(subs_mu_);
  for (auto& [id, wake] : subscribers_) wake();
  return seq;
}

void MediaRing::DropOldest() {
  Slot& slot = SlotOf(first_seq_);
  bytes_ -= slot.payload->size();
  slot.payload.reset();
  ++first_seq_;
  --count_;
}

std::optional<uint64_t> MediaRing::NewestKey() const {
  if (newest_key_ == 0 || newest_key_ < first_seq_) return std::nullopt;
  return newest_key_;
}

void MediaRing::End() {
  if (ended_.exchange(true, std::memory_order_acq_rel)) return;
  std::lock_guard lock(subs_mu_);
  for (auto& [id, wake] : subscribers_) wake();
}

int MediaRing::Subscribe(std::function<void()> wake) {
  std::lock_guard lock(subs_mu_);
  int id = next_sub_id_++;
  subscribers_.emplace(id, std::move(wake));
  return id;
}

void MediaRing::Unsubscribe(int id) {
  std::lock_guard lock(subs_mu_);
  subscribers_.erase(id);
}

MediaCursor MediaRing::NewCursor() { return MediaCursor(shared_from_this()); }

size_t MediaRing::frames() const {
  std::lock_guard lock(mu_);
  return count_;
}

size_t MediaRing::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

uint64_t MediaRing::last_seq() const {
  std::lock_guard lock(mu_);
  return head() - 1;
}

MediaCursor::MediaCursor(std::shared_ptr<MediaRing> ring) : ring_(std::move(ring)) {}

std::optional<MediaFrame> MediaCursor::Next() {
  MediaRing& r = *ring_;
  std::lock_guard lock(r.mu_);
  if (r.init_ != nullptr && init_generation_ != r.init_generation_) {
    // A new viewer, or a new init mid-stream: send it, then resume at a keyframe that follows
    // it (frames before it belong to the old one).
    init_generation_ = r.init_generation_;
    pos_ = std::max(pos_, r.init_first_seq_);
    need_key_ = true;
    count_skips_ = false;
    return MediaFrame{.payload = r.init_, .seq = 0, .keyframe = false, .init = true};
  }
  if (need_key_) {
    ResyncLocked(count_skips_);
    if (need_key_) return std::nullopt;
  } else if (pos_ >= r.head()) {
    return std::nullopt;
  } else if (pos_ < r.first_seq_ || r.BytesAfter(pos_) > r.options_.max_client_bytes) {
    ResyncLocked(/*count=*/true);  // fell behind
    if (need_key_) return std::nullopt;
  }
  const MediaRing::Slot& slot = r.SlotOf(pos_);
  MediaFrame frame{.payload = slot.payload, .seq = pos_, .keyframe = slot.keyframe, .init = false};
  ++pos_;
  return frame;
}

void MediaCursor::ResyncLocked(bool count) {
  MediaRing& r = *ring_;
  uint64_t target;
  std::optional<uint64_t> key = r.NewestKey();
  if (key && *key >= pos_ && r.BytesAfter(*key) <= r.options_.max_client_bytes) {
    target = *key;
    need_key_ = false;
    count_skips_ = false;
  } else {
    target = std::max(pos_, r.head());  // wait for the next keyframe
    need_key_ = true;
    count_skips_ = count;
  }
  if (count && target > pos_) {
    skipped_ += target - pos_;
    r.skipped_total_.fetch_add(target - pos_, std::memory_order_relaxed);
  }
  pos_ = target;
}

bool MediaCursor::Ready() const {
  const MediaRing& r = *ring_;
  std::lock_guard lock(r.mu_);
  if (r.init_ != nullptr && init_generation_ != r.init_generation_) return true;
  if (need_key_) {
    std::optional<uint64_t> key = r.NewestKey();
    return key && *key >= pos_;
  }
  return pos_ < r.head();
}

uint64_t MediaCursor::backlog_bytes() const {
  MediaRing& r = *ring_;
  std::lock_guard lock(r.mu_);
  if (pos_ >= r.head()) return 0;
  const uint64_t from = std::max(pos_, r.first_seq_);
  return r.BytesAfter(from) + r.SlotOf(from).payload->size();
}

}  // namespace newsreel::streaming
