#include "streaming/internal/http_util.h"

#include <openssl/evp.h>
#include <zlib.h>

#include <cctype>
#include <charconv>
#include <cstdio>

namespace newsreel::streaming {
namespace {

std::string_view Extension(std::string_view name) {
  size_t slash = name.find_last_of('/');
  if (slash != std::string_view::npos) name.remove_prefix(slash + 1);
  size_t dot = name.find_last_of('.');
  return dot == std::string_view::npos ? std::string_view() : name.substr(dot + 1);
}

std::optional<uint64_t> ParseDigits(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  for (char c : s)
    if (c < '0' || c > '9') return std::nullopt;
  uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

}  // namespace

std::string_view ContentTypeFor(std::string_view file_name) {
  std::string_view ext = Extension(file_name);
  if (ext == "m3u8") return "application/vnd.apple.mpegurl";
  if (ext == "ts") return "video/mp2t";
  if (ext == "m4s") return "video/iso.segment";
  if (ext == "mp4") return "video/mp4";
  if (ext == "m4a") return "audio/mp4";
  if (ext == "aac") return "audio/aac";
  if (ext == "jpg" || ext == "jpeg") return "image/jpeg";
  if (ext == "png") return "image/png";
  if (ext == "vtt") return "text/vtt; charset=utf-8";
  if (ext == "json") return "application/json";
  if (ext == "html") return "text/html; charset=utf-8";
  if (ext == "js" || ext == "mjs") return "text/javascript; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  return "application/octet-stream";
}

bool IsCompressible(std::string_view file_name) {
  std::string_view ext = Extension(file_name);
  return ext == "m3u8" || ext == "vtt" || ext == "json" || ext == "html" || ext == "js" ||
         ext == "css";
}

std::string_view CacheControlFor(std::string_view file_name, bool live) {
  std::string_view ext = Extension(file_name);
  // LL-HLS (docs/live.md): its playlists change with every part, and a live rung's init
  // segment is written again by a run that continues the stream, maybe with another picture.
  if (live && file_name.starts_with("ll/") && (ext == "m3u8" || file_name.ends_with("/init.mp4")))
    return "no-cache";
  if (ext == "ts" || ext == "m4s" || ext == "mp4" || ext == "m4a" || ext == "aac")
    return "public, max-age=31536000, immutable";
  if (ext == "m3u8") return live ? "public, max-age=1" : "public, max-age=300";
  // Posters and storyboards are replaced when a video is transcoded again, under the same name.
  if (ext == "jpg" || ext == "jpeg" || ext == "vtt") return "public, max-age=3600";
  return "public, max-age=60";
}

std::string MakeEtag(uint64_t inode, uint64_t size, int64_t mtime_ns, bool gzip) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "\"%llx-%llx-%llx%s\"", static_cast<unsigned long long>(inode),
                static_cast<unsigned long long>(size), static_cast<unsigned long long>(mtime_ns),
                gzip ? "-gz" : "");
  return buf;
}

std::string ContentEtag(std::string_view body) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(body.data(), body.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string tag = "\"b-";
  for (unsigned int i = 0; i < 16 && i < length; ++i) {
    tag += kHex[digest[i] >> 4];
    tag += kHex[digest[i] & 15];
  }
  tag += '"';
  return tag;
}

bool IfNoneMatchMatches(std::string_view header, std::string_view etag) {
  auto opaque = [](std::string_view t) {
    t = TrimOws(t);
    if (t.size() >= 2 && (t[0] == 'W' || t[0] == 'w') && t[1] == '/') t.remove_prefix(2);
    return t;
  };
  std::string_view want = opaque(etag);
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view item = TrimOws(header.substr(0, comma));
    if (item == "*") return true;
    if (!item.empty() && opaque(item) == want) return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}

bool AcceptsGzip(std::string_view accept_encoding) {
  while (!accept_encoding.empty()) {
    size_t comma = accept_encoding.find(',');
    std::string_view item = TrimOws(accept_encoding.substr(0, comma));
    size_t semi = item.find(';');
    std::string_view coding = TrimOws(item.substr(0, semi));
    if (EqualsIgnoreCase(coding, "gzip") || coding == "*") {
      bool zero = false;
      if (semi != std::string_view::npos) {
        std::string_view params = TrimOws(item.substr(semi + 1));
        if (params.size() >= 2 && (params[0] == 'q' || params[0] == 'Q') && params[1] == '=') {
          std::string_view q = TrimOws(params.substr(2));
          zero = !q.empty() && q.find_first_not_of("0.") == std::string_view::npos;
        }
      }
      if (!zero) return true;
    }
    if (comma == std::string_view::npos) break;
    accept_encoding.remove_prefix(comma + 1);
  }
  return false;
}

RangeResult ParseRange(std::string_view header, uint64_t size) {
  RangeResult none;
  header = TrimOws(header);
  if (header.size() < 6 || !EqualsIgnoreCase(header.substr(0, 6), "bytes=")) return none;
  std::string_view spec = TrimOws(header.substr(6));
  if (spec.find(',') != std::string_view::npos) return none;  // multiple ranges: whole file
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return none;
  std::string_view a = TrimOws(spec.substr(0, dash)), b = TrimOws(spec.substr(dash + 1));
  RangeResult out;
  if (a.empty()) {  // suffix: the last n bytes
    auto n = ParseDigits(b);
    if (!n) return none;
    if (*n == 0 || size == 0) return {RangeOutcome::kUnsatisfiable, {}};
    uint64_t len = std::min<uint64_t>(*n, size);
    return {RangeOutcome::kSatisfiable, {size - len, size - 1}};
  }
  auto first = ParseDigits(a);
  if (!first) return none;
  std::optional<uint64_t> last;
  if (!b.empty()) {
    last = ParseDigits(b);
    if (!last || *last < *first) return none;  // invalid: ignored
  }
  if (*first >= size) return {RangeOutcome::kUnsatisfiable, {}};
  uint64_t end = last ? std::min<uint64_t>(*last, size - 1) : size - 1;
  return {RangeOutcome::kSatisfiable, {*first, end}};
}

Result<std::string> Gzip(std::string_view data) {
  z_stream zs{};
  if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return Internal("deflateInit2 failed");
  std::string out;
  out.resize(deflateBound(&zs, data.size()) + 32);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  size_t produced = out.size() - zs.avail_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return Internal("gzip compression did not finish");
  out.resize(produced);
  return out;
}

std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      auto hex = [](char h) -> int {
        if (h >= '0' && h <= '9') return h - '0';
        if (h >= 'a' && h <= 'f') return h - 'a' + 10;
        if (h >= 'A' && h <= 'F') return h - 'A' + 10;
        return -1;
      };
      int hi = hex(text[i + 1]), lo = hex(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::optional<std::string> QueryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    if (key == name)
      return PercentDecode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

std::optional<int64_t> ParseContentLength(std::string_view value) {
  if (value.empty() || value.size() > 18) return std::nullopt;
  int64_t n = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n;
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 422:
      return "Unprocessable Content";
    case 423:
      return "Locked";
    case 426:
      return "Upgrade Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

}  // namespace newsreel::streaming
