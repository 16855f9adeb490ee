// The SRT ingest listener with real callers we did not write: ffmpeg's libsrt protocol and
// GStreamer's srtsink push MPEG-TS into it (x264 + AAC from lavfi / videotestsrc, or real footage
// relayed with -c copy); ffmpeg and raw libsrt callers pull it back out; ffprobe checks what
// arrived. Every wait ends as soon as its event (bytes, a callback, an exit) happens; the
// deadline is a failure guard only. The process's stderr (our log and libsrt's) is captured and
// searched for every key and passphrase used.
#include "streaming/internal/srt_ingest.h"
#include "tests/common/capture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <srt/srt.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace newsreel::streaming {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr auto kDeadline = 60s;  // failure guard only

// The streams the test authorizer knows: key -> (stream, passphrase, replace_live).
struct TestStream {
  std::string stream;
  std::string passphrase;
  bool replace_live = false;
};
const std::map<std::string, TestStream> kStreams = {
    {"GOODKEY0123", {"abc", "", false}},
    {"SECUREKEY0123", {"sec", "correct-horse-battery", false}},
    {"REPLACEKEY0123", {"rep", "", true}},
};
const char* const kSecrets[] = {"GOODKEY0123",           "SECUREKEY0123", "REPLACEKEY0123",
                                "correct-horse-battery", "WRONGKEY0123",  "wrong-passphrase-99"};

// Everything the listener reports, for the test thread to wait on.
class Recorder {
 public:
  SrtIngestCallbacks Callbacks() {
    SrtIngestCallbacks c;
    c.on_puller_connect = [this](const SrtConnectionInfo& info) {
      std::lock_guard lock(mu_);
      puller_connects_.push_back(info);
      cv_.notify_all();
    };
    c.on_puller_disconnect = [this](const SrtConnectionInfo& info, const std::string& why) {
      std::lock_guard lock(mu_);
      puller_disconnects_.push_back({info, why});
      cv_.notify_all();
    };
    c.on_connect = [this](const SrtConnectionInfo& info) {
      std::lock_guard lock(mu_);
      connects_.push_back(info);
      cv_.notify_all();
    };
    c.on_data = [this](uint64_t id, const std::string& stream, std::span<const uint8_t> bytes) {
      std::lock_guard lock(mu_);
      bytes_[id].append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
      data_stream_[id] = stream;
      cv_.notify_all();
    };
    c.on_disconnect = [this](const SrtConnectionInfo& info, const std::string& why) {
      std::lock_guard lock(mu_);
      disconnects_.push_back({info, why});
      cv_.notify_all();
    };
    c.on_refused = [this](SrtRefusal r, const std::string&) {
      std::lock_guard lock(mu_);
      refusals_.push_back(r);
      cv_.notify_all();
    };
    return c;
  }

  template <typename Pred>
  bool WaitFor(Pred pred) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kDeadline, [&] { return pred(); });
  }
  // Waits for the n-th connect and returns it.
  std::optional<SrtConnectionInfo> WaitConnect(size_t n = 1) {
    if (!WaitFor([&] { return connects_.size() >= n; })) return std::nullopt;
    std::lock_guard lock(mu_);
    return connects_[n - 1];
  }
  bool WaitBytes(uint64_t id, size_t at_least) {
    return WaitFor([&] { return bytes_[id].size() >= at_least; });
  }
  std::optional<std::string> WaitDisconnect(uint64_t id) {
    std::optional<std::string> why;
    WaitFor([&] {
      for (auto& [info, w] : disconnects_) {
        if (info.id == id) why = w;
      }
      return why.has_value();
    });
    return why;
  }
  std::optional<SrtRefusal> WaitRefusal(size_t n = 1) {
    if (!WaitFor([&] { return refusals_.size() >= n; })) return std::nullopt;
    std::lock_guard lock(mu_);
    return refusals_[n - 1];
  }

  size_t Connects() {
    std::lock_guard lock(mu_);
    return connects_.size();
  }
  // Waits for the n-th puller to connect and returns it.
  std::optional<SrtConnectionInfo> WaitPullerConnect(size_t n = 1) {
    if (!WaitFor([&] { return puller_connects_.size() >= n; })) return std::nullopt;
    std::lock_guard lock(mu_);
    return puller_connects_[n - 1];
  }
  std::optional<std::string> WaitPullerDisconnect(uint64_t id) {
    std::optional<std::string> why;
    WaitFor([&] {
      for (auto& [info, w] : puller_disconnects_) {
        if (info.id == id) why = w;
      }
      return why.has_value();
    });
    return why;
  }
  size_t PullerConnects() {
    std::lock_guard lock(mu_);
    return puller_connects_.size();
  }
  size_t Refusals() {
    std::lock_guard lock(mu_);
    return refusals_.size();
  }
  // on_data only ever names connections that on_connect announced.
  bool OnlyConnectedSentBytes() {
    std::lock_guard lock(mu_);
    for (auto& [id, b] : bytes_) {
      bool known = false;
      for (auto& c : connects_) known = known || c.id == id;
      if (!known) return false;
    }
    return true;
  }
  size_t TotalBytes() {
    std::lock_guard lock(mu_);
    size_t n = 0;
    for (auto& [id, b] : bytes_) n += b.size();
    return n;
  }
  std::string Bytes(uint64_t id) {
    std::lock_guard lock(mu_);
    return bytes_[id];
  }
  std::string DataStream(uint64_t id) {
    std::lock_guard lock(mu_);
    return data_stream_[id];
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<SrtConnectionInfo> connects_;
  std::vector<std::pair<SrtConnectionInfo, std::string>> disconnects_;
  std::vector<SrtConnectionInfo> puller_connects_;
  std::vector<std::pair<SrtConnectionInfo, std::string>> puller_disconnects_;
  std::vector<SrtRefusal> refusals_;
  std::map<uint64_t, std::string> bytes_;
  std::map<uint64_t, std::string> data_stream_;
};

// A child process (under coreutils `timeout`, a guard) with stdout and stderr in a file.
class Process {
 public:
  Process(std::vector<std::string> argv, fs::path log) : log_(std::move(log)) {
    std::vector<std::string> full = {"timeout", "-s", "INT", "-k", "10", "120"};
    full.insert(full.end(), argv.begin(), argv.end());
    std::vector<char*> args;
    for (auto& a : full) args.push_back(a.data());
    args.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    // A process group of its own (timeout's pid), so that the destructor ends the encoder too.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    if (posix_spawnp(&pid_, "timeout", &fa, &attr, args.data(), environ) != 0) pid_ = -1;
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
  }
  ~Process() {
    if (pid_ > 0 && !exited_) {
      kill(-pid_, SIGKILL);
      Wait();
    }
  }
  bool started() const { return pid_ > 0; }
  // Asks the encoder to finish (timeout forwards the signal).
  void Interrupt() { kill(pid_, SIGINT); }
  // Blocks until the process ends; its exit code (128 + signal when killed).
  int Wait() {
    if (!exited_) {
      int status = 0;
      waitpid(pid_, &status, 0);
      exited_ = true;
      code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    return code_;
  }
  std::string Output() const {
    std::ifstream in(log_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  fs::path log_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int code_ = -1;
};

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Waits for a condition no callback announces (a port bound by another process), checking it
// every 10 ms, up to the deadline.
template <typename Pred>
bool Poll(Pred pred) {
  const auto end = std::chrono::steady_clock::now() + kDeadline;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// Runs a command to its end and returns its stdout.
using newsreel::test_support::Capture;

// ffmpeg 5.1 prints libsrt's own line, "REJECT reported from HS processing: <reason>": the
// reason is "Application-defined rejection reason" for our codes, "Incorrect passphrase" and
// "Password required or unexpected" for libsrt's.
bool SaysRejected(std::string out) {
  for (char& c : out) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return out.find("reject") != std::string::npos;
}

// The reject reason a libsrt caller receives (what srt-live-transmit and GStreamer's srtsink
// read with srt_getrejectreason): ffmpeg 5.1 does not print the number. 0 when connected.
// libsrt is the library every encoder here uses; the caller's stream id is sent as given, so
// this also carries bytes that ffmpeg's URL would not (control bytes).
int RejectReasonSeenByCaller(int port, const std::string& stream_id,
                             const std::string& passphrase = "") {
  srt_startup();
  SRTSOCKET s = srt_create_socket();
  const bool yes = true;
  srt_setsockflag(s, SRTO_SENDER, &yes, sizeof yes);
  if (!stream_id.empty()) {
    srt_setsockflag(s, SRTO_STREAMID, stream_id.data(), static_cast<int>(stream_id.size()));
  }
  if (!passphrase.empty()) {
    srt_setsockflag(s, SRTO_PASSPHRASE, passphrase.data(), static_cast<int>(passphrase.size()));
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  int reason = 0;
  if (srt_connect(s, reinterpret_cast<sockaddr*>(&to), sizeof to) == SRT_ERROR) {
    reason = srt_getrejectreason(s);
  }
  srt_close(s);
  srt_cleanup();
  return reason;
}

// A puller on libsrt itself, as broadcasters' gateways and srt-live-transmit pull: it connects
// in the constructor (m=request stream id, passphrase, optionally a tiny receive buffer) and
// reads only when asked, so that a test can also make one that never reads.
class RawPuller {
 public:
  RawPuller(int port, const std::string& stream_id, const std::string& passphrase,
            int receive_buffer_bytes = 0) {
    srt_startup();
    sock_ = srt_create_socket();
    srt_setsockflag(sock_, SRTO_STREAMID, stream_id.data(), static_cast<int>(stream_id.size()));
    if (!passphrase.empty()) {
      srt_setsockflag(sock_, SRTO_PASSPHRASE, passphrase.data(),
                      static_cast<int>(passphrase.size()));
    }
    if (receive_buffer_bytes > 0) {
      // Flow control: libsrt's sender on the server never has more in flight than this.
      buffer_set_ = srt_setsockflag(sock_, SRTO_RCVBUF, &receive_buffer_bytes,
                                    sizeof receive_buffer_bytes) == 0;
    }
    const int timeout_ms = 1000;  // each read; Read() loops up to the deadline
    srt_setsockflag(sock_, SRTO_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    if (srt_connect(sock_, reinterpret_cast<sockaddr*>(&to), sizeof to) == SRT_ERROR) {
      reject_reason_ = srt_getrejectreason(sock_);
    } else {
      connected_ = true;
    }
  }
  ~RawPuller() {
    srt_close(sock_);
    srt_cleanup();
  }
  bool connected() const { return connected_; }
  bool buffer_set() const { return buffer_set_; }
  int reject_reason() const { return reject_reason_; }

  // Reads until `bytes()` holds at least `n` bytes; false if the connection ends or the
  // deadline passes first.
  bool ReadAtLeast(size_t n) {
    const auto end = std::chrono::steady_clock::now() + kDeadline;
    char buf[1500];
    while (bytes_.size() < n) {
      if (std::chrono::steady_clock::now() > end) return false;
      int got = srt_recvmsg(sock_, buf, sizeof buf);
      if (got < 0) {
        const int error = srt_getlasterror(nullptr);
        if (error == SRT_ETIMEOUT || error == SRT_EASYNCRCV) continue;  // the 1 s read timeout
        return false;
      }
      bytes_.append(buf, static_cast<size_t>(got));
    }
    return true;
  }
  const std::string& bytes() const { return bytes_; }

 private:
  SRTSOCKET sock_ = SRT_INVALID_SOCK;
  bool connected_ = false;
  bool buffer_set_ = false;
  int reject_reason_ = 0;
  std::string bytes_;
};

int TsPid(const std::string& ts, size_t at) {
  return ((static_cast<uint8_t>(ts[at + 1]) & 0x1f) << 8) | static_cast<uint8_t>(ts[at + 2]);
}
bool TsRandomAccess(const std::string& ts, size_t at) {
  const auto b = [&](size_t i) { return static_cast<uint8_t>(ts[at + i]); };
  return (b(3) & 0x20) && b(4) > 0 && (b(5) & 0x40) && (b(1) & 0x40);
}

// Whether `ts` is a run of whole MPEG-TS packets, each starting with the 0x47 sync byte.
::testing::AssertionResult IsTransportStream(const std::string& ts) {
  if (ts.empty()) return ::testing::AssertionFailure() << "no bytes";
  if (ts.size() % 188 != 0) {
    return ::testing::AssertionFailure() << ts.size() << " bytes is not a multiple of 188";
  }
  for (size_t i = 0; i < ts.size(); i += 188) {
    if (static_cast<uint8_t>(ts[i]) != 0x47) {
      return ::testing::AssertionFailure() << "no sync byte at offset " << i;
    }
  }
  return ::testing::AssertionSuccess();
}

class SrtIngestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("srt_ingest_test_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    // Our log and libsrt's go to stderr: capture them to look for secrets in TearDown.
    fflush(stderr);
    saved_stderr_ = dup(2);
    int fd = open((dir_ / "stderr.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    close(fd);
  }

  void TearDown() override {
    ingest_.reset();
    fflush(stderr);
    dup2(saved_stderr_, 2);
    close(saved_stderr_);
    const std::string log = ReadFile(dir_ / "stderr.log");
    for (const char* secret : kSecrets) {
      EXPECT_EQ(log.find(secret), std::string::npos) << "a secret in the log:\n" << log;
    }
    if (HasFailure()) std::cerr << "--- the listener's log ---\n" << log;
    fs::remove_all(dir_);
  }

  void StartIngest(int max_connections = 64) {
    StartIngest([&](SrtIngestOptions& o) { o.max_connections = max_connections; });
  }
  void StartIngest(const std::function<void(SrtIngestOptions&)>& tweak) {
    SrtIngestOptions options;
    options.bind_address = "127.0.0.1";
    options.port = 0;
    tweak(options);
    // What the lead's authorizer does, from memory: a publisher by its key, a puller by r=
    // with the stream's passphrase.
    auto authorizer = [this](const ParsedStreamId& id, std::string* passphrase) {
      {
        std::lock_guard lock(seen_mu_);
        seen_.push_back(id);
      }
      if (id.mode == StreamMode::kRequest) {
        for (const auto& [key, s] : kStreams) {
          if (s.stream != id.resource) continue;
          *passphrase = s.passphrase;
          return SrtDecision::Accept(s.stream);
        }
        return SrtDecision::Refuse(SrtDecision::Verdict::kNotFound);
      }
      static const std::set<std::string> kKnown = {"abc", "sec", "rep"};
      if (!id.resource.empty() && kKnown.count(id.resource) == 0) {
        return SrtDecision::Refuse(SrtDecision::Verdict::kNotFound);
      }
      auto it = kStreams.find(id.key);
      if (it == kStreams.end()) return SrtDecision::Refuse(SrtDecision::Verdict::kForbidden);
      if (!id.resource.empty() && id.resource != it->second.stream) {
        return SrtDecision::Refuse(SrtDecision::Verdict::kForbidden);
      }
      *passphrase = it->second.passphrase;
      SrtDecision d = SrtDecision::Accept(it->second.stream);
      d.replace_live = it->second.replace_live;
      return d;
    };
    auto started = SrtIngest::Start(options, authorizer, rec_.Callbacks());
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    ingest_ = std::move(started).value();
    ASSERT_GT(ingest_->port(), 0);
  }

  std::string Url(const std::string& query) const {
    return "srt://127.0.0.1:" + std::to_string(ingest_->port()) + "?" + query;
  }

  // ffmpeg as an encoder: 320x240 test pattern in x264 plus a tone in AAC, in MPEG-TS, in real
  // time; `seconds` of it, or until interrupted when 0.
  std::unique_ptr<Process> Ffmpeg(const std::string& query, int seconds, const std::string& name) {
    std::vector<std::string> argv = {"ffmpeg",   "-hide_banner",
                                     "-nostdin", "-loglevel",
                                     "info",     "-re",
                                     "-f",       "lavfi",
                                     "-i",       "testsrc2=size=320x240:rate=25",
                                     "-f",       "lavfi",
                                     "-i",       "sine=frequency=440:sample_rate=48000"};
    if (seconds > 0) argv.insert(argv.end(), {"-t", std::to_string(seconds)});
    argv.insert(argv.end(),
                {"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "50",
                 "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-f", "mpegts", Url(query)});
    auto p = std::make_unique<Process>(argv, dir_ / (name + ".log"));
    EXPECT_TRUE(p->started());
    return p;
  }

  // ffmpeg relaying real footage (H.264 + AAC, a keyframe every second) at its own pace,
  // looped, unchanged (-c copy), as a newsroom's playout or a contribution encoder sends it.
  std::unique_ptr<Process> Relay(const std::string& query, const std::string& name) {
    const std::string media = std::string(NEWSREEL_MEDIA_DIR) + "/jsonize_iphone_rotated.mov";
    auto p = std::make_unique<Process>(
        std::vector<std::string>{"ffmpeg", "-hide_banner", "-nostdin", "-re", "-stream_loop", "-1",
                                 "-i", media, "-c", "copy", "-f", "mpegts", Url(query)},
        dir_ / (name + ".log"));
    EXPECT_TRUE(p->started());
    return p;
  }

  // ffmpeg as a broadcaster's puller: `seconds` of the stream into `file`, unchanged (-c copy).
  std::unique_ptr<Process> Pull(const std::string& query, int seconds, const fs::path& file,
                                const std::string& name) {
    std::vector<std::string> argv = {"ffmpeg", "-hide_banner", "-nostdin", "-y",
                                     "-i",     Url(query),     "-c",       "copy"};
    if (seconds > 0) argv.insert(argv.end(), {"-t", std::to_string(seconds)});
    argv.insert(argv.end(), {"-f", "mpegts", file.string()});
    auto p = std::make_unique<Process>(argv, dir_ / (name + ".log"));
    EXPECT_TRUE(p->started());
    return p;
  }

  // A caller that must be refused: ffmpeg fails and says so; a libsrt caller receives
  // SRT_REJC_PREDEFINED + the code; nothing of either reaches the sink.
  void ExpectRefused(const std::string& stream_id, SrtRefusal expected,
                     const std::string& passphrase = "") {
    SCOPED_TRACE(testing::PrintToString(stream_id));
    const size_t connects = rec_.Connects();
    const size_t refusals = rec_.Refusals();
    std::string query = stream_id.empty() ? "" : "streamid=" + stream_id;
    if (!passphrase.empty()) query += "&passphrase=" + passphrase;
    auto ff = Ffmpeg(query, 0, "refused");
    const int code = ff->Wait();  // ends by itself: refused at connect time
    EXPECT_NE(code, 0) << ff->Output();
    EXPECT_TRUE(SaysRejected(ff->Output())) << ff->Output();
    auto refusal = rec_.WaitRefusal(refusals + 1);
    ASSERT_TRUE(refusal.has_value());
    EXPECT_EQ(static_cast<int>(*refusal), static_cast<int>(expected));

    EXPECT_EQ(RejectReasonSeenByCaller(ingest_->port(), stream_id, passphrase),
              SrtRejectReason(expected));
    EXPECT_EQ(SrtRejectReason(expected), 1000 + static_cast<int>(expected));
    refusal = rec_.WaitRefusal(refusals + 2);
    ASSERT_TRUE(refusal.has_value());
    EXPECT_EQ(static_cast<int>(*refusal), static_cast<int>(expected));
    EXPECT_EQ(rec_.Connects(), connects);
    EXPECT_TRUE(rec_.OnlyConnectedSentBytes());
  }

  fs::path dir_;
  int saved_stderr_ = -1;
  Recorder rec_;
  std::unique_ptr<SrtIngest> ingest_;
  std::mutex seen_mu_;
  std::vector<ParsedStreamId> seen_;  // what the authorizer was asked
};

TEST_F(SrtIngestTest, FfmpegPublishesTransportStreamThatProbes) {
  StartIngest();
  auto ff = Ffmpeg("streamid=#!::r=abc,m=publish,s=GOODKEY0123", 3, "ffmpeg");
  auto c = rec_.WaitConnect();
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->stream, "abc");
  EXPECT_EQ(c->description, "access-control r=abc m=publish key=(11 bytes)");
  EXPECT_EQ(ff->Wait(), 0) << ff->Output();
  auto why = rec_.WaitDisconnect(c->id);
  ASSERT_TRUE(why.has_value());
  EXPECT_EQ(*why, "closed by the caller");

  const std::string ts = rec_.Bytes(c->id);
  EXPECT_EQ(rec_.DataStream(c->id), "abc");
  EXPECT_TRUE(IsTransportStream(ts));
  const fs::path file = dir_ / "received.ts";
  std::ofstream(file, std::ios::binary) << ts;
  const std::string probe = Capture(
      "ffprobe -v error -show_entries stream=codec_name,width "
      "-show_entries format=duration -of default=nw=1 '" +
      file.string() + "'");
  EXPECT_NE(probe.find("codec_name=h264"), std::string::npos) << probe;
  EXPECT_NE(probe.find("codec_name=aac"), std::string::npos) << probe;
  EXPECT_NE(probe.find("width=320"), std::string::npos) << probe;
  // Three seconds went out; all of them came in (not a fixed bound on time, on content).
  double duration = 0;
  auto at = probe.find("duration=");
  if (at != std::string::npos) duration = std::stod(probe.substr(at + 9));
  EXPECT_GT(duration, 2.5) << probe;

  std::lock_guard lock(seen_mu_);
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].mode, StreamMode::kPublish);
  EXPECT_EQ(seen_[0].key, "GOODKEY0123");
}

TEST_F(SrtIngestTest, EveryStreamIdFormReachesTheSameStream) {
  StartIngest();
  const std::string forms[] = {"streamid=GOODKEY0123", "streamid=live/GOODKEY0123",
                               "streamid=#!::u=reporter,s=GOODKEY0123,h=example.org",
                               // URL-encoded: ffmpeg 5.1 sends it undecoded; we decode it.
                               "streamid=%23%21%3A%3Ar%3Dabc%2Cm%3Dpublish%2Cs%3DGOODKEY0123"};
  size_t n = 0;
  for (const auto& query : forms) {
    SCOPED_TRACE(query);
    ++n;
    auto ff = Ffmpeg(query, 0, "ffmpeg" + std::to_string(n));
    auto c = rec_.WaitConnect(n);
    ASSERT_TRUE(c.has_value()) << ff->Output();
    EXPECT_EQ(c->stream, "abc");
    EXPECT_TRUE(rec_.WaitBytes(c->id, 188 * 100));
    ff->Interrupt();
    ff->Wait();
    ASSERT_TRUE(rec_.WaitDisconnect(c->id).has_value());
    EXPECT_TRUE(IsTransportStream(rec_.Bytes(c->id)));
  }
}

TEST_F(SrtIngestTest, RefusesAtConnectTimeWithAReason) {
  StartIngest();
  ExpectRefused("#!::r=abc,m=publish,s=WRONGKEY0123", SrtRefusal::kForbidden);
  ExpectRefused("WRONGKEY0123", SrtRefusal::kForbidden);
  ExpectRefused("live/WRONGKEY0123", SrtRefusal::kForbidden);
  ExpectRefused("#!::r=nosuchstream,m=publish,s=GOODKEY0123", SrtRefusal::kNotFound);
  ExpectRefused("#!::r=abc,m=publish", SrtRefusal::kUnauthorized);  // no key
  ExpectRefused("", SrtRefusal::kUnauthorized);                     // no stream id at all
  ExpectRefused("live/", SrtRefusal::kUnauthorized);
  ExpectRefused("#!::r=abc,m=play,s=GOODKEY0123", SrtRefusal::kBadMode);
  ExpectRefused("app/GOODKEY0123", SrtRefusal::kBadRequest);
  ExpectRefused("#!::r=abc,s=GOODKEY0123,s=WRONGKEY0123", SrtRefusal::kBadRequest);
  // A key right for another stream than r= names.
  ExpectRefused("#!::r=sec,m=publish,s=GOODKEY0123", SrtRefusal::kForbidden);
  // ffmpeg sends its URL's bytes as they are ("%0A" stays three bytes): control bytes come
  // from a libsrt caller only.
  EXPECT_EQ(RejectReasonSeenByCaller(ingest_->port(), "GOODKEY0123\n"),
            SrtRejectReason(SrtRefusal::kBadRequest));
  EXPECT_EQ(RejectReasonSeenByCaller(ingest_->port(), std::string("#!::s=GOODKEY0123\x01")),
            SrtRejectReason(SrtRefusal::kBadRequest));
  EXPECT_EQ(rec_.Connects(), 0u);
}

TEST_F(SrtIngestTest, PullRequestIsToldApartFromPublish) {
  StartIngest();
  const size_t refusals = rec_.Refusals();
  // ffmpeg as a puller (m=request) of a stream without a passphrase: pulling it is off. The
  // key it sends changes nothing: the authorizer was asked for a puller, by r=.
  Process pull({"ffmpeg", "-hide_banner", "-nostdin", "-i",
                Url("streamid=#!::r=abc,m=request,s=GOODKEY0123&mode=caller"), "-f", "null", "-"},
               dir_ / "pull.log");
  EXPECT_NE(pull.Wait(), 0);
  EXPECT_TRUE(SaysRejected(pull.Output())) << pull.Output();
  auto refusal = rec_.WaitRefusal(refusals + 1);
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(*refusal, SrtRefusal::kForbidden);
  EXPECT_EQ(rec_.Connects(), 0u);
  EXPECT_EQ(rec_.PullerConnects(), 0u);
  std::lock_guard lock(seen_mu_);
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].mode, StreamMode::kRequest);
  EXPECT_EQ(seen_[0].resource, "abc");
}

TEST_F(SrtIngestTest, FfmpegPullsTheSourceWithThePassphrase) {
  StartIngest();
  auto publisher = Relay("streamid=SECUREKEY0123&passphrase=correct-horse-battery", "publisher");
  auto c = rec_.WaitConnect();
  ASSERT_TRUE(c.has_value()) << publisher->Output();
  ASSERT_TRUE(rec_.WaitBytes(c->id, 188 * 100));

  const fs::path file = dir_ / "pulled.ts";
  auto pull =
      Pull("streamid=#!::r=sec,m=request&passphrase=correct-horse-battery", 3, file, "pull");
  auto p = rec_.WaitPullerConnect();
  ASSERT_TRUE(p.has_value()) << pull->Output();
  EXPECT_EQ(p->stream, "sec");
  EXPECT_EQ(p->description, "access-control r=sec m=request no key");
  EXPECT_EQ(pull->Wait(), 0) << pull->Output();
  EXPECT_EQ(rec_.WaitPullerDisconnect(p->id), "closed by the caller");

  const std::string probe = Capture(
      "ffprobe -v error -show_entries stream=codec_type,codec_name "
      "-show_entries format=duration -of default=nw=1 '" +
      file.string() + "'");
  EXPECT_NE(probe.find("codec_name=h264"), std::string::npos) << probe;
  EXPECT_NE(probe.find("codec_type=video"), std::string::npos) << probe;
  EXPECT_NE(probe.find("codec_name=aac"), std::string::npos) << probe;
  EXPECT_NE(probe.find("codec_type=audio"), std::string::npos) << probe;
  double duration = 0;
  auto at = probe.find("duration=");
  if (at != std::string::npos) duration = std::stod(probe.substr(at + 9));
  EXPECT_GT(duration, 0) << probe;
  // The pulled video opens on a keyframe and decodes without an error.
  const std::string frames =
      Capture("ffprobe -v error -select_streams v:0 -show_entries frame=key_frame -of csv=p=0 '" +
              file.string() + "' 2>&1");
  EXPECT_EQ(frames.substr(0, 2), "1\n") << frames;
  EXPECT_EQ(frames.find("rror"), std::string::npos) << frames;

  // The publisher never noticed.
  const size_t before = rec_.Bytes(c->id).size();
  EXPECT_TRUE(rec_.WaitBytes(c->id, before + 188 * 100));
  EXPECT_TRUE(ingest_->PullerStats().empty());
  EXPECT_EQ(rec_.Connects(), 1u);
}

TEST_F(SrtIngestTest, PullerGetsTheTablesThenAKeyframeThenTheBytesUnchanged) {
  StartIngest();
  auto publisher = Relay("streamid=SECUREKEY0123&passphrase=correct-horse-battery", "publisher");
  auto c = rec_.WaitConnect();
  ASSERT_TRUE(c.has_value()) << publisher->Output();
  ASSERT_TRUE(rec_.WaitBytes(c->id, 188 * 100));
  RawPuller puller(ingest_->port(), "#!::r=sec,m=request", "correct-horse-battery");
  ASSERT_TRUE(puller.connected()) << puller.reject_reason();
  ASSERT_TRUE(puller.ReadAtLeast(188 * 400));
  const std::string& got = puller.bytes();
  ASSERT_TRUE(IsTransportStream(got.substr(0, got.size() - got.size() % 188)));
  // PAT, PMT (ffmpeg's PMT PID), then a keyframe of the video (ffmpeg's first PID).
  EXPECT_EQ(TsPid(got, 0), 0);
  EXPECT_EQ(TsPid(got, 188), 0x1000);
  EXPECT_EQ(TsPid(got, 376), 0x100);
  EXPECT_TRUE(TsRandomAccess(got, 376));
  // After the tables, the bytes are the publisher's, unchanged and in order. (The puller may
  // have read a message or so past what the sink has been handed: compare what both hold.)
  const std::string rest = got.substr(376, 188 * 300);
  ASSERT_TRUE(rec_.WaitBytes(c->id, rec_.Bytes(c->id).size() + 188 * 50));
  EXPECT_NE(rec_.Bytes(c->id).find(rest), std::string::npos);

  auto stats = ingest_->PullerStats();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(ingest_->PullerCount("sec"), 1);
  EXPECT_EQ(ingest_->PullerCount("abc"), 0);
  EXPECT_NE(stats[0].info.peer.find("127.0.0.1:"), std::string::npos);
  // Figures are sampled once a second: wait for one taken while bytes flow.
  ASSERT_TRUE(rec_.WaitFor([&] {
    stats = ingest_->PullerStats();
    return stats.size() == 1 && stats[0].bytes_sent > 0 && stats[0].packets_sent > 0;
  }));
  EXPECT_TRUE(stats[0].receiving);
  EXPECT_GE(stats[0].rtt_ms, 0);
  EXPECT_EQ(stats[0].packets_dropped, 0);
  std::cout << "puller stats: sent " << stats[0].bytes_sent << " bytes, " << stats[0].packets_sent
            << " packets, retransmitted " << stats[0].packets_retransmitted << ", dropped "
            << stats[0].packets_dropped << ", rtt " << stats[0].rtt_ms << " ms\n";
}

TEST_F(SrtIngestTest, GStreamerSrtsrcPulls) {
  StartIngest();
  auto publisher = Relay("streamid=SECUREKEY0123&passphrase=correct-horse-battery", "publisher");
  ASSERT_TRUE(rec_.WaitConnect().has_value()) << publisher->Output();
  // srtsrc's streamid property (a '#' in its URI would be read as a fragment); 300 messages.
  const fs::path file = dir_ / "gst.ts";
  Process gst(
      {"gst-launch-1.0", "-e", "srtsrc", "uri=srt://127.0.0.1:" + std::to_string(ingest_->port()),
       "streamid=#!::r=sec,m=request", "passphrase=correct-horse-battery", "num-buffers=300", "!",
       "filesink", "location=" + file.string()},
      dir_ / "gst.log");
  auto p = rec_.WaitPullerConnect();
  ASSERT_TRUE(p.has_value()) << gst.Output();
  EXPECT_EQ(gst.Wait(), 0) << gst.Output();
  EXPECT_TRUE(rec_.WaitPullerDisconnect(p->id).has_value());
  const std::string probe = Capture(
      "ffprobe -v error -show_entries stream=codec_name -of default=nw=1 '" + file.string() + "'");
  EXPECT_NE(probe.find("codec_name=h264"), std::string::npos) << probe;
  EXPECT_NE(probe.find("codec_name=aac"), std::string::npos) << probe;
}

TEST_F(SrtIngestTest, PullerWithoutThePassphraseOrWithAWrongOneIsRefused) {
  StartIngest();
  auto publisher = Relay("streamid=SECUREKEY0123&passphrase=correct-horse-battery", "publisher");
  auto c = rec_.WaitConnect();
  ASSERT_TRUE(c.has_value()) << publisher->Output();
  for (std::string query : {"streamid=#!::r=sec,m=request&passphrase=wrong-passphrase-99",
                            "streamid=#!::r=sec,m=request"}) {
    SCOPED_TRACE(query);
    auto pull = Pull(query, 2, dir_ / "refused.ts", "refused");
    EXPECT_NE(pull->Wait(), 0);
    EXPECT_TRUE(SaysRejected(pull->Output())) << pull->Output();
  }
  // libsrt's own reasons, as a libsrt puller reads them; then ours.
  EXPECT_EQ(
      RawPuller(ingest_->port(), "#!::r=sec,m=request", "wrong-passphrase-99").reject_reason(),
      SRT_REJ_BADSECRET);
  EXPECT_EQ(RawPuller(ingest_->port(), "#!::r=sec,m=request", "").reject_reason(),
            SRT_REJ_UNSECURE);
  // A stream without a passphrase cannot be pulled, even with one.
  EXPECT_EQ(
      RawPuller(ingest_->port(), "#!::r=abc,m=request", "correct-horse-battery").reject_reason(),
      SrtRejectReason(SrtRefusal::kForbidden));
  EXPECT_EQ(RawPuller(ingest_->port(), "#!::r=nosuchstream,m=request", "correct-horse-battery")
                .reject_reason(),
            SrtRejectReason(SrtRefusal::kNotFound));
  EXPECT_EQ(RawPuller(ingest_->port(), "#!::m=request", "correct-horse-battery").reject_reason(),
            SrtRejectReason(SrtRefusal::kBadRequest));
  EXPECT_EQ(RawPuller(ingest_->port(), "#!::r=sec,m=bidirectional,s=SECUREKEY0123",
                      "correct-horse-battery")
                .reject_reason(),
            SrtRejectReason(SrtRefusal::kBadMode));
  EXPECT_EQ(rec_.PullerConnects(), 0u);
  EXPECT_TRUE(ingest_->PullerStats().empty());
  // The publisher carried on throughout.
  const size_t before = rec_.Bytes(c->id).size();
  EXPECT_TRUE(rec_.WaitBytes(c->id, before + 188 * 100));
  EXPECT_EQ(rec_.Connects(), 1u);
}

TEST_F(SrtIngestTest, TwoFfmpegPullersAtOnceBothReceiveAndAThirdIsOverTheLimit) {
  StartIngest([](SrtIngestOptions& o) { o.max_pullers_per_stream = 2; });
  auto publisher = Relay("streamid=SECUREKEY0123&passphrase=correct-horse-battery", "publisher");
  auto c = rec_.WaitConnect();
  ASSERT_TRUE(c.has_value()) << publisher->Output();
  const std::string query = "streamid=#!::r=sec,m=request&passphrase=correct-horse-battery";
  // Three seconds each, both connected at once (ffmpeg probes its input before it writes
  // anything) while a third knocks.
  auto a = Pull(query, 3, dir_ / "a.ts", "a");
  auto b = Pull(query, 3, dir_ / "b.ts", "b");
  auto pa = rec_.WaitPullerConnect(1);
  auto pb = rec_.WaitPullerConnect(2);
  ASSERT_TRUE(pa.has_value() && pb.has_value()) << a->Output() << b->Output();
  EXPECT_EQ(ingest_->PullerCount("sec"), 2);
  EXPECT_EQ(
      RawPuller(ingest_->port(), "#!::r=sec,m=request", "correct-horse-battery").reject_reason(),
      SrtRejectReason(SrtRefusal::kOverload));
  EXPECT_EQ(a->Wait(), 0) << a->Output();
  EXPECT_EQ(b->Wait(), 0) << b->Output();
  EXPECT_EQ(rec_.WaitPullerDisconnect(pa->id), "closed by the caller");
  EXPECT_EQ(rec_.WaitPullerDisconnect(pb->id), "closed by the caller");
  for (const char* name : {"a.ts", "b.ts"}) {
    SCOPED_TRACE(name);
    const std::string probe = Capture(
        "ffprobe -v error -show_entries stream=codec_name -show_entries format=duration "
        "-of default=nw=1 '" +
        (dir_ / name).string() + "'");
    EXPECT_NE(probe.find("codec_name=h264"), std::string::npos) << probe;
    EXPECT_NE(probe.find("codec_name=aac"), std::string::npos) << probe;
    auto at = probe.find("duration=");
    ASSERT_NE(at, std::string::npos) << probe;
    EXPECT_GT(std::stod(probe.substr(at + 9)), 2.0) << probe;
  }
}

TEST_F(SrtIngestTest, PullerLimitOverAllStreams) {
  StartIngest([](SrtIngestOptions& o) { o.max_pullers = 1; });
  // With nobody publishing, a puller waits, connected.
  RawPuller first(ingest_->port(), "#!::r=sec,m=request", "correct-horse-battery");
  ASSERT_TRUE(first.connected()) << first.reject_reason();
  ASSERT_TRUE(rec_.WaitPullerConnect().has_value());
  EXPECT_EQ(
      RawPuller(ingest_->port(), "#!::r=rep,m=request", "correct-horse-battery").reject_reason(),
      SrtRejectReason(SrtRefusal::kForbidden));  // judged before the limit: no passphrase
  EXPECT_EQ(
      RawPuller(ingest_->port(), "#!::r=sec,m=request", "correct-horse-battery").reject_reason(),
      SrtRejectReason(SrtRefusal::kOverload));
  // Publishers do not count against pullers.
  auto publisher = Ffmpeg("streamid=GOODKEY0123", 0, "publisher");
  ASSERT_TRUE(rec_.WaitConnect().has_value()) << publisher->Output();
}

TEST_F(SrtIngestTest, PullerOffWhenMaxPullersIsZero) {
  StartIngest([](SrtIngestOptions& o) { o.max_pullers = 0; });
  EXPECT_EQ(
      RawPuller(ingest_->port(), "#!::r=sec,m=request", "correct-horse-battery").reject_reason(),
      SrtRejectReason(SrtRefusal::kBadMode));
}

TEST_F(SrtIngestTest, PullerWaitsForAPublisherAndStartsOverWithTheNext) {
  StartIngest([](SrtIngestOptions& o) { o.puller_wait_seconds = 2; });
  RawPuller puller(ingest_->port(), "#!::r=sec,m=request", "correct-horse-battery");
  ASSERT_TRUE(puller.connected()) << puller.reject_reason();
  auto p = rec_.WaitPullerConnect();
  ASSERT_TRUE(p.has_value());
  auto stats = ingest_->PullerStats();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_FALSE(stats[0].receiving);
  EXPECT_EQ(stats[0].bytes_sent, 0u);

  // A publisher comes: the waiting puller gets its start.
  {
    auto publisher = Relay("streamid=SECUREKEY0123&passphrase=correct-horse-battery", "first");
    auto c = rec_.WaitConnect();
    ASSERT_TRUE(c.has_value()) << publisher->Output();
    ASSERT_TRUE(puller.ReadAtLeast(188 * 100));
    EXPECT_EQ(TsPid(puller.bytes(), 0), 0);
    EXPECT_TRUE(TsRandomAccess(puller.bytes(), 376));
    publisher->Interrupt();
    publisher->Wait();
    ASSERT_TRUE(rec_.WaitDisconnect(c->id).has_value());
  }
  // The publisher is gone; the puller stays, waiting for the next one.
  EXPECT_EQ(ingest_->PullerCount("sec"), 1);
  auto publisher = Relay("streamid=SECUREKEY0123&passphrase=correct-horse-battery", "second");
  auto c = rec_.WaitConnect(2);
  ASSERT_TRUE(c.has_value()) << publisher->Output();
  // The next publisher starts it over: after what the first sent, the tables and a keyframe
  // again (the bytes of the first publisher's end may still be in flight: look for them).
  const size_t first_part = puller.bytes().size();
  ASSERT_TRUE(puller.ReadAtLeast(first_part + 188 * 100));
  bool restarted = false;
  const std::string& got = puller.bytes();
  for (size_t at = first_part - first_part % 188; at + 3 * 188 <= got.size(); at += 188) {
    if (TsPid(got, at) == 0 && TsPid(got, at + 188) == 0x1000 && TsRandomAccess(got, at + 376)) {
      restarted = true;
      break;
    }
  }
  EXPECT_TRUE(restarted);
  publisher->Interrupt();
  publisher->Wait();
  // Then nobody comes within puller_wait_seconds: it is let go.
  EXPECT_EQ(rec_.WaitPullerDisconnect(p->id), "no publisher");
  EXPECT_TRUE(ingest_->PullerStats().empty());
}

TEST_F(SrtIngestTest, StalledPullerIsDroppedWhileThePublisherAndAnotherPullerCarryOn) {
  StartIngest();
  auto publisher = Relay("streamid=SECUREKEY0123&passphrase=correct-horse-battery", "publisher");
  auto c = rec_.WaitConnect();
  ASSERT_TRUE(c.has_value()) << publisher->Output();
  auto good = Pull("streamid=#!::r=sec,m=request&passphrase=correct-horse-battery", 0,
                   dir_ / "good.ts", "good");
  auto g = rec_.WaitPullerConnect(1);
  ASSERT_TRUE(g.has_value()) << good->Output();
  // A puller that never reads, with a receive buffer of 32 packets: once that is full, libsrt
  // on the server may send it nothing more, and what waits for it grows old.
  RawPuller stalled(ingest_->port(), "#!::r=sec,m=request", "correct-horse-battery", 32 * 1456);
  ASSERT_TRUE(stalled.buffer_set());
  ASSERT_TRUE(stalled.connected()) << stalled.reject_reason();
  auto s = rec_.WaitPullerConnect(2);
  ASSERT_TRUE(s.has_value());
  auto why = rec_.WaitPullerDisconnect(s->id);
  ASSERT_TRUE(why.has_value());
  EXPECT_EQ(why->rfind("fell behind", 0), 0u) << *why;

  // Neither the publisher nor the other puller was held up: both still flow, after the drop.
  const size_t published = rec_.Bytes(c->id).size();
  EXPECT_TRUE(rec_.WaitBytes(c->id, published + 188 * 200));
  uint64_t sent = 0;
  for (const auto& st : ingest_->PullerStats()) sent = st.info.id == g->id ? st.bytes_sent : sent;
  ASSERT_TRUE(rec_.WaitFor([&] {
    for (const auto& st : ingest_->PullerStats()) {
      if (st.info.id == g->id && st.bytes_sent > sent + 188 * 200) return true;
    }
    return false;
  }));
  auto stats = ingest_->PullerStats();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].info.id, g->id);
  EXPECT_EQ(rec_.Connects(), 1u);
  good->Interrupt();
  good->Wait();
  EXPECT_TRUE(rec_.WaitPullerDisconnect(g->id).has_value());
}

TEST_F(SrtIngestTest, DisconnectPullersAndStopEndThem) {
  StartIngest();
  RawPuller a(ingest_->port(), "#!::r=sec,m=request", "correct-horse-battery");
  ASSERT_TRUE(a.connected());
  auto pa = rec_.WaitPullerConnect(1);
  ASSERT_TRUE(pa.has_value());
  auto publisher = Relay("streamid=SECUREKEY0123&passphrase=correct-horse-battery", "publisher");
  auto c = rec_.WaitConnect();
  ASSERT_TRUE(c.has_value()) << publisher->Output();
  ASSERT_TRUE(a.ReadAtLeast(188 * 10));

  ingest_->DisconnectPullers("sec");
  EXPECT_EQ(rec_.WaitPullerDisconnect(pa->id), "disconnected");
  EXPECT_FALSE(a.ReadAtLeast(a.bytes().size() + 1024 * 1024));  // its connection ends
  // The publisher stays.
  const size_t before = rec_.Bytes(c->id).size();
  EXPECT_TRUE(rec_.WaitBytes(c->id, before + 188 * 100));

  RawPuller b(ingest_->port(), "#!::r=sec,m=request", "correct-horse-battery");
  ASSERT_TRUE(b.connected());
  auto pb = rec_.WaitPullerConnect(2);
  ASSERT_TRUE(pb.has_value());
  ingest_->Stop();
  EXPECT_EQ(rec_.WaitPullerDisconnect(pb->id), "shutdown");
  EXPECT_EQ(rec_.WaitDisconnect(c->id), "shutdown");
  EXPECT_TRUE(ingest_->PullerStats().empty());
}

TEST_F(SrtIngestTest, PassphraseOfTheStreamIsRequired) {
  StartIngest();
  // The stream's passphrase: accepted, and the bytes arrive decrypted.
  {
    auto ff = Ffmpeg("streamid=SECUREKEY0123&passphrase=correct-horse-battery", 0, "right");
    auto c = rec_.WaitConnect();
    ASSERT_TRUE(c.has_value()) << ff->Output();
    EXPECT_EQ(c->stream, "sec");
    ASSERT_TRUE(rec_.WaitBytes(c->id, 188 * 100));
    ff->Interrupt();
    ff->Wait();
    ASSERT_TRUE(rec_.WaitDisconnect(c->id).has_value());
    EXPECT_TRUE(IsTransportStream(rec_.Bytes(c->id)));
  }
  const size_t bytes = rec_.TotalBytes();
  // A wrong passphrase and none at all fail the handshake: no connection, no bytes.
  for (std::string query :
       {"streamid=SECUREKEY0123&passphrase=wrong-passphrase-99", "streamid=SECUREKEY0123"}) {
    SCOPED_TRACE(query);
    auto ff = Ffmpeg(query, 0, "wrong");
    EXPECT_NE(ff->Wait(), 0);
    EXPECT_TRUE(SaysRejected(ff->Output())) << ff->Output();
    EXPECT_EQ(rec_.Connects(), 1u);
    EXPECT_EQ(rec_.TotalBytes(), bytes);
  }
  // What a libsrt caller reads: libsrt's own reasons, after our listen callback let it through.
  EXPECT_EQ(RejectReasonSeenByCaller(ingest_->port(), "SECUREKEY0123", "wrong-passphrase-99"),
            SRT_REJ_BADSECRET);
  EXPECT_EQ(RejectReasonSeenByCaller(ingest_->port(), "SECUREKEY0123"), SRT_REJ_UNSECURE);
  EXPECT_EQ(rec_.Connects(), 1u);
  // The failed handshakes hold nothing: the right passphrase works again at once, here with
  // AES-256 (the listener takes the key length the caller offers).
  auto ff =
      Ffmpeg("streamid=SECUREKEY0123&passphrase=correct-horse-battery&pbkeylen=32", 0, "again");
  auto c = rec_.WaitConnect(2);
  ASSERT_TRUE(c.has_value()) << ff->Output();
  EXPECT_TRUE(rec_.WaitBytes(c->id, 188 * 100));
}

TEST_F(SrtIngestTest, SecondPublisherIsRefusedAndTheFirstCarriesOn) {
  StartIngest();
  auto first = Ffmpeg("streamid=#!::r=abc,m=publish,s=GOODKEY0123", 0, "first");
  auto c = rec_.WaitConnect();
  ASSERT_TRUE(c.has_value()) << first->Output();
  ASSERT_TRUE(rec_.WaitBytes(c->id, 188 * 50));

  ExpectRefused("GOODKEY0123", SrtRefusal::kConflict);

  // The first publisher was not disturbed: its bytes keep coming.
  const size_t before = rec_.Bytes(c->id).size();
  EXPECT_TRUE(rec_.WaitBytes(c->id, before + 188 * 100));
  first->Interrupt();
  first->Wait();
  EXPECT_EQ(rec_.WaitDisconnect(c->id), "closed by the caller");
}

TEST_F(SrtIngestTest, ReplacingPublisherTakesOverWhenTheOwnerAskedForIt) {
  StartIngest();
  auto first = Ffmpeg("streamid=REPLACEKEY0123", 0, "first");
  auto a = rec_.WaitConnect();
  ASSERT_TRUE(a.has_value()) << first->Output();
  ASSERT_TRUE(rec_.WaitBytes(a->id, 188 * 50));
  auto second = Ffmpeg("streamid=REPLACEKEY0123", 0, "second");
  auto b = rec_.WaitConnect(2);
  ASSERT_TRUE(b.has_value()) << second->Output();
  EXPECT_EQ(b->stream, "rep");
  EXPECT_EQ(rec_.WaitDisconnect(a->id), "replaced");
  EXPECT_TRUE(rec_.WaitBytes(b->id, 188 * 100));
  // The replaced encoder notices (its connection is gone) and ends by itself.
  EXPECT_NE(first->Wait(), 0);
  auto stats = ingest_->Stats();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].info.id, b->id);
}

TEST_F(SrtIngestTest, StatisticsComeFromSrtCounters) {
  StartIngest();
  auto ff = Ffmpeg("streamid=GOODKEY0123", 0, "ffmpeg");
  auto c = rec_.WaitConnect();
  ASSERT_TRUE(c.has_value()) << ff->Output();
  // Wait for a sample taken while bytes flow.
  std::vector<SrtConnectionStats> stats;
  ASSERT_TRUE(rec_.WaitFor([&] {
    stats = ingest_->Stats();
    return stats.size() == 1 && stats[0].bitrate_bps > 0 && stats[0].packets_received > 10;
  }));
  const auto& s = stats[0];
  EXPECT_EQ(s.info.id, c->id);
  EXPECT_EQ(s.info.stream, "abc");
  EXPECT_NE(s.info.peer.find("127.0.0.1:"), std::string::npos);
  EXPECT_GT(s.bytes_received, 0u);
  EXPECT_GE(s.rtt_ms, 0);
  EXPECT_GE(s.packets_lost, 0);
  EXPECT_GE(s.packets_retransmitted, 0);
  EXPECT_EQ(s.packets_undecrypted, 0);
  std::cout << "stats: bitrate " << s.bitrate_bps / 1000 << " kbit/s, rtt " << s.rtt_ms
            << " ms, packets " << s.packets_received << " lost " << s.packets_lost
            << " retransmitted " << s.packets_retransmitted << "\n";
  ff->Interrupt();
  ff->Wait();
  ASSERT_TRUE(rec_.WaitDisconnect(c->id).has_value());
  EXPECT_TRUE(ingest_->Stats().empty());
}

TEST_F(SrtIngestTest, GStreamerSrtsinkPublishes) {
  StartIngest();
  const std::string uri = "srt://127.0.0.1:" + std::to_string(ingest_->port());
  // srtsink's streamid property (a '#' in its URI would be read as a fragment).
  Process gst({"gst-launch-1.0", "-e", "videotestsrc", "num-buffers=100", "is-live=true", "!",
               "video/x-raw,width=320,height=240,framerate=25/1", "!", "x264enc",
               "tune=zerolatency", "speed-preset=ultrafast", "key-int-max=50", "!", "mpegtsmux",
               "!", "srtsink", "uri=" + uri, "streamid=#!::r=abc,m=publish,s=GOODKEY0123"},
              dir_ / "gst.log");
  auto c = rec_.WaitConnect();
  ASSERT_TRUE(c.has_value()) << gst.Output();
  EXPECT_EQ(gst.Wait(), 0) << gst.Output();
  ASSERT_TRUE(rec_.WaitDisconnect(c->id).has_value());
  const std::string ts = rec_.Bytes(c->id);
  EXPECT_TRUE(IsTransportStream(ts));
  const fs::path file = dir_ / "gst.ts";
  std::ofstream(file, std::ios::binary) << ts;
  const std::string frames = Capture(
      "ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=codec_name,"
      "nb_read_frames -of default=nw=1 '" +
      file.string() + "'");
  EXPECT_NE(frames.find("codec_name=h264"), std::string::npos) << frames;
  // 100 frames went out. The last few may not come in: when the caller closes, libsrt
  // discards what its receive buffer still holds back for the latency (SRTO_RCVLATENCY,
  // ~125 ms here: 96 of 100 frames arrived when measured).
  int frames_read = 0;
  auto at = frames.find("nb_read_frames=");
  if (at != std::string::npos) frames_read = std::stoi(frames.substr(at + 15));
  EXPECT_GE(frames_read, 90) << frames;
  EXPECT_LE(frames_read, 100) << frames;

  // And a wrong key from srtsink: refused, and GStreamer says why.
  Process bad({"gst-launch-1.0", "videotestsrc", "num-buffers=25", "!", "x264enc", "!", "mpegtsmux",
               "!", "srtsink", "uri=" + uri, "streamid=live/WRONGKEY0123"},
              dir_ / "gst-bad.log");
  EXPECT_NE(bad.Wait(), 0);
  EXPECT_EQ(rec_.WaitRefusal(), SrtRefusal::kForbidden);
  EXPECT_EQ(rec_.Connects(), 1u);
  std::cout << "gst-launch on a wrong key:\n" << bad.Output();
}

TEST_F(SrtIngestTest, DisconnectEndsAPublisherAndStopEndsTheRest) {
  StartIngest();
  auto a = Ffmpeg("streamid=GOODKEY0123", 0, "a");
  auto ca = rec_.WaitConnect();
  ASSERT_TRUE(ca.has_value()) << a->Output();
  auto b = Ffmpeg("streamid=SECUREKEY0123&passphrase=correct-horse-battery", 0, "b");
  auto cb = rec_.WaitConnect(2);
  ASSERT_TRUE(cb.has_value()) << b->Output();
  ASSERT_TRUE(rec_.WaitBytes(ca->id, 188 * 10));

  ingest_->Disconnect("abc");
  EXPECT_EQ(rec_.WaitDisconnect(ca->id), "disconnected");
  EXPECT_NE(a->Wait(), 0);  // ffmpeg notices the connection is gone

  ingest_->Stop();
  EXPECT_EQ(rec_.WaitDisconnect(cb->id), "shutdown");
  EXPECT_NE(b->Wait(), 0);
  EXPECT_TRUE(ingest_->Stats().empty());
}

TEST_F(SrtIngestTest, GarbageDatagramsAndTooManyCallersAreSurvived) {
  StartIngest(/*max_connections=*/1);
  // Random bytes at the port, as a scanner sends them.
  int udp = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(ingest_->port()));
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  std::string junk(1400, '\0');
  for (int i = 0; i < 200; ++i) {
    for (size_t j = 0; j < junk.size(); ++j) junk[j] = static_cast<char>((i * 131 + j * 7) & 0xff);
    sendto(udp, junk.data(), junk.size() - (i % 1400), 0, reinterpret_cast<sockaddr*>(&to),
           sizeof to);
  }
  close(udp);
  // Still serving; with one connection allowed, a second caller is refused with 402.
  auto ff = Ffmpeg("streamid=GOODKEY0123", 0, "ffmpeg");
  auto c = rec_.WaitConnect();
  ASSERT_TRUE(c.has_value()) << ff->Output();
  ASSERT_TRUE(rec_.WaitBytes(c->id, 188 * 10));
  ExpectRefused("SECUREKEY0123", SrtRefusal::kOverload, "correct-horse-battery");
}

TEST_F(SrtIngestTest, StartFailsWithAReasonOnATakenPortOrABadAddress) {
  StartIngest();
  SrtIngestOptions same;
  same.bind_address = "127.0.0.1";
  same.port = ingest_->port();
  auto allow = [](const ParsedStreamId&, std::string*) { return SrtDecision::Accept("x"); };
  auto taken = SrtIngest::Start(same, allow, {});
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.status().code(), ErrorCode::kIo) << taken.status().ToString();
  EXPECT_NE(taken.status().message().find(std::to_string(same.port)), std::string::npos);

  // A port another process holds: ffmpeg listening for SRT there (libsrt with SO_REUSEADDR,
  // which would let a second socket share the port silently).
  int udp = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in any{};
  any.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &any.sin_addr);
  socklen_t len = sizeof any;
  ASSERT_EQ(bind(udp, reinterpret_cast<sockaddr*>(&any), len), 0);
  ASSERT_EQ(getsockname(udp, reinterpret_cast<sockaddr*>(&any), &len), 0);
  const int free_port = ntohs(any.sin_port);
  close(udp);
  Process listener(
      {"ffmpeg", "-hide_banner", "-nostdin", "-i",
       "srt://127.0.0.1:" + std::to_string(free_port) + "?mode=listener", "-f", "null", "-"},
      dir_ / "listener.log");
  // Wait until ffmpeg holds the port (its bind is the event; the UDP port shows in /proc).
  auto held = [&] {
    char hex[8];
    snprintf(hex, sizeof hex, ":%04X", free_port);
    std::ifstream in("/proc/net/udp");
    std::string line;
    while (std::getline(in, line)) {
      if (line.find(std::string("0100007F") + hex) != std::string::npos) return true;
    }
    return false;
  };
  ASSERT_TRUE(Poll(held));
  same.port = free_port;
  auto shared = SrtIngest::Start(same, allow, {});
  ASSERT_FALSE(shared.ok());
  EXPECT_EQ(shared.status().code(), ErrorCode::kIo) << shared.status().ToString();

  SrtIngestOptions bad;
  bad.bind_address = "news.example.org";
  auto unresolved = SrtIngest::Start(bad, allow, {});
  ASSERT_FALSE(unresolved.ok());
  EXPECT_EQ(unresolved.status().code(), ErrorCode::kInvalidArgument);

  // The first listener is unharmed.
  auto ff = Ffmpeg("streamid=GOODKEY0123", 0, "ffmpeg");
  auto c = rec_.WaitConnect();
  ASSERT_TRUE(c.has_value()) << ff->Output();
  EXPECT_TRUE(rec_.WaitBytes(c->id, 188 * 10));
}

}  // namespace
}  // namespace newsreel::streaming
