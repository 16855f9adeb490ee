#pragma once
// The REST API's URL map as data: one row per operation under /api/v1/ (method and path
// template, as docs/openapi.yaml names them). ApiHandler reaches its handlers only through
// MatchApiRoute, so an operation this table does not list cannot be called, and
// api_routes_test.cpp compares the table with docs/openapi.yaml both ways: a route added here
// without being documented there (or documented and gone) fails the unit tests. The 405
// answers' Allow header comes from the table too.

#include <string>
#include <string_view>
#include <vector>

namespace newsreel::streaming {

enum class ApiOperation {
  kListVideos,
  kGetVideo,
  kPatchVideo,
  kDeleteVideo,
  kListJobs,
  kGetJob,
  kCancelJob,
  kRetryJob,
  kListEncoders,
  kGetSession,
  kSignIn,
  kSignOut,
  kChangeOwnPassword,
  kListUsers,
  kCreateUser,
  kGetUser,
  kPatchUser,
  kResetPassword,
  kListTokens,
  kCreateToken,
  kRevokeToken,
  kListLive,
  kCreateLive,
  kGetLive,
  kPatchLive,
  kDeleteLive,
  kRotateLiveKey,
  kEndLive,
  kOembed,
  kListUploads,
};

struct ApiRoute {
  const char* method;  // "GET", "POST", "PATCH" or "DELETE"; a GET row also answers HEAD
  const char* path;    // "/api/v1/videos/{id}": a "{name}" segment matches any one segment
  ApiOperation operation;
};

// Rows of one path are listed together, in the order their methods appear in Allow.
inline constexpr ApiRoute kApiRoutes[] = {
    {"GET", "/api/v1/videos", ApiOperation::kListVideos},
    {"GET", "/api/v1/videos/{id}", ApiOperation::kGetVideo},
    {"PATCH", "/api/v1/videos/{id}", ApiOperation::kPatchVideo},
    {"DELETE", "/api/v1/videos/{id}", ApiOperation::kDeleteVideo},
    {"GET", "/api/v1/jobs", ApiOperation::kListJobs},
    {"GET", "/api/v1/jobs/{id}", ApiOperation::kGetJob},
    {"POST", "/api/v1/jobs/{id}/cancel", ApiOperation::kCancelJob},
    {"POST", "/api/v1/jobs/{id}/retry", ApiOperation::kRetryJob},
    {"GET", "/api/v1/encoders", ApiOperation::kListEncoders},
    {"GET", "/api/v1/session", ApiOperation::kGetSession},
    {"POST", "/api/v1/session", ApiOperation::kSignIn},
    {"DELETE", "/api/v1/session", ApiOperation::kSignOut},
    {"POST", "/api/v1/session/password", ApiOperation::kChangeOwnPassword},
    {"GET", "/api/v1/users", ApiOperation::kListUsers},
    {"POST", "/api/v1/users", ApiOperation::kCreateUser},
    {"GET", "/api/v1/users/{name}", ApiOperation::kGetUser},
    {"PATCH", "/api/v1/users/{name}", ApiOperation::kPatchUser},
    {"POST", "/api/v1/users/{name}/password", ApiOperation::kResetPassword},
    {"GET", "/api/v1/tokens", ApiOperation::kListTokens},
    {"POST", "/api/v1/tokens", ApiOperation::kCreateToken},
    {"DELETE", "/api/v1/tokens/{id}", ApiOperation::kRevokeToken},
    {"GET", "/api/v1/live", ApiOperation::kListLive},
    {"POST", "/api/v1/live", ApiOperation::kCreateLive},
    {"GET", "/api/v1/live/{id}", ApiOperation::kGetLive},
    {"PATCH", "/api/v1/live/{id}", ApiOperation::kPatchLive},
    {"DELETE", "/api/v1/live/{id}", ApiOperation::kDeleteLive},
    {"POST", "/api/v1/live/{id}/key", ApiOperation::kRotateLiveKey},
    {"POST", "/api/v1/live/{id}/end", ApiOperation::kEndLive},
    {"GET", "/api/v1/oembed", ApiOperation::kOembed},
    {"GET", "/api/v1/uploads", ApiOperation::kListUploads},
};

struct ApiMatch {
  const ApiRoute* route = nullptr;  // the row for this method and path; null when none
  std::vector<std::string> params;  // the path's values for the row's "{name}" segments, in order
  // When the path matched rows but the method none of them: their methods for the Allow
  // header ("GET, HEAD, PATCH, DELETE"). Empty when no row has this path (404).
  std::string allow;
};

// `method` is upper case; `path` is decoded and without the query. Empty segments do not
// count ("/api/v1/videos/" is "/api/v1/videos").
ApiMatch MatchApiRoute(std::string_view method, std::string_view path);

}  // namespace newsreel::streaming
