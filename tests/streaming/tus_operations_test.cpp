// The tus upload operations through requests made in memory: framing (tus_framing.h), then
// TusHandler on a real SQLite catalog and a real data folder. No socket.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "catalog/catalog.h"
#include "streaming/data_dir.h"
#include "streaming/internal/http_util.h"
#include "streaming/internal/tus_framing.h"
#include "streaming/tus.h"
#include "tests/streaming/test_data_dir.h"

namespace newsreel::streaming {
namespace {

namespace fs = std::filesystem;

class TusOperationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cat = catalog::Catalog::Open(data_.catalog().string());
    ASSERT_TRUE(cat.ok()) << cat.status().ToString();
    catalog_ = std::move(cat).value();
    options_.quota_bytes = 1000;
    options_.max_size = 800;
    tus_ = std::make_unique<TusHandler>(data_, *catalog_, events_, locks_, options_);
    reporter_ = SignedIn("duc", catalog::Role::kReporter);
  }

  // A caller signed in as a new account `name` of `role` (a real row: uploads refer to it).
  Caller SignedIn(const std::string& name, catalog::Role role) {
    auto user = catalog_->users().CreateUser(name, "", role);
    EXPECT_TRUE(user.ok()) << user.status().ToString();
    Caller c;
    c.anonymous = false;
    c.user = *user;
    c.role = role;
    return c;
  }
  void TearDown() override {
    tus_.reset();
    catalog_.reset();
  }

  // One request: framed as the service thread frames it, begun, its body written in chunks of
  // `chunk` bytes (all of it, or `cut_after` bytes before the connection "drops").
  struct Outcome {
    HttpResponse response;
    bool dropped = false;
  };
  Outcome Request(const Caller& caller, std::string method, std::string rest, TusHeaders headers,
                  const std::string& body = "", size_t chunk = 7,
                  std::optional<size_t> cut_after = std::nullopt) {
    headers.emplace("tus-resumable", "1.0.0");
    if (!body.empty()) {
      headers.emplace("content-length", std::to_string(body.size()));
      headers.emplace("content-type", "application/offset+octet-stream");
    }
    auto framed = FrameTusRequest(std::move(method), std::move(rest), std::move(headers));
    if (!framed.ok()) return {TusFramingError(framed.status())};
    TusHandler::Start start =
        tus_->Begin(caller, framed->method, framed->rest, framed->headers, framed->content_length);
    if (start.response) return {*start.response};
    const size_t end = cut_after.value_or(body.size());
    for (size_t at = 0; at < end; at += chunk)
      tus_->Write(*start.write, body.data() + at, std::min(chunk, end - at));
    if (cut_after) {
      tus_->Abandon(*start.write);
      return {HttpResponse{}, true};
    }
    return {tus_->Finish(*start.write)};
  }

  std::string Create(int64_t length, const std::string& filename = "clip.mp4") {
    HttpResponse r = Request(reporter_, "POST", "",
                             {{"upload-length", std::to_string(length)},
                              {"upload-metadata", FormatUploadMetadata({{"filename", filename}})}})
                         .response;
    EXPECT_EQ(r.status, 201) << r.body;
    const std::string location = r.headers["Location"];
    EXPECT_EQ(location.rfind("/files/", 0), 0u);
    return location.substr(7);
  }

  int64_t OffsetOf(const std::string& id) {
    HttpResponse head = Request(reporter_, "HEAD", "/" + id, {}).response;
    EXPECT_EQ(head.status, 200) << head.body;
    return std::stoll(head.headers["Upload-Offset"]);
  }

  testing::TempDataDir dir_{"tus"};
  const DataDir& data_ = dir_.data();
  std::unique_ptr<catalog::Catalog> catalog_;
  EventBus events_;
  UploadLocks locks_;
  TusOptions options_;
  std::unique_ptr<TusHandler> tus_;
  Caller reporter_;
};

TEST_F(TusOperationsTest, AnUploadInTwoPatchesBecomesAVideoWithItsJob) {
  const std::string id = Create(20);
  EXPECT_EQ(OffsetOf(id), 0);
  HttpResponse first =
      Request(reporter_, "PATCH", "/" + id, {{"upload-offset", "0"}}, "0123456789").response;
  EXPECT_EQ(first.status, 204) << first.body;
  EXPECT_EQ(first.headers["Upload-Offset"], "10");
  HttpResponse second =
      Request(reporter_, "PATCH", "/" + id, {{"upload-offset", "10"}}, "abcdefghij").response;
  EXPECT_EQ(second.status, 204) << second.body;
  auto video = catalog_->videos().Get(id);
  ASSERT_TRUE(video.ok()) << video.status().ToString();
  EXPECT_EQ(video->title, "clip");
  std::ifstream original(data_.originals() / id / "source.mp4");
  std::string bytes((std::istreambuf_iterator<char>(original)), {});
  EXPECT_EQ(bytes, "0123456789abcdefghij");
  catalog::JobFilter jobs;
  jobs.video_id = id;
  auto listed = catalog_->jobs().List(jobs);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 1u);
}

TEST_F(TusOperationsTest, ADroppedConnectionKeepsWhatArrivedAndTheClientResumes) {
  const std::string id = Create(30);
  const std::string body = "the first thirty bytes of news";
  Outcome dropped = Request(reporter_, "PATCH", "/" + id, {{"upload-offset", "0"}}, body, 4, 13);
  ASSERT_TRUE(dropped.dropped);
  EXPECT_EQ(OffsetOf(id), 13);
  // A stale offset is refused with where the upload stands.
  HttpResponse stale =
      Request(reporter_, "PATCH", "/" + id, {{"upload-offset", "0"}}, body).response;
  EXPECT_EQ(stale.status, 409);
  EXPECT_EQ(stale.headers["Upload-Offset"], "13");
  HttpResponse rest =
      Request(reporter_, "PATCH", "/" + id, {{"upload-offset", "13"}}, body.substr(13)).response;
  EXPECT_EQ(rest.status, 204) << rest.body;
  std::ifstream original(data_.originals() / id / "source.mp4");
  std::string bytes((std::istreambuf_iterator<char>(original)), {});
  EXPECT_EQ(bytes, body);
}

TEST_F(TusOperationsTest, TheQuotaIsCheckedOnCreateAndOnADeferredLength) {
  Create(700);  // 700 of 1000 held
  HttpResponse over = Request(reporter_, "POST", "", {{"upload-length", "400"}}).response;
  EXPECT_EQ(over.status, 413);
  EXPECT_NE(over.body.find("quota_exceeded"), std::string::npos);
  HttpResponse deferred = Request(reporter_, "POST", "", {{"upload-defer-length", "1"}}).response;
  ASSERT_EQ(deferred.status, 201) << deferred.body;
  const std::string id = deferred.headers["Location"].substr(7);
  // Declaring 400 bytes now would pass the quota: refused, nothing stored.
  HttpResponse declare =
      Request(reporter_, "PATCH", "/" + id, {{"upload-offset", "0"}, {"upload-length", "400"}}, "x")
          .response;
  EXPECT_EQ(declare.status, 413) << declare.body;
  EXPECT_EQ(OffsetOf(id), 0);
  HttpResponse fits =
      Request(reporter_, "PATCH", "/" + id, {{"upload-offset", "0"}, {"upload-length", "300"}}, "x")
          .response;
  EXPECT_EQ(fits.status, 204) << fits.body;
  EXPECT_EQ(fits.headers["Upload-Length"], "300");
}

TEST_F(TusOperationsTest, DataPastTheLengthIsTheClientsMistakeNotA500) {
  const std::string id = Create(5);
  HttpResponse r =
      Request(reporter_, "PATCH", "/" + id, {{"upload-offset", "0"}}, "123456").response;
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_EQ(OffsetOf(id), 0);
}

TEST_F(TusOperationsTest, ABadContentLengthIsRefusedByTheFraming) {
  for (const char* bad : {"-1", "1e3", " 5", "5 ", "0x10", "99999999999999999999", "+5"}) {
    auto framed = FrameTusRequest("PATCH", "/x", {{"content-length", bad}});
    EXPECT_FALSE(framed.ok()) << bad;
    EXPECT_EQ(TusFramingError(framed.status()).status, 400);
    EXPECT_EQ(TusFramingError(framed.status()).headers["Tus-Resumable"], "1.0.0");
  }
  EXPECT_EQ(ParseContentLength("0"), 0);
  EXPECT_EQ(ParseContentLength("123456789012345678"), 123456789012345678);
  EXPECT_EQ(ParseContentLength(""), std::nullopt);
}

// Found by fuzz/tus_fuzzer.cpp: answers that quote a header holding bytes that are not UTF-8
// (the tus version, the checksum algorithm, the method) threw instead of answering, and the
// service thread dropped the connection without a word.
TEST_F(TusOperationsTest, HeadersThatAreNotUtf8GetAnAnswer) {
  HttpResponse version =
      Request(reporter_, "POST", "", {{"tus-resumable", "1.0\xff"}, {"upload-length", "5"}})
          .response;
  EXPECT_EQ(version.status, 412);
  HttpResponse method = Request(reporter_, "M\xe9TH", "/abc", {}).response;
  EXPECT_EQ(method.status, 405);
  const std::string id = Create(10);
  HttpResponse checksum =
      Request(reporter_, "PATCH", "/" + id,
              {{"upload-offset", "0"}, {"upload-checksum", "sh\xc3 AAAA"}}, "0123456789")
          .response;
  EXPECT_EQ(checksum.status, 400);
  for (const HttpResponse* r : {&version, &method, &checksum}) {
    auto body = nlohmann::json::parse(r->body, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(body.is_discarded()) << r->body;
    EXPECT_TRUE(body["error"]["message"].is_string()) << r->body;
    EXPECT_EQ(r->headers.at("Tus-Resumable"), "1.0.0");
  }
}

// Found by fuzz/tus_fuzzer.cpp: a creation with data whose Upload-Checksum was refused left an
// upload behind that the answer did not name, holding the reporter's quota until it expired.
TEST_F(TusOperationsTest, ACreationWithDataRefusedForItsChecksumLeavesNothing) {
  for (const char* checksum : {"crc32 AAAA", "sha1 bm90IGEgc2hhMQ==", "sha256"}) {
    HttpResponse r = Request(reporter_, "POST", "",
                             {{"upload-length", "800"}, {"upload-checksum", checksum}}, "some data")
                         .response;
    EXPECT_EQ(r.status, 400) << checksum << ": " << r.body;
    EXPECT_EQ(r.headers.count("Location"), 0u) << checksum;
  }
  EXPECT_TRUE(fs::is_empty(data_.uploads()));
  auto held = catalog_->uploads().BytesHeldBy(*reporter_.user_id());
  ASSERT_TRUE(held.ok());
  EXPECT_EQ(*held, 0);
  // The quota (1000 bytes) is whole: an upload of 800 bytes is still accepted.
  EXPECT_FALSE(Create(800).empty());
}

// Tags are cut to 64 bytes: a cut through a character made text that is not UTF-8, which the
// catalog could not store as JSON (it threw). (The metadata's reporter name is ignored now.)
TEST_F(TusOperationsTest, LongTagsAndNamesAreCutBetweenCharacters) {
  const std::string tag = std::string(63, 'a') + "\xc3\xa9t\xc3\xa9";   // "aaa…été"
  const std::string reporter = std::string(127, 'r') + "\xe1\xbb\x87";  // "rrr…ệ"
  HttpResponse created =
      Request(reporter_, "POST", "",
              {{"upload-length", "3"},
               {"upload-metadata",
                FormatUploadMetadata({{"tags", tag + ", short"}, {"reporter", reporter}})}})
          .response;
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id = created.headers["Location"].substr(7);
  HttpResponse done =
      Request(reporter_, "PATCH", "/" + id, {{"upload-offset", "0"}}, "abc").response;
  ASSERT_EQ(done.status, 204) << done.body;
  auto video = catalog_->videos().Get(id);
  ASSERT_TRUE(video.ok()) << video.status().ToString();
  ASSERT_EQ(video->tags.size(), 2u);
  EXPECT_EQ(video->tags[0], std::string(63, 'a'));  // the "é" across byte 64 is left out
  EXPECT_EQ(video->tags[1], "short");
  // The reporter is the signed-in account, whatever the metadata names.
  EXPECT_EQ(video->reporter, "duc");
}

// Found by fuzz/tus_fuzzer.cpp: a PATCH that set a deferred length too short for its own data
// was refused (413) after storing the length: the upload was left finished at that length, with
// no video until the next sweep, and the client could not set the right length any more.
TEST_F(TusOperationsTest, ARefusedPatchDoesNotSetTheDeferredLength) {
  HttpResponse created = Request(reporter_, "POST", "", {{"upload-defer-length", "1"}}).response;
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id = created.headers["Location"].substr(7);
  HttpResponse refused = Request(reporter_, "PATCH", "/" + id,
                                 {{"upload-offset", "0"}, {"upload-length", "0"}}, "0123456789")
                             .response;
  EXPECT_EQ(refused.status, 413) << refused.body;
  auto stored = catalog_->uploads().Get(id);
  ASSERT_TRUE(stored.ok());
  EXPECT_FALSE(stored->length) << "the length was stored: " << *stored->length;
  EXPECT_FALSE(stored->completed_at_ms);
  HttpResponse head = Request(reporter_, "HEAD", "/" + id, {}).response;
  EXPECT_EQ(head.headers["Upload-Defer-Length"], "1");
  // The client sends the right length and finishes.
  HttpResponse done = Request(reporter_, "PATCH", "/" + id,
                              {{"upload-offset", "0"}, {"upload-length", "10"}}, "0123456789")
                          .response;
  EXPECT_EQ(done.status, 204) << done.body;
  EXPECT_TRUE(catalog_->videos().Get(id).ok());
}

TEST_F(TusOperationsTest, MethodOverrideAndExpectContinueAreFramed) {
  auto framed = FrameTusRequest(
      "POST", "/abc",
      {{"x-http-method-override", "PATCH"}, {"content-length", "10"}, {"expect", "100-Continue"}});
  ASSERT_TRUE(framed.ok());
  EXPECT_EQ(framed->method, "PATCH");
  EXPECT_TRUE(framed->expects_continue);
  EXPECT_EQ(HowToRefuse(*framed), RefusalDelivery::kAnswerAndClose);
  auto get = FrameTusRequest("GET", "/abc", {{"x-http-method-override", "DELETE"}});
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get->method, "GET") << "only a POST may be overridden";
  EXPECT_EQ(HowToRefuse(*get), RefusalDelivery::kAnswer);
  auto small = FrameTusRequest("PATCH", "/abc", {{"content-length", "1000"}});
  EXPECT_EQ(HowToRefuse(*small), RefusalDelivery::kDrainThenAnswer);
  auto large =
      FrameTusRequest("PATCH", "/abc", {{"content-length", std::to_string(kDrainBodyBytes + 1)}});
  EXPECT_EQ(HowToRefuse(*large), RefusalDelivery::kAnswerAndClose);
}

TEST_F(TusOperationsTest, AnUploadBelongsToItsCreatorOnly) {
  Caller lan = SignedIn("lan", catalog::Role::kReporter);
  HttpResponse created = Request(lan, "POST", "", {{"upload-length", "10"}}).response;
  ASSERT_EQ(created.status, 201);
  const std::string id = created.headers["Location"].substr(7);
  EXPECT_EQ(catalog_->uploads().Get(id)->owner_id, lan.user->id)
      << "the upload records its creator";
  EXPECT_EQ(catalog_->uploads().Get(id)->reporter, "lan");
  Caller minh = SignedIn("minh", catalog::Role::kReporter);
  EXPECT_EQ(Request(minh, "HEAD", "/" + id, {}).response.status, 404);
  EXPECT_EQ(Request(minh, "DELETE", "/" + id, {}).response.status, 404);
  EXPECT_EQ(Request(minh, "PATCH", "/" + id, {{"upload-offset", "0"}}, "x").response.status, 404);
  Caller anonymous;
  EXPECT_EQ(Request(anonymous, "POST", "", {{"upload-length", "10"}}).response.status, 401);
  EXPECT_EQ(Request(anonymous, "HEAD", "/" + id, {}).response.status, 401);
  // Not even an editor or an admin: an upload in progress is its reporter's alone.
  Caller editor = SignedIn("bich", catalog::Role::kEditor);
  EXPECT_EQ(Request(editor, "HEAD", "/" + id, {}).response.status, 404);
  Caller admin = SignedIn("root", catalog::Role::kAdmin);
  EXPECT_EQ(Request(admin, "DELETE", "/" + id, {}).response.status, 404);
  EXPECT_EQ(Request(lan, "DELETE", "/" + id, {}).response.status, 204);
}

}  // namespace
}  // namespace newsreel::streaming
