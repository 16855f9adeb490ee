#include "streaming/internal/lws_workarounds.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

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
  std::string r =
      RefusalResponse({426, "WebSocket version 13", {{"sec-websocket-version", "13"}}}, "*");
  EXPECT_EQ(r.rfind("HTTP/1.1 426 ", 0), 0u);
  const size_t blank = r.find("\r\n\r\n");
  ASSERT_NE(blank, std::string::npos);
  const std::string body = r.substr(blank + 4);
  EXPECT_NE(r.find("content-length: " + std::to_string(body.size()) + "\r\n"), std::string::npos);
  EXPECT_NE(r.find("connection: close"), std::string::npos);
  EXPECT_NE(r.find("sec-websocket-version: 13\r\n"), std::string::npos);
  EXPECT_NE(body.find("WebSocket version 13"), std::string::npos);
}

// Found by fuzz/request_head_fuzzer.cpp: the refusal quotes the method or the version, and bytes
// that are not UTF-8 made the JSON body throw, out of the noexcept event callback that screens
// new connections: one request line ("\xad\xbd\n") ended the server.
TEST(LwsWorkaroundsTest, ARefusalQuotingBytesThatAreNotUtf8IsStillAnAnswer) {
  for (const std::string head :
       {std::string("\xad\xbd\n"), std::string("G\xffT / HTTP/1.1\r\n\r\n"),
        std::string("GET / HTTP/1.\xfe\r\n\r\n")}) {
    std::optional<HeadRefusal> refusal = ScreenRequestHead(head);
    ASSERT_TRUE(refusal);
    std::string response;
    ASSERT_NO_THROW(response = RefusalResponse(*refusal, "*"));
    EXPECT_EQ(response.rfind("HTTP/1.1 " + std::to_string(refusal->status) + " ", 0), 0u);
    const std::string body = response.substr(response.find("\r\n\r\n") + 4);
    auto json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(json.is_discarded()) << body;
    EXPECT_NE(json["error"]["message"].get<std::string>().find("\xef\xbf\xbd"), std::string::npos)
        << "the byte is shown as U+FFFD: " << body;
  }
}

struct HeadCase {
  const char* what;
  std::string head;
  int status;  // 0: passes
};

// `n` header fields "X-Fn: n".
std::string Fields(int n) {
  std::string fields;
  for (int i = 0; i < n; ++i)
    fields += "X-F" + std::to_string(i) + ": " + std::to_string(i) + "\r\n";
  return fields;
}

TEST(LwsWorkaroundsTest, MalformedHeadsAreRefusedWithTheirStatus) {
  const std::string ok_fields = "Host: x\r\nAccept: */*\r\n\r\n";
  const HeadCase cases[] = {
      {"an ordinary GET", "GET /media/a/master.m3u8 HTTP/1.1\r\n" + ok_fields, 0},
      {"HTTP/1.0", "GET / HTTP/1.0\r\n\r\n", 0},
      {"a head not whole yet", "GET / HTTP/1.1\r\nHost: x\r\nX-Half", 0},
      {"a request line not whole yet", "GET /media/a/seg", 0},
      {"a body behind the head is not a header",
       "POST /files HTTP/1.1\r\nContent-Length: 3\r\n\r\n\x01\x02\x03", 0},
      {"a WebSocket upgrade, version 13",
       "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: "
       "13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
       0},
      {"a WebSocket upgrade without a key",
       "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: "
       "13\r\n\r\n",
       400},
      {"a WebSocket upgrade with a key of 15 bytes",
       "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: "
       "13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=\r\n\r\n",
       400},
      {"100 header fields", "GET / HTTP/1.1\r\n" + Fields(100) + "\r\n", 0},
      {"101 header fields", "GET / HTTP/1.1\r\n" + Fields(101) + "\r\n", 431},
      {"control byte in the path", "GET /a%00 HTTP/1.1\r\n\r\n", 400},
      {"CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n", 405},
      {"TRACE", "TRACE / HTTP/1.1\r\n\r\n", 405},
      {"an unknown method", "BREW /pot HTTP/1.1\r\n\r\n", 405},
      {"HTTP/0.9 (no version)", "GET /\r\n\r\n", 400},
      {"HTTP/9.9", "GET / HTTP/9.9\r\n\r\n", 505},
      {"HTTP/2.0 in an HTTP/1 line", "GET / HTTP/2.0\r\n\r\n", 505},
      {"a version that is not HTTP", "GET / FTP/1.1\r\n\r\n", 400},
      {"a header without a colon", "GET / HTTP/1.1\r\nHost x\r\n\r\n", 400},
      {"a header with an empty name", "GET / HTTP/1.1\r\n: x\r\n\r\n", 400},
      {"a space before the colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400},
      {"an obs-fold continuation", "GET / HTTP/1.1\r\nX-A: 1\r\n  2\r\n\r\n", 400},
      {"a NUL in a header", std::string("GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n", 29), 400},
      {"a WebSocket upgrade, version 99",
       "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: "
       "99\r\n\r\n",
       426},
      {"a WebSocket upgrade without a version",
       "GET /ws HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\r\n", 426},
  };
  for (const HeadCase& c : cases) {
    std::optional<HeadRefusal> r = ScreenRequestHead(c.head);
    EXPECT_EQ(r ? r->status : 0, c.status) << c.what << (r ? ": " + r->message : "");
  }
}

TEST(LwsWorkaroundsTest, AHeadThatFillsTheScreenWithoutEndingIsTooLarge) {
  std::string head = "GET / HTTP/1.1\r\nX-Big: " + std::string(8000, 'a');
  EXPECT_FALSE(ScreenRequestHead(head, /*buffer_full=*/false)) << "more may come";
  auto r = ScreenRequestHead(head, /*buffer_full=*/true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  auto line = ScreenRequestHead("GET /" + std::string(8192, 'a'), true);
  ASSERT_TRUE(line);
  EXPECT_EQ(line->status, 431);
}

}  // namespace
}  // namespace newsreel::streaming
