#pragma once
// Who may do what: the one decision every API handler, upload operation, WebSocket
// subscription and event delivery asks for. A pure function of the caller, the action and the
// resource, so that the whole policy is one table that tests read (authorize_test.cpp) and
// docs/security.md describes.
//
//   role       videos                                 uploads           jobs         accounts
//   anonymous  see published and unlisted            -                 -            sign in
//   reporter   + see, edit own; draft <-> unlisted    create, own ones  own videos'  own tokens
//   editor     + see, edit, publish, delete any      create, own ones  all          own tokens
//   admin      as editor                              create, own ones  all          all users
//
// Live streams follow the videos' rules: reporters create streams and run their own (key,
// passphrase, title, end), editors and admins publish, run and delete any.
//
// Refusals say as little as they must: what the caller may not even see is "not found" (404,
// the same answer as for nothing), what they may see but not change is "forbidden" (403), and
// what needs a signed-in caller is "unauthenticated" (401).

#include <cstdint>
#include <optional>
#include <string_view>

#include "catalog/types.h"
#include "streaming/request_context.h"

namespace newsreel::streaming {

enum class Action {
  kViewVideo,     // its metadata, its jobs' progress, events about it
  kEditVideo,     // title, description, tags, location, recorded_at; draft <-> unlisted
  kPublishVideo,  // making it published, or unpublishing it
  kDeleteVideo,
  kViewJobs,      // the jobs of the video (their progress, errors, workers)
  kControlJob,    // cancel or retry a job of the video
  kListAllJobs,   // the job list across videos
  kUpload,        // create an upload
  kTouchUpload,   // HEAD, PATCH, DELETE an upload (an upload belongs to its creator only)
  kViewEncoders,  // the machine's encoder list
  kManageTokens,  // list, create, revoke the tokens of the resource's owner
  kManageUsers,   // create, list, change, disable accounts
  kWatchLive,     // a live stream: its metadata, state, /ws/live and /live/ media
  kCreateLive,    // create a live stream (its owner is the caller)
  kEditLive,      // title, settings, draft <-> unlisted, its key and passphrase, end it
  kPublishLive,   // making it published, or unpublishing it
  kDeleteLive,
};

// What is acted on: who owns it and how visible it is. Defaults describe "nothing in
// particular" (actions without a resource, such as kUpload or kManageUsers).
struct Resource {
  std::optional<int64_t> owner_id;
  catalog::Visibility visibility = catalog::Visibility::kPublished;

  static Resource Of(const catalog::Video& v) { return {v.owner_id, v.visibility}; }
  static Resource Owned(std::optional<int64_t> owner) {
    return {owner, catalog::Visibility::kDraft};
  }
};

enum class Decision {
  kAllow,
  kUnauthenticated,  // 401: sign in first
  kForbidden,        // 403: signed in (or the thing is public) but not allowed
  kHidden,           // 404: the caller may not know it exists
};

Decision Authorize(const Caller& caller, Action action, const Resource& resource = {});

inline bool Allowed(const Caller& caller, Action action, const Resource& resource = {}) {
  return Authorize(caller, action, resource) == Decision::kAllow;
}

const char* ToString(Action action);
const char* ToString(Decision decision);

// CSRF: a change made with a session cookie must come from a page of this server. True when
// the request may go on: a safe method, a caller not signed in by cookie, or an `origin` (else
// the `referer`'s origin) whose host[:port] equals `host`. Browsers send Origin on every
// cross-origin request and on same-origin POST, PATCH, PUT and DELETE. A WebSocket handshake
// is checked like a change (pass any method but GET, HEAD, OPTIONS): browsers send Origin on
// every one.
bool PassesCsrfCheck(const Caller& caller, std::string_view method, std::string_view host,
                     std::string_view origin, std::string_view referer);

}  // namespace newsreel::streaming
