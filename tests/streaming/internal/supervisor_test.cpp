// The job supervisor on a real SQLite catalog in a temporary folder, with real worker processes:
// tests/streaming/fake_worker.cpp speaks the worker protocol and misbehaves on demand.
#include "streaming/internal/supervisor.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "catalog/catalog.h"
#include "tests/streaming/test_data_dir.h"

namespace newsreel::streaming {
namespace {

using catalog::Job;
using catalog::JobState;
using namespace std::chrono_literals;

// Failure guard only: every wait below ends as soon as its condition holds.
constexpr auto kDeadline = 60s;

class SupervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.root();
    data_ = dir_.data();
    auto cat = catalog::Catalog::Open(data_.catalog().string());
    ASSERT_TRUE(cat.ok()) << cat.status().ToString();
    catalog_ = std::move(cat).value();
    log_ = root_ / "workers.log";
    release_ = root_ / "release";
    setenv("FAKE_WORKER_LOG", log_.c_str(), 1);
    setenv("FAKE_WORKER_RELEASE", release_.c_str(), 1);
  }

  void TearDown() override {
    if (supervisor_) supervisor_->Stop();
    supervisor_.reset();
    catalog_.reset();
  }

  // Quick timeouts for workers that misbehave on purpose; generous ones where a slow machine
  // must not make a healthy worker look unhealthy.
  SupervisorOptions Options() {
    SupervisorOptions o;
    o.data = data_;
    o.worker_binary = FAKE_WORKER_PATH;
    o.poll_interval = 20ms;
    o.stall_timeout = 30s;
    o.retry_backoff_ms = 50;
    o.shutdown_grace = 0s;
    o.worker_id_prefix = "test";
    return o;
  }

  // A kind that runs `fake_worker <payload.mode>`.
  static WorkerKind FakeKind(std::string name, int concurrency, HealthRule health) {
    WorkerKind k;
    k.name = std::move(name);
    k.concurrency = concurrency;
    k.health = health;
    k.stall_timeout = 30s;
    k.heartbeat_timeout = 30s;
    k.retry.backoff_ms = 10;
    k.argv = [](const Job& job, worker::EncoderChoice) -> Result<std::vector<std::string>> {
      auto payload = nlohmann::json::parse(job.payload);
      return std::vector<std::string>{FAKE_WORKER_PATH, payload.at("mode").get<std::string>()};
    };
    return k;
  }

  void Start(SupervisorOptions options) {
    supervisor_ = std::make_unique<JobSupervisor>(std::move(options), events_, metrics_);
    Status started = supervisor_->Start();
    ASSERT_TRUE(started.ok()) << started.ToString();
  }

  // A video with a transcode job whose input file name is the fake worker's mode.
  Job EnqueueTranscode(const std::string& mode, int max_attempts = 3) {
    catalog::Video v;
    v.title = "video " + mode;
    auto video = catalog_->videos().Create(v);
    EXPECT_TRUE(video.ok()) << video.status().ToString();
    catalog::JobSpec spec;
    spec.video_id = video->id;
    spec.max_attempts = max_attempts;
    spec.payload = nlohmann::json{{"input", "originals/" + mode}}.dump();
    auto job = catalog_->jobs().Enqueue(spec);
    EXPECT_TRUE(job.ok()) << job.status().ToString();
    return job.ok() ? *job : Job{};
  }

  Job Enqueue(const std::string& kind, const std::string& mode, int max_attempts = 3) {
    catalog::JobSpec spec;
    spec.kind = kind;
    spec.max_attempts = max_attempts;
    spec.payload = nlohmann::json{{"mode", mode}}.dump();
    auto job = catalog_->jobs().Enqueue(spec);
    EXPECT_TRUE(job.ok()) << job.status().ToString();
    return job.ok() ? *job : Job{};
  }

  // Polls the catalog until `done(job)` holds; fails the test at the deadline.
  template <typename Pred>
  Job WaitForJob(int64_t id, Pred done, const char* what) {
    auto deadline = std::chrono::steady_clock::now() + kDeadline;
    Job job;
    while (std::chrono::steady_clock::now() < deadline) {
      auto got = catalog_->jobs().Get(id);
      if (got.ok()) {
        job = *got;
        if (done(job)) return job;
      }
      std::this_thread::sleep_for(5ms);
    }
    ADD_FAILURE() << "timed out waiting for job " << id << " to be " << what << " (it is "
                  << catalog::ToString(job.state) << ", attempts " << job.attempts << ", error '"
                  << job.error << "')";
    return job;
  }

  Job WaitForState(int64_t id, JobState state) {
    return WaitForJob(
        id, [&](const Job& j) { return j.state == state; }, catalog::ToString(state));
  }

  template <typename Pred>
  void WaitFor(Pred done, const char* what) {
    auto deadline = std::chrono::steady_clock::now() + kDeadline;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) {
        ADD_FAILURE() << "timed out waiting for " << what;
        return;
      }
      std::this_thread::sleep_for(5ms);
    }
  }

  // The fake workers' runs, one line each: their argv, pid=, t=.
  std::vector<std::string> WorkerRuns(const std::string& containing = "") {
    std::ifstream in(log_);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);)
      if (line.find(containing) != std::string::npos) lines.push_back(line);
    return lines;
  }

  static int64_t StartTime(const std::string& run) {
    return std::stoll(run.substr(run.rfind(" t=") + 3));
  }

  testing::TempDataDir dir_{"supervisor"};
  std::filesystem::path root_, log_, release_;
  DataDir data_;
  std::unique_ptr<catalog::Catalog> catalog_;  // the test's own connection
  EventBus events_{0ms};
  Metrics metrics_;
  std::unique_ptr<JobSupervisor> supervisor_;
};

// Progressive publishing: the first progress line that says playable is announced once, before
// the video is ready.
TEST_F(SupervisorTest, APlayableWorkerIsAnnouncedOnceBeforeReady) {
  std::mutex mu;
  std::vector<std::string> seen;  // "type id"
  const int sub = events_.Subscribe([&](std::shared_ptr<const Event> e) {
    auto j = nlohmann::json::parse(e->json);
    std::lock_guard lock(mu);
    seen.push_back(e->type + " " + j["data"].value("id", ""));
  });
  Start(Options());
  Job job = EnqueueTranscode("playable");
  WaitForState(job.id, JobState::kSucceeded);
  WaitFor(
      [&] {
        std::lock_guard lock(mu);
        return std::find(seen.begin(), seen.end(), "video.ready " + job.video_id) != seen.end();
      },
      "video.ready");
  events_.Unsubscribe(sub);
  std::lock_guard lock(mu);
  const auto playable = std::find(seen.begin(), seen.end(), "video.playable " + job.video_id);
  ASSERT_NE(playable, seen.end());
  EXPECT_EQ(std::count(seen.begin(), seen.end(), "video.playable " + job.video_id), 1);
  EXPECT_LT(playable, std::find(seen.begin(), seen.end(), "video.ready " + job.video_id));
}

TEST_F(SupervisorTest, AResultMakesTheVideoReadyWithItsRenditions) {
  Start(Options());
  Job job = EnqueueTranscode("ok");
  Job done = WaitForState(job.id, JobState::kSucceeded);
  EXPECT_EQ(done.attempts, 1);
  auto video = catalog_->videos().Get(job.video_id);
  ASSERT_TRUE(video.ok());
  EXPECT_EQ(video->status, catalog::VideoStatus::kReady);
  EXPECT_EQ(video->source.video_codec, "h264");
  EXPECT_EQ(video->source.width, 1280);
  auto renditions = catalog_->videos().ListRenditions(job.video_id);
  ASSERT_TRUE(renditions.ok()) << renditions.status().ToString();
  ASSERT_EQ(renditions->size(), 2u);
  EXPECT_EQ((*renditions)[0].playlist_path, "360p/index.m3u8");
  EXPECT_EQ((*renditions)[0].encoder, "x264enc");
  auto assets = catalog_->videos().ListAssets(job.video_id);
  ASSERT_TRUE(assets.ok());
  EXPECT_EQ(assets->size(), 3u);  // poster, storyboard image and VTT
  // The transcode kind's command line.
  auto runs = WorkerRuns("transcode");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_NE(runs[0].find(" transcode " + (data_.root / "originals/ok").string() + " " +
                         (data_.media() / job.video_id).string() +
                         " --progress protocol --force --publish-progressively pid="),
            std::string::npos)
      << runs[0];
}

TEST_F(SupervisorTest, BadInputIsNotRetried) {
  Start(Options());
  Job job = EnqueueTranscode("bad_input", /*max_attempts=*/3);
  Job failed = WaitForState(job.id, JobState::kFailed);
  EXPECT_EQ(failed.attempts, 1);
  EXPECT_NE(failed.error.find("not a media file (fake)"), std::string::npos) << failed.error;
  auto video = catalog_->videos().Get(job.video_id);
  EXPECT_EQ(video->status, catalog::VideoStatus::kFailed);
  EXPECT_NE(video->failure_reason.find("not a media file"), std::string::npos);
  EXPECT_EQ(video->failure_code, "bad_input");  // the worker's code, for pages to translate
  // The fake names its input by the full path; what reporters read names no server folder.
  EXPECT_EQ(video->failure_reason.find(data_.root.string()), std::string::npos)
      << video->failure_reason;
  EXPECT_NE(video->failure_reason.find("originals/bad_input"), std::string::npos)
      << video->failure_reason;
  EXPECT_EQ(failed.error.find(data_.root.string()), std::string::npos) << failed.error;
  EXPECT_EQ(WorkerRuns("bad_input").size(), 1u);
}

TEST_F(SupervisorTest, EncoderFailedIsRetriedOnceWithX264) {
  Start(Options());
  Job job = EnqueueTranscode("encoder_failed", /*max_attempts=*/5);
  Job done = WaitForState(job.id, JobState::kSucceeded);
  EXPECT_EQ(done.attempts, 2);
  auto runs = WorkerRuns("encoder_failed");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].find("--encoder"), std::string::npos) << runs[0];
  EXPECT_NE(runs[1].find("--force --publish-progressively --encoder x264 pid="), std::string::npos)
      << runs[1];

  // When x264 fails too there is no further encoder: two attempts, not five.
  Job always = EnqueueTranscode("encoder_failed_always", /*max_attempts=*/5);
  Job failed = WaitForState(always.id, JobState::kFailed);
  EXPECT_EQ(failed.attempts, 2);
  EXPECT_EQ(WorkerRuns("encoder_failed_always").size(), 2u);
}

TEST_F(SupervisorTest, CrashesAreRetriedWithGrowingBackOffUntilMaxAttempts) {
  Start(Options());  // back-off 50 ms, then 100 ms
  Job job = EnqueueTranscode("crash", /*max_attempts=*/3);
  Job failed = WaitForState(job.id, JobState::kFailed);
  EXPECT_EQ(failed.attempts, 3);
  EXPECT_NE(failed.error.find("SIGSEGV"), std::string::npos) << failed.error;
  auto runs = WorkerRuns("crash");
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0].find("--encoder x264"), std::string::npos);
  EXPECT_NE(runs[1].find("--encoder x264"), std::string::npos) << "a retry runs on x264";
  // Lower bounds only: the back-off is a minimum that no machine can shorten.
  EXPECT_GE(StartTime(runs[1]) - StartTime(runs[0]), 50);
  EXPECT_GE(StartTime(runs[2]) - StartTime(runs[1]), 100);
  EXPECT_GE(metrics_.worker_crashes.load(), 3u);
}

TEST_F(SupervisorTest, TimedOutIsRetriedUntilMaxAttempts) {
  Start(Options());
  Job job = EnqueueTranscode("timed_out", /*max_attempts=*/2);
  Job failed = WaitForState(job.id, JobState::kFailed);
  EXPECT_EQ(failed.attempts, 2);
  EXPECT_NE(failed.error.find("no progress (fake)"), std::string::npos) << failed.error;
}

TEST_F(SupervisorTest, AShortWorkerThatStallsIsEndedDespiteItsHeartbeats) {
  SupervisorOptions o = Options();
  o.stall_timeout = 200ms;  // it never reports progress again: any value proves the rule
  Start(o);
  Job job = EnqueueTranscode("stall", /*max_attempts=*/1);
  Job failed = WaitForState(job.id, JobState::kFailed);
  EXPECT_NE(failed.error.find("stopped reporting progress"), std::string::npos) << failed.error;
  EXPECT_GE(metrics_.worker_timeouts.load(), 1u);
  auto runs = WorkerRuns("stall");
  ASSERT_EQ(runs.size(), 1u);
  int pid = std::stoi(runs[0].substr(runs[0].find("pid=") + 4));
  EXPECT_NE(kill(pid, 0), 0) << "the stalled worker is gone";
}

TEST_F(SupervisorTest, ALongLivedWorkerNeedsHeartbeatsNotProgress) {
  SupervisorOptions o = Options();
  WorkerKind live = FakeKind("live", 2, HealthRule::kLongLived);
  live.stall_timeout = 100ms;  // would end the heartbeating worker if progress were required
  live.heartbeat_timeout = 1s;
  o.kinds = {live};
  Start(o);
  Job beating = Enqueue("live", "heartbeats_then_ok", /*max_attempts=*/1);
  Job silent = Enqueue("live", "silent", /*max_attempts=*/2);
  Job failed = WaitForState(silent.id, JobState::kFailed);
  EXPECT_EQ(failed.attempts, 2) << "restarted once after it went silent";
  EXPECT_NE(failed.error.find("sent no heartbeat"), std::string::npos) << failed.error;
  Job done = WaitForState(beating.id, JobState::kSucceeded);
  EXPECT_EQ(done.attempts, 1) << "never ended: " << done.error;
}

TEST_F(SupervisorTest, LinesItDoesNotActOnGoToTheKindsHook) {
  SupervisorOptions o = Options();
  WorkerKind live = FakeKind("live", 1, HealthRule::kLongLived);
  std::mutex mu;
  std::vector<std::string> heard;
  live.on_other_line = [&](const Job&, const std::string& line) {
    std::lock_guard lock(mu);
    heard.push_back(line);
  };
  o.kinds = {live};
  Start(o);
  Job job = Enqueue("live", "other_lines", /*max_attempts=*/1);
  EXPECT_EQ(WaitForState(job.id, JobState::kSucceeded).attempts, 1);
  std::lock_guard lock(mu);
  ASSERT_EQ(heard.size(), 2u);
  EXPECT_EQ(heard[0], "not the protocol");
  EXPECT_NE(heard[1].find(R"("type":"part")"), std::string::npos) << heard[1];
}

TEST_F(SupervisorTest, ALongLivedWorkerThatEndsIsRestartedPerItsPolicy) {
  SupervisorOptions o = Options();
  o.kinds = {FakeKind("live", 1, HealthRule::kLongLived)};
  Start(o);
  Job job = Enqueue("live", "exit_now", /*max_attempts=*/3);
  Job failed = WaitForState(job.id, JobState::kFailed);
  EXPECT_EQ(failed.attempts, 3);
  EXPECT_NE(failed.error.find("ended unexpectedly"), std::string::npos) << failed.error;
  EXPECT_EQ(WorkerRuns("exit_now").size(), 3u);
}

TEST_F(SupervisorTest, EachKindKeepsItsConcurrencyLimit) {
  SupervisorOptions o = Options();
  o.kinds = {FakeKind("alpha", 1, HealthRule::kShort), FakeKind("beta", 2, HealthRule::kShort)};
  Start(o);
  std::vector<Job> alpha, beta;
  for (int i = 0; i < 3; ++i) alpha.push_back(Enqueue("alpha", "hold"));
  for (int i = 0; i < 3; ++i) beta.push_back(Enqueue("beta", "hold"));
  auto running = [&](const std::vector<Job>& jobs) {
    int n = 0;
    for (const Job& j : jobs) n += catalog_->jobs().Get(j.id)->state == JobState::kRunning;
    return n;
  };
  // Workers hold their jobs until released: each kind fills up to its own limit.
  WaitFor([&] { return running(alpha) == 1 && running(beta) == 2; }, "1 alpha and 2 beta running");
  std::ofstream(release_) << "go";
  std::vector<Job> finished;
  for (const Job& j : alpha) finished.push_back(WaitForState(j.id, JobState::kSucceeded));
  for (const Job& j : beta) finished.push_back(WaitForState(j.id, JobState::kSucceeded));
  // From the catalog's own times: never more jobs of a kind at once than its limit. A job
  // is claimed only after the worker before it was reaped and its job completed.
  for (auto [kind, limit] : {std::pair{"alpha", 1}, std::pair{"beta", 2}}) {
    for (const Job& j : finished) {
      if (j.kind != kind) continue;
      int overlapping = 0;
      for (const Job& k : finished)
        overlapping += k.kind == kind && *k.started_at_ms <= *j.started_at_ms &&
                       *j.started_at_ms < *k.finished_at_ms;
      EXPECT_LE(overlapping, limit) << kind << " job " << j.id;
    }
  }
}

TEST_F(SupervisorTest, AWorkerSpeakingAnotherVersionIsRequeuedAndItsKindStopsClaiming) {
  // The binary on disk was replaced under a running server: no fault of the job, which waits
  // for a server that speaks its worker's version, attempt not spent.
  SupervisorOptions o = Options();
  o.kinds = {FakeKind("alpha", 2, HealthRule::kShort), FakeKind("beta", 1, HealthRule::kShort)};
  Start(o);
  Job job = Enqueue("alpha", "v2");
  Job requeued = WaitForJob(
      job.id,
      [](const Job& j) {
        return j.state == JobState::kQueued &&
               j.error.find("worker speaks protocol v2, this server v1") != std::string::npos;
      },
      "the job back in the queue with the reason");
  EXPECT_EQ(requeued.attempts, 0);
  // Another alpha job that would succeed, then a beta job: once the beta job has run, the
  // supervisor has looked at the queue since the alpha job arrived, and left it there.
  Job alpha = Enqueue("alpha", "ok");
  Job beta = Enqueue("beta", "ok");
  WaitForState(beta.id, JobState::kSucceeded);
  supervisor_->Wake();
  Job other = Enqueue("beta", "ok");
  WaitForState(other.id, JobState::kSucceeded);
  for (int64_t id : {job.id, alpha.id}) {
    auto j = catalog_->jobs().Get(id);
    ASSERT_TRUE(j.ok());
    EXPECT_EQ(j->state, JobState::kQueued) << "alpha job " << id << " was claimed";
  }
}

// A listener on this machine's loopback whose port the fake worker tries to reach
// (FAKE_WORKER_REACH_PORT); -1 when it cannot be made.
int ListenForWorkers() {
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (listener < 0 || bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      listen(listener, 4) != 0 || getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    return -1;
  setenv("FAKE_WORKER_REACH_PORT", std::to_string(ntohs(a.sin_port)).c_str(), 1);
  return listener;
}

TEST_F(SupervisorTest, WorkersHaveNoNetwork) {
  // A listener on this machine's loopback, where a worker that a hostile file talked into
  // fetching something would first knock. The worker runs in a network namespace of its own,
  // which needs the privilege these tests run with (root, as the server is run).
  const int listener = ListenForWorkers();
  ASSERT_GE(listener, 0);
  Start(Options());
  Job job = EnqueueTranscode("reach");
  Job done = WaitForJob(
      job.id,
      [](const Job& j) { return j.state != JobState::kQueued && j.state != JobState::kRunning; },
      "the job to end");
  EXPECT_EQ(done.state, JobState::kSucceeded) << done.error;
  // Nothing knocked (a non-blocking accept finds no connection).
  fcntl(listener, F_SETFL, O_NONBLOCK);
  EXPECT_LT(accept(listener, nullptr, nullptr), 0);
  close(listener);
  unsetenv("FAKE_WORKER_REACH_PORT");
}

// The value of `key=` in a fake worker's note ("... key=value ...").
std::string NoteField(const std::string& note, const std::string& key) {
  const size_t at = note.find(" " + key + "=");
  if (at == std::string::npos) return "<no " + key + ">";
  const size_t start = at + key.size() + 2;
  return note.substr(start, note.find(' ', start) - start);
}

TEST_F(SupervisorTest, AWorkerOverItsCpuLimitFailsWithTheReasonAndIsNotRetried) {
  SupervisorOptions o = Options();
  WorkerKind kind = FakeKind("cpu", 3, HealthRule::kShort);
  kind.cpu_limit_seconds = 1;
  o.kinds = {kind};
  Start(o);
  // Both report progress all along (healthy by the stall rule); one of them ignores SIGXCPU
  // and is ended by the kernel's hard limit (SIGKILL) instead.
  Job spin = Enqueue("cpu", "spin", /*max_attempts=*/3);
  Job stubborn = Enqueue("cpu", "spin_ignoring_xcpu", /*max_attempts=*/3);
  Job light = Enqueue("cpu", "ok");  // well within the limit
  for (const Job& job : {spin, stubborn}) {
    Job failed = WaitForState(job.id, JobState::kFailed);
    EXPECT_EQ(failed.attempts, 1) << "the same input would use as much again: not retried";
    EXPECT_NE(failed.error.find("used more CPU time than allowed (1 s)"), std::string::npos)
        << failed.error;
  }
  EXPECT_EQ(WaitForState(light.id, JobState::kSucceeded).attempts, 1);
  EXPECT_EQ(WorkerRuns(" spin pid=").size(), 1u);
  EXPECT_EQ(WorkerRuns(" spin_ignoring_xcpu pid=").size(), 1u);
  EXPECT_EQ(metrics_.worker_cpu_kills.load(), 2u);
  EXPECT_EQ(metrics_.worker_crashes.load(), 0u) << "a limit, not a crash";
}

TEST_F(SupervisorTest, EachWorkerRunsInAFreshFolderOfItsOwnThatIsRemovedAfterIt) {
  // What a server that died left behind: removed at start. A folder of a running process (this
  // one) and one of another prefix are not ours to remove.
  const std::filesystem::path workers = data_.root / "tmp" / "workers";
  const std::filesystem::path dead = workers / "test-2147483646-7-AbCdEf";
  const std::filesystem::path alive = workers / ("test-" + std::to_string(getpid()) + "-1-XyZ");
  const std::filesystem::path other = workers / "elsewhere-2147483646-1-XyZ";
  for (const auto& d : {dead, alive, other}) {
    std::filesystem::create_directories(d);
    std::ofstream(d / "leftover") << "x";
  }
  SupervisorOptions o = Options();
  o.kinds = {FakeKind("cwd", 2, HealthRule::kShort)};
  Start(o);
  EXPECT_FALSE(std::filesystem::exists(dead));
  EXPECT_TRUE(std::filesystem::exists(alive));
  EXPECT_TRUE(std::filesystem::exists(other));
  std::filesystem::remove_all(alive);
  std::filesystem::remove_all(other);

  Job first = Enqueue("cwd", "cwd");
  Job second = Enqueue("cwd", "cwd");
  WaitForState(first.id, JobState::kSucceeded);
  WaitForState(second.id, JobState::kSucceeded);
  auto notes = WorkerRuns("cwd note ");
  ASSERT_EQ(notes.size(), 2u);
  std::set<std::string> dirs;
  for (const std::string& note : notes) {
    const std::filesystem::path cwd = NoteField(note, "cwd");
    EXPECT_EQ(cwd.parent_path(), workers) << note;
    EXPECT_EQ(NoteField(note, "tmpdir"), cwd.string()) << "TMPDIR is the same folder";
    EXPECT_EQ(NoteField(note, "entries"), "0") << "fresh and empty: " << note;
    EXPECT_FALSE(std::filesystem::exists(cwd)) << "removed with what the worker wrote there";
    dirs.insert(cwd.string());
  }
  EXPECT_EQ(dirs.size(), 2u) << "each worker its own";
  EXPECT_TRUE(std::filesystem::is_empty(workers));
}

TEST_F(SupervisorTest, WithoutANamespaceASeccompFilterRefusesNetworkSocketsButNotUnixOnes) {
  // The filter is what workers get where unshare(CLONE_NEWNET) is refused (not root); the
  // test hook skips the namespace to get it here. The namespace kind beside it, for contrast:
  // there socket() works (connect finds nothing), so the refusals below are the filter's.
  const int listener = ListenForWorkers();
  ASSERT_GE(listener, 0);
  SupervisorOptions o = Options();
  WorkerKind filtered = FakeKind("filtered", 2, HealthRule::kShort);
  filtered.force_seccomp = true;
  o.kinds = {filtered, FakeKind("namespaced", 1, HealthRule::kShort)};
  Start(o);
  Job sockets = Enqueue("filtered", "sockets");
  Job reach = Enqueue("filtered", "reach");
  Job contrast = Enqueue("namespaced", "sockets");
  for (const Job& job : {sockets, reach, contrast}) {
    Job done = WaitForJob(
        job.id,
        [](const Job& j) { return j.state != JobState::kQueued && j.state != JobState::kRunning; },
        "the job to end");
    EXPECT_EQ(done.state, JobState::kSucceeded) << done.error;
  }
  fcntl(listener, F_SETFL, O_NONBLOCK);
  EXPECT_LT(accept(listener, nullptr, nullptr), 0) << "nothing knocked";
  close(listener);
  unsetenv("FAKE_WORKER_REACH_PORT");
  auto notes = WorkerRuns("sockets note ");
  ASSERT_EQ(notes.size(), 2u);
  // Which note is which: the filtered kind's worker ran first or second; tell them by inet.
  const std::string& with_filter = NoteField(notes[0], "inet") == "ok" ? notes[1] : notes[0];
  const std::string& in_namespace = NoteField(notes[0], "inet") == "ok" ? notes[0] : notes[1];
  EXPECT_EQ(NoteField(with_filter, "inet"), "EACCES") << with_filter;
  EXPECT_EQ(NoteField(with_filter, "inet6"), "EACCES") << with_filter;
  EXPECT_EQ(NoteField(with_filter, "netlink"), "EACCES") << with_filter;
  EXPECT_EQ(NoteField(with_filter, "unix"), "ok") << with_filter;
  EXPECT_EQ(NoteField(with_filter, "pair"), "ok") << with_filter;
  EXPECT_EQ(NoteField(in_namespace, "inet"), "ok") << in_namespace;
  EXPECT_EQ(NoteField(in_namespace, "unix"), "ok") << in_namespace;
}

TEST_F(SupervisorTest, RequestEndReturnsAtOnceAndCallsBackWhenTheWorkerIsGone) {
  Start(Options());
  Job job = EnqueueTranscode("hold");
  WaitFor([&] { return supervisor_->WorkerPid(job.id).has_value(); }, "a worker");
  const int pid = *supervisor_->WorkerPid(job.id);
  ASSERT_TRUE(catalog_->jobs().Cancel(job.id, "cancelled by the test").ok());

  // The callback needs `gate`, which this thread holds across RequestEnd: had RequestEnd waited
  // for the worker to be reaped, it could not have returned.
  std::mutex gate;
  std::atomic<bool> called{false};
  std::atomic<bool> on_supervisor_thread{false};
  const auto test_thread = std::this_thread::get_id();
  {
    std::lock_guard hold(gate);
    supervisor_->RequestEnd(job.id, [&] {
      std::lock_guard wait(gate);
      on_supervisor_thread = std::this_thread::get_id() != test_thread;
      called = true;
    });
    EXPECT_FALSE(called.load());
  }
  WaitFor([&] { return called.load(); }, "the callback");
  EXPECT_TRUE(on_supervisor_thread.load());
  EXPECT_FALSE(supervisor_->WorkerPid(job.id).has_value());
  EXPECT_NE(kill(pid, 0), 0) << "the worker is gone when the callback runs";
  EXPECT_EQ(catalog_->jobs().Get(job.id)->state, JobState::kCancelled) << "left as it was";

  // No worker for that job (any more): the callback still comes, from the supervisor thread.
  std::atomic<bool> again{false};
  supervisor_->RequestEnd(job.id, [&] { again = true; });
  WaitFor([&] { return again.load(); }, "the callback without a worker");

  // The blocking wrapper still works.
  Job other = EnqueueTranscode("hold");
  WaitFor([&] { return supervisor_->WorkerPid(other.id).has_value(); }, "a second worker");
  ASSERT_TRUE(catalog_->jobs().Cancel(other.id, "cancelled by the test").ok());
  supervisor_->EndJob(other.id, kDeadline);
  EXPECT_FALSE(supervisor_->WorkerPid(other.id).has_value());
}

}  // namespace
}  // namespace newsreel::streaming
