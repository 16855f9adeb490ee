#include "catalog/ids.h"

#include <gtest/gtest.h>

#include <set>

namespace newsreel::catalog {
namespace {

TEST(NewIdTest, IsSixteenBase32CharactersAndValid) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = NewId();
    ASSERT_EQ(id.size(), 16u);
    for (char c : id) {
      EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')) << id;
    }
    EXPECT_TRUE(ValidateId(id).ok()) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);  // 80 random bits: a collision here means a broken source
}

TEST(NewSecretTest, EncodesAllBits) {
  EXPECT_EQ(NewSecret(32).size(), 52u);  // ceil(256 / 5)
  EXPECT_EQ(NewSecret(20).size(), 32u);
  EXPECT_NE(NewSecret(32), NewSecret(32));
}

TEST(ValidateIdTest, AcceptsUrlSafeNames) {
  EXPECT_TRUE(ValidateId("a").ok());
  EXPECT_TRUE(ValidateId("Video_2024-06-01").ok());
  EXPECT_TRUE(ValidateId(std::string(64, 'x')).ok());
  EXPECT_TRUE(ValidateId("_leading_underscore").ok());
}

TEST(ValidateIdTest, RejectsWhatCouldEscapeAFolderOrAnArgv) {
  for (const std::string& bad :
       {std::string(), std::string(65, 'x'), std::string(".."), std::string("a/b"),
        std::string("../etc"), std::string("a b"), std::string("-rf"), std::string("sơn"),
        std::string("a\0b", 3), std::string("a.b"), std::string("a\\b")}) {
    Status s = ValidateId(bad);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << "'" << bad << "'";
  }
}

}  // namespace
}  // namespace newsreel::catalog
