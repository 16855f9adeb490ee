#pragma once
// Which part of the server answers a request: a pure function of the method and the decoded
// path (no socket, no catalog), so that the whole URL map is one table that tests can read.
//
//   /files, /files/...        tus uploads            (tus.h)
//   OPTIONS anything else     CORS preflight
//   /media/<video>/...        VOD media              (media_delivery.h)
//   /live/<stream>/...        live media
//   /api/v1, /api/v1/...      REST API               (api.h); changes run on the work pool
//   /healthz, /metrics        health and metrics     (health.h)
//   /ws, /ws/...              WebSocket only: a plain request is refused
//   /embed, /embed/<id>       the embeddable player page of a video (share_meta.h)
//   anything else             the web pages (web_player/), or 404

#include <string>
#include <string_view>

namespace newsreel::streaming {

enum class Handler {
  kUpload,     // rest: after "/files" ("" or "/<id>")
  kPreflight,  // CORS preflight
  kMedia,      // rest: after "/media/"
  kLive,       // rest: after "/live/"
  kApi,        // rest: the whole path
  kHealth,
  kMetrics,
  kWebSocketOnly,  // a WebSocket path asked for without an upgrade: 400
  kEmbed,          // rest: after "/embed/" (the video id; "" for "/embed" itself)
  kPage,           // rest: after "/"
};

struct Route {
  Handler handler = Handler::kPage;
  std::string rest;
  // The handler may block (a commit that flushes, ending a worker, running a sub-process):
  // it runs on the work pool and its answer comes back to the service thread.
  bool blocking = false;
};

// `method` is upper case ("GET"); `path` starts with '/' and has no query.
Route RouteRequest(std::string_view method, std::string_view path);

const char* ToString(Handler handler);

}  // namespace newsreel::streaming
