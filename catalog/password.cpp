#include "catalog/password.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <charconv>
#include <vector>

#include "catalog/ids.h"
#include "catalog/vietnamese_fold.h"

namespace newsreel::catalog {
namespace {

constexpr int kLogRounds = 15;  // N = 2^15
constexpr int kBlockSize = 8;   // r
constexpr int kParallel = 1;    // p
constexpr size_t kSaltBytes = 16;
constexpr size_t kHashBytes = 32;
// The largest memory a stored hash may ask for (ln=20, r=8: 1 GiB would be a denial of
// service from a tampered row); the parameters we write need 32 MiB.
constexpr uint64_t kMaxMemoryBytes = 256ull << 20;

std::string Base64(const unsigned char* data, size_t size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(static_cast<size_t>(n));
  return out;
}

bool Unbase64(std::string_view text, std::vector<unsigned char>* out) {
  if (text.empty() || text.size() % 4 != 0 || text.size() > 1024) return false;
  out->assign(text.size() / 4 * 3 + 1, 0);
  const int n = EVP_DecodeBlock(out->data(), reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return false;
  size_t size = static_cast<size_t>(n);
  if (text.back() == '=') --size;
  if (text.size() > 1 && text[text.size() - 2] == '=') --size;
  out->resize(size);
  return true;
}

struct Params {
  int log_rounds = kLogRounds;
  int block_size = kBlockSize;
  int parallel = kParallel;
  std::vector<unsigned char> salt, hash;
};

bool ParseInt(std::string_view text, int* value) {
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return ec == std::errc() && p == text.data() + text.size();
}

// "$scrypt$ln=15,r=8,p=1$salt$hash"
bool Parse(std::string_view stored, Params* params) {
  constexpr std::string_view kPrefix = "$scrypt$";
  if (stored.substr(0, kPrefix.size()) != kPrefix) return false;
  stored.remove_prefix(kPrefix.size());
  const size_t a = stored.find('$');
  if (a == std::string_view::npos) return false;
  const size_t b = stored.find('$', a + 1);
  if (b == std::string_view::npos) return false;
  std::string_view settings = stored.substr(0, a);
  for (std::string_view field :
       {std::string_view("ln="), std::string_view(",r="), std::string_view(",p=")}) {
    if (settings.substr(0, field.size()) != field) return false;
    settings.remove_prefix(field.size());
    const size_t end = std::min(settings.find(','), settings.size());
    int* target = field == "ln="   ? &params->log_rounds
                  : field == ",r=" ? &params->block_size
                                   : &params->parallel;
    if (!ParseInt(settings.substr(0, end), target)) return false;
    settings.remove_prefix(end);
  }
  if (!settings.empty()) return false;
  if (params->log_rounds < 1 || params->log_rounds > 20 || params->block_size < 1 ||
      params->block_size > 32 || params->parallel < 1 || params->parallel > 4) {
    return false;
  }
  const uint64_t memory = 128ull * static_cast<uint64_t>(params->block_size) << params->log_rounds;
  if (memory > kMaxMemoryBytes) return false;
  return Unbase64(stored.substr(a + 1, b - a - 1), &params->salt) &&
         Unbase64(stored.substr(b + 1), &params->hash) && params->hash.size() == kHashBytes &&
         !params->salt.empty();
}

bool Derive(std::string_view password, const Params& p, unsigned char* out) {
  return EVP_PBE_scrypt(password.data(), password.size(), p.salt.data(), p.salt.size(),
                        uint64_t{1} << p.log_rounds, static_cast<uint64_t>(p.block_size),
                        static_cast<uint64_t>(p.parallel), kMaxMemoryBytes + (1 << 20), out,
                        kHashBytes) == 1;
}

}  // namespace

Status CheckNewPassword(std::string_view password) {
  if (password.size() < kMinPasswordBytes)
    return InvalidArgument("a password needs at least " + std::to_string(kMinPasswordBytes) +
                           " characters");
  if (password.size() > kMaxPasswordBytes)
    return InvalidArgument("a password may have at most " + std::to_string(kMaxPasswordBytes) +
                           " bytes");
  if (!IsValidUtf8(password)) return InvalidArgument("a password must be UTF-8 text");
  return Status::Ok();
}

Result<std::string> HashPassword(std::string_view password) {
  Params p;
  p.salt.resize(kSaltBytes);
  if (RAND_bytes(p.salt.data(), static_cast<int>(p.salt.size())) != 1)
    return Status(ErrorCode::kInternal, "no random bytes for a salt");
  unsigned char hash[kHashBytes];
  if (!Derive(password, p, hash)) return Status(ErrorCode::kInternal, "scrypt failed");
  return "$scrypt$ln=" + std::to_string(p.log_rounds) + ",r=" + std::to_string(p.block_size) +
         ",p=" + std::to_string(p.parallel) + "$" + Base64(p.salt.data(), p.salt.size()) + "$" +
         Base64(hash, kHashBytes);
}

bool VerifyPassword(std::string_view password, std::string_view stored) {
  Params p;
  const bool parsed = Parse(stored, &p);
  if (!parsed) {
    // The same work as a real check, against a salt nobody has.
    p = Params{};
    p.salt.assign(kSaltBytes, 0);
  }
  unsigned char hash[kHashBytes];
  if (!Derive(password.substr(0, kMaxPasswordBytes), p, hash)) return false;
  return parsed && CRYPTO_memcmp(hash, p.hash.data(), kHashBytes) == 0;
}

std::string RandomPassword() { return NewSecret(13).substr(0, 20); }

}  // namespace newsreel::catalog
