#include "transcoder/live_playlist.h"

#include <gtest/gtest.h>

#include <string>

namespace newsreel::transcoder {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = LiveWindow::Clock;

LiveSegment Segment(int64_t seq, double duration = 2.0) {
  return {seq, "seg_" + std::to_string(seq) + ".ts", duration, 250000};
}

TEST(LiveWindowTest, SlidesKeepingAtLeastTheWindowAndCountsTheMediaSequence) {
  LiveWindowOptions o;
  o.target_duration = 2;
  o.window_seconds = 6;
  o.delete_grace = milliseconds(8000);
  LiveWindow w(o);
  const Clock::time_point t0{};
  for (int i = 0; i < 3; ++i) w.Add(Segment(i), t0 + seconds(2 * i));
  EXPECT_EQ(w.segments().size(), 3u);
  EXPECT_EQ(w.media_sequence(), 0);
  w.Add(Segment(3), t0 + seconds(6));
  ASSERT_EQ(w.segments().size(), 3u);  // 6 s, three target durations
  EXPECT_EQ(w.media_sequence(), 1);
  EXPECT_EQ(w.pending_deletion(), 1u);

  const std::string text = w.PlaylistText(false);
  EXPECT_NE(text.find("#EXT-X-TARGETDURATION:2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("#EXT-X-MEDIA-SEQUENCE:1\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("seg_0.ts"), std::string::npos) << text;
  EXPECT_NE(text.find("#EXTINF:2.00000,\nseg_3.ts\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("#EXT-X-ENDLIST"), std::string::npos);
  EXPECT_EQ(text.find("#EXT-X-PLAYLIST-TYPE"), std::string::npos) << "a sliding window is neither";
  EXPECT_NE(w.PlaylistText(true).find("#EXT-X-ENDLIST\n"), std::string::npos);
}

TEST(LiveWindowTest, ASegmentIsDeletedOnlyAfterItsGrace) {
  LiveWindowOptions o;
  o.target_duration = 2;
  o.window_seconds = 6;
  o.delete_grace = milliseconds(8000);
  LiveWindow w(o);
  const Clock::time_point t0{};
  for (int i = 0; i < 4; ++i) w.Add(Segment(i), t0 + seconds(2 * i));  // seg 0 leaves at 6 s
  EXPECT_TRUE(w.TakeExpired(t0 + seconds(6)).empty());
  EXPECT_TRUE(w.TakeExpired(t0 + milliseconds(13999)).empty());
  auto gone = w.TakeExpired(t0 + seconds(14));
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0], "seg_0.ts");
  EXPECT_TRUE(w.TakeExpired(t0 + seconds(100)).empty()) << "each file is handed out once";
  // Several leave, each with its own deadline, in order.
  w.Add(Segment(4), t0 + seconds(8));
  w.Add(Segment(5), t0 + seconds(10));
  EXPECT_EQ(w.TakeExpired(t0 + seconds(16)), std::vector<std::string>{"seg_1.ts"});
  EXPECT_EQ(w.TakeExpired(t0 + seconds(18)), std::vector<std::string>{"seg_2.ts"});
}

TEST(LiveWindowTest, AShortLastSegmentDoesNotShrinkTheWindowBelowThreeTargets) {
  LiveWindowOptions o;
  o.target_duration = 2;
  o.window_seconds = 6;
  LiveWindow w(o);
  const Clock::time_point t0{};
  for (int i = 0; i < 3; ++i) w.Add(Segment(i), t0);
  w.Add(Segment(3, 0.5), t0);
  // Dropping seg 0 would leave 4.5 s, under three target durations.
  EXPECT_EQ(w.media_sequence(), 0);
  EXPECT_EQ(w.segments().size(), 4u);
}

TEST(LiveWindowTest, OptionsThatBreakRfc8216AreRefusedWithAReason) {
  LiveWindowOptions o;
  o.target_duration = 2;
  o.window_seconds = 5;
  o.delete_grace = MinimumDeleteGrace(2, 30);
  Status s = CheckLiveWindowOptions(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("three target durations"), std::string::npos) << s.message();
  o.window_seconds = 30;
  EXPECT_TRUE(CheckLiveWindowOptions(o).ok());
  EXPECT_EQ(MinimumDeleteGrace(2, 30), milliseconds(32000));
  o.delete_grace = milliseconds(31000);
  s = CheckLiveWindowOptions(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("delete grace"), std::string::npos) << s.message();
}

TEST(LiveWindowTest, ADiscontinuityIsTaggedAndCountedOnceItSlidesOut) {
  LiveWindowOptions o;
  o.target_duration = 2;
  o.window_seconds = 6;
  o.delete_grace = milliseconds(8000);
  const Clock::time_point t0{};
  // An earlier run left seg 0-2 listed and seg_-1 in its grace with 3 s left.
  std::vector<LiveSegment> listed = {Segment(0), Segment(1), Segment(2)};
  LiveWindow w(o, listed, {{"seg_old.ts", milliseconds(3000)}}, 4, t0);
  EXPECT_EQ(w.discontinuity_sequence(), 4);
  EXPECT_EQ(w.pending_deletion(), 1u);
  LiveSegment next = Segment(3);
  next.discontinuity = true;  // the new run's first segment
  w.Add(next, t0);
  std::string text = w.PlaylistText(false);
  EXPECT_NE(text.find("#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-DISCONTINUITY-SEQUENCE:4\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("seg_2.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:2.00000,\nseg_3.ts\n"),
            std::string::npos)
      << text;
  // The tagged segment is still listed while older ones leave: the count stays.
  w.Add(Segment(4), t0);
  w.Add(Segment(5), t0);
  EXPECT_EQ(w.media_sequence(), 3);
  EXPECT_EQ(w.discontinuity_sequence(), 4);
  // Once it leaves, the tag goes with it and EXT-X-DISCONTINUITY-SEQUENCE counts it.
  w.Add(Segment(6), t0);
  EXPECT_EQ(w.media_sequence(), 4);
  EXPECT_EQ(w.discontinuity_sequence(), 5);
  text = w.PlaylistText(true);
  EXPECT_EQ(text.find("#EXT-X-DISCONTINUITY\n"), std::string::npos) << text;
  EXPECT_NE(text.find("#EXT-X-DISCONTINUITY-SEQUENCE:5\n"), std::string::npos) << text;
  // The restored grace runs from the restore, in deadline order with the new ones.
  EXPECT_TRUE(w.TakeExpired(t0 + milliseconds(2999)).empty());
  EXPECT_EQ(w.TakeExpired(t0 + seconds(3)), std::vector<std::string>{"seg_old.ts"});
  const auto pending = w.PendingDeletions(t0 + seconds(5));
  ASSERT_EQ(pending.size(), 4u);
  EXPECT_EQ(pending[0], (PendingDeletion{"seg_0.ts", milliseconds(3000)}));
}

LiveState SampleState() {
  LiveState s;
  s.next_sequence = 43;
  LiveRungState r;
  r.rung.name = "720p";
  r.rung.width = 1280;
  r.rung.height = 720;
  r.rung.bitrate = 2'500'000;
  r.rung.max_bitrate = 2'500'000;
  r.rung.buffer_size = 2'500'000;
  r.bandwidth = 3'900'000;
  r.codecs = "avc1.64001f,mp4a.40.2";
  r.discontinuity_sequence = 2;
  r.segments = {{41, LiveSegmentName(41), 2.0, 500000, true},
                {42, LiveSegmentName(42), 1.5, 400000, false}};
  r.pending = {{LiveSegmentName(40), milliseconds(12345)}};
  s.rungs.push_back(r);
  r.rung.name = "144p";
  r.rung.width = 256;
  r.rung.height = 144;
  r.rung.fps_n = 15;
  r.rung.low = true;
  s.rungs.push_back(r);
  return s;
}

TEST(LiveStateTest, RoundTripsEverythingALaterRunNeeds) {
  const LiveState s = SampleState();
  EXPECT_EQ(LiveSegmentName(42), "seg_00042.ts");
  auto back = ParseLiveState(LiveStateJson(s));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(LiveStateJson(*back), LiveStateJson(s));
  EXPECT_EQ(back->rungs[0].segments, s.rungs[0].segments);
  EXPECT_EQ(back->rungs[0].pending, s.rungs[0].pending);
  EXPECT_EQ(back->rungs[1].rung.fps_n, 15);
  const Ladder l = LadderOfState(s);
  ASSERT_EQ(l.rungs.size(), 2u);
  EXPECT_EQ(l.rungs[1].fps_n, 15);
  EXPECT_TRUE(l.rungs[1].low);
  EXPECT_EQ(l.gops_per_segment, 1);
  EXPECT_EQ(l.segment_ns(), 2'000'000'000);
}

TEST(LiveStateTest, ACorruptOrHostileStateIsRefusedWithAReason) {
  const std::string good = LiveStateJson(SampleState());
  auto refused = [](const std::string& text, const std::string& why) {
    auto r = ParseLiveState(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("live-state.json is corrupt"), std::string::npos)
        << r.status().message();
    EXPECT_NE(r.status().message().find(why), std::string::npos) << r.status().message();
  };
  auto with = [&](const std::string& from, const std::string& to) {
    std::string t = good;
    const size_t at = t.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) t.replace(at, from.size(), to);
    return t;
  };
  refused("", "not JSON");
  refused(good.substr(0, good.size() / 2), "not JSON");
  refused("[1,2,3]", "not an object");
  refused("{}", "no version");
  refused(with("\"version\": 1", "\"version\": 2"), "version 2");
  // Names that would leave the folder, or that this worker never writes.
  refused(with("\"name\": \"720p\"", "\"name\": \"../../etc\""), "name is malformed");
  refused(with("\"uri\": \"seg_00041.ts\"", "\"uri\": \"../../passwd\""), "uri is malformed");
  refused(with("\"uri\": \"seg_00041.ts\"", "\"uri\": \"seg_00099.ts\""), "sequence number");
  refused(with("\"uri\": \"seg_00040.ts\"", "\"uri\": \"/etc/passwd\""), "uri is malformed");
  refused(with("\"uri\": \"seg_00041.ts\"", "\"uri\": \"" + std::string(100000, 'a') + "\""),
          "too long");
  // Numbers out of range or of the wrong kind.
  refused(with("\"width\": 1280", "\"width\": 1281"), "odd size");
  refused(with("\"width\": 1280", "\"width\": -4"), "width is out of range");
  refused(with("\"width\": 1280", "\"width\": \"1280\""), "width is not a number");
  refused(with("\"next_sequence\": 43", "\"next_sequence\": 42"), "past next_sequence");
  refused(with("\"next_sequence\": 43", "\"next_sequence\": 1e300"), "next_sequence");
  refused(with("\"sequence\": 42", "\"sequence\": 44"), "not in sequence");
  refused(with("\"segment_seconds\": 2.0", "\"segment_seconds\": 5.0"), "target_duration");
  refused(with("\"name\": \"144p\"", "\"name\": \"720p\""), "720p twice");
  refused(with("\"remaining_ms\": 12345", "\"remaining_ms\": null"), "not a number");
  refused(with("\"ended\": false", "\"ended\": 0"), "ended is not true or false");
}

TEST(LiveMasterPlaylistTest, ListsEveryRungWithBandwidthCodecsAndResolution) {
  const std::string text =
      LiveMasterPlaylistText({{"720p/index.m3u8", 3300000, "avc1.64001f,mp4a.40.2", 1280, 720, 30},
                              {"360p/index.m3u8", 1100000, "avc1.64001e,mp4a.40.2", 640, 360, 30}});
  EXPECT_NE(text.find("#EXT-X-STREAM-INF:BANDWIDTH=3300000,CODECS=\"avc1.64001f,mp4a.40.2\","
                      "RESOLUTION=1280x720,FRAME-RATE=30.000\n720p/index.m3u8\n"),
            std::string::npos)
      << text;
  EXPECT_LT(text.find("720p/index.m3u8"), text.find("360p/index.m3u8"));
}

TEST(LiveBandwidthTest, TheBoundCoversTheVbvAudioAndTransportCosts) {
  Rung r;
  r.fps_n = 30;
  r.max_bitrate = 2'000'000;
  r.buffer_size = 2'000'000;  // half a 2 s segment... of a 2 Mb/s peak: 1 s
  const int64_t bound = LiveBandwidthBound(r, true, 64000, 48000, 2.0);
  // At least the VBV's worst segment (2 Mb/s + 2 Mbit / 2 s) and the audio.
  EXPECT_GE(bound, 3'000'000 + 64'000);
  // Not absurdly above it: players pick variants by this number.
  EXPECT_LE(bound, 3'400'000);
  EXPECT_LT(LiveBandwidthBound(r, false, 64000, 48000, 2.0), bound);
}

}  // namespace
}  // namespace newsreel::transcoder
