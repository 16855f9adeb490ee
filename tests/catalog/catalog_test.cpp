#include "catalog/catalog.h"

#include <gtest/gtest.h>

#include <SQLiteCpp/Database.h>

#include <filesystem>
#include <fstream>

#include "tests/catalog/test_util.h"

namespace newsreel::catalog {
namespace {

using testing::CatalogTest;
using testing::TempDir;

TEST_F(CatalogTest, NewFileIsAWalDatabaseAtTheLatestSchema) {
  NR_ASSERT_OK_AND_ASSIGN(int version, catalog_->SchemaVersion());
  EXPECT_EQ(version, Catalog::LatestSchemaVersion());
  EXPECT_GE(Catalog::LatestSchemaVersion(), 1);
  MakeVideo("Lũ quét ở Sơn La");

  // journal_mode=WAL is stored in the file: a second connection sees it.
  SQLite::Database raw(db_path(), SQLite::OPEN_READONLY);
  EXPECT_EQ(raw.execAndGet("PRAGMA journal_mode").getString(), "wal");
  EXPECT_TRUE(std::filesystem::exists(db_path() + "-wal"));
  EXPECT_EQ(raw.execAndGet("SELECT count(*) FROM videos").getInt(), 1);
}

TEST_F(CatalogTest, ForeignKeysAreEnforced) {
  Video v = MakeVideo("Có ảnh đại diện");
  NR_ASSERT_OK(catalog_->videos().ReplaceMedia(v.id, {{}, {{AssetKind::kPoster, "poster.jpg"}}}));
  NR_ASSERT_OK(catalog_->videos().Delete(v.id));
  // With foreign keys off the asset row would outlive its video.
  SQLite::Database raw(db_path(), SQLite::OPEN_READONLY);
  EXPECT_EQ(raw.execAndGet("SELECT count(*) FROM assets").getInt(), 0);
}

TEST_F(CatalogTest, DataSurvivesReopening) {
  Video v = MakeVideo("Mùa lúa chín ở Mù Cang Chải");
  Reopen();
  NR_ASSERT_OK_AND_ASSIGN(Video again, catalog_->videos().Get(v.id));
  EXPECT_EQ(again, v);
}

TEST_F(CatalogTest, RefusesADatabaseNewerThanTheCode) {
  catalog_.reset();
  {
    SQLite::Database raw(db_path(), SQLite::OPEN_READWRITE);
    raw.exec("PRAGMA user_version = " + std::to_string(Catalog::LatestSchemaVersion() + 1));
  }
  Result<std::unique_ptr<Catalog>> opened = Catalog::Open(db_path());
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(opened.status().message().find("newer"), std::string::npos)
      << opened.status().message();
}

TEST(CatalogOpenTest, RefusesAnSqliteFileThatIsNotACatalog) {
  TempDir dir;
  {
    SQLite::Database raw(dir.File("other.db"), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec("CREATE TABLE notes (text TEXT)");
  }
  Result<std::unique_ptr<Catalog>> opened = Catalog::Open(dir.File("other.db"));
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(opened.status().message().find("not a Newsreel catalog"), std::string::npos);
}

TEST(CatalogOpenTest, RefusesAFileThatIsNotADatabase) {
  TempDir dir;
  std::ofstream(dir.File("notes.txt")) << "these are not the pages you are looking for\n"
                                       << std::string(4096, 'x');
  Result<std::unique_ptr<Catalog>> opened = Catalog::Open(dir.File("notes.txt"));
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), ErrorCode::kInternal) << opened.status().ToString();
}

TEST(CatalogOpenTest, MissingFileWithoutCreateIsAnIoError) {
  TempDir dir;
  CatalogOptions options;
  options.create_if_missing = false;
  Result<std::unique_ptr<Catalog>> opened = Catalog::Open(dir.File("absent.db"), options);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), ErrorCode::kIo) << opened.status().ToString();
  EXPECT_FALSE(std::filesystem::exists(dir.File("absent.db")));
}

TEST(CatalogOpenTest, InMemoryCatalogWorks) {
  NR_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Catalog> catalog, Catalog::Open(":memory:"));
  Video v;
  v.title = "Trong bộ nhớ";
  NR_ASSERT_OK(catalog->videos().Create(v));
}

TEST_F(CatalogTest, TwoConnectionsSeeEachOthersCommits) {
  NR_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Catalog> other, Catalog::Open(db_path()));
  Video v = MakeVideo("Hội Lim");
  NR_ASSERT_OK_AND_ASSIGN(Video seen, other->videos().Get(v.id));
  EXPECT_EQ(seen.title, "Hội Lim");
  Video w;
  w.title = "Chợ nổi Cái Răng";
  NR_ASSERT_OK_AND_ASSIGN(Video created, other->videos().Create(w));
  NR_EXPECT_OK(catalog_->videos().Get(created.id));
}

TEST_F(CatalogTest, AWriterWaitsForTheBusyTimeoutThenReportsATimeout) {
  CatalogOptions impatient;
  impatient.busy_timeout_ms = 50;
  NR_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Catalog> other, Catalog::Open(db_path(), impatient));
  Status inner;
  NR_ASSERT_OK(catalog_->RunInTransaction([&]() -> Status {
    MakeVideo("giữ khoá ghi");  // this connection now holds the write lock
    Video w;
    w.title = "phải chờ";
    inner = other->videos().Create(w).status();
    // A reader is never blocked by the writer in WAL mode.
    Result<VideoPage> listed = other->videos().List({}, {});
    EXPECT_TRUE(listed.ok()) << listed.status().ToString();
    return Status::Ok();
  }));
  EXPECT_EQ(inner.code(), ErrorCode::kTimeout) << inner.ToString();
}

TEST_F(CatalogTest, RunInTransactionCommitsAllOrNothing) {
  Status failed = catalog_->RunInTransaction([&]() -> Status {
    MakeVideo("sẽ bị huỷ", "rolled-back");
    return InvalidArgument("changed my mind");
  });
  EXPECT_EQ(failed.code(), ErrorCode::kInvalidArgument);
  NR_EXPECT_CODE(catalog_->videos().Get("rolled-back"), ErrorCode::kNotFound);

  NR_ASSERT_OK(catalog_->RunInTransaction([&]() -> Status {
    Video v;
    v.id = "from-upload";
    v.title = "Từ một lần tải lên";
    NR_RETURN_IF_ERROR(catalog_->videos().Create(v).status());
    JobSpec spec;
    spec.video_id = "from-upload";
    return catalog_->jobs().Enqueue(spec).status();
  }));
  NR_ASSERT_OK_AND_ASSIGN(Video v, catalog_->videos().Get("from-upload"));
  EXPECT_EQ(v.status, VideoStatus::kQueued);
}

TEST_F(CatalogTest, AFailedInnerCallRollsBackOnlyItself) {
  NR_ASSERT_OK(catalog_->RunInTransaction([&]() -> Status {
    MakeVideo("giữ lại", "kept");
    Video dup;
    dup.id = "kept";
    EXPECT_EQ(catalog_->videos().Create(dup).status().code(), ErrorCode::kAlreadyExists);
    return Status::Ok();
  }));
  NR_EXPECT_OK(catalog_->videos().Get("kept"));
}

TEST_F(CatalogTest, IntegrityCheckAndCheckpointSucceedOnAHealthyFile) {
  for (int i = 0; i < 10; ++i) MakeVideo("Bản tin số " + std::to_string(i));
  NR_EXPECT_OK(catalog_->CheckIntegrity());
  NR_EXPECT_OK(catalog_->Checkpoint());
  EXPECT_EQ(std::filesystem::file_size(db_path() + "-wal"), 0u);
}

TEST_F(CatalogTest, TimestampsComeFromTheInjectedClock) {
  Video v = MakeVideo("Đồng hồ giả");
  EXPECT_EQ(v.created_at_ms, clock_.now());
  EXPECT_EQ(catalog_->Now(), clock_.now());
}

}  // namespace
}  // namespace newsreel::catalog
