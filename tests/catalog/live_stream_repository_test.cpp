#include "catalog/live_stream_repository.h"

#include <gtest/gtest.h>

#include "tests/catalog/test_util.h"

namespace newsreel::catalog {
namespace {

using testing::CatalogTest;

class LiveStreamRepositoryTest : public CatalogTest {
 protected:
  LiveStreamRepository& streams() { return catalog_->live_streams(); }
};

TEST_F(LiveStreamRepositoryTest, CreateGeneratesIdAndKey) {
  LiveStream in;
  in.name = "Thời sự 19 giờ";
  NR_ASSERT_OK_AND_ASSIGN(LiveStream s, streams().Create(in));
  EXPECT_EQ(s.id.size(), 16u);
  EXPECT_EQ(s.stream_key.size(), 32u);
  EXPECT_EQ(s.state, LiveState::kIdle);
  NR_ASSERT_OK_AND_ASSIGN(LiveStream got, streams().Get(s.id));
  EXPECT_EQ(got, s);
  NR_ASSERT_OK_AND_ASSIGN(LiveStream by_key, streams().GetByKey(s.stream_key));
  EXPECT_EQ(by_key.id, s.id);
  NR_EXPECT_CODE(streams().GetByKey("not-a-key-at-all"), ErrorCode::kNotFound);
}

TEST_F(LiveStreamRepositoryTest, IdsAndKeysAreUnique) {
  LiveStream a;
  a.id = "kenh-1";
  a.stream_key = "0123456789abcdef";
  NR_ASSERT_OK(streams().Create(a));
  LiveStream same_id = a;
  same_id.stream_key = "fedcba9876543210";
  NR_EXPECT_CODE(streams().Create(same_id), ErrorCode::kAlreadyExists);
  LiveStream same_key = a;
  same_key.id = "kenh-2";
  NR_EXPECT_CODE(streams().Create(same_key), ErrorCode::kAlreadyExists);
  LiveStream short_key;
  short_key.stream_key = "short";
  NR_EXPECT_CODE(streams().Create(short_key), ErrorCode::kInvalidArgument);
}

TEST_F(LiveStreamRepositoryTest, GoingLiveStampsTheTime) {
  NR_ASSERT_OK_AND_ASSIGN(LiveStream s, streams().Create({}));
  clock_.Advance(1000);
  NR_ASSERT_OK_AND_ASSIGN(LiveStream live, streams().SetState(s.id, LiveState::kLive));
  EXPECT_EQ(live.state, LiveState::kLive);
  EXPECT_EQ(live.last_live_at_ms, clock_.now());
  const int64_t went_live = clock_.now();
  clock_.Advance(1000);
  NR_ASSERT_OK_AND_ASSIGN(LiveStream ended, streams().SetState(s.id, LiveState::kEnded));
  EXPECT_EQ(ended.last_live_at_ms, went_live);
  NR_ASSERT_OK_AND_ASSIGN(LiveStream got, streams().Get(s.id));
  EXPECT_EQ(got, ended);
  NR_EXPECT_CODE(streams().SetState("nope", LiveState::kLive), ErrorCode::kNotFound);
}

TEST_F(LiveStreamRepositoryTest, RotatingTheKeyRetiresTheOldOne) {
  NR_ASSERT_OK_AND_ASSIGN(LiveStream s, streams().Create({}));
  NR_ASSERT_OK_AND_ASSIGN(LiveStream rotated, streams().RotateKey(s.id));
  EXPECT_NE(rotated.stream_key, s.stream_key);
  NR_EXPECT_CODE(streams().GetByKey(s.stream_key), ErrorCode::kNotFound);
  NR_EXPECT_OK(streams().GetByKey(rotated.stream_key));
}

TEST_F(LiveStreamRepositoryTest, ListRenameDelete) {
  LiveStream b;
  b.name = "B kênh";
  LiveStream a;
  a.name = "A kênh";
  NR_ASSERT_OK_AND_ASSIGN(LiveStream sb, streams().Create(b));
  NR_ASSERT_OK_AND_ASSIGN(LiveStream sa, streams().Create(a));
  NR_ASSERT_OK_AND_ASSIGN(std::vector<LiveStream> all, streams().List());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, sa.id);
  NR_ASSERT_OK_AND_ASSIGN(LiveStream renamed, streams().Rename(sb.id, "0 đầu tiên"));
  EXPECT_EQ(renamed.name, "0 đầu tiên");
  NR_ASSERT_OK_AND_ASSIGN(all, streams().List());
  EXPECT_EQ(all[0].id, sb.id);
  NR_ASSERT_OK(streams().Delete(sa.id));
  NR_EXPECT_CODE(streams().Get(sa.id), ErrorCode::kNotFound);
  NR_EXPECT_CODE(streams().Delete(sa.id), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace newsreel::catalog
