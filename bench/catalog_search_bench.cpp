// Search latency over a catalog of realistic Vietnamese news videos.
//
//   newsreel_catalog_bench [--videos N] [--rounds R] [--dir DIR] [--seed S] [--rank-window W]
//   [--keep]
//
// Builds a catalog of N videos (default 100,000) whose titles, descriptions, tags, reporters and
// locations are composed from Vietnamese place names, news topics and names, with their marks.
// Then runs a fixed mix of queries R times (with and without marks, upper case, prefixes as
// typed, rare and common words; first page of 20) through VideoSearch, and through a peer: a
// plain LIKE scan over a table of the same folded text (what search would be without FTS5).
// Prints the median and p99 latency of each, overall and per kind of query, and their ratio.
// bench/catalog_search_bench.sh builds and runs it.

#include <unistd.h>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "catalog/vietnamese_fold.h"

namespace {

using newsreel::Status;
using namespace newsreel::catalog;
using Clock = std::chrono::steady_clock;

const std::vector<std::string> kProvinces = {
    "Hà Nội",     "Hải Phòng",      "Đà Nẵng",     "Cần Thơ",           "Thành phố Hồ Chí Minh",
    "Sơn La",     "Điện Biên",      "Lai Châu",    "Lào Cai",           "Hà Giang",
    "Cao Bằng",   "Yên Bái",        "Tuyên Quang", "Thái Nguyên",       "Bắc Kạn",
    "Lạng Sơn",   "Quảng Ninh",     "Hòa Bình",    "Phú Thọ",           "Vĩnh Phúc",
    "Bắc Ninh",   "Hải Dương",      "Hưng Yên",    "Thái Bình",         "Nam Định",
    "Ninh Bình",  "Thanh Hóa",      "Nghệ An",     "Hà Tĩnh",           "Quảng Bình",
    "Quảng Trị",  "Thừa Thiên Huế", "Quảng Nam",   "Quảng Ngãi",        "Bình Định",
    "Phú Yên",    "Khánh Hòa",      "Ninh Thuận",  "Bình Thuận",        "Kon Tum",
    "Gia Lai",    "Đắk Lắk",        "Đắk Nông",    "Lâm Đồng",          "Bình Phước",
    "Tây Ninh",   "Bình Dương",     "Đồng Nai",    "Bà Rịa – Vũng Tàu", "Long An",
    "Tiền Giang", "Bến Tre",        "Trà Vinh",    "Vĩnh Long",         "Đồng Tháp",
    "An Giang",   "Kiên Giang",     "Hậu Giang",   "Sóc Trăng",         "Bạc Liêu",
    "Cà Mau"};

const std::vector<std::string> kPlaces = {
    "Mường La", "Mù Cang Chải", "Sa Pa",         "Đồng Văn",   "Mèo Vạc",   "Bắc Hà",
    "Mộc Châu", "Tủa Chùa",     "Mường Nhé",     "Phong Thổ",  "Bát Xát",   "Trùng Khánh",
    "Hạ Long",  "Cô Tô",        "Cát Bà",        "Tam Cốc",    "Phong Nha", "Hội An",
    "Mỹ Sơn",   "Lý Sơn",       "Buôn Ma Thuột", "Pleiku",     "Đà Lạt",    "Bảo Lộc",
    "Phú Quốc", "Châu Đốc",     "Cái Răng",      "Năm Căn",    "Côn Đảo",   "Núi Bà Đen",
    "Cửa Lò",   "Sầm Sơn",      "Kim Liên",      "Vinh",       "Đồng Hới",  "Khe Sanh",
    "Quy Nhơn", "Tuy Hòa",      "Nha Trang",     "Phan Thiết", "Mũi Né",    "Cần Giờ"};

const std::vector<std::string> kTopics = {"Lũ quét",
                                          "Sạt lở đất",
                                          "Mưa lớn kéo dài",
                                          "Nắng nóng gay gắt",
                                          "Rét đậm rét hại",
                                          "Hạn hán và xâm nhập mặn",
                                          "Mùa lúa chín",
                                          "Thu hoạch cà phê",
                                          "Giá nông sản giảm",
                                          "Lễ hội đầu xuân",
                                          "Khai giảng năm học mới",
                                          "Thi tốt nghiệp trung học",
                                          "Tiêm chủng cho trẻ em",
                                          "Bệnh viện quá tải",
                                          "Giao thông ùn tắc",
                                          "Tai nạn giao thông",
                                          "Khánh thành cầu mới",
                                          "Thông xe cao tốc",
                                          "Xây dựng nông thôn mới",
                                          "Du lịch cộng đồng",
                                          "Bảo tồn di sản",
                                          "Chợ phiên vùng cao",
                                          "Đánh bắt xa bờ",
                                          "Cháy rừng",
                                          "Trồng rừng phòng hộ",
                                          "Điện mặt trời",
                                          "Thủy điện xả lũ",
                                          "Tìm kiếm cứu nạn",
                                          "Cứu trợ đồng bào",
                                          "Bầu cử hội đồng nhân dân",
                                          "Hội nghị xúc tiến đầu tư",
                                          "Khởi nghiệp của thanh niên",
                                          "Làng nghề truyền thống",
                                          "Bão đổ bộ",
                                          "Triều cường dâng cao",
                                          "Dịch tả lợn châu Phi",
                                          "Ô nhiễm môi trường",
                                          "Giải phóng mặt bằng",
                                          "Xuất khẩu thanh long",
                                          "Mùa hoa tam giác mạch"};

const std::vector<std::string> kReporters = {
    "Nguyễn Văn An",   "Trần Thị Bích", "Lê Hoàng Nam",  "Phạm Minh Đức", "Đỗ Thu Hà",
    "Hoàng Văn Thắng", "Vũ Thị Lan",    "Bùi Quang Huy", "Đặng Ngọc Ánh", "Ngô Thanh Tùng",
    "Dương Thị Hồng",  "Lý Văn Phúc",   "Hồ Thị Mai",    "Phan Đức Long", "Trịnh Văn Quyết",
    "Đinh Thị Nga",    "Lương Văn Sơn", "Mai Thị Thảo",  "Tạ Quang Vinh", "Cao Thị Yến",
    "Lò Văn Khánh",    "Giàng A Páo",   "Sùng Thị Dở",   "Hà Văn Điện",   "Chu Thị Điệp"};

const std::vector<std::string> kTags = {
    "thời sự",   "thiên tai", "giao thông", "giáo dục",   "y tế",      "nông nghiệp", "du lịch",
    "văn hóa",   "lễ hội",    "kinh tế",    "môi trường", "an ninh",   "thể thao",    "dân tộc",
    "biên giới", "biển đảo",  "đô thị",     "xã hội",     "pháp luật", "khoa học"};

const std::vector<std::string> kSentences = {
    "Chính quyền địa phương đã huy động lực lượng hỗ trợ người dân.",
    "Nhiều hộ gia đình phải di dời đến nơi an toàn trong đêm.",
    "Theo thống kê ban đầu, thiệt hại ước tính hàng chục tỷ đồng.",
    "Người dân phấn khởi khi công trình được đưa vào sử dụng.",
    "Phóng viên ghi nhận tại hiện trường lúc sáng sớm.",
    "Lãnh đạo tỉnh đã đến thăm hỏi và động viên bà con.",
    "Các chuyên gia khuyến cáo người dân theo dõi bản tin thời tiết.",
    "Học sinh vùng cao vượt hàng chục cây số để đến trường.",
    "Sản lượng năm nay tăng so với cùng kỳ năm trước.",
    "Du khách trong và ngoài nước đổ về tham quan.",
    "Lực lượng chức năng đang điều tra làm rõ nguyên nhân.",
    "Tuyến đường bị chia cắt, giao thông tê liệt nhiều giờ.",
    "Bà con dân tộc Thái, Mông, Dao cùng tham gia ngày hội.",
    "Dự án có tổng vốn đầu tư hơn một nghìn tỷ đồng.",
    "Ngành y tế tăng cường kiểm tra, giám sát dịch bệnh."};

template <typename T>
const T& Pick(std::mt19937& random, const std::vector<T>& items) {
  return items[std::uniform_int_distribution<size_t>(0, items.size() - 1)(random)];
}

// A handful of stories that appear once, early in the catalog: what a search for one specific old
// story looks like.
const std::vector<std::string> kNeedles = {
    "Thám hiểm hang Sơn Đoòng", "Phố cổ Đồng Văn đón khách", "Ruộng bậc thang Hoàng Su Phì",
    "Ngày hội Gầu Tào của người Mông", "Đèo Mã Pì Lèng mùa mây"};

Video MakeVideo(std::mt19937& random, int index) {
  const std::string& province = Pick(random, kProvinces);
  const std::string& place = Pick(random, kPlaces);
  const std::string& topic = Pick(random, kTopics);
  Video v;
  switch (index % 4) {
    case 0:
      v.title = topic + " tại " + place + ", " + province;
      break;
    case 1:
      v.title = province + ": " + topic + " ngày " + std::to_string(1 + index % 28);
      break;
    case 2:
      v.title = "Toàn cảnh " + topic + " ở " + province;
      break;
    default:
      v.title = place + " – " + topic;
      break;
  }
  v.description = topic + " tại " + place + " (" + province + ").";
  const int sentences = 2 + index % 3;
  for (int i = 0; i < sentences; ++i) v.description += " " + Pick(random, kSentences);
  v.tags = {Pick(random, kTags), Pick(random, kTags)};
  if (v.tags[0] == v.tags[1]) v.tags.pop_back();
  v.reporter = Pick(random, kReporters);
  v.location = place + ", " + province;
  if (index % 997 == 0 && index / 997 < static_cast<int>(kNeedles.size())) {
    v.title = kNeedles[index / 997];  // at 0, 997, 1994, ...: among the oldest
  }
  v.recorded_at_ms = 1'600'000'000'000 + int64_t{index} * 600'000;
  v.visibility = index % 3 ? Visibility::kPublished : Visibility::kDraft;
  return v;
}

struct Query {
  std::string kind;
  std::string text;
};

const std::vector<Query> kQueries = {
    {"marks", "Sơn La"},
    {"marks", "Điện Biên"},
    {"marks", "lũ quét"},
    {"marks", "sạt lở đất"},
    {"marks", "Hà Nội"},
    {"marks", "giao thông"},
    {"marks", "Nguyễn Văn An"},
    {"marks", "Mù Cang Chải"},
    {"marks", "cà phê"},
    {"marks", "thủy điện xả lũ"},
    {"no-marks", "son la"},
    {"no-marks", "dien bien"},
    {"no-marks", "lu quet"},
    {"no-marks", "sat lo dat"},
    {"no-marks", "ha noi"},
    {"no-marks", "giao thong"},
    {"no-marks", "nguyen van an"},
    {"no-marks", "mu cang chai"},
    {"no-marks", "ca phe"},
    {"no-marks", "thuy dien xa lu"},
    {"upper", "ĐIỆN BIÊN"},
    {"upper", "SƠN LA"},
    {"upper", "HA GIANG"},
    {"prefix", "đi"},
    {"prefix", "điện b"},
    {"prefix", "son l"},
    {"prefix", "lu q"},
    {"prefix", "thu"},
    {"prefix", "hà n"},
    {"prefix", "ca ph"},
    {"prefix", "mu cang ch"},
    {"prefix", "tam giac m"},
    {"rare", "Giàng A Páo Côn Đảo"},
    {"rare", "cao thi yen mui ne"},
    {"rare", "Lò Văn Khánh Cô Tô"},
    {"needle", "Sơn Đoòng"},
    {"needle", "son doong"},
    {"needle", "ma pi le"},
    {"needle", "GẦU TÀO"},
    {"none", "Moskva"},
    {"none", "quảng trường Đỏ "},
};

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t rank = static_cast<size_t>(p * (values.size() - 1) + 0.5);
  return values[std::min(rank, values.size() - 1)];
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// The peer: the same folded text in a plain table, searched with one LIKE per word, newest
// first (LIKE cannot rank), stopping at the first page.
class LikeScan {
 public:
  explicit LikeScan(const std::string& path)
      : db_(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE) {}

  void Build(const std::string& catalog_path) {
    SQLite::Database catalog(catalog_path, SQLite::OPEN_READONLY);
    db_.exec("DROP TABLE IF EXISTS peer; CREATE TABLE peer (seq INTEGER PRIMARY KEY, folded TEXT)");
    SQLite::Statement read(catalog,
                           "SELECT seq, title || ' ' || description || ' ' || tags || ' ' || "
                           "reporter || ' ' || location FROM videos");
    SQLite::Statement insert(db_, "INSERT INTO peer VALUES (?, ?)");
    db_.exec("BEGIN");
    while (read.executeStep()) {
      insert.bind(1, read.getColumn(0).getInt64());
      insert.bind(2, FoldVietnamese(read.getColumn(1).getString()));
      insert.exec();
      insert.reset();
    }
    db_.exec("COMMIT");
  }

  size_t Search(const std::string& text) {
    std::vector<std::string> words;
    std::string folded = FoldVietnamese(text);
    std::string word;
    for (char c : folded + " ") {
      if (std::isalnum(static_cast<unsigned char>(c))) {
        word += c;
      } else if (!word.empty()) {
        words.push_back(word);
        word.clear();
      }
    }
    std::string sql = "SELECT seq FROM peer WHERE 1";
    for (size_t i = 0; i < words.size(); ++i) sql += " AND folded LIKE ?";
    sql += " ORDER BY seq DESC LIMIT 20";
    SQLite::Statement q(db_, sql);
    for (size_t i = 0; i < words.size(); ++i) q.bind(static_cast<int>(i) + 1, "%" + words[i] + "%");
    size_t rows = 0;
    while (q.executeStep()) ++rows;
    return rows;
  }

 private:
  SQLite::Database db_;
};

int Run(int videos, int rounds, const std::string& dir, unsigned seed, bool keep, int rank_window) {
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/bench-catalog.db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);

  CatalogOptions options;
  options.search_rank_window = rank_window;
  auto opened = Catalog::Open(path, options);
  if (!opened.ok()) {
    std::fprintf(stderr, "open: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  Catalog& catalog = **opened;

  std::printf("building a catalog of %d videos in %s ...\n", videos, path.c_str());
  std::mt19937 random(seed);
  const auto build_start = Clock::now();
  constexpr int kBatch = 2000;
  for (int done = 0; done < videos;) {
    Status s = catalog.RunInTransaction([&]() -> Status {
      for (int i = 0; i < kBatch && done < videos; ++i, ++done) {
        NR_RETURN_IF_ERROR(catalog.videos().Create(MakeVideo(random, done)).status());
      }
      return Status::Ok();
    });
    if (!s.ok()) {
      std::fprintf(stderr, "insert: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  const double build_s = Ms(Clock::now() - build_start) / 1000;
  if (Status s = catalog.Checkpoint(); !s.ok()) std::fprintf(stderr, "%s\n", s.ToString().c_str());
  std::printf("  inserted and indexed in %.1f s (%.0f videos/s); file %.1f MB\n", build_s,
              videos / build_s, std::filesystem::file_size(path) / 1e6);

  LikeScan peer(dir + "/bench-peer.db");
  peer.Build(path);

  std::map<std::string, std::vector<double>> fts_by_kind;
  std::map<std::string, std::vector<double>> like_by_kind;
  std::vector<double> fts_all;
  std::vector<double> like_all;
  std::map<std::string, size_t> hits;
  std::map<std::string, std::vector<double>> fts_by_query;
  // One untimed pass warms the page cache for both.
  for (int round = -1; round < rounds; ++round) {
    for (const Query& query : kQueries) {
      SearchRequest request;
      request.text = query.text;
      request.limit = 20;
      auto start = Clock::now();
      auto page = catalog.search().Search(request);
      double fts_ms = Ms(Clock::now() - start);
      if (!page.ok()) {
        std::fprintf(stderr, "search '%s': %s\n", query.text.c_str(),
                     page.status().ToString().c_str());
        return 1;
      }
      start = Clock::now();
      size_t like_rows = peer.Search(query.text);
      double like_ms = Ms(Clock::now() - start);
      if (round < 0) {
        hits[query.text] = page->hits.size();
        (void)like_rows;
        continue;
      }
      fts_by_kind[query.kind].push_back(fts_ms);
      fts_by_query[query.text].push_back(fts_ms);
      like_by_kind[query.kind].push_back(like_ms);
      fts_all.push_back(fts_ms);
      like_all.push_back(like_ms);
    }
  }

  std::printf("\n%zu queries x %d rounds, first page of 20, rank window %d (times in ms)\n",
              kQueries.size(), rounds, rank_window);
  std::printf("%-10s %8s %8s   %8s %8s   %s\n", "kind", "fts p50", "fts p99", "like p50",
              "like p99", "p50 ratio like/fts");
  auto row = [](const std::string& kind, const std::vector<double>& fts,
                const std::vector<double>& like) {
    double f50 = Percentile(fts, 0.5), f99 = Percentile(fts, 0.99);
    double l50 = Percentile(like, 0.5), l99 = Percentile(like, 0.99);
    std::printf("%-10s %8.3f %8.3f   %8.3f %8.3f   %.2fx\n", kind.c_str(), f50, f99, l50, l99,
                f50 > 0 ? l50 / f50 : 0);
  };
  for (const auto& [kind, fts] : fts_by_kind) row(kind, fts, like_by_kind[kind]);
  row("all", fts_all, like_all);
  std::vector<std::pair<double, std::string>> slowest;
  for (const auto& [text, times] : fts_by_query) slowest.push_back({Percentile(times, 0.5), text});
  std::sort(slowest.rbegin(), slowest.rend());
  std::printf("\nslowest queries by median (fts): ");
  for (size_t i = 0; i < 5 && i < slowest.size(); ++i) {
    std::printf("'%s' %.1f ms; ", slowest[i].second.c_str(), slowest[i].first);
  }
  std::printf("\nhits on the first page: ");
  for (const Query& q : kQueries) std::printf("'%s' %zu; ", q.text.c_str(), hits[q.text]);
  std::printf("\n");
  if (keep) {
    std::printf("kept %s and %s/bench-peer.db\n", path.c_str(), dir.c_str());
    return 0;
  }
  for (const char* name : {"bench-catalog.db", "bench-peer.db"}) {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::filesystem::remove(dir + "/" + name + suffix);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int videos = 100'000;
  int rounds = 30;
  unsigned seed = 20240601;
  bool keep = false;
  int rank_window = CatalogOptions().search_rank_window;
  std::string dir = std::filesystem::temp_directory_path().string() + "/newsreel-catalog-bench";
  for (int i = 1; i < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--keep") {
      keep = true;
      --i;
    } else if (i + 1 >= argc) {
      std::fprintf(stderr, "%s needs a value\n", flag.c_str());
      return 2;
    } else if (flag == "--rank-window") {
      rank_window = std::atoi(argv[i + 1]);
    } else if (flag == "--videos") {
      videos = std::atoi(argv[i + 1]);
    } else if (flag == "--rounds") {
      rounds = std::atoi(argv[i + 1]);
    } else if (flag == "--dir") {
      dir = argv[i + 1];
    } else if (flag == "--seed") {
      seed = static_cast<unsigned>(std::strtoul(argv[i + 1], nullptr, 10));
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (videos < 1 || rounds < 1 || rank_window < 1) {
    std::fprintf(
        stderr,
        "usage: %s [--videos N] [--rounds R] [--dir DIR] [--seed S] [--rank-window W] [--keep]\n",
        argv[0]);
    return 2;
  }
  return Run(videos, rounds, dir, seed, keep, rank_window);
}
