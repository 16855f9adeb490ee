#include "common/worker_protocol.h"

#include <gtest/gtest.h>

namespace newsreel::worker {
namespace {

WorkerMessage RoundTrip(const WorkerMessage& m) {
  std::string line = Encode(m);
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line";
  auto decoded = DecodeWorkerLine(line);
  EXPECT_TRUE(decoded.ok()) << decoded.status().ToString() << ": " << line;
  return decoded.ok() ? *decoded : WorkerMessage{};
}

TEST(WorkerProtocolTest, EveryMessageSurvivesEncodeAndDecode) {
  Hello hello{kWorkerProtocolVersion, "transcode", 4242};
  EXPECT_EQ(RoundTrip(hello), WorkerMessage(hello));

  Progress progress{"encoding", 42.5, 59.9, 1.75, 12.0, 10.5, 24.7};
  EXPECT_EQ(RoundTrip(progress), WorkerMessage(progress));
  Progress unknown_eta{"encoding", 1, 0, 0, std::nullopt, 0, 0};
  EXPECT_EQ(RoundTrip(unknown_eta), WorkerMessage(unknown_eta));

  EXPECT_EQ(RoundTrip(Heartbeat{}), WorkerMessage(Heartbeat{}));
  Heartbeat live{LiveFigures{2'400'000, 30, 1.0, 61.5, 30, 2.4}};
  EXPECT_EQ(RoundTrip(live), WorkerMessage(live));
  Heartbeat live_no_segment_yet{LiveFigures{2'400'000, 30, 1.0, 1.5, 0, std::nullopt}};
  EXPECT_EQ(RoundTrip(live_no_segment_yet), WorkerMessage(live_no_segment_yet));

  WorkResult result;
  result.rungs = {
      {"720p", 1280, 720, 3'000'000, 2'500'000, "avc1.64001f,mp4a.40.2", 29.97, "720p/index.m3u8"}};
  result.encoder = "x264";
  result.encoder_element = "x264enc";
  result.duration_seconds = 20.02;
  result.poster = ResultPoster{"poster.jpg", 1280, 720};
  result.storyboard = ResultStoryboard{"storyboard.jpg", "storyboard.vtt", 160, 90};
  result.source = {"mp4", 987654321, "hevc", 3840, 2160, "opus"};
  result.manifest_path = "/data/media/abc/manifest.json";
  EXPECT_EQ(RoundTrip(result), WorkerMessage(result));
  WorkResult bare;  // no poster, no storyboard (audio only)
  EXPECT_EQ(RoundTrip(bare), WorkerMessage(bare));

  for (FailureCode code :
       {FailureCode::kBadInput, FailureCode::kEncoderFailed, FailureCode::kCrashed,
        FailureCode::kTimedOut, FailureCode::kProtocolMismatch}) {
    Failure failure{code, "không đọc được tệp"};
    EXPECT_EQ(RoundTrip(failure), WorkerMessage(failure)) << FailureCodeName(code);
  }
}

TEST(WorkerProtocolTest, LinesCarryTheVersionAndAType) {
  EXPECT_EQ(Encode(Heartbeat{}), "{\"type\":\"heartbeat\",\"v\":1}\n");
  EXPECT_NE(Encode(Failure{FailureCode::kEncoderFailed, "x"}).find("\"code\":\"encoder_failed\""),
            std::string::npos);
}

TEST(WorkerProtocolTest, ALowLatencyPartSaysWhereItsFileIsAndNothingMore) {
  Part part{"720p", 42, 3, "ll/720p/p42.3.m4s", false, 0.33333, "ll/720p/init.mp4"};
  EXPECT_EQ(RoundTrip(part), WorkerMessage(part));
  Part independent{"360p", 0, 0, "ll/360p/p0.0.m4s", true, 0.28, "ll/360p/init.mp4"};
  EXPECT_EQ(RoundTrip(independent), WorkerMessage(independent));
  const std::string line = Encode(part);
  EXPECT_EQ(line,
            "{\"duration\":0.33333,\"file\":\"ll/720p/p42.3.m4s\",\"independent\":false,"
            "\"init\":\"ll/720p/init.mp4\",\"msn\":42,\"part\":3,\"rung\":\"720p\","
            "\"type\":\"part\",\"v\":1}\n");
  // A part that does not say which file it is, or numbers below zero, is not a protocol line.
  EXPECT_FALSE(DecodeWorkerLine(R"({"v":1,"type":"part","rung":"720p","msn":1,"part":0})").ok());
  EXPECT_FALSE(DecodeWorkerLine(R"({"v":1,"type":"part","rung":"720p","msn":-1,"part":0,)"
                                R"("file":"ll/720p/p-1.0.m4s","init":"ll/720p/init.mp4"})")
                   .ok());
  EXPECT_FALSE(DecodeWorkerLine(R"({"v":1,"type":"part","rung":"720p","msn":"x","part":0,)"
                                R"("file":"f","init":"i"})")
                   .ok());
}

TEST(WorkerProtocolTest, AnotherVersionIsAClearError) {
  auto decoded = DecodeWorkerLine(R"({"v":2,"type":"heartbeat"})");
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(decoded.status().message(), "worker speaks protocol v2, this server v1");
}

TEST(WorkerProtocolTest, WhatIsNotTheProtocolIsRejected) {
  for (const char* line :
       {"", "progress 50%", "[1,2]", R"({"type":"heartbeat"})", R"({"v":"1","type":"heartbeat"})",
        R"({"v":1,"type":"gossip"})", R"({"v":1,"type":"failure","code":"oops","message":"x"})",
        R"({"v":1,"type":"progress","percent":"half"})"}) {
    auto decoded = DecodeWorkerLine(line);
    ASSERT_FALSE(decoded.ok()) << line;
    EXPECT_EQ(decoded.status().code(), ErrorCode::kInvalidArgument) << line;
  }
}

TEST(WorkerProtocolTest, DecodingIsLenientAboutWhatIsMissing) {
  auto decoded = DecodeWorkerLine("{\"v\":1,\"type\":\"progress\",\"percent\":250}\r\n");
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  const auto& p = std::get<Progress>(*decoded);
  EXPECT_EQ(p.percent, 100);  // clamped
  EXPECT_FALSE(p.eta_seconds.has_value());
  auto failure = DecodeWorkerLine(R"({"v":1,"type":"failure","code":"crashed"})");
  ASSERT_TRUE(failure.ok());
  EXPECT_FALSE(std::get<Failure>(*failure).message.empty());
}

TEST(WorkerProtocolTest, AWorkerRefusesAServerOfAnotherVersion) {
  EXPECT_TRUE(CheckServerProtocol(nullptr).ok());  // run by hand: nothing to check
  EXPECT_TRUE(CheckServerProtocol("1").ok());
  Status other = CheckServerProtocol("2");
  EXPECT_EQ(other.code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(other.message(), "server speaks protocol v2, this worker v1");
  EXPECT_FALSE(CheckServerProtocol("1x").ok());
}

TEST(DecideRetryTest, BadInputAndAVersionMismatchAreNeverRetried) {
  for (FailureCode code : {FailureCode::kBadInput, FailureCode::kProtocolMismatch}) {
    EXPECT_FALSE(DecideRetry(code, 1, 5, EncoderChoice::kAuto).retry);
    EXPECT_FALSE(DecideRetry(code, 1, 5, EncoderChoice::kSoftware).retry);
  }
}

TEST(DecideRetryTest, AnEncoderFailureIsRetriedOnceOnX264AtOnce) {
  RetryDecision d = DecideRetry(FailureCode::kEncoderFailed, 1, 5, EncoderChoice::kAuto);
  EXPECT_TRUE(d.retry);
  EXPECT_EQ(d.encoder, EncoderChoice::kSoftware);
  EXPECT_EQ(d.backoff_ms, 0);
  EXPECT_FALSE(DecideRetry(FailureCode::kEncoderFailed, 2, 5, EncoderChoice::kSoftware).retry);
  EXPECT_FALSE(DecideRetry(FailureCode::kEncoderFailed, 1, 1, EncoderChoice::kAuto).retry);
}

TEST(DecideRetryTest, CrashesAndTimeOutsBackOffUntilTheLastAttempt) {
  RetryPolicy policy{1000, 3000};
  for (FailureCode code : {FailureCode::kCrashed, FailureCode::kTimedOut}) {
    RetryDecision first = DecideRetry(code, 1, 4, EncoderChoice::kAuto, policy);
    EXPECT_TRUE(first.retry);
    EXPECT_EQ(first.backoff_ms, 1000);
    EXPECT_EQ(first.encoder, EncoderChoice::kSoftware);
    EXPECT_EQ(DecideRetry(code, 2, 4, EncoderChoice::kSoftware, policy).backoff_ms, 2000);
    EXPECT_EQ(DecideRetry(code, 3, 4, EncoderChoice::kSoftware, policy).backoff_ms, 3000);  // cap
    EXPECT_FALSE(DecideRetry(code, 4, 4, EncoderChoice::kSoftware, policy).retry);
  }
}

}  // namespace
}  // namespace newsreel::worker
