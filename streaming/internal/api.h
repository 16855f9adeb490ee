#pragma once
// The REST API under /api/v1/ (docs/api.md): videos (list, search, get, update, delete), jobs
// (list, get, cancel, retry), encoders, and accounts (session, users, tokens;
// accounts_api.cpp). Every handler asks authorize.h before it reads or changes anything. JSON in
// and out; errors are
// {"error": {"code": "...", "message": "..."}} with a matching HTTP status.
//
// Threading: one ApiHandler per service thread and per pool thread, each using its own thread's
// Catalog (reads answer on a service thread, changes on the pool). The event bus,
// supervisor and visibility cache are shared and thread-safe.

#include <chrono>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "catalog/catalog.h"
#include "streaming/data_dir.h"
#include "streaming/events.h"
#include "streaming/internal/accounts.h"
#include "streaming/internal/authorize.h"
#include "streaming/internal/share_meta.h"
#include "streaming/internal/visibility_cache.h"
#include "streaming/request_context.h"
#include "streaming/signed_url.h"

namespace newsreel::streaming {

class JobSupervisor;
class LiveService;

// Turns a Status into the API's error response: kInvalidArgument 400, kNotFound 404,
// kAlreadyExists and kFailedPrecondition 409, kUnsupported 501, kTimeout 503, others 500.
HttpResponse ErrorResponse(const Status& status);
HttpResponse ErrorResponse(int http_status, const std::string& code, const std::string& message);
// The answer to a refusal (authorize.h): 401 with WWW-Authenticate, 403, or 404 saying
// `hidden_message` (the same words as for nothing there).
HttpResponse Denied(Decision decision, const std::string& what, const std::string& hidden_message);

// The JSON form of a video; with `media` also its renditions and assets. Its media URLs
// (`playback`, `poster_url`, `storyboard`, `playlist_url`) are plain /media/ paths for a
// published video; for a draft or an unlisted one they are signed with `playback` (signed_url.h),
// and null without it (events never carry signed URLs).
nlohmann::json VideoJson(const catalog::Video& v, const std::vector<catalog::Rendition>* renditions,
                         const std::vector<catalog::Asset>* assets,
                         const PlaybackSigning* playback = nullptr);
nlohmann::json JobJson(const catalog::Job& j);

// Who may hear of events about `v`: the public when it is published; else those who may see
// it (its owner and editors, authorize.h).
EventAudience AudienceOf(const catalog::Video& v);

// The output of `newsreel encoders --json`, run as a subprocess (the server never loads
// GStreamer), cached for a minute. Shared by all service threads.
class EncoderList {
 public:
  explicit EncoderList(std::string worker_binary) : worker_binary_(std::move(worker_binary)) {}
  HttpResponse Get();

 private:
  const std::string worker_binary_;
  std::mutex mu_;
  std::chrono::steady_clock::time_point fetched_;  // guarded by mu_
  std::optional<HttpResponse> cached_;             // guarded by mu_
};

class ApiHandler {
 public:
  // Everything passed in must outlive the handler. `supervisor` may be null (no jobs run).
  ApiHandler(const DataDir& data, catalog::Catalog& catalog, EventBus& events,
             VisibilityCache& visibility, EncoderList& encoders, JobSupervisor* supervisor,
             AccountServices& accounts, const PlaybackSigning& playback, LiveService* live,
             const SiteAddress& site)
      : data_(data),
        catalog_(catalog),
        events_(events),
        visibility_(visibility),
        encoders_(encoders),
        supervisor_(supervisor),
        accounts_(accounts),
        playback_(playback),
        live_(live),
        site_(site) {}

  // Handles one request whose path starts with /api/v1/. Never throws.
  HttpResponse Handle(const RequestContext& request) noexcept;

 private:
  HttpResponse Route(const RequestContext& request);
  HttpResponse ListVideos(const RequestContext& request);
  HttpResponse GetVideo(const RequestContext& request, const std::string& id);
  HttpResponse PatchVideo(const RequestContext& request, const std::string& id);
  HttpResponse DeleteVideo(const RequestContext& request, const std::string& id);
  HttpResponse ListJobs(const RequestContext& request);
  HttpResponse ListUploads(const RequestContext& request);
  HttpResponse GetJob(const RequestContext& request, int64_t id);
  // The decision for `action` on the video a job belongs to (staff only for a job without one).
  Decision AuthorizeJob(const RequestContext& request, Action action, const catalog::Job& job);
  // Accounts (accounts_api.cpp).
  HttpResponse GetSession(const RequestContext& request);
  HttpResponse SignIn(const RequestContext& request);
  HttpResponse SignOut(const RequestContext& request);
  HttpResponse ChangeOwnPassword(const RequestContext& request);
  HttpResponse ListUsers(const RequestContext& request);
  HttpResponse CreateUser(const RequestContext& request);
  HttpResponse GetUser(const RequestContext& request, const std::string& name);
  HttpResponse PatchUser(const RequestContext& request, const std::string& name);
  HttpResponse ResetPassword(const RequestContext& request, const std::string& name);
  HttpResponse ListTokens(const RequestContext& request);
  HttpResponse CreateToken(const RequestContext& request);
  HttpResponse RevokeToken(const RequestContext& request, const std::string& id);
  // Live streams (live_api.cpp).
  HttpResponse ListLive(const RequestContext& request);
  HttpResponse CreateLive(const RequestContext& request);
  HttpResponse GetLive(const RequestContext& request, const std::string& id);
  HttpResponse PatchLive(const RequestContext& request, const std::string& id);
  HttpResponse DeleteLive(const RequestContext& request, const std::string& id);
  HttpResponse RotateLiveKey(const RequestContext& request, const std::string& id);
  HttpResponse EndLive(const RequestContext& request, const std::string& id);
  nlohmann::json LiveJson(const RequestContext& request, const catalog::LiveStream& stream,
                          bool with_secrets, const std::string& key = "");
  // oEmbed (share_meta.h).
  HttpResponse Oembed(const RequestContext& request);
  HttpResponse CancelJob(const RequestContext& request, int64_t id);
  HttpResponse RetryJob(const RequestContext& request, int64_t id);
  nlohmann::json JobJsonWithPid(const catalog::Job& job);

  const DataDir& data_;
  catalog::Catalog& catalog_;
  EventBus& events_;
  VisibilityCache& visibility_;
  EncoderList& encoders_;
  JobSupervisor* supervisor_;
  AccountServices& accounts_;
  const PlaybackSigning& playback_;  // signs the media URLs of drafts and unlisted videos
  LiveService* live_;                // null when live streaming is off
  const SiteAddress& site_;          // where the site is, for oEmbed's absolute URLs
};

}  // namespace newsreel::streaming
