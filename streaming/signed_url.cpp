#include "streaming/signed_url.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "catalog/ids.h"

namespace newsreel::streaming {

namespace {

constexpr std::string_view kDomain = "newsreel-url-v1";
constexpr size_t kMacBytes = 32;
constexpr size_t kMaxExpiryDigits = 18;  // any 18 digits fit in an int64_t
constexpr int64_t kExpiryRounding = 300;

std::string MediaScope(std::string_view video_id) {
  std::string scope = "/media/";
  scope += video_id;
  scope += '/';
  return scope;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case is not the canonical form: refused
}

// "s.<expires>.<hex>" (after the '~'): the mode, the expiry and the MAC, or nullopt.
struct Token {
  char mode = 's';
  int64_t expires_at_s = 0;
  std::array<unsigned char, kMacBytes> mac{};
};

std::optional<Token> ParseToken(std::string_view t) {
  Token token;
  if (t.size() < 2 || (t[0] != 's' && t[0] != 'a') || t[1] != '.') return std::nullopt;
  token.mode = t[0];
  t.remove_prefix(2);
  const size_t dot = t.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  std::string_view digits = t.substr(0, dot), hex = t.substr(dot + 1);
  if (digits.empty() || digits.size() > kMaxExpiryDigits) return std::nullopt;
  if (digits.size() > 1 && digits[0] == '0') return std::nullopt;
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  auto [end, ec] =
      std::from_chars(digits.data(), digits.data() + digits.size(), token.expires_at_s);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  if (hex.size() != 2 * kMacBytes) return std::nullopt;
  for (size_t i = 0; i < kMacBytes; ++i) {
    int hi = HexValue(hex[2 * i]), lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    token.mac[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return token;
}

}  // namespace

const char* ToString(SignatureVerdict verdict) {
  switch (verdict) {
    case SignatureVerdict::kUnsigned:
      return "unsigned";
    case SignatureVerdict::kMalformed:
      return "malformed";
    case SignatureVerdict::kForged:
      return "forged";
    case SignatureVerdict::kExpired:
      return "expired";
    case SignatureVerdict::kValid:
      return "valid";
  }
  return "?";
}

std::array<unsigned char, 32> UrlSigner::Mac(std::string_view scope, char mode,
                                             int64_t expires_at_s, std::string_view address) const {
  std::string message(kDomain);
  message += '\n';
  message += scope;
  message += '\n';
  message += mode;
  message += '\n';
  message += std::to_string(expires_at_s);
  message += '\n';
  message += address;
  std::array<unsigned char, kMacBytes> mac{};
  unsigned int length = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac.data(), &length);
  return mac;
}

std::string UrlSigner::MediaPrefix(std::string_view video_id, int64_t expires_at_s,
                                   std::optional<std::string_view> address) const {
  const std::string scope = MediaScope(video_id);
  const char mode = address ? 'a' : 's';
  const auto mac = Mac(scope, mode, expires_at_s, address.value_or(""));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string prefix = scope;
  prefix += '~';
  prefix += mode;
  prefix += '.';
  prefix += std::to_string(expires_at_s);
  prefix += '.';
  for (unsigned char b : mac) {
    prefix += kHex[b >> 4];
    prefix += kHex[b & 0xf];
  }
  prefix += '/';
  return prefix;
}

SignedMediaCheck UrlSigner::CheckMediaPath(std::string_view rest, int64_t now_s,
                                           std::string_view client_address) const {
  SignedMediaCheck check;
  // "<id>/~<token>/<file>...": anything else is an ordinary path, left to ParseMediaPath.
  const size_t first = rest.find('/');
  if (first == std::string_view::npos || first + 1 >= rest.size() || rest[first + 1] != '~') {
    check.unsigned_rest = std::string(rest);
    return check;
  }
  const std::string_view video_id = rest.substr(0, first);
  const size_t second = rest.find('/', first + 1);
  const std::string_view token_text = rest.substr(
      first + 2, second == std::string_view::npos ? std::string_view::npos : second - first - 2);
  check.unsigned_rest = std::string(video_id);
  if (second != std::string_view::npos) check.unsigned_rest += rest.substr(second);
  std::optional<Token> token = ParseToken(token_text);
  if (!token || !catalog::ValidateId(video_id).ok()) {
    check.verdict = SignatureVerdict::kMalformed;
    return check;
  }
  // A client whose address is unknown cannot match a URL bound to one.
  if (token->mode == 'a' && client_address.empty()) {
    check.verdict = SignatureVerdict::kForged;
    return check;
  }
  const std::string_view address = token->mode == 'a' ? client_address : std::string_view();
  const auto expected = Mac(MediaScope(video_id), token->mode, token->expires_at_s, address);
  if (CRYPTO_memcmp(expected.data(), token->mac.data(), kMacBytes) != 0) {
    check.verdict = SignatureVerdict::kForged;
    return check;
  }
  check.expires_at_s = token->expires_at_s;
  check.verdict =
      now_s > token->expires_at_s ? SignatureVerdict::kExpired : SignatureVerdict::kValid;
  return check;
}

int64_t PlaybackExpiry(int64_t now_s, int64_t ttl_s) {
  const int64_t at = now_s + ttl_s;
  return (at + kExpiryRounding - 1) / kExpiryRounding * kExpiryRounding;
}

std::optional<std::string> CanonicalAddress(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  const std::string s(text);
  char out[INET6_ADDRSTRLEN];
  in_addr v4;
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    if (!inet_ntop(AF_INET, &v4, out, sizeof out)) return std::nullopt;
    return std::string(out);
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, s.c_str(), &v6) != 1) return std::nullopt;
  if (IN6_IS_ADDR_V4MAPPED(&v6)) {
    std::memcpy(&v4, &v6.s6_addr[12], 4);
    if (!inet_ntop(AF_INET, &v4, out, sizeof out)) return std::nullopt;
    return std::string(out);
  }
  if (!inet_ntop(AF_INET6, &v6, out, sizeof out)) return std::nullopt;
  return std::string(out);
}

std::string SignedCacheControl(std::string_view public_value, int64_t seconds_left) {
  int64_t max_age = 0;
  const size_t at = public_value.find("max-age=");
  if (at != std::string_view::npos) {
    std::string_view digits = public_value.substr(at + 8);
    std::from_chars(digits.data(), digits.data() + digits.size(), max_age);
  }
  return "private, max-age=" +
         std::to_string(std::max<int64_t>(0, std::min(max_age, seconds_left)));
}

}  // namespace newsreel::streaming
