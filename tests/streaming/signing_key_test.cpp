#include "streaming/signing_key.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "tests/streaming/test_data_dir.h"

namespace newsreel::streaming {
namespace {

namespace fs = std::filesystem;

std::string Bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(SigningKeyTest, MadeOnFirstUseAsThirtyTwoPrivateBytesThenKept) {
  testing::TempDataDir dir("key");
  const fs::path file = dir.data().signing_key();
  ASSERT_FALSE(fs::exists(file));
  auto made = LoadOrCreateSigningKey(file);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  struct stat st {};
  ASSERT_EQ(stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  EXPECT_EQ(Bytes(file), std::string(made->begin(), made->end()));
  // Read back as it is (a restart): the same key, the file untouched.
  auto again = LoadOrCreateSigningKey(file);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, *made);
  EXPECT_EQ(Bytes(file), std::string(made->begin(), made->end()));
  // Nothing else left in the folder.
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir.root())) names.push_back(e.path().filename());
  EXPECT_EQ(std::count(names.begin(), names.end(), "signing-key"), 1);
  for (const auto& n : names) EXPECT_EQ(n.find(".tmp"), std::string::npos) << n;
}

TEST(SigningKeyTest, EachDataDirectoryGetsItsOwnKey) {
  testing::TempDataDir a("key_a"), b("key_b");
  auto ka = LoadOrCreateSigningKey(a.data().signing_key());
  auto kb = LoadOrCreateSigningKey(b.data().signing_key());
  ASSERT_TRUE(ka.ok() && kb.ok());
  EXPECT_NE(*ka, *kb);
}

TEST(SigningKeyTest, ProcessesStartingTogetherAgreeOnOneKey) {
  testing::TempDataDir dir("key_race");
  const fs::path file = dir.data().signing_key();
  std::vector<Result<SigningKey>> keys(8, Internal("not run"));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < keys.size(); ++i)
    threads.emplace_back([&, i] { keys[i] = LoadOrCreateSigningKey(file); });
  for (auto& t : threads) t.join();
  for (const auto& k : keys) {
    ASSERT_TRUE(k.ok()) << k.status().ToString();
    EXPECT_EQ(*k, *keys[0]);
  }
  EXPECT_EQ(Bytes(file), std::string(keys[0]->begin(), keys[0]->end()));
}

TEST(SigningKeyTest, RefusesAFileOfTheWrongSizeAndLeavesIt) {
  testing::TempDataDir dir("key_size");
  const fs::path file = dir.data().signing_key();
  for (std::string content : {std::string(), std::string(31, 'k'), std::string(33, 'k')}) {
    { std::ofstream(file, std::ios::binary | std::ios::trunc) << content; }
    fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write);
    auto k = LoadOrCreateSigningKey(file);
    ASSERT_FALSE(k.ok());
    EXPECT_EQ(k.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(k.status().message().find("bytes"), std::string::npos) << k.status().message();
    EXPECT_EQ(Bytes(file), content);
  }
}

TEST(SigningKeyTest, RefusesAKeyOthersMayRead) {
  testing::TempDataDir dir("key_mode");
  const fs::path file = dir.data().signing_key();
  ASSERT_TRUE(LoadOrCreateSigningKey(file).ok());
  ASSERT_EQ(chmod(file.c_str(), 0644), 0);
  auto k = LoadOrCreateSigningKey(file);
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.status().message().find("chmod 600"), std::string::npos) << k.status().message();
  ASSERT_EQ(chmod(file.c_str(), 0600), 0);
  EXPECT_TRUE(LoadOrCreateSigningKey(file).ok());
}

TEST(SigningKeyTest, DoesNotFollowASymlink) {
  testing::TempDataDir dir("key_link");
  const fs::path elsewhere = dir.root() / "elsewhere";
  ASSERT_TRUE(LoadOrCreateSigningKey(elsewhere).ok());
  fs::create_symlink(elsewhere, dir.data().signing_key());
  auto k = LoadOrCreateSigningKey(dir.data().signing_key());
  EXPECT_FALSE(k.ok());
  EXPECT_TRUE(fs::is_symlink(dir.data().signing_key()));
  // A dangling link is not replaced by a new key either.
  fs::remove(elsewhere);
  EXPECT_FALSE(LoadOrCreateSigningKey(dir.data().signing_key()).ok());
  EXPECT_FALSE(fs::exists(elsewhere));
}

}  // namespace
}  // namespace newsreel::streaming
