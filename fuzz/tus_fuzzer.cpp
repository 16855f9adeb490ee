// The tus headers (streaming/tus.h, streaming/internal/tus_framing.h): whole upload operations,
// framed and handled as the service thread does it, on a real catalog and data folder, with
// arbitrary Tus-Resumable, Upload-Offset, Upload-Length, Upload-Defer-Length, Upload-Metadata,
// Upload-Checksum, Content-Type, Content-Length, X-HTTP-Method-Override and Expect values.
//
// Input (FuzzedDataProvider): up to 8 requests. Each picks a method, a caller, a target (one of
// the uploads created so far, or any text), and for every header: absent, a plausible value (the
// upload's real offset, metadata this harness encodes, the body's real checksum) or fuzzed
// bytes; then a body, the size of the pieces it arrives in, and whether the connection drops.
// Every input starts from an empty catalog and data folder.
//
// Invariants:
//   - No exception, no 5xx: the catalog and the folder are healthy, so every refusal is the
//     client's (4xx); every answer carries Tus-Resumable: 1.0.0, header values without CR or LF,
//     and a JSON body when it has one.
//   - 412 exactly when a non-OPTIONS request lacks Tus-Resumable: 1.0.0.
//   - The stored upload follows what was acknowledged: after a 204 (or a 201 with data) its offset
//     moved by exactly the body's length, after a refusal it did not move, after a dropped
//     connection it moved by at most what arrived; the stored bytes are the bytes sent, in order;
//     HEAD reports the stored offset and length; the offset never passes the length.
//   - A finished upload becomes a video with the same bytes as its original.
//   - Upload-Metadata: what parses formats and parses back to the same map; HEAD gives back
//     what was stored.
//   - A refused creation leaves no upload behind that the client was not told about.

#include <openssl/evp.h>

#include <fuzzer/FuzzedDataProvider.h>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "catalog/ids.h"
#include "fuzz/fuzz_util.h"
#include "streaming/data_dir.h"
#include "streaming/events.h"
#include "streaming/internal/http_util.h"
#include "streaming/internal/tus_framing.h"
#include "streaming/tus.h"

namespace newsreel::streaming {
namespace {

namespace fs = std::filesystem;
using fuzz::Printable;

constexpr int64_t kMaxSize = 4096;
constexpr int64_t kQuota = 8192;

struct Env {
  fuzz::ScratchDir dir{"tus"};
  DataDir data;
  std::unique_ptr<catalog::Catalog> catalog;
  EventBus events;
  UploadLocks locks;
  TusOptions options;
  std::unique_ptr<TusHandler> tus;
  std::vector<Caller> reporters;  // fuzz-a, fuzz-b

  Env() {
    auto prepared = PrepareDataDir(dir.path() / "data");
    if (!prepared.ok())
      fuzz::Fail("PrepareDataDir", __FILE__, __LINE__, prepared.status().ToString());
    data = *prepared;
    auto opened = catalog::Catalog::Open(data.catalog().string());
    if (!opened.ok()) fuzz::Fail("Catalog::Open", __FILE__, __LINE__, opened.status().ToString());
    catalog = std::move(opened).value();
    options.max_size = kMaxSize;
    options.quota_bytes = kQuota;
    tus = std::make_unique<TusHandler>(data, *catalog, events, locks, options);
    // Two reporters with real rows (uploads refer to their owner): an upload is its
    // creator's alone, so the other one's requests on it must be refused.
    for (const char* name : {"fuzz-a", "fuzz-b"}) {
      auto user = catalog->users().CreateUser(name, "", catalog::Role::kReporter);
      if (!user.ok()) fuzz::Fail("CreateUser", __FILE__, __LINE__, user.status().ToString());
      Caller c;
      c.anonymous = false;
      c.user = *user;
      c.role = user->role;
      reporters.push_back(c);
    }
    // Events are serialised as a server would send them to its WebSocket clients.
    events.Subscribe([](std::shared_ptr<const Event> event) {
      FUZZ_CHECK(!nlohmann::json::parse(event->json, nullptr, false).is_discarded(), event->json);
    });
  }

  // Back to an empty catalog and folder: every upload file, original and row goes.
  void Reset() {
    std::error_code ec;
    for (const fs::path& dir : {data.uploads(), data.originals()}) {
      for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string id = it->path().filename().string();
        (void)catalog->videos().Delete(id);
        (void)catalog->uploads().Delete(id);
        std::error_code rm;
        fs::remove_all(it->path(), rm);
      }
    }
  }
};

Env& TheEnv() {
  static Env env;
  return env;
}

std::string Base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string Digest(const std::string& algorithm, std::string_view data) {
  const EVP_MD* md = algorithm == "md5"    ? EVP_md5()
                     : algorithm == "sha1" ? EVP_sha1()
                                           : EVP_sha256();
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), out, &n, md, nullptr);
  return std::string(reinterpret_cast<char*>(out), n);
}

// What this harness believes of one upload.
struct Model {
  std::string bytes;  // acknowledged, in order
};

int64_t FileSize(const fs::path& p) {
  std::error_code ec;
  auto n = fs::file_size(p, ec);
  return ec ? -1 : static_cast<int64_t>(n);
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

void CheckResponse(const HttpResponse& r, const std::string& method, const TusHeaders& headers,
                   const std::string& where) {
  static const std::set<int> kStatuses = {200, 201, 204, 400, 401, 403, 404, 405,
                                          409, 410, 411, 412, 413, 415, 423, 460};
  FUZZ_CHECK(kStatuses.count(r.status), where + ": " + r.body);
  auto version = r.headers.find("Tus-Resumable");
  FUZZ_CHECK(version != r.headers.end() && version->second == "1.0.0", where);
  for (const auto& [name, value] : r.headers)
    FUZZ_CHECK(value.find_first_of("\r\n") == std::string::npos,
               where + ": header " + name + ": " + Printable(value));
  if (!r.body.empty())
    FUZZ_CHECK(!nlohmann::json::parse(r.body, nullptr, false).is_discarded(),
               where + ": " + r.body);
  auto tr = headers.find("tus-resumable");
  const bool speaks = tr != headers.end() && tr->second == "1.0.0";
  // (A malformed Content-Length is refused with 400 before the version is looked at.)
  if (method != "OPTIONS" && r.status != 400) FUZZ_CHECK((r.status == 412) == !speaks, where);
  if (r.status == 412) FUZZ_CHECK(!speaks, where);
  if (auto off = r.headers.find("Upload-Offset"), len = r.headers.find("Upload-Length");
      off != r.headers.end() && len != r.headers.end())
    FUZZ_CHECK(std::stoll(off->second) <= std::stoll(len->second), where);
}

void CheckMetadataRoundTrip(const std::string& header) {
  auto parsed = ParseUploadMetadata(header);
  if (!parsed.ok()) return;
  auto again = ParseUploadMetadata(FormatUploadMetadata(*parsed));
  FUZZ_CHECK(again.ok() && *again == *parsed, "Upload-Metadata '" + Printable(header) + "'");
}

// The stored state of every known upload against the model.
void CheckStored(Env& env, const std::map<std::string, Model>& models, const std::string& where) {
  for (const auto& [id, m] : models) {
    auto u = env.catalog->uploads().Get(id);
    if (!u.ok()) {  // terminated, or forgotten after its data was lost
      FUZZ_CHECK(u.status().code() == ErrorCode::kNotFound, where + ": " + u.status().ToString());
      continue;
    }
    const std::string w = where + ": upload " + id;
    FUZZ_CHECK(u->offset == static_cast<int64_t>(m.bytes.size()),
               w + " stored offset " + std::to_string(u->offset) + ", acknowledged " +
                   std::to_string(m.bytes.size()));
    FUZZ_CHECK(!u->length || u->offset <= *u->length, w);
    if (!u->completed_at_ms) {
      const fs::path file = env.data.uploads() / id;
      FUZZ_CHECK(FileSize(file) >= u->offset, w);
      FUZZ_CHECK(ReadFile(file).substr(0, m.bytes.size()) == m.bytes, w + ": stored bytes differ");
    } else {
      FUZZ_CHECK(u->length && *u->length == u->offset, w);
      auto video = env.catalog->videos().Get(id);
      FUZZ_CHECK(video.ok(), w + ": finished without a video");
      const fs::path folder = env.data.originals() / id;
      std::error_code ec;
      int originals = 0;
      for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
        ++originals;
        FUZZ_CHECK(ReadFile(it->path()) == m.bytes, w + ": the original differs");
      }
      FUZZ_CHECK(originals == 1, w);
    }
  }
}

std::string FuzzText(FuzzedDataProvider& in, size_t max = 64) {
  return in.ConsumeRandomLengthString(max);
}

// Well-formed UTF-8 text of up to `max` characters from a small alphabet of one- to four-byte
// characters and separators: what metadata values hold, so that their handling past the UTF-8
// check is reached (tags are split at commas and cut to 64 bytes, names to 128).
std::string Utf8Text(FuzzedDataProvider& in, size_t max = 140) {
  static const char* kAlphabet[] = {"a",
                                    "Z",
                                    "0",
                                    " ",
                                    ",",
                                    ".",
                                    "/",
                                    "\xc3\xa9" /* é */,
                                    "\xe1\xbb\x87" /* ệ */,
                                    "\xf0\x9f\x8e\xa5" /* 🎥 */,
                                    "\t"};
  std::string out;
  const size_t n = in.ConsumeIntegralInRange<size_t>(0, max);
  for (size_t i = 0; i < n && in.remaining_bytes() > 0; ++i)
    out += kAlphabet[in.ConsumeIntegralInRange<int>(0, 10)];
  return out;
}

// A header value: absent (nullopt) with weight `absent`, else a plausible one or fuzzed bytes.
template <typename Plausible>
std::optional<std::string> Header(FuzzedDataProvider& in, int absent, Plausible plausible) {
  const int pick = in.ConsumeIntegralInRange<int>(0, absent + 2);
  if (pick < absent) return std::nullopt;
  if (pick == absent + 2) return FuzzText(in);
  return plausible();
}

const char* const kMethods[] = {"POST", "PATCH", "HEAD", "DELETE", "OPTIONS", "GET", "PUT"};

// The headers of one request to an upload whose acknowledged state is `model` (null for none).
TusHeaders MakeHeaders(FuzzedDataProvider& in, const Model* model, const std::string& body) {
  TusHeaders h;
  auto put = [&](const char* name, std::optional<std::string> value) {
    if (value) h[name] = *value;
  };
  put("tus-resumable", Header(in, 0, [] { return std::string("1.0.0"); }));
  put("upload-offset",
      Header(in, 2, [&] { return std::to_string(model ? model->bytes.size() : 0); }));
  put("upload-length", Header(in, 2, [&] {
        return std::to_string(in.ConsumeIntegralInRange<int64_t>(0, kMaxSize + 10));
      }));
  put("upload-defer-length", Header(in, 4, [] { return std::string("1"); }));
  put("upload-metadata", Header(in, 2, [&] {
        static const char* kKeys[] = {"filename",    "title",    "tags", "reporter",
                                      "description", "location", "x"};
        std::string value;
        const int pairs = in.ConsumeIntegralInRange<int>(0, 4);
        for (int i = 0; i < pairs; ++i) {
          if (!value.empty()) value += ",";
          value += kKeys[in.ConsumeIntegralInRange<int>(0, 6)];
          if (in.ConsumeBool())
            value += " " + Base64(in.ConsumeBool() ? Utf8Text(in) : FuzzText(in, 160));
        }
        return value;
      }));
  put("upload-checksum", Header(in, 3, [&] {
        static const char* kAlgorithms[] = {"sha1", "md5", "sha256", "SHA256"};
        const std::string algorithm = kAlgorithms[in.ConsumeIntegralInRange<int>(0, 3)];
        std::string lower = algorithm;
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string digest = Digest(lower, body);
        if (in.ConsumeBool()) digest[0] ^= 1;  // a wrong one
        return algorithm + " " + Base64(digest);
      }));
  put("content-type", Header(in, 1, [] { return std::string("application/offset+octet-stream"); }));
  put("content-length", Header(in, 1, [&] { return std::to_string(body.size()); }));
  put("x-http-method-override",
      Header(in, 6, [&] { return std::string(kMethods[in.ConsumeIntegralInRange<int>(0, 6)]); }));
  put("expect", Header(in, 6, [] { return std::string("100-continue"); }));
  put("upload-concat", Header(in, 10, [] { return std::string("final;/files/a /files/b"); }));
  return h;
}

std::set<std::string> UploadFiles(const Env& env) {
  std::set<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(env.data.uploads(), ec), end; !ec && it != end; it.increment(ec))
    names.insert(it->path().filename().string());
  return names;
}

// One request, as the service thread makes it: framed, begun, its body fed in pieces of
// `chunk` bytes (at most Content-Length of them, as lws hands over), then finished, or
// abandoned after `cut` bytes when the connection drops.
struct Outcome {
  std::optional<HttpResponse> response;  // none when the connection dropped
  std::string method;                    // after X-HTTP-Method-Override
  std::string written_to;                // the upload a body was written into, if any
  std::string fed;                       // the bytes fed to it
  int64_t content_length = -1;
};

Outcome Send(Env& env, const Caller& caller, const std::string& method, const std::string& rest,
             const TusHeaders& headers, const std::string& body, size_t chunk, bool drop,
             size_t cut, const std::string& where) {
  Outcome out;
  out.method = method;
  auto framed = FrameTusRequest(method, rest, headers);
  if (!framed.ok()) {
    out.response = TusFramingError(framed.status());
    return out;
  }
  out.method = framed->method;
  out.content_length = framed->content_length;
  TusHandler::Start start =
      env.tus->Begin(caller, framed->method, framed->rest, framed->headers, framed->content_length);
  FUZZ_CHECK(start.response.has_value() != (start.write != nullptr), where);
  if (start.response) {
    out.response = *start.response;
    return out;
  }
  out.written_to = start.write->id();
  out.fed = body.substr(0, std::min<size_t>(cut, static_cast<size_t>(framed->content_length)));
  for (size_t at = 0; at < out.fed.size(); at += chunk)
    env.tus->Write(*start.write, out.fed.data() + at, std::min(chunk, out.fed.size() - at));
  if (drop) {
    env.tus->Abandon(*start.write);
  } else {
    out.response = env.tus->Finish(*start.write);
  }
  return out;
}

// What a write did to the stored upload, against what was acknowledged: the model moves on by
// what the catalog stored, which must be all of the body after a 201/204, nothing after a
// refusal, and at most what arrived after a dropped connection.
void CheckWrite(Env& env, const Outcome& out, Model& model, const std::string& where) {
  auto stored = env.catalog->uploads().Get(out.written_to);
  FUZZ_CHECK(stored.ok(), where + ": " + stored.status().ToString());
  const int64_t moved = stored->offset - static_cast<int64_t>(model.bytes.size());
  const std::string said = out.response ? std::to_string(out.response->status) : "dropped";
  const std::string what = where + " -> " + said + ": the offset moved by " + std::to_string(moved);
  if (out.response && (out.response->status == 204 || out.response->status == 201)) {
    FUZZ_CHECK(moved == out.content_length && out.fed.size() == static_cast<size_t>(moved), what);
  } else if (out.response) {
    FUZZ_CHECK(moved == 0, what);
  } else {
    FUZZ_CHECK(moved >= 0 && static_cast<size_t>(moved) <= out.fed.size(), what);
  }
  model.bytes += out.fed.substr(0, static_cast<size_t>(moved));
}

// HEAD tells what is stored.
void CheckHead(Env& env, const Caller& caller, const std::string& id, const std::string& where) {
  auto u = env.catalog->uploads().Get(id);
  auto head = env.tus->Begin(caller, "HEAD", "/" + id, {{"tus-resumable", "1.0.0"}}, -1);
  FUZZ_CHECK(head.response.has_value(), where);
  // An upload is its creator's alone: anyone else is told to sign in (401) or that there is
  // none (404).
  if (u.ok() && !(caller.user && u->owner_id == caller.user->id))
    FUZZ_CHECK(head.response->status == (caller.user ? 404 : 401),
               where + ": HEAD of another's upload -> " + std::to_string(head.response->status));
  if (!u.ok() || head.response->status != 200) return;
  auto& h = head.response->headers;
  FUZZ_CHECK(h["Upload-Offset"] == std::to_string(u->offset), where);
  if (u->length) FUZZ_CHECK(h["Upload-Length"] == std::to_string(*u->length), where);
  if (!u->metadata.empty()) {
    auto back = ParseUploadMetadata(h["Upload-Metadata"]);
    FUZZ_CHECK(back.ok() && *back == u->metadata, where);
  }
}

}  // namespace
}  // namespace newsreel::streaming

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("NEWSREEL_LOG", "error", 1);
  newsreel::streaming::TheEnv();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace newsreel::streaming;
  Env& env = TheEnv();
  FuzzedDataProvider in(data, size);
  std::map<std::string, Model> models;  // every upload this input created or wrote
  std::vector<std::string> ids;         // the same, in order, as targets
  const int requests = in.ConsumeIntegralInRange<int>(1, 8);
  for (int n = 0; n < requests && in.remaining_bytes() > 0; ++n) {
    const std::string method = kMethods[in.ConsumeIntegralInRange<int>(0, 6)];
    // Mostly reporter A; sometimes reporter B (A's uploads are not B's) or nobody signed in.
    const int who = in.ConsumeIntegralInRange<int>(0, 7);
    const Caller caller = who == 0 ? Caller{} : env.reporters[who == 1 ? 1 : 0];
    std::string target_id, rest = "/";
    const int target = in.ConsumeIntegralInRange<int>(0, 3);
    if (target == 0) rest = "";
    if (target == 1) rest = "/" + FuzzText(in, 20);
    if (target >= 2 && !ids.empty()) {
      target_id = ids[in.ConsumeIntegralInRange<size_t>(0, ids.size() - 1)];
      rest = "/" + target_id;
    }
    const std::string body = in.ConsumeRandomLengthString(200);
    const TusHeaders headers =
        MakeHeaders(in, models.count(target_id) ? &models[target_id] : nullptr, body);
    const size_t chunk = in.ConsumeIntegralInRange<size_t>(1, 64);
    const bool drop = in.ConsumeIntegralInRange<int>(0, 7) == 0;
    const size_t cut = drop ? in.ConsumeIntegralInRange<size_t>(0, body.size()) : body.size();

    std::string where = "request " + std::to_string(n) + ": " + method + " /files" +
                        Printable(rest) + (drop ? " (dropped)" : "");
    for (const auto& [k, v] : headers) where += "\n     " + k + ": " + Printable(v);
    if (auto m = headers.find("upload-metadata"); m != headers.end())
      CheckMetadataRoundTrip(m->second);

    const std::set<std::string> files_before = UploadFiles(env);
    const Outcome out = Send(env, caller, method, rest, headers, body, chunk, drop, cut, where);
    if (out.response)
      where += "\n     -> " + std::to_string(out.response->status) + " " + out.response->body;
    if (std::getenv("NEWSREEL_FUZZ_VERBOSE")) std::fprintf(stderr, "%s\n", where.c_str());
    if (!out.written_to.empty()) CheckWrite(env, out, models[out.written_to], where);
    if (out.response) {
      CheckResponse(*out.response, out.method, headers, where);
      std::string created;
      if (auto loc = out.response->headers.find("Location"); loc != out.response->headers.end()) {
        created = loc->second.substr(std::min<size_t>(7, loc->second.size()));
        FUZZ_CHECK(
            loc->second.starts_with("/files/") && newsreel::catalog::ValidateId(created).ok(),
            where);
        models[created];
      } else if (out.method == "POST") {
        // A refused creation leaves nothing behind that the client was not told of.
        FUZZ_CHECK(UploadFiles(env) == files_before, where + ": a refused creation left an upload");
      }
      for (const std::string& id : {created, out.written_to})
        if (!id.empty() && std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
    } else if (!out.written_to.empty() &&
               std::find(ids.begin(), ids.end(), out.written_to) == ids.end()) {
      ids.push_back(out.written_to);
    }
    CheckStored(env, models, where);
    if (!target_id.empty()) CheckHead(env, caller, target_id, where);
  }
  env.Reset();
  return 0;
}
