#include "streaming/first_admin.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "catalog/password.h"
#include "common/log.h"

namespace newsreel::streaming {
namespace {

Status WriteSecretFile(const std::filesystem::path& file, const std::string& text) {
  const std::filesystem::path tmp = file.string() + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return Status(ErrorCode::kIo, "cannot write " + tmp.string() + ": " + std::strerror(errno));
  fchmod(fd, 0600);  // an existing file keeps its mode on O_CREAT
  const bool ok =
      write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && fsync(fd) == 0;
  close(fd);
  if (!ok || rename(tmp.c_str(), file.c_str()) != 0) {
    unlink(tmp.c_str());
    return Status(ErrorCode::kIo, "cannot write " + file.string() + ": " + std::strerror(errno));
  }
  return SyncDirectory(file.parent_path());
}

}  // namespace

Result<bool> EnsureFirstAdmin(catalog::Catalog& catalog, const DataDir& data) {
  Result<int64_t> count = catalog.users().CountUsers();
  if (!count.ok()) return count.status();
  if (*count > 0) {
    // Accounts made with `newsreel user add` before the first start, but no admin among them:
    // nobody can manage accounts through the API. Say how to make one.
    Result<std::vector<catalog::User>> users = catalog.users().ListUsers();
    const bool admin = users.ok() && std::any_of(users->begin(), users->end(), [](const auto& u) {
                         return u.role == catalog::Role::kAdmin && !u.disabled;
                       });
    if (users.ok() && !admin) {
      NR_LOG(kWarning) << "accounts: no enabled admin account; make one with `newsreel user add "
                          "NAME --role admin --data "
                       << data.root.string() << "`";
    }
    return false;
  }
  const std::string password = catalog::RandomPassword();
  Result<std::string> hash = catalog::HashPassword(password);
  if (!hash.ok()) return hash.status();
  const std::filesystem::path file = AdminPasswordFile(data);
  NR_RETURN_IF_ERROR(WriteSecretFile(file, password + "\n"));
  Status made = catalog.RunInTransaction([&]() -> Status {
    Result<catalog::User> user =
        catalog.users().CreateUser(kFirstAdminName, "Administrator", catalog::Role::kAdmin);
    if (!user.ok()) return user.status();
    return catalog.users().SetPasswordHash(user->id, *hash);
  });
  if (!made.ok()) {
    unlink(file.c_str());
    // Another process (a second server, `newsreel user add`) made the first account meanwhile.
    if (made.code() == ErrorCode::kAlreadyExists) return false;
    return made;
  }
  NR_LOG(kWarning) << "accounts: created the first account, \"" << kFirstAdminName
                   << "\" (admin); its one-time password is in " << file.string()
                   << " (readable by this user only). Sign in and change it: the file is removed "
                      "then.";
  return true;
}

void RetireFirstAdminPassword(const DataDir& data, const std::string& user_name) {
  if (user_name != kFirstAdminName) return;
  const std::filesystem::path file = AdminPasswordFile(data);
  if (unlink(file.c_str()) == 0) {
    NR_LOG(kInfo) << "accounts: the admin's password changed; removed " << file.string();
    (void)SyncDirectory(data.root);
  } else if (errno != ENOENT) {
    NR_LOG(kWarning) << "accounts: cannot remove " << file.string() << ": " << std::strerror(errno);
  }
}

}  // namespace newsreel::streaming
