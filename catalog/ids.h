#pragma once
// Identifiers that become folder names and URL path segments.

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace newsreel::catalog {

// A new random id: 16 characters of lower-case base32 ([a-z2-7]), 80 bits from the kernel's
// random source. Safe as a file name and in a URL. Thread-safe.
std::string NewId();

// A random secret of `bytes` bytes, encoded as lower-case base32 without padding. Thread-safe.
std::string NewSecret(size_t bytes);

// OK when `id` is 1..64 characters of [A-Za-z0-9_-] and does not start with '-' (ids are passed
// to worker processes as arguments and become folder names); kInvalidArgument otherwise, with a
// message naming the rule.
Status ValidateId(std::string_view id);

}  // namespace newsreel::catalog
