#pragma once
// Passwords: stored as scrypt hashes (OpenSSL's EVP_PBE_scrypt), checked in constant time.
//
// Stored form: "$scrypt$ln=15,r=8,p=1$<salt, base64>$<hash, base64>": 2^15 rounds of 8 blocks
// (32 MiB and about 0.1 s per check on one core), a 16-byte salt and a 32-byte hash. The
// parameters live in the string, so raising them later leaves old hashes readable.
// Checking takes the same time whether or not the account exists (see VerifyPassword).

#include <string>
#include <string_view>

#include "common/status.h"

namespace newsreel::catalog {

// Limits on a new password: at least 10 characters (bytes of UTF-8), at most 1024.
inline constexpr size_t kMinPasswordBytes = 10;
inline constexpr size_t kMaxPasswordBytes = 1024;

// kInvalidArgument with a reason a person can act on when `password` may not be set.
Status CheckNewPassword(std::string_view password);

// A new stored hash of `password`. kInternal when OpenSSL fails (out of memory).
Result<std::string> HashPassword(std::string_view password);

// Whether `password` matches `stored`. An empty or malformed `stored` (an account without a
// password) never matches, but still costs one scrypt run, so that the answer's timing does
// not say whether the account exists.
bool VerifyPassword(std::string_view password, std::string_view stored);

// A random password for a new account or a reset: 20 characters of lower-case base32
// (100 bits), easy to type from a printout.
std::string RandomPassword();

}  // namespace newsreel::catalog
