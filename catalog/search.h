#pragma once
// Full-text search over videos (SQLite FTS5): title, description, tags, reporter and location,
// folded with FoldVietnamese on both sides so that marks and case never matter.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/types.h"
#include "common/status.h"

namespace newsreel::catalog {

namespace internal {
class Connection;
}

struct SearchRequest {
  std::string text;  // what the user typed, as typed
  VideoFilter filter;
  int limit = 20;  // 1..100
  int offset = 0;  // 0..10000
};

struct SearchHit {
  Video video;
  double score = 0;  // higher is better (negated bm25)
};

struct SearchPage {
  std::vector<SearchHit> hits;     // best first; ties in insertion order
  std::optional<int> next_offset;  // set when more hits follow
};

// Turns user input into an FTS5 MATCH expression: folds it, splits it into words at spaces and
// punctuation, quotes every word (so that FTS5 operators, '*', '-', ':', '^', quotes and
// parentheses typed by the user are plain text), joins them with AND, and makes the last word
// a prefix ("word"*) unless the input ends with a space or punctuation — so results appear as
// the user types. Keeps at most 16 words. Returns "" when nothing searchable is left (empty
// input, only punctuation).
std::string BuildMatchExpression(std::string_view user_text);

// Owned by a Catalog and used on its thread.
class VideoSearch {
 public:
  // `connection` must outlive the search. `rank_window` >= 1: see Search. Constructed by Catalog.
  VideoSearch(internal::Connection& connection, int rank_window)
      : connection_(connection), rank_window_(rank_window) {}

  // Videos matching every word of request.text and the filter, ranked by bm25 with weights
  // title 10, tags 5, reporter 3, location 2, description 1. When more than rank_window videos
  // match (a one- or two-letter prefix, a province name in a provincial newsroom), only the
  // rank_window most recently added of them are ranked and returned: this bounds the time one
  // search can take (ranking costs about 2 us per match). Paging is by offset: the order is
  // deterministic for a given index (rank, then insertion order). A request whose text has
  // nothing searchable returns an empty page, not an error.
  Result<SearchPage> Search(const SearchRequest& request);

 private:
  internal::Connection& connection_;
  const int rank_window_;
};

}  // namespace newsreel::catalog
