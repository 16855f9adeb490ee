#pragma once
// What the harnesses share: a broken invariant reported as a libFuzzer finding (the message on
// stderr, then abort, which libFuzzer records as a crash with the input that caused it), and a
// scratch folder that lives as long as the process.

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace newsreel::fuzz {

[[noreturn]] inline void Fail(const char* condition, const char* file, int line,
                              const std::string& detail) {
  std::fprintf(stderr, "\n==== invariant broken: %s\n     at %s:%d\n     %s\n", condition, file,
               line, detail.c_str());
  std::fflush(stderr);
  std::abort();
}

// The input as printable text for a message (bytes outside ASCII graphics as \xNN).
inline std::string Printable(std::string_view bytes, size_t max = 300) {
  std::string out;
  for (size_t i = 0; i < bytes.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\x%02x", c);
      out += esc;
    }
  }
  if (bytes.size() > max) out += "...";
  return out;
}

// A folder created at construction and removed with everything in it at destruction. Under
// /dev/shm when there is one: several harnesses write and fsync files on every input, which
// costs nothing on tmpfs and milliseconds on a disk. An interrupted run leaves nr_fuzz_*
// folders behind there.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag) {
    std::error_code ec;
    std::filesystem::path base = "/dev/shm";
    if (!std::filesystem::is_directory(base, ec) || access(base.c_str(), W_OK) != 0)
      base = std::filesystem::temp_directory_path();
    std::string pattern = (base / ("nr_fuzz_" + tag + "_XXXXXX")).string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp " + pattern);
    path_ = std::filesystem::canonical(pattern);
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace newsreel::fuzz

// FUZZ_CHECK(condition, detail): `detail` (a std::string expression) is evaluated only when the
// condition fails.
#define FUZZ_CHECK(condition, detail)                                                   \
  do {                                                                                  \
    if (!(condition)) ::newsreel::fuzz::Fail(#condition, __FILE__, __LINE__, (detail)); \
  } while (0)
