#pragma once
// Signing in: who a request comes from (a Bearer token or a session cookie), and the brakes on
// guessing passwords. The policy of what a caller may do is authorize.h's.
//
// Threading: one Authenticator and one LoginThrottle per server, shared by every service and
// pool thread (each has its own mutex). Identify reads the catalog through the calling thread's
// own Catalog and never writes: stamping a token's last use is returned to the caller, which
// posts it to the work pool.

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "catalog/user_repository.h"
#include "common/status.h"
#include "streaming/request_context.h"

namespace newsreel::streaming {

inline constexpr char kSessionCookie[] = "newsreel_session";
inline constexpr std::chrono::hours kSessionLifetime{24 * 14};

// The value of cookie `name` in a Cookie header ("" when absent).
std::string CookieValue(std::string_view cookie_header, std::string_view name);
// Set-Cookie values: a session for `secret`, or one that makes the browser forget it.
std::string SessionCookie(std::string_view secret, bool secure);
std::string ClearedSessionCookie(bool secure);

struct Identity {
  Caller caller;
  std::optional<int64_t> touch_token;  // stamp this token's last use (on the pool)
};

class Authenticator {
 public:
  // A token looked up is trusted for `ttl` before it is read again: a token revoked from
  // another process (`newsreel token revoke`) stops working within that time; one revoked
  // through this server's API at once (Forget*).
  explicit Authenticator(std::chrono::milliseconds ttl = std::chrono::seconds(5)) : ttl_(ttl) {}

  // The caller of a request, from its Authorization and Cookie headers:
  // - `Authorization: Bearer <token>`: that token's user, or kUnauthenticated (401) when the
  //   token is unknown, revoked, expired or its user disabled (kNotFound); another scheme is
  //   kInvalidArgument. Both mean 401; other codes are the catalog failing (503/500);
  // - else a session cookie: its user; a stale one (signed out, expired, a disabled account)
  //   leaves the caller anonymous, as if there were none;
  // - else anonymous.
  Result<Identity> Identify(catalog::UserRepository& users, std::string_view authorization,
                            std::string_view cookie_header, std::string address);

  void ForgetToken(int64_t token_id);
  void ForgetUser(int64_t user_id);

 private:
  struct Entry {
    catalog::Authenticated found;
    std::chrono::steady_clock::time_point fetched;
  };
  Result<catalog::Authenticated> Find(catalog::UserRepository& users, std::string_view secret);

  const std::chrono::milliseconds ttl_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> cache_;  // by SHA-256 of the secret; guarded by mu_
};

// Failed sign-ins are limited per account and per address: at most `per_account` (and
// `per_address`) failures in any `window`; beyond that every try is refused, whatever the
// password, until the oldest failure leaves the window. A success clears its account's count.
class LoginThrottle {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  LoginThrottle(int per_account = 5, int per_address = 20,
                std::chrono::seconds window = std::chrono::minutes(15), Clock clock = {});

  // Seconds before the next try is allowed; 0 when it is allowed now.
  int64_t RetryAfterSeconds(std::string_view account, std::string_view address);
  void Failed(std::string_view account, std::string_view address);
  void Succeeded(std::string_view account);

 private:
  using Failures = std::deque<std::chrono::steady_clock::time_point>;
  int64_t WaitFor(std::map<std::string, Failures>& table, const std::string& key, int limit,
                  std::chrono::steady_clock::time_point now);
  void Record(std::map<std::string, Failures>& table, const std::string& key,
              std::chrono::steady_clock::time_point now);

  const int per_account_, per_address_;
  const std::chrono::seconds window_;
  const Clock clock_;
  std::mutex mu_;
  std::map<std::string, Failures> by_account_;  // guarded by mu_; keys folded to lower case
  std::map<std::string, Failures> by_address_;  // guarded by mu_
};

// The accounts machinery a server shares between its threads.
struct AccountServices {
  Authenticator authenticator;
  LoginThrottle throttle;
  bool secure_cookies = false;           // served over TLS: cookies get `Secure`
  std::filesystem::path admin_password;  // data/admin-password, removed once admin changes it
};

}  // namespace newsreel::streaming
