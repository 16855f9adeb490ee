#include "transcoder/probe.h"

#include <gst/app/gstappsink.h>
#include <gst/pbutils/pbutils.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "common/log.h"
#include "transcoder/gst_util.h"
#include "transcoder/media_allowlist.h"
#include "transcoder/media_extent.h"

namespace newsreel::transcoder {
namespace {

namespace fs = std::filesystem;

struct DiscovererInfoUnref {
  void operator()(GstDiscovererInfo* i) const {
    if (i != nullptr) gst_discoverer_info_unref(i);
  }
};
struct StreamListFree {
  void operator()(GList* l) const { gst_discoverer_stream_info_list_free(l); }
};
using DiscovererInfoPtr = std::unique_ptr<GstDiscovererInfo, DiscovererInfoUnref>;
using StreamList = std::unique_ptr<GList, StreamListFree>;

std::string ShortCodecName(const GstCaps* caps) {
  if (caps == nullptr || gst_caps_get_size(caps) == 0) return "unknown";
  const GstStructure* s = gst_caps_get_structure(caps, 0);
  std::string name = gst_structure_get_name(s);
  if (name == "video/x-h264") return "h264";
  if (name == "video/x-h265") return "hevc";
  if (name == "video/x-vp8") return "vp8";
  if (name == "video/x-vp9") return "vp9";
  if (name == "video/x-av1") return "av1";
  if (name == "video/mpeg") {
    int v = 0;
    gst_structure_get_int(s, "mpegversion", &v);
    return v == 4 ? "mpeg4" : "mpeg2";
  }
  if (name == "audio/mpeg") {
    int v = 0;
    gst_structure_get_int(s, "mpegversion", &v);
    if (v == 1) {
      int layer = 3;
      gst_structure_get_int(s, "layer", &layer);
      return "mp" + std::to_string(layer);
    }
    return "aac";
  }
  if (name == "audio/x-vorbis") return "vorbis";
  if (name == "audio/x-opus") return "opus";
  if (name == "audio/x-ac3") return "ac3";
  if (name == "audio/x-flac") return "flac";
  if (name.rfind("audio/x-raw", 0) == 0) return "pcm";
  auto slash = name.find('/');
  std::string rest = slash == std::string::npos ? name : name.substr(slash + 1);
  if (rest.rfind("x-", 0) == 0) rest = rest.substr(2);
  return rest;
}

std::string Describe(const GstCaps* caps) {
  if (caps == nullptr) return "";
  GCharPtr d(gst_pb_utils_get_codec_description(caps));
  return d ? d.get() : "";
}

// True when the stream is raw or some installed decoder accepts its caps.
bool HasDecoder(const GstCaps* caps) {
  if (caps == nullptr || gst_caps_get_size(caps) == 0) return false;
  const char* name = gst_structure_get_name(gst_caps_get_structure(caps, 0));
  if (g_str_has_suffix(name, "/x-raw")) return true;
  GList* decoders =
      gst_element_factory_list_get_elements(GST_ELEMENT_FACTORY_TYPE_DECODER, GST_RANK_MARGINAL);
  GList* usable = gst_element_factory_list_filter(decoders, caps, GST_PAD_SINK, FALSE);
  bool found = usable != nullptr;
  gst_plugin_feature_list_free(usable);
  gst_plugin_feature_list_free(decoders);
  return found;
}

// Reads the image-orientation tag ("rotate-90", "flip-rotate-270", ...).
void ApplyOrientationTag(const GstTagList* tags, VideoStreamInfo& v) {
  if (tags == nullptr) return;
  gchar* orientation = nullptr;
  if (!gst_tag_list_get_string(tags, GST_TAG_IMAGE_ORIENTATION, &orientation)) return;
  GCharPtr guard(orientation);
  std::string o = orientation;
  if (o.rfind("flip-", 0) == 0) {
    v.mirrored = true;
    o = o.substr(5);
  }
  if (o == "rotate-90") v.rotation = 90;
  if (o == "rotate-180") v.rotation = 180;
  if (o == "rotate-270") v.rotation = 270;
}

// Scans up to `max_packets` video packet timestamps without decoding, to tell a variable frame
// rate (phones record one) from a constant one. Returns average fps and whether it varies.
struct CadenceScan {
  bool ok = false;
  bool variable = false;
  double average_fps = 0;
};

CadenceScan ScanVideoCadence(const std::string& path, int max_packets,
                             std::chrono::seconds timeout) {
  CadenceScan result;
  Pipeline pipeline("cadence-scan");
  auto src = MakeElement("filesrc");
  auto parse = MakeElement("parsebin");
  auto sink = MakeElement("appsink");
  if (!src || !parse || !sink) return result;
  RefuseOutsideElements(parse.get());
  g_object_set(src.get(), "location", path.c_str(), nullptr);
  g_object_set(sink.get(), "sync", FALSE, "max-buffers", 64, "drop", FALSE, nullptr);
  GstElement* s = pipeline.Add(std::move(src));
  GstElement* p = pipeline.Add(std::move(parse));
  GstElement* a = pipeline.Add(std::move(sink));
  gst_element_link(s, p);
  struct Ctx {
    GstElement* pipeline;
    GstElement* appsink;
    bool linked = false;
  } ctx{pipeline.element(), a};
  g_signal_connect(
      p, "pad-added", G_CALLBACK(+[](GstElement*, GstPad* pad, gpointer user) noexcept {
        auto* c = static_cast<Ctx*>(user);
        CapsPtr caps(gst_pad_query_caps(pad, nullptr));
        const char* name = gst_structure_get_name(gst_caps_get_structure(caps.get(), 0));
        if (!c->linked && g_str_has_prefix(name, "video/")) {
          GstPtr<GstPad> sinkpad(gst_element_get_static_pad(c->appsink, "sink"));
          if (gst_pad_link(pad, sinkpad.get()) == GST_PAD_LINK_OK) c->linked = true;
          return;
        }
        GstElement* fake = gst_element_factory_make("fakesink", nullptr);
        g_object_set(fake, "sync", FALSE, "async", FALSE, nullptr);
        gst_bin_add(GST_BIN(c->pipeline), fake);
        gst_element_sync_state_with_parent(fake);
        GstPtr<GstPad> fpad(gst_element_get_static_pad(fake, "sink"));
        gst_pad_link(pad, fpad.get());
      }),
      &ctx);
  if (gst_element_set_state(pipeline.element(), GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    return result;
  std::vector<GstClockTime> pts;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (static_cast<int>(pts.size()) < max_packets &&
         std::chrono::steady_clock::now() < deadline) {
    SamplePtr sample(gst_app_sink_try_pull_sample(GST_APP_SINK(a), 200 * GST_MSECOND));
    if (!sample) {
      if (gst_app_sink_is_eos(GST_APP_SINK(a))) break;
      MessagePtr msg(gst_bus_pop_filtered(pipeline.bus(), GST_MESSAGE_ERROR));
      if (msg) break;
      continue;
    }
    GstBuffer* b = gst_sample_get_buffer(sample.get());
    if (GST_BUFFER_PTS_IS_VALID(b)) pts.push_back(GST_BUFFER_PTS(b));
  }
  if (pts.size() < 3) return result;
  std::sort(pts.begin(), pts.end());
  std::vector<double> diffs;
  for (size_t i = 1; i < pts.size(); ++i) diffs.push_back(static_cast<double>(pts[i] - pts[i - 1]));
  std::vector<double> sorted = diffs;
  std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
  double median = sorted[sorted.size() / 2];
  if (median <= 0) return result;
  int off = 0;
  for (double d : diffs)
    if (std::fabs(d - median) > 0.1 * median) ++off;
  result.ok = true;
  // More than 2% of frame intervals away from the typical one: the cadence varies.
  result.variable = off * 50 > static_cast<int>(diffs.size());
  result.average_fps =
      1e9 * static_cast<double>(pts.size() - 1) / static_cast<double>(pts.back() - pts.front());
  return result;
}

// What the discoverer found no element for that names media elsewhere ("a DASH manifest, ..."),
// or "". Its missing-plugin details end in "decoder-<caps>".
std::string MissingDescriptionOfMedia(GstDiscovererInfo* info) {
  constexpr std::string_view kDecoder = "|decoder-";
  const gchar** details = gst_discoverer_info_get_missing_elements_installer_details(info);
  for (int i = 0; details != nullptr && details[i] != nullptr; ++i) {
    const std::string_view detail = details[i];
    const size_t at = detail.rfind(kDecoder);
    if (at == std::string_view::npos) continue;
    CapsPtr caps(gst_caps_from_string(std::string(detail.substr(at + kDecoder.size())).c_str()));
    if (!caps || gst_caps_is_empty(caps.get()) || gst_caps_is_any(caps.get())) continue;
    const std::string_view what =
        DescribesMediaElsewhere(gst_structure_get_name(gst_caps_get_structure(caps.get(), 0)));
    if (!what.empty()) return std::string(what);
  }
  return "";
}

// A frame rate worth believing. The stream's own timing data, which an uploader controls, gives
// it: outside this range it is taken as unknown.
bool PlausibleFps(double fps) { return fps >= 0.1 && fps <= 1000; }

// Nearest simple fraction for a measured frame rate (29.97 -> 30000/1001, 25.0 -> 25/1).
void FpsToFraction(double fps, int& n, int& d) {
  static const int kNtsc[] = {24, 30, 60};
  for (int base : kNtsc) {
    double ntsc = base * 1000.0 / 1001.0;
    if (std::fabs(fps - ntsc) < 0.005) {
      n = base * 1000;
      d = 1001;
      return;
    }
  }
  if (std::fabs(fps - std::round(fps)) < 0.05) {
    n = static_cast<int>(std::lround(fps));
    d = 1;
    return;
  }
  n = static_cast<int>(std::lround(fps * 1000));
  d = 1000;
}

}  // namespace

void ComputeDisplaySize(VideoStreamInfo& v) {
  double w = v.width;
  double h = v.height;
  if (v.par_n > 0 && v.par_d > 0 && v.par_n != v.par_d) w = w * v.par_n / v.par_d;
  int dw = static_cast<int>(std::lround(w));
  int dh = static_cast<int>(std::lround(h));
  if (v.rotation == 90 || v.rotation == 270) std::swap(dw, dh);
  v.display_width = dw;
  v.display_height = dh;
}

Result<MediaInfo> Probe(const std::string& path, std::chrono::seconds timeout) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return NotFound("no such file: " + path);
  if (!fs::is_regular_file(path, ec)) return InvalidArgument("not a regular file: " + path);
  auto size = fs::file_size(path, ec);
  if (ec) return IoError("cannot read " + path + ": " + ec.message());
  if (size == 0) return InvalidArgument("file is empty: " + path);
  // Before any demuxer sees the file: playlists and stream descriptions would make GStreamer
  // fetch what they name (media_allowlist.h).
  const auto started = std::chrono::steady_clock::now();
  auto format = CheckMediaFormat(path);
  if (!format.ok()) return format.status();

  EnsureGstInit();
  GError* err = nullptr;
  GObjectPtr<GstDiscoverer> disc(
      gst_discoverer_new(static_cast<GstClockTime>(timeout.count()) * GST_SECOND, &err));
  if (!disc) {
    GErrorPtr guard(err);
    return Internal(std::string("cannot create GstDiscoverer: ") + (err ? err->message : "?"));
  }
  GCharPtr uri(gst_filename_to_uri(path.c_str(), &err));
  if (!uri) {
    GErrorPtr guard(err);
    return InvalidArgument("bad path: " + path);
  }
  DiscovererInfoPtr info(gst_discoverer_discover_uri(disc.get(), uri.get(), &err));
  GErrorPtr err_guard(err);
  GstDiscovererResult r = info ? gst_discoverer_info_get_result(info.get()) : GST_DISCOVERER_ERROR;
  switch (r) {
    case GST_DISCOVERER_OK:
      break;
    case GST_DISCOVERER_TIMEOUT:
      return Status(ErrorCode::kTimeout,
                    "probing took longer than " + std::to_string(timeout.count()) + " s: " + path);
    case GST_DISCOVERER_MISSING_PLUGINS:
      // Often only a side track (Apple's "mebx" metadata) lacks a decoder; the streams we can
      // decode are kept below, and a file with none of them is refused there.
      break;
    case GST_DISCOVERER_URI_INVALID:
      return InvalidArgument("cannot open " + path);
    default: {
      std::string why = err != nullptr ? err->message : "unknown error";
      // GStreamer says "Could not determine type of stream." for files that are not media.
      if (why.find("determine type") != std::string::npos)
        return InvalidArgument("not a media file (unrecognised format): " + path);
      return InvalidArgument("not a media file (" + why + "): " + path);
    }
  }

  MediaInfo m;
  m.path = path;
  m.size_bytes = static_cast<int64_t>(size);
  GstClockTime dur = gst_discoverer_info_get_duration(info.get());
  m.duration_ns = GST_CLOCK_TIME_IS_VALID(dur) ? static_cast<int64_t>(dur) : 0;
  GstDiscovererStreamInfo* top = gst_discoverer_info_get_stream_info(info.get());
  if (top != nullptr) {
    if (GST_IS_DISCOVERER_CONTAINER_INFO(top)) {
      CapsPtr caps(gst_discoverer_stream_info_get_caps(top));
      m.container = Describe(caps.get());
    }
    gst_discoverer_stream_info_unref(top);
  }

  StreamList videos(gst_discoverer_info_get_video_streams(info.get()));
  for (GList* l = videos.get(); l != nullptr; l = l->next) {
    auto* vi = GST_DISCOVERER_VIDEO_INFO(l->data);
    if (gst_discoverer_video_info_is_image(vi)) continue;  // cover art, not a video track
    VideoStreamInfo v;
    CapsPtr caps(gst_discoverer_stream_info_get_caps(GST_DISCOVERER_STREAM_INFO(vi)));
    if (!HasDecoder(caps.get())) {
      NR_LOG(kWarning) << "probe: no decoder for video stream " << Describe(caps.get()) << " in "
                       << path;
      continue;
    }
    v.codec = ShortCodecName(caps.get());
    v.description = Describe(caps.get());
    v.width = static_cast<int>(gst_discoverer_video_info_get_width(vi));
    v.height = static_cast<int>(gst_discoverer_video_info_get_height(vi));
    v.par_n = static_cast<int>(gst_discoverer_video_info_get_par_num(vi));
    v.par_d = static_cast<int>(gst_discoverer_video_info_get_par_denom(vi));
    if (v.par_n <= 0 || v.par_d <= 0) v.par_n = v.par_d = 1;
    v.fps_n = static_cast<int>(gst_discoverer_video_info_get_framerate_num(vi));
    v.fps_d = static_cast<int>(gst_discoverer_video_info_get_framerate_denom(vi));
    // An implausible rate is unknown: the packet scan below tells it, or 25 fps is assumed.
    if (v.fps_n > 0 && v.fps_d > 0 && !PlausibleFps(static_cast<double>(v.fps_n) / v.fps_d))
      v.fps_n = 0;
    if (v.fps_d <= 0) {
      v.fps_n = 0;
      v.fps_d = 1;
    }
    v.interlaced = gst_discoverer_video_info_is_interlaced(vi);
    // GstDiscoverer reports bits per pixel (24 for 8-bit 4:2:0 and 4:4:4 alike).
    int bpp = static_cast<int>(gst_discoverer_video_info_get_depth(vi));
    v.bit_depth = bpp >= 24 ? bpp / 3 : 8;
    if (caps && gst_caps_get_size(caps.get()) > 0) {
      const char* colorimetry =
          gst_structure_get_string(gst_caps_get_structure(caps.get(), 0), "colorimetry");
      if (colorimetry != nullptr) v.colorimetry = colorimetry;
      const char* profile =
          gst_structure_get_string(gst_caps_get_structure(caps.get(), 0), "profile");
      if (profile != nullptr && std::string(profile).find("10") != std::string::npos)
        v.bit_depth = std::max(v.bit_depth, 10);
    }
    v.bitrate = gst_discoverer_video_info_get_bitrate(vi);
    ApplyOrientationTag(gst_discoverer_stream_info_get_tags(GST_DISCOVERER_STREAM_INFO(vi)), v);
    ComputeDisplaySize(v);
    m.video.push_back(v);
  }

  StreamList audios(gst_discoverer_info_get_audio_streams(info.get()));
  for (GList* l = audios.get(); l != nullptr; l = l->next) {
    auto* ai = GST_DISCOVERER_AUDIO_INFO(l->data);
    AudioStreamInfo a;
    CapsPtr caps(gst_discoverer_stream_info_get_caps(GST_DISCOVERER_STREAM_INFO(ai)));
    if (!HasDecoder(caps.get())) {
      NR_LOG(kWarning) << "probe: no decoder for audio stream " << Describe(caps.get()) << " in "
                       << path;
      continue;
    }
    a.codec = ShortCodecName(caps.get());
    a.description = Describe(caps.get());
    a.channels = static_cast<int>(gst_discoverer_audio_info_get_channels(ai));
    a.sample_rate = static_cast<int>(gst_discoverer_audio_info_get_sample_rate(ai));
    a.bitrate = gst_discoverer_audio_info_get_bitrate(ai);
    m.audio.push_back(a);
  }

  if (!m.has_video() && !m.has_audio()) {
    // Our typefinding of the head admitted it; GStreamer's, of more of the file, found a
    // playlist or a manifest, which nothing plugs (media_allowlist.h): said as such.
    if (auto refused = MissingDescriptionOfMedia(info.get()); !refused.empty())
      return InvalidArgument("not a media file (" + refused + "): " + path);
    if (r == GST_DISCOVERER_MISSING_PLUGINS)
      return Unsupported("no decoder installed for any stream in " + path);
    return InvalidArgument("not a media file (no audio or video stream found): " + path);
  }
  if (m.duration_ns <= 0 && *format == "video/mpegts") {
    // The discoverer has no duration for a TS of a few seconds (it estimates a TS's duration
    // from its PCRs, and some need more); its packets' timestamps tell it, within what is left
    // of `timeout`.
    const auto left = timeout - std::chrono::duration_cast<std::chrono::seconds>(
                                    std::chrono::steady_clock::now() - started);
    if (left <= std::chrono::seconds(0))
      return Status(ErrorCode::kTimeout,
                    "probing took longer than " + std::to_string(timeout.count()) + " s: " + path);
    auto extents = MeasureByParsing(path, timeout, left);
    if (!extents.ok() && extents.status().code() != ErrorCode::kInvalidArgument)
      return extents.status().WithContext("probing " + path);
    if (extents.ok()) {
      m.duration_ns = extents->length_ns();
      m.duration_from_packets = true;
      NR_LOG(kInfo) << "probe: no duration in " << path << "; its packets run "
                    << static_cast<double>(m.duration_ns) / 1e9 << " s";
    }
  }
  if (m.duration_ns <= 0)
    return InvalidArgument("duration unknown or zero (file cut short?): " + path);

  if (m.has_video()) {
    VideoStreamInfo& v = m.video.front();
    CadenceScan scan = ScanVideoCadence(path, 300, std::chrono::seconds(10));
    if (scan.ok && PlausibleFps(scan.average_fps)) {
      v.variable_frame_rate = scan.variable;
      if (v.fps_n <= 0 || v.variable_frame_rate) FpsToFraction(scan.average_fps, v.fps_n, v.fps_d);
    }
    if (v.fps_n <= 0) {  // a single picture or a stream without timing: assume 25 fps
      v.fps_n = 25;
      v.fps_d = 1;
    }
  }
  return m;
}

nlohmann::json ToJson(const MediaInfo& info) {
  nlohmann::json j;
  j["path"] = info.path;
  j["container"] = info.container;
  j["size_bytes"] = info.size_bytes;
  j["duration_seconds"] = info.duration_seconds();
  j["streams"] = nlohmann::json::array();
  for (const auto& v : info.video) {
    j["streams"].push_back(
        {{"type", "video"},
         {"codec", v.codec},
         {"description", v.description},
         {"width", v.width},
         {"height", v.height},
         {"pixel_aspect_ratio", std::to_string(v.par_n) + ":" + std::to_string(v.par_d)},
         {"rotation", v.rotation},
         {"display_width", v.display_width},
         {"display_height", v.display_height},
         {"frame_rate", v.frame_rate()},
         {"frame_rate_fraction", std::to_string(v.fps_n) + "/" + std::to_string(v.fps_d)},
         {"variable_frame_rate", v.variable_frame_rate},
         {"interlaced", v.interlaced},
         {"bit_depth", v.bit_depth},
         {"colorimetry", v.colorimetry},
         {"bitrate", v.bitrate}});
  }
  for (const auto& a : info.audio) {
    j["streams"].push_back({{"type", "audio"},
                            {"codec", a.codec},
                            {"description", a.description},
                            {"channels", a.channels},
                            {"sample_rate", a.sample_rate},
                            {"bitrate", a.bitrate}});
  }
  return j;
}

}  // namespace newsreel::transcoder
