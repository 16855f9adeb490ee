// Detection with proof: priority order, the trial rejecting broken and hanging encoders, and the
// process-wide survey on this machine.
#include "transcoder/encoder_trial.h"

#include <gtest/gtest.h>

#include "tests/transcoder/encoder_fakes.h"
#include "transcoder/device_path.h"

namespace newsreel::transcoder {
namespace {

using testing::FakeRegistry;

TrialOptions Quick() {
  TrialOptions o;
  o.timeout = std::chrono::milliseconds(3000);
  return o;
}

TEST(EncoderTrialTest, KnownEncodersAreInPriorityOrder) {
  std::vector<std::string> factories;
  for (const auto& e : EncoderRegistry::KnownEncoders()) factories.push_back(e->factory());
  EXPECT_EQ(factories, (std::vector<std::string>{"nvh264enc", "nvh265enc", "vah264enc", "vah265enc",
                                                 "vaapih264enc", "qsvh264enc", "v4l2h264enc",
                                                 "newsreelx264", "openh264enc"}));
  for (const auto& e : EncoderRegistry::KnownEncoders())
    EXPECT_EQ(e->hardware(), e->factory() != "newsreelx264" && e->factory() != "openh264enc")
        << e->name();
}

TEST(EncoderTrialTest, X264PassesItsTrial) {
  X264Encoder x264;
  Status s = TrialEncode(x264, Quick());
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST(EncoderTrialTest, AutoPicksTheFirstProvenInPriorityOrder) {
  auto registry = FakeRegistry({"fake-hw"});
  EncoderProver prover(registry, Quick());
  auto picked = prover.Auto();
  ASSERT_TRUE(picked.ok()) << picked.status().ToString();
  EXPECT_EQ((*picked)->name(), "fake-hw");
}

TEST(EncoderTrialTest, TrialRejectsTheBrokenEncoder) {
  auto registry = FakeRegistry({"fake-broken", "fake-hw"});
  EncoderProver prover(registry, Quick());
  auto picked = prover.Auto();
  ASSERT_TRUE(picked.ok()) << picked.status().ToString();
  EXPECT_EQ((*picked)->name(), "fake-hw");
  EncoderReport broken = prover.Check(*registry.Find("fake-broken"));
  EXPECT_TRUE(broken.present);
  EXPECT_FALSE(broken.proven);
  EXPECT_FALSE(broken.error.empty());
  // Forcing it fails clearly, naming the trial.
  Status forced = prover.ForEachCandidate("fake-broken", [](const VideoEncoder&) { return true; });
  EXPECT_EQ(forced.code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(forced.message().find("failed its trial encode"), std::string::npos)
      << forced.message();
}

// One of the fakes, declared as needing no trial (as x264 is).
class WithoutTrial : public VideoEncoder {
 public:
  explicit WithoutTrial(std::unique_ptr<VideoEncoder> inner) : inner_(std::move(inner)) {}
  std::string name() const override { return inner_->name(); }
  std::string factory() const override { return inner_->factory(); }
  bool hardware() const override { return inner_->hardware(); }
  bool NeedsTrial() const override { return false; }
  EncoderConfig Configure(const VideoEncodeSettings& s) const override {
    return inner_->Configure(s);
  }
  Result<GstPtr<GstElement>> CreateBin(const VideoEncodeSettings& s) const override {
    return inner_->CreateBin(s);
  }

 private:
  std::unique_ptr<VideoEncoder> inner_;
};

TEST(EncoderTrialTest, OnlyX264GoesWithoutATrial) {
  for (const auto& e : EncoderRegistry::KnownEncoders())
    EXPECT_EQ(e->NeedsTrial(), e->name() != "x264") << e->name();
}

TEST(EncoderTrialTest, AnEncoderThatNeedsNoTrialIsTakenWithoutOne) {
  // The broken fake fails any trial (TrialRejectsTheBrokenEncoder): being picked proves that
  // no trial ran.
  testing::RegisterFakeEncoders();
  EncoderRegistry registry;
  registry.Register(std::make_unique<WithoutTrial>(testing::FakeEncoder("fake-broken")));
  registry.Register(testing::FakeEncoder("fake-hw"));
  EncoderProver prover(registry, Quick());
  auto picked = prover.Auto();
  ASSERT_TRUE(picked.ok()) << picked.status().ToString();
  EXPECT_EQ((*picked)->name(), "fake-broken");
  std::vector<std::string> named;
  Status s = prover.ForEachCandidate("fake-broken", [&](const VideoEncoder& e) {
    named.push_back(e.name());
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(named, std::vector<std::string>{"fake-broken"});
  // `newsreel encoders` still runs its trial, and says it fails; from then on neither auto nor
  // the encoder's name takes it (what `newsreel encoders` prints agrees with itself).
  EncoderReport report = prover.Check(*registry.Find("fake-broken"));
  EXPECT_TRUE(report.present);
  EXPECT_FALSE(report.proven);
  auto after = prover.Auto();
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ((*after)->name(), "fake-hw");
  Status refused = prover.ForEachCandidate("fake-broken", [](const VideoEncoder&) { return true; });
  EXPECT_EQ(refused.code(), ErrorCode::kFailedPrecondition) << refused.ToString();
}

TEST(EncoderTrialTest, AnAbsentEncoderIsNotTakenTrialOrNot) {
  EncoderRegistry registry;
  registry.Register(std::make_unique<WithoutTrial>(std::make_unique<TableEncoder>(
      "missing", "nosuchh264enc", VideoCodec::kH264, DeviceFamily::kNone, false,
      +[](const VideoEncodeSettings&) { return EncoderConfig{}; })));
  EncoderProver prover(registry, Quick());
  EXPECT_FALSE(prover.Auto().ok());
  Status s = prover.ForEachCandidate("missing", [](const VideoEncoder&) { return true; });
  EXPECT_EQ(s.code(), ErrorCode::kNotFound);
  EXPECT_NE(s.message().find("nosuchh264enc"), std::string::npos) << s.message();
}

TEST(EncoderTrialTest, HangingEncoderTimesOut) {
  auto registry = FakeRegistry({"fake-hang"});
  TrialOptions o = Quick();
  o.timeout = std::chrono::milliseconds(700);
  Status s = TrialEncode(*registry.Find("fake-hang"), o);
  EXPECT_EQ(s.code(), ErrorCode::kTimeout) << s.ToString();
  EncoderProver prover(registry, o);
  auto picked = prover.Auto();
  ASSERT_TRUE(picked.ok());
  EXPECT_EQ((*picked)->name(), "x264");
  EXPECT_NE(prover.Check(*registry.Find("fake-hang")).error.find("no end of stream"),
            std::string::npos);
}

TEST(EncoderTrialTest, ErrorAfterNFramesPassesAShortTrial) {
  // The mid-job failure must not be caught by the trial, or the fallback test proves nothing.
  auto registry = FakeRegistry({"fake-error"});
  Status s = TrialEncode(*registry.Find("fake-error"), Quick());
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST(EncoderTrialTest, ResultsAreCachedPerProver) {
  auto registry = FakeRegistry({"fake-broken"});
  EncoderProver prover(registry, Quick());
  EncoderReport a = prover.Check(*registry.Find("fake-broken"));
  EncoderReport b = prover.Check(*registry.Find("fake-broken"));
  EXPECT_EQ(a.error, b.error);
  EXPECT_FALSE(b.proven);
}

TEST(EncoderTrialTest, UnknownAndAbsentEncodersFailClearly) {
  EncoderRegistry registry(EncoderRegistry::KnownEncoders());
  EncoderProver prover(registry, Quick());
  auto none = [](const VideoEncoder&) { return true; };
  EXPECT_EQ(prover.ForEachCandidate("nope", none).code(), ErrorCode::kInvalidArgument);
  for (const auto& e : registry.encoders()) {
    if (e->Present()) continue;
    Status s = prover.ForEachCandidate(e->name(), none);
    EXPECT_EQ(s.code(), ErrorCode::kNotFound) << e->name();
    EXPECT_NE(s.message().find(e->factory()), std::string::npos) << s.message();
  }
}

TEST(EncoderTrialTest, SurveyReportsPresenceAsInstalledAndAutoIsProven) {
  EncoderRegistry registry(EncoderRegistry::KnownEncoders());
  EncoderProver prover(registry, Quick());
  auto reports = prover.Survey();
  ASSERT_EQ(reports.size(), registry.encoders().size());
  for (const auto& r : reports) {
    EXPECT_EQ(r.present, ElementExists(r.element)) << r.name;
    if (!r.present) {
      EXPECT_FALSE(r.proven) << r.name;
    }
    if (r.proven) {
      EXPECT_TRUE(r.error.empty()) << r.name;
    }
  }
  const auto& x264 = reports[7];
  EXPECT_EQ(x264.name, "x264");
  EXPECT_TRUE(x264.proven) << x264.error;
  auto picked = prover.Auto();
  ASSERT_TRUE(picked.ok());
  // auto is the first proven H.264 encoder in priority order.
  for (const auto& r : reports) {
    if (r.codec != "h264" || !r.proven) continue;
    EXPECT_EQ((*picked)->name(), r.name);
    break;
  }
}

}  // namespace
}  // namespace newsreel::transcoder
