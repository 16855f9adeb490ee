#include "streaming/internal/listener.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace newsreel::streaming {

void UniqueFd::Reset(int fd) {
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
}

namespace {

using AddrInfoPtr = std::unique_ptr<addrinfo, decltype(&freeaddrinfo)>;

// The address `serve` listens on (the first one `host` resolves to).
Result<AddrInfoPtr> ResolveListenAddress(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0)
    return InvalidArgument("cannot resolve listen address " + host + ": " + gai_strerror(rc));
  return AddrInfoPtr(res, &freeaddrinfo);
}

}  // namespace

Result<UniqueFd> OpenListener(const std::string& host, int port) {
  auto address = ResolveListenAddress(host, port);
  if (!address.ok()) return address.status();
  const addrinfo* res = address->get();
  UniqueFd fd(socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return IoError(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (bind(fd.get(), res->ai_addr, res->ai_addrlen) != 0 || listen(fd.get(), 4096) != 0)
    return IoError("cannot listen on " + host + ":" + std::to_string(port) + ": " +
                   std::strerror(errno));
  return fd;
}

Status CheckPortFree(const std::string& host, int port) {
  if (port == 0) return Status::Ok();
  auto address = ResolveListenAddress(host, port);
  if (!address.ok()) return address.status();
  const addrinfo* res = address->get();
  UniqueFd fd(socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return IoError(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // TIME_WAIT is not "taken"
  const bool taken = bind(fd.get(), res->ai_addr, res->ai_addrlen) != 0 && errno == EADDRINUSE;
  if (taken)
    return IoError("cannot listen on " + host + ":" + std::to_string(port) +
                   ": the port is in use (is another newsreel serve running there?)");
  return Status::Ok();
}

}  // namespace newsreel::streaming
