// A stand-in for `newsreel transcode` (and other worker kinds) in the supervisor's tests: speaks
// the worker protocol and misbehaves on demand, so that the tests need no media.
//
//   fake_worker transcode INPUT OUTDIR --progress protocol ... [--encoder x264]   (the transcode
//   kind) fake_worker MODE                                                          (other kinds)
// The mode is INPUT's file name, or MODE:
//   ok                     progress, then a result
//   playable               progress, then two progress lines saying playable, then a result
//   bad_input, timed_out   a failure with that code
//   encoder_failed         a failure (encoder_failed) unless run with --encoder x264, then ok
//   encoder_failed_always  a failure (encoder_failed) whatever the encoder
//   crash                  dies by SIGSEGV after some progress
//   stall                  one progress line, then heartbeats only, forever
//   heartbeats_then_ok     heartbeats only (no progress) for 1.5 s, then a result
//   other_lines            a line that is no JSON and a live worker's `part` message, then a
//                          result
//   silent                 a hello, then nothing, forever
//   exit_now               a hello, then exit 0 without a result
//   hold                   progress until the file $FAKE_WORKER_RELEASE exists, then a result
//   v2                     speaks protocol version 2
//   reach                  tries to connect to 127.0.0.1:$FAKE_WORKER_REACH_PORT, fails with
//                          bad_input "reached" when it could, else succeeds
//   spin                   burns CPU without end, reporting progress all along
//   spin_ignoring_xcpu     the same, with SIGXCPU ignored
//   cwd                    notes its working directory, TMPDIR and how many entries the
//                          directory had, writes a file there, then succeeds
//   sockets                notes what socket() gave for AF_INET, AF_INET6, AF_NETLINK and
//                          AF_UNIX, and socketpair(AF_UNIX), then succeeds
// Every run appends its argv, pid and start time (ms since the epoch) as one line to
// $FAKE_WORKER_LOG when that is set; "cwd" and "sockets" append a line starting with their
// mode and "note".

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/worker_protocol.h"
#include "common/worker_reporter.h"

using namespace newsreel::worker;
using namespace std::chrono_literals;

namespace {

void Log(const std::vector<std::string>& args) {
  const char* path = std::getenv("FAKE_WORKER_LOG");
  if (path == nullptr) return;
  std::string line;
  for (const auto& a : args) line += a + " ";
  auto now = std::chrono::system_clock::now().time_since_epoch();
  line += "pid=" + std::to_string(getpid()) + " t=" +
          std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
  std::ofstream(path, std::ios::app) << line << "\n";
}

void Note(const std::string& line) {
  if (const char* path = std::getenv("FAKE_WORKER_LOG"))
    std::ofstream(path, std::ios::app) << line << "\n";
}

// "ok", or the errno's name ("EACCES").
std::string Outcome(int rc) {
  if (rc >= 0) return "ok";
  const char* name = strerrorname_np(errno);
  return name ? name : std::to_string(errno);
}

std::string TrySocket(int domain, int type, int protocol = 0) {
  const int fd = socket(domain, type, protocol);
  std::string outcome = Outcome(fd);
  if (fd >= 0) close(fd);
  return outcome;
}

WorkResult SomeResult() {
  WorkResult r;
  r.rungs.push_back(
      {"360p", 640, 360, 900'000, 700'000, "avc1.64001e,mp4a.40.2", 30, "360p/index.m3u8"});
  r.rungs.push_back(
      {"144p", 256, 144, 200'000, 150'000, "avc1.64000c,mp4a.40.2", 30, "144p/index.m3u8"});
  r.encoder = "x264";
  r.encoder_element = "x264enc";
  r.duration_seconds = 12.5;
  r.poster = ResultPoster{"poster.jpg", 640, 360};
  r.storyboard = ResultStoryboard{"storyboard.jpg", "storyboard.vtt", 160, 90};
  r.source = {"mp4", 123456, "h264", 1280, 720, "aac"};
  return r;
}

Progress At(double percent) {
  Progress p;
  p.phase = "encoding";
  p.percent = percent;
  p.fps = 60;
  p.speed = 2;
  p.eta_seconds = 1;
  p.duration_seconds = 12.5;
  p.position_seconds = 12.5 * percent / 100;
  return p;
}

[[noreturn]] void Forever() {
  for (;;) pause();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  Log(args);
  if (args.size() < 2) return 2;
  std::string mode = args[1];
  bool x264 = false;
  if (mode == "transcode" && args.size() >= 3) {
    mode = std::filesystem::path(args[2]).filename().string();
    for (size_t i = 3; i + 1 < args.size(); ++i)
      x264 |= args[i] == "--encoder" && args[i + 1] == "x264";
  }
  if (mode == "v2") {
    std::string line = R"({"v":2,"type":"hello","protocol":2,"kind":"transcode","pid":1})";
    line += "\n";
    (void)!write(STDOUT_FILENO, line.data(), line.size());
    Forever();
  }
  const auto heartbeat = mode == "silent" ? std::chrono::milliseconds(24h) : 20ms;
  WorkerReporter out(STDOUT_FILENO, heartbeat);
  if (newsreel::Status version = CheckServerProtocol(std::getenv(kWorkerProtocolEnv));
      !version.ok()) {
    out.Send(Failure{FailureCode::kProtocolMismatch, version.message()});
    return 2;
  }
  out.Send(Hello{kWorkerProtocolVersion, "transcode", getpid()});
  if (mode == "silent") Forever();
  if (mode == "reach") {
    const char* port = std::getenv("FAKE_WORKER_REACH_PORT");
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port ? std::atoi(port) : 0));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool reached = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(fd);
    if (reached) {
      out.Send(Failure{FailureCode::kBadInput, "reached the network"});
      return 1;
    }
    mode = "ok";
  }
  if (mode == "exit_now") return 0;
  if (mode == "other_lines") {
    const std::string lines =
        "not the protocol\n"
        R"({"v":1,"type":"part","rung":"360p","msn":4,"part":2,"file":"ll/360p/p4.2.m4s",)"
        R"("independent":false,"duration":0.333,"init":"ll/360p/init.mp4"})"
        "\n";
    if (write(STDOUT_FILENO, lines.data(), lines.size()) != static_cast<ssize_t>(lines.size()))
      return 1;
    out.Send(SomeResult());
    return 0;
  }
  if (mode == "heartbeats_then_ok") {
    std::this_thread::sleep_for(1500ms);  // the reporter's heartbeats keep flowing
    out.Send(SomeResult());
    return 0;
  }
  if (mode == "cwd") {
    const std::filesystem::path cwd = std::filesystem::current_path();
    const auto entries = std::distance(std::filesystem::directory_iterator(cwd),
                                       std::filesystem::directory_iterator{});
    const char* tmpdir = std::getenv("TMPDIR");
    Note("cwd note cwd=" + cwd.string() + " tmpdir=" + (tmpdir ? tmpdir : "") +
         " entries=" + std::to_string(entries));
    std::ofstream("scratch.tmp") << "a worker's own file";
    mode = "ok";
  }
  if (mode == "sockets") {
    int pair[2];
    const int paired = socketpair(AF_UNIX, SOCK_STREAM, 0, pair);
    std::string pair_outcome = Outcome(paired);
    if (paired == 0) {
      close(pair[0]);
      close(pair[1]);
    }
    Note("sockets note inet=" + TrySocket(AF_INET, SOCK_STREAM) +
         " inet6=" + TrySocket(AF_INET6, SOCK_DGRAM) +
         " netlink=" + TrySocket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE) +
         " unix=" + TrySocket(AF_UNIX, SOCK_STREAM) + " pair=" + pair_outcome);
    mode = "ok";
  }
  if (mode == "spin" || mode == "spin_ignoring_xcpu") {
    if (mode == "spin_ignoring_xcpu") signal(SIGXCPU, SIG_IGN);
    volatile uint64_t sink = 0;
    for (double p = 1;; p = std::min(p + 0.1, 99.0)) {
      const auto until = std::chrono::steady_clock::now() + 50ms;
      while (std::chrono::steady_clock::now() < until) sink = sink + 1;
      out.Send(At(p));  // healthy by the stall rule: only the CPU limit ends it
    }
  }
  out.Send(At(10));
  if (mode == "stall") Forever();
  if (mode == "crash") raise(SIGSEGV);
  if (mode == "bad_input") {
    out.Send(Failure{FailureCode::kBadInput, "not a media file (fake): " + args[2]});
    return 1;
  }
  if (mode == "timed_out") {
    out.Send(Failure{FailureCode::kTimedOut, "the pipeline made no progress (fake)"});
    return 1;
  }
  if (mode == "encoder_failed_always" || (mode == "encoder_failed" && !x264)) {
    out.Send(Failure{FailureCode::kEncoderFailed, "every encoder failed (fake)"});
    return 1;
  }
  if (mode == "playable") {  // progressive publishing: playable from here on, twice
    for (double p : {20.0, 30.0}) {
      Progress playable = At(p);
      playable.playable = true;
      out.Send(playable);
    }
  }
  if (mode == "hold") {
    const char* release = std::getenv("FAKE_WORKER_RELEASE");
    for (double p = 10; !(release && std::filesystem::exists(release)); p = std::min(p + 1, 99.0)) {
      out.Send(At(p));
      std::this_thread::sleep_for(20ms);
    }
  }
  out.Send(At(100));
  out.Send(SomeResult());
  return 0;
}
