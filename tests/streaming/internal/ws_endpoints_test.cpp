#include "streaming/internal/ws_endpoints.h"

#include <gtest/gtest.h>

#include <string>

namespace newsreel::streaming {
namespace {

TEST(MatchWebSocketPathTest, RoutesEventsAndLiveStreams) {
  EXPECT_EQ(MatchWebSocketPath("/ws"), (WsRoute{WsEndpoint::kEvents, ""}));
  EXPECT_EQ(MatchWebSocketPath("/ws/live/abc"), (WsRoute{WsEndpoint::kLiveMedia, "abc"}));
  EXPECT_EQ(MatchWebSocketPath("/ws/live/Cam_01-north"),
            (WsRoute{WsEndpoint::kLiveMedia, "Cam_01-north"}));
  const std::string longest(kMaxLiveStreamIdLength, 'a');
  EXPECT_EQ(MatchWebSocketPath("/ws/live/" + longest), (WsRoute{WsEndpoint::kLiveMedia, longest}));
}

TEST(MatchWebSocketPathTest, RefusesEverythingElse) {
  const std::string too_long(kMaxLiveStreamIdLength + 1, 'a');
  const std::string hostile[] = {
      "",
      "/",
      "ws",
      "/wsx",
      "/ws/",
      "/WS",
      "/ws/live",
      "/ws/live/",
      "/ws/live//",
      "/ws/live/abc/",
      "/ws/live/abc/def",
      "/ws/live/..",
      "/ws/live/../ws",
      "/ws/../ws",
      "/ws/live/.",
      "/ws/live/a.b",
      "/ws/live/abc%00",
      "/ws/live/%2e%2e",
      "/ws/live/a%2Fb",
      "/ws/live/ abc",
      "/ws/live/abc?x=1",
      "/ws/live/abc#x",
      "/ws/live/" + too_long,
      "//ws",
      "/ws/events",
      "/ws/livex/abc",
      "/api/ws/live/abc",
      std::string("/ws/live/ab\0c", 13),
      std::string("/ws\0", 4),
      "/ws/live/\xc3\xa9t\xc3\xa9",  // UTF-8 letters are not ids
  };
  for (const std::string& path : hostile) {
    EXPECT_FALSE(MatchWebSocketPath(path)) << "\"" << path << "\"";
  }
}

TEST(MatchWebSocketPathTest, TheTableListsBothEndpoints) {
  auto table = WebSocketEndpoints();
  ASSERT_EQ(table.size(), 2u);
  EXPECT_EQ(table[0].kind, WsEndpoint::kEvents);
  EXPECT_EQ(table[1].kind, WsEndpoint::kLiveMedia);
}

}  // namespace
}  // namespace newsreel::streaming
