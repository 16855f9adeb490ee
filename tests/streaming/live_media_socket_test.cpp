// /ws/live/<id> over a real socket: the server in this process, a synthetic producer pushing
// into the stream's ring, and a WebSocket client written here that reads slowly on purpose.
// What a viewer of a live stream must see: the init segment, then frames in order, resuming at
// a keyframe after falling behind, never disconnected, and the server's memory not growing with
// what the viewer missed.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

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

int64_t ResidentKb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  return 0;
}

// A minimal WebSocket client (RFC 6455) for binary messages from a server.
class WsClient {
 public:
  // Connects and upgrades; `status_line` gets the server's answer's first line.
  bool Connect(int port, const std::string& path, std::string* status_line, int rcvbuf = 0) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf > 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    timeval tv{30, 0};  // a guard against a hang, not a timing bound
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return false;
    const std::string req = "GET " + path +
                            " HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                            "Sec-WebSocket-Version: 13\r\n\r\n";
    if (send(fd_, req.data(), req.size(), 0) != static_cast<ssize_t>(req.size())) return false;
    while (buf_.find("\r\n\r\n") == std::string::npos) {
      if (!Fill()) break;
    }
    *status_line = buf_.substr(0, buf_.find("\r\n"));
    const size_t end = buf_.find("\r\n\r\n");
    buf_.erase(0, end == std::string::npos ? buf_.size() : end + 4);
    return status_line->find(" 101 ") != std::string::npos;
  }
  ~WsClient() {
    if (fd_ >= 0) close(fd_);
  }

  // Sends raw bytes (a frame the test builds itself, well-formed or not).
  bool SendRaw(const std::string& bytes) {
    return send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }

  // Whether the server ended the connection (a close frame, or the socket closed), as opposed to
  // Next() giving up when the guard timeout ran out.
  bool ended() const { return ended_; }

  // The next binary message, or nullopt when the connection ended.
  std::optional<std::string> Next() {
    for (;;) {
      if (buf_.size() >= 2) {
        const auto b1 = static_cast<unsigned char>(buf_[1]);
        size_t header = 2;
        uint64_t len = b1 & 0x7f;
        if (len == 126 && buf_.size() >= 4) {
          len = (static_cast<unsigned char>(buf_[2]) << 8) | static_cast<unsigned char>(buf_[3]);
          header = 4;
        } else if (len == 127 && buf_.size() >= 10) {
          len = 0;
          for (int i = 2; i < 10; ++i) len = (len << 8) | static_cast<unsigned char>(buf_[i]);
          header = 10;
        } else if (len >= 126) {
          header = 0;  // length not whole yet
        }
        if (header && buf_.size() >= header + len) {
          std::string payload = buf_.substr(header, len);
          const int opcode = static_cast<unsigned char>(buf_[0]) & 0x0f;
          buf_.erase(0, header + len);
          if (opcode == 0x8) {  // close
            ended_ = true;
            return std::nullopt;
          }
          if (opcode == 0x2) return payload;
          continue;  // ping/pong/text: not ours
        }
      }
      if (!Fill()) return std::nullopt;
    }
  }

 private:
  bool Fill() {
    char chunk[65536];
    ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;  // the guard ran out
    if (n <= 0) {
      ended_ = true;  // closed (or reset) by the server
      return false;
    }
    buf_.append(chunk, static_cast<size_t>(n));
    return true;
  }
  int fd_ = -1;
  std::string buf_;
  bool ended_ = false;
};

// A frame: "K" or "D", its number, then filler to `size` bytes.
std::shared_ptr<const std::string> MakeFrame(uint64_t n, bool key, size_t size) {
  std::string f = (key ? "K" : "D") + std::to_string(n) + ":";
  f.resize(size, 'x');
  return std::make_shared<const std::string>(std::move(f));
}

struct Parsed {
  bool key;
  uint64_t n;
};
Parsed Parse(const std::string& payload) {
  return {payload[0] == 'K', std::stoull(payload.substr(1, payload.find(':') - 1))};
}

class LiveMediaSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.data_dir = dir_.root();
    o.port = FreePort();
    o.threads = 1;
    o.worker_concurrency = 0;
    o.idle_timeout_seconds = 1;  // a live viewer is not an idle connection
    port_ = o.port;
    server_ = std::make_unique<Server>(o);
    Status st = server_->Start();
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  void TearDown() override { server_.reset(); }
  testing::TempDataDir dir_{"live"};
  int port_ = 0;
  std::unique_ptr<Server> server_;
};

TEST_F(LiveMediaSocketTest, OnlyAStreamOnAirCanBeWatched) {
  std::string status;
  EXPECT_FALSE(WsClient().Connect(port_, "/ws/live/nobody", &status));
  EXPECT_EQ(status.find(" 101 "), std::string::npos) << status;
  ASSERT_TRUE(server_->live_rings().Open("news1").ok());
  EXPECT_FALSE(WsClient().Connect(port_, "/ws/live/../news1", &status));
  EXPECT_FALSE(WsClient().Connect(port_, "/ws/live/news1/x", &status));
  EXPECT_TRUE(WsClient().Connect(port_, "/ws/live/news1", &status)) << status;
  EXPECT_FALSE(server_->live_rings().Open("bad id").ok());
}

TEST_F(LiveMediaSocketTest, AViewerChoosesARungByQueryTheTopOneByDefault) {
  for (const char* rung : {"360p", "720p", "480p"}) {
    auto ring = server_->live_rings().Open("rungs", {}, rung);
    ASSERT_TRUE(ring.ok());
    ASSERT_TRUE(
        (*ring)->SetInit(std::make_shared<const std::string>(std::string("INIT ") + rung)).ok());
  }
  std::string status;
  WsClient top, low, unknown;
  ASSERT_TRUE(top.Connect(port_, "/ws/live/rungs", &status)) << status;
  EXPECT_EQ(top.Next(), "INIT 720p");
  ASSERT_TRUE(low.Connect(port_, "/ws/live/rungs?rung=360p", &status)) << status;
  EXPECT_EQ(low.Next(), "INIT 360p");
  EXPECT_FALSE(unknown.Connect(port_, "/ws/live/rungs?rung=1080p", &status));
  EXPECT_NE(status.find(" 404 "), std::string::npos) << status;
}

TEST_F(LiveMediaSocketTest, AViewerGetsTheInitThenFramesInOrder) {
  auto ring = server_->live_rings().Open("news1");
  ASSERT_TRUE(ring.ok());
  ASSERT_TRUE((*ring)->SetInit(std::make_shared<const std::string>("INIT")).ok());
  ASSERT_TRUE((*ring)->Push(MakeFrame(1, true, 100), true).ok());
  WsClient viewer;
  std::string status;
  ASSERT_TRUE(viewer.Connect(port_, "/ws/live/news1", &status)) << status;
  EXPECT_EQ(viewer.Next(), "INIT");
  auto first = viewer.Next();
  ASSERT_TRUE(first);
  EXPECT_EQ(Parse(*first).n, 1u);
  for (uint64_t n = 2; n <= 50; ++n) {
    ASSERT_TRUE((*ring)->Push(MakeFrame(n, n % 10 == 1, 1000), n % 10 == 1).ok());
    auto got = viewer.Next();
    ASSERT_TRUE(got) << "frame " << n;
    EXPECT_EQ(Parse(*got).n, n) << "a viewer that keeps up misses nothing";
  }
}

TEST_F(LiveMediaSocketTest, ASlowViewerSkipsToAKeyframeAndTheServerDoesNotHoldWhatItMissed) {
  MediaRingOptions options;
  options.max_frames = 256;
  options.max_bytes = 2 << 20;
  options.max_client_bytes = 512 << 10;
  auto ring = server_->live_rings().Open("flood", options);
  ASSERT_TRUE(ring.ok());
  ASSERT_TRUE((*ring)->SetInit(std::make_shared<const std::string>("INIT")).ok());
  ASSERT_TRUE((*ring)->Push(MakeFrame(1, true, 1000), true).ok());
  WsClient viewer;
  std::string status;
  ASSERT_TRUE(viewer.Connect(port_, "/ws/live/flood", &status, /*rcvbuf=*/4096)) << status;
  ASSERT_EQ(viewer.Next(), "INIT");
  ASSERT_EQ(Parse(*viewer.Next()).n, 1u);

  // The viewer stops reading while 48 MB of frames go by: far more than any socket buffers.
  constexpr size_t kFrameBytes = 32 << 10;
  constexpr uint64_t kLast = 1500;
  const int64_t rss_before = ResidentKb();
  int64_t rss_peak = rss_before;
  for (uint64_t n = 2; n <= kLast; ++n) {
    const bool key = n % 25 == 0 || n == kLast;
    ASSERT_TRUE((*ring)->Push(MakeFrame(n, key, kFrameBytes), key).ok());
    EXPECT_LE((*ring)->bytes(), options.max_bytes);
    if (n % 100 == 0) rss_peak = std::max(rss_peak, ResidentKb());
  }
  const int64_t pushed_kb = static_cast<int64_t>(kLast * kFrameBytes / 1024);
  EXPECT_LT(rss_peak - rss_before, pushed_kb / 2)
      << "the server's memory grew with the frames a slow viewer missed";

  // Now it reads everything: in order, resuming only at keyframes, up to the last frame.
  uint64_t last = 1, received = 0;
  bool gap_seen = false;
  while (last < kLast) {
    auto got = viewer.Next();
    ASSERT_TRUE(got) << "the slow viewer was disconnected after frame " << last;
    Parsed p = Parse(*got);
    ASSERT_GT(p.n, last) << "frames out of order";
    if (p.n != last + 1) {
      gap_seen = true;
      EXPECT_TRUE(p.key) << "after skipping, frame " << p.n << " is not a keyframe";
    }
    last = p.n;
    ++received;
  }
  EXPECT_TRUE(gap_seen);
  EXPECT_LT(received, kLast - 1) << "a viewer that fell behind this far must have skipped";
  EXPECT_GT((*ring)->skipped_frames_total(), 0u);
  EXPECT_EQ(server_->metrics().live_viewers.load(), 1);
  EXPECT_GT(server_->metrics().live_frames_skipped.load(), 0u);
}

TEST_F(LiveMediaSocketTest, AViewerStaysPastTheIdleTimeout) {
  auto ring = server_->live_rings().Open("long");
  ASSERT_TRUE(ring.ok());
  ASSERT_TRUE((*ring)->Push(MakeFrame(1, true, 100), true).ok());
  WsClient viewer;
  std::string status;
  ASSERT_TRUE(viewer.Connect(port_, "/ws/live/long", &status)) << status;
  ASSERT_EQ(Parse(*viewer.Next()).n, 1u);
  // Three times the idle timeout of this server, one frame every 100 ms.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  uint64_t n = 1;
  while (std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the stream's pace
    ASSERT_TRUE((*ring)->Push(MakeFrame(++n, false, 100), false).ok());
    auto got = viewer.Next();
    ASSERT_TRUE(got) << "the viewer was closed after frame " << n - 1;
    EXPECT_EQ(Parse(*got).n, n);
  }
}

TEST_F(LiveMediaSocketTest, EndingAStreamClosesItsViewersAndItsIdCanGoOnAirAgain) {
  auto first = server_->live_rings().Open("council");
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE((*first)->Push(MakeFrame(1, true, 100), true).ok());
  WsClient early;
  std::string status;
  ASSERT_TRUE(early.Connect(port_, "/ws/live/council", &status)) << status;
  ASSERT_EQ(Parse(*early.Next()).n, 1u);
  ASSERT_TRUE((*first)->Push(MakeFrame(2, false, 100), false).ok());
  server_->live_rings().Close("council");
  // What it had is sent, then the connection closes normally.
  auto last = early.Next();
  ASSERT_TRUE(last);
  EXPECT_EQ(Parse(*last).n, 2u);
  EXPECT_EQ(early.Next(), std::nullopt);
  EXPECT_FALSE(WsClient().Connect(port_, "/ws/live/council", &status)) << "off air";

  auto second = server_->live_rings().Open("council");
  ASSERT_TRUE(second.ok());
  EXPECT_NE(second->get(), first->get());
  ASSERT_TRUE((*second)->Push(MakeFrame(100, true, 100), true).ok());
  WsClient late;
  ASSERT_TRUE(late.Connect(port_, "/ws/live/council", &status)) << status;
  ASSERT_EQ(Parse(*late.Next()).n, 100u);
  ASSERT_TRUE((*second)->Push(MakeFrame(101, false, 100), false).ok());
  auto next = late.Next();
  ASSERT_TRUE(next) << "a viewer of the stream on air again is woken by its new ring";
  EXPECT_EQ(Parse(*next).n, 101u);
}

// A client frame: FIN, `opcode`, masked (with a zero mask, so the payload reads as is) unless
// `unmasked`, with `announced` as its length field (the payload sent may be shorter).
std::string ClientFrame(int opcode, const std::string& payload, bool unmasked = false,
                        uint64_t announced = UINT64_MAX) {
  const uint64_t len = announced == UINT64_MAX ? payload.size() : announced;
  std::string f(1, static_cast<char>(0x80 | opcode));
  const char mask_bit = unmasked ? 0 : static_cast<char>(0x80);
  if (len < 126) {
    f += static_cast<char>(mask_bit | static_cast<char>(len));
  } else if (len < 65536) {
    f += static_cast<char>(mask_bit | 126);
    f += static_cast<char>(len >> 8);
    f += static_cast<char>(len & 0xff);
  } else {
    f += static_cast<char>(mask_bit | 127);
    for (int shift = 56; shift >= 0; shift -= 8) f += static_cast<char>((len >> shift) & 0xff);
  }
  if (!unmasked) f += std::string(4, '\0');
  return f + payload;
}

TEST_F(LiveMediaSocketTest, AClientThatSendsAnythingIsDisconnectedAndOthersAreNot) {
  ASSERT_TRUE(server_->live_rings().Open("news1").ok());
  const struct {
    const char* what;
    std::string bytes;
  } cases[] = {
      {"a text message", ClientFrame(0x1, "hello")},
      {"an unmasked frame", ClientFrame(0x2, "data", /*unmasked=*/true)},
      {"a reserved opcode", ClientFrame(0x3, "x")},
      {"a frame announcing 2^63 bytes", ClientFrame(0x2, std::string(64, 'a'), false, 1ull << 63)},
      {"a 16 MB frame", ClientFrame(0x2, std::string(16 << 20, 'a'))},
      {"100,000 tiny frames",
       [] {
         std::string many;
         for (int i = 0; i < 100'000; ++i) many += ClientFrame(0x2, "x");
         return many;
       }()},
  };
  for (const auto& c : cases) {
    for (const char* path : {"/ws", "/ws/live/news1"}) {
      WsClient client;
      std::string status;
      ASSERT_TRUE(client.Connect(port_, path, &status)) << status;
      client.SendRaw(c.bytes);  // the server may close before it has all of it
      // Everything it still sends, up to its close: the connection must end.
      while (client.Next()) {
      }
      EXPECT_TRUE(client.ended()) << c.what << " on " << path << ": the server kept the connection";
    }
  }
  // The server still serves: a viewer that says nothing is kept.
  auto ring = server_->live_rings().Find("news1");
  ASSERT_TRUE(ring->Push(MakeFrame(1, true, 100), true).ok());
  WsClient quiet;
  std::string status;
  ASSERT_TRUE(quiet.Connect(port_, "/ws/live/news1", &status)) << status;
  auto frame = quiet.Next();
  ASSERT_TRUE(frame);
  EXPECT_EQ(Parse(*frame).n, 1u);
}

}  // namespace
}  // namespace newsreel::streaming
