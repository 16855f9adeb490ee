#include "streaming/internal/event_socket.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace newsreel::streaming {
namespace {

std::shared_ptr<const Event> MakeEvent(uint64_t seq, EventAudience audience) {
  auto e = std::make_shared<Event>();
  e->seq = seq;
  e->type = "video.updated";
  e->audience = std::move(audience);
  e->json = nlohmann::json{{"seq", seq}, {"type", e->type}}.dump();
  return e;
}

Caller SignedIn(int64_t id, catalog::Role role) {
  Caller c;
  c.anonymous = false;
  c.role = role;
  c.user = catalog::User{.id = id, .name = "user" + std::to_string(id), .role = role};
  return c;
}
Caller Viewer() { return Caller{}; }
Caller Staff() { return SignedIn(50, catalog::Role::kEditor); }
Caller Reporter(int64_t id) { return SignedIn(id, catalog::Role::kReporter); }
constexpr int64_t kLan = 7, kMinh = 8;

TEST(EventSocketTest, EachCallerHearsWhatItMaySee) {
  const EventAudience staff_only{};
  const EventAudience public_video{.is_public = true, .owner_id = kLan};
  const EventAudience lans_draft{.is_public = false, .owner_id = kLan};
  EXPECT_FALSE(MaySee(Viewer(), staff_only));
  EXPECT_FALSE(MaySee(Viewer(), lans_draft));
  EXPECT_TRUE(MaySee(Viewer(), public_video));
  EXPECT_TRUE(MaySee(Staff(), staff_only));
  EXPECT_TRUE(MaySee(Staff(), lans_draft));
  EXPECT_TRUE(MaySee(Reporter(kLan), lans_draft));
  EXPECT_FALSE(MaySee(Reporter(kMinh), lans_draft));
  EXPECT_FALSE(MaySee(Reporter(kMinh), staff_only));

  EventSocket viewer(Viewer(), 10);
  EXPECT_FALSE(viewer.Offer(MakeEvent(1, lans_draft)));
  EXPECT_TRUE(viewer.Offer(MakeEvent(2, public_video)));
  ASSERT_EQ(viewer.backlog(), 1u);
  EXPECT_EQ(nlohmann::json::parse(*viewer.Next())["seq"], 2);
  EXPECT_EQ(viewer.Next(), nullptr);
}

TEST(EventSocketTest, ASlowClientGetsAnOverflowNoticeAndBoundedMemory) {
  EventSocket slow(Staff(), 5);
  for (uint64_t seq = 1; seq <= 1000; ++seq) {
    slow.Offer(MakeEvent(seq, {}));
    EXPECT_LE(slow.backlog(), 5u) << "after event " << seq;
  }
  EXPECT_GT(slow.missed(), 0u);
  // It reads what is queued: an overflow notice, then the newest events in order.
  auto first = nlohmann::json::parse(*slow.Next());
  uint64_t last_seq = 0;
  bool saw_overflow = first["type"] == "overflow";
  if (saw_overflow) {
    EXPECT_GT(first["data"]["missed"].get<uint64_t>(), 0u);
    last_seq = first["seq"].get<uint64_t>();
  }
  EXPECT_TRUE(saw_overflow);
  while (auto next = slow.Next()) {
    auto j = nlohmann::json::parse(*next);
    EXPECT_GT(j["seq"].get<uint64_t>(), last_seq);
    last_seq = j["seq"].get<uint64_t>();
  }
  EXPECT_EQ(last_seq, 1000u) << "the newest event is never the one lost";
}

TEST(EventSocketTest, TheOverflowNoticeCountsEventsOnly) {
  EventSocket s(Staff(), 3);
  s.Push(std::make_shared<const std::string>("{\"type\":\"hello\"}"));
  s.Offer(MakeEvent(1, {}));
  s.Offer(MakeEvent(2, {}));
  s.Offer(MakeEvent(3, {}));  // the 4th message: hello and events 1, 2, 3 are dropped for a notice
  auto notice = nlohmann::json::parse(*s.Next());
  EXPECT_EQ(notice["type"], "overflow");
  EXPECT_EQ(notice["data"]["missed"], 3) << "events 1, 2 and 3; hello is not an event";
  EXPECT_EQ(s.missed(), 3u);
}

TEST(EventSocketTest, AFastClientMissesNothing) {
  EventSocket fast(Staff(), 3);
  for (uint64_t seq = 1; seq <= 100; ++seq) {
    ASSERT_TRUE(fast.Offer(MakeEvent(seq, {})));
    auto j = nlohmann::json::parse(*fast.Next());
    EXPECT_EQ(j["seq"], seq);
  }
  EXPECT_EQ(fast.missed(), 0u);
}

}  // namespace
}  // namespace newsreel::streaming
