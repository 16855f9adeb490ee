#include "catalog/internal/migrations.h"

#include <gtest/gtest.h>

#include <SQLiteCpp/Database.h>

#include "catalog/catalog.h"
#include "catalog/internal/connection.h"
#include "tests/catalog/test_util.h"

namespace newsreel::catalog::internal {
namespace {

using testing::TempDir;

std::unique_ptr<SQLite::Database> OpenRaw(const std::string& path) {
  auto db = std::make_unique<SQLite::Database>(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  db->exec("PRAGMA foreign_keys = ON");
  RegisterSqlFunctions(*db);
  return db;
}

// Rows a database of `version` could hold, written with that version's SQL (as an older
// newsreel would have written them).
void WriteFixture(SQLite::Database& db, int version) {
  if (version >= 1) {
    db.exec(
        "INSERT INTO users (name, display_name, role, created_at, updated_at) "
        "VALUES ('thu.ha', 'Đỗ Thu Hà', 'reporter', 1, 1);"
        "INSERT INTO videos (id, title, description, tags, reporter, location, status, "
        "visibility, created_at, updated_at) VALUES ('old-video', 'Lũ quét ở Điện Biên', "
        "'Nước dâng cao trong đêm', '[\"thiên tai\"]', 'Đỗ Thu Hà', 'Mường Chà', 'ready', "
        "'published', 1, 1);"
        "INSERT INTO renditions VALUES ('old-video', '360p', 640, 360, 800000, 700000, "
        "'avc1.4d401e', 25, '360p/index.m3u8', 'x264enc');"
        "INSERT INTO jobs (kind, video_id, state, created_at, updated_at) "
        "VALUES ('transcode', 'old-video', 'succeeded', 1, 1);"
        "INSERT INTO videos (id, title, status, failure_reason, visibility, created_at, "
        "updated_at) VALUES ('old-failure', 'Hỏng', 'failed', 'Processing failed: not a media "
        "file', 'draft', 1, 1);");
  }
  if (version >= 2) {
    db.exec(
        "INSERT INTO uploads (id, byte_offset, byte_length, created_at, updated_at, expires_at) "
        "VALUES ('old-upload', 10, 100, 1, 1, 99);");
  }
  if (version >= 2 && version < 5) {
    db.exec(
        "INSERT INTO live_streams (id, name, stream_key, created_at, updated_at) "
        "VALUES ('old-live', 'Kênh thời sự', 'abcdefghijklmnop1234', 1, 1);");
  } else if (version >= 5) {
    // From version 5 on the key is stored as its SHA-256.
    db.exec(
        "INSERT INTO live_streams (id, title, key_hash, passphrase, state, state_since, "
        "created_at, updated_at) VALUES ('old-live', 'Kênh thời sự', "
        "X'A9A9DC1836C67F5E5E40AF383D262F9BF3AEFD0B310066C80417FEC712CA8902', "
        "'passphrase-of-v5', 'idle', 1, 1, 1);");
  }
}

TEST(MigrationsTest, VersionsAreConsecutiveFromOne) {
  int count = 0;
  const Migration* migrations = Migrations(&count);
  ASSERT_GE(count, 1);
  for (int i = 0; i < count; ++i) EXPECT_EQ(migrations[i].version, i + 1);
  EXPECT_EQ(LatestSchemaVersion(), count);
  EXPECT_EQ(Catalog::LatestSchemaVersion(), count);
}

TEST(MigrationsTest, MigratingAgainIsANoOp) {
  TempDir dir;
  auto db = OpenRaw(dir.File("c.db"));
  ASSERT_TRUE(Migrate(*db, LatestSchemaVersion()).ok());
  Status again = Migrate(*db, LatestSchemaVersion());
  EXPECT_TRUE(again.ok()) << again.ToString();
  EXPECT_EQ(*SchemaVersion(*db), LatestSchemaVersion());
}

TEST(MigrationsTest, RejectsUnknownTargets) {
  TempDir dir;
  auto db = OpenRaw(dir.File("c.db"));
  EXPECT_EQ(Migrate(*db, LatestSchemaVersion() + 1).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(Migrate(*db, -1).code(), ErrorCode::kInvalidArgument);
}

TEST(MigrationsTest, RefusesAFileMarkedAsAnotherApplication) {
  TempDir dir;
  auto db = OpenRaw(dir.File("c.db"));
  ASSERT_TRUE(Migrate(*db, 1).ok());
  db->exec("PRAGMA application_id = 1234");
  EXPECT_EQ(Migrate(*db, LatestSchemaVersion()).code(), ErrorCode::kFailedPrecondition);
}

// Every older version, with data in it, opens as the latest schema with its data intact and
// searchable.
class UpgradeTest : public ::testing::TestWithParam<int> {};

TEST_P(UpgradeTest, OpensAndKeepsTheData) {
  const int from = GetParam();
  TempDir dir;
  const std::string path = dir.File("catalog.db");
  {
    auto db = OpenRaw(path);
    Status migrated = Migrate(*db, from);
    ASSERT_TRUE(migrated.ok()) << migrated.ToString();
    ASSERT_EQ(*SchemaVersion(*db), from);
    WriteFixture(*db, from);
  }
  Result<std::unique_ptr<Catalog>> opened = Catalog::Open(path);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Catalog& catalog = **opened;
  EXPECT_EQ(*catalog.SchemaVersion(), LatestSchemaVersion());
  NR_EXPECT_OK(catalog.CheckIntegrity());

  if (from >= 1) {
    NR_ASSERT_OK_AND_ASSIGN(Video v, catalog.videos().Get("old-video"));
    EXPECT_EQ(v.title, "Lũ quét ở Điện Biên");
    EXPECT_EQ(v.tags, std::vector<std::string>{"thiên tai"});
    EXPECT_EQ(v.status, VideoStatus::kReady);
    NR_ASSERT_OK_AND_ASSIGN(std::vector<Rendition> renditions,
                            catalog.videos().ListRenditions("old-video"));
    ASSERT_EQ(renditions.size(), 1u);
    EXPECT_EQ(renditions[0].encoder, "x264enc");
    // A video that failed before failure codes were kept: its reason, and no code.
    NR_ASSERT_OK_AND_ASSIGN(Video failed, catalog.videos().Get("old-failure"));
    EXPECT_EQ(failed.failure_reason, "Processing failed: not a media file");
    EXPECT_EQ(failed.failure_code, "");
    NR_EXPECT_OK(catalog.users().GetUserByName("thu.ha"));
    // Videos written before search existed are in the index too.
    SearchRequest request;
    request.text = "dien bien";
    NR_ASSERT_OK_AND_ASSIGN(SearchPage page, catalog.search().Search(request));
    ASSERT_EQ(page.hits.size(), 1u);
    EXPECT_EQ(page.hits[0].video.id, "old-video");
    request.text = "thien tai";  // a tag
    NR_ASSERT_OK_AND_ASSIGN(SearchPage by_tag, catalog.search().Search(request));
    EXPECT_EQ(by_tag.hits.size(), 1u);
  }
  if (from >= 2) {
    NR_ASSERT_OK_AND_ASSIGN(Upload u, catalog.uploads().Get("old-upload"));
    EXPECT_EQ(u.offset, 10);
    EXPECT_EQ(u.length, 100);
    // Keys made before version 5 keep working: the migration stored their hashes.
    NR_ASSERT_OK_AND_ASSIGN(LiveStream l, catalog.live_streams().GetByKey("abcdefghijklmnop1234"));
    EXPECT_EQ(l.id, "old-live");
    EXPECT_EQ(l.title, "Kênh thời sự");
    EXPECT_EQ(l.visibility, Visibility::kDraft);
    EXPECT_GE(l.passphrase.size(), 10u);
  }
  // And the upgraded file takes new rows in every table.
  Video fresh;
  fresh.title = "Sau khi nâng cấp";
  NR_EXPECT_OK(catalog.videos().Create(fresh));
  Upload upload;
  upload.expires_at_ms = catalog.Now() + 1000;
  NR_EXPECT_OK(catalog.uploads().Create(upload));
  NR_EXPECT_OK(catalog.live_streams().Create({}));
}

INSTANTIATE_TEST_SUITE_P(EveryOlderVersion, UpgradeTest, ::testing::Range(0, LatestSchemaVersion()),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return "FromVersion" + std::to_string(info.param);
                         });

}  // namespace
}  // namespace newsreel::catalog::internal
