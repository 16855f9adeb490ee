#include "streaming/internal/router.h"

#include <gtest/gtest.h>

namespace newsreel::streaming {
namespace {

struct Case {
  const char* method;
  const char* path;
  Handler handler;
  const char* rest;
  bool blocking;
};

TEST(RouterTest, EveryPathGoesToItsHandler) {
  const Case cases[] = {
      {"POST", "/files", Handler::kUpload, "", false},
      {"HEAD", "/files/abc", Handler::kUpload, "/abc", false},
      {"OPTIONS", "/files/", Handler::kUpload, "/", false},  // tus capabilities, not CORS
      {"GET", "/filesystem", Handler::kPage, "filesystem", false},
      {"OPTIONS", "/api/v1/videos", Handler::kPreflight, "", false},
      {"GET", "/media/v1/720p/seg_00001.ts", Handler::kMedia, "v1/720p/seg_00001.ts", false},
      {"GET", "/live/s1/master.m3u8", Handler::kLive, "s1/master.m3u8", false},
      {"GET", "/api/v1", Handler::kApi, "/api/v1", false},
      {"GET", "/api/v1/videos", Handler::kApi, "/api/v1/videos", false},
      {"HEAD", "/api/v1/videos/x", Handler::kApi, "/api/v1/videos/x", false},
      {"GET", "/api/v1x", Handler::kPage, "api/v1x", false},
      {"GET", "/healthz", Handler::kHealth, "", false},
      {"GET", "/metrics", Handler::kMetrics, "", false},
      {"GET", "/ws", Handler::kWebSocketOnly, "", false},
      {"GET", "/ws/live/abc", Handler::kWebSocketOnly, "", false},
      {"GET", "/", Handler::kPage, "", false},
      {"GET", "/watch.html", Handler::kPage, "watch.html", false},
      {"GET", "/embed/k3v7q2mzp4x5t6ab", Handler::kEmbed, "k3v7q2mzp4x5t6ab", false},
      {"GET", "/embed/a/b", Handler::kEmbed, "a/b", false},  // not an id: the handler refuses
      {"GET", "/embed", Handler::kEmbed, "", false},
      {"GET", "/embed/", Handler::kEmbed, "", false},
      {"GET", "/embed.html", Handler::kPage, "embed.html", false},
  };
  for (const Case& c : cases) {
    Route r = RouteRequest(c.method, c.path);
    EXPECT_EQ(r.handler, c.handler)
        << c.method << " " << c.path << " went to " << ToString(r.handler);
    EXPECT_EQ(r.rest, c.rest) << c.method << " " << c.path;
    EXPECT_EQ(r.blocking, c.blocking) << c.method << " " << c.path;
  }
}

TEST(RouterTest, ApiChangesAndTheEncoderListRunOnThePool) {
  EXPECT_TRUE(RouteRequest("PATCH", "/api/v1/videos/x").blocking);
  EXPECT_TRUE(RouteRequest("DELETE", "/api/v1/videos/x").blocking);
  EXPECT_TRUE(RouteRequest("POST", "/api/v1/jobs/3/retry").blocking);
  EXPECT_TRUE(RouteRequest("GET", "/api/v1/encoders").blocking);
  EXPECT_FALSE(RouteRequest("GET", "/api/v1/jobs").blocking);
  EXPECT_FALSE(RouteRequest("GET", "/media/x/master.m3u8").blocking);
}

}  // namespace
}  // namespace newsreel::streaming
