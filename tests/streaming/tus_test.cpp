#include "streaming/tus.h"

#include <gtest/gtest.h>

namespace newsreel::streaming {
namespace {

TEST(UploadMetadataTest, DecodesKeysAndBase64Values) {
  // "filename lũ quét.mp4", "title Sạt lở", a key without value.
  auto m = ParseUploadMetadata("filename bMWpIHF1w6l0Lm1wNA==, title U+G6oXQgbOG7nw==,is_draft");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->at("filename"), "lũ quét.mp4");
  EXPECT_EQ(m->at("title"), "Sạt lở");
  EXPECT_EQ(m->at("is_draft"), "");
  EXPECT_EQ(m->size(), 3u);
}

TEST(UploadMetadataTest, EmptyHeaderIsNoMetadata) {
  auto m = ParseUploadMetadata("");
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->empty());
}

TEST(UploadMetadataTest, RefusesMalformedInput) {
  for (const char* bad : {"title !!!", "title YWJ",  // not base64 / bad length
                          "a YQ==,a Yg==",           // duplicate key
                          "ti/tle YQ==", " YQ==",    // bad or empty key
                          "title //79",              // 0xff 0xfe: not UTF-8
                          "title AGE="}) {           // a NUL byte
    EXPECT_EQ(ParseUploadMetadata(bad).status().code(), ErrorCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(ParseUploadMetadata(std::string(65, 'k') + " YQ==").ok()) << "key too long";
}

TEST(UploadMetadataTest, FormatRoundTrips) {
  std::map<std::string, std::string> m = {
      {"filename", "phóng sự.mov"}, {"empty", ""}, {"tags", "thời sự, Hà Giang"}};
  auto back = ParseUploadMetadata(FormatUploadMetadata(m));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, m);
}

TEST(HttpDateTest, FormatsRfc7231) {
  EXPECT_EQ(HttpDate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(HttpDate(1'795'683'600'999), "Thu, 26 Nov 2026 09:00:00 GMT");
}

TEST(UploadLocksTest, OneHolderAtATime) {
  UploadLocks locks;
  EXPECT_TRUE(locks.TryLock("a"));
  EXPECT_FALSE(locks.TryLock("a"));
  EXPECT_TRUE(locks.TryLock("b"));
  locks.Unlock("a");
  EXPECT_TRUE(locks.TryLock("a"));
}

}  // namespace
}  // namespace newsreel::streaming
