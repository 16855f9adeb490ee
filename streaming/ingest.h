#pragma once
// Ingest: how a reporter's file becomes an original, a video and its transcode job, in one
// place for both ways in: a finished tus upload (IngestUpload, on the server) and a file already
// on the server machine (ImportFile, `newsreel import`, safe while `newsreel serve` runs on the
// same data directory: the supervisor claims the new job from the shared catalog).
//
// Either way: the original is placed in data/originals/<id>/source.<ext> by a rename, the names
// are made durable (directory fsyncs), then the video and its job are created in one
// transaction (RegisterOriginal). A crash in between leaves an original without a video, which
// the upload sweep finishes (uploads) or nothing references (imports, whose command failed).

#include <filesystem>
#include <string>
#include <string_view>
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

// A finished upload (its bytes in data/uploads/<id>) becomes original + video (same id) + job.
// Title, description, tags ("a, b"), location and the file name come from its Upload-Metadata;
// the reporter is the upload's. Idempotent for the file: when it was moved before (a crash
// before the video was made), the original in place is used. kNotFound when neither exists.
Result<ImportResult> IngestUpload(const DataDir& data, catalog::Catalog& catalog,
                                  const catalog::Upload& upload, catalog::Visibility visibility);

// Tags from "a, b,c": trimmed, empty ones dropped, at most 32 of at most 64 bytes each (cut
// between characters).
std::vector<std::string> SplitTags(const std::string& s);

// The longest start of `utf8` of at most `max_bytes` bytes that does not end inside a
// character: what a cut to a byte limit keeps of UTF-8 text.
std::string_view Utf8Prefix(std::string_view utf8, size_t max_bytes);

}  // namespace newsreel::streaming
