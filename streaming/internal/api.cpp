#include "streaming/internal/api.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <ctime>
#include <system_error>

#include "catalog/ids.h"
#include "common/log.h"
#include "streaming/internal/api_json.h"
#include "streaming/internal/api_routes.h"
#include "streaming/internal/supervisor.h"

namespace newsreel::streaming {

using api_json::Json;
using api_json::Opt;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::optional<int64_t> ParseInt(const std::string& s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

const std::string* Param(const RequestContext& r, const std::string& name) {
  auto it = r.query.find(name);
  return it == r.query.end() ? nullptr : &it->second;
}

}  // namespace

HttpResponse ErrorResponse(int http_status, const std::string& code, const std::string& message) {
  return Json(http_status, {{"error", {{"code", code}, {"message", message}}}});
}

HttpResponse Denied(Decision decision, const std::string& what, const std::string& hidden_message) {
  switch (decision) {
    case Decision::kAllow:
      break;
    case Decision::kUnauthenticated: {
      HttpResponse r = ErrorResponse(401, "unauthenticated", what + " needs you to sign in");
      r.headers["WWW-Authenticate"] = "Bearer realm=\"newsreel\"";
      return r;
    }
    case Decision::kForbidden:
      return ErrorResponse(403, "permission_denied", "your role does not allow " + what);
    case Decision::kHidden:
      return ErrorResponse(404, "not_found", hidden_message);
  }
  return ErrorResponse(500, "internal", "a request was allowed and refused at once");
}

HttpResponse ErrorResponse(const Status& status) {
  int http = 500;
  switch (status.code()) {
    case ErrorCode::kInvalidArgument:
      http = 400;
      break;
    case ErrorCode::kNotFound:
      http = 404;
      break;
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kFailedPrecondition:
      http = 409;
      break;
    case ErrorCode::kUnsupported:
      http = 501;
      break;
    case ErrorCode::kTimeout:
      http = 503;
      break;
    default:
      http = 500;
  }
  return ErrorResponse(http, ErrorCodeName(status.code()), status.message());
}

bool HasPublishedPart(const std::filesystem::path& media_root, const catalog::Video& v) {
  if (v.status != catalog::VideoStatus::kProcessing && v.status != catalog::VideoStatus::kQueued)
    return false;
  std::error_code ec;
  return std::filesystem::is_regular_file(media_root / v.id / "master.m3u8", ec);
}

json VideoJson(const catalog::Video& v, const std::vector<catalog::Rendition>* renditions,
               const std::vector<catalog::Asset>* assets, const PlaybackSigning* playback,
               bool published_part) {
  // Where the media is fetched: a plain path for a published video, a signed one otherwise.
  std::string base;
  std::optional<int64_t> expires_at;
  if (v.visibility == catalog::Visibility::kPublished) {
    base = "/media/" + v.id + "/";
  } else if (playback && playback->signer) {
    expires_at = PlaybackExpiry(std::time(nullptr), playback->ttl_seconds);
    base = playback->signer->MediaPrefix(v.id, *expires_at);
  }
  auto url = [&](const std::string& file) { return base.empty() ? json() : json(base + file); };
  json j = {{"id", v.id},
            {"title", v.title},
            {"description", v.description},
            {"tags", v.tags},
            {"reporter", v.reporter},
            {"location", v.location},
            {"recorded_at", Opt(v.recorded_at_ms)},
            {"duration_seconds", v.duration_ms ? json(*v.duration_ms / 1000.0) : json(nullptr)},
            {"status", catalog::ToString(v.status)},
            {"failure_reason", v.failure_reason.empty() ? json(nullptr) : json(v.failure_reason)},
            {"failure_code", v.failure_code.empty() ? json(nullptr) : json(v.failure_code)},
            {"visibility", catalog::ToString(v.visibility)},
            {"created_at", v.created_at_ms},
            {"updated_at", v.updated_at_ms},
            {"source",
             {{"filename", v.source.filename},
              {"container", v.source.container},
              {"video_codec", v.source.video_codec},
              {"audio_codec", v.source.audio_codec},
              {"width", v.source.width},
              {"height", v.source.height},
              {"size_bytes", v.source.size_bytes}}}};
  j["poster_url"] = nullptr;
  j["storyboard"] = nullptr;
  if (assets && !base.empty()) {
    json storyboard = json::object();
    for (const auto& a : *assets) {
      if (a.kind == catalog::AssetKind::kPoster) j["poster_url"] = base + a.path;
      if (a.kind == catalog::AssetKind::kStoryboard) storyboard["image_url"] = base + a.path;
      if (a.kind == catalog::AssetKind::kStoryboardVtt) storyboard["vtt_url"] = base + a.path;
    }
    if (!storyboard.empty()) j["storyboard"] = storyboard;
  }
  // "hls" is the same URL as "master", kept for the clients written before it.
  const bool playable = v.status == catalog::VideoStatus::kReady || published_part;
  j["playable"] = playable;
  j["playback"] = playable && !base.empty()
                      ? json{{"master", base + "master.m3u8"},
                             {"hls", base + "master.m3u8"},
                             {"poster", j["poster_url"]},
                             {"expires_at", expires_at ? json(*expires_at) : json(nullptr)}}
                      : json(nullptr);
  if (renditions) {
    json list = json::array();
    for (const auto& r : *renditions)
      list.push_back({{"name", r.name},
                      {"width", r.width},
                      {"height", r.height},
                      {"bandwidth", r.bandwidth},
                      {"average_bandwidth", r.average_bandwidth},
                      {"codecs", r.codecs},
                      {"frame_rate", r.frame_rate},
                      {"encoder", r.encoder},
                      {"playlist_url", url(r.playlist_path)}});
    j["renditions"] = list;
  }
  return j;
}

json JobJson(const catalog::Job& job) {
  return {{"id", job.id},
          {"kind", job.kind},
          {"video_id", job.video_id.empty() ? json(nullptr) : json(job.video_id)},
          {"state", catalog::ToString(job.state)},
          {"priority", job.priority},
          {"attempts", job.attempts},
          {"max_attempts", job.max_attempts},
          {"progress",
           {{"percent", job.progress.percent},
            {"fps", job.progress.fps},
            {"eta_seconds",
             job.progress.eta_ms ? json(*job.progress.eta_ms / 1000.0) : json(nullptr)}}},
          {"encoder", job.encoder},
          {"error", job.error.empty() ? json(nullptr) : json(job.error)},
          {"worker_id", job.worker_id.empty() ? json(nullptr) : json(job.worker_id)},
          {"created_at", job.created_at_ms},
          {"updated_at", job.updated_at_ms},
          {"started_at", Opt(job.started_at_ms)},
          {"finished_at", Opt(job.finished_at_ms)},
          {"run_after", job.run_after_ms}};
}

EventAudience AudienceOf(const catalog::Video& v) {
  return {.is_public = v.visibility == catalog::Visibility::kPublished, .owner_id = v.owner_id};
}

json ApiHandler::JobJsonWithPid(const catalog::Job& job) {
  json j = JobJson(job);
  std::optional<int> pid = supervisor_ ? supervisor_->WorkerPid(job.id) : std::nullopt;
  j["worker_pid"] = pid ? json(*pid) : json(nullptr);
  return j;
}

HttpResponse ApiHandler::Handle(const RequestContext& request) noexcept {
  try {
    return Route(request);
  } catch (const std::exception& e) {
    NR_LOG(kError) << "api: " << request.method << " " << request.path << ": " << e.what();
    return ErrorResponse(500, "internal", "internal error");
  }
}

HttpResponse ApiHandler::Route(const RequestContext& r) {
  // Every operation is a row of api_routes.h (and so of docs/openapi.yaml).
  ApiMatch match = MatchApiRoute(r.method, r.path);
  if (!match.route) {
    if (match.allow.empty()) return ErrorResponse(404, "not_found", "no API endpoint at " + r.path);
    HttpResponse resp = ErrorResponse(
        405, "method_not_allowed",
        r.method + " is not allowed on " + r.path + " (allowed: " + match.allow + ")");
    resp.headers["Allow"] = match.allow;
    return resp;
  }
  const std::vector<std::string>& p = match.params;
  switch (const ApiOperation op = match.route->operation) {
    case ApiOperation::kListVideos:
      return ListVideos(r);
    case ApiOperation::kGetVideo:
    case ApiOperation::kPatchVideo:
    case ApiOperation::kDeleteVideo:
      if (!catalog::ValidateId(p[0]).ok())
        return ErrorResponse(400, "invalid_argument", "not a valid video id");
      if (op == ApiOperation::kGetVideo) return GetVideo(r, p[0]);
      if (op == ApiOperation::kPatchVideo) return PatchVideo(r, p[0]);
      return DeleteVideo(r, p[0]);
    case ApiOperation::kListJobs:
      return ListJobs(r);
    case ApiOperation::kGetJob:
    case ApiOperation::kCancelJob:
    case ApiOperation::kRetryJob: {
      const int64_t job = ParseInt(p[0]).value_or(0);
      if (job <= 0) return ErrorResponse(400, "invalid_argument", "a job id is a positive integer");
      if (op == ApiOperation::kGetJob) return GetJob(r, job);
      if (op == ApiOperation::kCancelJob) return CancelJob(r, job);
      return RetryJob(r, job);
    }
    case ApiOperation::kListEncoders:
      if (Decision d = Authorize(r.caller, Action::kViewEncoders); d != Decision::kAllow)
        return Denied(d, "listing encoders", "no API endpoint at " + r.path);
      return encoders_.Get();
    case ApiOperation::kGetSession:
      return GetSession(r);
    case ApiOperation::kSignIn:
      return SignIn(r);
    case ApiOperation::kSignOut:
      return SignOut(r);
    case ApiOperation::kChangeOwnPassword:
      return ChangeOwnPassword(r);
    case ApiOperation::kListUsers:
      return ListUsers(r);
    case ApiOperation::kCreateUser:
      return CreateUser(r);
    case ApiOperation::kGetUser:
      return GetUser(r, p[0]);
    case ApiOperation::kPatchUser:
      return PatchUser(r, p[0]);
    case ApiOperation::kResetPassword:
      return ResetPassword(r, p[0]);
    case ApiOperation::kListTokens:
      return ListTokens(r);
    case ApiOperation::kCreateToken:
      return CreateToken(r);
    case ApiOperation::kListLive:
      return ListLive(r);
    case ApiOperation::kCreateLive:
      return CreateLive(r);
    case ApiOperation::kGetLive:
    case ApiOperation::kPatchLive:
    case ApiOperation::kDeleteLive:
    case ApiOperation::kRotateLiveKey:
    case ApiOperation::kEndLive:
      if (!catalog::ValidateId(p[0]).ok())
        return ErrorResponse(400, "invalid_argument", "not a valid live stream id");
      if (op == ApiOperation::kGetLive) return GetLive(r, p[0]);
      if (op == ApiOperation::kPatchLive) return PatchLive(r, p[0]);
      if (op == ApiOperation::kDeleteLive) return DeleteLive(r, p[0]);
      if (op == ApiOperation::kRotateLiveKey) return RotateLiveKey(r, p[0]);
      return EndLive(r, p[0]);
    case ApiOperation::kRevokeToken:
      return RevokeToken(r, p[0]);
    case ApiOperation::kOembed:
      return Oembed(r);
    case ApiOperation::kListUploads:
      return ListUploads(r);
  }
  return ErrorResponse(500, "internal", "an API route without a handler");
}

HttpResponse ApiHandler::ListVideos(const RequestContext& r) {
  catalog::VideoFilter filter;
  if (auto* s = Param(r, "status")) {
    auto st = catalog::ParseVideoStatus(*s);
    if (!st.ok()) return ErrorResponse(st.status());
    filter.status = *st;
  }
  if (auto* s = Param(r, "visibility")) {
    auto vis = catalog::ParseVisibility(*s);
    if (!vis.ok()) return ErrorResponse(vis.status());
    filter.visibility = *vis;
  }
  if (auto* s = Param(r, "reporter")) filter.reporter = *s;
  for (auto [name, field] : {std::pair{"recorded_from", &filter.recorded_from_ms},
                             std::pair{"recorded_to", &filter.recorded_to_ms},
                             std::pair{"created_from", &filter.created_from_ms},
                             std::pair{"created_to", &filter.created_to_ms}}) {
    if (auto* s = Param(r, name)) {
      auto v = ParseInt(*s);
      if (!v)
        return ErrorResponse(400, "invalid_argument",
                             std::string(name) + " must be milliseconds since the epoch");
      *field = *v;
    }
  }
  // What the caller may list (authorize.h): the public sees published videos (unlisted ones
  // are found by link only), a reporter also every video of their own, editors everything.
  if (auto* s = Param(r, "mine"); s && *s != "0" && *s != "false") {
    if (!r.caller.user_id()) return Denied(Decision::kUnauthenticated, "listing your videos", "");
    filter.owner_id = r.caller.user_id();
  }
  if (!r.caller.user_id()) {
    if (filter.visibility && *filter.visibility != catalog::Visibility::kPublished)
      return Json(200, {{"videos", json::array()}, {"next_cursor", nullptr}});
    filter.visibility = catalog::Visibility::kPublished;
  } else if (!Allowed(r.caller, Action::kViewVideo, Resource::Owned(std::nullopt))) {
    filter.published_or_owner = r.caller.user_id();
  }
  int limit = 20;
  if (auto* s = Param(r, "limit")) {
    auto v = ParseInt(*s);
    if (!v) return ErrorResponse(400, "invalid_argument", "limit must be an integer");
    limit = static_cast<int>(*v);
  }
  auto with_assets = [&](const catalog::Video& v) {
    auto assets = catalog_.videos().ListAssets(v.id);
    return VideoJson(v, nullptr, assets.ok() ? &*assets : nullptr, &playback_,
                     HasPublishedPart(data_.media(), v));
  };
  if (auto* q = Param(r, "q")) {
    catalog::SearchRequest req;
    req.text = *q;
    req.filter = filter;
    req.limit = limit;
    if (auto* s = Param(r, "offset")) {
      auto v = ParseInt(*s);
      if (!v) return ErrorResponse(400, "invalid_argument", "offset must be an integer");
      req.offset = static_cast<int>(*v);
    }
    if (req.limit < 1 || req.limit > 100)
      return ErrorResponse(400, "invalid_argument", "limit must be 1..100 when searching");
    auto page = catalog_.search().Search(req);
    if (!page.ok()) return ErrorResponse(page.status());
    json list = json::array();
    for (const auto& hit : page->hits) {
      json v = with_assets(hit.video);
      v["score"] = hit.score;
      list.push_back(v);
    }
    return Json(200,
                {{"videos", list},
                 {"next_offset", page->next_offset ? json(*page->next_offset) : json(nullptr)}});
  }
  catalog::PageRequest page_req;
  page_req.limit = limit;
  if (auto* s = Param(r, "cursor")) page_req.cursor = *s;
  auto page = catalog_.videos().List(filter, page_req);
  if (!page.ok()) return ErrorResponse(page.status());
  json list = json::array();
  for (const auto& v : page->videos) list.push_back(with_assets(v));
  return Json(
      200, {{"videos", list},
            {"next_cursor", page->next_cursor.empty() ? json(nullptr) : json(page->next_cursor)}});
}

HttpResponse ApiHandler::GetVideo(const RequestContext& r, const std::string& id) {
  auto video = catalog_.videos().Get(id);
  if (!video.ok()) return ErrorResponse(video.status());
  if (!Allowed(r.caller, Action::kViewVideo, Resource::Of(*video)))
    return ErrorResponse(404, "not_found", "no video with id " + id);
  auto renditions = catalog_.videos().ListRenditions(id);
  auto assets = catalog_.videos().ListAssets(id);
  json j =
      VideoJson(*video, renditions.ok() ? &*renditions : nullptr, assets.ok() ? &*assets : nullptr,
                &playback_, HasPublishedPart(data_.media(), *video));
  catalog::JobFilter jf;
  jf.video_id = id;
  jf.limit = 1;
  auto jobs = Allowed(r.caller, Action::kViewJobs, Resource::Of(*video))
                  ? catalog_.jobs().List(jf)
                  : Result<std::vector<catalog::Job>>(std::vector<catalog::Job>{});
  j["latest_job"] = jobs.ok() && !jobs->empty() ? JobJsonWithPid(jobs->front()) : json(nullptr);
  return Json(200, j);
}

// oEmbed 1.0 (oembed.com, section 2.3): published videos only; a draft or unlisted one is
// the same 404 as none, so that its title does not leave through a partner site.
HttpResponse ApiHandler::Oembed(const RequestContext& r) {
  const std::string* url = Param(r, "url");
  if (url == nullptr || url->empty())
    return ErrorResponse(400, "invalid_argument", "url names the watch or embed page of a video");
  if (const std::string* format = Param(r, "format"); format && *format != "json") {
    if (*format == "xml")
      return ErrorResponse(501, "unsupported", "only format=json is offered, not xml");
    return ErrorResponse(400, "invalid_argument", "format is json");
  }
  int bounds[2] = {0, 0};
  const char* names[2] = {"maxwidth", "maxheight"};
  for (int i = 0; i < 2; ++i) {
    if (const std::string* s = Param(r, names[i])) {
      std::optional<int64_t> v = ParseInt(*s);
      if (!v || *v < 1 || *v > 100'000)
        return ErrorResponse(400, "invalid_argument",
                             std::string(names[i]) + " is a whole number of pixels, 1 to 100000");
      bounds[i] = static_cast<int>(*v);
    }
  }
  std::optional<std::string> base = SiteBase(site_, r.host);
  std::optional<std::string> id = base ? VideoIdOfUrl(*url, *base) : std::nullopt;
  if (!id)
    return ErrorResponse(400, "invalid_argument",
                         "url is not the watch or embed page of a video on this server" +
                             (base ? " (" + *base + "/watch.html?id=... or " + *base + "/embed/...)"
                                   : std::string()));
  std::optional<ShareFacts> facts = PublishedShareFacts(catalog_, *id);
  if (!facts) return ErrorResponse(404, "not_found", "no published video with id " + *id);
  return Json(200, OembedJson(*facts, *base,
                              OembedSize(facts->width, facts->height, bounds[0], bounds[1])));
}

HttpResponse ApiHandler::PatchVideo(const RequestContext& r, const std::string& id) {
  auto current = catalog_.videos().Get(id);
  if (!current.ok()) return ErrorResponse(current.status());
  if (Decision d = Authorize(r.caller, Action::kEditVideo, Resource::Of(*current));
      d != Decision::kAllow)
    return Denied(d, "editing this video", "no video with id " + id);
  json body = json::parse(r.body, nullptr, false);
  if (body.is_discarded() || !body.is_object())
    return ErrorResponse(400, "invalid_argument", "the body must be a JSON object");
  catalog::VideoPatch patch;
  for (auto& item : body.items()) {
    // Not a structured binding: the lambda below uses `value`, and clang 14 (the fuzz build's
    // compiler) cannot capture a binding.
    const std::string& key = item.key();
    json& value = item.value();
    auto need_string = [&](std::optional<std::string>& field) -> bool {
      if (!value.is_string()) return false;
      field = value.get<std::string>();
      return true;
    };
    bool ok = true;
    if (key == "title") {
      ok = need_string(patch.title);
      if (ok && patch.title->empty())
        return ErrorResponse(400, "invalid_argument", "title must not be empty");
    } else if (key == "description") {
      ok = need_string(patch.description);
    } else if (key == "reporter") {
      ok = need_string(patch.reporter);
    } else if (key == "location") {
      ok = need_string(patch.location);
    } else if (key == "tags") {
      ok = value.is_array() &&
           std::all_of(value.begin(), value.end(), [](const json& t) { return t.is_string(); });
      if (ok) patch.tags = value.get<std::vector<std::string>>();
    } else if (key == "recorded_at") {
      ok = value.is_null() || value.is_number_integer();
      if (ok)
        patch.recorded_at_ms = value.is_null() ? std::optional<int64_t>()
                                               : std::optional<int64_t>(value.get<int64_t>());
    } else if (key == "visibility") {
      if (!value.is_string()) {
        ok = false;
      } else {
        auto vis = catalog::ParseVisibility(value.get<std::string>());
        if (!vis.ok()) return ErrorResponse(vis.status());
        patch.visibility = *vis;
      }
    } else {
      return ErrorResponse(
          400, "invalid_argument",
          "unknown field '" + key +
              "' (allowed: title, description, tags, reporter, location, recorded_at, visibility)");
    }
    if (!ok)
      return ErrorResponse(400, "invalid_argument", "field '" + key + "' has the wrong type");
  }
  // Making a video published, or taking it down, is an editor's call.
  if (patch.visibility && *patch.visibility != current->visibility &&
      (*patch.visibility == catalog::Visibility::kPublished ||
       current->visibility == catalog::Visibility::kPublished)) {
    if (Decision d = Authorize(r.caller, Action::kPublishVideo, Resource::Of(*current));
        d != Decision::kAllow)
      return Denied(d, "publishing or unpublishing", "no video with id " + id);
  }
  visibility_.Invalidate(id);
  auto updated = catalog_.videos().Update(id, patch);
  visibility_.Invalidate(id);
  if (!updated.ok()) return ErrorResponse(updated.status());
  auto assets = catalog_.videos().ListAssets(id);
  const std::vector<catalog::Asset>* known = assets.ok() ? &*assets : nullptr;
  // Taken down: those who could see it before hear of it too. Events carry no signed URLs.
  EventAudience audience = AudienceOf(*updated);
  audience.is_public = audience.is_public || AudienceOf(*current).is_public;
  events_.Publish(
      "video.updated",
      VideoJson(*updated, nullptr, known, nullptr, HasPublishedPart(data_.media(), *updated)),
      audience);
  NR_LOG(kInfo) << "api: video " << id << " updated by " << r.caller.name();
  return Json(200, VideoJson(*updated, nullptr, known, &playback_,
                             HasPublishedPart(data_.media(), *updated)));
}

HttpResponse ApiHandler::DeleteVideo(const RequestContext& r, const std::string& id) {
  auto video = catalog_.videos().Get(id);
  if (!video.ok()) return ErrorResponse(video.status());
  if (Decision d = Authorize(r.caller, Action::kDeleteVideo, Resource::Of(*video));
      d != Decision::kAllow)
    return Denied(d, "deleting videos", "no video with id " + id);
  visibility_.Invalidate(id);
  // Stop its work first, so that no worker writes into the folder we remove. EndJob blocks
  // until the worker is reaped (normally milliseconds; at most 10 s): a DELETE runs on the
  // work pool (router.h), never on a service thread.
  catalog::JobFilter jf;
  jf.video_id = id;
  jf.limit = 500;
  if (auto jobs = catalog_.jobs().List(jf); jobs.ok()) {
    for (const auto& job : *jobs) {
      if (job.state != catalog::JobState::kQueued && job.state != catalog::JobState::kRunning)
        continue;
      (void)catalog_.jobs().Cancel(job.id, "the video was deleted");
      if (supervisor_) supervisor_->EndJob(job.id);
    }
  }
  // A video made from an upload: its upload row goes in the same transaction (it counted
  // against the quota, and a finished upload without a video would be made a video again).
  Status s = catalog_.RunInTransaction([&]() -> Status {
    Status gone = catalog_.uploads().Delete(id);
    if (!gone.ok() && gone.code() != ErrorCode::kNotFound) return gone;
    return catalog_.videos().Delete(id);
  });
  if (!s.ok()) return ErrorResponse(s);
  visibility_.Invalidate(id);
  std::error_code ec;
  for (const fs::path& dir : {data_.media() / id, data_.originals() / id}) {
    fs::remove_all(dir, ec);
    if (ec) {
      NR_LOG(kWarning) << "api: cannot remove " << dir << ": " << ec.message();
    }
  }
  NR_LOG(kInfo) << "api: video " << id << " deleted by " << r.caller.name();
  events_.Publish("video.deleted", {{"id", id}}, AudienceOf(*video));
  HttpResponse resp;
  resp.status = 204;
  resp.content_type.clear();
  return resp;
}

// The caller's own unfinished uploads (an upload belongs to its creator only, editors
// included): what a reporter still has to send, to resume from the upload page.
HttpResponse ApiHandler::ListUploads(const RequestContext& r) {
  if (Decision d = Authorize(r.caller, Action::kUpload); d != Decision::kAllow)
    return Denied(d, "listing uploads", "");
  int limit = 100;
  if (auto* s = Param(r, "limit")) {
    auto v = ParseInt(*s);
    if (!v || *v < 1 || *v > 1000)
      return ErrorResponse(400, "invalid_argument", "limit must be an integer from 1 to 1000");
    limit = static_cast<int>(*v);
  }
  auto uploads = catalog_.uploads().ListUnfinishedOf(*r.caller.user_id(), limit);
  if (!uploads.ok()) return ErrorResponse(uploads.status());
  json list = json::array();
  for (const catalog::Upload& u : *uploads) {
    auto meta = [&u](const char* key) -> json {
      auto it = u.metadata.find(key);
      return it == u.metadata.end() ? json(nullptr) : json(it->second);
    };
    list.push_back({{"id", u.id},
                    {"url", "/files/" + u.id},
                    {"filename", meta("filename")},
                    {"title", meta("title")},
                    {"offset", u.offset},
                    {"length", u.length ? json(*u.length) : json(nullptr)},
                    {"created_at", u.created_at_ms},
                    {"updated_at", u.updated_at_ms},
                    {"expires_at", u.expires_at_ms}});
  }
  return Json(200, {{"uploads", std::move(list)}});
}

HttpResponse ApiHandler::ListJobs(const RequestContext& r) {
  catalog::JobFilter f;
  if (auto* s = Param(r, "state")) {
    auto st = catalog::ParseJobState(*s);
    if (!st.ok()) return ErrorResponse(st.status());
    f.state = *st;
  }
  if (auto* s = Param(r, "video_id")) f.video_id = *s;
  if (auto* s = Param(r, "kind")) f.kind = *s;
  // Staff list every job; others only those of one video they may follow.
  if (Decision all = Authorize(r.caller, Action::kListAllJobs); all != Decision::kAllow) {
    if (!f.video_id) return Denied(all, "listing every job (give video_id)", "");
    auto video = catalog_.videos().Get(*f.video_id);
    const Decision d = video.ok() ? Authorize(r.caller, Action::kViewJobs, Resource::Of(*video))
                                  : Decision::kHidden;
    if (d != Decision::kAllow)
      return Denied(d, "the jobs of this video", "no video with id " + *f.video_id);
  }
  if (auto* s = Param(r, "limit")) {
    auto v = ParseInt(*s);
    if (!v) return ErrorResponse(400, "invalid_argument", "limit must be an integer");
    f.limit = static_cast<int>(*v);
  }
  if (auto* s = Param(r, "before_id")) {
    auto v = ParseInt(*s);
    if (!v) return ErrorResponse(400, "invalid_argument", "before_id must be an integer");
    f.before_id = *v;
  }
  auto jobs = catalog_.jobs().List(f);
  if (!jobs.ok()) return ErrorResponse(jobs.status());
  json list = json::array();
  for (const auto& j : *jobs) list.push_back(JobJsonWithPid(j));
  json next = jobs->size() == static_cast<size_t>(f.limit) && !jobs->empty() ? json(jobs->back().id)
                                                                             : json(nullptr);
  return Json(200, {{"jobs", list}, {"next_before_id", next}});
}

Decision ApiHandler::AuthorizeJob(const RequestContext& r, Action action, const catalog::Job& job) {
  if (job.video_id.empty()) return Authorize(r.caller, Action::kListAllJobs);
  auto video = catalog_.videos().Get(job.video_id);
  if (!video.ok()) return Authorize(r.caller, Action::kListAllJobs);
  return Authorize(r.caller, action, Resource::Of(*video));
}

HttpResponse ApiHandler::GetJob(const RequestContext& r, int64_t id) {
  auto job = catalog_.jobs().Get(id);
  if (!job.ok()) return ErrorResponse(job.status());
  if (Decision d = AuthorizeJob(r, Action::kViewJobs, *job); d != Decision::kAllow)
    return Denied(d, "this job", "no job with id " + std::to_string(id));
  return Json(200, JobJsonWithPid(*job));
}

HttpResponse ApiHandler::CancelJob(const RequestContext& r, int64_t id) {
  auto found = catalog_.jobs().Get(id);
  if (!found.ok()) return ErrorResponse(found.status());
  if (Decision d = AuthorizeJob(r, Action::kControlJob, *found); d != Decision::kAllow)
    return Denied(d, "cancelling this job", "no job with id " + std::to_string(id));
  auto job = catalog_.jobs().Cancel(id, "cancelled by " + r.caller.name() + " through the API");
  if (!job.ok()) return ErrorResponse(job.status());
  if (supervisor_) supervisor_->EndJob(id);
  json j = JobJsonWithPid(*job);
  auto v = job->video_id.empty() ? Result<catalog::Video>(NotFound("no video"))
                                 : catalog_.videos().Get(job->video_id);
  const EventAudience audience = v.ok() ? AudienceOf(*v) : EventAudience{};
  events_.Publish("job.cancelled", {{"job_id", id}, {"video_id", job->video_id}}, audience);
  if (!job->video_id.empty()) {
    if (v.ok()) {
      visibility_.Invalidate(v->id);
      events_.Publish("video.updated", VideoJson(*v, nullptr, nullptr), audience);
    }
  }
  return Json(200, j);
}

HttpResponse ApiHandler::RetryJob(const RequestContext& r, int64_t id) {
  auto found = catalog_.jobs().Get(id);
  if (!found.ok()) return ErrorResponse(found.status());
  if (Decision d = AuthorizeJob(r, Action::kControlJob, *found); d != Decision::kAllow)
    return Denied(d, "retrying this job", "no job with id " + std::to_string(id));
  auto job = catalog_.jobs().Retry(id);
  if (!job.ok()) return ErrorResponse(job.status());
  if (supervisor_) supervisor_->Wake();
  EventAudience audience;
  if (auto v = catalog_.videos().Get(job->video_id); v.ok()) audience = AudienceOf(*v);
  events_.Publish("job.queued", {{"job_id", id}, {"video_id", job->video_id}}, audience);
  return Json(200, JobJsonWithPid(*job));
}

HttpResponse EncoderList::Get() {
  std::lock_guard lock(mu_);
  auto now = std::chrono::steady_clock::now();
  if (cached_ && now - fetched_ < std::chrono::minutes(1)) return *cached_;
  // Run `newsreel encoders --json` with a time limit, capturing stdout and stderr.
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return ErrorResponse(500, "internal", "cannot create a pipe");
  std::string bin = worker_binary_;
  std::vector<std::string> args = {bin, "encoders", "--json"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    // Only async-signal-safe calls until exec. The child dies with the server, and takes the
    // signals the server's threads block (serve_command.cpp) back.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    // stdout is the JSON; GStreamer's and our log lines on stderr are not wanted here.
    dup2(out[1], STDOUT_FILENO);
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, STDERR_FILENO);
    close_range(3, ~0U, 0);
    signal(SIGPIPE, SIG_DFL);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  if (pid < 0) {
    close(out[0]);
    return ErrorResponse(500, "internal", "cannot start `newsreel encoders`");
  }
  std::string text;
  auto deadline = now + std::chrono::seconds(30);
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{out[0], POLLIN, 0};
    if (poll(&pfd, 1, 200) <= 0) continue;
    ssize_t n = read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  close(out[0]);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  HttpResponse resp;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    json j = json::parse(text, nullptr, false);
    if (!j.is_discarded()) {
      if (!j.is_object()) j = json{{"encoders", j}};
      resp = Json(200, j);
    } else {
      resp = ErrorResponse(502, "internal", "`newsreel encoders --json` did not print JSON");
    }
  } else {
    resp = ErrorResponse(501, "unsupported",
                         "listing encoders needs the `newsreel encoders --json` sub-command, which "
                         "this build does not have or which failed (exit status " +
                             std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ")");
  }
  cached_ = resp;
  fetched_ = now;
  return resp;
}

}  // namespace newsreel::streaming
