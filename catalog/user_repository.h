#pragma once
// Users (with a role) and their API tokens. A token's secret is shown once, when it is issued;
// the catalog keeps only its SHA-256.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/types.h"
#include "common/status.h"

namespace newsreel::catalog {

namespace internal {
class Connection;
}

struct IssuedToken {
  Token token;
  std::string secret;  // "nrt_" + 52 base32 characters (256 bits); not stored anywhere
};

struct Authenticated {
  User user;
  Token token;
};

// Owned by a Catalog and used on its thread.
class UserRepository {
 public:
  explicit UserRepository(internal::Connection& connection) : connection_(connection) {}

  // `name` is 1..64 characters of [A-Za-z0-9._-], unique ignoring ASCII case (kAlreadyExists).
  Result<User> CreateUser(std::string_view name, std::string_view display_name, Role role);
  Result<User> GetUser(int64_t id);
  Result<User> GetUserByName(std::string_view name);  // ignoring ASCII case
  Result<std::vector<User>> ListUsers();
  Result<User> SetRole(int64_t id, Role role);
  Result<User> SetDisabled(int64_t id, bool disabled);
  // Deletes the user and their tokens.
  Status DeleteUser(int64_t id);

  // Issues a new token for a user; `expires_at_ms` nullopt means it does not expire.
  Result<IssuedToken> IssueToken(int64_t user_id, std::string_view label,
                                 std::optional<int64_t> expires_at_ms = std::nullopt);
  // The user a secret belongs to. kNotFound for an unknown, revoked or expired token;
  // kFailedPrecondition when the user is disabled. Stamps last_used_at (at most once a minute,
  // with relaxed durability).
  Result<Authenticated> Authenticate(std::string_view secret);
  Result<std::vector<Token>> ListTokens(int64_t user_id);
  // Revoking twice is fine; kNotFound for an unknown token id.
  Status RevokeToken(int64_t token_id);

 private:
  internal::Connection& connection_;
};

}  // namespace newsreel::catalog
