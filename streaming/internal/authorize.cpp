#include "streaming/internal/authorize.h"

#include "streaming/internal/http_util.h"

namespace newsreel::streaming {
namespace {

using catalog::Role;

bool SignedIn(const Caller& c) { return !c.anonymous && c.user.has_value(); }

bool Owns(const Caller& c, const Resource& r) {
  return SignedIn(c) && r.owner_id && *r.owner_id == c.user->id;
}

bool IsStaff(const Caller& c) { return SignedIn(c) && c.role >= Role::kEditor; }

bool CanSee(const Caller& c, const Resource& r) {
  return r.visibility != catalog::Visibility::kDraft || IsStaff(c) || Owns(c, r);
}

// Allowed when `ok`; otherwise 401 for the anonymous and 403 for the signed-in.
Decision AllowIf(const Caller& c, bool ok) {
  if (ok) return Decision::kAllow;
  return SignedIn(c) ? Decision::kForbidden : Decision::kUnauthenticated;
}

// The host[:port] of an origin ("https://news.example:8443" -> "news.example:8443").
std::string_view Authority(std::string_view origin) {
  const size_t scheme = origin.find("://");
  if (scheme == std::string_view::npos) return {};
  origin.remove_prefix(scheme + 3);
  return origin.substr(0, origin.find('/'));
}

}  // namespace

Decision Authorize(const Caller& c, Action action, const Resource& r) {
  switch (action) {
    case Action::kViewVideo:
    case Action::kWatchLive:
      return CanSee(c, r) ? Decision::kAllow : Decision::kHidden;
    case Action::kEditVideo:
    case Action::kEditLive:
    case Action::kViewJobs:
    case Action::kControlJob:
      if (!CanSee(c, r)) return Decision::kHidden;
      return AllowIf(c, IsStaff(c) || (Owns(c, r) && c.role >= Role::kReporter));
    case Action::kPublishVideo:
    case Action::kDeleteVideo:
    case Action::kPublishLive:
    case Action::kDeleteLive:
      if (!CanSee(c, r)) return Decision::kHidden;
      return AllowIf(c, IsStaff(c));
    case Action::kListAllJobs:
      return AllowIf(c, IsStaff(c));
    case Action::kUpload:
    case Action::kCreateLive:
    case Action::kViewEncoders:
      return AllowIf(c, SignedIn(c) && c.role >= Role::kReporter);
    case Action::kTouchUpload:
      if (!SignedIn(c)) return Decision::kUnauthenticated;
      return Owns(c, r) && c.role >= Role::kReporter ? Decision::kAllow : Decision::kHidden;
    case Action::kManageTokens:
      if (!SignedIn(c)) return Decision::kUnauthenticated;
      return Owns(c, r) || c.role == Role::kAdmin ? Decision::kAllow : Decision::kHidden;
    case Action::kManageUsers:
      return AllowIf(c, SignedIn(c) && c.role == Role::kAdmin);
  }
  return Decision::kForbidden;
}

const char* ToString(Action action) {
  switch (action) {
    case Action::kViewVideo:
      return "view_video";
    case Action::kEditVideo:
      return "edit_video";
    case Action::kPublishVideo:
      return "publish_video";
    case Action::kDeleteVideo:
      return "delete_video";
    case Action::kViewJobs:
      return "view_jobs";
    case Action::kControlJob:
      return "control_job";
    case Action::kListAllJobs:
      return "list_all_jobs";
    case Action::kUpload:
      return "upload";
    case Action::kTouchUpload:
      return "touch_upload";
    case Action::kViewEncoders:
      return "view_encoders";
    case Action::kManageTokens:
      return "manage_tokens";
    case Action::kManageUsers:
      return "manage_users";
    case Action::kWatchLive:
      return "watch_live";
    case Action::kCreateLive:
      return "create_live";
    case Action::kEditLive:
      return "edit_live";
    case Action::kPublishLive:
      return "publish_live";
    case Action::kDeleteLive:
      return "delete_live";
  }
  return "?";
}

const char* ToString(Decision decision) {
  switch (decision) {
    case Decision::kAllow:
      return "allow";
    case Decision::kUnauthenticated:
      return "unauthenticated";
    case Decision::kForbidden:
      return "forbidden";
    case Decision::kHidden:
      return "hidden";
  }
  return "?";
}

bool PassesCsrfCheck(const Caller& caller, std::string_view method, std::string_view host,
                     std::string_view origin, std::string_view referer) {
  if (!caller.via_cookie) return true;
  if (method == "GET" || method == "HEAD" || method == "OPTIONS") return true;
  if (host.empty()) return false;
  std::string_view from = !origin.empty() ? origin : referer;
  if (from.empty() || from == "null") return false;
  return EqualsIgnoreCase(Authority(from), host);
}

}  // namespace newsreel::streaming
