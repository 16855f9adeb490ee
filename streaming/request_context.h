#pragma once
// The one place where a request's identity lives. Every handler (media, API, WebSocket) gets
// the caller from here; the accounts issue fills it from a token instead of "anonymous".

#include <map>
#include <optional>
#include <string>

#include "catalog/types.h"

namespace newsreel::streaming {

struct Caller {
  bool anonymous = true;
  std::optional<catalog::User> user;
  // What the caller may do. Until accounts exist the server trusts its network: an anonymous
  // caller gets ServerOptions::anonymous_role (editor by default) on the API. Media delivery
  // never serves drafts to anyone, whatever the role (players fetch without credentials).
  catalog::Role role = catalog::Role::kViewer;

  bool CanEdit() const { return role >= catalog::Role::kEditor; }
  bool CanSeeDrafts() const { return role >= catalog::Role::kReporter; }
};

struct RequestContext {
  Caller caller;
  std::string method;  // "GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS", "PUT"
  std::string path;    // decoded, without the query
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
