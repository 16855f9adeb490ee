#include "streaming/events.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace newsreel::streaming {
namespace {

TEST(EventBusTest, EverySinkSeesEveryEventInTheSameOrder) {
  EventBus bus;
  std::vector<uint64_t> a, b;
  bus.Subscribe([&](std::shared_ptr<const Event> e) {
    a.push_back(nlohmann::json::parse(e->json)["seq"].get<uint64_t>());
  });
  bus.Subscribe([&](std::shared_ptr<const Event> e) {
    b.push_back(nlohmann::json::parse(e->json)["seq"].get<uint64_t>());
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) bus.Publish("video.updated", {{"i", i}});
    });
  for (auto& t : threads) t.join();
  ASSERT_EQ(a.size(), 400u);
  EXPECT_EQ(a, b);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], i + 1);
}

TEST(EventBusTest, ProgressIsThrottledPerJobButTheFinalOneAlwaysGoesOut) {
  EventBus bus(std::chrono::hours(1));
  std::vector<std::string> seen;
  bus.Subscribe([&](std::shared_ptr<const Event> e) { seen.push_back(e->json); });
  EXPECT_TRUE(bus.PublishProgress(1, {{"percent", 1}}));
  EXPECT_FALSE(bus.PublishProgress(1, {{"percent", 2}}));
  EXPECT_TRUE(bus.PublishProgress(2, {{"percent", 1}}));  // another job
  EXPECT_TRUE(bus.PublishProgress(1, {{"percent", 100}}, /*final=*/true));
  EXPECT_EQ(seen.size(), 3u);
  auto last = nlohmann::json::parse(seen.back());
  EXPECT_EQ(last["type"], "job.progress");
  EXPECT_EQ(last["data"]["percent"], 100);
}

TEST(EventBusTest, EventsCarryTheirAudienceStaffOnlyByDefault) {
  EventBus bus;
  std::vector<std::shared_ptr<const Event>> seen;
  bus.Subscribe([&](std::shared_ptr<const Event> e) { seen.push_back(e); });
  bus.Publish("video.updated", {{"id", "a"}});
  bus.Publish("video.ready", {{"id", "b"}}, {.is_public = true, .owner_id = 7});
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_FALSE(seen[0]->audience.is_public);
  EXPECT_FALSE(seen[0]->audience.owner_id.has_value());
  EXPECT_TRUE(seen[1]->audience.is_public);
  EXPECT_EQ(seen[1]->audience.owner_id, 7);
  EXPECT_EQ(seen[1]->type, "video.ready");
  EXPECT_EQ(nlohmann::json::parse(seen[1]->json)["seq"], seen[1]->seq);
}

TEST(EventBusTest, UnsubscribedSinksHearNothing) {
  EventBus bus;
  int n = 0;
  int id = bus.Subscribe([&](auto) { ++n; });
  bus.Publish("x", {});
  bus.Unsubscribe(id);
  bus.Publish("x", {});
  EXPECT_EQ(n, 1);
}

}  // namespace
}  // namespace newsreel::streaming
