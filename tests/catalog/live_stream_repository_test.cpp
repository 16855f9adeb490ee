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

TEST_F(LiveStreamRepositoryTest, CreateGeneratesIdKeyAndPassphraseAndStoresOnlyTheKeysHash) {
  NR_ASSERT_OK_AND_ASSIGN(User owner,
                          catalog_->users().CreateUser("hoa", "Lê Hoa", Role::kReporter));
  LiveStream in;
  in.title = "Thời sự 19 giờ";
  in.owner_id = owner.id;
  in.visibility = Visibility::kUnlisted;
  in.encrypt_ingest = true;
  NR_ASSERT_OK_AND_ASSIGN(LiveStreamWithKey made, streams().Create(in));
  const LiveStream& s = made.stream;
  EXPECT_EQ(s.id.size(), 16u);
  EXPECT_EQ(made.key.size(), 32u);
  EXPECT_EQ(s.passphrase.size(), 24u);
  EXPECT_EQ(s.key_hash, LiveStreamRepository::HashKey(made.key));
  EXPECT_EQ(s.key_hash.size(), 32u);
  EXPECT_EQ(s.title, "Thời sự 19 giờ");
  EXPECT_EQ(s.owner_id, owner.id);
  EXPECT_EQ(s.visibility, Visibility::kUnlisted);
  EXPECT_TRUE(s.encrypt_ingest);
  EXPECT_EQ(s.state, LiveState::kIdle);
  EXPECT_EQ(s.state_since_ms, clock_.now());
  NR_ASSERT_OK_AND_ASSIGN(LiveStream got, streams().Get(s.id));
  EXPECT_EQ(got, s);
  NR_ASSERT_OK_AND_ASSIGN(LiveStream by_key, streams().GetByKey(made.key));
  EXPECT_EQ(by_key.id, s.id);
  NR_EXPECT_CODE(streams().GetByKey("not-a-key-at-all"), ErrorCode::kNotFound);
  // Two streams never share a key or a passphrase.
  NR_ASSERT_OK_AND_ASSIGN(LiveStreamWithKey other, streams().Create({}));
  EXPECT_NE(other.key, made.key);
  EXPECT_NE(other.stream.passphrase, s.passphrase);
}

TEST_F(LiveStreamRepositoryTest, IdsAreUniqueAndTitlesChecked) {
  LiveStream a;
  a.id = "kenh-1";
  NR_ASSERT_OK(streams().Create(a));
  NR_EXPECT_CODE(streams().Create(a), ErrorCode::kAlreadyExists);
  LiveStream bad_id;
  bad_id.id = "../x";
  NR_EXPECT_CODE(streams().Create(bad_id), ErrorCode::kInvalidArgument);
  LiveStream bad_title;
  bad_title.title = std::string("\xff\xfe", 2);
  NR_EXPECT_CODE(streams().Create(bad_title), ErrorCode::kInvalidArgument);
  bad_title.title = std::string(401, 'x');
  NR_EXPECT_CODE(streams().Create(bad_title), ErrorCode::kInvalidArgument);
}

TEST_F(LiveStreamRepositoryTest, StatesStampTheirTimeAndAReconnectKeepsTheLiveTime) {
  NR_ASSERT_OK_AND_ASSIGN(LiveStreamWithKey made, streams().Create({}));
  const std::string id = made.stream.id;
  clock_.Advance(1000);
  NR_ASSERT_OK_AND_ASSIGN(LiveStream live, streams().SetState(id, LiveState::kLive));
  EXPECT_EQ(live.state, LiveState::kLive);
  EXPECT_EQ(live.last_live_at_ms, clock_.now());
  EXPECT_EQ(live.state_since_ms, clock_.now());
  const int64_t went_live = clock_.now();
  clock_.Advance(1000);
  NR_ASSERT_OK_AND_ASSIGN(LiveStream again, streams().SetState(id, LiveState::kLive));
  EXPECT_EQ(again.state_since_ms, went_live);  // no change, no new stamp
  NR_ASSERT_OK_AND_ASSIGN(LiveStream dropped, streams().SetState(id, LiveState::kReconnecting));
  EXPECT_EQ(dropped.state_since_ms, clock_.now());
  clock_.Advance(1000);
  NR_ASSERT_OK_AND_ASSIGN(LiveStream back, streams().SetState(id, LiveState::kLive));
  EXPECT_EQ(back.last_live_at_ms, went_live);  // the same broadcast
  EXPECT_EQ(back.state_since_ms, clock_.now());
  NR_ASSERT_OK_AND_ASSIGN(LiveStream ended, streams().SetState(id, LiveState::kEnded));
  EXPECT_EQ(ended.last_live_at_ms, went_live);
  NR_ASSERT_OK_AND_ASSIGN(LiveStream got, streams().Get(id));
  EXPECT_EQ(got, ended);
  NR_EXPECT_CODE(streams().SetState("nope", LiveState::kLive), ErrorCode::kNotFound);
}

TEST_F(LiveStreamRepositoryTest, RotatingTheKeyRetiresTheOldOne) {
  NR_ASSERT_OK_AND_ASSIGN(LiveStreamWithKey s, streams().Create({}));
  NR_ASSERT_OK_AND_ASSIGN(LiveStreamWithKey rotated, streams().RotateKey(s.stream.id));
  EXPECT_NE(rotated.key, s.key);
  EXPECT_EQ(rotated.stream.passphrase, s.stream.passphrase);
  NR_EXPECT_CODE(streams().GetByKey(s.key), ErrorCode::kNotFound);
  NR_EXPECT_OK(streams().GetByKey(rotated.key));
  NR_EXPECT_CODE(streams().RotateKey("nope"), ErrorCode::kNotFound);
}

TEST_F(LiveStreamRepositoryTest, ListUpdateRecordingDelete) {
  LiveStream b;
  b.title = "B kênh";
  NR_ASSERT_OK_AND_ASSIGN(LiveStreamWithKey sb, streams().Create(b));
  clock_.Advance(10);
  LiveStream a;
  a.title = "A kênh";
  NR_ASSERT_OK_AND_ASSIGN(LiveStreamWithKey sa, streams().Create(a));
  NR_ASSERT_OK_AND_ASSIGN(std::vector<LiveStream> all, streams().List());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, sa.stream.id);  // newest first
  LiveStream changed = sb.stream;
  changed.title = "Lễ hội";
  changed.visibility = Visibility::kPublished;
  changed.replace_publisher = true;
  changed.passphrase = "ignored-by-update";
  NR_ASSERT_OK_AND_ASSIGN(LiveStream updated, streams().Update(changed));
  EXPECT_EQ(updated.title, "Lễ hội");
  EXPECT_EQ(updated.visibility, Visibility::kPublished);
  EXPECT_TRUE(updated.replace_publisher);
  EXPECT_EQ(updated.passphrase, sb.stream.passphrase);
  NR_ASSERT_OK_AND_ASSIGN(LiveStream recorded, streams().SetRecordingVideo(sb.stream.id, "vid1"));
  EXPECT_EQ(recorded.recording_video_id, "vid1");
  NR_ASSERT_OK_AND_ASSIGN(LiveStream got, streams().Get(sb.stream.id));
  EXPECT_EQ(got, recorded);
  NR_ASSERT_OK(streams().Delete(sa.stream.id));
  NR_EXPECT_CODE(streams().Get(sa.stream.id), ErrorCode::kNotFound);
  NR_EXPECT_CODE(streams().Delete(sa.stream.id), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace newsreel::catalog
