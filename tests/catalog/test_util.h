#pragma once
// Helpers shared by the catalog tests: temporary folders, a clock the test moves by hand, and
// assertions on Status / Result values.

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "catalog/catalog.h"
#include "common/status.h"

namespace newsreel::catalog::testing {

// A fresh folder under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/nr_catalog_XXXXXX";
    char* made = mkdtemp(pattern.data());
    if (made == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = made;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Time that moves only when the test says so. Starts at 2024-01-01T00:00:00Z.
class FakeClock {
 public:
  int64_t now() const { return now_; }
  void Advance(int64_t ms) { now_ += ms; }
  Clock AsClock() {
    return [this] { return now_; };
  }

 private:
  int64_t now_ = 1'704'067'200'000;
};

inline const Status& StatusOf(const Status& s) { return s; }
template <typename T>
const Status& StatusOf(const Result<T>& r) {
  return r.status();
}
inline bool IsOk(const Status& s) { return s.ok(); }
template <typename T>
bool IsOk(const Result<T>& r) {
  return r.ok();
}

}  // namespace newsreel::catalog::testing

// Fails the test (and returns) unless `expr` is OK; prints the error otherwise.
#define NR_ASSERT_OK(expr)                                                                \
  do {                                                                                    \
    const auto& nr_value_ = (expr);                                                       \
    ASSERT_TRUE(::newsreel::catalog::testing::IsOk(nr_value_))                            \
        << #expr << ": " << ::newsreel::catalog::testing::StatusOf(nr_value_).ToString(); \
  } while (0)

#define NR_EXPECT_OK(expr)                                                                \
  do {                                                                                    \
    const auto& nr_value_ = (expr);                                                       \
    EXPECT_TRUE(::newsreel::catalog::testing::IsOk(nr_value_))                            \
        << #expr << ": " << ::newsreel::catalog::testing::StatusOf(nr_value_).ToString(); \
  } while (0)

// Expects `expr` to fail with `code`.
#define NR_EXPECT_CODE(expr, expected)                                                    \
  do {                                                                                    \
    const auto& nr_value_ = (expr);                                                       \
    EXPECT_EQ(::newsreel::catalog::testing::StatusOf(nr_value_).code(), expected)         \
        << #expr << ": " << ::newsreel::catalog::testing::StatusOf(nr_value_).ToString(); \
  } while (0)

#define NR_CONCAT_INNER_(a, b) a##b
#define NR_CONCAT_(a, b) NR_CONCAT_INNER_(a, b)
// `lhs = value of expr`, failing the test (and returning) when expr is not OK.
#define NR_ASSERT_OK_AND_ASSIGN(lhs, expr)                                      \
  auto NR_CONCAT_(nr_result_, __LINE__) = (expr);                               \
  ASSERT_TRUE(NR_CONCAT_(nr_result_, __LINE__).ok())                            \
      << #expr << ": " << NR_CONCAT_(nr_result_, __LINE__).status().ToString(); \
  lhs = std::move(NR_CONCAT_(nr_result_, __LINE__)).value()

namespace newsreel::catalog::testing {

// A catalog on a real file in a temporary folder, with a FakeClock.
class CatalogTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  // Closes and opens the catalog again (what a restarted server does).
  void Reopen() {
    catalog_.reset();
    CatalogOptions options;
    options.clock = clock_.AsClock();
    options.jobs = job_options_;
    options.search_rank_window = search_rank_window_;
    Result<std::unique_ptr<Catalog>> opened = Catalog::Open(db_path(), options);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    catalog_ = std::move(opened).value();
  }

  std::string db_path() const { return dir_.File("catalog.db"); }

  // Creates a video with the given title (and the rest defaulted), failing the test otherwise.
  Video MakeVideo(const std::string& title, const std::string& id = "") {
    Video v;
    v.id = id;
    v.title = title;
    Result<Video> created = catalog_->videos().Create(v);
    EXPECT_TRUE(created.ok()) << created.status().ToString();
    return created.ok() ? created.value() : Video{};
  }

  TempDir dir_;
  FakeClock clock_;
  JobQueueOptions job_options_;
  int search_rank_window_ = CatalogOptions().search_rank_window;
  std::unique_ptr<Catalog> catalog_;
};

}  // namespace newsreel::catalog::testing
