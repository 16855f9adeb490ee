#pragma once
// HTTP details of media delivery that do not need a socket: content types, caching rules,
// entity tags, byte ranges, gzip. Pure functions, safe from any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace newsreel::streaming {

// The Content-Type for a file name by its extension; "application/octet-stream" when unknown.
//   .m3u8 application/vnd.apple.mpegurl, .ts video/mp2t, .m4s video/iso.segment,
//   .mp4 video/mp4, .jpg image/jpeg, .vtt text/vtt, .json application/json
std::string_view ContentTypeFor(std::string_view file_name);

// True for text the server compresses with gzip when the client accepts it (playlists, VTT).
bool IsCompressible(std::string_view file_name);

// Cache-Control for a file under /media (VOD) or /live: segments and images never change once
// written ("immutable"), VOD playlists may be cached for a while, live playlists for about a
// target duration, everything else briefly.
std::string_view CacheControlFor(std::string_view file_name, bool live);

// A strong entity tag from a file's identity and version: "\"<inode>-<size>-<mtime ns>\"" in hex,
// with "-gz" appended inside the quotes for the gzip representation.
std::string MakeEtag(uint64_t inode, uint64_t size, int64_t mtime_ns, bool gzip);

// A strong entity tag from the bytes of a body made per request (a page with tags rendered
// into it): "\"b-<first 128 bits of its SHA-256 in hex>\"".
std::string ContentEtag(std::string_view body);

// True when an If-None-Match header value matches `etag` (a list of tags or "*"; weak tags
// compare by their opaque part, as RFC 9110 asks for If-None-Match).
bool IfNoneMatchMatches(std::string_view header, std::string_view etag);

// True when an Accept-Encoding header accepts gzip (a "gzip" or "*" token whose q is not 0).
bool AcceptsGzip(std::string_view accept_encoding);

struct ByteRange {
  uint64_t first = 0;
  uint64_t last = 0;  // inclusive
  uint64_t length() const { return last - first + 1; }
};

enum class RangeOutcome {
  kNone,           // no usable Range header: send the whole file (200)
  kSatisfiable,    // send `range` (206)
  kUnsatisfiable,  // 416 with Content-Range: bytes */size
};

struct RangeResult {
  RangeOutcome outcome = RangeOutcome::kNone;
  ByteRange range;
};

// Interprets a Range header against a file of `size` bytes (RFC 9110 section 14). A single
// "bytes=a-b", "bytes=a-" or "bytes=-n" range is honoured (clamped to the file). Syntactically
// invalid headers, other units and multiple ranges are ignored (the whole file is sent, which
// the RFC allows). A valid range that starts beyond the end, or a zero-length suffix, is
// unsatisfiable.
RangeResult ParseRange(std::string_view header, uint64_t size);

// gzip-compresses `data` (zlib, level 6, gzip wrapper).
Result<std::string> Gzip(std::string_view data);

// The value of one query parameter from a raw query string ("a=1&b=x%20y"), percent-decoded
// ('+' is a space). nullopt when absent.
std::optional<std::string> QueryParam(std::string_view query, std::string_view name);

// Percent-decodes `text`. nullopt for a malformed escape.
std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space);

// The one parser of a non-negative decimal count header (Content-Length, Upload-Length,
// Upload-Offset): 1 to 18 ASCII digits, nothing else (no sign, no spaces, no "1e3", no
// overflow). nullopt when malformed; callers tell "absent" (an empty value) apart themselves.
std::optional<int64_t> ParseContentLength(std::string_view value);

// `s` without the spaces and tabs around it (a header value's optional whitespace).
std::string_view TrimOws(std::string_view s);

// ASCII case-insensitive equality (header names, tokens).
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// The reason phrase for a status code ("Not Found").
const char* ReasonPhrase(int status);

}  // namespace newsreel::streaming
