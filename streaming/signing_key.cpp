#include "streaming/signing_key.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "streaming/data_dir.h"

namespace newsreel::streaming {

namespace {

std::string Errno() { return std::strerror(errno); }

Result<SigningKey> ReadKey(const std::filesystem::path& file) {
  int fd = open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFound("no signing key at " + file.string());
    return IoError("cannot open the signing key " + file.string() + ": " + Errno());
  }
  struct stat st {};
  SigningKey key{};
  Status status;
  if (fstat(fd, &st) != 0) {
    status = IoError("cannot stat the signing key " + file.string() + ": " + Errno());
  } else if (!S_ISREG(st.st_mode)) {
    status = InvalidArgument("the signing key " + file.string() + " is not a regular file");
  } else if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%03o", static_cast<unsigned>(st.st_mode & 0777));
    status = InvalidArgument("the signing key " + file.string() + " has mode " + mode +
                             ": others may read it; chmod 600 it");
  } else if (st.st_size != static_cast<off_t>(kSigningKeyBytes)) {
    status =
        InvalidArgument("the signing key " + file.string() + " has " + std::to_string(st.st_size) +
                        " bytes, not " + std::to_string(kSigningKeyBytes) +
                        "; remove it to make a new one (every signed URL handed out "
                        "before stops working)");
  } else if (pread(fd, key.data(), key.size(), 0) != static_cast<ssize_t>(key.size())) {
    status = IoError("cannot read the signing key " + file.string() + ": " + Errno());
  }
  close(fd);
  if (!status.ok()) return status;
  return key;
}

}  // namespace

Result<SigningKey> LoadOrCreateSigningKey(const std::filesystem::path& file) {
  Result<SigningKey> existing = ReadKey(file);
  if (existing.ok() || existing.status().code() != ErrorCode::kNotFound) return existing;

  SigningKey key{};
  unsigned char nonce[8];
  if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1 ||
      RAND_bytes(nonce, sizeof nonce) != 1)
    return Internal("no random bytes for a signing key (OpenSSL RAND_bytes failed)");
  char suffix[40];
  std::snprintf(suffix, sizeof suffix, ".tmp-%d-%02x%02x%02x%02x", static_cast<int>(getpid()),
                nonce[0], nonce[1], nonce[2], nonce[3]);
  const std::filesystem::path temp = file.string() + suffix;
  int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return IoError("cannot create " + temp.string() + ": " + Errno());
  const bool written =
      write(fd, key.data(), key.size()) == static_cast<ssize_t>(key.size()) && fsync(fd) == 0;
  const std::string write_error = Errno();
  close(fd);
  if (!written) {
    unlink(temp.c_str());
    return IoError("cannot write " + temp.string() + ": " + write_error);
  }
  // link(2) never replaces: when another process made the key meanwhile, theirs is the key.
  const int linked = link(temp.c_str(), file.c_str());
  const int link_errno = errno;
  unlink(temp.c_str());
  if (linked != 0) {
    if (link_errno == EEXIST) return ReadKey(file);
    return IoError("cannot create the signing key " + file.string() + ": " +
                   std::strerror(link_errno));
  }
  NR_RETURN_IF_ERROR(SyncDirectory(file.parent_path()));
  return key;
}

}  // namespace newsreel::streaming
