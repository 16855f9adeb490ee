#pragma once
// Small helpers of the JSON API handlers (accounts_api.cpp, live_api.cpp): answers and the
// checked reading of request bodies.

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "streaming/internal/api.h"

namespace newsreel::streaming::api_json {

using nlohmann::json;

// An optional number as JSON: the number, or null.
inline json Opt(const std::optional<int64_t>& v) { return v ? json(*v) : json(nullptr); }

inline HttpResponse Json(int status, const json& body) {
  HttpResponse r;
  r.status = status;
  // Messages quote what clients sent (a method, a header, a path), which need not be UTF-8:
  // such bytes go out as U+FFFD instead of throwing (found by fuzz/request_head_fuzzer.cpp: a
  // request line starting with byte 0xAD threw out of the event loop and ended the server).
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}
inline HttpResponse NoContent() {
  HttpResponse r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

// The body as a JSON object, or the 400 to answer.
inline std::optional<HttpResponse> ParseObject(const std::string& body, json* out) {
  *out = json::parse(body, nullptr, false);
  if (out->is_discarded() || !out->is_object())
    return ErrorResponse(400, "invalid_argument", "the body must be a JSON object");
  return std::nullopt;
}

// A string field of `body`: nullopt when absent; the 400 when present with another type.
inline std::optional<HttpResponse> StringField(const json& body, const char* key,
                                               std::optional<std::string>* out) {
  auto it = body.find(key);
  if (it == body.end()) return std::nullopt;
  if (!it->is_string())
    return ErrorResponse(400, "invalid_argument",
                         std::string("field '") + key + "' must be a string");
  *out = it->get<std::string>();
  return std::nullopt;
}

// A 400 naming the first field of `body` that is not in `allowed`.
inline std::optional<HttpResponse> OnlyFields(const json& body,
                                              std::initializer_list<const char*> allowed) {
  for (auto& [key, value] : body.items()) {
    bool known = false;
    for (const char* a : allowed) known = known || key == a;
    if (!known) return ErrorResponse(400, "invalid_argument", "unknown field '" + key + "'");
  }
  return std::nullopt;
}

}  // namespace newsreel::streaming::api_json
