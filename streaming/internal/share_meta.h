#pragma once
// What a link to a video shows where it is shared (issue 17, point 5): the Open Graph and
// Twitter card tags the server writes into watch.html (crawlers run no script), and the oEmbed
// answer (GET /api/v1/oembed, docs/api.md) that partner sites and the province's portal use to
// embed the player page /embed/<id>. Pure functions except PublishedShareFacts (one catalog
// read); safe from any thread.
//
// Only published videos are described: a draft's or an unlisted video's title never leaves the
// server through these tags or through oEmbed.

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "catalog/catalog.h"
#include "common/status.h"

namespace newsreel::streaming {

// Where the site is, for absolute URLs: `public_url` (--public-url, checked by ParsePublicUrl)
// or, without it, the request's own Host header under the scheme the server speaks.
struct SiteAddress {
  std::string
      public_url;    // "https://news.example.vn" or with a path; no trailing '/'; may be empty
  bool tls = false;  // the server speaks https itself
};

// Text for HTML element content and quoted attribute values: & < > " ' escaped.
std::string HtmlEscape(std::string_view text);

// True for a syntactically valid Host header: a DNS name (labels of letters, digits and '-'),
// an IPv4 address or a bracketed IPv6 address, then optionally ':' and a port 1..65535.
bool IsValidHost(std::string_view host);

// Checks a --public-url: "http://" or "https://", a valid host (IsValidHost), then an optional
// path of [A-Za-z0-9._~/-]; no query, fragment or user info. Returns it without trailing '/'.
// kInvalidArgument saying what is wrong otherwise.
Result<std::string> ParsePublicUrl(std::string_view url);

// The site's absolute base URL, without trailing '/': the public URL when set; else
// "http(s)://<host>" when `host` (the request's Host header) is valid; else nullopt (then no
// absolute URL can be written).
std::optional<std::string> SiteBase(const SiteAddress& site, std::string_view host);

// What the share tags and oEmbed say about a published, ready video.
struct ShareFacts {
  std::string id;
  std::string title;
  std::string description;
  std::string reporter;
  std::string poster;  // the poster's path in the video's media folder ("poster.jpg"); "" = none
  int poster_width = 0, poster_height = 0;  // 0: unknown
  int width = 0, height = 0;                // the largest rendition's size; 0: unknown
};

// The facts of video `id` when it is published and ready; nullopt for anything else (no such
// video, a draft, an unlisted one, one not transcoded yet, a malformed id). One read of
// `catalog`, which belongs to the calling thread.
std::optional<ShareFacts> PublishedShareFacts(catalog::Catalog& catalog, std::string_view id);

// The absolute URLs of a video's pages, under `base` (SiteBase).
std::string WatchUrl(std::string_view base, std::string_view id);
std::string EmbedUrl(std::string_view base, std::string_view id);

// The tags for watch.html?id=<v.id>: Open Graph (og:type video.other, title, description,
// image with its size, video = the embed page as text/html, secure_url when https, url),
// the Twitter player card, and the oEmbed discovery link. Every value is HTML-escaped. With
// an empty `base` only the tags without an absolute URL (type, title, description).
std::string WatchPageTags(const ShareFacts& v, std::string_view base);

// `html` with `tags` inserted just before its "</head>" (case-insensitive); `html` as it is
// when it has none.
std::string InsertIntoHead(std::string_view html, std::string_view tags);

struct FrameSize {
  int width = 0;
  int height = 0;
};

// The embedded player's size for oEmbed: the video's aspect (16:9 when unknown), 640 on the
// longer side (never larger than the video), scaled down to fit `max_width` and `max_height`
// (0: no bound). Never below 1x1.
FrameSize OembedSize(int video_width, int video_height, int max_width, int max_height);

// The video a watch or embed URL of this site names: "<base>/watch.html?...id=<id>..." or
// "<base>/embed/<id>" (a query or fragment after either is allowed). `base` is compared
// with the URL's scheme and host case-insensitively. nullopt for any other URL, including one
// of another site or with a malformed id.
std::optional<std::string> VideoIdOfUrl(std::string_view url, std::string_view base);

// The oEmbed 1.0 "video" answer for `v`, its player `size` (OembedSize).
nlohmann::json OembedJson(const ShareFacts& v, std::string_view base, FrameSize size);

}  // namespace newsreel::streaming
