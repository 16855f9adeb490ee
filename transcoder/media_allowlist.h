#pragma once
// Which uploads may reach a demuxer. Some formats name other resources instead of holding media
// (HLS and DASH playlists, SDP, SMIL, URI lists): GStreamer would follow them (hlsdemux, dashdemux
// and souphttpsrc, sdpdemux and udpsrc) and fetch what a stranger chose, from inside the
// newsroom's network. A file is therefore typefound from its own bytes first and admitted only
// when it is one of the containers and streams on the allow-list; everything else is "not a media
// file". The pipelines also refuse to plug any element that reaches outside the input file
// (RefusesToPlug), in case a container hides one, and no autoplugger of the process can even
// see such an element (UnrankOutsideElements): GstDiscoverer's own typefinding may disagree with
// ours, and its decodebin takes no autoplug-select of ours.

#include <string>
#include <string_view>

#include "common/status.h"

namespace newsreel::transcoder {

// Typefinds `path` from its first bytes (ID3v2 tags in front, at most 8, are skipped, and what
// follows them is typefound in turn) and returns the media type it found ("video/quicktime") when
// it is allowed. kInvalidArgument "not a media file (...)" naming what it is otherwise: a playlist
// or another description of media elsewhere, or an unrecognised format. kIo when the file cannot be
// read.
Result<std::string> CheckMediaFormat(const std::string& path);

// The same decision for a media type found elsewhere (a typefind's caps name).
Status CheckMediaType(std::string_view caps_name);

// What a media type that names media elsewhere is ("a DASH manifest, which names media
// elsewhere"), or "" for any other type.
std::string_view DescribesMediaElsewhere(std::string_view caps_name);

// Whether an element of factory `factory_name` must never be plugged into a pipeline over an
// upload: network sources, playlist and stream-description demuxers, sources of other files.
bool RefusesToPlug(std::string_view factory_name);

// Lowers every element factory RefusesToPlug names (but filesrc, which the pipelines make by
// name and uridecodebin picks for file:// URIs) to rank none, so that no decodebin, parsebin or
// uridecodebin of the process plugs one or picks it for a URI; creating one by name still works.
// EnsureGstInit calls it once.
void UnrankOutsideElements();

}  // namespace newsreel::transcoder
