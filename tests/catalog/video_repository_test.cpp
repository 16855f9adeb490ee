#include "catalog/video_repository.h"

#include <gtest/gtest.h>

#include <set>

#include "tests/catalog/test_util.h"

namespace newsreel::catalog {
namespace {

using testing::CatalogTest;

class VideoRepositoryTest : public CatalogTest {
 protected:
  VideoRepository& videos() { return catalog_->videos(); }
};

Video FullVideo() {
  Video v;
  v.id = "son-la-2024";
  v.title = "Lũ quét ở Sơn La";
  v.description = "Mưa lớn kéo dài gây lũ quét tại huyện Mường La.";
  v.tags = {"thiên tai", "mưa lũ"};
  v.reporter = "Nguyễn Văn An";
  v.location = "Mường La, Sơn La";
  v.recorded_at_ms = 1'700'000'000'000;
  v.duration_ms = 95'000;
  v.source = {"IMG_0042.MOV", "quicktime", "h264",     "aac",      1920,
              1080,           29.97,       12'000'000, 142'000'000};
  v.visibility = Visibility::kUnlisted;
  return v;
}

TEST_F(VideoRepositoryTest, CreateThenGetRoundTripsEveryField) {
  Video in = FullVideo();
  NR_ASSERT_OK_AND_ASSIGN(Video created, videos().Create(in));
  EXPECT_EQ(created.created_at_ms, clock_.now());
  EXPECT_EQ(created.updated_at_ms, clock_.now());
  EXPECT_EQ(created.status, VideoStatus::kUploading);
  NR_ASSERT_OK_AND_ASSIGN(Video got, videos().Get("son-la-2024"));
  EXPECT_EQ(got, created);
  EXPECT_EQ(got.tags, in.tags);
  EXPECT_EQ(got.source, in.source);
}

TEST_F(VideoRepositoryTest, CreateGeneratesAnIdWhenNoneIsGiven) {
  Video a = MakeVideo("một");
  Video b = MakeVideo("hai");
  EXPECT_EQ(a.id.size(), 16u);
  EXPECT_NE(a.id, b.id);
  NR_EXPECT_OK(videos().Get(a.id));
}

TEST_F(VideoRepositoryTest, CreateRejectsBadInput) {
  Video v;
  v.id = "../etc";
  NR_EXPECT_CODE(videos().Create(v), ErrorCode::kInvalidArgument);
  v.id = "";
  v.title = "bad \xFF utf8";
  NR_EXPECT_CODE(videos().Create(v), ErrorCode::kInvalidArgument);
  v.title = "ok";
  v.tags = {"a", ""};
  NR_EXPECT_CODE(videos().Create(v), ErrorCode::kInvalidArgument);
  v.tags = {};
  v.status = VideoStatus::kFailed;  // without a reason
  NR_EXPECT_CODE(videos().Create(v), ErrorCode::kInvalidArgument);
}

TEST_F(VideoRepositoryTest, DuplicateIdIsAlreadyExists) {
  MakeVideo("first", "same-id");
  Video v;
  v.id = "same-id";
  NR_EXPECT_CODE(videos().Create(v), ErrorCode::kAlreadyExists);
}

TEST_F(VideoRepositoryTest, GetUnknownIsNotFound) {
  NR_EXPECT_CODE(videos().Get("nope"), ErrorCode::kNotFound);
}

TEST_F(VideoRepositoryTest, UpdateChangesOnlyThePatchedFields) {
  NR_ASSERT_OK(videos().Create(FullVideo()));
  clock_.Advance(5000);
  VideoPatch patch;
  patch.title = "Lũ quét ở Mường La";
  patch.visibility = Visibility::kPublished;
  patch.recorded_at_ms = std::optional<int64_t>();  // clear
  NR_ASSERT_OK_AND_ASSIGN(Video updated, videos().Update("son-la-2024", patch));
  EXPECT_EQ(updated.title, "Lũ quét ở Mường La");
  EXPECT_EQ(updated.visibility, Visibility::kPublished);
  EXPECT_FALSE(updated.recorded_at_ms.has_value());
  EXPECT_EQ(updated.description, FullVideo().description);
  EXPECT_EQ(updated.updated_at_ms, clock_.now());
  EXPECT_LT(updated.created_at_ms, updated.updated_at_ms);
  NR_ASSERT_OK_AND_ASSIGN(Video got, videos().Get("son-la-2024"));
  EXPECT_EQ(got, updated);
  NR_EXPECT_CODE(videos().Update("nope", patch), ErrorCode::kNotFound);
  patch.tags = std::vector<std::string>{""};
  NR_EXPECT_CODE(videos().Update("son-la-2024", patch), ErrorCode::kInvalidArgument);
}

TEST(VideoStatusTest, TransitionsFollowTheStatusModel) {
  using S = VideoStatus;
  const std::set<std::pair<S, S>> allowed = {
      {S::kUploading, S::kQueued},  {S::kUploading, S::kFailed}, {S::kQueued, S::kProcessing},
      {S::kQueued, S::kFailed},     {S::kProcessing, S::kReady}, {S::kProcessing, S::kFailed},
      {S::kProcessing, S::kQueued}, {S::kReady, S::kQueued},     {S::kFailed, S::kQueued},
  };
  const S all[] = {S::kUploading, S::kQueued, S::kProcessing, S::kReady, S::kFailed};
  for (S from : all) {
    for (S to : all) {
      bool expected = from == to || allowed.count({from, to});
      EXPECT_EQ(IsAllowedTransition(from, to), expected) << ToString(from) << "->" << ToString(to);
    }
  }
}

TEST_F(VideoRepositoryTest, SetStatusWalksTheHappyPathAndRefusesShortcuts) {
  Video v = MakeVideo("Đường lên Hà Giang");
  NR_EXPECT_CODE(videos().SetStatus(v.id, VideoStatus::kReady), ErrorCode::kFailedPrecondition);
  NR_ASSERT_OK(videos().SetStatus(v.id, VideoStatus::kQueued));
  NR_ASSERT_OK(videos().SetStatus(v.id, VideoStatus::kProcessing));
  NR_EXPECT_CODE(videos().SetStatus(v.id, VideoStatus::kFailed), ErrorCode::kInvalidArgument);
  NR_ASSERT_OK_AND_ASSIGN(Video failed,
                          videos().SetStatus(v.id, VideoStatus::kFailed, "Tệp bị hỏng"));
  EXPECT_EQ(failed.failure_reason, "Tệp bị hỏng");
  NR_ASSERT_OK_AND_ASSIGN(Video requeued, videos().SetStatus(v.id, VideoStatus::kQueued));
  EXPECT_EQ(requeued.failure_reason, "");  // cleared on leaving failed
  NR_EXPECT_CODE(videos().SetStatus("nope", VideoStatus::kQueued), ErrorCode::kNotFound);
}

TEST_F(VideoRepositoryTest, SetSourceFactsStoresTheProbe) {
  Video v = MakeVideo("Phỏng vấn");
  SourceFacts facts{"clip.mp4", "mp4", "hevc", "opus", 1080, 1920, 30, 8'000'000, 1'000'000};
  NR_ASSERT_OK(videos().SetSourceFacts(v.id, facts, 61'000));
  NR_ASSERT_OK_AND_ASSIGN(Video got, videos().Get(v.id));
  EXPECT_EQ(got.source, facts);
  EXPECT_EQ(got.duration_ms, 61'000);
}

TEST_F(VideoRepositoryTest, DeleteRemovesTheVideoAndItsMediaAndJobs) {
  Video v = MakeVideo("Sắp xoá");
  NR_ASSERT_OK(videos().ReplaceMedia(
      v.id, {{{"360p", 640, 360, 1, 1, "avc1", 25, "360p/index.m3u8", "x264enc"}}, {}}));
  JobSpec spec;
  spec.video_id = v.id;
  NR_ASSERT_OK_AND_ASSIGN(Job job, catalog_->jobs().Enqueue(spec));
  NR_ASSERT_OK(videos().Delete(v.id));
  NR_EXPECT_CODE(videos().Get(v.id), ErrorCode::kNotFound);
  NR_EXPECT_CODE(videos().ListRenditions(v.id), ErrorCode::kNotFound);
  NR_EXPECT_CODE(catalog_->jobs().Get(job.id), ErrorCode::kNotFound);
  NR_EXPECT_CODE(videos().Delete(v.id), ErrorCode::kNotFound);
}

TEST_F(VideoRepositoryTest, ReplaceMediaSwapsTheWholeSet) {
  Video v = MakeVideo("Bậc thang");
  VideoMedia first;
  first.renditions = {
      {"720p", 1280, 720, 3'000'000, 2'500'000, "avc1.64001f", 30, "720p/index.m3u8", "x264enc"},
      {"360p", 640, 360, 900'000, 800'000, "avc1.4d401e", 30, "360p/index.m3u8", "x264enc"}};
  first.assets = {{AssetKind::kPoster, "poster.jpg", 1280, 720},
                  {AssetKind::kStoryboard, "storyboard.jpg", 1600, 900},
                  {AssetKind::kStoryboardVtt, "storyboard.vtt", 0, 0}};
  NR_ASSERT_OK(videos().ReplaceMedia(v.id, first));
  NR_ASSERT_OK_AND_ASSIGN(std::vector<Rendition> renditions, videos().ListRenditions(v.id));
  ASSERT_EQ(renditions.size(), 2u);
  EXPECT_EQ(renditions[0], first.renditions[0]);  // highest bandwidth first
  EXPECT_EQ(renditions[1], first.renditions[1]);
  NR_ASSERT_OK_AND_ASSIGN(std::vector<Asset> assets, videos().ListAssets(v.id));
  EXPECT_EQ(assets.size(), 3u);

  VideoMedia second;
  second.renditions = {
      {"480p", 854, 480, 1'500'000, 1'200'000, "avc1.4d401f", 30, "480p/index.m3u8", "vah264enc"}};
  second.assets = {{AssetKind::kPoster, "poster.jpg", 854, 480}};
  NR_ASSERT_OK(videos().ReplaceMedia(v.id, second));
  NR_ASSERT_OK_AND_ASSIGN(renditions, videos().ListRenditions(v.id));
  EXPECT_EQ(renditions, second.renditions);
  NR_ASSERT_OK_AND_ASSIGN(assets, videos().ListAssets(v.id));
  EXPECT_EQ(assets, second.assets);
}

TEST_F(VideoRepositoryTest, ReplaceMediaRejectsBadSetsAndKeepsTheOldOne) {
  Video v = MakeVideo("Giữ nguyên");
  VideoMedia good;
  good.assets = {{AssetKind::kPoster, "poster.jpg"}};
  NR_ASSERT_OK(videos().ReplaceMedia(v.id, good));

  VideoMedia duplicate;
  duplicate.renditions = {{"360p", 1, 1, 1, 1, "", 0, "a/index.m3u8", ""},
                          {"360p", 1, 1, 1, 1, "", 0, "b/index.m3u8", ""}};
  NR_EXPECT_CODE(videos().ReplaceMedia(v.id, duplicate), ErrorCode::kInvalidArgument);
  for (const char* path : {"../other/poster.jpg", "/etc/passwd", "a/../../b", "", "a//b", "a\\b"}) {
    VideoMedia escaping;
    escaping.assets = {{AssetKind::kPoster, path}};
    NR_EXPECT_CODE(videos().ReplaceMedia(v.id, escaping), ErrorCode::kInvalidArgument);
  }
  NR_ASSERT_OK_AND_ASSIGN(std::vector<Asset> assets, videos().ListAssets(v.id));
  EXPECT_EQ(assets, good.assets);
  NR_EXPECT_CODE(videos().ReplaceMedia("nope", good), ErrorCode::kNotFound);
}

class VideoListTest : public VideoRepositoryTest {
 protected:
  // 25 videos, one second apart, alternating reporters and visibilities.
  void SetUp() override {
    VideoRepositoryTest::SetUp();
    for (int i = 0; i < 25; ++i) {
      Video v;
      v.id = "v" + std::to_string(i);
      v.title = "Bản tin " + std::to_string(i);
      v.reporter = i % 2 ? "Trần Thị Bích" : "Lê Hoàng Nam";
      v.visibility = i % 3 == 0 ? Visibility::kPublished : Visibility::kDraft;
      v.recorded_at_ms = 1'000'000 + i * 1000;
      ASSERT_TRUE(videos().Create(v).ok());
      if (i % 5 == 0) {
        ASSERT_TRUE(videos().SetStatus(v.id, VideoStatus::kQueued).ok());
      }
      clock_.Advance(1000);
    }
  }

  std::vector<std::string> Ids(const VideoPage& page) {
    std::vector<std::string> ids;
    for (const Video& v : page.videos) ids.push_back(v.id);
    return ids;
  }
};

TEST_F(VideoListTest, PagesCoverEverythingOnceNewestFirst) {
  std::vector<std::string> all;
  PageRequest page{.limit = 10};
  int pages = 0;
  for (;;) {
    NR_ASSERT_OK_AND_ASSIGN(VideoPage result, videos().List({}, page));
    for (const std::string& id : Ids(result)) all.push_back(id);
    ++pages;
    if (result.next_cursor.empty()) break;
    page.cursor = result.next_cursor;
  }
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(all.size(), 25u);
  for (int i = 0; i < 25; ++i) EXPECT_EQ(all[i], "v" + std::to_string(24 - i));
}

TEST_F(VideoListTest, PagingIsStableWhenVideosArriveBetweenPages) {
  NR_ASSERT_OK_AND_ASSIGN(VideoPage first, videos().List({}, {.limit = 10}));
  MakeVideo("Tin nóng vừa đến");  // newer than everything: must not shift the next page
  NR_ASSERT_OK_AND_ASSIGN(VideoPage second,
                          videos().List({}, {.limit = 10, .cursor = first.next_cursor}));
  ASSERT_FALSE(second.videos.empty());
  EXPECT_EQ(second.videos.front().id, "v14");
}

TEST_F(VideoListTest, TiesOnCreationTimeStillPageCleanly) {
  // Ten more videos in the same millisecond.
  std::set<std::string> made;
  for (int i = 0; i < 10; ++i) made.insert(MakeVideo("cùng lúc " + std::to_string(i)).id);
  std::set<std::string> seen;
  PageRequest page{.limit = 3};
  VideoFilter recent{.created_from_ms = clock_.now()};
  for (;;) {
    NR_ASSERT_OK_AND_ASSIGN(VideoPage result, videos().List(recent, page));
    for (const Video& v : result.videos) EXPECT_TRUE(seen.insert(v.id).second) << v.id;
    if (result.next_cursor.empty()) break;
    page.cursor = result.next_cursor;
  }
  EXPECT_EQ(seen, made);
}

TEST_F(VideoListTest, FiltersCombine) {
  VideoFilter by_reporter{.reporter = "Trần Thị Bích"};
  NR_ASSERT_OK_AND_ASSIGN(VideoPage result, videos().List(by_reporter, {.limit = 50}));
  EXPECT_EQ(result.videos.size(), 12u);
  for (const Video& v : result.videos) EXPECT_EQ(v.reporter, "Trần Thị Bích");

  VideoFilter published{.visibility = Visibility::kPublished};
  NR_ASSERT_OK_AND_ASSIGN(result, videos().List(published, {.limit = 50}));
  EXPECT_EQ(result.videos.size(), 9u);  // 0, 3, ..., 24

  VideoFilter queued{.status = VideoStatus::kQueued};
  NR_ASSERT_OK_AND_ASSIGN(result, videos().List(queued, {.limit = 50}));
  EXPECT_EQ(Ids(result), (std::vector<std::string>{"v20", "v15", "v10", "v5", "v0"}));

  VideoFilter recorded{.recorded_from_ms = 1'005'000, .recorded_to_ms = 1'008'000};
  NR_ASSERT_OK_AND_ASSIGN(result, videos().List(recorded, {.limit = 50}));
  EXPECT_EQ(Ids(result), (std::vector<std::string>{"v7", "v6", "v5"}));

  const int64_t start = clock_.now() - 25'000;
  VideoFilter created{.created_from_ms = start + 20'000, .created_to_ms = start + 22'000};
  NR_ASSERT_OK_AND_ASSIGN(result, videos().List(created, {.limit = 50}));
  EXPECT_EQ(Ids(result), (std::vector<std::string>{"v21", "v20"}));

  VideoFilter both{.visibility = Visibility::kPublished, .reporter = "Lê Hoàng Nam"};
  NR_ASSERT_OK_AND_ASSIGN(result, videos().List(both, {.limit = 50}));
  EXPECT_EQ(Ids(result), (std::vector<std::string>{"v24", "v18", "v12", "v6", "v0"}));
}

TEST_F(VideoListTest, RejectsBadPagesAndFilters) {
  NR_EXPECT_CODE(videos().List({}, {.limit = 0}), ErrorCode::kInvalidArgument);
  NR_EXPECT_CODE(videos().List({}, {.limit = 201}), ErrorCode::kInvalidArgument);
  NR_EXPECT_CODE(videos().List({}, {.limit = 5, .cursor = "garbage"}), ErrorCode::kInvalidArgument);
  NR_EXPECT_CODE(videos().List({}, {.limit = 5, .cursor = "12_x"}), ErrorCode::kInvalidArgument);
  NR_EXPECT_CODE(videos().List({.reporter = ""}, {}), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace newsreel::catalog
