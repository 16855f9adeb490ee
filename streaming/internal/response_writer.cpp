#include "streaming/internal/response_writer.h"

#include <cctype>

namespace newsreel::streaming {

namespace {

constexpr char kCorsExpose[] =
    "Content-Length, Content-Range, Content-Encoding, ETag, Accept-Ranges";
// Upload responses expose the tus headers too (kept off media responses, which are many and
// small).
constexpr char kCorsExposeTus[] =
    "Content-Length, ETag, Location, Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, "
    "Tus-Checksum-Algorithm, Upload-Offset, Upload-Length, Upload-Defer-Length, Upload-Metadata, "
    "Upload-Expires";

}  // namespace

std::vector<std::pair<std::string, std::string>> ResponseHeaderFields(
    const HttpResponse& resp, uint64_t content_length, const ResponseFraming& framing) {
  std::vector<std::pair<std::string, std::string>> fields;
  fields.reserve(resp.headers.size() + 6);
  if (!resp.content_type.empty()) fields.emplace_back("content-type:", resp.content_type);
  if (resp.status != 304) fields.emplace_back("content-length:", std::to_string(content_length));
  fields.emplace_back("access-control-allow-origin:", framing.cors_allow_origin);
  fields.emplace_back("access-control-expose-headers:",
                      framing.upload ? kCorsExposeTus : kCorsExpose);
  for (const auto& [name, value] : resp.headers) {
    std::string lower;
    lower.reserve(name.size() + 1);
    for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    lower += ':';
    fields.emplace_back(std::move(lower), value);
  }
  if (!resp.headers.count("Cache-Control") && resp.content_type == "application/json")
    fields.emplace_back("cache-control:", "no-store");
  if (framing.close_after) fields.emplace_back("connection:", "close");
  return fields;
}

HttpResponse PreflightResponse() {
  HttpResponse resp;
  resp.status = 204;
  resp.content_type.clear();
  resp.headers["Access-Control-Allow-Methods"] = kCorsMethods;
  resp.headers["Access-Control-Allow-Headers"] = kCorsHeaders;
  resp.headers["Access-Control-Max-Age"] = "86400";
  return resp;
}

}  // namespace newsreel::streaming
