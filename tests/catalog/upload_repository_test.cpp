#include "catalog/upload_repository.h"

#include <gtest/gtest.h>

#include "tests/catalog/test_util.h"

namespace newsreel::catalog {
namespace {

using testing::CatalogTest;

class UploadRepositoryTest : public CatalogTest {
 protected:
  UploadRepository& uploads() { return catalog_->uploads(); }

  // The id of account `name`, created on first use.
  int64_t Owner(const std::string& name) {
    auto found = catalog_->users().GetUserByName(name);
    if (found.ok()) return found->id;
    auto made = catalog_->users().CreateUser(name, "", Role::kReporter);
    EXPECT_TRUE(made.ok()) << made.status().ToString();
    return made.ok() ? made->id : 0;
  }

  Upload NewUpload(std::optional<int64_t> length, int64_t ttl_ms = 86'400'000) {
    Upload u;
    u.length = length;
    u.expires_at_ms = clock_.now() + ttl_ms;
    u.reporter = "Phạm Minh Đức";
    u.owner_id = Owner("duc");
    u.metadata = {{"filename", "lũ quét.mp4"}, {"filetype", "video/mp4"}};
    Result<Upload> created = uploads().Create(u);
    EXPECT_TRUE(created.ok()) << created.status().ToString();
    return created.ok() ? created.value() : Upload{};
  }
};

TEST_F(UploadRepositoryTest, CreateAndGetRoundTrip) {
  Upload u = NewUpload(1000);
  EXPECT_EQ(u.id.size(), 16u);
  EXPECT_EQ(u.offset, 0);
  EXPECT_EQ(u.created_at_ms, clock_.now());
  NR_ASSERT_OK_AND_ASSIGN(Upload got, uploads().Get(u.id));
  EXPECT_EQ(got, u);
  EXPECT_EQ(got.metadata.at("filename"), "lũ quét.mp4");
}

TEST_F(UploadRepositoryTest, CreateValidates) {
  Upload u;
  u.expires_at_ms = 0;
  NR_EXPECT_CODE(uploads().Create(u), ErrorCode::kInvalidArgument);
  u.expires_at_ms = clock_.now() + 1;
  u.id = "a/b";
  NR_EXPECT_CODE(uploads().Create(u), ErrorCode::kInvalidArgument);
  u.id = "ok";
  u.length = -1;
  NR_EXPECT_CODE(uploads().Create(u), ErrorCode::kInvalidArgument);
  u.length = 5;
  NR_ASSERT_OK(uploads().Create(u));
  NR_EXPECT_CODE(uploads().Create(u), ErrorCode::kAlreadyExists);
}

TEST_F(UploadRepositoryTest, AdvanceIsACompareAndSet) {
  Upload u = NewUpload(100);
  NR_ASSERT_OK_AND_ASSIGN(Upload after, uploads().Advance(u.id, 0, 40));
  EXPECT_EQ(after.offset, 40);
  EXPECT_FALSE(after.completed_at_ms.has_value());
  // A second PATCH that still believes the offset is 0 loses.
  NR_EXPECT_CODE(uploads().Advance(u.id, 0, 30), ErrorCode::kFailedPrecondition);
  NR_EXPECT_CODE(uploads().Advance(u.id, 40, 101), ErrorCode::kInvalidArgument);
  NR_EXPECT_CODE(uploads().Advance(u.id, 40, 39), ErrorCode::kInvalidArgument);
  clock_.Advance(500);
  NR_ASSERT_OK_AND_ASSIGN(after, uploads().Advance(u.id, 40, 100));
  EXPECT_EQ(after.completed_at_ms, clock_.now());
  NR_ASSERT_OK_AND_ASSIGN(Upload got, uploads().Get(u.id));
  EXPECT_EQ(got, after);
  NR_EXPECT_CODE(uploads().Advance("nope", 0, 1), ErrorCode::kNotFound);
}

TEST_F(UploadRepositoryTest, ChecksumStateKeepsArbitraryBytes) {
  Upload u = NewUpload(10);
  std::string state("\x00\x01\xFFsha", 6);
  NR_ASSERT_OK(uploads().Advance(u.id, 0, 5, state));
  NR_ASSERT_OK_AND_ASSIGN(Upload got, uploads().Get(u.id));
  EXPECT_EQ(got.checksum_state, state);
  NR_ASSERT_OK(uploads().Advance(u.id, 5, 6));  // not given: kept
  NR_ASSERT_OK_AND_ASSIGN(got, uploads().Get(u.id));
  EXPECT_EQ(got.checksum_state, state);
}

TEST_F(UploadRepositoryTest, DeferredLengthIsSetOnce) {
  Upload u = NewUpload(std::nullopt);
  NR_ASSERT_OK(uploads().Advance(u.id, 0, 1 << 20));  // no length yet: any offset
  NR_EXPECT_CODE(uploads().SetLength(u.id, 100), ErrorCode::kInvalidArgument);  // below offset
  NR_ASSERT_OK_AND_ASSIGN(Upload sized, uploads().SetLength(u.id, 2 << 20));
  EXPECT_EQ(sized.length, 2 << 20);
  NR_EXPECT_CODE(uploads().SetLength(u.id, 3 << 20), ErrorCode::kFailedPrecondition);
  NR_ASSERT_OK_AND_ASSIGN(Upload done, uploads().Advance(u.id, 1 << 20, 2 << 20));
  EXPECT_TRUE(done.completed_at_ms.has_value());
}

TEST_F(UploadRepositoryTest, SettingALengthEqualToTheOffsetCompletes) {
  Upload u = NewUpload(std::nullopt);
  NR_ASSERT_OK(uploads().Advance(u.id, 0, 77));
  NR_ASSERT_OK_AND_ASSIGN(Upload done, uploads().SetLength(u.id, 77));
  EXPECT_EQ(done.completed_at_ms, clock_.now());
}

TEST_F(UploadRepositoryTest, ListExpiredReturnsOnlyUnfinishedPastTheirExpiry) {
  Upload soon = NewUpload(100, 1000);
  Upload later = NewUpload(100, 5000);
  Upload finished = NewUpload(100, 1000);
  NR_ASSERT_OK(uploads().Advance(finished.id, 0, 100));
  NR_ASSERT_OK_AND_ASSIGN(std::vector<Upload> expired, uploads().ListExpired());
  EXPECT_TRUE(expired.empty());
  clock_.Advance(1000);
  NR_ASSERT_OK_AND_ASSIGN(expired, uploads().ListExpired());
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].id, soon.id);
  clock_.Advance(4000);
  NR_ASSERT_OK_AND_ASSIGN(expired, uploads().ListExpired());
  ASSERT_EQ(expired.size(), 2u);
  EXPECT_EQ(expired[1].id, later.id);
  NR_ASSERT_OK_AND_ASSIGN(expired, uploads().ListExpired(1));
  EXPECT_EQ(expired.size(), 1u);
}

TEST_F(UploadRepositoryTest, DeleteRemoves) {
  Upload u = NewUpload(1);
  NR_ASSERT_OK(uploads().Delete(u.id));
  NR_EXPECT_CODE(uploads().Get(u.id), ErrorCode::kNotFound);
  NR_EXPECT_CODE(uploads().Delete(u.id), ErrorCode::kNotFound);
}

TEST_F(UploadRepositoryTest, AdvanceCanPushTheExpiryBack) {
  Upload u = NewUpload(100, 1000);
  NR_ASSERT_OK_AND_ASSIGN(Upload moved,
                          uploads().Advance(u.id, 0, 10, std::nullopt, clock_.now() + 60'000));
  EXPECT_EQ(moved.expires_at_ms, clock_.now() + 60'000);
  clock_.Advance(2000);
  NR_ASSERT_OK_AND_ASSIGN(std::vector<Upload> expired, uploads().ListExpired());
  EXPECT_TRUE(expired.empty());
  NR_ASSERT_OK_AND_ASSIGN(Upload stored, uploads().Get(u.id));
  EXPECT_EQ(stored.expires_at_ms, moved.expires_at_ms);
}

TEST_F(UploadRepositoryTest, ListsFinishedUploadsThatHaveNoVideoYet) {
  Upload pending = NewUpload(10);
  Upload finished = NewUpload(10);
  Upload with_video = NewUpload(10);
  NR_ASSERT_OK(uploads().Advance(finished.id, 0, 10));
  NR_ASSERT_OK(uploads().Advance(with_video.id, 0, 10));
  Video v;
  v.id = with_video.id;
  v.title = "đã xong";
  NR_ASSERT_OK(catalog_->videos().Create(v));
  NR_ASSERT_OK_AND_ASSIGN(std::vector<Upload> orphans, uploads().ListCompletedWithoutVideo());
  ASSERT_EQ(orphans.size(), 1u);
  EXPECT_EQ(orphans[0].id, finished.id);
  EXPECT_NE(orphans[0].id, pending.id);
}

TEST_F(UploadRepositoryTest, BytesHeldCountsLiveAndFinishedUploadsOfOneReporter) {
  Upload known = NewUpload(1000, 1000);  // account "duc"
  Upload deferred = NewUpload(std::nullopt, 5000);
  NR_ASSERT_OK(uploads().Advance(deferred.id, 0, 300));
  Upload finished = NewUpload(50, 1000);
  NR_ASSERT_OK(uploads().Advance(finished.id, 0, 50));
  Upload other;
  other.length = 7777;
  other.reporter = "Phạm Minh Đức";  // the same display name, another account
  other.owner_id = Owner("someone-else");
  other.expires_at_ms = clock_.now() + 1000;
  NR_ASSERT_OK(uploads().Create(other));
  NR_ASSERT_OK_AND_ASSIGN(int64_t held, uploads().BytesHeldBy(Owner("duc")));
  EXPECT_EQ(held, 1000 + 300 + 50);
  clock_.Advance(1000);  // `known` expires; the finished one still counts
  NR_ASSERT_OK_AND_ASSIGN(held, uploads().BytesHeldBy(Owner("duc")));
  EXPECT_EQ(held, 300 + 50);
  NR_ASSERT_OK_AND_ASSIGN(held, uploads().BytesHeldBy(Owner("nobody")));
  EXPECT_EQ(held, 0);
}

TEST_F(UploadRepositoryTest, ListsAnAccountsUnfinishedUploadsMostRecentlyActiveFirst) {
  Upload first = NewUpload(1000, 5000);  // account "duc"
  clock_.Advance(10);
  Upload second = NewUpload(1000, 1000);
  Upload finished = NewUpload(50, 5000);
  NR_ASSERT_OK(uploads().Advance(finished.id, 0, 50));
  Upload other;
  other.length = 10;
  other.owner_id = Owner("someone-else");
  other.expires_at_ms = clock_.now() + 5000;
  NR_ASSERT_OK(uploads().Create(other));
  clock_.Advance(10);
  NR_ASSERT_OK(uploads().Advance(first.id, 0, 400));  // `first` is now the latest to move

  NR_ASSERT_OK_AND_ASSIGN(std::vector<Upload> mine, uploads().ListUnfinishedOf(Owner("duc")));
  ASSERT_EQ(mine.size(), 2u);
  EXPECT_EQ(mine[0].id, first.id);
  EXPECT_EQ(mine[0].offset, 400);
  EXPECT_EQ(mine[1].id, second.id);
  NR_ASSERT_OK_AND_ASSIGN(mine, uploads().ListUnfinishedOf(Owner("duc"), 1));
  EXPECT_EQ(mine.size(), 1u);
  clock_.Advance(1000);  // `second` expires: it is no longer resumable, so not listed
  NR_ASSERT_OK_AND_ASSIGN(mine, uploads().ListUnfinishedOf(Owner("duc")));
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0].id, first.id);
  NR_ASSERT_OK_AND_ASSIGN(mine, uploads().ListUnfinishedOf(Owner("nobody")));
  EXPECT_TRUE(mine.empty());
  EXPECT_FALSE(uploads().ListUnfinishedOf(Owner("duc"), 0).ok());
}

}  // namespace
}  // namespace newsreel::catalog
