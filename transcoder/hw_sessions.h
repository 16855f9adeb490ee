#pragma once
// A cap on concurrent hardware encoder sessions, across processes. The server runs one worker
// process per job, so an in-process counter could not cap anything: each device family has
// `cap` slot files under a runtime folder, and an encoder session holds one with flock() while it
// runs. The kernel drops the lock when the holder exits, even when it crashes, so no slot leaks.
//
// Every rung of a job is one encoder instance, so a job takes one slot per rung, all or nothing.
// A job that cannot get its slots uses the next encoder instead (consumer NVIDIA cards allow
// only a few NVENC sessions at once; more would fail mid-job).

#include <string>
#include <vector>

#include "common/status.h"
#include "transcoder/encoder_registry.h"

namespace newsreel::transcoder {

class HardwareSessions {
 public:
  // Slot files live in `dir` (created on first use). `cap` sessions per device family.
  HardwareSessions(std::string dir, int cap);

  // The machine-wide default: folder $NEWSREEL_RUNTIME_DIR, else $XDG_RUNTIME_DIR/newsreel, else
  // /tmp/newsreel-<uid>; cap $NEWSREEL_HW_SESSIONS, else kDefaultCap.
  static HardwareSessions& Default();
  static constexpr int kDefaultCap = 8;

  // Slots held; released by the destructor (or when the process ends).
  class Lease {
   public:
    Lease() = default;
    ~Lease();
    Lease(Lease&& other) noexcept : fds_(std::move(other.fds_)) { other.fds_.clear(); }
    Lease& operator=(Lease&& other) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    int count() const { return static_cast<int>(fds_.size()); }
    void Release();

   private:
    friend class HardwareSessions;
    std::vector<int> fds_;
  };

  // Takes `count` free slots of `family` without waiting, all or nothing. kFailedPrecondition
  // when fewer are free than asked for. Software encoders (DeviceFamily::kNone) need no slot.
  Result<Lease> TryAcquire(DeviceFamily family, int count);

  int cap() const { return cap_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  int cap_;
};

}  // namespace newsreel::transcoder
