#include "streaming/internal/api_routes.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <utility>

namespace newsreel::streaming {
namespace {

using Operation = std::pair<std::string, std::string>;  // method, path template

// The operations under the top-level `paths:` of docs/openapi.yaml, read in the document's
// layout: a path is a key indented by two spaces, an operation a method key indented by four.
// (The end-to-end test, tests/e2e_server/openapi.test.mjs, reads the same file with a YAML
// parser and checks it against the running server.)
std::set<Operation> DocumentedOperations(const std::string& file, std::string* error) {
  std::ifstream in(file);
  if (!in) {
    *error = "cannot read " + file;
    return {};
  }
  static const std::regex kPath(R"(^  ['"]?(/[^'":]*)['"]?:\s*(#.*)?$)");
  static const std::regex kMethod(R"(^    (get|put|post|delete|options|head|patch|trace):\s*$)");
  std::set<Operation> found;
  bool in_paths = false;
  std::string path;
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != ' ' && line[0] != '#') {
      in_paths = line.rfind("paths:", 0) == 0;
      path.clear();
      continue;
    }
    if (!in_paths) continue;
    if (std::regex_match(line, m, kPath)) {
      path = m[1];
    } else if (!path.empty() && std::regex_match(line, m, kMethod)) {
      std::string method = m[1];
      for (char& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      found.insert({method, path});
    }
  }
  if (found.empty()) *error = "no operations found under `paths:` in " + file;
  return found;
}

// `path` with each "{name}" segment replaced by `value`.
std::string Fill(std::string path, const std::string& value) {
  for (size_t open; (open = path.find('{')) != std::string::npos;)
    path.replace(open, path.find('}', open) - open + 1, value);
  return path;
}

TEST(ApiRoutesTest, EveryRowIsReachedWithItsParameters) {
  for (const ApiRoute& route : kApiRoutes) {
    ApiMatch match = MatchApiRoute(route.method, Fill(route.path, "x7"));
    ASSERT_EQ(match.route, &route) << route.method << " " << route.path;
    EXPECT_TRUE(match.allow.empty());
    for (const std::string& value : match.params) EXPECT_EQ(value, "x7") << route.path;
    EXPECT_EQ(match.params.size(), static_cast<size_t>(std::count(
                                       route.path, route.path + std::strlen(route.path), '{')));
    if (std::string_view(route.method) == "GET") {
      EXPECT_EQ(MatchApiRoute("HEAD", Fill(route.path, "x7")).route, &route) << route.path;
    }
  }
}

TEST(ApiRoutesTest, ParametersComeInOrderAndEmptySegmentsDoNotCount) {
  ApiMatch match = MatchApiRoute("POST", "/api/v1//jobs/42/cancel/");
  ASSERT_NE(match.route, nullptr);
  EXPECT_EQ(match.route->operation, ApiOperation::kCancelJob);
  EXPECT_EQ(match.params, std::vector<std::string>{"42"});
  match = MatchApiRoute("GET", "/api/v1/videos/");
  ASSERT_NE(match.route, nullptr);
  EXPECT_EQ(match.route->operation, ApiOperation::kListVideos);
}

TEST(ApiRoutesTest, AWrongMethodGetsThePathsMethods) {
  struct Case {
    const char* method;
    const char* path;
    const char* allow;
  };
  const Case cases[] = {
      {"PUT", "/api/v1/videos/abc", "GET, HEAD, PATCH, DELETE"},
      {"POST", "/api/v1/videos", "GET, HEAD"},
      {"GET", "/api/v1/jobs/7/cancel", "POST"},
      {"HEAD", "/api/v1/jobs/7/retry", "POST"},
      {"PATCH", "/api/v1/session", "GET, HEAD, POST, DELETE"},
      {"DELETE", "/api/v1/users", "GET, HEAD, POST"},
      {"GET", "/api/v1/tokens/3", "DELETE"},
  };
  for (const Case& c : cases) {
    ApiMatch match = MatchApiRoute(c.method, c.path);
    EXPECT_EQ(match.route, nullptr) << c.method << " " << c.path;
    EXPECT_EQ(match.allow, c.allow) << c.method << " " << c.path;
  }
}

TEST(ApiRoutesTest, NothingElseMatches) {
  for (const char* path :
       {"/api/v1", "/api/v1/", "/api/v1/video", "/api/v1/videos/a/b", "/api/v1/jobs/1/pause",
        "/api/v1/users/a/b/c", "/api/v2/videos", "/api/v1/encoders/x"}) {
    ApiMatch match = MatchApiRoute("GET", path);
    EXPECT_EQ(match.route, nullptr) << path;
    EXPECT_EQ(match.allow, "") << path;
  }
}

TEST(ApiRoutesTest, RowsAreUniqueAndEachPathIsOneBlock) {
  std::set<Operation> seen;
  std::set<std::string> closed;  // paths whose block of rows has ended
  std::string current;
  for (const ApiRoute& route : kApiRoutes) {
    EXPECT_TRUE(seen.insert({route.method, route.path}).second)
        << "twice: " << route.method << " " << route.path;
    EXPECT_EQ(std::string_view(route.path).rfind("/api/v1/", 0), 0u) << route.path;
    if (route.path != current) {
      // Allow lists a path's rows in table order, which must be one block.
      EXPECT_EQ(closed.count(route.path), 0u) << route.path << " is listed in two places";
      closed.insert(current);
      current = route.path;
    }
  }
}

TEST(ApiRoutesTest, TheOpenApiDocumentDescribesEveryRouteAndNoOther) {
  std::string error;
  const std::set<Operation> documented = DocumentedOperations(NEWSREEL_OPENAPI_YAML, &error);
  ASSERT_TRUE(error.empty()) << error;
  std::set<Operation> routes;
  for (const ApiRoute& route : kApiRoutes) routes.insert({route.method, route.path});
  for (const Operation& op : routes) {
    EXPECT_TRUE(documented.count(op))
        << op.first << " " << op.second
        << " is a route (streaming/internal/api_routes.h) that docs/openapi.yaml does not "
           "describe: add it under `paths:`";
  }
  for (const Operation& op : documented) {
    if (op.second.rfind("/api/v1/", 0) != 0) continue;  // /files/ (tus) is not the REST API
    EXPECT_TRUE(routes.count(op)) << op.first << " " << op.second
                                  << " is documented in docs/openapi.yaml but the server has no "
                                     "such route (streaming/internal/api_routes.h)";
  }
}

}  // namespace
}  // namespace newsreel::streaming
