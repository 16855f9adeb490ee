// Writing a file that readers (players, the server, a later run) may open at any moment.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string_view>

#include "common/status.h"

namespace newsreel::transcoder {

// Writes `size` bytes at `data` to `path` through a hidden temporary file in the same folder
// (".<name>.tmp", which the server never serves) and a rename, so that a reader sees the old
// file or the new one, never a part of either.
Status WriteFileAtomically(const std::filesystem::path& path, const void* data, size_t size);

inline Status WriteFileAtomically(const std::filesystem::path& path, std::string_view bytes) {
  return WriteFileAtomically(path, bytes.data(), bytes.size());
}

}  // namespace newsreel::transcoder
