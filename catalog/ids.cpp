#include "catalog/ids.h"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

#include "common/log.h"

namespace newsreel::catalog {
namespace {

// Fills `out` with random bytes. getrandom() blocks only until the kernel's pool is initialised
// once after boot; /dev/urandom is the fallback for kernels without it.
void FillRandom(unsigned char* out, size_t size) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = getrandom(out + done, size - done, 0);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  if (done == size) return;
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  while (fd >= 0 && done < size) {
    ssize_t n = read(fd, out + done, size - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (!(n < 0 && errno == EINTR)) {
      break;
    }
  }
  if (fd >= 0) close(fd);
  if (done != size) {
    // Without randomness ids could collide and secrets be guessed: refuse to go on.
    NR_LOG(kError) << "no random source (getrandom and /dev/urandom failed)";
    std::abort();
  }
}

std::string Base32(const unsigned char* data, size_t size) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  std::string out;
  out.reserve((size * 8 + 4) / 5);
  uint32_t buffer = 0;
  int bits = 0;
  for (size_t i = 0; i < size; ++i) {
    buffer = (buffer << 8) | data[i];
    bits += 8;
    while (bits >= 5) {
      out.push_back(kAlphabet[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (5 - bits)) & 31]);
  return out;
}

}  // namespace

std::string NewId() {
  unsigned char bytes[10];
  FillRandom(bytes, sizeof bytes);
  return Base32(bytes, sizeof bytes);
}

std::string NewSecret(size_t bytes) {
  std::vector<unsigned char> data(bytes);
  FillRandom(data.data(), data.size());
  return Base32(data.data(), data.size());
}

Status ValidateId(std::string_view id) {
  if (id.empty() || id.size() > 64) {
    return InvalidArgument("an id must be 1 to 64 characters long, got " +
                           std::to_string(id.size()));
  }
  if (id.front() == '-') return InvalidArgument("an id must not start with '-'");
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    if (!ok) return InvalidArgument("an id may contain only A-Z, a-z, 0-9, '_' and '-'");
  }
  return Status::Ok();
}

}  // namespace newsreel::catalog
