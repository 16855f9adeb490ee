#pragma once
// Maps a request path under /media/ (or /live/) to a file that is certainly inside the data
// directory. Everything that could lead elsewhere is refused: "..", ".", empty segments,
// backslashes, NUL and control bytes, percent signs left after decoding, absolute paths, hidden
// names, and symlinks whose target lies outside the video's folder.

#include <filesystem>
#include <string>
#include <string_view>

#include "common/status.h"

namespace newsreel::streaming {

struct MediaTarget {
  std::string video_id;        // the first path segment
  std::string relative;        // the rest, e.g. "720p/seg_00001.ts"
  std::filesystem::path path;  // canonical absolute path of the file
};

// Checks the shape of `rest` ("<id>/<segment>/..."; already percent-decoded once, as lws does)
// without touching the filesystem: each segment is 1..255 characters of [A-Za-z0-9._-], does
// not start with '.', the first is a valid id, and there are at least two segments.
// kInvalidArgument with the reason otherwise.
Result<MediaTarget> ParseMediaPath(std::string_view rest);

// ParseMediaPath, then resolves the file below `root` (the canonical media or live folder):
// kNotFound when the file is not of a kind players fetch (IsServedMediaFile: a worker's state
// file, say), does not exist, is not a regular file, or its canonical path leaves root/<id>/
// (a symlink pointing out).
Result<MediaTarget> ResolveMediaPath(const std::filesystem::path& root, std::string_view rest);

// What /media/ and /live/ serve, by extension: playlists (.m3u8), segments and parts (.ts, .m4s,
// .mp4, .m4a, .aac), pictures (.jpg, .jpeg, .png, .webp) and WebVTT (.vtt). Nothing else in a
// video's folder (live-state.json, ll/ll-state.json, a worker's notes) is anyone's business.
bool IsServedMediaFile(std::string_view relative);

// The web pages (web_player/) under `/`: "" is index.html; "vendor/hls.min.js",
// "vendor/hls.light.min.js" and "vendor/tus.min.js" are the players' libraries from
// web_player/node_modules; anything else is
// one file name of [A-Za-z0-9._-] not starting with '.', directly in `web_root` (canonical).
// kInvalidArgument for a malformed name, kNotFound when there is no such file inside web_root.
Result<std::filesystem::path> ResolveWebPath(const std::filesystem::path& web_root,
                                             std::string_view rest);

}  // namespace newsreel::streaming
