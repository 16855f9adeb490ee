#include "transcoder/hw_sessions.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace newsreel::transcoder {

HardwareSessions::HardwareSessions(std::string dir, int cap) : dir_(std::move(dir)), cap_(cap) {}

HardwareSessions& HardwareSessions::Default() {
  static HardwareSessions* sessions = [] {
    std::string dir;
    if (const char* d = std::getenv("NEWSREEL_RUNTIME_DIR"); d != nullptr && *d != '\0') {
      dir = d;
    } else if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x != nullptr && *x != '\0') {
      dir = std::string(x) + "/newsreel";
    } else {
      dir = "/tmp/newsreel-" + std::to_string(getuid());
    }
    int cap = kDefaultCap;
    if (const char* c = std::getenv("NEWSREEL_HW_SESSIONS"); c != nullptr && *c != '\0')
      cap = std::max(0, std::atoi(c));
    return new HardwareSessions(dir + "/hw-sessions", cap);
  }();
  return *sessions;
}

HardwareSessions::Lease::~Lease() { Release(); }

HardwareSessions::Lease& HardwareSessions::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    Release();
    fds_ = std::move(other.fds_);
    other.fds_.clear();
  }
  return *this;
}

void HardwareSessions::Lease::Release() {
  for (int fd : fds_) close(fd);  // closing the descriptor drops its flock
  fds_.clear();
}

Result<HardwareSessions::Lease> HardwareSessions::TryAcquire(DeviceFamily family, int count) {
  Lease lease;
  if (family == DeviceFamily::kNone || count <= 0) return lease;
  if (count > cap_)
    return Status(ErrorCode::kFailedPrecondition,
                  "the job needs " + std::to_string(count) + " " + DeviceFamilyName(family) +
                      " encoder sessions, more than the cap of " + std::to_string(cap_) +
                      " (NEWSREEL_HW_SESSIONS)");
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return IoError("cannot create " + dir_ + ": " + ec.message());
  for (int slot = 0; slot < cap_ && lease.count() < count; ++slot) {
    const std::string path =
        dir_ + "/" + DeviceFamilyName(family) + "-" + std::to_string(slot) + ".lock";
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) return IoError("cannot open " + path);
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
      lease.fds_.push_back(fd);
    } else {
      close(fd);
    }
  }
  if (lease.count() < count)
    return Status(ErrorCode::kFailedPrecondition,
                  "only " + std::to_string(lease.count()) + " of " + std::to_string(cap_) + " " +
                      DeviceFamilyName(family) + " encoder sessions are free; the job needs " +
                      std::to_string(count));
  return lease;
}

}  // namespace newsreel::transcoder
