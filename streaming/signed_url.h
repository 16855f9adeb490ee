#pragma once
// Signed media URLs: how drafts and unlisted videos are played (docs/serving.md, "Signed URLs").
//
// A signed URL carries its signature as one path segment right after the video id:
//
//   /media/<video-id>/~s.<expires>.<signature>/master.m3u8        any client address
//   /media/<video-id>/~a.<expires>.<signature>/720p/seg_00001.ts  only from one client address
//
// `expires` is the last valid second (Unix time, decimal, no leading zeros); `signature` is the
// HMAC-SHA256, in 64 lower-case hex digits, of
//
//   "newsreel-url-v1\n" <scope> "\n" <mode> "\n" <expires> "\n" <address>
//
// with the server's key (data/signing-key), where <scope> is "/media/<video-id>/", <mode> is
// "s" or "a", and <address> is the client's address (canonical, as CanonicalAddress writes it)
// for "a" and empty for "s". The signature thus covers everything below one video's folder, so
// that the playlists need no rewriting: the relative URIs inside master.m3u8, the rung
// playlists and storyboard.vtt resolve under the same prefix, and every segment, poster and
// storyboard request carries the signature. No path segment of a media file can start with
// '~' (media_files.h), so a signed path is never mistaken for a file.
//
// Everything here is pure (no clock, no socket, no file) and thread-safe.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace newsreel::streaming {

inline constexpr size_t kSigningKeyBytes = 32;
using SigningKey = std::array<unsigned char, kSigningKeyBytes>;

// What a signed media path is worth, in the order the checks run: only a path whose signature
// is right can be told that it expired.
enum class SignatureVerdict {
  kUnsigned,   // no signature segment: an ordinary /media/ path (published videos only)
  kMalformed,  // a signature segment that does not parse (403)
  kForged,     // the HMAC does not match: tampered, another video's path, another address (403)
  kExpired,    // authentic, but its time is over (410)
  kValid,
};
const char* ToString(SignatureVerdict verdict);

struct SignedMediaCheck {
  SignatureVerdict verdict = SignatureVerdict::kUnsigned;
  // The path with the signature segment taken out ("<id>/<file>..."): what is resolved and
  // served. For kUnsigned, the path as given.
  std::string unsigned_rest;
  int64_t expires_at_s = 0;  // kValid and kExpired: the last second the URL is valid
};

// Signs and checks media URLs with one key. Copyable; immutable once made.
class UrlSigner {
 public:
  explicit UrlSigner(const SigningKey& key) : key_(key) {}

  // "/media/<video_id>/~s.<expires>.<sig>/" (or "~a." bound to `address` when it is given;
  // `address` must be canonical and not empty, see CanonicalAddress). The files of the video are
  // reached by appending their relative path ("master.m3u8", "720p/index.m3u8"). `video_id` must be
  // a valid id (catalog/ids.h) and `expires_at_s` >= 0.
  std::string MediaPrefix(std::string_view video_id, int64_t expires_at_s,
                          std::optional<std::string_view> address = std::nullopt) const;

  // Checks `rest`, a /media/ request path after "/media/" ("<id>/~s.../master.m3u8"), at time
  // `now_s` for a client at `client_address` (canonical; empty when unknown, which no bound
  // URL matches). Compares signatures in constant
  // time (CRYPTO_memcmp). The file part is not checked here: ParseMediaPath does that on
  // `unsigned_rest`.
  SignedMediaCheck CheckMediaPath(std::string_view rest, int64_t now_s,
                                  std::string_view client_address) const;

 private:
  std::array<unsigned char, 32> Mac(std::string_view scope, char mode, int64_t expires_at_s,
                                    std::string_view address) const;

  SigningKey key_;
};

// How the API hands out playback URLs for videos that need a signature (drafts, unlisted).
struct PlaybackSigning {
  std::optional<UrlSigner> signer;  // nullopt: none are handed out
  int64_t ttl_seconds = 6 * 3600;   // serve --signed-url-ttl
};

// The expiry of a URL handed out at `now_s` to live `ttl_s`: now + ttl rounded up to a whole
// 5 minutes, so that the URLs handed out within those minutes are the same URL (and a browser
// or player finds the media in its cache when the page is loaded again).
int64_t PlaybackExpiry(int64_t now_s, int64_t ttl_s);

// The canonical text of an IPv4 or IPv6 address ("127.0.0.1", "2001:db8::1"); an IPv4-mapped
// IPv6 address ("::ffff:10.0.0.1") is written as the IPv4 address. nullopt when `text` is not an
// address.
std::optional<std::string> CanonicalAddress(std::string_view text);

// The Cache-Control of a response to a signed URL: "private" (a shared cache must not give it
// to anyone else), with the max-age of `public_value` (its unsigned counterpart, e.g.
// "public, max-age=300") but never past the URL's expiry: "private, max-age=<n>".
std::string SignedCacheControl(std::string_view public_value, int64_t seconds_left);

}  // namespace newsreel::streaming
