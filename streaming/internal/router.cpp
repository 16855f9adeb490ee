#include "streaming/internal/router.h"

namespace newsreel::streaming {

namespace {

bool IsUnder(std::string_view path, std::string_view prefix) {
  // "/files" itself or "/files/...", never "/filesystem".
  return path == prefix ||
         (path.size() > prefix.size() && path.starts_with(prefix) && path[prefix.size()] == '/');
}

}  // namespace

Route RouteRequest(std::string_view method, std::string_view path) {
  if (IsUnder(path, "/files")) return {Handler::kUpload, std::string(path.substr(6))};
  if (method == "OPTIONS") return {Handler::kPreflight, {}};
  if (path.starts_with("/media/")) return {Handler::kMedia, std::string(path.substr(7))};
  if (path.starts_with("/live/")) return {Handler::kLive, std::string(path.substr(6))};
  if (IsUnder(path, "/api/v1")) {
    // Reads answer from the service thread's own catalog connection (WAL readers do not wait);
    // changes commit with a flush, and the encoder list runs a sub-process.
    const bool reads = method == "GET" || method == "HEAD";
    const bool blocking = !reads || path == "/api/v1/encoders";
    return {Handler::kApi, std::string(path), blocking};
  }
  if (path == "/healthz") return {Handler::kHealth, {}};
  if (path == "/metrics") return {Handler::kMetrics, {}};
  if (IsUnder(path, "/ws")) return {Handler::kWebSocketOnly, {}};
  if (IsUnder(path, "/embed"))
    return {Handler::kEmbed, std::string(path.size() > 7 ? path.substr(7) : "")};
  return {Handler::kPage, std::string(path.substr(1))};
}

const char* ToString(Handler handler) {
  switch (handler) {
    case Handler::kUpload:
      return "upload";
    case Handler::kPreflight:
      return "preflight";
    case Handler::kMedia:
      return "media";
    case Handler::kLive:
      return "live";
    case Handler::kApi:
      return "api";
    case Handler::kHealth:
      return "health";
    case Handler::kMetrics:
      return "metrics";
    case Handler::kWebSocketOnly:
      return "websocket-only";
    case Handler::kEmbed:
      return "embed";
    case Handler::kPage:
      return "page";
  }
  return "?";
}

}  // namespace newsreel::streaming
