#pragma once
// The one place where a request's identity lives. Every handler (media, API, WebSocket) gets
// the caller from here: the service thread fills it from a session cookie or a Bearer token
// (accounts.h), and authorize.h decides what it may do.

#include <map>
#include <optional>
#include <string>

#include "catalog/types.h"

namespace newsreel::streaming {

struct Caller {
  bool anonymous = true;
  std::optional<catalog::User> user;            // set when signed in (then `anonymous` is false)
  catalog::Role role = catalog::Role::kViewer;  // the user's role; viewer when anonymous
  // How the caller proved who they are: a session cookie (changes then need a same-origin
  // request, authorize.h's CSRF rule) or a Bearer token. The token's id, for signing out.
  bool via_cookie = false;
  int64_t token_id = 0;
  std::string address;  // the peer's IP address, for per-address limits and logs

  std::optional<int64_t> user_id() const {
    return user ? std::optional<int64_t>(user->id) : std::nullopt;
  }
  std::string name() const { return user ? user->name : "anonymous"; }
};

struct RequestContext {
  Caller caller;
  std::string method;  // "GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS", "PUT"
  std::string path;    // decoded, without the query
  std::string host;    // the Host header (or HTTP/2's :authority) as sent; may be empty
  std::map<std::string, std::string> query;  // decoded
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::map<std::string, std::string> headers;  // extra headers
};

}  // namespace newsreel::streaming
