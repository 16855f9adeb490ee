#include "catalog/search.h"

#include <gtest/gtest.h>

#include <set>

#include "tests/catalog/test_util.h"

namespace newsreel::catalog {
namespace {

using testing::CatalogTest;

TEST(BuildMatchExpressionTest, QuotesWordsAndPrefixesTheLastOne) {
  EXPECT_EQ(BuildMatchExpression("son la"), "\"son\" \"la\"*");
  EXPECT_EQ(BuildMatchExpression("Sơn La"), "\"son\" \"la\"*");
  EXPECT_EQ(BuildMatchExpression("  ĐIỆN   BIÊN "), "\"dien\" \"bien\"");  // word finished
  EXPECT_EQ(BuildMatchExpression("hà nội,"), "\"ha\" \"noi\"");
  EXPECT_EQ(BuildMatchExpression("đ"), "\"d\"*");
}

TEST(BuildMatchExpressionTest, UserSyntaxBecomesPlainText) {
  // FTS5 operators, column filters, prefixes, NOT, quotes and groups typed by a user.
  EXPECT_EQ(BuildMatchExpression("lũ OR quét"), "\"lu\" \"or\" \"quet\"*");
  EXPECT_EQ(BuildMatchExpression("title:bão -lũ *x \"a b\" (c) ^d NEAR(e f)"),
            "\"title\" \"bao\" \"lu\" \"x\" \"a\" \"b\" \"c\" \"d\" \"near\" \"e\" \"f\"");
  EXPECT_EQ(BuildMatchExpression("AND"), "\"and\"*");
}

TEST(BuildMatchExpressionTest, NothingSearchableGivesAnEmptyExpression) {
  EXPECT_EQ(BuildMatchExpression(""), "");
  EXPECT_EQ(BuildMatchExpression("   "), "");
  EXPECT_EQ(BuildMatchExpression("\"*-:^()!?.,;“”–…"), "");
  EXPECT_EQ(BuildMatchExpression("\xFF\xFE"), "");
}

TEST(BuildMatchExpressionTest, KeepsAtMostSixteenWords) {
  std::string many;
  for (int i = 0; i < 20; ++i) many += "w" + std::to_string(i) + " ";
  std::string expression = BuildMatchExpression(many + "tail");
  EXPECT_EQ(std::count(expression.begin(), expression.end(), '"'), 32);
  EXPECT_EQ(expression.find('*'), std::string::npos);
}

class SearchTest : public CatalogTest {
 protected:
  void SetUp() override {
    CatalogTest::SetUp();
    Add("son-la", "Lũ quét ở Sơn La", "Mưa lớn kéo dài gây sạt lở tại huyện Mường La.",
        {"thiên tai"}, "Nguyễn Văn An", "Mường La");
    Add("dien-bien", "Điện Biên Phủ kỷ niệm 70 năm chiến thắng",
        "Lễ diễu binh tại sân vận động tỉnh Điện Biên.", {"lịch sử", "lễ hội"}, "Đỗ Thu Hà",
        "Điện Biên");
    Add("ha-noi", "Giao thông Hà Nội giờ cao điểm", "Ùn tắc kéo dài trên đường Láng.",
        {"giao thông"}, "Trần Thị Bích", "Hà Nội");
    Add("mention", "Bản tin chiều", "Đoàn cứu trợ lên đường đi Sơn La và Lai Châu.", {"cứu trợ"},
        "Lê Hoàng Nam", "Hà Nội");
    Add("son-tra", "Bán đảo Sơn Trà mùa du lịch", "Khách đổ về Đà Nẵng.", {"du lịch"},
        "Nguyễn Văn An", "Đà Nẵng");
  }

  void Add(const std::string& id, const std::string& title, const std::string& description,
           std::vector<std::string> tags, const std::string& reporter,
           const std::string& location) {
    Video v;
    v.id = id;
    v.title = title;
    v.description = description;
    v.tags = std::move(tags);
    v.reporter = reporter;
    v.location = location;
    v.recorded_at_ms = clock_.now();
    ASSERT_TRUE(catalog_->videos().Create(v).ok());
    clock_.Advance(60'000);
  }

  // Ids of the hits for `text`, best first.
  std::vector<std::string> Find(const std::string& text, VideoFilter filter = {}) {
    SearchRequest request;
    request.text = text;
    request.filter = filter;
    request.limit = 100;
    Result<SearchPage> page = catalog_->search().Search(request);
    EXPECT_TRUE(page.ok()) << text << ": " << page.status().ToString();
    std::vector<std::string> ids;
    if (page.ok()) {
      for (const SearchHit& hit : page->hits) ids.push_back(hit.video.id);
    }
    return ids;
  }

  std::set<std::string> FindSet(const std::string& text) {
    std::vector<std::string> ids = Find(text);
    return {ids.begin(), ids.end()};
  }
};

TEST_F(SearchTest, VietnameseWithAndWithoutMarksInAnyCase) {
  const std::set<std::string> son_la = {"son-la", "mention"};
  EXPECT_EQ(FindSet("son la"), son_la);
  EXPECT_EQ(FindSet("Sơn La"), son_la);
  EXPECT_EQ(FindSet("SƠN LA"), son_la);
  EXPECT_EQ(FindSet("SON LA"), son_la);
  EXPECT_EQ(FindSet("So\xCC\x9Bn La"), son_la);  // decomposed marks
  const std::set<std::string> dien_bien = {"dien-bien"};
  EXPECT_EQ(FindSet("dien bien"), dien_bien);
  EXPECT_EQ(FindSet("Điện Biên"), dien_bien);
  EXPECT_EQ(FindSet("ĐIỆN BIÊN"), dien_bien);
  EXPECT_EQ(FindSet("điện biên phủ"), dien_bien);
  EXPECT_EQ(FindSet("ha noi"), (std::set<std::string>{"ha-noi", "mention"}));
}

TEST_F(SearchTest, PrefixesMatchAsTheUserTypes) {
  EXPECT_EQ(FindSet("đi"), (std::set<std::string>{"dien-bien", "mention", "ha-noi"}))
      << "'đi' is a prefix of Điện, đi and điểm";
  EXPECT_EQ(FindSet("dien bi"), (std::set<std::string>{"dien-bien"}));
  EXPECT_EQ(FindSet("Sơn Trà"), (std::set<std::string>{"son-tra"}));
  EXPECT_EQ(FindSet("son tr"), (std::set<std::string>{"son-tra", "mention"}))
      << "'tr' is a prefix of Trà and of trợ";
  EXPECT_EQ(FindSet("son"), (std::set<std::string>{"son-la", "mention", "son-tra"}));
  // A finished word is not a prefix: "son " does not find "sông".
  Add("song", "Nước sông Đà dâng cao", "", {}, "", "");
  EXPECT_EQ(FindSet("son").count("song"), 1u);
  EXPECT_EQ(FindSet("son ").count("song"), 0u);
}

TEST_F(SearchTest, TitleMatchesRankAboveDescriptionMatches) {
  std::vector<std::string> ids = Find("son la");
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(ids[0], "son-la");   // in the title
  EXPECT_EQ(ids[1], "mention");  // only in the description
}

TEST_F(SearchTest, TagsReporterAndLocationAreSearchable) {
  EXPECT_EQ(FindSet("thien tai"), (std::set<std::string>{"son-la"}));
  EXPECT_EQ(FindSet("le hoi"), (std::set<std::string>{"dien-bien"}));
  EXPECT_EQ(FindSet("tran thi bich"), (std::set<std::string>{"ha-noi"}));
  EXPECT_EQ(FindSet("da nang"), (std::set<std::string>{"son-tra"}));
}

TEST_F(SearchTest, HostileOrEmptyQueriesDoNotError) {
  for (const char* text : {"",
                           "   ",
                           "\"",
                           "\"\"",
                           "*",
                           "-",
                           ":",
                           "^",
                           "(",
                           ")",
                           "AND",
                           "OR",
                           "NOT",
                           "NEAR",
                           "son* OR \"la",
                           "title:son",
                           "-son",
                           "son -la",
                           "{title}: son",
                           "\xFF\xFE\xFD",
                           "“”",
                           "🙂",
                           "son la 🙂",
                           "'; DROP TABLE videos; --"}) {
    SearchRequest request;
    request.text = text;
    Result<SearchPage> page = catalog_->search().Search(request);
    EXPECT_TRUE(page.ok()) << "'" << text << "': " << page.status().ToString();
  }
  EXPECT_TRUE(Find("").empty());
  EXPECT_TRUE(Find("***").empty());
  EXPECT_EQ(FindSet("son -la"), (std::set<std::string>{"son-la", "mention"}));
  EXPECT_EQ(FindSet("title:son"), std::set<std::string>{});  // "title" is a word to find
  NR_EXPECT_OK(catalog_->videos().Get("son-la"));
}

TEST_F(SearchTest, NoMatchIsAnEmptyPage) { EXPECT_TRUE(Find("quảng ninh").empty()); }

TEST_F(SearchTest, FiltersApplyToResults) {
  NR_ASSERT_OK(catalog_->videos().Update("mention", {.visibility = Visibility::kPublished}));
  NR_ASSERT_OK(catalog_->videos().SetStatus("son-la", VideoStatus::kQueued));
  EXPECT_EQ(Find("son la", {.visibility = Visibility::kPublished}),
            std::vector<std::string>{"mention"});
  EXPECT_EQ(Find("son la", {.status = VideoStatus::kQueued}), std::vector<std::string>{"son-la"});
  std::vector<std::string> by_reporter = Find("son", {.reporter = "Nguyễn Văn An"});
  EXPECT_EQ(std::set<std::string>(by_reporter.begin(), by_reporter.end()),
            (std::set<std::string>{"son-la", "son-tra"}));
  NR_ASSERT_OK_AND_ASSIGN(Video first, catalog_->videos().Get("son-la"));
  EXPECT_EQ(Find("son la", {.recorded_from_ms = first.recorded_at_ms.value() + 1}),
            std::vector<std::string>{"mention"});
  EXPECT_EQ(Find("son la", {.created_to_ms = first.created_at_ms + 1}),
            std::vector<std::string>{"son-la"});
}

TEST_F(SearchTest, EditsAndDeletesReachTheIndex) {
  NR_ASSERT_OK(catalog_->videos().Update("son-tra", {.title = "Bán đảo Hải Vân"}));
  EXPECT_EQ(FindSet("son tra").count("son-tra"), 0u);
  EXPECT_EQ(FindSet("hai van"), (std::set<std::string>{"son-tra"}));
  NR_ASSERT_OK(catalog_->videos().Update("ha-noi", {.tags = std::vector<std::string>{"ùn tắc"}}));
  EXPECT_EQ(FindSet("un tac"), (std::set<std::string>{"ha-noi"}));
  EXPECT_TRUE(FindSet("giao thong").count("ha-noi"));  // still in the title
  NR_ASSERT_OK(catalog_->videos().Delete("son-la"));
  EXPECT_EQ(FindSet("son la"), (std::set<std::string>{"mention"}));
  // A status change does not disturb the index.
  NR_ASSERT_OK(catalog_->videos().SetStatus("dien-bien", VideoStatus::kQueued));
  EXPECT_EQ(FindSet("dien bien"), (std::set<std::string>{"dien-bien"}));
}

TEST_F(SearchTest, PagingCoversEveryHitOnceInRankOrder) {
  for (int i = 0; i < 23; ++i) {
    Add("bao-" + std::to_string(i), "Bão số " + std::to_string(i) + " đổ bộ",
        i % 2 ? "Bão mạnh, bão lớn." : "", {}, "", "");
  }
  std::vector<std::string> all = Find("bao");
  ASSERT_EQ(all.size(), 23u);
  std::vector<std::string> paged;
  SearchRequest request;
  request.text = "bao";
  request.limit = 5;
  int pages = 0;
  for (;;) {
    NR_ASSERT_OK_AND_ASSIGN(SearchPage page, catalog_->search().Search(request));
    for (const SearchHit& hit : page.hits) paged.push_back(hit.video.id);
    ++pages;
    if (!page.next_offset) break;
    request.offset = *page.next_offset;
  }
  EXPECT_EQ(pages, 5);
  EXPECT_EQ(paged, all);
  // Scores never increase down the list.
  request.offset = 0;
  request.limit = 23;
  NR_ASSERT_OK_AND_ASSIGN(SearchPage page, catalog_->search().Search(request));
  for (size_t i = 1; i < page.hits.size(); ++i) {
    EXPECT_GE(page.hits[i - 1].score, page.hits[i].score);
  }
}

TEST_F(SearchTest, BeyondTheRankWindowOnlyTheMostRecentMatchesAreRanked) {
  search_rank_window_ = 3;
  Reopen();
  Add("bao-old", "Bão Bão Bão", "bão", {"bão"}, "Mai Thị Thảo", "");  // the best match, oldest
  Add("bao-1", "Tin ngắn", "sau cơn bão", {}, "Mai Thị Thảo", "");
  Add("bao-2", "Tin ngắn", "sau cơn bão", {}, "", "");
  Add("bao-3", "Tin ngắn", "sau cơn bão", {}, "", "");
  Add("bao-4", "Tin ngắn", "sau cơn bão", {}, "", "");
  EXPECT_EQ(FindSet("bao"), (std::set<std::string>{"bao-2", "bao-3", "bao-4"}));
  // The window counts matches after the filters.
  EXPECT_EQ(Find("bao", {.reporter = "Mai Thị Thảo"}),
            (std::vector<std::string>{"bao-old", "bao-1"}));
}

TEST_F(SearchTest, RejectsBadPaging) {
  SearchRequest request;
  request.text = "son";
  request.limit = 0;
  NR_EXPECT_CODE(catalog_->search().Search(request), ErrorCode::kInvalidArgument);
  request.limit = 101;
  NR_EXPECT_CODE(catalog_->search().Search(request), ErrorCode::kInvalidArgument);
  request.limit = 10;
  request.offset = -1;
  NR_EXPECT_CODE(catalog_->search().Search(request), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace newsreel::catalog
