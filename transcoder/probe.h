#pragma once
// Probing: what is inside a media file, using GstDiscoverer (plus a short packet scan to tell a
// variable frame rate, and for an MPEG-TS the discoverer gives no duration for, a read of its
// packets to the end: media_extent.h). Runs demuxers: call it only in a worker process, never in
// the server.

#include <chrono>
#include <string>

#include "common/status.h"
#include "transcoder/media_info.h"

namespace newsreel::transcoder {

// Returns the facts of `path`, or an error whose message names the problem in one line:
// missing file, empty file, not a media file, no decodable stream, unsupported codec, timeout.
Result<MediaInfo> Probe(const std::string& path,
                        std::chrono::seconds timeout = std::chrono::seconds(30));

}  // namespace newsreel::transcoder
