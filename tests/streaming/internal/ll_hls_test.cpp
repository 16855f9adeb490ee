#include "streaming/internal/ll_hls.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace newsreel::streaming {
namespace {

using Clock = ParkedRequests::Clock;

// ---- The worker's part message -------------------------------------------------------------

TEST(PartMessageTest, TheContractsMessage) {
  auto part = ParsePartMessage(
      R"({"type":"part","rung":"720p","msn":12,"part":3,"file":"ll/720p/p12.3.m4s",)"
      R"("independent":true,"duration":0.333,"init":"ll/720p/init.mp4"})");
  ASSERT_TRUE(part.ok()) << part.status().message();
  EXPECT_EQ(part->rung, "720p");
  EXPECT_EQ(part->msn, 12);
  EXPECT_EQ(part->part, 3);
  EXPECT_EQ(part->file, "ll/720p/p12.3.m4s");
  EXPECT_EQ(part->init, "ll/720p/init.mp4");
  EXPECT_TRUE(part->independent);
  EXPECT_DOUBLE_EQ(part->duration, 0.333);
  // With the protocol's version field, and a trailing newline, it is the same message.
  auto versioned = ParsePartMessage(
      R"({"v":1,"type":"part","rung":"720p","msn":12,"part":3,"file":"ll/720p/p12.3.m4s",)"
      R"("independent":true,"duration":0.333,"init":"ll/720p/init.mp4"})"
      "\n");
  ASSERT_TRUE(versioned.ok()) << versioned.status().message();
  EXPECT_EQ(*versioned, *part);
}

TEST(PartMessageTest, OtherLinesAreNotParts) {
  for (const char* line :
       {"", "hello", "[]", R"({"v":1,"type":"heartbeat"})", R"({"rung":"a"})", R"({"type":7})"}) {
    auto part = ParsePartMessage(line);
    ASSERT_FALSE(part.ok()) << line;
    EXPECT_EQ(part.status().code(), ErrorCode::kNotFound) << line;
  }
}

TEST(PartMessageTest, BadFieldsAreRefused) {
  const std::string good_tail = R"(,"independent":false,"duration":0.3})";
  for (const std::string& body : {
           // Paths that are not the contract's, some of them reaching elsewhere.
           std::string(R"("rung":"360p","msn":1,"part":0,"file":"../../etc/passwd")"),
           std::string(R"("rung":"360p","msn":1,"part":0,"file":"ll/360p/p1.1.m4s")"),
           std::string(R"("rung":"360p","msn":1,"part":0,"file":"ll/720p/p1.0.m4s")"),
           std::string(R"("rung":"360p","msn":1,"part":0,"file":"/ll/360p/p1.0.m4s")"),
           std::string(
               R"("rung":"360p","msn":1,"part":0,"file":"ll/360p/p1.0.m4s","init":"/etc/x")"),
           // Rungs and numbers.
           std::string(R"("rung":"../x","msn":1,"part":0,"file":"ll/../x/p1.0.m4s")"),
           std::string(R"("rung":"","msn":1,"part":0,"file":"ll//p1.0.m4s")"),
           std::string(R"("rung":"360p","msn":-1,"part":0,"file":"ll/360p/p-1.0.m4s")"),
           std::string(R"("rung":"360p","msn":1.5,"part":0,"file":"ll/360p/p1.0.m4s")"),
           std::string(R"("rung":"360p","msn":1,"part":100000,"file":"ll/360p/p1.100000.m4s")"),
           std::string(R"("rung":"360p","msn":"1","part":0,"file":"ll/360p/p1.0.m4s")"),
           std::string(R"("rung":"360p","part":0,"file":"ll/360p/p1.0.m4s")"),
       }) {
    const std::string line = R"({"type":"part",)" + body + good_tail;
    auto part = ParsePartMessage(line);
    ASSERT_FALSE(part.ok()) << line;
    EXPECT_EQ(part.status().code(), ErrorCode::kInvalidArgument) << line;
  }
  auto bad_flag = ParsePartMessage(
      R"({"type":"part","rung":"a","msn":0,"part":0,"file":"ll/a/p0.0.m4s","independent":1})");
  EXPECT_FALSE(bad_flag.ok());
  auto bad_version = ParsePartMessage(
      R"({"v":2,"type":"part","rung":"a","msn":0,"part":0,"file":"ll/a/p0.0.m4s"})");
  EXPECT_FALSE(bad_version.ok());
}

// ---- Blocking playlist requests -----------------------------------------------------------

TEST(BlockingQueryTest, Parses) {
  auto none = ParseBlockingQuery({{"rung", "x"}});
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  auto msn = ParseBlockingQuery({{"_HLS_msn", "41"}});
  ASSERT_TRUE(msn.ok());
  EXPECT_EQ(**msn, (BlockingQuery{41, std::nullopt}));
  auto part = ParseBlockingQuery({{"_HLS_msn", "41"}, {"_HLS_part", "0"}});
  ASSERT_TRUE(part.ok());
  EXPECT_EQ(**part, (BlockingQuery{41, 0}));
}

TEST(BlockingQueryTest, RefusesWhatTheSpecRefuses) {
  // _HLS_part alone is a client error (RFC 8216bis 6.2.5.2); so are values that are no numbers.
  for (const std::map<std::string, std::string>& q :
       std::vector<std::map<std::string, std::string>>{
           {{"_HLS_part", "1"}},
           {{"_HLS_msn", ""}},
           {{"_HLS_msn", "-1"}},
           {{"_HLS_msn", "+1"}},
           {{"_HLS_msn", "01"}},
           {{"_HLS_msn", "1x"}},
           {{"_HLS_msn", "99999999999999999999"}},
           {{"_HLS_msn", "1"}, {"_HLS_part", "a"}},
           {{"_HLS_msn", "1"}, {"_HLS_part", "100000"}},
       }) {
    auto parsed = ParseBlockingQuery(q);
    EXPECT_FALSE(parsed.ok()) << q.begin()->first << "=" << q.begin()->second;
  }
}

TEST(BlockingQueryTest, Judged) {
  const PartPosition last{10, 2};  // part 2 of segment 10 is the newest
  // Listed already: answer now.
  EXPECT_EQ(JudgePlaylist({10, 2}, last), Readiness::kReady);
  EXPECT_EQ(JudgePlaylist({10, 0}, last), Readiness::kReady);
  EXPECT_EQ(JudgePlaylist({9, std::nullopt}, last), Readiness::kReady);  // 9 is complete
  EXPECT_EQ(JudgePlaylist({9, 7}, last), Readiness::kReady);  // past 9's last part: 10's are out
  // To come: wait.
  EXPECT_EQ(JudgePlaylist({10, 3}, last), Readiness::kWait);
  EXPECT_EQ(JudgePlaylist({10, std::nullopt}, last), Readiness::kWait);  // 10 in progress
  EXPECT_EQ(JudgePlaylist({11, 0}, last), Readiness::kWait);
  EXPECT_EQ(JudgePlaylist({12, std::nullopt}, last), Readiness::kWait);
  // More than two segments ahead: 400.
  EXPECT_EQ(JudgePlaylist({13, 0}, last), Readiness::kTooFar);
  EXPECT_EQ(JudgePlaylist({1000, std::nullopt}, last), Readiness::kTooFar);
}

// ---- Part files and the preload hint ------------------------------------------------------

TEST(PartFileTest, Names) {
  EXPECT_EQ(ParsePartFileName("p12.3.m4s"), (PartPosition{12, 3}));
  EXPECT_EQ(ParsePartFileName("p0.0.m4s"), (PartPosition{0, 0}));
  for (const char* name : {"s12.m4s", "p12.m4s", "p12.3.ts", "p-1.0.m4s", "p01.0.m4s", "p1.00.m4s",
                           "p.0.m4s", "p1..m4s", "p1.2.3.m4s", "init.mp4", "p1.0.m4s.tmp"})
    EXPECT_FALSE(ParsePartFileName(name).has_value()) << name;
}

TEST(PartFileTest, OnlyTheNextPartWaits) {
  const PartPosition last{10, 2};
  EXPECT_EQ(JudgePart({10, 3}, last), Readiness::kWait);  // the hint within the segment
  EXPECT_EQ(JudgePart({11, 0}, last), Readiness::kWait);  // or the next segment's first
  EXPECT_EQ(JudgePart({10, 2}, last), Readiness::kReady);
  EXPECT_EQ(JudgePart({3, 0}, last), Readiness::kReady);
  EXPECT_EQ(JudgePart({10, 4}, last), Readiness::kNotThere);
  EXPECT_EQ(JudgePart({11, 1}, last), Readiness::kNotThere);
  EXPECT_EQ(JudgePart({99, 0}, last), Readiness::kNotThere);
  EXPECT_EQ(JudgePart({0, 0}, PartPosition{}), Readiness::kNotThere);  // nothing announced
}

// ---- The registry -------------------------------------------------------------------------

ParkedRequests::Entry Playlist(uint64_t serial, const std::string& stream, const std::string& rung,
                               BlockingQuery q, Clock::time_point deadline,
                               const std::string& address = "192.0.2.1") {
  ParkedRequests::Entry e;
  e.serial = serial;
  e.stream = stream;
  e.rung = rung;
  e.kind = ParkedRequests::Kind::kPlaylist;
  e.playlist = q;
  e.deadline = deadline;
  e.address = address;
  return e;
}

ParkedRequests::Entry Part(uint64_t serial, const std::string& stream, const std::string& rung,
                           PartPosition p, Clock::time_point deadline) {
  ParkedRequests::Entry e = Playlist(serial, stream, rung, {}, deadline);
  e.kind = ParkedRequests::Kind::kPart;
  e.part = p;
  return e;
}

std::vector<uint64_t> Sorted(std::vector<uint64_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

TEST(ParkedRequestsTest, WakesWhatIsReadyOnItsRungOnly) {
  const auto later = Clock::now() + std::chrono::hours(1);
  ParkedRequests parked(0);
  ASSERT_TRUE(parked.Park(Playlist(1, "s", "720p", {10, 3}, later)));
  ASSERT_TRUE(parked.Park(Playlist(2, "s", "720p", {11, 0}, later)));
  ASSERT_TRUE(parked.Park(Playlist(3, "s", "360p", {10, 3}, later)));
  ASSERT_TRUE(parked.Park(Playlist(4, "t", "720p", {10, 3}, later)));
  ASSERT_TRUE(parked.Park(Part(5, "s", "720p", {10, 3}, later)));
  EXPECT_FALSE(parked.Park(Playlist(1, "s", "720p", {10, 4}, later)));  // held already
  EXPECT_EQ(parked.size(), 5u);

  EXPECT_TRUE(parked.Wake("s", "720p", {10, 2}).empty());
  EXPECT_EQ(Sorted(parked.Wake("s", "720p", {10, 3})), (std::vector<uint64_t>{1, 5}));
  EXPECT_FALSE(parked.Holds(1));
  EXPECT_TRUE(parked.Holds(3));  // another rung
  EXPECT_TRUE(parked.Holds(4));  // another stream
  EXPECT_EQ(parked.Wake("s", "720p", {11, 0}), (std::vector<uint64_t>{2}));
  EXPECT_EQ(parked.size(), 2u);

  // The stream goes off air: all of its requests go, the other stream's stay.
  EXPECT_EQ(parked.WakeAll("s"), (std::vector<uint64_t>{3}));
  EXPECT_EQ(parked.size(), 1u);
  parked.Remove(4);
  parked.Remove(4);  // twice: harmless
  EXPECT_EQ(parked.size(), 0u);
}

TEST(ParkedRequestsTest, ExpiresByDeadline) {
  const auto t0 = Clock::now();
  ParkedRequests parked(0);
  ASSERT_TRUE(parked.Park(Playlist(1, "s", "a", {5, 0}, t0 + std::chrono::seconds(6))));
  ASSERT_TRUE(parked.Park(Playlist(2, "s", "a", {5, 1}, t0 + std::chrono::seconds(3))));
  EXPECT_TRUE(parked.Expire(t0 + std::chrono::seconds(2)).empty());
  EXPECT_EQ(parked.Expire(t0 + std::chrono::seconds(3)), (std::vector<uint64_t>{2}));
  EXPECT_EQ(parked.Expire(t0 + std::chrono::seconds(60)), (std::vector<uint64_t>{1}));
  EXPECT_EQ(parked.size(), 0u);
}

TEST(ParkedRequestsTest, CapsEachAddress) {
  const auto later = Clock::now() + std::chrono::hours(1);
  ParkedRequests parked(2);
  EXPECT_TRUE(parked.Park(Playlist(1, "s", "a", {5, 0}, later, "198.51.100.7")));
  EXPECT_TRUE(parked.Park(Playlist(2, "s", "a", {5, 1}, later, "198.51.100.7")));
  EXPECT_FALSE(parked.Park(Playlist(3, "s", "a", {5, 2}, later, "198.51.100.7")));
  EXPECT_TRUE(parked.Park(Playlist(4, "s", "a", {5, 2}, later, "203.0.113.9")));  // another
  EXPECT_FALSE(parked.Holds(3));
  // Once one of its requests is answered, the address may park another.
  EXPECT_EQ(parked.Wake("s", "a", {5, 0}), (std::vector<uint64_t>{1}));
  EXPECT_TRUE(parked.Park(Playlist(5, "s", "a", {5, 3}, later, "198.51.100.7")));
  parked.Remove(2);
  EXPECT_TRUE(parked.Park(Playlist(6, "s", "a", {5, 3}, later, "198.51.100.7")));
  EXPECT_FALSE(parked.Park(Playlist(7, "s", "a", {5, 3}, later, "198.51.100.7")));
}

// ---- LiveRings: rungs and part positions --------------------------------------------------

TEST(LiveRingsTest, RungsAndTheTopOne) {
  LiveRings rings;
  EXPECT_FALSE(rings.Open("abc", {}, "../x").ok());
  auto low = rings.Open("abc", {}, "360p");
  auto high = rings.Open("abc", {}, "720p");
  auto mid = rings.Open("abc", {}, "480p");
  ASSERT_TRUE(low.ok() && high.ok() && mid.ok());
  EXPECT_EQ(rings.Find("abc", "360p"), *low);
  EXPECT_EQ(rings.Find("abc"), *high);  // the top rung by default
  EXPECT_EQ(rings.Find("abc", "1080p"), nullptr);
  EXPECT_EQ(rings.Find("abd"), nullptr);
  rings.Close("abc");
  EXPECT_TRUE((*low)->ended());
  EXPECT_TRUE((*high)->ended());
  EXPECT_EQ(rings.Find("abc"), nullptr);
}

TEST(LiveRingsTest, PartPositionsGoForwardAndReachSubscribers) {
  LiveRings rings;
  std::vector<std::string> heard;
  const int sub = rings.SubscribeParts(
      [&](const std::string& stream, const std::string& rung, PartPosition p, bool ended) {
        heard.push_back(stream + "/" + rung + ":" + std::to_string(p.msn) + "." +
                        std::to_string(p.part) + (ended ? " ended" : ""));
      });
  EXPECT_FALSE(rings.LastPart("abc", "360p").has_value());
  rings.NotePart("abc", "360p", {4, 1});
  rings.NotePart("abc", "360p", {4, 0});  // older: ignored
  rings.NotePart("abc", "360p", {5, 0});
  EXPECT_EQ(rings.LastPart("abc", "360p"), (PartPosition{5, 0}));
  rings.Close("abc");
  EXPECT_FALSE(rings.LastPart("abc", "360p").has_value());
  rings.UnsubscribeParts(sub);
  rings.NotePart("abc", "360p", {6, 0});  // not heard any more
  EXPECT_EQ(heard, (std::vector<std::string>{"abc/360p:4.1", "abc/360p:5.0", "abc/:-1.-1 ended"}));
}

}  // namespace
}  // namespace newsreel::streaming
