// Fallback without losing the job, and the cap on hardware sessions.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/transcoder/encoder_fakes.h"
#include "tests/transcoder/test_util.h"
#include "transcoder/encoder_trial.h"
#include "transcoder/hw_sessions.h"
#include "transcoder/transcode.h"
#include "transcoder/ts_scanner.h"

namespace newsreel::transcoder {
namespace {

namespace fs = std::filesystem;
using testing::FakeRegistry;
using testing::Media;
using testing::TempDir;

TrialOptions Quick() {
  TrialOptions o;
  o.timeout = std::chrono::milliseconds(3000);
  return o;
}

// Every segment of every rung starts with an IDR, and the rungs cut at the same instants.
void ExpectCompleteLadder(const fs::path& out, const nlohmann::json& manifest) {
  ASSERT_EQ(manifest["rungs"].size(), 2u);
  std::vector<std::vector<int64_t>> starts;
  for (const auto& rung : manifest["rungs"]) {
    const fs::path dir = out / rung["name"].get<std::string>();
    EXPECT_TRUE(fs::exists(dir / "index.m3u8"));
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".ts") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    EXPECT_EQ(files.size(), rung["segments"].get<size_t>());
    starts.emplace_back();
    for (const auto& f : files) {
      auto scan = ScanTsFile(f.string());
      ASSERT_TRUE(scan.ok());
      ASSERT_FALSE(scan->video.empty()) << f;
      EXPECT_TRUE(scan->video.front().idr) << f;
      starts.back().push_back(scan->first_video_pts());
    }
  }
  EXPECT_EQ(starts[0], starts[1]);
  EXPECT_NEAR(manifest["duration_seconds"].get<double>(), 9.64, 0.1);
}

TranscodeOptions Options(EncoderProver& prover, HardwareSessions& sessions) {
  TranscodeOptions o;
  o.ladder.short_sides = {240, 144};
  o.encoders = &prover;
  o.sessions = &sessions;
  return o;
}

TEST(EncoderFallbackTest, MidJobFailureRerunsOnTheNextEncoder) {
  TempDir dir;
  auto registry = FakeRegistry({"fake-error"});
  EncoderProver prover(registry, Quick());
  HardwareSessions sessions(dir / "slots", 8);
  auto r = Transcode(Media("moviepy_chaplin.mp4"), dir / "out", Options(prover, sessions));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& m = r->manifest;
  EXPECT_EQ(m["encoder"], "x264");
  ASSERT_EQ(m["encoder_attempts"].size(), 1u);
  EXPECT_EQ(m["encoder_attempts"][0]["encoder"], "fake-error");
  EXPECT_NE(m["encoder_attempts"][0]["error"].get<std::string>().find("lost its device"),
            std::string::npos)
      << m["encoder_attempts"];
  ExpectCompleteLadder(dir.path() / "out", m);
  // The manifest on disk says the same.
  std::ifstream in(dir / "out/manifest.json");
  auto disk = nlohmann::json::parse(in);
  EXPECT_EQ(disk["encoder"], "x264");
  EXPECT_EQ(disk["encoder_attempts"][0]["encoder"], "fake-error");
}

TEST(EncoderFallbackTest, ProvenHardwareEncoderProducesTheLadder) {
  TempDir dir;
  auto registry = FakeRegistry({"fake-broken", "fake-hw"});
  EncoderProver prover(registry, Quick());
  HardwareSessions sessions(dir / "slots", 8);
  auto r = Transcode(Media("moviepy_chaplin.mp4"), dir / "out", Options(prover, sessions));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->manifest["encoder"], "fake-hw");
  EXPECT_EQ(r->manifest["encoder_element"], "fakehwh264enc");
  EXPECT_TRUE(r->manifest["encoder_attempts"].empty());  // the broken one never ran
  ExpectCompleteLadder(dir.path() / "out", r->manifest);
}

TEST(EncoderFallbackTest, JobBeyondTheSessionCapUsesTheNextEncoder) {
  TempDir dir;
  auto registry = FakeRegistry({"fake-hw"});
  EncoderProver prover(registry, Quick());
  HardwareSessions sessions(dir / "slots", 2);
  // Another job holds one of the two NVENC sessions; this one needs two (one per rung).
  auto held = sessions.TryAcquire(DeviceFamily::kNvidia, 1);
  ASSERT_TRUE(held.ok());
  auto r = Transcode(Media("moviepy_chaplin.mp4"), dir / "out", Options(prover, sessions));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->manifest["encoder"], "x264");
  ASSERT_EQ(r->manifest["encoder_attempts"].size(), 1u);
  EXPECT_EQ(r->manifest["encoder_attempts"][0]["encoder"], "fake-hw");
  EXPECT_NE(r->manifest["encoder_attempts"][0]["error"].get<std::string>().find("sessions"),
            std::string::npos);
}

TEST(EncoderFallbackTest, ForcedEncoderFailsClearlyWithoutFallback) {
  TempDir dir;
  auto registry = FakeRegistry({"fake-broken", "fake-error"});
  EncoderProver prover(registry, Quick());
  HardwareSessions sessions(dir / "slots", 8);
  TranscodeOptions o = Options(prover, sessions);
  o.encoder = "fake-broken";
  auto r = Transcode(Media("moviepy_chaplin.mp4"), dir / "a", o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("failed its trial encode"), std::string::npos);
  o.encoder = "fake-error";
  r = Transcode(Media("moviepy_chaplin.mp4"), dir / "b", o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("lost its device"), std::string::npos)
      << r.status().message();
  EXPECT_FALSE(fs::exists(dir.path() / "b"));
}

TEST(EncoderFallbackTest, SessionSlotsAreCappedAndReleased) {
  TempDir dir;
  HardwareSessions sessions(dir / "slots", 3);
  auto a = sessions.TryAcquire(DeviceFamily::kNvidia, 2);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->count(), 2);
  // All or nothing: two more do not fit, and the one free slot is not kept by the refusal.
  auto b = sessions.TryAcquire(DeviceFamily::kNvidia, 2);
  EXPECT_EQ(b.status().code(), ErrorCode::kFailedPrecondition);
  auto c = sessions.TryAcquire(DeviceFamily::kNvidia, 1);
  ASSERT_TRUE(c.ok());
  // Families are counted apart; software needs no slot.
  EXPECT_TRUE(sessions.TryAcquire(DeviceFamily::kVaapi, 3).ok());
  EXPECT_TRUE(sessions.TryAcquire(DeviceFamily::kNone, 100).ok());
  EXPECT_FALSE(sessions.TryAcquire(DeviceFamily::kNvidia, 4).ok());  // more than the cap
  a->Release();
  EXPECT_TRUE(sessions.TryAcquire(DeviceFamily::kNvidia, 2).ok());
}

}  // namespace
}  // namespace newsreel::transcoder
