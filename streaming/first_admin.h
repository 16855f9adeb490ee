#pragma once
// The first account. On first start with no accounts in the catalog the server creates an
// admin named "admin" with a random one-time password, written to data/admin-password (mode
// 0600) and announced in the log. The file goes away once that password is changed (through
// the API, `newsreel user reset admin`, or the pages).

#include <string>

#include "catalog/catalog.h"
#include "common/status.h"
#include "streaming/data_dir.h"

namespace newsreel::streaming {

inline constexpr char kFirstAdminName[] = "admin";

inline std::filesystem::path AdminPasswordFile(const DataDir& data) {
  return data.root / "admin-password";
}

// Creates the first admin when the catalog has no account. Returns whether it did. The
// password file is written (and fsynced) before the account is committed, so a crash never
// leaves an admin nobody can sign in as.
Result<bool> EnsureFirstAdmin(catalog::Catalog& catalog, const DataDir& data);

// Called when `user_name`'s password changed: removes the one-time password file if it was
// theirs. Never fails (logs instead).
void RetireFirstAdminPassword(const DataDir& data, const std::string& user_name);

}  // namespace newsreel::streaming
