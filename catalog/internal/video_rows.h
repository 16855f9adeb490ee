#pragma once
// Reading and writing rows of the videos table, shared by the repository and search.

#include <string>
#include <vector>

#include <SQLiteCpp/Statement.h>

#include "catalog/types.h"
#include "common/status.h"

namespace newsreel::catalog::internal {

// The columns ReadVideo expects, in order, for a query on "videos AS v". Column 0 is v.seq.
extern const char kVideoColumns[];

// Reads the current row of a statement that selected kVideoColumns first.
Video ReadVideo(SQLite::Statement& statement);

std::string TagsToJson(const std::vector<std::string>& tags);
std::vector<std::string> TagsFromJson(const std::string& json);

// Appends " AND ..." conditions for `filter` to `sql` and binds nothing; BindVideoFilter binds
// the values in the same order starting at `*index`, advancing it.
void AppendVideoFilter(const VideoFilter& filter, std::string* sql);
void BindVideoFilter(const VideoFilter& filter, SQLite::Statement& statement, int* index);

// kInvalidArgument when the filter cannot be right (an empty date range is fine).
Status ValidateVideoFilter(const VideoFilter& filter);

}  // namespace newsreel::catalog::internal
