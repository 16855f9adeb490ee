#include "streaming/internal/accounts.h"

#include <algorithm>

#include "streaming/internal/http_util.h"

namespace newsreel::streaming {
namespace {

constexpr size_t kMaxCachedTokens = 10'000;
constexpr size_t kMaxThrottleKeys = 100'000;
constexpr int64_t kTouchEveryMs = 60'000;

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

std::string CookieValue(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const size_t semi = std::min(header.find(';'), header.size());
    std::string_view pair = TrimOws(header.substr(0, semi));
    header.remove_prefix(std::min(semi + 1, header.size()));
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos && TrimOws(pair.substr(0, eq)) == name)
      return std::string(TrimOws(pair.substr(eq + 1)));
  }
  return {};
}

std::string SessionCookie(std::string_view secret, bool secure) {
  return std::string(kSessionCookie) + "=" + std::string(secret) +
         "; Path=/; Max-Age=" + std::to_string(kSessionLifetime.count() * 3600) +
         "; HttpOnly; SameSite=Lax" + (secure ? "; Secure" : "");
}

std::string ClearedSessionCookie(bool secure) {
  return std::string(kSessionCookie) + "=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax" +
         (secure ? "; Secure" : "");
}

Result<catalog::Authenticated> Authenticator::Find(catalog::UserRepository& users,
                                                   std::string_view secret) {
  const std::string key = catalog::UserRepository::HashSecret(secret);
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end() && now - it->second.fetched < ttl_) {
      // The cached answer still honours expiry to the millisecond.
      const auto& expires = it->second.found.token.expires_at_ms;
      if (!expires || *expires > catalog::SystemNowMs()) return it->second.found;
    }
  }
  Result<catalog::Authenticated> found = users.Lookup(secret);
  std::lock_guard lock(mu_);
  if (!found.ok()) {
    cache_.erase(key);
    return found;
  }
  if (cache_.size() >= kMaxCachedTokens) cache_.clear();
  cache_[key] = Entry{*found, now};
  return found;
}

Result<Identity> Authenticator::Identify(catalog::UserRepository& users,
                                         std::string_view authorization,
                                         std::string_view cookie_header, std::string address) {
  Identity id;
  id.caller.address = std::move(address);
  std::string secret;
  if (!authorization.empty()) {
    constexpr std::string_view kBearer = "bearer ";
    if (authorization.size() <= kBearer.size() ||
        !EqualsIgnoreCase(authorization.substr(0, kBearer.size()), kBearer)) {
      return Status(ErrorCode::kInvalidArgument,
                    "the Authorization header must be `Bearer <token>`");
    }
    secret = std::string(TrimOws(authorization.substr(kBearer.size())));
  } else {
    secret = CookieValue(cookie_header, kSessionCookie);
    if (secret.empty()) return id;
    id.caller.via_cookie = true;
  }
  Result<catalog::Authenticated> found = Find(users, secret);
  const bool wrong_kind =
      found.ok() && (found->token.kind == catalog::TokenKind::kSession) != id.caller.via_cookie;
  if (!found.ok() || wrong_kind) {
    if (id.caller.via_cookie && (wrong_kind || found.status().code() == ErrorCode::kNotFound ||
                                 found.status().code() == ErrorCode::kFailedPrecondition)) {
      id.caller.via_cookie = false;
      return id;
    }
    if (!found.ok() && found.status().code() != ErrorCode::kNotFound &&
        found.status().code() != ErrorCode::kFailedPrecondition) {
      return found.status();  // the catalog failed: not the caller's fault
    }
    return Status(ErrorCode::kNotFound, wrong_kind ? "a session cannot be used as an API token"
                                                   : "unknown, revoked or expired token, or "
                                                     "a disabled account");
  }
  id.caller.anonymous = false;
  id.caller.user = found->user;
  id.caller.role = found->user.role;
  id.caller.token_id = found->token.id;
  if (!found->token.last_used_at_ms ||
      catalog::SystemNowMs() - *found->token.last_used_at_ms >= kTouchEveryMs) {
    id.touch_token = found->token.id;
  }
  return id;
}

void Authenticator::ForgetToken(int64_t token_id) {
  std::lock_guard lock(mu_);
  std::erase_if(cache_, [&](const auto& e) { return e.second.found.token.id == token_id; });
}

void Authenticator::ForgetUser(int64_t user_id) {
  std::lock_guard lock(mu_);
  std::erase_if(cache_, [&](const auto& e) { return e.second.found.user.id == user_id; });
}

LoginThrottle::LoginThrottle(int per_account, int per_address, std::chrono::seconds window,
                             Clock clock)
    : per_account_(per_account),
      per_address_(per_address),
      window_(window),
      clock_(clock ? std::move(clock) : Clock([] { return std::chrono::steady_clock::now(); })) {}

int64_t LoginThrottle::WaitFor(std::map<std::string, Failures>& table, const std::string& key,
                               int limit, std::chrono::steady_clock::time_point now) {
  auto it = table.find(key);
  if (it == table.end()) return 0;
  Failures& f = it->second;
  while (!f.empty() && now - f.front() >= window_) f.pop_front();
  if (f.empty()) {
    table.erase(it);
    return 0;
  }
  if (static_cast<int>(f.size()) < limit) return 0;
  const auto free_at = f[f.size() - static_cast<size_t>(limit)] + window_;
  return std::max<int64_t>(1, std::chrono::ceil<std::chrono::seconds>(free_at - now).count());
}

void LoginThrottle::Record(std::map<std::string, Failures>& table, const std::string& key,
                           std::chrono::steady_clock::time_point now) {
  if (table.size() >= kMaxThrottleKeys) {
    std::erase_if(table, [&](const auto& e) { return now - e.second.back() >= window_; });
    // Still full: an attack from many addresses. Keep the newest picture rather than grow.
    if (table.size() >= kMaxThrottleKeys) table.clear();
  }
  Failures& f = table[key];
  f.push_back(now);
  // Only the last `limit` failures matter; keep a few more at most.
  while (f.size() > 64) f.pop_front();
}

int64_t LoginThrottle::RetryAfterSeconds(std::string_view account, std::string_view address) {
  std::lock_guard lock(mu_);
  const auto now = clock_();
  return std::max(WaitFor(by_account_, Lower(account), per_account_, now),
                  WaitFor(by_address_, std::string(address), per_address_, now));
}

void LoginThrottle::Failed(std::string_view account, std::string_view address) {
  std::lock_guard lock(mu_);
  const auto now = clock_();
  Record(by_account_, Lower(account), now);
  Record(by_address_, std::string(address), now);
}

void LoginThrottle::Succeeded(std::string_view account) {
  std::lock_guard lock(mu_);
  by_account_.erase(Lower(account));
}

}  // namespace newsreel::streaming
