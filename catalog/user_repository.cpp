#include "catalog/user_repository.h"

#include <openssl/evp.h>

#include "catalog/ids.h"
#include "catalog/internal/connection.h"
#include "catalog/vietnamese_fold.h"

namespace newsreel::catalog {

using internal::Durability;
using internal::FailedPrecondition;
using internal::Guard;
using internal::OptionalInt64;
using internal::Query;

namespace {

constexpr char kUserColumns[] = "id, name, display_name, role, disabled, created_at";
constexpr char kTokenColumns[] =
    "id, user_id, label, created_at, expires_at, last_used_at, revoked_at, kind";
constexpr int64_t kLastUsedResolutionMs = 60'000;
constexpr std::string_view kSecretPrefix = "nrt_";

User ReadUser(SQLite::Statement& s, int first = 0) {
  User u;
  u.id = s.getColumn(first + 0).getInt64();
  u.name = s.getColumn(first + 1).getString();
  u.display_name = s.getColumn(first + 2).getString();
  Result<Role> role = ParseRole(s.getColumn(first + 3).getString());
  if (!role.ok()) throw std::runtime_error(role.status().message());
  u.role = *role;
  u.disabled = s.getColumn(first + 4).getInt() != 0;
  u.created_at_ms = s.getColumn(first + 5).getInt64();
  return u;
}

Token ReadToken(SQLite::Statement& s, int first = 0) {
  Token t;
  t.id = s.getColumn(first + 0).getInt64();
  t.user_id = s.getColumn(first + 1).getInt64();
  t.label = s.getColumn(first + 2).getString();
  t.created_at_ms = s.getColumn(first + 3).getInt64();
  t.expires_at_ms = OptionalInt64(s.getColumn(first + 4));
  t.last_used_at_ms = OptionalInt64(s.getColumn(first + 5));
  t.revoked_at_ms = OptionalInt64(s.getColumn(first + 6));
  t.kind = s.getColumn(first + 7).getString() == "session" ? TokenKind::kSession : TokenKind::kApi;
  return t;
}

}  // namespace

// SHA-256 of the secret. Secrets carry 256 random bits, so a fast unsalted hash is enough: the
// stored hashes cannot be reversed and there is nothing to guess.
std::string UserRepository::HashSecret(std::string_view secret) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(secret.data(), secret.size(), digest, &size, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 failed");
  }
  return std::string(reinterpret_cast<const char*>(digest), size);
}

namespace {

Status CheckName(std::string_view name) {
  if (name.empty() || name.size() > 64) return InvalidArgument("a user name must be 1..64 long");
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.';
    if (!ok) return InvalidArgument("a user name may contain only A-Z, a-z, 0-9, '.', '_', '-'");
  }
  return Status::Ok();
}

Status NoSuchUser(int64_t id) { return NotFound("no user with id " + std::to_string(id)); }

Result<User> LoadUser(internal::Connection& c, int64_t id) {
  Query q(c, std::string("SELECT ") + kUserColumns + " FROM users WHERE id = ?");
  q->bind(1, id);
  if (!q->executeStep()) return NoSuchUser(id);
  return ReadUser(*q);
}

}  // namespace

Result<User> UserRepository::CreateUser(std::string_view name, std::string_view display_name,
                                        Role role) {
  NR_RETURN_IF_ERROR(CheckName(name));
  if (!IsValidUtf8(display_name)) return InvalidArgument("display name is not valid UTF-8");
  return Guard("creating user", [&]() -> Result<User> {
    return connection_.TransactResult<User>(Durability::kFull, [&]() -> Result<User> {
      Query exists(connection_, "SELECT 1 FROM users WHERE name = ?");
      exists->bind(1, std::string(name));
      if (exists->executeStep()) {
        return Status(ErrorCode::kAlreadyExists, "a user named " + std::string(name) + " exists");
      }
      const int64_t now = connection_.Now();
      Query q(connection_,
              "INSERT INTO users (name, display_name, role, disabled, created_at, updated_at) "
              "VALUES (?, ?, ?, 0, ?, ?)");
      q->bind(1, std::string(name));
      q->bind(2, std::string(display_name));
      q->bind(3, ToString(role));
      q->bind(4, now);
      q->bind(5, now);
      q->exec();
      return LoadUser(connection_, connection_.db().getLastInsertRowid());
    });
  });
}

Result<User> UserRepository::GetUser(int64_t id) {
  return Guard("reading user", [&]() -> Result<User> { return LoadUser(connection_, id); });
}

Result<User> UserRepository::GetUserByName(std::string_view name) {
  return Guard("reading user", [&]() -> Result<User> {
    Query q(connection_, std::string("SELECT ") + kUserColumns + " FROM users WHERE name = ?");
    q->bind(1, std::string(name));
    if (!q->executeStep()) return NotFound("no user named " + std::string(name));
    return ReadUser(*q);
  });
}

Result<std::vector<User>> UserRepository::ListUsers() {
  return Guard("listing users", [&]() -> Result<std::vector<User>> {
    Query q(connection_, std::string("SELECT ") + kUserColumns + " FROM users ORDER BY name");
    std::vector<User> out;
    while (q->executeStep()) out.push_back(ReadUser(*q));
    return out;
  });
}

Result<User> UserRepository::SetRole(int64_t id, Role role) {
  return Guard("changing a user's role", [&]() -> Result<User> {
    return connection_.TransactResult<User>(Durability::kFull, [&]() -> Result<User> {
      Query q(connection_, "UPDATE users SET role = ?, updated_at = ? WHERE id = ?");
      q->bind(1, ToString(role));
      q->bind(2, connection_.Now());
      q->bind(3, id);
      if (q->exec() == 0) return NoSuchUser(id);
      return LoadUser(connection_, id);
    });
  });
}

Result<User> UserRepository::SetDisabled(int64_t id, bool disabled) {
  return Guard("disabling a user", [&]() -> Result<User> {
    return connection_.TransactResult<User>(Durability::kFull, [&]() -> Result<User> {
      Query q(connection_, "UPDATE users SET disabled = ?, updated_at = ? WHERE id = ?");
      q->bind(1, disabled ? 1 : 0);
      q->bind(2, connection_.Now());
      q->bind(3, id);
      if (q->exec() == 0) return NoSuchUser(id);
      return LoadUser(connection_, id);
    });
  });
}

Status UserRepository::DeleteUser(int64_t id) {
  return Guard("deleting user", [&]() -> Status {
    return connection_.Transact(Durability::kFull, [&]() -> Status {
      Query q(connection_, "DELETE FROM users WHERE id = ?");
      q->bind(1, id);
      return q->exec() == 0 ? NoSuchUser(id) : Status::Ok();
    });
  });
}

Result<IssuedToken> UserRepository::IssueToken(int64_t user_id, std::string_view label,
                                               std::optional<int64_t> expires_at_ms,
                                               TokenKind kind) {
  if (!IsValidUtf8(label)) return InvalidArgument("token label is not valid UTF-8");
  return Guard("issuing a token", [&]() -> Result<IssuedToken> {
    return connection_.TransactResult<IssuedToken>(Durability::kFull, [&]() -> Result<IssuedToken> {
      Result<User> user = LoadUser(connection_, user_id);
      if (!user.ok()) return user.status();
      IssuedToken issued;
      issued.secret = std::string(kSecretPrefix) + NewSecret(32);
      const std::string hash = HashSecret(issued.secret);
      const int64_t now = connection_.Now();
      Query q(connection_,
              "INSERT INTO tokens (user_id, hash, label, created_at, expires_at, kind) "
              "VALUES (?, ?, ?, ?, ?, ?)");
      q->bind(1, user_id);
      q->bind(2, hash.data(), static_cast<int>(hash.size()));
      q->bind(3, std::string(label));
      q->bind(4, now);
      internal::BindOptional(*q, 5, expires_at_ms);
      q->bind(6, ToString(kind));
      q->exec();
      issued.token.id = connection_.db().getLastInsertRowid();
      issued.token.user_id = user_id;
      issued.token.label = std::string(label);
      issued.token.created_at_ms = now;
      issued.token.expires_at_ms = expires_at_ms;
      issued.token.kind = kind;
      return issued;
    });
  });
}

Result<Authenticated> UserRepository::Lookup(std::string_view secret) {
  const Status unknown = NotFound("unknown, revoked or expired token");
  if (secret.substr(0, kSecretPrefix.size()) != kSecretPrefix) return unknown;
  return Guard("checking a token", [&]() -> Result<Authenticated> {
    const std::string hash = HashSecret(secret);
    Authenticated found;
    Query q(connection_, std::string("SELECT t.id, t.user_id, t.label, t.created_at, "
                                     "t.expires_at, t.last_used_at, t.revoked_at, t.kind, u.") +
                             "id, u.name, u.display_name, u.role, u.disabled, u.created_at "
                             "FROM tokens AS t JOIN users AS u ON u.id = t.user_id "
                             "WHERE t.hash = ?");
    q->bind(1, hash.data(), static_cast<int>(hash.size()));
    if (!q->executeStep()) return unknown;
    found.token = ReadToken(*q, 0);
    found.user = ReadUser(*q, 8);
    if (found.token.revoked_at_ms ||
        (found.token.expires_at_ms && *found.token.expires_at_ms <= connection_.Now())) {
      return unknown;
    }
    if (found.user.disabled) {
      return FailedPrecondition("user " + found.user.name + " is disabled");
    }
    return found;
  });
}

Status UserRepository::Touch(int64_t token_id) {
  return Guard("stamping a token", [&]() -> Status {
    return connection_.Transact(Durability::kRelaxed, [&]() -> Status {
      Query q(connection_, "UPDATE tokens SET last_used_at = ? WHERE id = ?");
      q->bind(1, connection_.Now());
      q->bind(2, token_id);
      q->exec();
      return Status::Ok();
    });
  });
}

Result<Authenticated> UserRepository::Authenticate(std::string_view secret) {
  Result<Authenticated> found = Lookup(secret);
  if (!found.ok()) return found;
  const int64_t now = connection_.Now();
  if (!found->token.last_used_at_ms ||
      now - *found->token.last_used_at_ms >= kLastUsedResolutionMs) {
    NR_RETURN_IF_ERROR(Touch(found->token.id));
    found->token.last_used_at_ms = now;
  }
  return found;
}

Result<Token> UserRepository::GetToken(int64_t token_id) {
  return Guard("reading a token", [&]() -> Result<Token> {
    Query q(connection_, std::string("SELECT ") + kTokenColumns + " FROM tokens WHERE id = ?");
    q->bind(1, token_id);
    if (!q->executeStep()) return NotFound("no token with id " + std::to_string(token_id));
    return ReadToken(*q);
  });
}

Result<int> UserRepository::RevokeTokensOf(int64_t user_id, std::optional<TokenKind> kind) {
  return Guard("revoking tokens", [&]() -> Result<int> {
    return connection_.TransactResult<int>(Durability::kFull, [&]() -> Result<int> {
      Query q(connection_, std::string("UPDATE tokens SET revoked_at = ? WHERE user_id = ? AND "
                                       "revoked_at IS NULL") +
                               (kind ? " AND kind = ?" : ""));
      q->bind(1, connection_.Now());
      q->bind(2, user_id);
      if (kind) q->bind(3, ToString(*kind));
      return q->exec();
    });
  });
}

Result<int64_t> UserRepository::CountUsers() {
  return Guard("counting users", [&]() -> Result<int64_t> {
    Query q(connection_, "SELECT count(*) FROM users");
    q->executeStep();
    return q->getColumn(0).getInt64();
  });
}

Status UserRepository::SetPasswordHash(int64_t id, std::string_view password_hash) {
  return Guard("setting a password", [&]() -> Status {
    return connection_.Transact(Durability::kFull, [&]() -> Status {
      Query q(connection_, "UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?");
      q->bind(1, std::string(password_hash));
      q->bind(2, connection_.Now());
      q->bind(3, id);
      if (q->exec() == 0) return NoSuchUser(id);
      Query revoke(connection_,
                   "UPDATE tokens SET revoked_at = ? WHERE user_id = ? AND kind = 'session' AND "
                   "revoked_at IS NULL");
      revoke->bind(1, connection_.Now());
      revoke->bind(2, id);
      revoke->exec();
      return Status::Ok();
    });
  });
}

Result<std::string> UserRepository::PasswordHash(int64_t id) {
  return Guard("reading a password", [&]() -> Result<std::string> {
    Query q(connection_, "SELECT password_hash FROM users WHERE id = ?");
    q->bind(1, id);
    if (!q->executeStep()) return NoSuchUser(id);
    return q->getColumn(0).getString();
  });
}

Result<std::vector<Token>> UserRepository::ListTokens(int64_t user_id) {
  return Guard("listing tokens", [&]() -> Result<std::vector<Token>> {
    Result<User> user = LoadUser(connection_, user_id);
    if (!user.ok()) return user.status();
    Query q(connection_,
            std::string("SELECT ") + kTokenColumns + " FROM tokens WHERE user_id = ? ORDER BY id");
    q->bind(1, user_id);
    std::vector<Token> out;
    while (q->executeStep()) out.push_back(ReadToken(*q));
    return out;
  });
}

Status UserRepository::RevokeToken(int64_t token_id) {
  return Guard("revoking a token", [&]() -> Status {
    return connection_.Transact(Durability::kFull, [&]() -> Status {
      Query q(connection_, "UPDATE tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?");
      q->bind(1, connection_.Now());
      q->bind(2, token_id);
      return q->exec() == 0 ? NotFound("no token with id " + std::to_string(token_id))
                            : Status::Ok();
    });
  });
}

}  // namespace newsreel::catalog
