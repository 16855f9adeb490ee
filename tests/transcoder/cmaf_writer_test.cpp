#include "transcoder/cmaf_writer.h"

#include <filesystem>
#include <fstream>
#include <optional>

#include "transcoder/ll_packager.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace newsreel::transcoder {
namespace {

uint32_t U32(std::string_view b, size_t at) {
  return (static_cast<uint32_t>(static_cast<uint8_t>(b[at])) << 24) |
         (static_cast<uint8_t>(b[at + 1]) << 16) | (static_cast<uint8_t>(b[at + 2]) << 8) |
         static_cast<uint8_t>(b[at + 3]);
}
uint64_t U64(std::string_view b, size_t at) {
  return (static_cast<uint64_t>(U32(b, at)) << 32) | U32(b, at + 4);
}

struct Box {
  std::string type;
  size_t offset = 0;      // of the box's first byte, in the buffer parsed
  std::string_view body;  // after the 8-byte header
};

// Parses a sequence of boxes; fails the test when a size does not fit exactly.
std::vector<Box> Boxes(std::string_view b, size_t base = 0) {
  std::vector<Box> out;
  size_t at = 0;
  while (at < b.size()) {
    EXPECT_GE(b.size() - at, 8u);
    if (b.size() - at < 8) break;
    const uint32_t size = U32(b, at);
    EXPECT_GE(size, 8u);
    EXPECT_LE(size, b.size() - at) << "box at " << at << " overruns its parent";
    if (size < 8 || size > b.size() - at) break;
    out.push_back({std::string(b.substr(at + 4, 4)), base + at, b.substr(at + 8, size - 8)});
    at += size;
  }
  return out;
}

const Box* Find(const std::vector<Box>& boxes, const std::string& type) {
  for (const Box& b : boxes)
    if (b.type == type) return &b;
  return nullptr;
}

// The box at a path of types ("moov/trak/mdia/mdhd"), or null.
std::optional<Box> Path(std::string_view data, const std::vector<std::string>& types) {
  std::vector<Box> level = Boxes(data);
  std::optional<Box> found;
  for (size_t i = 0; i < types.size(); ++i) {
    const Box* b = Find(level, types[i]);
    if (b == nullptr) return std::nullopt;
    found = *b;
    if (i + 1 < types.size()) level = Boxes(b->body);
  }
  return found;
}

const std::string kSps("\x67\x64\x00\x1f\xac\xd9\x40", 7);
const std::string kPps("\x68\xeb\xe3\xcb", 4);

TEST(CmafWriterTest, InitSegmentHasFtypAndAMoovWithBothTracksAndTheirConfig) {
  const std::string init = CmafInitSegment({640, 360, kSps, kPps},
                                           CmafAudioConfig{48000, 2, std::string("\x11\x90", 2)});
  const auto top = Boxes(init);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].type, "ftyp");
  EXPECT_EQ(top[1].type, "moov");
  const auto moov = Boxes(top[1].body);
  int traks = 0;
  for (const Box& b : moov) traks += b.type == "trak";
  EXPECT_EQ(traks, 2);
  ASSERT_NE(Find(moov, "mvex"), nullptr);
  EXPECT_EQ(Boxes(Find(moov, "mvex")->body).size(), 2u) << "one trex per track";
  // The video track: avcC carries the SPS and PPS, and the profile/level bytes of the SPS.
  auto stsd = Path(init, {"moov", "trak", "mdia", "minf", "stbl", "stsd"});
  ASSERT_TRUE(stsd);
  const auto entries = Boxes(stsd->body.substr(8));
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].type, "avc1");
  const auto avc1_children = Boxes(entries[0].body.substr(78));
  const Box* avcc = Find(avc1_children, "avcC");
  ASSERT_NE(avcc, nullptr);
  EXPECT_EQ(static_cast<uint8_t>(avcc->body[1]), 0x64);
  EXPECT_EQ(static_cast<uint8_t>(avcc->body[3]), 0x1f);
  EXPECT_NE(avcc->body.find(kSps), std::string_view::npos);
  EXPECT_NE(avcc->body.find(kPps), std::string_view::npos);
  // The audio track's esds holds the AudioSpecificConfig.
  EXPECT_NE(top[1].body.find("mp4a"), std::string_view::npos);
  EXPECT_NE(top[1].body.find(std::string("\x05\x02\x11\x90", 4)), std::string_view::npos);
  EXPECT_EQ(AvcCodecsOfSps(kSps), "avc1.64001f");
}

TEST(CmafWriterTest, AFragmentsTrunCountsItsSamplesAndPointsAtItsData) {
  CmafRun run;
  run.track_id = kCmafVideoTrack;
  run.base_decode_time = 123456789012ULL;
  const std::vector<std::string> frames = {"IDRIDRIDR", "P1", "P22", "P333"};
  for (size_t i = 0; i < frames.size(); ++i) {
    run.samples.push_back({static_cast<uint32_t>(frames[i].size()), 3600, i == 0, 0});
    run.data += frames[i];
  }
  const std::string frag = CmafFragment(7, run);
  const auto top = Boxes(frag);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].type, "moof");
  EXPECT_EQ(top[1].type, "mdat");
  EXPECT_EQ(top[1].body, run.data);
  auto mfhd = Path(frag, {"moof", "mfhd"});
  ASSERT_TRUE(mfhd);
  EXPECT_EQ(U32(mfhd->body, 4), 7u);
  auto tfdt = Path(frag, {"moof", "traf", "tfdt"});
  ASSERT_TRUE(tfdt);
  EXPECT_EQ(static_cast<uint8_t>(tfdt->body[0]), 1) << "64-bit decode time";
  EXPECT_EQ(U64(tfdt->body, 4), run.base_decode_time);
  auto trun = Path(frag, {"moof", "traf", "trun"});
  ASSERT_TRUE(trun);
  EXPECT_EQ(U32(trun->body, 4), frames.size()) << "sample count = frames";
  // data_offset (from the moof's first byte) lands on the mdat's payload.
  EXPECT_EQ(U32(trun->body, 8), top[1].offset + 8);
  // Per sample: duration, size, flags, composition offset; the first is a sync sample.
  EXPECT_EQ(U32(trun->body, 12), 3600u);
  EXPECT_EQ(U32(trun->body, 16), 9u);
  EXPECT_EQ(U32(trun->body, 20), 0x02000000u);
  EXPECT_EQ(U32(trun->body, 28 + 8), 0x01010000u) << "a P frame is not a sync sample";
  EXPECT_TRUE(CmafFragment(1, CmafRun{}).empty());
}

TEST(CmafWriterTest, AnnexBBecomesLengthPrefixedWithoutDelimiters) {
  std::string au;
  au += std::string("\x00\x00\x00\x01\x09\xf0", 6);  // AUD
  au += std::string("\x00\x00\x00\x01", 4) + kSps;
  au += std::string("\x00\x00\x01", 3) + kPps;
  au += std::string("\x00\x00\x00\x01\x65\x88\x84\x00\x21", 9);  // IDR slice
  const AvcSample s = AvcSampleFromAnnexB(au);
  EXPECT_TRUE(s.idr);
  EXPECT_EQ(s.sps, kSps);
  EXPECT_EQ(s.pps, kPps);
  EXPECT_EQ(s.data, std::string("\x00\x00\x00\x07", 4) + kSps + std::string("\x00\x00\x00\x04", 4) +
                        kPps + std::string("\x00\x00\x00\x05\x65\x88\x84\x00\x21", 9))
      << "the parameter sets stay in band, the delimiter goes";
  const AvcSample p = AvcSampleFromAnnexB(std::string("\x00\x00\x01\x41\x9a\x02", 6));
  EXPECT_FALSE(p.idr);
  EXPECT_EQ(p.data, std::string("\x00\x00\x00\x03\x41\x9a\x02", 7));
}

TEST(CmafWriterTest, AdtsFramesAreSplitAndTheirConfigRead) {
  // Two AAC-LC frames, 48 kHz stereo, without CRC: 7-byte headers, payloads of 3 and 2 bytes.
  auto header = [](size_t length) {
    return std::string{'\xff',
                       '\xf1',
                       '\x4c',
                       static_cast<char>(0x80 | ((length >> 11) & 3)),
                       static_cast<char>((length >> 3) & 0xff),
                       static_cast<char>(((length & 7) << 5) | 0x1f),
                       '\xfc'};
  };
  const std::string adts = header(10) + "abc" + header(9) + "de";
  CmafAudioConfig config;
  auto frames = SplitAdtsFrames(adts, &config);
  ASSERT_TRUE(frames.ok()) << frames.status().message();
  ASSERT_EQ(frames->size(), 2u);
  EXPECT_EQ((*frames)[0], "abc");
  EXPECT_EQ((*frames)[1], "de");
  EXPECT_EQ(config.sample_rate, 48000);
  EXPECT_EQ(config.channels, 2);
  EXPECT_EQ(config.asc, std::string("\x11\x90", 2));
  // Hostile or cut input is refused, not read past its end.
  EXPECT_FALSE(SplitAdtsFrames(adts.substr(0, adts.size() - 1), nullptr).ok());
  EXPECT_FALSE(SplitAdtsFrames("garbage!", nullptr).ok());
  EXPECT_FALSE(SplitAdtsFrames(header(3), nullptr).ok()) << "a length shorter than its header";
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Every traf of a part or segment: its track, tfdt and sample count and durations.
struct TrafFacts {
  uint32_t track = 0;
  uint64_t decode_time = 0;
  uint32_t samples = 0;
  uint64_t duration = 0;
  bool first_sync = false;
};
std::vector<TrafFacts> Trafs(std::string_view file) {
  std::vector<TrafFacts> out;
  for (const Box& top : Boxes(file)) {
    if (top.type != "moof") continue;
    const auto traf = Boxes(Find(Boxes(top.body), "traf")->body);
    TrafFacts f;
    f.track = U32(Find(traf, "tfhd")->body, 4);
    f.decode_time = U64(Find(traf, "tfdt")->body, 4);
    const std::string_view trun = Find(traf, "trun")->body;
    f.samples = U32(trun, 4);
    for (uint32_t i = 0; i < f.samples; ++i) f.duration += U32(trun, 12 + 16 * i);
    f.first_sync = U32(trun, 12 + 8) == 0x02000000u;
    out.push_back(f);
  }
  return out;
}

TEST(LlPackagerTest, PartsContinueEachOthersDecodeTimesAndSegmentsAreTheirParts) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("ll_packager_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  LlPackagerOptions o;
  o.dir = dir;
  o.fps_n = 25;
  o.fps_d = 1;
  o.width = 640;
  o.height = 360;
  o.plan = PlanParts(333, 25, 1, 50);
  o.first_msn = 3;
  std::vector<LlPartClosed> closed;
  LlPackager ll(o, [&](const LlPartClosed& p) { closed.push_back(p); });
  const std::string idr = std::string("\x00\x00\x00\x01", 4) + kSps +
                          std::string("\x00\x00\x00\x01", 4) + kPps +
                          std::string("\x00\x00\x00\x01\x65\x88\x84", 7);
  const std::string p = std::string("\x00\x00\x00\x01\x41\x9a\x02", 7);
  // One AAC frame of 48 kHz (1024 samples, 21.33 ms) with a 7-byte ADTS header.
  const std::string adts = std::string("\xff\xf1\x4c\x80\x01\x5f\xfc", 7) + "abc";
  int64_t audio_ns = 0;
  const int64_t frame_ns = 40'000'000;
  for (int i = 0; i < 120; ++i) {  // 4.8 s: two whole segments and a part of the third
    const int64_t t = i * frame_ns + 1'000'000'000;
    ASSERT_TRUE(ll.AddVideo(i % 50 == 0 ? idr : p, t, t, i % 50 == 0).ok());
    while (audio_ns < t + frame_ns) {
      ASSERT_TRUE(ll.AddAudio(adts, audio_ns + 1'000'000'000).ok());
      audio_ns += 21'333'333;
    }
  }
  ASSERT_TRUE(ll.EndVideo().ok());
  ASSERT_TRUE(ll.EndAudio().ok());
  ASSERT_EQ(closed.size(), 7u + 7u + 3u);
  EXPECT_EQ(closed[0].msn, 3);
  EXPECT_TRUE(closed[0].independent);
  EXPECT_FALSE(closed[1].independent);
  EXPECT_TRUE(closed[6].segment_complete);
  EXPECT_NEAR(closed[6].segment_duration, 2.0, 1e-9);
  EXPECT_EQ(closed[7].msn, 4);
  EXPECT_EQ(closed[0].codecs, "avc1.64001f,mp4a.40.2");

  const auto init = Boxes(ReadFile(dir / "init.mp4"));
  ASSERT_EQ(init.size(), 2u);
  EXPECT_EQ(init[1].type, "moov");
  // Part after part, each track's tfdt is where the previous part's samples ended; the video
  // samples are the frames (7 or 8 per part).
  std::optional<uint64_t> video_end, audio_end;
  uint32_t frames = 0;
  for (const LlPartClosed& c : closed) {
    const std::string part = ReadFile(dir / LlPartName(c.msn, c.part));
    const auto trafs = Trafs(part);
    ASSERT_GE(trafs.size(), 2u) << LlPartName(c.msn, c.part);
    for (const TrafFacts& t : trafs) {
      auto& end = t.track == kCmafVideoTrack ? video_end : audio_end;
      if (end) EXPECT_EQ(t.decode_time, *end) << LlPartName(c.msn, c.part) << " track " << t.track;
      end = t.decode_time + t.duration;
      if (t.track == kCmafVideoTrack) {
        frames += t.samples;
        EXPECT_EQ(t.first_sync, c.independent);
        EXPECT_NEAR(t.duration / 90000.0, c.duration, 1e-9);
        EXPECT_GE(t.samples, c.segment_complete && c.msn == 5 ? 1u : 7u);
        EXPECT_LE(t.samples, 8u);
      }
    }
  }
  EXPECT_EQ(frames, 120u);
  EXPECT_EQ(*video_end, 90000u * 58 / 10) << "from 1 s to 5.8 s";
  // A segment is its parts, concatenated.
  std::string parts;
  for (int k = 0; k < 7; ++k) parts += ReadFile(dir / LlPartName(4, k));
  EXPECT_EQ(ReadFile(dir / LlSegmentName(4)), parts);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace newsreel::transcoder
