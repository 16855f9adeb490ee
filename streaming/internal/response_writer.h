#pragma once
// The header fields of a response, as data: what the service thread hands to lws, in order.
// Pure; the lws calls that write them live in the service thread.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "streaming/request_context.h"

namespace newsreel::streaming {

// CORS: every response allows `cors_allow_origin`; a preflight answers with these.
inline constexpr char kCorsMethods[] = "GET, HEAD, POST, PATCH, DELETE, OPTIONS";
inline constexpr char kCorsHeaders[] =
    "Range, If-None-Match, If-Range, Content-Type, Authorization, Tus-Resumable, Upload-Length, "
    "Upload-Defer-Length, Upload-Metadata, Upload-Offset, Upload-Checksum, Upload-Concat, "
    "X-HTTP-Method-Override, X-Requested-With";

struct ResponseFraming {
  std::string cors_allow_origin = "*";
  bool upload = false;       // a response under /files: expose the tus headers to scripts
  bool close_after = false;  // "Connection: close", and the connection ends after the body
};

// The fields after the status line: lower-case names with their colon ("content-type:"), in
// the order they go out. `content_length` is the body's length (also for HEAD, whose body is
// not sent); a 304 has none.
std::vector<std::pair<std::string, std::string>> ResponseHeaderFields(
    const HttpResponse& response, uint64_t content_length, const ResponseFraming& framing);

// The answer to a CORS preflight (OPTIONS outside /files).
HttpResponse PreflightResponse();

}  // namespace newsreel::streaming
