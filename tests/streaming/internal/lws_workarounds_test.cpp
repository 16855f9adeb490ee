#include "streaming/internal/lws_workarounds.h"

#include <gtest/gtest.h>

namespace newsreel::streaming {
namespace {

TEST(LwsWorkaroundsTest, ControlBytesInTheRequestLineAreFound) {
  EXPECT_TRUE(RequestLineHasControlByte("GET /media/a%00b HTTP/1.1\r\n"));
  EXPECT_TRUE(RequestLineHasControlByte("GET /media/a%0ab HTTP/1.1\r\n"));
  EXPECT_TRUE(RequestLineHasControlByte("GET /media/a%7Fb HTTP/1.1\r\n"));
  EXPECT_TRUE(RequestLineHasControlByte(std::string_view("GET /a\0b HTTP/1.1\r\n", 19)));
  EXPECT_TRUE(RequestLineHasControlByte("GET /api/v1/videos?q=%00 HTTP/1.1\r\n"));
  EXPECT_TRUE(RequestLineHasControlByte("GET /api/v1/videos?q=%0d HTTP/1.1\r\n"));
}

TEST(LwsWorkaroundsTest, OrdinaryLinesPass) {
  EXPECT_FALSE(RequestLineHasControlByte("GET /media/a/master.m3u8 HTTP/1.1\r\nHost: x\r\n"));
  EXPECT_FALSE(RequestLineHasControlByte("GET /api/v1/videos?q=l%C5%A9%09 HTTP/1.1\r\n"));
  EXPECT_FALSE(RequestLineHasControlByte("GET /a%2 HTTP/1.1\r\n"));  // not an escape
  // Only the first line counts: a tab in a header is not the request line's.
  EXPECT_FALSE(RequestLineHasControlByte("GET / HTTP/1.1\r\nX: a\tb\r\n"));
}

TEST(LwsWorkaroundsTest, RequestLinesAreRecognised) {
  EXPECT_TRUE(LooksLikeRequestLine("GET / HTTP/1.1"));
  EXPECT_TRUE(LooksLikeRequestLine("PATCH"));  // not whole yet
  EXPECT_FALSE(LooksLikeRequestLine("get / HTTP/1.1"));
  EXPECT_FALSE(LooksLikeRequestLine("\x16\x03\x01"));  // a TLS hello
  EXPECT_FALSE(LooksLikeRequestLine(""));
}

TEST(LwsWorkaroundsTest, TheRefusalIsAWholeHttpAnswer) {
  std::string r = ControlByteRefusal("*");
  EXPECT_EQ(r.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u);
  const size_t blank = r.find("\r\n\r\n");
  ASSERT_NE(blank, std::string::npos);
  const std::string body = r.substr(blank + 4);
  EXPECT_NE(r.find("content-length: " + std::to_string(body.size()) + "\r\n"), std::string::npos);
  EXPECT_NE(r.find("connection: close"), std::string::npos);
  EXPECT_NE(body.find("invalid_argument"), std::string::npos);
}

}  // namespace
}  // namespace newsreel::streaming
