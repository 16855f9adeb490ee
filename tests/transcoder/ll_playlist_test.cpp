#include "transcoder/ll_playlist.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>

namespace newsreel::transcoder {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = LlWindow::Clock;

LlWindowOptions Options() {
  LlWindowOptions o;
  o.target_duration = 2;
  o.part_target = 0.33334;
  o.window_seconds = 6;
  o.delete_grace = milliseconds(8000);
  return o;
}

// Six parts of 1/3 s, the first independent: one 2 s segment.
void AddSegment(LlWindow& w, Clock::time_point now) {
  for (int k = 0; k < 6; ++k) w.AddPart({1.0 / 3, k == 0});
  w.CompleteSegment(now);
}

bool Has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

TEST(LlPlaylistTest, ListsEveryLowLatencyTagTheSpecAsksFor) {
  LlWindow w(Options(), 40);
  const Clock::time_point t0{};
  AddSegment(w, t0);
  w.AddPart({1.0 / 3, true});
  w.AddPart({1.0 / 3, false});
  const std::string text =
      w.PlaylistText({{"../360p/index.m3u8", 41, 1}, {"../144p/index.m3u8", 41, 0}}, false);
  EXPECT_TRUE(text.rfind("#EXTM3U\n#EXT-X-VERSION:6\n", 0) == 0) << text;
  EXPECT_TRUE(Has(text, "#EXT-X-TARGETDURATION:2")) << text;
  EXPECT_TRUE(Has(text, "#EXT-X-PART-INF:PART-TARGET=0.33334")) << text;
  EXPECT_TRUE(Has(text, "#EXT-X-MEDIA-SEQUENCE:40")) << text;
  EXPECT_TRUE(Has(text, "#EXT-X-MAP:URI=\"init.mp4\"")) << text;
  // PART-HOLD-BACK at least three part targets, blocking reloads.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      text, m, std::regex("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=([0-9.]+)")))
      << text;
  EXPECT_GE(std::stod(m[1]), 3 * 0.33334 - 1e-9);
  // The complete segment: its parts, INDEPENDENT on the first, then its EXTINF.
  EXPECT_TRUE(Has(text, "#EXT-X-PART:DURATION=0.33333,URI=\"p40.0.m4s\",INDEPENDENT=YES")) << text;
  EXPECT_TRUE(Has(text, "#EXT-X-PART:DURATION=0.33333,URI=\"p40.5.m4s\"")) << text;
  EXPECT_TRUE(Has(text, "#EXTINF:2.00000,\ns40.m4s")) << text;
  // The segment in progress, then the hint for its next part, then the other rungs.
  EXPECT_TRUE(Has(text, "#EXT-X-PART:DURATION=0.33333,URI=\"p41.0.m4s\",INDEPENDENT=YES")) << text;
  EXPECT_TRUE(Has(text, "#EXT-X-PART:DURATION=0.33333,URI=\"p41.1.m4s\"")) << text;
  EXPECT_TRUE(Has(text, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p41.2.m4s\"")) << text;
  EXPECT_LT(text.find("p41.1.m4s"), text.find("PRELOAD-HINT"));
  EXPECT_TRUE(
      Has(text, "#EXT-X-RENDITION-REPORT:URI=\"../360p/index.m3u8\",LAST-MSN=41,LAST-PART=1"));
  EXPECT_TRUE(
      Has(text, "#EXT-X-RENDITION-REPORT:URI=\"../144p/index.m3u8\",LAST-MSN=41,LAST-PART=0"));
  EXPECT_EQ(text.find("#EXT-X-ENDLIST"), std::string::npos);
  int64_t msn = 0;
  int part = 0;
  ASSERT_TRUE(w.LastPart(&msn, &part));
  EXPECT_EQ(msn, 41);
  EXPECT_EQ(part, 1);
}

TEST(LlPlaylistTest, APreloadHintIsAlwaysThereWhileLiveEvenRightAfterASegmentEnds) {
  LlWindow w(Options(), 0);
  int64_t msn = 0;
  int part = 0;
  EXPECT_FALSE(w.LastPart(&msn, &part));
  EXPECT_TRUE(Has(w.PlaylistText({}, false), "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p0.0.m4s\""));
  AddSegment(w, Clock::time_point{});
  const std::string text = w.PlaylistText({}, false);
  EXPECT_TRUE(Has(text, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p1.0.m4s\"")) << text;
  ASSERT_TRUE(w.LastPart(&msn, &part));
  EXPECT_EQ(msn, 0);
  EXPECT_EQ(part, 5);
  // Ended: no hint, EXT-X-ENDLIST.
  const std::string ended = w.PlaylistText({}, true);
  EXPECT_EQ(ended.find("PRELOAD-HINT"), std::string::npos);
  EXPECT_TRUE(Has(ended, "#EXT-X-ENDLIST"));
}

TEST(LlPlaylistTest, PartsAreListedOnlyForTheLastThreeTargetDurations) {
  LlWindowOptions o = Options();
  o.window_seconds = 12;
  LlWindow w(o, 0);
  const Clock::time_point t0{};
  for (int i = 0; i < 6; ++i) AddSegment(w, t0);
  w.AddPart({1.0 / 3, true});
  const std::string text = w.PlaylistText({}, false);
  EXPECT_TRUE(Has(text, "#EXT-X-MEDIA-SEQUENCE:0")) << text;
  EXPECT_TRUE(Has(text, "s0.m4s")) << text;
  // 1/3 s in progress + segments 5, 4 and 3 (6 s): the parts of 3, 4, 5 are listed, not of 2.
  EXPECT_EQ(text.find("p2.0.m4s"), std::string::npos) << text;
  EXPECT_NE(text.find("p3.0.m4s"), std::string::npos) << text;
  EXPECT_NE(text.find("p5.5.m4s"), std::string::npos) << text;
}

TEST(LlPlaylistTest, SegmentsSlideOutAndTheirFilesGoAfterTheGrace) {
  LlWindow w(Options(), 0);
  const Clock::time_point t0{};
  for (int i = 0; i < 4; ++i) AddSegment(w, t0 + seconds(2 * i));  // s0 leaves at 6 s
  EXPECT_EQ(w.segments().front().msn, 1);
  EXPECT_TRUE(Has(w.PlaylistText({}, false), "#EXT-X-MEDIA-SEQUENCE:1"));
  EXPECT_TRUE(w.TakeExpired(t0 + milliseconds(13999)).empty());
  const auto gone = w.TakeExpired(t0 + seconds(14));
  ASSERT_EQ(gone.size(), 7u);  // s0.m4s and its six parts
  EXPECT_EQ(gone[0], "s0.m4s");
  EXPECT_EQ(gone[6], "p0.5.m4s");
  EXPECT_TRUE(w.TakeExpired(t0 + seconds(100)).empty());
}

TEST(LlPlaylistTest, ANewRunIsADiscontinuity) {
  LlWindow w(Options(), 7);
  w.MarkDiscontinuity();
  w.AddPart({0.2, true});
  std::string text = w.PlaylistText({}, false);
  EXPECT_LT(text.find("#EXT-X-DISCONTINUITY\n"), text.find("p7.0.m4s")) << text;
  for (int k = 1; k < 10; ++k) w.AddPart({0.2, false});
  w.CompleteSegment(Clock::time_point{});
  text = w.PlaylistText({}, false);
  EXPECT_LT(text.find("#EXT-X-DISCONTINUITY\n"), text.find("p7.0.m4s")) << text;
  EXPECT_TRUE(Has(text, "#EXTINF:2.00000,\ns7.m4s")) << text;
}

TEST(LlStateTest, AWindowSavedAndParsedBackContinuesPastEveryNumberItUsed) {
  LlWindow w(Options(), 0);
  const Clock::time_point t0{};
  for (int i = 0; i < 4; ++i) AddSegment(w, t0 + seconds(2 * i));  // s0 leaves, graced
  w.AddPart({1.0 / 3, true});                                      // p4.0, never completed
  LlState state;
  state.part_target = 0.33334;
  state.next_msn = 5;
  state.end_ns = 8'333'333'333;
  state.rungs.push_back(w.Save("360p", t0 + seconds(10)));
  auto parsed = ParseLlState(LlStateJson(state));
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->next_msn, 5);
  EXPECT_EQ(parsed->end_ns, 8'333'333'333);
  EXPECT_DOUBLE_EQ(parsed->part_target, 0.33334);
  ASSERT_EQ(parsed->rungs.size(), 1u);
  const LlRungState& r = parsed->rungs[0];
  EXPECT_EQ(r.name, "360p");
  ASSERT_EQ(r.segments.size(), 3u);
  EXPECT_EQ(r.segments.front().msn, 1);
  EXPECT_EQ(r.segments.front().parts.size(), 6u);
  ASSERT_EQ(r.leaving.size(), 1u);
  EXPECT_EQ(r.leaving[0].remaining, milliseconds(4000));  // left at 6 s, 8 s of grace, now 10 s

  // The next run starts at 5: segment 4's first part went out, so 4 is never used again. A
  // playlist cannot skip a number, so the old window leaves at once (graced like any segment
  // that slid out) and the new one starts at 5 after a discontinuity.
  const Clock::time_point t1 = t0 + seconds(60);
  LlWindow next(Options(), ContinuedAt(r, parsed->next_msn, Options().delete_grace),
                parsed->next_msn, t1);
  next.MarkDiscontinuity();
  next.AddPart({0.2, true});
  const std::string text = next.PlaylistText({}, false);
  EXPECT_TRUE(Has(text, "#EXT-X-MEDIA-SEQUENCE:5")) << text;
  EXPECT_EQ(text.find("s3.m4s"), std::string::npos) << text;
  EXPECT_LT(text.find("#EXT-X-DISCONTINUITY\n"), text.find("p5.0.m4s")) << text;
  EXPECT_EQ(text.find("p4.0.m4s"), std::string::npos) << "the unfinished segment is not reused";
  EXPECT_TRUE(next.TakeExpired(t1 + milliseconds(3999)).empty());
  EXPECT_EQ(next.TakeExpired(t1 + seconds(4)).size(), 7u);  // s0 and its parts, as saved
  EXPECT_TRUE(next.TakeExpired(t1 + milliseconds(7999)).empty());
  EXPECT_EQ(next.TakeExpired(t1 + seconds(8)).size(), 21u);  // s1 to s3 and their parts
}

TEST(LlStateTest, ARunThatStartsRightAfterTheSavedWindowKeepsIt) {
  LlWindow w(Options(), 0);
  const Clock::time_point t0{};
  for (int i = 0; i < 3; ++i) AddSegment(w, t0 + seconds(2 * i));
  w.MarkDiscontinuity();
  AddSegment(w, t0 + seconds(6));  // s3 after a discontinuity; s0 slid out
  const LlRungState saved = w.Save("360p", t0 + seconds(8));
  ASSERT_EQ(saved.segments.back().msn, 3);

  const LlRungState kept = ContinuedAt(saved, 4, milliseconds(8000));
  EXPECT_EQ(kept.segments.size(), saved.segments.size());
  LlWindow next(Options(), kept, 4, t0 + seconds(60));
  next.MarkDiscontinuity();
  next.AddPart({0.2, true});
  const std::string text = next.PlaylistText({}, false);
  EXPECT_TRUE(Has(text, "#EXT-X-MEDIA-SEQUENCE:1")) << text;
  EXPECT_LT(text.find("s3.m4s"), text.find("p4.0.m4s")) << text;

  // Started two past it instead: the window leaves, and the discontinuity it listed (s3's) is
  // counted in the discontinuity sequence, as when it slides out.
  const LlRungState dropped = ContinuedAt(saved, 5, milliseconds(8000));
  EXPECT_TRUE(dropped.segments.empty());
  EXPECT_EQ(dropped.discontinuity_sequence, saved.discontinuity_sequence + 1);
  EXPECT_EQ(dropped.leaving.size(), saved.leaving.size() + saved.segments.size());
}

TEST(LlStateTest, AHostileStateIsRefusedWithAReason) {
  for (
      const char* text : {
          "",
          "[]",
          "{\"version\":2}",
          R"({"version":1,"part_target":0.3,"next_msn":2,"end_ns":0,"rungs":"x"})",
          // A segment numbered at or past next_msn.
          R"({"version":1,"part_target":0.3,"next_msn":2,"end_ns":0,"rungs":[{"name":"360p",)"
          R"("discontinuity_sequence":0,"segments":[{"msn":2,"duration":2,"discontinuity":false,)"
          R"("parts":[]}],"leaving":[]}]})",
          // Segments out of order.
          R"({"version":1,"part_target":0.3,"next_msn":9,"end_ns":0,"rungs":[{"name":"360p",)"
          R"("discontinuity_sequence":0,"segments":[{"msn":2,"duration":2,"discontinuity":false,)"
          R"("parts":[]},{"msn":1,"duration":2,"discontinuity":false,"parts":[]}],"leaving":[]}]})",
          R"({"version":1,"part_target":0.3,"next_msn":-1,"end_ns":0,"rungs":[]})",
      }) {
    auto parsed = ParseLlState(text);
    EXPECT_FALSE(parsed.ok()) << text;
    if (!parsed.ok()) EXPECT_NE(parsed.status().message().find("corrupt"), std::string::npos);
  }
}

TEST(LlPartPlanTest, CutsSpreadEvenlyAndNoPartOutlastsTheTarget) {
  // 30 fps, 2 s: six parts of ten frames.
  LlPartPlan p30 = PlanParts(333, 30, 1, 60);
  EXPECT_EQ(p30.parts, 6);
  EXPECT_EQ(p30.max_frames, 10);
  EXPECT_EQ(p30.PartEnd(0), 10);
  EXPECT_EQ(p30.PartEnd(5), 60);
  EXPECT_DOUBLE_EQ(p30.Target(30, 1), 0.33334);
  // 25 fps, 2 s: seven parts of 7 or 8 frames (0.28 to 0.32 s), none of 2 frames.
  LlPartPlan p25 = PlanParts(333, 25, 1, 50);
  EXPECT_EQ(p25.parts, 7);
  EXPECT_EQ(p25.max_frames, 8);
  int previous = 0;
  for (int k = 0; k < p25.parts; ++k) {
    const int frames = p25.PartEnd(k) - previous;
    EXPECT_GE(frames, 7);
    EXPECT_LE(frames, 8);
    previous = p25.PartEnd(k);
  }
  EXPECT_EQ(previous, 50);
  EXPECT_EQ(p25.PartEnd(7), 58) << "a longer GOP than planned goes on in parts of max_frames";
  EXPECT_DOUBLE_EQ(p25.Target(25, 1), 0.32);
  // The slate, 5 fps: one frame per part.
  EXPECT_EQ(PlanParts(333, 5, 1, 10).parts, 10);
  // 29.97 fps.
  EXPECT_LE(PlanParts(333, 30000, 1001, 60).Target(30000, 1001), 0.3337);
}

}  // namespace
}  // namespace newsreel::transcoder
