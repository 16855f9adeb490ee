// LL-HLS blocking requests over a real socket: the server in this process with live streaming
// on, a published stream in its catalog, and the files a live worker would write under
// data/live/<id>/ll/<rung>/ written here, each announced through LiveRings::NotePart as the
// live service does when the worker's `part` message comes (the worker itself is tested by
// tests/e2e_server/ll_hls.test.mjs). What a player must see: blocking playlist reloads that
// answer once the part is listed, 400 for what the spec calls bad requests, 503 after three
// target durations, the preload hint's part served once it exists, no-cache on the playlists,
// and /ws/live/<id>?rung= picking a rung.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include "catalog/catalog.h"
#include "catalog/live_stream_repository.h"
#include "streaming/server.h"
#include "tests/streaming/test_data_dir.h"

namespace newsreel::streaming {
namespace {

namespace fs = std::filesystem;

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t n = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  close(fd);
  return ntohs(a.sin_port);
}

struct Response {
  int status = 0;
  std::string head;  // status line and headers, lower-cased names
  std::string body;
  std::string Header(const std::string& name) const {
    const std::string key = "\r\n" + name + ": ";
    size_t at = head.find(key);
    if (at == std::string::npos) return "";
    at += key.size();
    return head.substr(at, head.find("\r\n", at) - at);
  }
};

// One HTTP/1.1 request on its own connection: Send, then Read (which waits, up to a guard that
// only stops a hang, for the whole answer).
class HttpClient {
 public:
  bool Send(int port, const std::string& target, const std::string& method = "GET",
            const std::string& extra_headers = "") {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{60, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return false;
    const std::string req =
        method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n" + extra_headers + "\r\n";
    return send(fd_, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size());
  }
  std::optional<Response> Read() {
    std::string buf;
    char chunk[65536];
    size_t head_end;
    while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
      const ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) return std::nullopt;
      buf.append(chunk, static_cast<size_t>(n));
    }
    Response r;
    r.head = buf.substr(0, head_end + 2);
    for (size_t i = r.head.find("\r\n"); i < r.head.size(); ++i) {
      // Header names to lower case, up to each colon.
      size_t colon = r.head.find(':', i);
      size_t eol = r.head.find("\r\n", i);
      if (colon == std::string::npos || eol == std::string::npos) break;
      for (size_t k = i; k < colon; ++k) r.head[k] = static_cast<char>(std::tolower(r.head[k]));
      i = eol + 1;
    }
    r.status = std::stoi(r.head.substr(9, 3));
    const std::string length = r.Header("content-length");
    const size_t want = length.empty() ? 0 : std::stoul(length);
    r.body = buf.substr(head_end + 4);
    while (r.body.size() < want) {
      const ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) return std::nullopt;
      r.body.append(chunk, static_cast<size_t>(n));
    }
    return r;
  }
  ~HttpClient() {
    if (fd_ >= 0) close(fd_);
  }

 private:
  int fd_ = -1;
};

// A minimal WebSocket upgrade: the status line of the server's answer.
std::string Upgrade(int port, const std::string& path) {
  HttpClient c;
  if (!c.Send(port, path, "GET",
              "Upgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"))
    return "";
  std::optional<Response> r = c.Read();
  return r ? r->head.substr(0, r->head.find("\r\n")) : "";
}

void WriteAtomically(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  const fs::path tmp = path.string() + ".tmp";
  std::ofstream(tmp, std::ios::binary) << bytes;
  fs::rename(tmp, path);
}

// A media playlist as the worker writes it, listing parts up to `msn`.`part`.
std::string PlaylistUpTo(int64_t msn, int part) {
  std::string p =
      "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:1\n#EXT-X-PART-INF:PART-TARGET=0.333\n"
      "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.0\n#EXT-X-MAP:URI=\"init.mp4\"\n"
      "#EXT-X-MEDIA-SEQUENCE:" +
      std::to_string(msn) + "\n";
  for (int k = 0; k <= part; ++k)
    p += "#EXT-X-PART:DURATION=0.333,URI=\"p" + std::to_string(msn) + "." + std::to_string(k) +
         ".m4s\"" + (k == 0 ? ",INDEPENDENT=YES" : "") + "\n";
  p += "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p" + std::to_string(msn) + "." +
       std::to_string(part + 1) + ".m4s\"\n";
  return p;
}

class LlHlsSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    {
      auto cat = catalog::Catalog::Open(dir_.data().catalog().string());
      ASSERT_TRUE(cat.ok()) << cat.status().ToString();
      for (auto [visibility, id] : {std::pair{catalog::Visibility::kPublished, &stream_},
                                    std::pair{catalog::Visibility::kDraft, &draft_}}) {
        catalog::LiveStream row;
        row.title = "ll";
        row.visibility = visibility;
        auto made = (*cat)->live_streams().Create(row);
        ASSERT_TRUE(made.ok()) << made.status().ToString();
        *id = made->stream.id;
      }
    }
    ServerOptions o;
    o.data_dir = dir_.root();
    o.port = FreePort();
    o.threads = 1;
    o.worker_concurrency = 1;
    o.worker_binary = FAKE_WORKER_PATH;  // no live job starts: nobody publishes
    o.srt_port = 0;
    o.srt_host = "127.0.0.1";
    o.live_segment_seconds = segment_seconds_;  // blocking requests time out after 3 of them
    o.max_parked_per_address = 4;
    port_ = o.port;
    server_ = std::make_unique<Server>(o);
    Status st = server_->Start();
    ASSERT_TRUE(st.ok()) << st.ToString();
    rung_dir_ = dir_.data().live() / stream_ / "ll" / "360p";
    WriteAtomically(rung_dir_ / "init.mp4", "INIT");
    WriteAtomically(rung_dir_ / "p3.0.m4s", "PART 3.0");
    WriteAtomically(rung_dir_ / "p3.1.m4s", "PART 3.1");
    WriteAtomically(rung_dir_ / "index.m3u8", PlaylistUpTo(3, 1));
    server_->live_rings().NotePart(stream_, "360p", {3, 1});
  }
  void TearDown() override { server_.reset(); }

  std::string Url(const std::string& rest) const { return "/live/" + stream_ + "/ll/360p/" + rest; }
  // Waits (with a generous guard) until the server holds `n` parked requests.
  void WaitParked(int64_t n) {
    const auto guard = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (server_->metrics().ll_parked_requests.load() != n &&
           std::chrono::steady_clock::now() < guard)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_EQ(server_->metrics().ll_parked_requests.load(), n);
  }

  double segment_seconds_ = 1;
  testing::TempDataDir dir_{"llhls"};
  std::string stream_, draft_;
  fs::path rung_dir_;
  int port_ = 0;
  std::unique_ptr<Server> server_;
};

TEST_F(LlHlsSocketTest, APlaylistAlreadyListingThePartIsAnsweredAtOnceWithoutCaching) {
  HttpClient c;
  ASSERT_TRUE(c.Send(port_, Url("index.m3u8?_HLS_msn=3&_HLS_part=1")));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, PlaylistUpTo(3, 1));
  EXPECT_EQ(r->Header("cache-control"), "no-cache");
  EXPECT_EQ(server_->metrics().ll_parked_requests.load(), 0);
}

TEST_F(LlHlsSocketTest, ABlockingReloadWaitsForThePartThenGetsTheNewPlaylist) {
  HttpClient part2, segment3;
  ASSERT_TRUE(part2.Send(port_, Url("index.m3u8?_HLS_msn=3&_HLS_part=2")));
  ASSERT_TRUE(segment3.Send(port_, Url("index.m3u8?_HLS_msn=3")));  // all of segment 3
  WaitParked(2);
  WriteAtomically(rung_dir_ / "p3.2.m4s", "PART 3.2");
  WriteAtomically(rung_dir_ / "index.m3u8", PlaylistUpTo(3, 2));
  server_->live_rings().NotePart(stream_, "360p", {3, 2});
  auto r = part2.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, PlaylistUpTo(3, 2)) << "the playlist as it is once the part is listed";
  EXPECT_EQ(r->Header("cache-control"), "no-cache");
  WaitParked(1);  // segment 3 is not complete yet
  WriteAtomically(rung_dir_ / "index.m3u8", PlaylistUpTo(4, 0));
  server_->live_rings().NotePart(stream_, "360p", {4, 0});
  r = segment3.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, PlaylistUpTo(4, 0));
  WaitParked(0);
}

TEST_F(LlHlsSocketTest, BadBlockingRequestsAre400) {
  for (const char* query : {"_HLS_part=2", "_HLS_msn=6", "_HLS_msn=x", "_HLS_msn=3&_HLS_part=-1"}) {
    HttpClient c;
    ASSERT_TRUE(c.Send(port_, Url(std::string("index.m3u8?") + query)));
    auto r = c.Read();
    ASSERT_TRUE(r) << query;
    EXPECT_EQ(r->status, 400) << query;
  }
  // Two segments ahead is still a request to wait on (RFC 8216bis): parked.
  HttpClient ahead;
  ASSERT_TRUE(ahead.Send(port_, Url("index.m3u8?_HLS_msn=5")));
  WaitParked(1);
}

TEST_F(LlHlsSocketTest, AWaitThatLastsThreeTargetDurationsIs503) {
  HttpClient c;
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(c.Send(port_, Url("index.m3u8?_HLS_msn=4")));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->Header("retry-after"), "1");
  // Not before the three target durations (3 s here); how much later depends on the machine.
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_EQ(server_->metrics().ll_parked_requests.load(), 0);
}

TEST_F(LlHlsSocketTest, ThePreloadHintsPartIsServedOnceItExists) {
  HttpClient hint;
  ASSERT_TRUE(hint.Send(port_, Url("p3.2.m4s")));
  WaitParked(1);
  // A part further ahead than the hint is no part: 404 at once.
  {
    HttpClient far;
    ASSERT_TRUE(far.Send(port_, Url("p3.5.m4s")));
    auto r = far.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
  }
  WriteAtomically(rung_dir_ / "p3.2.m4s", "PART 3.2");
  WriteAtomically(rung_dir_ / "index.m3u8", PlaylistUpTo(3, 2));
  server_->live_rings().NotePart(stream_, "360p", {3, 2});
  auto r = hint.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "PART 3.2");
  EXPECT_NE(r->Header("cache-control").find("immutable"), std::string::npos);
  // A part on disk is served at once, as any file.
  HttpClient old;
  ASSERT_TRUE(old.Send(port_, Url("p3.0.m4s")));
  r = old.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "PART 3.0");
}

TEST_F(LlHlsSocketTest, WaitingRequestsAreAnsweredWhenTheStreamGoesOffAir) {
  HttpClient playlist, hint;
  ASSERT_TRUE(playlist.Send(port_, Url("index.m3u8?_HLS_msn=3&_HLS_part=2")));
  ASSERT_TRUE(hint.Send(port_, Url("p3.2.m4s")));
  WaitParked(2);
  WriteAtomically(rung_dir_ / "index.m3u8", PlaylistUpTo(3, 1) + "#EXT-X-ENDLIST\n");
  server_->live_rings().Close(stream_);
  auto r = playlist.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("#EXT-X-ENDLIST"), std::string::npos);
  r = hint.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404) << "the part never came";
  // Off air, a blocking request is answered with the playlist as it is.
  HttpClient after;
  ASSERT_TRUE(after.Send(port_, Url("index.m3u8?_HLS_msn=9")));
  r = after.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

// Waits that outlast the test's steps: 6 s segments, 18 s before a 503.
class LlHlsLongWaitTest : public LlHlsSocketTest {
 protected:
  LlHlsLongWaitTest() { segment_seconds_ = 6; }
};

TEST_F(LlHlsLongWaitTest, OneAddressMayHoldOnlySoManyWaiting) {
  std::vector<std::unique_ptr<HttpClient>> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(std::make_unique<HttpClient>());
    ASSERT_TRUE(held.back()->Send(port_, Url("index.m3u8?_HLS_msn=3&_HLS_part=2")));
  }
  WaitParked(4);
  HttpClient one_more;
  ASSERT_TRUE(one_more.Send(port_, Url("index.m3u8?_HLS_msn=3&_HLS_part=2")));
  auto r = one_more.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(server_->metrics().ll_parked_refused.load(), 1u);
  // A connection that goes away frees its place.
  held.pop_back();
  WaitParked(3);
}

TEST_F(LlHlsSocketTest, ADraftStreamIsNotThereForTheAnonymous) {
  const fs::path dir = dir_.data().live() / draft_ / "ll" / "360p";
  WriteAtomically(dir / "index.m3u8", PlaylistUpTo(3, 1));
  server_->live_rings().NotePart(draft_, "360p", {3, 1});
  for (const std::string& rest : {std::string("index.m3u8?_HLS_msn=3&_HLS_part=2"),
                                  std::string("p3.2.m4s"), std::string("index.m3u8")}) {
    HttpClient c;
    ASSERT_TRUE(c.Send(port_, "/live/" + draft_ + "/ll/360p/" + rest));
    auto r = c.Read();
    ASSERT_TRUE(r) << rest;
    EXPECT_EQ(r->status, 404) << rest;
  }
  EXPECT_EQ(server_->metrics().ll_parked_requests.load(), 0);
  auto ring = server_->live_rings().Open(draft_, {}, "360p");
  ASSERT_TRUE(ring.ok());
  EXPECT_EQ(Upgrade(port_, "/ws/live/" + draft_).find(" 101 "), std::string::npos);
}

TEST_F(LlHlsSocketTest, WebSocketViewersChooseARungTheTopOneByDefault) {
  auto low = server_->live_rings().Open(stream_, {}, "360p");
  auto high = server_->live_rings().Open(stream_, {}, "720p");
  ASSERT_TRUE(low.ok() && high.ok());
  EXPECT_NE(Upgrade(port_, "/ws/live/" + stream_).find(" 101 "), std::string::npos);
  EXPECT_NE(Upgrade(port_, "/ws/live/" + stream_ + "?rung=360p").find(" 101 "), std::string::npos);
  EXPECT_NE(Upgrade(port_, "/ws/live/" + stream_ + "?rung=1080p").find(" 404 "), std::string::npos);
  EXPECT_NE(Upgrade(port_, "/ws/live/" + stream_ + "?rung=..%2F").find(" 404 "), std::string::npos);
}

}  // namespace
}  // namespace newsreel::streaming
