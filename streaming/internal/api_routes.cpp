#include "streaming/internal/api_routes.h"

namespace newsreel::streaming {
namespace {

std::vector<std::string_view> Segments(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start < path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > start) parts.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

bool IsParameter(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

// The values of `pattern`'s parameters in `path`, or false when the path does not fit.
bool Fits(const std::vector<std::string_view>& pattern, const std::vector<std::string_view>& path,
          std::vector<std::string>* params) {
  if (pattern.size() != path.size()) return false;
  params->clear();
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (IsParameter(pattern[i])) {
      params->emplace_back(path[i]);
    } else if (pattern[i] != path[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

ApiMatch MatchApiRoute(std::string_view method, std::string_view path) {
  const std::string_view wanted = method == "HEAD" ? "GET" : method;
  const std::vector<std::string_view> segments = Segments(path);
  ApiMatch match;
  std::vector<std::string> params;
  for (const ApiRoute& route : kApiRoutes) {
    if (!Fits(Segments(route.path), segments, &params)) continue;
    if (route.method == wanted) {
      match.route = &route;
      match.params = std::move(params);
      match.allow.clear();
      return match;
    }
    if (!match.allow.empty()) match.allow += ", ";
    match.allow += route.method;
    if (std::string_view(route.method) == "GET") match.allow += ", HEAD";
  }
  return match;
}

}  // namespace newsreel::streaming
