// The router and the path resolvers on arbitrary request paths (streaming/internal/router.h,
// media_files.h), the percent-decoding of paths and queries (http_util.h), and what sharing
// reads from strangers (share_meta.h: Host headers, oEmbed's url, titles in tags).
//
// Input: one byte choosing the method, then the request path. The path is routed as lws hands it
// over (already decoded) and, when it decodes, once more after PercentDecode; the routed rest goes
// to ResolveMediaPath (under /media/ and /live/) or ResolveWebPath (pages) over a real folder
// tree that holds, next to the served files, symlinks leading out of their folders and a secret
// file outside every root.
//
// Invariants:
//   - RouteRequest: the rest is the path after the handler's prefix; only the API blocks.
//   - A resolved media file is a regular file, canonical, inside <root>/<video id>/, and never
//     the secret; its id is a valid id and its relative path has no "." or ".." segment.
//   - A resolved page is a regular file inside the web root, never the secret.
//   - PercentDecode(Encode(x)) == x for every byte string x (with and without '+' as space), a
//     decoded string is never longer, and QueryParam finds an encoded value again.
//   - ParseContentLength accepts exactly 1 to 18 ASCII digits, with their value.
//   - Sharing: a video id taken from a URL is a valid id; a host IsValidHost accepts has no
//     byte that could end an attribute or a URL's authority; HtmlEscape leaves no markup
//     character; OembedSize stays within its bounds and never below 1x1.

#include <stdlib.h>
#include <sys/stat.h>

#include <fuzzer/FuzzedDataProvider.h>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include "catalog/ids.h"
#include "fuzz/fuzz_util.h"
#include "streaming/internal/http_util.h"
#include "streaming/internal/media_files.h"
#include "streaming/internal/router.h"
#include "streaming/internal/share_meta.h"

namespace newsreel::streaming {
namespace {

namespace fs = std::filesystem;
using fuzz::Printable;

// The folder tree, made once per process:
//   secret.ts                         outside every root
//   outside/secret.ts
//   media/abc123/master.m3u8, 720p/index.m3u8, 720p/seg_00001.ts
//   media/abc123/leak.ts      -> ../../secret.ts     (a file link leading out)
//   media/abc123/up           -> ../..               (a folder link leading out)
//   media/abc123/inner.ts     -> 720p/seg_00001.ts   (a link that stays inside: served)
//   media/abc123/sub/                                (a folder, not a file)
//   media/linked              -> ../outside          (a video folder that is a link out)
//   media/other/x.ts
//   live/live1/index.m3u8, live/live1/seg_1.ts, live/live1/leak.ts -> ../../secret.ts
//   web/index.html, web/app.js, web/leak.js -> ../secret.ts,
//   web/node_modules/hls.js/dist/hls.min.js
struct Tree {
  fuzz::ScratchDir dir{"router"};
  fs::path media, live, web, secret, outside_secret;

  Tree() {
    const fs::path& b = dir.path();
    auto write = [](const fs::path& p, const char* text) {
      fs::create_directories(p.parent_path());
      std::ofstream(p) << text;
    };
    secret = b / "secret.ts";
    outside_secret = b / "outside" / "secret.ts";
    write(secret, "secret");
    write(outside_secret, "secret");
    media = b / "media";
    write(media / "abc123" / "master.m3u8", "#EXTM3U\n");
    write(media / "abc123" / "720p" / "index.m3u8", "#EXTM3U\n");
    write(media / "abc123" / "720p" / "seg_00001.ts", "ts");
    fs::create_symlink("../../secret.ts", media / "abc123" / "leak.ts");
    fs::create_symlink("../..", media / "abc123" / "up");
    fs::create_symlink("720p/seg_00001.ts", media / "abc123" / "inner.ts");
    fs::create_directories(media / "abc123" / "sub");
    fs::create_symlink("../outside", media / "linked");
    write(media / "other" / "x.ts", "ts");
    live = b / "live";
    write(live / "live1" / "index.m3u8", "#EXTM3U\n");
    write(live / "live1" / "seg_1.ts", "ts");
    fs::create_symlink("../../secret.ts", live / "live1" / "leak.ts");
    web = b / "web";
    write(web / "index.html", "<html>");
    write(web / "app.js", "//");
    write(web / "node_modules" / "hls.js" / "dist" / "hls.min.js", "//");
    fs::create_symlink("../secret.ts", web / "leak.js");
  }
};

const Tree& TheTree() {
  static const Tree tree;  // removed at exit
  return tree;
}

bool IsRegularFile(const fs::path& p) {
  struct stat st;
  return lstat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool Within(const fs::path& p, const fs::path& folder) {
  const std::string s = p.string(), f = folder.string() + "/";
  return s.compare(0, f.size(), f) == 0;
}

void CheckMediaTarget(const Result<MediaTarget>& t, const fs::path& root, std::string_view rest) {
  if (!t.ok()) {
    FUZZ_CHECK(t.status().code() == ErrorCode::kInvalidArgument ||
                   t.status().code() == ErrorCode::kNotFound,
               t.status().ToString());
    return;
  }
  const Tree& tree = TheTree();
  const std::string where = "rest '" + Printable(rest) + "' -> " + t->path.string();
  FUZZ_CHECK(catalog::ValidateId(t->video_id).ok(), where);
  FUZZ_CHECK(Within(t->path, root / t->video_id), where);
  FUZZ_CHECK(IsRegularFile(t->path), where);
  std::error_code ec;
  FUZZ_CHECK(fs::canonical(t->path, ec) == t->path, where);
  FUZZ_CHECK(t->path != tree.secret && t->path != tree.outside_secret, where);
  FUZZ_CHECK(!t->relative.empty() && t->relative.front() != '/', where);
  for (const auto& part : fs::path(t->relative))
    FUZZ_CHECK(part != "." && part != ".." && !part.empty(), where);
  // The shape check alone agrees with the resolution.
  auto parsed = ParseMediaPath(rest);
  FUZZ_CHECK(parsed.ok() && parsed->video_id == t->video_id && parsed->relative == t->relative,
             where);
}

void CheckWebPath(const Result<fs::path>& page, std::string_view rest) {
  if (!page.ok()) return;
  const Tree& tree = TheTree();
  const std::string where = "rest '" + Printable(rest) + "' -> " + page->string();
  FUZZ_CHECK(Within(*page, tree.web), where);
  FUZZ_CHECK(IsRegularFile(*page), where);
  FUZZ_CHECK(*page != tree.secret && *page != tree.outside_secret, where);
}

void CheckRoute(std::string_view method, std::string_view path) {
  const Route route = RouteRequest(method, path);
  const std::string where =
      std::string(method) + " '" + Printable(path) + "' -> " + ToString(route.handler);
  // The rest is always the end of the path.
  FUZZ_CHECK(route.rest.size() <= path.size() && path.ends_with(route.rest), where);
  FUZZ_CHECK(!route.blocking || route.handler == Handler::kApi, where);
  const Tree& tree = TheTree();
  switch (route.handler) {
    case Handler::kUpload:
      FUZZ_CHECK(path.starts_with("/files") && route.rest == path.substr(6), where);
      FUZZ_CHECK(route.rest.empty() || route.rest.front() == '/', where);
      break;
    case Handler::kPreflight:
      FUZZ_CHECK(method == "OPTIONS", where);
      break;
    case Handler::kMedia:
      FUZZ_CHECK(path.starts_with("/media/") && route.rest == path.substr(7), where);
      CheckMediaTarget(ResolveMediaPath(tree.media, route.rest), tree.media, route.rest);
      break;
    case Handler::kLive:
      FUZZ_CHECK(path.starts_with("/live/") && route.rest == path.substr(6), where);
      CheckMediaTarget(ResolveMediaPath(tree.live, route.rest), tree.live, route.rest);
      break;
    case Handler::kApi:
      FUZZ_CHECK(path.starts_with("/api/v1") && route.rest == path, where);
      FUZZ_CHECK(route.blocking || method == "GET" || method == "HEAD", where);
      break;
    case Handler::kHealth:
      FUZZ_CHECK(path == "/healthz", where);
      break;
    case Handler::kMetrics:
      FUZZ_CHECK(path == "/metrics", where);
      break;
    case Handler::kWebSocketOnly:
      FUZZ_CHECK(path == "/ws" || path.starts_with("/ws/"), where);
      break;
    case Handler::kEmbed:
      FUZZ_CHECK(path == "/embed" || (path.starts_with("/embed/") && route.rest == path.substr(7)),
                 where);
      break;
    case Handler::kPage:
      FUZZ_CHECK(route.rest == path.substr(1), where);
      CheckWebPath(ResolveWebPath(tree.web, route.rest), route.rest);
      break;
  }
}

void CheckSharing(std::string_view bytes) {
  const std::string where = "'" + Printable(bytes) + "'";
  for (std::string_view base : {"https://news.example.vn", "http://127.0.0.1:8080"}) {
    if (auto id = VideoIdOfUrl(bytes, base)) FUZZ_CHECK(catalog::ValidateId(*id).ok(), where);
  }
  if (IsValidHost(bytes)) {
    for (char c : bytes) {
      FUZZ_CHECK(c > ' ' && c < 0x7f && c != '"' && c != '\'' && c != '<' && c != '>' && c != '&' &&
                     c != '/' && c != '\\' && c != '@' && c != '?' && c != '#',
                 "a valid host " + where);
    }
  }
  if (auto url = ParsePublicUrl(bytes); url.ok()) {
    FUZZ_CHECK(url->find_first_of("\"'<>&?# ") == std::string::npos && !url->ends_with('/'),
               "a public URL " + where);
  }
  const std::string escaped = HtmlEscape(bytes);
  FUZZ_CHECK(escaped.find_first_of("<>\"'") == std::string::npos, "escaped " + where);
  const int w = bytes.size() > 0 ? static_cast<unsigned char>(bytes[0]) * 40 : 0;
  const int h = bytes.size() > 1 ? static_cast<unsigned char>(bytes[1]) * 40 : 0;
  const int max_w = bytes.size() > 2 ? static_cast<unsigned char>(bytes[2]) * 4 : 0;
  const int max_h = bytes.size() > 3 ? static_cast<unsigned char>(bytes[3]) * 4 : 0;
  const FrameSize size = OembedSize(w, h, max_w, max_h);
  FUZZ_CHECK(size.width >= 1 && size.height >= 1, where);
  FUZZ_CHECK(size.width <= 640 && size.height <= 640, where);
  if (max_w > 0) FUZZ_CHECK(size.width <= max_w, where);
  if (max_h > 0) FUZZ_CHECK(size.height <= max_h, where);
}

// Every byte outside [A-Za-z0-9._~-] as %XX: what a client sends for `raw`.
std::string Encode(std::string_view raw) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : raw) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
        c == '_' || c == '~' || c == '-') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

void CheckDecoding(std::string_view bytes) {
  for (bool plus : {false, true}) {
    auto round = PercentDecode(Encode(bytes), plus);
    FUZZ_CHECK(round && *round == bytes,
               "decode(encode(x)) != x for x = '" + Printable(bytes) + "'");
    auto decoded = PercentDecode(bytes, plus);
    if (decoded) {
      FUZZ_CHECK(decoded->size() <= bytes.size(), Printable(bytes));
      if (bytes.find('%') == std::string_view::npos && (!plus || bytes.find('+') == bytes.npos))
        FUZZ_CHECK(*decoded == bytes, Printable(bytes));
    }
  }
  // A value found again behind a name, between other parameters.
  auto found = QueryParam("a=1&v=" + Encode(bytes) + "&b=2", "v");
  FUZZ_CHECK(found && *found == bytes, "QueryParam lost '" + Printable(bytes) + "'");
  (void)QueryParam(bytes, "v");  // any query: no crash

  auto n = ParseContentLength(bytes);
  bool digits = !bytes.empty() && bytes.size() <= 18;
  for (char c : bytes) digits &= c >= '0' && c <= '9';
  FUZZ_CHECK(n.has_value() == digits, "ParseContentLength('" + Printable(bytes) + "')");
  if (n) FUZZ_CHECK(*n == std::stoll(std::string(bytes)), Printable(bytes));
}

}  // namespace
}  // namespace newsreel::streaming

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("NEWSREEL_LOG", "error", 1);
  newsreel::streaming::TheTree();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace newsreel::streaming;
  if (size == 0) return 0;
  static const char* kMethods[] = {"GET", "HEAD", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"};
  const std::string_view method = kMethods[data[0] % 7];
  const std::string_view raw(reinterpret_cast<const char*>(data + 1), size - 1);
  CheckDecoding(raw);
  CheckSharing(raw);
  // A request path starts with '/' (the service thread refuses any other before routing).
  std::string path = raw.starts_with('/') ? std::string(raw) : "/" + std::string(raw);
  CheckRoute(method, path);
  if (auto decoded = PercentDecode(path, false); decoded && decoded->starts_with('/'))
    CheckRoute(method, *decoded);
  // The resolvers on the bare input as well, without the router's prefixes.
  const Tree& tree = TheTree();
  CheckMediaTarget(ResolveMediaPath(tree.media, raw), tree.media, raw);
  CheckWebPath(ResolveWebPath(tree.web, raw), raw);
  return 0;
}
