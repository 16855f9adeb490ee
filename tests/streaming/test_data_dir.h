#pragma once
// For the streaming tests: a fresh data directory (as `newsreel serve` prepares it) under the
// system's temporary folder, removed with everything in it on destruction.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>

#include "streaming/data_dir.h"

namespace newsreel::streaming::testing {

class TempDataDir {
 public:
  explicit TempDataDir(const std::string& tag) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / ("nr_" + tag + "_XXXXXX")).string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    auto data = PrepareDataDir(pattern);
    if (!data.ok()) throw std::runtime_error(data.status().ToString());
    data_ = *data;
  }
  ~TempDataDir() {
    std::error_code ignored;
    std::filesystem::remove_all(data_.root, ignored);
  }
  TempDataDir(const TempDataDir&) = delete;
  TempDataDir& operator=(const TempDataDir&) = delete;

  const DataDir& data() const { return data_; }
  const std::filesystem::path& root() const { return data_.root; }

 private:
  DataDir data_;
};

}  // namespace newsreel::streaming::testing
