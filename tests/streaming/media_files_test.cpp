#include "streaming/media_files.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace newsreel::streaming {
namespace {

namespace fs = std::filesystem;

class MediaFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/nr_media_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    base_ = fs::canonical(tmpl);
    root_ = base_ / "media";
    fs::create_directories(root_ / "vid1" / "720p");
    std::ofstream(root_ / "vid1" / "master.m3u8") << "#EXTM3U\n";
    std::ofstream(root_ / "vid1" / "720p" / "seg_00001.ts") << "ts";
    std::ofstream(base_ / "secret.txt") << "secret";
    fs::create_directories(root_ / ".vid1.partial-1");
  }
  void TearDown() override { fs::remove_all(base_); }
  fs::path base_, root_;
};

TEST_F(MediaFilesTest, ResolvesFilesInsideTheVideoFolder) {
  auto t = ResolveMediaPath(root_, "vid1/720p/seg_00001.ts");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->video_id, "vid1");
  EXPECT_EQ(t->relative, "720p/seg_00001.ts");
  EXPECT_EQ(t->path, root_ / "vid1" / "720p" / "seg_00001.ts");
}

TEST_F(MediaFilesTest, RefusesPathShapesThatCouldEscape) {
  for (const char* bad :
       {"", "/etc/passwd", "vid1/../../secret.txt", "vid1/./master.m3u8", "vid1//master.m3u8",
        "../secret.txt", "vid1/..", "vid1\\..\\secret.txt", "vid1/master.m3u8/", "vid1",
        "vid1/.hidden", ".vid1.partial-1/x", "vid1/%2e%2e/secret.txt", "vid1/a b",
        "-vid/master.m3u8", "vid1/master.m3u8\n"}) {
    auto t = ParseMediaPath(bad);
    EXPECT_FALSE(t.ok()) << "accepted: " << bad;
    EXPECT_EQ(t.status().code(), ErrorCode::kInvalidArgument) << bad;
  }
  std::string with_nul("vid1/master.m3u8\0.jpg", 21);
  EXPECT_FALSE(ParseMediaPath(with_nul).ok());
}

TEST_F(MediaFilesTest, RefusesSymlinksLeadingOut) {
  fs::create_symlink(base_ / "secret.txt", root_ / "vid1" / "leak.ts");
  fs::create_symlink(base_, root_ / "vid1" / "up");
  fs::create_symlink(base_, root_ / "linkvid");
  EXPECT_EQ(ResolveMediaPath(root_, "vid1/leak.ts").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(ResolveMediaPath(root_, "vid1/up/secret.txt").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(ResolveMediaPath(root_, "linkvid/secret.txt").status().code(), ErrorCode::kNotFound);
  // A link that stays inside the video's folder is fine.
  fs::create_symlink(root_ / "vid1" / "master.m3u8", root_ / "vid1" / "alias.m3u8");
  EXPECT_TRUE(ResolveMediaPath(root_, "vid1/alias.m3u8").ok());
}

TEST_F(MediaFilesTest, MissingFilesAndFoldersAreNotFound) {
  EXPECT_EQ(ResolveMediaPath(root_, "vid1/nope.ts").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(ResolveMediaPath(root_, "vid1/720p").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(ResolveMediaPath(root_, "novid/master.m3u8").status().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace newsreel::streaming
