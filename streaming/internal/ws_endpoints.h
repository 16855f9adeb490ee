#pragma once
// The WebSocket paths the server accepts, and the pure function that routes an upgrade request
// to one of them. No lws here: the server calls MatchWebSocketPath with the request path and
// refuses the upgrade when it returns nothing.

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace newsreel::streaming {

struct WsEndpoint {
  enum Kind {
    kEvents,     // "/ws": server events as JSON text messages (see EventBus)
    kLiveMedia,  // "/ws/live/<id>": binary fMP4 fragments of a live stream (see MediaRing)
  };
  std::string prefix;  // "/ws" is matched exactly; "/ws/live/" takes a stream id after it
  Kind kind;
};

// The table of endpoints, in matching order.
std::span<const WsEndpoint> WebSocketEndpoints();

struct WsRoute {
  WsEndpoint::Kind kind;
  std::string stream_id;  // empty for kEvents

  bool operator==(const WsRoute&) const = default;
};

// The longest stream id /ws/live/ accepts.
inline constexpr size_t kMaxLiveStreamIdLength = 64;

// Routes `path` (the request path as sent, without the query string, not percent-decoded):
//   "/ws"            -> {kEvents, ""}
//   "/ws/live/<id>"  -> {kLiveMedia, id} where id is [A-Za-z0-9_-]{1,64}
// Anything else — a trailing slash, an empty or longer id, "..", a percent escape, a second
// segment, a prefix such as "/wsx" — returns nothing.
std::optional<WsRoute> MatchWebSocketPath(std::string_view path);

}  // namespace newsreel::streaming
