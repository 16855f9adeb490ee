#pragma once
// Adding a file that is already on the server machine: `newsreel import`. Safe to run while
// `newsreel serve` runs on the same data directory: the server's supervisor claims the new job
// from the shared catalog within its poll interval.

#include <filesystem>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "common/status.h"
#include "streaming/data_dir.h"

namespace newsreel::streaming {

struct ImportRequest {
  std::filesystem::path file;
  std::string title;  // defaults to the file's name without extension
  std::string description;
  std::string reporter;
  std::string location;
  std::vector<std::string> tags;
  catalog::Visibility visibility = catalog::Visibility::kPublished;
};

struct ImportResult {
  catalog::Video video;
  catalog::Job job;
};

// A tame file name for a kept original: "source" plus the lower-cased alphanumeric extension of
// `reporter_file_name` (at most 8 characters; none when it has none).
std::string OriginalFileName(const std::string& reporter_file_name);

// Creates `video` (its id set) and its transcode job, reading data/originals/<id>/<name>, in
// one transaction. The file must already be in place. Returns what was stored.
Result<ImportResult> RegisterOriginal(catalog::Catalog& catalog, catalog::Video video,
                                      const std::string& name);

// Copies `request.file` to data/originals/<id>/source.<ext> (atomically: temporary name, then
// rename), then creates the video and its transcode job in one transaction. kNotFound when the
// file is missing, kInvalidArgument when it is not a regular readable file; on any failure
// nothing is left behind.
Result<ImportResult> ImportFile(const DataDir& data, catalog::Catalog& catalog,
                                const ImportRequest& request);

}  // namespace newsreel::streaming
