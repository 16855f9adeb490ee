#pragma once
// Live media for WebSocket viewers (/ws/live/<id>): one MediaRing per stream holds the newest
// frames (fMP4 fragments) and the init segment; one MediaCursor per viewer walks the ring.
//
// Frames are immutable and shared: every viewer sends the same std::string, and a cursor is a
// few integers, so a viewer costs no memory per frame. A viewer that falls behind — its next
// frame was dropped from the ring, or more than max_client_bytes wait behind the frame it would
// send — skips ahead to the newest keyframe (or waits for the next one), counting the frames it
// skipped. It is never disconnected for being slow, and its memory never grows.
//
// The server's write loop for a viewer:
//   on WRITEABLE:  if (auto f = cursor.Next()) lws_write(binary *f->payload);
//                  if (cursor.Ready()) lws_callback_on_writable(wsi);
//   on wake-up:    for each viewer of the ring: if (cursor.Ready()) lws_callback_on_writable(wsi);
// where the wake-up is posted to the service thread by the callback given to Subscribe.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace newsreel::streaming {

struct MediaFrame {
  std::shared_ptr<const std::string> payload;  // never null, never empty
  uint64_t seq = 0;                            // 1, 2, 3... in push order; 0 for the init segment
  bool keyframe = false;                       // a viewer may start here
  bool init = false;                           // the init segment (ftyp+moov), not a frame
};

struct MediaRingOptions {
  size_t max_frames = 1024;     // >= 1; the oldest frame is dropped past this
  size_t max_bytes = 32 << 20;  // >= 1; payload bytes; the oldest frames are dropped past this
  size_t max_client_bytes = 4 << 20;  // see MediaCursor
};

class MediaCursor;

// The frames of one live stream. Thread-safe: one producer thread pushes while the viewers'
// service threads read. Create with Create(); cursors share ownership, so a ring outlives its
// last viewer even when the stream is removed from the server's table.
class MediaRing : public std::enable_shared_from_this<MediaRing> {
 public:
  // kInvalidArgument when a bound is zero.
  static Result<std::shared_ptr<MediaRing>> Create(const MediaRingOptions& options);

  MediaRing(const MediaRing&) = delete;
  MediaRing& operator=(const MediaRing&) = delete;

  // The init segment every viewer is sent first. Setting a new one (the encoder restarted)
  // makes every viewer send it again and then resume at a keyframe pushed after it.
  // kInvalidArgument when `init` is null or empty.
  Status SetInit(std::shared_ptr<const std::string> init);

  // Appends a frame, dropping the oldest ones past the bounds, then calls every subscriber.
  // Returns the frame's sequence number. kInvalidArgument when `payload` is null, empty, or
  // larger than max_bytes alone. Allocates nothing (the ring's slots are allocated by Create).
  Result<uint64_t> Push(std::shared_ptr<const std::string> payload, bool keyframe);

  // `wake` is called on the pushing thread after every Push and SetInit, with no ring lock
  // held but with the subscription lock held: it must only post a wake-up (e.g. append to the
  // service thread's inbox and lws_cancel_service), never block, and never call Subscribe or
  // Unsubscribe. Returns an id for Unsubscribe. After Unsubscribe returns, `wake` is not
  // running and will not be called again.
  int Subscribe(std::function<void()> wake);
  void Unsubscribe(int id);

  // The stream went off air: no more frames will come. Calls every subscriber, so that
  // viewers send what they still have and then close. Idempotent.
  void End();
  bool ended() const { return ended_.load(std::memory_order_acquire); }

  // A cursor for a new viewer: it yields the init segment (when set), then frames from the
  // newest keyframe on (or, when the ring holds none, from the next keyframe pushed).
  MediaCursor NewCursor();

  // Observations for metrics and tests; each is consistent on its own, not with the others.
  size_t frames() const;      // frames held now, <= max_frames
  size_t bytes() const;       // payload bytes held now, <= max_bytes
  uint64_t last_seq() const;  // the newest frame's seq; 0 before the first push
  // Frames skipped by all cursors of this ring, for metrics.
  uint64_t skipped_frames_total() const { return skipped_total_.load(std::memory_order_relaxed); }
  const MediaRingOptions& options() const { return options_; }

 private:
  friend class MediaCursor;

  struct Slot {
    std::shared_ptr<const std::string> payload;
    bool keyframe = false;
    uint64_t end_offset = 0;  // bytes pushed up to and including this frame
  };

  explicit MediaRing(const MediaRingOptions& options);

  // All below: mu_ must be held.
  Slot& SlotOf(uint64_t seq) { return slots_[seq % slots_.size()]; }
  uint64_t head() const { return first_seq_ + count_; }  // the seq the next push gets
  // Bytes of the frames after `seq` (seq itself excluded) up to the newest; seq must be held.
  uint64_t BytesAfter(uint64_t seq) { return pushed_bytes_ - SlotOf(seq).end_offset; }
  // The newest keyframe still held, if any.
  std::optional<uint64_t> NewestKey() const;
  void DropOldest();

  const MediaRingOptions options_;

  mutable std::mutex mu_;      // guards every field below up to subs_mu_; held for O(1) work only
  std::vector<Slot> slots_;    // circular, max_frames slots; seq s lives in slots_[s % size]
  uint64_t first_seq_ = 1;     // the oldest frame held (== head() when empty)
  size_t count_ = 0;           // frames held
  size_t bytes_ = 0;           // payload bytes held
  uint64_t pushed_bytes_ = 0;  // payload bytes ever pushed
  uint64_t newest_key_ = 0;    // seq of the newest keyframe pushed; 0: none yet
  std::shared_ptr<const std::string> init_;  // may be null
  uint64_t init_generation_ = 0;             // incremented by SetInit
  uint64_t init_first_seq_ = 1;              // frames from this seq on follow the current init

  std::atomic<uint64_t> skipped_total_{0};  // added to by cursors

  std::atomic<bool> ended_{false};
  std::mutex subs_mu_;  // guards subscribers_ and next_sub_id_; held while calling them
  std::map<int, std::function<void()>> subscribers_;
  int next_sub_id_ = 1;
};

// One viewer's position in a MediaRing. Not thread-safe: used by the viewer's service thread
// only. Holds a share of the ring and no frames.
//
// Backlog bound: Next() never returns a frame that leaves more than max_client_bytes of
// unsent frames behind it. When it would, or when the next frame was already dropped from the
// ring, the cursor skips to the newest keyframe whose backlog fits; when there is none it skips
// everything held and resumes at the next keyframe pushed. Skipped frames are counted here and
// in the ring's skipped_frames_total().
class MediaCursor {
 public:
  explicit MediaCursor(std::shared_ptr<MediaRing> ring);

  // The next thing to send, or nothing for now (wait for the ring's wake-up).
  std::optional<MediaFrame> Next();

  // Whether Next() has something to give. May be true when Next() then gives nothing (the
  // keyframe it would resume at no longer fits the bound); never false when a frame is waiting.
  bool Ready() const;

  // Bytes of the ring's frames this cursor has not sent yet (those still held). Right after
  // Next() returned a frame this is <= max_client_bytes; the producer may add to it since.
  uint64_t backlog_bytes() const;
  // Frames skipped because this viewer fell behind (not those before its first keyframe).
  uint64_t skipped_frames() const { return skipped_; }
  const std::shared_ptr<MediaRing>& ring() const { return ring_; }

 private:
  // Moves to the newest keyframe >= pos_ whose backlog fits, or to the head (waiting for the
  // next keyframe). Counts the frames passed over when `count`. ring_->mu_ must be held.
  void ResyncLocked(bool count);

  std::shared_ptr<MediaRing> ring_;
  uint64_t pos_ = 0;              // the seq Next() considers next
  bool need_key_ = true;          // skip to a keyframe before sending frames again
  bool count_skips_ = false;      // need_key_ because the viewer fell behind (not a fresh start)
  uint64_t init_generation_ = 0;  // of the init segment last sent; 0: none
  uint64_t skipped_ = 0;
};

}  // namespace newsreel::streaming
