#include "transcoder/media_allowlist.h"

#include <gst/base/gsttypefindhelper.h>
#include <gst/gst.h>

#include <array>
#include <fstream>
#include <vector>

#include "transcoder/gst_util.h"

namespace newsreel::transcoder {

namespace {

// How much of a file typefinding reads: enough for MPEG-TS (a few packets) and MP3 (several
// frames) after a long ID3 tag.
constexpr size_t kTypefindBytes = 1 << 20;

// At most this many ID3v2 tags in a row are skipped (taggers leave one or two).
constexpr int kMaxId3Tags = 8;

// Containers and elementary streams that hold their media themselves.
constexpr std::array<std::string_view, 18> kAllowed = {
    "video/quicktime",  // MP4, MOV, M4A (qtdemux)
    "application/x-3gp", "video/x-matroska", "video/webm",      "video/mpegts",
    "video/mpeg",  // program streams
    "video/x-msvideo",   "video/x-flv",      "application/ogg", "application/mxf",
    "audio/mpeg",  // MP3, ADTS AAC
    "audio/x-wav",       "audio/x-flac",     "audio/x-aiff",    "audio/x-ac3",
    "audio/x-eac3",      "audio/x-opus",     "audio/ogg",
};

// What a refused type is, for the reporter's error message.
struct Refused {
  std::string_view caps_name, what;
};
constexpr std::array<Refused, 8> kRefused = {{
    {"application/x-hls", "an HLS playlist, which names media elsewhere"},
    {"application/dash+xml", "a DASH manifest, which names media elsewhere"},
    {"application/vnd.ms-sstr+xml", "a Smooth Streaming manifest, which names media elsewhere"},
    {"application/sdp", "an SDP description of a network stream"},
    {"application/smil", "a SMIL presentation, which names media elsewhere"},
    {"text/uri-list", "a list of addresses"},
    {"application/xspf+xml", "a playlist, which names media elsewhere"},
    {"application/x-ms-asx", "a playlist, which names media elsewhere"},
}};

// Network sources and sinks, demuxers of playlists and stream descriptions, and sources of
// other files or devices.
constexpr std::array<std::string_view, 24> kNeverPlugged = {
    "souphttpsrc", "curlhttpsrc",   "giosrc",       "neonhttpsrc", "rtspsrc",      "rtmpsrc",
    "rtmp2src",    "srtsrc",        "srtclientsrc", "udpsrc",      "tcpclientsrc", "hlsdemux",
    "hlsdemux2",   "dashdemux",     "dashdemux2",   "mssdemux",    "mssdemux2",    "sdpdemux",
    "sdpsrc",      "playlistdemux", "multifilesrc", "splitmuxsrc", "v4l2src",      "filesrc",
};

std::string_view ToView(const char* s) { return s ? std::string_view(s) : std::string_view(); }

// The size of an ID3v2 tag at the head of `data`, or 0.
size_t Id3v2Size(const std::vector<char>& data) {
  if (data.size() < 10 || data[0] != 'I' || data[1] != 'D' || data[2] != '3') return 0;
  size_t size = 0;
  for (int i = 6; i < 10; ++i) {
    const auto b = static_cast<unsigned char>(data[static_cast<size_t>(i)]);
    if (b & 0x80) return 0;  // not syncsafe: not a tag
    size = (size << 7) | b;
  }
  const bool footer = (static_cast<unsigned char>(data[5]) & 0x10) != 0;
  return 10 + size + (footer ? 10 : 0);
}

Result<std::string> Typefind(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError("cannot read " + path);
  std::vector<char> head;
  // The ID3v2 tags in front are skipped one after another, a bounded number of them: a file of
  // nothing but stacked empty tags (10 bytes each) is refused, not followed to its end.
  size_t offset = 0;
  for (int tags = 0;; ++tags) {
    head.resize(kTypefindBytes);
    in.clear();
    in.seekg(static_cast<std::streamoff>(offset));
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<size_t>(in.gcount()));
    if (head.empty()) return InvalidArgument("not a media file (nothing after its tags): " + path);
    const size_t tag = Id3v2Size(head);
    if (tag == 0) break;
    if (tags == kMaxId3Tags)
      return InvalidArgument("not a media file (more than " + std::to_string(kMaxId3Tags) +
                             " ID3 tags in a row): " + path);
    offset += tag;
  }
  EnsureGstInit();
  GstTypeFindProbability probability = GST_TYPE_FIND_NONE;
  CapsPtr caps(gst_type_find_helper_for_data(nullptr, reinterpret_cast<const guint8*>(head.data()),
                                             head.size(), &probability));
  if (!caps || gst_caps_is_empty(caps.get()))
    return InvalidArgument("not a media file (unrecognised format): " + path);
  return std::string(ToView(gst_structure_get_name(gst_caps_get_structure(caps.get(), 0))));
}

}  // namespace

std::string_view DescribesMediaElsewhere(std::string_view caps_name) {
  for (const Refused& r : kRefused)
    if (caps_name == r.caps_name) return r.what;
  return {};
}

Status CheckMediaType(std::string_view name) {
  for (std::string_view allowed : kAllowed)
    if (name == allowed) return Status::Ok();
  if (std::string_view what = DescribesMediaElsewhere(name); !what.empty())
    return InvalidArgument("not a media file (" + std::string(what) + ")");
  if (name.starts_with("text/") || name.ends_with("+xml") || name == "application/xml")
    return InvalidArgument("not a media file (text: " + std::string(name) + ")");
  return InvalidArgument("not a media file (" + std::string(name) + " is not accepted for upload)");
}

Result<std::string> CheckMediaFormat(const std::string& path) {
  auto type = Typefind(path);
  if (!type.ok()) return type;
  Status allowed = CheckMediaType(*type);
  if (!allowed.ok()) return Status(allowed.code(), allowed.message() + ": " + path);
  return type;
}

bool RefusesToPlug(std::string_view factory_name) {
  for (std::string_view never : kNeverPlugged)
    if (factory_name == never) return true;
  return false;
}

void UnrankOutsideElements() {
  for (std::string_view never : kNeverPlugged) {
    if (never == "filesrc") continue;
    GstElementFactory* factory = gst_element_factory_find(std::string(never).c_str());
    if (factory == nullptr) continue;  // its plugin is not installed
    gst_plugin_feature_set_rank(GST_PLUGIN_FEATURE(factory), GST_RANK_NONE);
    gst_object_unref(factory);
  }
}

}  // namespace newsreel::transcoder
