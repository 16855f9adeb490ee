// The authorization policy as a table: every action for every kind of caller, on resources
// owned by the caller, by someone else and by nobody, at each visibility.
#include "streaming/internal/authorize.h"

#include <gtest/gtest.h>

namespace newsreel::streaming {
namespace {

using catalog::Role;
using catalog::Visibility;
using D = Decision;

Caller SignedIn(int64_t id, Role role, bool cookie = false) {
  Caller c;
  c.anonymous = false;
  c.user = catalog::User{.id = id, .name = "u" + std::to_string(id), .role = role};
  c.role = role;
  c.via_cookie = cookie;
  return c;
}

const Caller kAnonymous;
const Caller kReporter = SignedIn(1, Role::kReporter);  // owns what has owner 1
const Caller kEditor = SignedIn(2, Role::kEditor);
const Caller kAdmin = SignedIn(3, Role::kAdmin);

const Resource kOwnDraft{1, Visibility::kDraft};
const Resource kOthersDraft{9, Visibility::kDraft};
const Resource kOthersUnlisted{9, Visibility::kUnlisted};
const Resource kOthersPublished{9, Visibility::kPublished};
const Resource kOwnPublished{1, Visibility::kPublished};
const Resource kNobodysDraft{std::nullopt, Visibility::kDraft};

struct Row {
  const char* what;
  const Caller* caller;
  Action action;
  Resource resource;
  Decision expected;
};

const Row kTable[] = {
    // Seeing a video.
    {"anon sees published", &kAnonymous, Action::kViewVideo, kOthersPublished, D::kAllow},
    {"anon sees unlisted by id", &kAnonymous, Action::kViewVideo, kOthersUnlisted, D::kAllow},
    {"anon never sees a draft", &kAnonymous, Action::kViewVideo, kOthersDraft, D::kHidden},
    {"reporter sees own draft", &kReporter, Action::kViewVideo, kOwnDraft, D::kAllow},
    {"reporter cannot see another's draft", &kReporter, Action::kViewVideo, kOthersDraft,
     D::kHidden},
    {"reporter cannot see an import's draft", &kReporter, Action::kViewVideo, kNobodysDraft,
     D::kHidden},
    {"editor sees any draft", &kEditor, Action::kViewVideo, kOthersDraft, D::kAllow},
    {"admin sees any draft", &kAdmin, Action::kViewVideo, kNobodysDraft, D::kAllow},
    // Editing.
    {"anon edits nothing (published: sign in)", &kAnonymous, Action::kEditVideo, kOthersPublished,
     D::kUnauthenticated},
    {"anon edits nothing (draft: none)", &kAnonymous, Action::kEditVideo, kOthersDraft, D::kHidden},
    {"reporter edits own draft", &kReporter, Action::kEditVideo, kOwnDraft, D::kAllow},
    {"reporter edits own published", &kReporter, Action::kEditVideo, kOwnPublished, D::kAllow},
    {"reporter cannot edit another's published", &kReporter, Action::kEditVideo, kOthersPublished,
     D::kForbidden},
    {"reporter cannot edit another's draft (hidden)", &kReporter, Action::kEditVideo, kOthersDraft,
     D::kHidden},
    {"editor edits anyone's", &kEditor, Action::kEditVideo, kOthersDraft, D::kAllow},
    // Publishing and deleting: editors and admins only.
    {"reporter cannot publish own", &kReporter, Action::kPublishVideo, kOwnDraft, D::kForbidden},
    {"editor publishes", &kEditor, Action::kPublishVideo, kOthersDraft, D::kAllow},
    {"admin publishes", &kAdmin, Action::kPublishVideo, kNobodysDraft, D::kAllow},
    {"anon cannot delete published", &kAnonymous, Action::kDeleteVideo, kOthersPublished,
     D::kUnauthenticated},
    {"reporter cannot delete own", &kReporter, Action::kDeleteVideo, kOwnDraft, D::kForbidden},
    {"editor deletes", &kEditor, Action::kDeleteVideo, kOthersPublished, D::kAllow},
    // Jobs.
    {"reporter sees own video's jobs", &kReporter, Action::kViewJobs, kOwnDraft, D::kAllow},
    {"reporter retries own video's job", &kReporter, Action::kControlJob, kOwnDraft, D::kAllow},
    {"reporter cannot see others' jobs", &kReporter, Action::kViewJobs, kOthersPublished,
     D::kForbidden},
    {"anon sees no jobs", &kAnonymous, Action::kViewJobs, kOthersPublished, D::kUnauthenticated},
    {"editor controls any job", &kEditor, Action::kControlJob, kNobodysDraft, D::kAllow},
    {"reporter cannot list all jobs", &kReporter, Action::kListAllJobs, {}, D::kForbidden},
    {"anon cannot list all jobs", &kAnonymous, Action::kListAllJobs, {}, D::kUnauthenticated},
    {"editor lists all jobs", &kEditor, Action::kListAllJobs, {}, D::kAllow},
    // Uploads.
    {"anon cannot upload", &kAnonymous, Action::kUpload, {}, D::kUnauthenticated},
    {"reporter uploads", &kReporter, Action::kUpload, {}, D::kAllow},
    {"editor uploads", &kEditor, Action::kUpload, {}, D::kAllow},
    {"reporter touches own upload", &kReporter, Action::kTouchUpload, Resource::Owned(1),
     D::kAllow},
    {"reporter cannot touch another's upload", &kReporter, Action::kTouchUpload, Resource::Owned(9),
     D::kHidden},
    {"editor cannot touch another's upload either", &kEditor, Action::kTouchUpload,
     Resource::Owned(9), D::kHidden},
    {"anon touching an upload must sign in", &kAnonymous, Action::kTouchUpload, Resource::Owned(1),
     D::kUnauthenticated},
    // Accounts.
    {"reporter manages own tokens", &kReporter, Action::kManageTokens, Resource::Owned(1),
     D::kAllow},
    {"reporter cannot see another's tokens", &kReporter, Action::kManageTokens, Resource::Owned(2),
     D::kHidden},
    {"editor cannot see another's tokens", &kEditor, Action::kManageTokens, Resource::Owned(1),
     D::kHidden},
    {"admin manages anyone's tokens", &kAdmin, Action::kManageTokens, Resource::Owned(1),
     D::kAllow},
    {"editor cannot manage users", &kEditor, Action::kManageUsers, {}, D::kForbidden},
    {"anon cannot manage users", &kAnonymous, Action::kManageUsers, {}, D::kUnauthenticated},
    {"admin manages users", &kAdmin, Action::kManageUsers, {}, D::kAllow},
    {"anon cannot list encoders", &kAnonymous, Action::kViewEncoders, {}, D::kUnauthenticated},
    {"reporter lists encoders", &kReporter, Action::kViewEncoders, {}, D::kAllow},
    // Live.
    {"anon watches a public stream", &kAnonymous, Action::kWatchLive, kOthersPublished, D::kAllow},
    {"anon cannot watch a private stream", &kAnonymous, Action::kWatchLive, kOthersDraft,
     D::kHidden},
};

TEST(AuthorizeTest, Table) {
  for (const Row& row : kTable) {
    EXPECT_EQ(ToString(Authorize(*row.caller, row.action, row.resource)), ToString(row.expected))
        << row.what << " (" << ToString(row.action) << ")";
  }
}

TEST(AuthorizeTest, AViewerAccountIsNoMoreThanAnonymousButSignedIn) {
  const Caller viewer = SignedIn(5, Role::kViewer);
  EXPECT_EQ(Authorize(viewer, Action::kUpload), D::kForbidden);
  EXPECT_EQ(Authorize(viewer, Action::kViewVideo, kOthersDraft), D::kHidden);
  EXPECT_EQ(Authorize(viewer, Action::kEditVideo, kOthersPublished), D::kForbidden);
}

TEST(AuthorizeTest, AUserObjectWithoutSigningInGrantsNothing) {
  // A caller marked anonymous is anonymous whatever else it carries.
  Caller c = SignedIn(3, Role::kAdmin);
  c.anonymous = true;
  EXPECT_EQ(Authorize(c, Action::kManageUsers), D::kUnauthenticated);
  EXPECT_EQ(Authorize(c, Action::kViewVideo, kOthersDraft), D::kHidden);
}

TEST(CsrfTest, CookieChangesMustComeFromThisServer) {
  const Caller cookie = SignedIn(1, Role::kReporter, /*cookie=*/true);
  const Caller bearer = SignedIn(1, Role::kReporter, /*cookie=*/false);
  const std::string host = "news.example:8080";
  EXPECT_TRUE(PassesCsrfCheck(cookie, "POST", host, "http://news.example:8080", ""));
  EXPECT_TRUE(PassesCsrfCheck(cookie, "PATCH", host, "https://NEWS.example:8080", ""));
  EXPECT_TRUE(PassesCsrfCheck(cookie, "DELETE", host, "", "http://news.example:8080/upload.html"));
  EXPECT_FALSE(PassesCsrfCheck(cookie, "POST", host, "http://evil.example", ""));
  EXPECT_FALSE(PassesCsrfCheck(cookie, "POST", host, "http://news.example:8080.evil.example", ""));
  EXPECT_FALSE(PassesCsrfCheck(cookie, "POST", host, "http://news.example", ""));  // other port
  EXPECT_FALSE(PassesCsrfCheck(cookie, "POST", host, "null", ""));
  EXPECT_FALSE(PassesCsrfCheck(cookie, "POST", host, "", ""));  // no evidence: refused
  EXPECT_FALSE(PassesCsrfCheck(cookie, "PATCH", "", "http://news.example:8080", ""));
  EXPECT_FALSE(PassesCsrfCheck(cookie, "PUT", host, "", "http://evil.example/news.example:8080"));
  // Safe methods, tokens and anonymous callers are not at risk.
  EXPECT_TRUE(PassesCsrfCheck(cookie, "GET", host, "http://evil.example", ""));
  EXPECT_TRUE(PassesCsrfCheck(cookie, "HEAD", host, "", ""));
  EXPECT_TRUE(PassesCsrfCheck(bearer, "POST", host, "http://evil.example", ""));
  EXPECT_TRUE(PassesCsrfCheck(kAnonymous, "DELETE", host, "http://evil.example", ""));
}

}  // namespace
}  // namespace newsreel::streaming
