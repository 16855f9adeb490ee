#pragma once
// Helpers shared by the transcoder tests: temporary folders and the shared media.

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace newsreel::transcoder::testing {

inline std::string Media(const std::string& name) {
  return std::string(NEWSREEL_MEDIA_DIR) + "/" + name;
}

// A fresh folder under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("newsreel-test-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

}  // namespace newsreel::transcoder::testing
