#include "transcoder/ts_slicer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace newsreel::transcoder {
namespace {

constexpr size_t kPacket = 188;

// `count` TS packets on `pid`, payload only, each ending in `fill` bytes.
std::vector<uint8_t> Packets(size_t count, int pid, uint8_t fill) {
  std::vector<uint8_t> ts;
  for (size_t i = 0; i < count; ++i) {
    const uint8_t header[4] = {0x47, static_cast<uint8_t>(pid >> 8),
                               static_cast<uint8_t>(pid & 0xff), 0x10};
    ts.insert(ts.end(), header, header + 4);
    ts.insert(ts.end(), kPacket - 4, fill);
  }
  return ts;
}

int Pid(const std::vector<uint8_t>& ts, size_t packet) {
  return ((ts[packet * kPacket + 1] & 0x1f) << 8) | ts[packet * kPacket + 2];
}

TEST(EndShortTsTest, AShortSegmentEndsWithANullPacket) {
  // PAT, PMT and one audio PES, like a one-frame clip's audio segment.
  std::vector<uint8_t> ts = Packets(2, 0x0000, 0xff);
  const std::vector<uint8_t> audio = Packets(1, 0x0041, 0xf1);
  ts.insert(ts.end(), audio.begin(), audio.end());
  const std::vector<uint8_t> before = ts;
  EXPECT_TRUE(EndShortTsWithNullPacket(ts));
  ASSERT_EQ(ts.size(), 4 * kPacket);
  EXPECT_TRUE(std::equal(before.begin(), before.end(), ts.begin())) << "the stream is untouched";
  EXPECT_EQ(ts[3 * kPacket], 0x47);
  EXPECT_EQ(Pid(ts, 3), 0x1fff);
  EXPECT_EQ(ts[3 * kPacket + 3] & 0x30, 0x10) << "payload only";
  // Already ends with one: nothing more.
  EXPECT_FALSE(EndShortTsWithNullPacket(ts));
  EXPECT_EQ(ts.size(), 4 * kPacket);
}

TEST(EndShortTsTest, SegmentsFfmpegRecognisesAreUntouched) {
  std::vector<uint8_t> ts = Packets(kTsPacketsRecognizedByContent, 0x0041, 0xf1);
  EXPECT_FALSE(EndShortTsWithNullPacket(ts));
  EXPECT_EQ(ts.size(), kTsPacketsRecognizedByContent * kPacket);
  std::vector<uint8_t> shorter = Packets(kTsPacketsRecognizedByContent - 1, 0x0041, 0xf1);
  EXPECT_TRUE(EndShortTsWithNullPacket(shorter));
  EXPECT_EQ(shorter.size(), kTsPacketsRecognizedByContent * kPacket);
}

}  // namespace
}  // namespace newsreel::transcoder
