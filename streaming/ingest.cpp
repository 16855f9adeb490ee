#include "streaming/ingest.h"

#include <cctype>
#include <system_error>

#include <nlohmann/json.hpp>

#include "catalog/ids.h"

namespace newsreel::streaming {

namespace fs = std::filesystem;

Result<ImportResult> ImportFile(const DataDir& data, catalog::Catalog& catalog,
                                const ImportRequest& request) {
  std::error_code ec;
  fs::file_status st = fs::status(request.file, ec);
  if (ec || !fs::exists(st)) return NotFound("no such file: " + request.file.string());
  if (!fs::is_regular_file(st))
    return InvalidArgument("not a regular file: " + request.file.string());

  const std::string id = catalog::NewId();
  const fs::path folder = data.originals() / id;
  const std::string name = OriginalFileName(request.file.filename().string());
  fs::create_directories(folder, ec);
  if (ec) return IoError("cannot create " + folder.string() + ": " + ec.message());
  auto cleanup = [&] { fs::remove_all(folder, ec); };
  const fs::path tmp = folder / ("." + name + ".tmp");
  fs::copy_file(request.file, tmp, fs::copy_options::overwrite_existing, ec);
  if (ec) {
    cleanup();
    return IoError("cannot copy " + request.file.string() + ": " + ec.message());
  }
  fs::rename(tmp, folder / name, ec);
  if (ec) {
    cleanup();
    return IoError("cannot rename the copy: " + ec.message());
  }
  for (const fs::path& dir : {folder, data.originals()}) {
    if (Status synced = SyncDirectory(dir); !synced.ok()) {
      cleanup();
      return synced;
    }
  }

  catalog::Video video;
  video.id = id;
  video.title = request.title.empty() ? request.file.stem().string() : request.title;
  video.description = request.description;
  video.reporter = request.reporter;
  video.location = request.location;
  video.tags = request.tags;
  video.visibility = request.visibility;
  video.source.filename = request.file.filename().string();
  video.source.size_bytes = static_cast<int64_t>(fs::file_size(folder / name, ec));
  Result<ImportResult> result = RegisterOriginal(catalog, std::move(video), name);
  if (!result.ok()) cleanup();
  return result;
}

std::vector<std::string> SplitTags(const std::string& s) {
  std::vector<std::string> tags;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    std::string t = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    t.erase(0, t.find_first_not_of(" \t"));
    t.erase(t.find_last_not_of(" \t") + 1);
    if (!t.empty() && tags.size() < 32) tags.emplace_back(Utf8Prefix(t, 64));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return tags;
}

Result<ImportResult> IngestUpload(const DataDir& data, catalog::Catalog& catalog,
                                  const catalog::Upload& u, catalog::Visibility visibility) {
  auto meta = [&](const char* key) {
    auto it = u.metadata.find(key);
    return it == u.metadata.end() ? std::string() : it->second;
  };
  const std::string filename = meta("filename");
  const std::string name = OriginalFileName(filename);
  const fs::path folder = data.originals() / u.id;
  const fs::path from = data.uploads() / u.id, to = folder / name;
  std::error_code ec;
  if (fs::exists(from, ec)) {
    fs::create_directories(folder, ec);
    if (ec) return IoError("cannot create " + folder.string() + ": " + ec.message());
    fs::rename(from, to, ec);
    if (ec) return IoError("cannot move the upload into " + folder.string() + ": " + ec.message());
    for (const fs::path& dir : {folder, data.originals(), data.uploads()})
      NR_RETURN_IF_ERROR(SyncDirectory(dir));
  } else if (!fs::exists(to, ec)) {
    return NotFound("the data of upload " + u.id + " is missing");
  }
  catalog::Video video;
  video.id = u.id;
  video.title = meta("title");
  if (video.title.empty()) video.title = fs::path(filename).stem().string();
  if (video.title.empty()) video.title = "Upload " + u.id;
  video.description = meta("description");
  video.tags = SplitTags(meta("tags"));
  video.location = meta("location");
  video.reporter = u.reporter;
  video.owner_id = u.owner_id;
  video.visibility = visibility;
  video.source.filename = filename;
  video.source.size_bytes = u.length.value_or(u.offset);
  return RegisterOriginal(catalog, std::move(video), name);
}

std::string_view Utf8Prefix(std::string_view utf8, size_t max_bytes) {
  if (utf8.size() <= max_bytes) return utf8;
  size_t cut = max_bytes;
  // A continuation byte (10xxxxxx) at the cut means a character starts before it: keep none of it.
  while (cut > 0 && (static_cast<unsigned char>(utf8[cut]) & 0xc0) == 0x80) --cut;
  return utf8.substr(0, cut);
}

std::string OriginalFileName(const std::string& reporter_file_name) {
  // A tame extension; the reporter's file name is kept only as metadata.
  std::string ext;
  for (char c : fs::path(reporter_file_name).extension().string())
    if (std::isalnum(static_cast<unsigned char>(c)) && ext.size() < 8)
      ext += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return "source" + (ext.empty() ? std::string() : "." + ext);
}

Result<ImportResult> RegisterOriginal(catalog::Catalog& catalog, catalog::Video video,
                                      const std::string& name) {
  const std::string id = video.id;
  ImportResult result;
  Status s = catalog.RunInTransaction([&]() -> Status {
    auto created = catalog.videos().Create(video);
    if (!created.ok()) return created.status();
    catalog::JobSpec spec;
    spec.video_id = id;
    spec.payload = nlohmann::json{{"input", "originals/" + id + "/" + name}}.dump();
    auto job = catalog.jobs().Enqueue(spec);
    if (!job.ok()) return job.status();
    result.job = *job;
    return Status::Ok();
  });
  if (!s.ok()) return s;
  auto stored = catalog.videos().Get(id);
  if (!stored.ok()) return stored.status();
  result.video = *stored;
  return result;
}

}  // namespace newsreel::streaming
