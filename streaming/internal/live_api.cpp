// The live part of the REST API (docs/api.md "Live streams"). ApiHandler::Route dispatches these
// rows of api_routes.h here:
//
//   GET    /api/v1/live               the streams the caller may list
//   POST   /api/v1/live               {title, visibility?, encrypt_ingest?, replace_publisher?}
//                                     -> the stream with its key and ingest URL, once
//   GET    /api/v1/live/<id>          state, ingest and worker figures, viewers; the owner and
//                                     staff also get the passphrase and the pull URL
//   PATCH  /api/v1/live/<id>          {title?, visibility?, encrypt_ingest?, replace_publisher?}
//   DELETE /api/v1/live/<id>          ends it, removes its files (its recordings stay videos)
//   POST   /api/v1/live/<id>/key      a new key (the old one and its publisher are cut off)
//   POST   /api/v1/live/<id>/end      ends the broadcast now
//
// Keys are shown once; passphrases to those who may run the stream. Neither is ever logged.
#include "catalog/live_stream_repository.h"
#include "common/log.h"
#include "streaming/internal/api.h"
#include "streaming/internal/api_json.h"
#include "streaming/internal/live_service.h"

namespace newsreel::streaming {

using namespace api_json;

namespace {

// The host part of a Host header ("news.example:8080" -> "news.example", "[::1]:80" -> "[::1]").
std::string HostName(const std::string& host) {
  if (host.empty()) return "localhost";
  if (host.front() == '[') return host.substr(0, host.find(']') + 1);
  return host.substr(0, host.find(':'));
}

Resource ResourceOf(const catalog::LiveStream& s) { return {s.owner_id, s.visibility}; }

HttpResponse LiveOff() {
  return ErrorResponse(503, "unavailable",
                       "live streaming is off on this server (see --srt-port in docs/live.md)");
}

// Reads the optional fields of a create or change into `stream`; the 400 to answer otherwise.
std::optional<HttpResponse> ReadLiveFields(const json& body, catalog::LiveStream* stream) {
  if (auto bad = OnlyFields(body, {"title", "visibility", "encrypt_ingest", "replace_publisher"}))
    return bad;
  std::optional<std::string> title, visibility;
  if (auto bad = StringField(body, "title", &title)) return bad;
  if (auto bad = StringField(body, "visibility", &visibility)) return bad;
  if (title) stream->title = *title;
  if (visibility) {
    auto v = catalog::ParseVisibility(*visibility);
    if (!v.ok()) return ErrorResponse(v.status());
    stream->visibility = *v;
  }
  for (const char* flag : {"encrypt_ingest", "replace_publisher"}) {
    auto it = body.find(flag);
    if (it == body.end()) continue;
    if (!it->is_boolean())
      return ErrorResponse(400, "invalid_argument",
                           std::string("field '") + flag + "' must be true or false");
    (std::string_view(flag) == "encrypt_ingest" ? stream->encrypt_ingest
                                                : stream->replace_publisher) = it->get<bool>();
  }
  return std::nullopt;
}

}  // namespace

json ApiHandler::LiveJson(const RequestContext& r, const catalog::LiveStream& s, bool with_secrets,
                          const std::string& key) {
  json out = {{"id", s.id},
              {"title", s.title},
              {"visibility", catalog::ToString(s.visibility)},
              {"owner_id", Opt(s.owner_id)},
              {"state", catalog::ToString(s.state)},
              {"state_since", s.state_since_ms},
              {"last_live_at", Opt(s.last_live_at_ms)},
              {"encrypt_ingest", s.encrypt_ingest},
              {"replace_publisher", s.replace_publisher},
              {"recording_video_id",
               s.recording_video_id.empty() ? json(nullptr) : json(s.recording_video_id)},
              {"playback_url", "/live/" + s.id + "/master.m3u8"},
              {"created_at", s.created_at_ms},
              {"updated_at", s.updated_at_ms},
              {"viewers", 0},
              {"pullers", 0},
              {"ingest_stats", nullptr},
              {"worker", nullptr}};
  if (live_) {
    if (std::optional<LiveStreamFigures> f = live_->Figures(s.id)) {
      out["state"] = catalog::ToString(f->state);
      out["state_since"] = f->state_since_ms;
      out["viewers"] = f->viewers;
      out["pullers"] = f->pullers;
      if (f->ingest) {
        const SrtConnectionStats& c = *f->ingest;
        out["ingest_stats"] = {
            {"connected_at", std::chrono::duration_cast<std::chrono::milliseconds>(
                                 c.connected_at.time_since_epoch())
                                 .count()},
            {"bytes_received", c.bytes_received},
            {"bitrate_bps", std::llround(c.bitrate_bps)},
            {"rtt_ms", c.rtt_ms},
            {"packets_received", c.packets_received},
            {"packets_lost", c.packets_lost},
            {"packets_retransmitted", c.packets_retransmitted},
            {"packets_dropped", c.packets_dropped},
            {"bytes_not_taken", f->dropped_bytes}};
      }
      if (f->worker) {
        const worker::LiveFigures& w = *f->worker;
        out["worker"] = {
            {"fps", w.fps},
            {"speed", w.speed},
            {"position_seconds", w.position_seconds},
            {"segments", w.segments},
            {"latency_seconds", w.latency_seconds ? json(*w.latency_seconds) : json(nullptr)}};
      }
    }
  }
  if (with_secrets && live_) {
    const std::string server =
        "srt://" + HostName(r.host) + ":" + std::to_string(live_->srt_port());
    json ingest = {{"server", server}, {"port", live_->srt_port()}};
    if (!key.empty()) {
      // Shown once: what to paste into an encoder (docs/live.md has each encoder's fields).
      const std::string stream_id = "#!::r=" + s.id + ",m=publish,s=" + key;
      ingest["key"] = key;
      ingest["stream_id"] = stream_id;
      ingest["url"] = server + "?streamid=" + stream_id +
                      (s.encrypt_ingest ? "&passphrase=" + s.passphrase : std::string());
    }
    if (s.encrypt_ingest) ingest["passphrase"] = s.passphrase;
    out["ingest"] = std::move(ingest);
    out["pull"] = {
        {"url", server + "?streamid=#!::r=" + s.id + ",m=request&passphrase=" + s.passphrase},
        {"stream_id", "#!::r=" + s.id + ",m=request"},
        {"passphrase", s.passphrase}};
  }
  return out;
}

HttpResponse ApiHandler::ListLive(const RequestContext& r) {
  auto all = catalog_.live_streams().List();
  if (!all.ok()) return ErrorResponse(all.status());
  json items = json::array();
  for (const catalog::LiveStream& s : *all) {
    // Listed: published streams to anyone, one's own, and everything to staff (never another's
    // unlisted stream: its link is its only way in).
    const bool own = r.caller.user && s.owner_id && *s.owner_id == r.caller.user->id;
    const bool staff = r.caller.user && r.caller.role >= catalog::Role::kEditor;
    if (s.visibility != catalog::Visibility::kPublished && !own && !staff) continue;
    items.push_back(LiveJson(r, s, Allowed(r.caller, Action::kEditLive, ResourceOf(s))));
  }
  HttpResponse resp = Json(200, {{"items", std::move(items)}});
  resp.headers["Cache-Control"] = "no-store";
  return resp;
}

HttpResponse ApiHandler::CreateLive(const RequestContext& r) {
  if (Decision d = Authorize(r.caller, Action::kCreateLive); d != Decision::kAllow)
    return Denied(d, "creating live streams", "");
  if (!live_) return LiveOff();
  json body;
  if (auto bad = ParseObject(r.body, &body)) return *bad;
  catalog::LiveStream stream;
  if (auto bad = ReadLiveFields(body, &stream)) return *bad;
  stream.owner_id = r.caller.user_id();
  if (stream.visibility == catalog::Visibility::kPublished)
    if (Decision d = Authorize(r.caller, Action::kPublishLive, ResourceOf(stream));
        d != Decision::kAllow)
      return Denied(d, "publishing live streams", "");
  auto made = catalog_.live_streams().Create(stream);
  if (!made.ok()) return ErrorResponse(made.status());
  live_->Created(made->stream);
  NR_LOG(kInfo) << "live: " << r.caller.name() << " created stream " << made->stream.id;
  events_.Publish(
      "live.created", {{"id", made->stream.id}, {"title", made->stream.title}},
      {made->stream.visibility == catalog::Visibility::kPublished, made->stream.owner_id});
  HttpResponse resp = Json(201, LiveJson(r, made->stream, true, made->key));
  resp.headers["Cache-Control"] = "no-store";
  resp.headers["Location"] = "/api/v1/live/" + made->stream.id;
  return resp;
}

HttpResponse ApiHandler::GetLive(const RequestContext& r, const std::string& id) {
  auto s = catalog_.live_streams().Get(id);
  if (!s.ok()) return ErrorResponse(s.status());
  if (Decision d = Authorize(r.caller, Action::kWatchLive, ResourceOf(*s)); d != Decision::kAllow)
    return Denied(d, "this live stream", "no live stream with id " + id);
  HttpResponse resp =
      Json(200, LiveJson(r, *s, Allowed(r.caller, Action::kEditLive, ResourceOf(*s))));
  resp.headers["Cache-Control"] = "no-store";
  return resp;
}

HttpResponse ApiHandler::PatchLive(const RequestContext& r, const std::string& id) {
  auto current = catalog_.live_streams().Get(id);
  if (!current.ok()) return ErrorResponse(current.status());
  if (Decision d = Authorize(r.caller, Action::kEditLive, ResourceOf(*current));
      d != Decision::kAllow)
    return Denied(d, "changing this live stream", "no live stream with id " + id);
  json body;
  if (auto bad = ParseObject(r.body, &body)) return *bad;
  catalog::LiveStream changed = *current;
  if (auto bad = ReadLiveFields(body, &changed)) return *bad;
  if (changed.visibility != current->visibility &&
      (changed.visibility == catalog::Visibility::kPublished ||
       current->visibility == catalog::Visibility::kPublished))
    if (Decision d = Authorize(r.caller, Action::kPublishLive, ResourceOf(*current));
        d != Decision::kAllow)
      return Denied(d, "publishing or unpublishing this live stream", "");
  auto stored = catalog_.live_streams().Update(changed);
  if (!stored.ok()) return ErrorResponse(stored.status());
  if (live_) live_->Updated(*stored, false);
  HttpResponse resp = Json(200, LiveJson(r, *stored, true));
  resp.headers["Cache-Control"] = "no-store";  // the passphrase
  return resp;
}

HttpResponse ApiHandler::DeleteLive(const RequestContext& r, const std::string& id) {
  auto current = catalog_.live_streams().Get(id);
  if (!current.ok()) return ErrorResponse(current.status());
  if (Decision d = Authorize(r.caller, Action::kDeleteLive, ResourceOf(*current));
      d != Decision::kAllow)
    return Denied(d, "deleting this live stream", "no live stream with id " + id);
  if (Status st = catalog_.live_streams().Delete(id); !st.ok()) return ErrorResponse(st);
  if (live_) live_->Deleted(id);
  NR_LOG(kInfo) << "live: " << r.caller.name() << " deleted stream " << id;
  events_.Publish("live.deleted", {{"id", id}},
                  {current->visibility == catalog::Visibility::kPublished, current->owner_id});
  return NoContent();
}

HttpResponse ApiHandler::RotateLiveKey(const RequestContext& r, const std::string& id) {
  auto current = catalog_.live_streams().Get(id);
  if (!current.ok()) return ErrorResponse(current.status());
  if (Decision d = Authorize(r.caller, Action::kEditLive, ResourceOf(*current));
      d != Decision::kAllow)
    return Denied(d, "changing this live stream", "no live stream with id " + id);
  // The new key is shown only inside `ingest`, which needs the SRT port: without live, a
  // rotation would kill the old key and lose the new one.
  if (!live_) return LiveOff();
  auto rotated = catalog_.live_streams().RotateKey(id);
  if (!rotated.ok()) return ErrorResponse(rotated.status());
  if (live_) live_->Updated(rotated->stream, true);
  NR_LOG(kInfo) << "live: " << r.caller.name() << " gave stream " << id << " a new key";
  HttpResponse resp = Json(200, LiveJson(r, rotated->stream, true, rotated->key));
  resp.headers["Cache-Control"] = "no-store";
  return resp;
}

HttpResponse ApiHandler::EndLive(const RequestContext& r, const std::string& id) {
  auto current = catalog_.live_streams().Get(id);
  if (!current.ok()) return ErrorResponse(current.status());
  if (Decision d = Authorize(r.caller, Action::kEditLive, ResourceOf(*current));
      d != Decision::kAllow)
    return Denied(d, "ending this live stream", "no live stream with id " + id);
  if (!live_) return LiveOff();
  live_->End(id);
  NR_LOG(kInfo) << "live: " << r.caller.name() << " ended stream " << id;
  HttpResponse resp = Json(202, LiveJson(r, *current, true));
  resp.headers["Cache-Control"] = "no-store";  // the passphrase
  return resp;
}

}  // namespace newsreel::streaming
