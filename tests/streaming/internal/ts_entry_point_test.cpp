// Where a puller joining a live MPEG-TS relay starts: on a transport stream ffmpeg really muxes
// (H.264 with a keyframe every 25 frames, AAC), on hand-made packets for the cases an encoder
// does not produce, and on hostile bytes.
#include "streaming/internal/ts_entry_point.h"
#include "tests/common/capture.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace newsreel::streaming {
namespace {

namespace fs = std::filesystem;

int Pid(const uint8_t* p) { return ((p[1] & 0x1f) << 8) | p[2]; }
bool RandomAccess(const uint8_t* p) { return (p[3] & 0x20) && p[4] > 0 && (p[5] & 0x40); }

using newsreel::test_support::Capture;

// 3 s of 320x240 at 25 fps, a keyframe every second, with AAC: as an encoder sends it.
std::vector<uint8_t> MuxedByFfmpeg() {
  const std::string out = Capture(
      "ffmpeg -v error -f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi -i sine -t 3 "
      "-c:v libx264 -preset ultrafast -g 25 -c:a aac -f mpegts -");
  return {out.begin(), out.end()};
}

// The messages a publisher sends: 7 packets (1316 bytes) each.
std::vector<std::span<const uint8_t>> Messages(const std::vector<uint8_t>& ts) {
  std::vector<std::span<const uint8_t>> out;
  for (size_t at = 0; at < ts.size(); at += 7 * kTsPacketBytes) {
    out.push_back({ts.data() + at, std::min(ts.size() - at, 7 * kTsPacketBytes)});
  }
  return out;
}

TEST(TsEntryPointTest, StartsAtAKeyframeOfTheVideoAfterTheTables) {
  const auto ts = MuxedByFfmpeg();
  ASSERT_GT(ts.size(), 100 * kTsPacketBytes);
  ASSERT_EQ(ts.size() % kTsPacketBytes, 0u);
  TsEntryPoint entry;
  std::vector<size_t> starts;  // offsets in the whole stream
  size_t base = 0;
  for (auto m : Messages(ts)) {
    entry.Observe(m);
    size_t at = entry.FindStart(m);
    if (at != TsEntryPoint::kNone) {
      starts.push_back(base + at);
      const uint8_t* p = m.data() + at;
      EXPECT_EQ(Pid(p), entry.video_pid());
      EXPECT_TRUE(RandomAccess(p));
    }
    base += m.size();
  }
  EXPECT_EQ(entry.video_pid(), 0x100);  // ffmpeg's first stream
  // A keyframe every second for 3 s: one start point in each of them (and no more).
  EXPECT_EQ(starts.size(), 3u);
  auto tables = entry.Tables();
  ASSERT_EQ(tables.size(), 2 * kTsPacketBytes);
  EXPECT_EQ(Pid(tables.data()), 0);
  EXPECT_EQ(Pid(tables.data() + kTsPacketBytes), 0x1000);  // ffmpeg's PMT PID

  // What a puller joining at the second keyframe gets decodes from its first frame on: the
  // tables, then the stream from there.
  ASSERT_GE(starts.size(), 2u);
  const fs::path file =
      fs::temp_directory_path() / ("ts_entry_point_" + std::to_string(getpid()) + ".ts");
  {
    std::ofstream out(file, std::ios::binary);
    out.write(reinterpret_cast<const char*>(tables.data()), tables.size());
    out.write(reinterpret_cast<const char*>(ts.data() + starts[1]), ts.size() - starts[1]);
  }
  // The first video frame read is a keyframe, and every frame after it decodes (no error).
  const std::string frames = Capture(
      "ffprobe -v error -select_streams v:0 -show_entries frame=key_frame "
      "-of csv=p=0 '" +
      file.string() + "' 2>&1");
  fs::remove(file);
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames.substr(0, 2), "1\n") << frames;
  EXPECT_EQ(frames.find("rror"), std::string::npos) << frames;
  EXPECT_GE(std::count(frames.begin(), frames.end(), '\n'), 45) << frames;  // 2 s of 25 fps
}

// A packet: PID, payload_unit_start, an adaptation field with random_access if asked, payload.
std::vector<uint8_t> Packet(int pid, bool unit_start, bool random_access,
                            const std::vector<uint8_t>& payload = {}) {
  std::vector<uint8_t> p(kTsPacketBytes, 0xff);
  p[0] = 0x47;
  p[1] = static_cast<uint8_t>((unit_start ? 0x40 : 0) | ((pid >> 8) & 0x1f));
  p[2] = static_cast<uint8_t>(pid & 0xff);
  size_t at = 4;
  if (random_access) {
    p[3] = 0x30;
    p[4] = 1;
    p[5] = 0x40;
    at = 6;
  } else {
    p[3] = 0x10;
  }
  for (size_t i = 0; i < payload.size() && at + i < kTsPacketBytes; ++i) p[at + i] = payload[i];
  return p;
}

// PAT naming one program whose PMT is on `pmt_pid` (CRC not checked, so zero).
std::vector<uint8_t> Pat(int pmt_pid) {
  return Packet(
      0, true, false,
      {0, 0x00, 0xb0, 13, 0, 1, 0xc1, 0, 0, 0, 1, static_cast<uint8_t>(0xe0 | pmt_pid >> 8),
       static_cast<uint8_t>(pmt_pid & 0xff), 0, 0, 0, 0});
}

// PMT with the streams given as (stream_type, pid).
std::vector<uint8_t> Pmt(int pmt_pid, const std::vector<std::pair<uint8_t, int>>& streams) {
  std::vector<uint8_t> s = {0x02, 0xb0, 0, 0, 1, 0xc1, 0, 0, 0xe1, 0x00, 0xf0, 0};
  for (auto [type, pid] : streams) {
    s.insert(s.end(),
             {type, static_cast<uint8_t>(0xe0 | pid >> 8), static_cast<uint8_t>(pid), 0xf0, 0});
  }
  s.insert(s.end(), {0, 0, 0, 0});
  s[2] = static_cast<uint8_t>(s.size() - 3);
  s.insert(s.begin(), 0);  // pointer_field
  return Packet(pmt_pid, true, false, s);
}

std::vector<uint8_t> Join(std::initializer_list<std::vector<uint8_t>> packets) {
  std::vector<uint8_t> out;
  for (const auto& p : packets) out.insert(out.end(), p.begin(), p.end());
  return out;
}

TEST(TsEntryPointTest, WithoutVideoAnyStreamsUnitStartIsAStart) {
  TsEntryPoint entry;
  auto m = Join({Pat(0x20), Pmt(0x20, {{0x0f, 0x31}}), Packet(0x31, false, false),
                 Packet(0x99, true, false), Packet(0x31, true, false)});
  entry.Observe(m);
  EXPECT_EQ(entry.video_pid(), -1);
  EXPECT_EQ(entry.FindStart(m), 4 * kTsPacketBytes);
}

TEST(TsEntryPointTest, NoTablesNoStartAndANewPublisherIsAnotherStream) {
  TsEntryPoint entry;
  auto keyframe = Packet(0x100, true, true);
  EXPECT_EQ(entry.FindStart(keyframe), TsEntryPoint::kNone);  // no PMT seen: nothing known
  entry.Observe(Join({Pat(0x1000), Pmt(0x1000, {{0x1b, 0x100}, {0x0f, 0x101}})}));
  EXPECT_EQ(entry.FindStart(keyframe), 0u);
  // A keyframe flag on audio, a unit start without the flag, another PID: not a start.
  EXPECT_EQ(entry.FindStart(Join({Packet(0x101, true, true), Packet(0x100, true, false),
                                  Packet(0x100, false, true), Packet(0x200, true, true)})),
            TsEntryPoint::kNone);
  entry.Reset();
  EXPECT_TRUE(entry.Tables().empty());
  EXPECT_EQ(entry.FindStart(keyframe), TsEntryPoint::kNone);
  // A PAT that moves the PMT forgets the old one's streams.
  entry.Observe(Join({Pat(0x1000), Pmt(0x1000, {{0x24, 0x100}})}));
  EXPECT_EQ(entry.video_pid(), 0x100);
  entry.Observe(Pat(0x1001));
  EXPECT_EQ(entry.video_pid(), -1);
  EXPECT_TRUE(entry.Tables().empty());
}

TEST(TsEntryPointTest, HostileBytesAreNotUnderstoodAndDoNotCrash) {
  TsEntryPoint entry;
  entry.Observe(Join({Pat(0x1000), Pmt(0x1000, {{0x1b, 0x100}})}));
  const auto tables = std::vector<uint8_t>(entry.Tables().begin(), entry.Tables().end());
  // Tables whose lengths claim more than the packet: ignored, the good ones kept.
  auto long_pat = Pat(0x1000);
  long_pat[6] = 0xff;
  long_pat[7] = 0xff;
  auto far_pointer = Pmt(0x1000, {{0x1b, 0x300}});
  far_pointer[4] = 200;
  auto long_info = Pmt(0x1000, {{0x1b, 0x300}});
  long_info[4 + 1 + 10] = 0x0f;  // program_info_length 0xf00
  auto long_af = Packet(0x100, true, true);
  long_af[4] = 250;
  entry.Observe(Join({long_pat, far_pointer}));
  EXPECT_EQ(std::vector<uint8_t>(entry.Tables().begin(), entry.Tables().end()), tables);
  entry.Observe(long_info);  // understood as a PMT with no streams: no start point then
  EXPECT_EQ(entry.video_pid(), -1);
  EXPECT_EQ(entry.FindStart(Packet(0x100, true, true)), TsEntryPoint::kNone);
  entry.Observe(Join({Pat(0x1000), Pmt(0x1000, {{0x1b, 0x100}})}));
  EXPECT_EQ(entry.FindStart(Join({long_af, Packet(0x100, true, true)})), 0u);

  // A short tail, a missing sync byte, random bytes: read up to there, no further.
  auto keyframe = Packet(0x100, true, true);
  EXPECT_EQ(entry.FindStart({keyframe.data(), 187}), TsEntryPoint::kNone);
  auto unsynced = Join({Packet(0x101, false, false), keyframe});
  unsynced[0] = 0x48;
  EXPECT_EQ(entry.FindStart(unsynced), TsEntryPoint::kNone);
  std::vector<uint8_t> noise(188 * 64);
  uint32_t x = 12345;
  for (int round = 0; round < 200; ++round) {
    for (auto& b : noise) {
      x = x * 1103515245 + 12345;
      b = static_cast<uint8_t>(x >> 16);
    }
    for (size_t i = 0; i < noise.size(); i += 188) noise[i] = 0x47;
    entry.Observe(noise);
    (void)entry.FindStart(noise);
    (void)entry.Tables();
  }
  entry.Observe({});
  EXPECT_EQ(entry.FindStart({}), TsEntryPoint::kNone);
}

}  // namespace
}  // namespace newsreel::streaming
