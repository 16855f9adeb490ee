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
  Result<int64_t> CountUsers();

  // Stores a password hash (password.h) and revokes the user's sessions (a changed password
  // signs every browser out); API tokens stay.
  Status SetPasswordHash(int64_t id, std::string_view password_hash);
  // The stored password hash of a user ("" when none was set).
  Result<std::string> PasswordHash(int64_t id);

  // Issues a new token for a user; `expires_at_ms` nullopt means it does not expire.
  Result<IssuedToken> IssueToken(int64_t user_id, std::string_view label,
                                 std::optional<int64_t> expires_at_ms = std::nullopt,
                                 TokenKind kind = TokenKind::kApi);
  // The user a secret belongs to. kNotFound for an unknown, revoked or expired token;
  // kFailedPrecondition when the user is disabled. Stamps last_used_at (at most once a minute,
  // with relaxed durability).
  Result<Authenticated> Authenticate(std::string_view secret);
  // Authenticate without writing (for a service thread, which must not wait on a commit): the
  // caller stamps last_used_at later with Touch when the returned token's stamp is old.
  Result<Authenticated> Lookup(std::string_view secret);
  Status Touch(int64_t token_id);
  Result<Token> GetToken(int64_t token_id);
  Result<std::vector<Token>> ListTokens(int64_t user_id);
  // Revoking twice is fine; kNotFound for an unknown token id.
  Status RevokeToken(int64_t token_id);
  // Revokes every token of a user of `kind` (all kinds when nullopt); how many were revoked.
  Result<int> RevokeTokensOf(int64_t user_id, std::optional<TokenKind> kind = std::nullopt);

  // SHA-256 of a token secret, as stored: callers key caches with it, never with the secret.
  static std::string HashSecret(std::string_view secret);

 private:
  internal::Connection& connection_;
};

}  // namespace newsreel::catalog
