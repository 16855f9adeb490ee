// Kills a writer process with SIGKILL at random moments, 200 times, and checks after each kill
// that the catalog is intact and holds every write the writer had reported as committed.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "tests/catalog/test_util.h"

#ifndef NR_CRASH_WRITER
#error "NR_CRASH_WRITER must name the catalog_crash_writer binary"
#endif

namespace newsreel::catalog {
namespace {

using testing::TempDir;

constexpr int kRounds = 200;
constexpr int kFreshFileEvery = 25;  // so that some kills land inside the first migrations
constexpr int kRankWindow = 1'000'000;

struct Reported {
  std::set<std::string> created;  // "V <video id>"
  std::set<std::string> ready;    // "R <video id>"
};

// Starts the writer, lets it run for `run_for` (counted from its first reported write when
// `after_first_write`, so that a slow machine still has the kill land in busy work), kills it
// with SIGKILL and returns what it had reported. Fails the test if the writer exited on its own.
Reported RunAndKill(const std::string& db, int round, std::chrono::microseconds run_for,
                    bool after_first_write) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe failed";
    return {};
  }
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    std::string round_text = std::to_string(round);
    execl(NR_CRASH_WRITER, NR_CRASH_WRITER, db.c_str(), round_text.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  std::string output;
  if (after_first_write) {
    // Wait (up to a minute: a machine can be very busy) for the first whole line.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
    char buffer[4096];
    while (output.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd pfd{fds[0], POLLIN, 0};
      if (poll(&pfd, 1, 100) <= 0) continue;
      ssize_t n = read(fds[0], buffer, sizeof buffer);
      if (n <= 0) break;
      output.append(buffer, static_cast<size_t>(n));
    }
  }
  std::this_thread::sleep_for(run_for);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  char buffer[4096];
  for (ssize_t n; (n = read(fds[0], buffer, sizeof buffer)) > 0;) output.append(buffer, n);
  close(fds[0]);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "the writer exited by itself (status " << status << "); see its stderr";

  Reported reported;
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    // The writer reports with one write() per line after the commit, so a line is whole; still,
    // ignore anything malformed rather than trust it.
    if (line.size() < 3 || (line[0] != 'V' && line[0] != 'R') || line[1] != ' ') continue;
    (line[0] == 'V' ? reported.created : reported.ready).insert(line.substr(2));
  }
  return reported;
}

std::string RoundPrefix(int round) { return "r" + std::to_string(round) + "-"; }

// The ids of every video whose id starts with `prefix`, paging through the whole table.
Result<std::set<std::string>> ListIdsWithPrefix(Catalog& catalog, const std::string& prefix) {
  std::set<std::string> ids;
  PageRequest page{.limit = 200};
  while (true) {
    Result<VideoPage> listed = catalog.videos().List({}, page);
    if (!listed.ok()) return listed.status();
    for (const Video& v : listed->videos) {
      if (v.id.starts_with(prefix)) ids.insert(v.id);
    }
    if (listed->next_cursor.empty()) return ids;
    page.cursor = listed->next_cursor;
  }
}

// The ids of every video that search finds for `text`, paging through all hits. The catalog
// must be opened with a rank window larger than the number of matches (see kRankWindow). Search
// pages end at offset 10,000: a round with more matches than that (over 250,000 durable commits
// a second) fails here with the catalog's "search offset" error rather than passing unchecked.
Result<std::set<std::string>> SearchIds(Catalog& catalog, const std::string& text) {
  std::set<std::string> ids;
  SearchRequest request;
  request.text = text;
  request.limit = 100;
  while (true) {
    Result<SearchPage> found = catalog.search().Search(request);
    if (!found.ok()) return found.status();
    for (const SearchHit& hit : found->hits) ids.insert(hit.video.id);
    if (!found->next_offset) return ids;
    request.offset = *found->next_offset;
  }
}

TEST(CrashTest, CommittedWritesSurviveSigkill) {
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 random(seed);
  // Most kills land while the writer is busy (after its first commit); one in ten right after
  // it starts, whatever it is doing then (often migrating a fresh file).
  std::uniform_int_distribution<int> busy_us(2'000, 40'000);
  std::uniform_int_distribution<int> early_us(0, 2'000);
  std::uniform_int_distribution<int> pick(0, 9);

  TempDir dir;
  std::string db;
  size_t total_created = 0;
  size_t total_ready = 0;
  int rounds_with_writes = 0;
  for (int round = 0; round < kRounds; ++round) {
    if (round % kFreshFileEvery == 0) db = dir.File("crash-" + std::to_string(round) + ".db");
    const bool early = pick(random) == 0;
    auto run_for = std::chrono::microseconds(early ? early_us(random) : busy_us(random));
    Reported reported = RunAndKill(db, round, run_for, /*after_first_write=*/!early);
    total_created += reported.created.size();
    total_ready += reported.ready.size();
    rounds_with_writes += !reported.created.empty();

    // Search ranks only the newest rank-window matches; make the window larger than any round
    // so that a missing hit means a missing index row, not a capped answer.
    Result<std::unique_ptr<Catalog>> opened =
        Catalog::Open(db, {.search_rank_window = kRankWindow});
    ASSERT_TRUE(opened.ok()) << "round " << round << ": " << opened.status().ToString();
    Catalog& catalog = **opened;
    Status integrity = catalog.CheckIntegrity();
    ASSERT_TRUE(integrity.ok()) << "round " << round << ": " << integrity.ToString();

    for (const std::string& id : reported.created) {
      Result<Video> video = catalog.videos().Get(id);
      ASSERT_TRUE(video.ok()) << "round " << round << ": reported video " << id
                              << " is missing: " << video.status().ToString();
      Result<std::vector<Job>> jobs = catalog.jobs().List({.video_id = id});
      ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
      ASSERT_EQ(jobs->size(), 1u) << "round " << round << ": the job of " << id;
    }
    for (const std::string& id : reported.ready) {
      Result<Video> video = catalog.videos().Get(id);
      ASSERT_TRUE(video.ok()) << id;
      EXPECT_EQ(video->status, VideoStatus::kReady) << "round " << round << ": " << id;
      Result<std::vector<Rendition>> renditions = catalog.videos().ListRenditions(id);
      ASSERT_TRUE(renditions.ok());
      EXPECT_EQ(renditions->size(), 1u) << id;
      Result<std::vector<Job>> jobs = catalog.jobs().List({.video_id = id});
      ASSERT_TRUE(jobs.ok() && jobs->size() == 1u);
      EXPECT_EQ(jobs->front().state, JobState::kSucceeded) << id;
    }
    // The index agrees with the table: search finds exactly the videos of this round, however
    // many the writer managed to commit before the kill (a fast machine commits hundreds).
    Result<std::set<std::string>> in_round = ListIdsWithPrefix(catalog, RoundPrefix(round));
    ASSERT_TRUE(in_round.ok()) << in_round.status().ToString();
    Result<std::set<std::string>> found = SearchIds(catalog, "vong" + std::to_string(round) + " ");
    ASSERT_TRUE(found.ok()) << "round " << round << ": " << found.status().ToString();
    EXPECT_EQ(*found, *in_round) << "round " << round << ": search index and video table differ";
    for (const std::string& id : reported.created) {
      EXPECT_TRUE(in_round->contains(id)) << "round " << round << ": " << id << " is not listed";
    }
  }
  std::printf(
      "crash test: %d rounds, %d with reported writes, %zu videos and %zu completions "
      "reported and found\n",
      kRounds, rounds_with_writes, total_created, total_ready);
  // The kills must have interrupted real work, or the test proves nothing.
  EXPECT_GT(rounds_with_writes, kRounds / 2);
}

}  // namespace
}  // namespace newsreel::catalog
