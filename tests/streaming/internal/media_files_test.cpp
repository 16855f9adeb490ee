#include "streaming/internal/media_files.h"

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
    std::ofstream(base_ / "secret.ts") << "secret";
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
  EXPECT_EQ(ResolveMediaPath(root_, "vid1/up/secret.ts").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(ResolveMediaPath(root_, "linkvid/secret.ts").status().code(), ErrorCode::kNotFound);
  // A link that stays inside the video's folder is fine.
  fs::create_symlink(root_ / "vid1" / "master.m3u8", root_ / "vid1" / "alias.m3u8");
  EXPECT_TRUE(ResolveMediaPath(root_, "vid1/alias.m3u8").ok());
}

TEST_F(MediaFilesTest, OnlyWhatPlayersFetchIsServed) {
  fs::create_directories(root_ / "vid1" / "ll");
  std::ofstream(root_ / "vid1" / "live-state.json") << "{}";
  std::ofstream(root_ / "vid1" / "ll" / "ll-state.json") << "{}";
  std::ofstream(root_ / "vid1" / "notes") << "x";
  for (const char* hidden : {"vid1/live-state.json", "vid1/ll/ll-state.json", "vid1/notes"}) {
    auto t = ResolveMediaPath(root_, hidden);
    EXPECT_EQ(t.status().code(), ErrorCode::kNotFound) << hidden;  // as a missing file: no hint
  }
  for (const char* kind : {"a/master.m3u8", "a/720p/s1.ts", "a/ll/360p/p4.2.m4s",
                           "a/ll/360p/init.mp4", "a/poster-320.jpg", "a/storyboard.vtt", "a/x.jpeg",
                           "a/x.png", "a/x.webp", "a/x.m4a", "a/x.aac"})
    EXPECT_TRUE(IsServedMediaFile(kind)) << kind;
  for (const char* kind : {"a/live-state.json", "a/x.txt", "a/x", "a.ts/x", "a/x.TS", "a/x.ts.tmp"})
    EXPECT_FALSE(IsServedMediaFile(kind)) << kind;
}

TEST_F(MediaFilesTest, MissingFilesAndFoldersAreNotFound) {
  EXPECT_EQ(ResolveMediaPath(root_, "vid1/nope.ts").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(ResolveMediaPath(root_, "vid1/720p").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(ResolveMediaPath(root_, "novid/master.m3u8").status().code(), ErrorCode::kNotFound);
}

TEST_F(MediaFilesTest, WebPagesResolveOnlyInsideTheWebRoot) {
  const fs::path web = base_ / "web";
  fs::create_directories(web / "node_modules" / "hls.js" / "dist");
  std::ofstream(web / "index.html") << "<html>";
  std::ofstream(web / "app.js") << "js";
  std::ofstream(web / "node_modules" / "hls.js" / "dist" / "hls.min.js") << "hls";
  std::ofstream(web / "node_modules" / "hls.js" / "dist" / "hls.light.min.js") << "hls light";
  fs::create_symlink(base_ / "secret.txt", web / "leak.html");

  auto index = ResolveWebPath(web, "");
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  EXPECT_EQ(*index, web / "index.html");
  auto app = ResolveWebPath(web, "app.js");
  ASSERT_TRUE(app.ok());
  EXPECT_EQ(*app, web / "app.js");
  auto hls = ResolveWebPath(web, "vendor/hls.min.js");
  ASSERT_TRUE(hls.ok());
  EXPECT_EQ(*hls, web / "node_modules" / "hls.js" / "dist" / "hls.min.js");
  auto light = ResolveWebPath(web, "vendor/hls.light.min.js");
  ASSERT_TRUE(light.ok());
  EXPECT_EQ(*light, web / "node_modules" / "hls.js" / "dist" / "hls.light.min.js");

  EXPECT_EQ(ResolveWebPath(web, "vendor/tus.min.js").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(ResolveWebPath(web, "leak.html").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(ResolveWebPath(web, "missing.html").status().code(), ErrorCode::kNotFound);
  for (const char* bad : {"../secret.txt", "node_modules/hls.js/package.json", ".hidden", "a\\b",
                          "/etc/passwd", "x%2e"})
    EXPECT_EQ(ResolveWebPath(web, bad).status().code(), ErrorCode::kInvalidArgument) << bad;
}

}  // namespace
}  // namespace newsreel::streaming
