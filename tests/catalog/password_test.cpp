#include "catalog/password.h"

#include <gtest/gtest.h>

#include <vector>

namespace newsreel::catalog {
namespace {

TEST(PasswordTest, HashVerifiesItsPasswordOnly) {
  auto hash = HashPassword("mật khẩu dài đủ");
  ASSERT_TRUE(hash.ok());
  EXPECT_EQ(hash->rfind("$scrypt$ln=15,r=8,p=1$", 0), 0u) << *hash;
  EXPECT_TRUE(VerifyPassword("mật khẩu dài đủ", *hash));
  EXPECT_FALSE(VerifyPassword("mật khẩu dài đu", *hash));
  EXPECT_FALSE(VerifyPassword("", *hash));
}

TEST(PasswordTest, SaltsDiffer) {
  auto a = HashPassword("the same password");
  auto b = HashPassword("the same password");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_TRUE(VerifyPassword("the same password", *b));
}

TEST(PasswordTest, MalformedOrHostileStoredHashesNeverMatch) {
  auto good = HashPassword("correct horse");
  ASSERT_TRUE(good.ok());
  const std::string tail = good->substr(good->find("$", 8));
  const std::vector<std::string> hostile = {
      "",
      "plain",
      "$scrypt$",
      "$scrypt$ln=15,r=8,p=1",
      "$scrypt$ln=15,r=8$" + tail.substr(1),
      "$scrypt$ln=40,r=8,p=1" + tail,  // 2^40 rounds: refused, not attempted
      "$scrypt$ln=20,r=32,p=1" + tail,
      "$scrypt$ln=15,r=8,p=1,x=1" + tail,
      "$scrypt$ln=-1,r=8,p=1" + tail,
      "$scrypt$ln=15,r=8,p=1$!!!!$AAAA",
      "$scrypt$ln=15,r=8,p=1$AAAA$AAAA"};
  for (const std::string& stored : hostile) {
    EXPECT_FALSE(VerifyPassword("correct horse", stored)) << stored;
  }
}

TEST(PasswordTest, NewPasswordRules) {
  EXPECT_FALSE(CheckNewPassword("short").ok());
  EXPECT_FALSE(CheckNewPassword(std::string(2000, 'a')).ok());
  EXPECT_FALSE(CheckNewPassword("ten chars \xff\xfe").ok());
  EXPECT_TRUE(CheckNewPassword("ten chars!").ok());
}

TEST(PasswordTest, RandomPasswordsAreLongAndDistinct) {
  const std::string a = RandomPassword(), b = RandomPassword();
  EXPECT_EQ(a.size(), 20u);
  EXPECT_NE(a, b);
  EXPECT_TRUE(CheckNewPassword(a).ok());
}

}  // namespace
}  // namespace newsreel::catalog
