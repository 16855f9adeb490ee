#include "streaming/internal/address_limits.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace newsreel::streaming {
namespace {

using namespace std::chrono_literals;

// A clock the test moves by hand.
struct FakeClock {
  std::chrono::steady_clock::time_point now{std::chrono::hours(1)};
  AddressLimits::Clock Fn() {
    return [this] { return now; };
  }
};

AddressKey V4(const char* text) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  EXPECT_EQ(inet_pton(AF_INET, text, &in.sin_addr), 1) << text;
  auto key = AddressKeyOf(reinterpret_cast<const sockaddr*>(&in), sizeof in);
  EXPECT_TRUE(key.has_value()) << text;
  return key.value_or(AddressKey{});
}

AddressKey V6(const char* text) {
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  EXPECT_EQ(inet_pton(AF_INET6, text, &in6.sin6_addr), 1) << text;
  auto key = AddressKeyOf(reinterpret_cast<const sockaddr*>(&in6), sizeof in6);
  EXPECT_TRUE(key.has_value()) << text;
  return key.value_or(AddressKey{});
}

// The i-th of many distinct IPv4 addresses (10.x.y.z).
AddressKey Nth(int i) {
  const std::string text = "10." + std::to_string((i >> 16) & 255) + "." +
                           std::to_string((i >> 8) & 255) + "." + std::to_string(i & 255);
  return V4(text.c_str());
}

TEST(AddressLimitsTest, IPv4IsOneClientIPv6IsGroupedBySlash64MappedIPv4IsIPv4) {
  EXPECT_EQ(V4("203.0.113.7"), V4("203.0.113.7"));
  EXPECT_NE(V4("203.0.113.7"), V4("203.0.113.8"));
  EXPECT_EQ(V4("203.0.113.7").ToString(), "203.0.113.7");
  // Any two addresses in one /64 are one client; the next /64 is another.
  EXPECT_EQ(V6("2001:db8:1:2::1"), V6("2001:db8:1:2:ffff:ffff:ffff:ffff"));
  EXPECT_NE(V6("2001:db8:1:2::1"), V6("2001:db8:1:3::1"));
  EXPECT_EQ(V6("2001:db8:1:2:abcd::9").ToString(), "2001:db8:1:2::/64");
  // A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d.
  EXPECT_EQ(V6("::ffff:203.0.113.7"), V4("203.0.113.7"));
  EXPECT_NE(V6("::ffff:203.0.113.7"), V6("::203.0.113.7"));
  // No limit applies to a Unix socket; a truncated address is not read past its length.
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  EXPECT_EQ(AddressKeyOf(reinterpret_cast<const sockaddr*>(&un), sizeof un), std::nullopt);
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  EXPECT_EQ(AddressKeyOf(reinterpret_cast<const sockaddr*>(&in6), sizeof(sockaddr_in)),
            std::nullopt);
  EXPECT_EQ(AddressKeyOf(nullptr, 0), std::nullopt);
}

TEST(AddressLimitsTest, NoLimitsMeansEveryoneIsAdmitted) {
  AddressLimits limits({});
  EXPECT_FALSE(limits.enabled());
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(limits.ConnectionOpened(V4("192.0.2.1")).admission, Admission::kAdmit);
    EXPECT_EQ(limits.RequestStarted(V4("192.0.2.1")).admission, Admission::kAdmit);
  }
  EXPECT_EQ(limits.tracked(), 0u);
}

TEST(AddressLimitsTest, ConnectionsOverTheLimitAreRefusedUntilOneCloses) {
  FakeClock clock;
  AddressLimits limits({.max_connections = 3}, clock.Fn());
  const AddressKey a = V4("192.0.2.1"), b = V4("192.0.2.2");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limits.ConnectionOpened(a).admission, Admission::kAdmit);
  AddressDecision refused = limits.ConnectionOpened(a);
  EXPECT_EQ(refused.admission, Admission::kRefuse);
  EXPECT_EQ(refused.retry_after, AddressLimits::kConnectionRetryAfter);
  EXPECT_TRUE(refused.first_refusal);
  // Without a rate limit a refusal is always answered; only the first is worth a log line.
  for (int i = 0; i < 100; ++i) {
    AddressDecision again = limits.ConnectionOpened(a);
    EXPECT_EQ(again.admission, Admission::kRefuse);
    EXPECT_FALSE(again.first_refusal);
  }
  // Another address is not affected.
  EXPECT_EQ(limits.ConnectionOpened(b).admission, Admission::kAdmit);
  // A slot frees when a connection closes; then the next refusal is a first one again.
  limits.ConnectionClosed(a);
  EXPECT_EQ(limits.ConnectionOpened(a).admission, Admission::kAdmit);
  EXPECT_TRUE(limits.ConnectionOpened(a).first_refusal);
  // Requests are not limited when only connections are.
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(limits.RequestStarted(a).admission, Admission::kAdmit);
}

TEST(AddressLimitsTest, RequestsTakeTokensThatComeBackAtTheRate) {
  FakeClock clock;
  AddressLimits limits({.requests_per_second = 2, .burst = 5}, clock.Fn());
  const AddressKey a = V6("2001:db8::1"), neighbour = V6("2001:db8::2"), other = V6("2001:db9::1");
  // A burst of 5 at once, then refused: one token comes back every half second.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(limits.RequestStarted(a).admission, Admission::kAdmit) << i;
  AddressDecision refused = limits.RequestStarted(a);
  EXPECT_EQ(refused.admission, Admission::kRefuse);
  EXPECT_EQ(refused.retry_after, 1s);  // half a second, rounded up to what Retry-After can say
  EXPECT_TRUE(refused.first_refusal);
  EXPECT_FALSE(limits.RequestStarted(a).first_refusal);
  // The same /64 shares the bucket; another /64 has its own.
  EXPECT_EQ(limits.RequestStarted(neighbour).admission, Admission::kRefuse);
  EXPECT_EQ(limits.RequestStarted(other).admission, Admission::kAdmit);
  clock.now += 499ms;
  EXPECT_EQ(limits.RequestStarted(a).admission, Admission::kRefuse);
  clock.now += 1ms;
  EXPECT_EQ(limits.RequestStarted(a).admission, Admission::kAdmit);
  EXPECT_EQ(limits.RequestStarted(a).admission, Admission::kRefuse);
  // A long quiet spell fills the bucket up to the burst, no further.
  clock.now += 1h;
  for (int i = 0; i < 5; ++i) EXPECT_EQ(limits.RequestStarted(a).admission, Admission::kAdmit) << i;
  EXPECT_EQ(limits.RequestStarted(a).admission, Admission::kRefuse);
}

TEST(AddressLimitsTest, RetryAfterSaysWhenATokenIsBack) {
  FakeClock clock;
  AddressLimits limits({.requests_per_second = 0.25, .burst = 1}, clock.Fn());
  const AddressKey a = V4("198.51.100.4");
  EXPECT_EQ(limits.RequestStarted(a).admission, Admission::kAdmit);
  EXPECT_EQ(limits.RequestStarted(a).retry_after, 4s);
  clock.now += 2500ms;
  EXPECT_EQ(limits.RequestStarted(a).retry_after, 2s);  // 1.5 s, rounded up
  clock.now += 1500ms;
  EXPECT_EQ(limits.RequestStarted(a).admission, Admission::kAdmit);
}

TEST(AddressLimitsTest, RefusedConnectionsSpendRequestTokensThenAreDropped) {
  FakeClock clock;
  AddressLimits limits({.max_connections = 1, .requests_per_second = 1, .burst = 2}, clock.Fn());
  const AddressKey a = V4("192.0.2.9");
  EXPECT_EQ(limits.ConnectionOpened(a).admission, Admission::kAdmit);
  EXPECT_EQ(limits.ConnectionOpened(a).admission, Admission::kRefuse);
  EXPECT_EQ(limits.ConnectionOpened(a).admission, Admission::kRefuse);
  // No tokens left: further connections are closed without an answer, and requests wait too.
  EXPECT_EQ(limits.ConnectionOpened(a).admission, Admission::kDrop);
  EXPECT_EQ(limits.RequestStarted(a).admission, Admission::kRefuse);
  clock.now += 1s;
  EXPECT_EQ(limits.ConnectionOpened(a).admission, Admission::kRefuse);
  EXPECT_EQ(limits.ConnectionOpened(a).admission, Admission::kDrop);
}

TEST(AddressLimitsTest, AnAddressWithNothingToRememberIsForgotten) {
  FakeClock clock;
  AddressLimits limits({.max_connections = 10, .requests_per_second = 10, .burst = 10}, clock.Fn());
  const AddressKey a = V4("192.0.2.1");
  ASSERT_EQ(limits.ConnectionOpened(a).admission, Admission::kAdmit);
  EXPECT_EQ(limits.tracked(), 1u);
  limits.ConnectionClosed(a);
  EXPECT_EQ(limits.tracked(), 0u) << "no connection and a full bucket";
  ASSERT_EQ(limits.ConnectionOpened(a).admission, Admission::kAdmit);
  ASSERT_EQ(limits.RequestStarted(a).admission, Admission::kAdmit);
  limits.ConnectionClosed(a);
  EXPECT_EQ(limits.tracked(), 1u) << "the bucket is not full: the address is remembered";
  // ... so that closing and reconnecting does not give it a full bucket.
  for (int i = 0; i < 9; ++i) EXPECT_EQ(limits.RequestStarted(a).admission, Admission::kAdmit);
  EXPECT_EQ(limits.RequestStarted(a).admission, Admission::kRefuse);
  clock.now += 1s;
  ASSERT_EQ(limits.ConnectionOpened(a).admission, Admission::kAdmit);
  limits.ConnectionClosed(a);
  EXPECT_EQ(limits.tracked(), 0u);
}

TEST(AddressLimitsTest, MemoryIsBoundedAndAddressesWithConnectionsAreKept) {
  FakeClock clock;
  AddressLimits limits(
      {.max_connections = 1, .requests_per_second = 1, .burst = 1, .max_addresses = 64},
      clock.Fn());
  // Ten addresses hold a connection each (their limit).
  for (int i = 0; i < 10; ++i)
    ASSERT_EQ(limits.ConnectionOpened(Nth(i)).admission, Admission::kAdmit);
  // A hundred thousand others make one request each: their buckets are not full, so each would
  // be remembered if there were room.
  for (int i = 10; i < 100'010; ++i) {
    ASSERT_EQ(limits.RequestStarted(Nth(i)).admission, Admission::kAdmit);
    clock.now += 1us;
  }
  EXPECT_LE(limits.tracked(), 64u + 10u);
  // The ten are still at their limit: their entries were never forgotten.
  for (int i = 0; i < 10; ++i)
    EXPECT_NE(limits.ConnectionOpened(Nth(i)).admission, Admission::kAdmit) << i;
  // The most recent of the others are still remembered (their token is spent).
  EXPECT_EQ(limits.RequestStarted(Nth(100'009)).admission, Admission::kRefuse);
}

TEST(AddressLimitsTest, ManyThreadsAtOnceKeepTheCountsRight) {
  // More threads than an address may have connections: some are refused along the way.
  AddressLimits limits({.max_connections = 4, .requests_per_second = 1e9, .burst = 1e9});
  constexpr int kThreads = 8, kRounds = 20'000, kAddresses = 2;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&limits, t] {
      for (int i = 0; i < kRounds; ++i) {
        const AddressKey key = Nth((t + i) % kAddresses);
        if (limits.ConnectionOpened(key).admission == Admission::kAdmit) {
          EXPECT_EQ(limits.RequestStarted(key).admission, Admission::kAdmit);
          limits.ConnectionClosed(key);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  // Every connection was closed: each address may open its whole limit again, and no more.
  for (int a = 0; a < kAddresses; ++a) {
    for (int i = 0; i < 4; ++i)
      EXPECT_EQ(limits.ConnectionOpened(Nth(a)).admission, Admission::kAdmit);
    EXPECT_EQ(limits.ConnectionOpened(Nth(a)).admission, Admission::kRefuse);
  }
}

}  // namespace
}  // namespace newsreel::streaming
