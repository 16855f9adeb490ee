#include "transcoder/cmaf_writer.h"

#include <gtest/gtest.h>

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

TEST(CmafWriterTest, AnnexBBecomesLengthPrefixedWithoutParameterSetsOrDelimiters) {
  std::string au;
  au += std::string("\x00\x00\x00\x01\x09\xf0", 6);  // AUD
  au += std::string("\x00\x00\x00\x01", 4) + kSps;
  au += std::string("\x00\x00\x01", 3) + kPps;
  au += std::string("\x00\x00\x00\x01\x65\x88\x84\x00\x21", 9);  // IDR slice
  const AvcSample s = AvcSampleFromAnnexB(au);
  EXPECT_TRUE(s.idr);
  EXPECT_EQ(s.sps, kSps);
  EXPECT_EQ(s.pps, kPps);
  EXPECT_EQ(s.data, std::string("\x00\x00\x00\x05\x65\x88\x84\x00\x21", 9));
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

}  // namespace
}  // namespace newsreel::transcoder
