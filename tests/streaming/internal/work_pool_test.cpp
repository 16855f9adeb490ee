#include "streaming/internal/work_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <map>
#include <set>

namespace newsreel::streaming {
namespace {

struct Counter {
  int index = 0;
  int runs = 0;           // touched only by its own thread
  std::thread::id owner;  // the one thread that uses this state
};

TEST(WorkPoolTest, EveryTaskRunsOnAThreadWithItsOwnState) {
  WorkPool<Counter> pool;
  ASSERT_TRUE(pool.Start(3,
                         [](int i) -> Result<std::unique_ptr<Counter>> {
                           auto c = std::make_unique<Counter>();
                           c->index = i;
                           return c;
                         })
                  .ok());
  std::atomic<int> done{0}, shared_state{0};
  std::mutex mu;
  std::set<int> states;
  std::map<int, int> runs;  // by state, summed at the end
  for (int i = 0; i < 300; ++i)
    pool.Submit([&](Counter& c) {
      if (c.owner == std::thread::id()) c.owner = std::this_thread::get_id();
      if (c.owner != std::this_thread::get_id()) shared_state.fetch_add(1);
      ++c.runs;
      {
        std::lock_guard lock(mu);
        states.insert(c.index);
        runs[c.index] = c.runs;
      }
      done.fetch_add(1);
    });
  pool.Stop();  // runs everything queued first
  EXPECT_EQ(done.load(), 300);
  EXPECT_EQ(pool.submitted(), 300u);
  EXPECT_EQ(shared_state.load(), 0) << "a state was used by two threads";
  int total = 0;
  for (auto [index, n] : runs) {
    EXPECT_TRUE(index >= 0 && index < 3);
    total += n;
  }
  EXPECT_EQ(total, 300) << "each state counted its own tasks, and they add up";
}

TEST(WorkPoolTest, ABlockedTaskDoesNotHoldUpTheOthers) {
  WorkPool<Counter> pool;
  ASSERT_TRUE(pool.Start(2,
                         [](int) -> Result<std::unique_ptr<Counter>> {
                           return std::make_unique<Counter>();
                         })
                  .ok());
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  pool.Submit([gate](Counter&) { gate.wait(); });  // a commit that takes its time
  std::promise<void> other_ran;
  pool.Submit([&](Counter&) { other_ran.set_value(); });
  other_ran.get_future().wait();  // would hang with a single-threaded queue
  release.set_value();
  pool.Stop();
}

TEST(WorkPoolTest, AFactoryErrorIsReturnedAndTheThreadsStop) {
  WorkPool<Counter> pool;
  Status st = pool.Start(2, [](int i) -> Result<std::unique_ptr<Counter>> {
    if (i == 1) return IoError("cannot open the catalog");
    return std::make_unique<Counter>();
  });
  EXPECT_EQ(st.code(), ErrorCode::kIo);
  pool.Submit([](Counter&) {});  // dropped: the pool stopped
  EXPECT_EQ(pool.submitted(), 0u);
  EXPECT_EQ(pool.queued(), 0u);
}

TEST(WorkPoolTest, ATaskMaySubmitAnother) {
  WorkPool<Counter> pool;
  ASSERT_TRUE(pool.Start(1,
                         [](int) -> Result<std::unique_ptr<Counter>> {
                           return std::make_unique<Counter>();
                         })
                  .ok());
  std::promise<int> second;
  pool.Submit([&](Counter&) { pool.Submit([&](Counter&) { second.set_value(2); }); });
  EXPECT_EQ(second.get_future().get(), 2);
  pool.Stop();
}

}  // namespace
}  // namespace newsreel::streaming
