#include "streaming/internal/lru_cache.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "streaming/internal/visibility_cache.h"

namespace newsreel::streaming {
namespace {

using namespace std::chrono_literals;

// A clock the test moves by hand.
struct FakeClock {
  std::chrono::steady_clock::time_point now{std::chrono::hours(1)};
  LruCache<std::string, int>::Clock Fn() {
    return [this] { return now; };
  }
};

TEST(LruCacheTest, EvictsTheLeastRecentlyUsedPastMaxEntries) {
  LruCache<std::string, int> cache({.max_entries = 3});
  cache.Put("a", 1);
  cache.Put("b", 2);
  cache.Put("c", 3);
  ASSERT_NE(cache.Get("a"), nullptr);  // "a" is now the most recent; "b" the least
  cache.Put("d", 4);
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.Get("b"), nullptr);
  ASSERT_NE(cache.Get("a"), nullptr);
  EXPECT_EQ(*cache.Get("a"), 1);
  EXPECT_EQ(*cache.Get("c"), 3);
  EXPECT_EQ(*cache.Get("d"), 4);
  // Order now (most recent first): d c a.
  cache.Put("e", 5);
  EXPECT_EQ(cache.Get("a"), nullptr);
  EXPECT_NE(cache.Get("c"), nullptr);
}

TEST(LruCacheTest, EvictsUntilTheCostFits) {
  LruCache<std::string, std::string> cache({.max_entries = 100, .max_cost = 10});
  EXPECT_TRUE(cache.Put("a", "aaaa", 4));
  EXPECT_TRUE(cache.Put("b", "bbbb", 4));
  EXPECT_EQ(cache.cost(), 8u);
  EXPECT_TRUE(cache.Put("c", "cccccc", 6));  // 14 > 10: "a" goes, then 10 fits
  EXPECT_EQ(cache.cost(), 10u);
  EXPECT_EQ(cache.Get("a"), nullptr);
  EXPECT_NE(cache.Get("b"), nullptr);
  EXPECT_TRUE(cache.Put("d", "dddddddddd", 10));  // needs the whole budget
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.cost(), 10u);
}

TEST(LruCacheTest, AnEntryCostingMoreThanTheBoundIsNotStoredAndDropsTheOldValue) {
  LruCache<std::string, std::string> cache({.max_cost = 10});
  EXPECT_TRUE(cache.Put("a", "small", 5));
  EXPECT_TRUE(cache.Put("b", "small", 5));
  EXPECT_FALSE(cache.Put("a", "huge", 11));
  EXPECT_EQ(cache.Get("a"), nullptr);  // never the stale value
  EXPECT_NE(cache.Get("b"), nullptr);  // and nothing else evicted for nothing
  EXPECT_EQ(cache.cost(), 5u);
}

TEST(LruCacheTest, OverwriteReplacesTheValueAndItsCost) {
  LruCache<std::string, std::string> cache({.max_cost = 100});
  cache.Put("a", "one", 30);
  cache.Put("b", "two", 30);
  cache.Put("a", "three", 50);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.cost(), 80u);
  EXPECT_EQ(*cache.Get("a"), "three");
  cache.Put("a", "four", 10);
  EXPECT_EQ(cache.cost(), 40u);
  // The overwrite made "a" the most recent, so "b" goes first.
  cache.Put("c", "five", 70);  // 110 > 100
  EXPECT_EQ(cache.cost(), 80u);
  EXPECT_EQ(cache.Get("b"), nullptr);
  EXPECT_EQ(*cache.Get("a"), "four");
}

TEST(LruCacheTest, EraseRemovesTheEntryAndItsCost) {
  LruCache<int, int> cache({.max_cost = 100});
  cache.Put(1, 10, 7);
  cache.Put(2, 20, 8);
  EXPECT_TRUE(cache.Erase(1));
  EXPECT_FALSE(cache.Erase(1));
  EXPECT_FALSE(cache.Erase(3));
  EXPECT_EQ(cache.Get(1), nullptr);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.cost(), 8u);
  cache.Clear();
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.cost(), 0u);
}

TEST(LruCacheTest, EntriesExpireAfterTheirTimeToLive) {
  FakeClock clock;
  LruCache<std::string, int> cache({.ttl = 10s}, clock.Fn());
  cache.Put("a", 1);
  clock.now += 5s;
  cache.Put("b", 2);
  clock.now += 4s;  // "a" is 9 s old
  ASSERT_NE(cache.Get("a"), nullptr);
  clock.now += 1s;  // "a" is 10 s old: expired; a Get does not extend its life
  EXPECT_EQ(cache.Get("a"), nullptr);
  EXPECT_EQ(cache.size(), 1u);  // the expired entry is gone
  ASSERT_NE(cache.Get("b"), nullptr);
  cache.Put("b", 3);  // a new Put restarts the clock
  clock.now += 9s;
  ASSERT_NE(cache.Get("b"), nullptr);
  EXPECT_EQ(*cache.Get("b"), 3);
}

TEST(LruCacheTest, WithoutTimeToLiveNothingExpires) {
  FakeClock clock;
  LruCache<std::string, int> cache({}, clock.Fn());
  cache.Put("a", 1);
  clock.now += std::chrono::hours(24 * 365);
  EXPECT_NE(cache.Get("a"), nullptr);
}

TEST(VisibilityCacheTest, AnswersUntilTheTtlOrAnInvalidation) {
  FakeClock clock;
  VisibilityCache cache(1000ms, 100, clock.Fn());
  EXPECT_EQ(cache.Lookup("v1"), std::nullopt);
  cache.Store("v1", {MediaAccess::kPublic});
  cache.Store("v2", {MediaAccess::kSigned});
  cache.Store("v3", {MediaAccess::kNone});
  EXPECT_EQ(cache.Lookup("v1"), MediaEntry{MediaAccess::kPublic});
  EXPECT_EQ(cache.Lookup("v2"), MediaEntry{MediaAccess::kSigned});
  EXPECT_EQ(cache.Lookup("v3"), MediaEntry{MediaAccess::kNone});
  // A video still processing: its growing playlists are served with a short max-age.
  cache.Store("v4", {MediaAccess::kPublic, false});
  EXPECT_FALSE(cache.Lookup("v4")->finished);
  EXPECT_TRUE(cache.Lookup("v2")->finished);
  cache.Invalidate("v1");
  EXPECT_EQ(cache.Lookup("v1"), std::nullopt);
  clock.now += 1001ms;
  EXPECT_EQ(cache.Lookup("v2"), std::nullopt);
}

TEST(VisibilityCacheTest, ForgetsTheLeastRecentlyAskedVideosWhenFull) {
  VisibilityCache cache(std::chrono::hours(1), 3);
  cache.Store("a", {MediaAccess::kPublic});
  cache.Store("b", {MediaAccess::kPublic});
  cache.Store("c", {MediaAccess::kSigned});
  EXPECT_EQ(cache.Lookup("a"), MediaEntry{MediaAccess::kPublic});
  cache.Store("d", {MediaAccess::kPublic});
  EXPECT_EQ(cache.Lookup("b"), std::nullopt);  // only the least recent one is forgotten
  EXPECT_EQ(cache.Lookup("a"), MediaEntry{MediaAccess::kPublic});
  EXPECT_EQ(cache.Lookup("c"), MediaEntry{MediaAccess::kSigned});
  EXPECT_EQ(cache.Lookup("d"), MediaEntry{MediaAccess::kPublic});
}

}  // namespace
}  // namespace newsreel::streaming
