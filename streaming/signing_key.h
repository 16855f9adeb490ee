#pragma once
// The key of signed media URLs (signed_url.h): 32 random bytes in data/signing-key, readable by
// the server's user only. Made on first use (the server's first start, or `newsreel sign`),
// then read as it is at every start: URLs handed out before a restart keep working. Removing the
// file (and restarting) makes a new key, which invalidates every signed URL handed out.

#include <filesystem>

#include "common/status.h"
#include "streaming/signed_url.h"

namespace newsreel::streaming {

// Reads the key at `file`, or makes one there when there is no such file. Two processes that
// make it at once agree on one key: the file appears whole (a temporary name, fsync, then a
// hard link that fails when the name exists) and is never replaced. Refused with a message an
// operator can act on: a file that is not a regular file (a symlink is not followed), that is
// not exactly 32 bytes, or that others than its owner may read or write.
Result<SigningKey> LoadOrCreateSigningKey(const std::filesystem::path& file);

}  // namespace newsreel::streaming
