#include "streaming/internal/ws_endpoints.h"

#include <array>

namespace newsreel::streaming {
namespace {

bool IsStreamIdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

bool IsStreamId(std::string_view id) {
  if (id.empty() || id.size() > kMaxLiveStreamIdLength) return false;
  for (char c : id) {
    if (!IsStreamIdChar(c)) return false;
  }
  return true;
}

}  // namespace

std::span<const WsEndpoint> WebSocketEndpoints() {
  static const std::array<WsEndpoint, 2> kEndpoints = {
      WsEndpoint{"/ws", WsEndpoint::kEvents},
      WsEndpoint{"/ws/live/", WsEndpoint::kLiveMedia},
  };
  return kEndpoints;
}

std::optional<WsRoute> MatchWebSocketPath(std::string_view path) {
  for (const WsEndpoint& e : WebSocketEndpoints()) {
    switch (e.kind) {
      case WsEndpoint::kEvents:
        if (path == e.prefix) return WsRoute{e.kind, ""};
        break;
      case WsEndpoint::kLiveMedia:
        if (path.starts_with(e.prefix)) {
          std::string_view id = path.substr(e.prefix.size());
          if (!IsStreamId(id)) return std::nullopt;
          return WsRoute{e.kind, std::string(id)};
        }
        break;
    }
  }
  return std::nullopt;
}

}  // namespace newsreel::streaming
