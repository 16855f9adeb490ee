#include "streaming/internal/share_meta.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

#include "catalog/ids.h"
#include "streaming/internal/http_util.h"

namespace newsreel::streaming {
namespace {

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool StartsWithIgnoreCase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && EqualsIgnoreCase(text.substr(0, prefix.size()), prefix);
}

bool IsDnsName(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = name.find('.', start);
    std::string_view label = name.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    for (char c : label)
      if (!IsAlnum(c) && c != '-') return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool IsIpv6Literal(std::string_view inside) {
  // The brackets' content: hex digits, ':' and '.' (an embedded IPv4 tail); at least one ':'.
  if (inside.size() < 2 || inside.size() > 45 || inside.find(':') == std::string_view::npos)
    return false;
  for (char c : inside)
    if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return false;
  return true;
}

bool IsPort(std::string_view port) {
  if (port.empty() || port.size() > 5) return false;
  int value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  return ec == std::errc() && end == port.data() + port.size() && value >= 1 && value <= 65535;
}

// A URL as one query value: everything but RFC 3986's unreserved characters percent-encoded.
std::string QueryValue(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    if (IsAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 15];
    }
  }
  return out;
}

void AddMeta(std::string& out, std::string_view attribute, std::string_view name,
             std::string_view content) {
  out += "  <meta ";
  out += attribute;
  out += "=\"";
  out += name;
  out += "\" content=\"";
  out += HtmlEscape(content);
  out += "\">\n";
}

std::string PosterUrl(const ShareFacts& v, std::string_view base) {
  return std::string(base) + "/media/" + v.id + "/" + v.poster;
}

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

bool IsValidHost(std::string_view host) {
  if (host.empty() || host.size() > 260) return false;
  std::string_view name = host;
  std::string_view port;
  if (host.front() == '[') {
    size_t close = host.find(']');
    if (close == std::string_view::npos || !IsIpv6Literal(host.substr(1, close - 1))) return false;
    std::string_view after = host.substr(close + 1);
    if (after.empty()) return true;
    return after.front() == ':' && IsPort(after.substr(1));
  }
  if (size_t colon = host.find(':'); colon != std::string_view::npos) {
    name = host.substr(0, colon);
    port = host.substr(colon + 1);
    if (!IsPort(port)) return false;
  }
  // An IPv4 address is also a DNS name by these rules (labels of digits).
  return IsDnsName(name);
}

Result<std::string> ParsePublicUrl(std::string_view url) {
  std::string_view rest;
  if (StartsWithIgnoreCase(url, "https://")) {
    rest = url.substr(8);
  } else if (StartsWithIgnoreCase(url, "http://")) {
    rest = url.substr(7);
  } else {
    return InvalidArgument("--public-url must start with https:// or http://");
  }
  const size_t slash = rest.find('/');
  const std::string_view host = rest.substr(0, slash);
  if (!IsValidHost(host))
    return InvalidArgument("--public-url has no valid host[:port] after the scheme");
  if (slash != std::string_view::npos) {
    for (char c : rest.substr(slash)) {
      if (!IsAlnum(c) && c != '/' && c != '.' && c != '_' && c != '~' && c != '-')
        return InvalidArgument(
            "--public-url may have a path, but no query, fragment or other characters");
    }
  }
  std::string out(url);
  while (out.ends_with('/')) out.pop_back();
  return out;
}

std::optional<std::string> SiteBase(const SiteAddress& site, std::string_view host) {
  if (!site.public_url.empty()) return site.public_url;
  if (!IsValidHost(host)) return std::nullopt;
  return std::string(site.tls ? "https://" : "http://") + std::string(host);
}

std::optional<ShareFacts> PublishedShareFacts(catalog::Catalog& catalog, std::string_view id) {
  if (!catalog::ValidateId(id).ok()) return std::nullopt;
  Result<catalog::Video> video = catalog.videos().Get(id);
  if (!video.ok() || video->visibility != catalog::Visibility::kPublished ||
      video->status != catalog::VideoStatus::kReady)
    return std::nullopt;
  ShareFacts facts;
  facts.id = video->id;
  facts.title = video->title;
  facts.description = video->description;
  facts.reporter = video->reporter;
  if (auto renditions = catalog.videos().ListRenditions(id); renditions.ok()) {
    for (const catalog::Rendition& r : *renditions) {
      if (r.width * r.height > facts.width * facts.height) {
        facts.width = r.width;
        facts.height = r.height;
      }
    }
  }
  if (auto assets = catalog.videos().ListAssets(id); assets.ok()) {
    for (const catalog::Asset& a : *assets) {
      if (a.kind != catalog::AssetKind::kPoster) continue;
      facts.poster = a.path;
      facts.poster_width = a.width;
      facts.poster_height = a.height;
    }
  }
  return facts;
}

std::string WatchUrl(std::string_view base, std::string_view id) {
  return std::string(base) + "/watch.html?id=" + std::string(id);
}

std::string EmbedUrl(std::string_view base, std::string_view id) {
  return std::string(base) + "/embed/" + std::string(id);
}

std::string WatchPageTags(const ShareFacts& v, std::string_view base) {
  std::string out = "\n";
  AddMeta(out, "property", "og:type", "video.other");
  AddMeta(out, "property", "og:site_name", "Newsreel");
  AddMeta(out, "property", "og:title", v.title);
  if (!v.description.empty()) AddMeta(out, "property", "og:description", v.description);
  if (base.empty()) return out;
  const std::string watch = WatchUrl(base, v.id);
  const std::string embed = EmbedUrl(base, v.id);
  const FrameSize player = OembedSize(v.width, v.height, 0, 0);
  AddMeta(out, "property", "og:url", watch);
  if (!v.poster.empty()) {
    AddMeta(out, "property", "og:image", PosterUrl(v, base));
    if (base.starts_with("https://"))
      AddMeta(out, "property", "og:image:secure_url", PosterUrl(v, base));
    if (v.poster_width > 0 && v.poster_height > 0) {
      AddMeta(out, "property", "og:image:width", std::to_string(v.poster_width));
      AddMeta(out, "property", "og:image:height", std::to_string(v.poster_height));
    }
    AddMeta(out, "property", "og:image:alt", v.title);
  }
  AddMeta(out, "property", "og:video", embed);
  if (base.starts_with("https://")) AddMeta(out, "property", "og:video:secure_url", embed);
  AddMeta(out, "property", "og:video:type", "text/html");
  AddMeta(out, "property", "og:video:width", std::to_string(player.width));
  AddMeta(out, "property", "og:video:height", std::to_string(player.height));
  AddMeta(out, "name", "twitter:card", "player");
  AddMeta(out, "name", "twitter:title", v.title);
  if (!v.description.empty()) AddMeta(out, "name", "twitter:description", v.description);
  if (!v.poster.empty()) AddMeta(out, "name", "twitter:image", PosterUrl(v, base));
  AddMeta(out, "name", "twitter:player", embed);
  AddMeta(out, "name", "twitter:player:width", std::to_string(player.width));
  AddMeta(out, "name", "twitter:player:height", std::to_string(player.height));
  out += "  <link rel=\"canonical\" href=\"" + HtmlEscape(watch) + "\">\n";
  out += "  <link rel=\"alternate\" type=\"application/json+oembed\" href=\"" +
         HtmlEscape(std::string(base) + "/api/v1/oembed?format=json&url=" + QueryValue(watch)) +
         "\" title=\"" + HtmlEscape(v.title) + "\">\n";
  return out;
}

std::string InsertIntoHead(std::string_view html, std::string_view tags) {
  for (size_t at = html.find("</"); at != std::string_view::npos; at = html.find("</", at + 2)) {
    if (!StartsWithIgnoreCase(html.substr(at), "</head>")) continue;
    std::string out;
    out.reserve(html.size() + tags.size());
    out.append(html.substr(0, at));
    out.append(tags);
    out.append(html.substr(at));
    return out;
  }
  return std::string(html);
}

FrameSize OembedSize(int video_width, int video_height, int max_width, int max_height) {
  constexpr int kDefaultBox = 640;
  double w = video_width > 0 && video_height > 0 ? video_width : 16;
  double h = video_width > 0 && video_height > 0 ? video_height : 9;
  double scale = std::min(kDefaultBox / w, kDefaultBox / h);
  if (video_width > 0 && video_height > 0) scale = std::min(scale, 1.0);  // never upscale
  if (max_width > 0) scale = std::min(scale, max_width / w);
  if (max_height > 0) scale = std::min(scale, max_height / h);
  // A hair above the exact product, so that 640 * (360 / 640) is 360, not 359.
  const int width = static_cast<int>(std::floor(w * scale + 1e-6));
  const int height = static_cast<int>(std::floor(h * scale + 1e-6));
  return {std::max(1, width), std::max(1, height)};
}

std::optional<std::string> VideoIdOfUrl(std::string_view url, std::string_view base) {
  if (base.empty() || !StartsWithIgnoreCase(url, base)) return std::nullopt;
  std::string_view rest = url.substr(base.size());
  if (!rest.starts_with('/')) return std::nullopt;
  rest.remove_prefix(1);
  if (size_t hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  std::optional<std::string> id;
  if (rest.starts_with("watch.html?")) {
    id = QueryParam(rest.substr(11), "id");
  } else if (rest.starts_with("embed/")) {
    rest.remove_prefix(6);
    id = std::string(rest.substr(0, rest.find('?')));
  }
  if (!id || !catalog::ValidateId(*id).ok()) return std::nullopt;
  return id;
}

nlohmann::json OembedJson(const ShareFacts& v, std::string_view base, FrameSize size) {
  const std::string iframe = "<iframe src=\"" + HtmlEscape(EmbedUrl(base, v.id)) + "\" width=\"" +
                             std::to_string(size.width) + "\" height=\"" +
                             std::to_string(size.height) + "\" title=\"" + HtmlEscape(v.title) +
                             "\" frameborder=\"0\" allow=\"autoplay; fullscreen; "
                             "picture-in-picture\" allowfullscreen></iframe>";
  nlohmann::json j = {{"type", "video"},
                      {"version", "1.0"},
                      {"title", v.title},
                      {"provider_name", "Newsreel"},
                      {"provider_url", std::string(base) + "/"},
                      {"html", iframe},
                      {"width", size.width},
                      {"height", size.height}};
  if (!v.reporter.empty()) j["author_name"] = v.reporter;
  // oEmbed 1.0: a thumbnail comes with its size, or not at all.
  if (!v.poster.empty() && v.poster_width > 0 && v.poster_height > 0) {
    j["thumbnail_url"] = PosterUrl(v, base);
    j["thumbnail_width"] = v.poster_width;
    j["thumbnail_height"] = v.poster_height;
  }
  return j;
}

}  // namespace newsreel::streaming
