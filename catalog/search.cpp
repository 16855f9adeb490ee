#include "catalog/search.h"

#include "catalog/internal/connection.h"
#include "catalog/internal/video_rows.h"
#include "catalog/vietnamese_fold.h"

namespace newsreel::catalog {

using internal::Guard;
using internal::Query;

namespace {

constexpr int kMaxWords = 16;
constexpr int kMaxLimit = 100;
constexpr int kMaxOffset = 10'000;

// Decodes the code point starting at s[i] of valid UTF-8 (FoldVietnamese's output), returning
// its length in *len.
uint32_t CodePointAt(std::string_view s, size_t i, size_t* len) {
  auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    *len = 1;
    return c;
  }
  size_t n = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
  uint32_t cp = c & (0x7F >> n);
  for (size_t k = 1; k < n && i + k < s.size(); ++k) {
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  }
  *len = std::min(n, s.size() - i);
  return cp;
}

// Part of a word: ASCII letters and digits, and non-ASCII characters other than common
// punctuation and spaces. FTS5's own tokenizer decides the rest inside the quoted word.
bool IsWordChar(uint32_t cp) {
  if (cp < 0x80) {
    return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9');
  }
  if (cp <= 0xBF || cp == 0xD7 || cp == 0xF7) return false;  // Latin-1 punctuation, signs
  if (cp >= 0x2000 && cp <= 0x206F) return false;            // general punctuation, spaces
  if (cp >= 0x3000 && cp <= 0x303F) return false;            // CJK punctuation
  if (cp >= 0xFF00 && cp <= 0xFF0F) return false;            // full-width punctuation
  return true;
}

}  // namespace

std::string BuildMatchExpression(std::string_view user_text) {
  const std::string folded = FoldVietnamese(user_text);
  std::vector<std::string> words;
  std::string word;
  bool ends_in_word = false;
  for (size_t i = 0; i < folded.size();) {
    size_t len = 1;
    uint32_t cp = CodePointAt(folded, i, &len);
    ends_in_word = IsWordChar(cp);
    if (ends_in_word) {
      word.append(folded, i, len);
    } else if (!word.empty()) {
      words.push_back(std::move(word));
      word.clear();
    }
    i += len;
  }
  if (!word.empty()) words.push_back(std::move(word));
  if (words.size() > kMaxWords) {
    words.resize(kMaxWords);
    ends_in_word = false;  // the word being typed was dropped
  }
  std::string expression;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i) expression += ' ';
    expression += '"';
    for (char c : words[i]) {
      if (c == '"') expression += '"';  // cannot happen today; keep the quoting sound
      expression += c;
    }
    expression += '"';
    if (i + 1 == words.size() && ends_in_word) expression += '*';
  }
  return expression;
}

Result<SearchPage> VideoSearch::Search(const SearchRequest& request) {
  if (request.limit < 1 || request.limit > kMaxLimit) {
    return InvalidArgument("search limit must be 1.." + std::to_string(kMaxLimit));
  }
  if (request.offset < 0 || request.offset > kMaxOffset) {
    return InvalidArgument("search offset must be 0.." + std::to_string(kMaxOffset));
  }
  NR_RETURN_IF_ERROR(internal::ValidateVideoFilter(request.filter));
  const std::string expression = BuildMatchExpression(request.text);
  if (expression.empty()) return SearchPage{};
  return Guard("searching videos", [&]() -> Result<SearchPage> {
    const bool filtered = request.filter.status || request.filter.visibility ||
                          request.filter.reporter || request.filter.owner_id ||
                          request.filter.published_or_owner || request.filter.recorded_from_ms ||
                          request.filter.recorded_to_ms || request.filter.created_from_ms ||
                          request.filter.created_to_ms;
    // The matches, filtered; the videos table joins only when a filter needs it.
    std::string matches = " FROM videos_fts AS f";
    if (filtered) matches += " JOIN videos AS v ON v.seq = f.rowid";
    matches += " WHERE f.videos_fts MATCH ?";
    internal::AppendVideoFilter(request.filter, &matches);

    // bm25 costs about a microsecond or two per match. When more than rank_window videos match,
    // rank only the most recent rank_window of them: find the seq where that window starts by
    // walking the matches newest first, which needs no ranking.
    int64_t window_start = 0;
    {
      Query q(connection_, "SELECT f.rowid" + matches + " ORDER BY f.rowid DESC LIMIT 1 OFFSET ?");
      int i = 1;
      q->bind(i++, expression);
      internal::BindVideoFilter(request.filter, *q, &i);
      q->bind(i++, rank_window_ - 1);
      if (q->executeStep()) window_start = q->getColumn(0).getInt64();
    }

    // Rank and page on the index, carrying only (seq, rank) through the sort, then read the
    // page's rows.
    const std::string sql = std::string("SELECT ") + internal::kVideoColumns +
                            ", m.rank FROM (SELECT f.rowid AS seq, f.rank AS rank" + matches +
                            " AND f.rowid >= ? ORDER BY f.rank, f.rowid LIMIT ? OFFSET ?) AS m "
                            "JOIN videos AS v ON v.seq = m.seq ORDER BY m.rank, m.seq";
    Query q(connection_, sql);
    int i = 1;
    q->bind(i++, expression);
    internal::BindVideoFilter(request.filter, *q, &i);
    q->bind(i++, window_start);
    q->bind(i++, request.limit + 1);
    q->bind(i++, request.offset);
    SearchPage page;
    while (q->executeStep()) {
      if (static_cast<int>(page.hits.size()) == request.limit) {
        page.next_offset = request.offset + request.limit;
        break;
      }
      SearchHit hit;
      hit.video = internal::ReadVideo(*q);
      hit.score = -q->getColumn(23).getDouble();
      page.hits.push_back(std::move(hit));
    }
    return page;
  });
}

}  // namespace newsreel::catalog
