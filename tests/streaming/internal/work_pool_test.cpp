#include "streaming/internal/work_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <set>

namespace newsreel::streaming {
namespace {

struct Counter {
  int index = 0;
  int runs = 0;  // touched only by its own thread
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
  std::atomic<int> done{0};
  std::mutex mu;
  std::set<int> states;
  for (int i = 0; i < 300; ++i)
    pool.Submit([&](Counter& c) {
      ++c.runs;
      {
        std::lock_guard lock(mu);
        states.insert(c.index);
      }
      done.fetch_add(1);
    });
  pool.Stop();  // runs everything queued first
  EXPECT_EQ(done.load(), 300);
  EXPECT_EQ(pool.submitted(), 300u);
  for (int i : states) EXPECT_TRUE(i >= 0 && i < 3);
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
  int ran = 0;
  pool.Submit([&](Counter&) { ++ran; });  // dropped: the pool stopped
  EXPECT_EQ(ran, 0);
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
