#pragma once
// The data directory (DESIGN.md "Data directory"): where the catalog, originals and media live.

#include <filesystem>

#include "common/status.h"

namespace newsreel::streaming {

struct DataDir {
  std::filesystem::path root;  // absolute once Prepare has run

  std::filesystem::path catalog() const { return root / "catalog.db"; }
  std::filesystem::path media() const { return root / "media"; }
  std::filesystem::path originals() const { return root / "originals"; }
  std::filesystem::path uploads() const { return root / "uploads"; }
  std::filesystem::path live() const { return root / "live"; }
  std::filesystem::path signing_key() const { return root / "signing-key"; }  // signing_key.h
  // Scratch space: tmp/workers/<worker id>-XXXXXX is a running worker's own folder.
  std::filesystem::path tmp() const { return root / "tmp"; }
};

// Makes `root` absolute and creates it and its folders when missing. kIo naming the folder that
// could not be created.
Result<DataDir> PrepareDataDir(const std::filesystem::path& root);

// fsync(2) of a directory, so that names created or renamed in it survive a crash. kIo naming
// the directory.
Status SyncDirectory(const std::filesystem::path& dir);

}  // namespace newsreel::streaming
