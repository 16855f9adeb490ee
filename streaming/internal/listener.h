#pragma once
// The listening sockets of `newsreel serve`: one SO_REUSEPORT listener per service thread (the
// kernel spreads new connections over them; Debian's lws 4.1.6 does not set SO_REUSEPORT for
// LWS_SERVER_OPTION_ALLOW_LISTEN_SHARE), after a check that no one else listens on the port.
// Pure socket calls: safe from any thread.

#include <string>
#include <utility>

#include "common/status.h"

namespace newsreel::streaming {

// Owns one file descriptor and closes it on destruction, unless released.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Gives up ownership: the caller closes the descriptor from now on.
  int Release() { return std::exchange(fd_, -1); }
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

// A non-blocking listening TCP socket with SO_REUSEPORT on the first address `host` resolves to.
// kInvalidArgument when `host` does not resolve, kIo when it cannot be bound.
Result<UniqueFd> OpenListener(const std::string& host, int port);

// Whether another socket listens on host:port. SO_REUSEPORT would let a second `newsreel
// serve` (or anything else that sets it) share the port silently, each taking part of the
// connections: a plain bind, which fails whenever the port is taken, is tried first.
// kIo naming the port when it is taken; Ok for port 0.
Status CheckPortFree(const std::string& host, int port);

}  // namespace newsreel::streaming
