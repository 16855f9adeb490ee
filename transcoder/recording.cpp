#include "transcoder/recording.h"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <mutex>

#include "common/log.h"
#include "transcoder/feed_clock.h"
#include "transcoder/gst_util.h"
#include "transcoder/media_allowlist.h"
#include "transcoder/probe.h"
#include "transcoder/vod_pipeline.h"

namespace newsreel::transcoder {
namespace {

namespace fs = std::filesystem;

// The session number of a file name "<n>.ts", or 0 when the name is not one.
int SessionNumber(const std::string& name) {
  if (name.size() < 4 || name.size() > 12 || !name.ends_with(".ts") || name[0] < '1' ||
      name[0] > '9')
    return 0;
  int n = 0;
  for (size_t i = 0; i + 3 < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return 0;
    n = n * 10 + (name[i] - '0');
  }
  return n;
}

// What the measuring pass saw of one elementary stream, in running time.
struct StreamExtent {
  int64_t first = std::numeric_limits<int64_t>::max();
  int64_t end = std::numeric_limits<int64_t>::min();
  int64_t buffers = 0;
  int64_t keyframes = 0;
  bool seen() const { return buffers > 0 && end > first; }
};

struct Extents {
  std::mutex mu;  // the two streams' streaming threads write, the caller reads after the run
  StreamExtent video, audio;
  GstPad* video_pad = nullptr;  // the fakesink pads measured; others are discarded
  GstPad* audio_pad = nullptr;
  int64_t total_buffers = 0;
  GstElement* pipeline = nullptr;
};

void Measure(GstPad* pad, Extents* x, GstBuffer* b) {
  GstClockTime ts = GST_BUFFER_PTS_IS_VALID(b) ? GST_BUFFER_PTS(b) : GST_BUFFER_DTS(b);
  if (!GST_CLOCK_TIME_IS_VALID(ts)) return;
  const int64_t start = RunningTime(pad, ts);
  // A frame without a duration (a parser's last one) counts as 40 ms, one frame at 25 fps.
  const int64_t duration = GST_BUFFER_DURATION_IS_VALID(b)
                               ? static_cast<int64_t>(GST_BUFFER_DURATION(b))
                               : 40 * static_cast<int64_t>(GST_MSECOND);
  std::lock_guard<std::mutex> lock(x->mu);
  StreamExtent& e = pad == x->video_pad ? x->video : x->audio;
  e.first = std::min(e.first, start);
  e.end = std::max(e.end, start + duration);
  ++e.buffers;
  if (pad == x->video_pad && !GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DELTA_UNIT)) ++e.keyframes;
  ++x->total_buffers;
}

GstPadProbeReturn MeasureBuffers(GstPad* pad, GstPadProbeInfo* info, gpointer user) noexcept {
  auto* x = static_cast<Extents*>(user);
  if ((info->type & GST_PAD_PROBE_TYPE_BUFFER) != 0) {
    Measure(pad, x, GST_PAD_PROBE_INFO_BUFFER(info));
  } else {
    // tsdemux hands Opus on as lists of packets, one PES each.
    GstBufferList* list = GST_PAD_PROBE_INFO_BUFFER_LIST(info);
    for (guint i = 0; i < gst_buffer_list_length(list); ++i)
      Measure(pad, x, gst_buffer_list_get(list, i));
  }
  return GST_PAD_PROBE_OK;
}

void OnParsedPad(GstElement*, GstPad* pad, gpointer user) noexcept {
  auto* x = static_cast<Extents*>(user);
  CapsPtr caps(gst_pad_get_current_caps(pad));
  if (!caps) caps.reset(gst_pad_query_caps(pad, nullptr));
  const char* name = caps && gst_caps_get_size(caps.get()) > 0
                         ? gst_structure_get_name(gst_caps_get_structure(caps.get(), 0))
                         : "";
  NR_LOG(kDebug) << "recording: parsed stream " << name;
  GstElement* sink = gst_element_factory_make("fakesink", nullptr);
  g_object_set(sink, "sync", FALSE, "async", FALSE, nullptr);
  gst_bin_add(GST_BIN(x->pipeline), sink);
  GstPtr<GstPad> sink_pad(gst_element_get_static_pad(sink, "sink"));
  {
    std::lock_guard<std::mutex> lock(x->mu);
    GstPad** slot = nullptr;
    if (g_str_has_prefix(name, "video/") && x->video_pad == nullptr) slot = &x->video_pad;
    if (g_str_has_prefix(name, "audio/") && x->audio_pad == nullptr) slot = &x->audio_pad;
    if (slot != nullptr) {
      *slot = sink_pad.get();  // lives as long as the pipeline
      gst_pad_add_probe(
          sink_pad.get(),
          static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
          &MeasureBuffers, x, nullptr);
    }
  }
  gst_element_sync_state_with_parent(sink);
  gst_pad_link(pad, sink_pad.get());
}

struct SessionTimes {
  StreamExtent video, audio;
};

// Demuxes and parses `path` to its end without decoding, and measures its streams.
Result<SessionTimes> MeasureSession(const std::string& path, std::chrono::seconds timeout) {
  FeedClock clock;  // as the transcode will see the session (feed_clock.h); outlives the pipeline
  Pipeline pipeline("session-scan");
  auto src = MakeElement("filesrc");
  auto parse = MakeElement("parsebin");
  if (!src || !parse) return NotFound("GStreamer element missing: filesrc or parsebin");
  RefuseOutsideElements(parse.get());
  KeepDemuxedFeedsContinuous(parse.get(), &clock);
  g_object_set(src.get(), "location", path.c_str(), nullptr);
  GstElement* s = pipeline.Add(std::move(src));
  GstElement* p = pipeline.Add(std::move(parse));
  if (!gst_element_link(s, p)) return Internal("cannot link filesrc to parsebin");
  Extents x;
  x.pipeline = pipeline.element();
  g_signal_connect(p, "pad-added", G_CALLBACK(&OnParsedPad), &x);
  if (gst_element_set_state(pipeline.element(), GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    return InvalidArgument("cannot start reading " + path);
  auto last_change = std::chrono::steady_clock::now();
  int64_t last_buffers = -1;
  std::string error;
  for (;;) {
    MessagePtr msg(gst_bus_timed_pop_filtered(
        pipeline.bus(), 250 * GST_MSECOND,
        static_cast<GstMessageType>(GST_MESSAGE_ERROR | GST_MESSAGE_EOS)));
    if (msg && GST_MESSAGE_TYPE(msg.get()) == GST_MESSAGE_EOS) break;
    if (msg) {
      // A damaged tail ends the session where it broke; what came before still counts.
      error = DescribeGstMessage(msg.get());
      break;
    }
    int64_t buffers;
    {
      std::lock_guard<std::mutex> lock(x.mu);
      buffers = x.total_buffers;
    }
    auto now = std::chrono::steady_clock::now();
    if (buffers != last_buffers) {
      last_buffers = buffers;
      last_change = now;
    } else if (now - last_change > timeout) {
      error = "no progress for " + std::to_string(timeout.count()) + " s";
      break;
    }
  }
  if (!pipeline.StopWithin(std::chrono::seconds(20)))
    return Internal("reading " + path + " did not stop");
  std::lock_guard<std::mutex> lock(x.mu);
  if (!error.empty()) {
    NR_LOG(kWarning) << "recording: reading " << path << " ended early: " << error;
    if (!x.video.seen()) return InvalidArgument(error);
  }
  NR_LOG(kDebug) << "recording: " << path << ": video " << x.video.first << ".." << x.video.end
                 << " (" << x.video.buffers << ", " << x.video.keyframes << " key), audio "
                 << x.audio.first << ".." << x.audio.end << " (" << x.audio.buffers << ")";
  return SessionTimes{x.video, x.audio};
}

// Checks and measures one session; an error says why it is left out.
Result<RecordingSession> OpenSession(const std::string& path, std::chrono::seconds timeout) {
  auto type = CheckMediaFormat(path);
  if (!type.ok()) return type.status();
  if (*type != "video/mpegts") return InvalidArgument("not MPEG-TS (" + *type + ")");
  auto info = Probe(path);
  if (!info.ok()) return info.status();
  if (!info->has_video()) return InvalidArgument("no video stream that can be decoded");
  auto times = MeasureSession(path, timeout);
  if (!times.ok()) return times.status();
  if (!times->video.seen() || times->video.keyframes == 0)
    return InvalidArgument("no picture that can be decoded (no keyframe)");
  RecordingSession s;
  s.path = path;
  s.info = std::move(*info);
  s.has_audio = times->audio.seen() && s.info.has_audio();
  s.origin_ns = times->video.first;
  int64_t end = times->video.end;
  if (s.has_audio) {
    s.origin_ns = std::min(s.origin_ns, times->audio.first);
    end = std::max(end, times->audio.end);
  }
  s.length_ns = end - s.origin_ns;
  return s;
}

int64_t Pixels(const RecordingSession& s) {
  const VideoStreamInfo& v = s.info.video.front();
  return static_cast<int64_t>(v.display_width) * v.display_height;
}

}  // namespace

bool IsRecordingFolder(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

Result<std::vector<std::string>> ListRecordingSessions(const std::string& folder) {
  std::error_code ec;
  std::vector<std::pair<int, std::string>> found;
  fs::directory_iterator it(folder, ec);
  if (ec) return IoError("cannot list " + folder + ": " + ec.message());
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return IoError("cannot list " + folder + ": " + ec.message());
    const int n = SessionNumber(it->path().filename().string());
    if (n == 0) continue;
    // Not followed: a link could name any file on the machine.
    if (!fs::is_regular_file(it->symlink_status(ec))) continue;
    found.emplace_back(n, it->path().string());
    if (found.size() > static_cast<size_t>(kMaxRecordingSessions))
      return InvalidArgument("recording has more than " + std::to_string(kMaxRecordingSessions) +
                             " sessions: " + folder);
  }
  if (found.empty())
    return NotFound("recording holds no session files (1.ts, 2.ts, ...): " + folder);
  std::sort(found.begin(), found.end());
  std::vector<std::string> paths;
  for (auto& [n, path] : found) paths.push_back(std::move(path));
  return paths;
}

Result<Recording> OpenRecording(const std::string& folder, std::chrono::seconds timeout) {
  auto paths = ListRecordingSessions(folder);
  if (!paths.ok()) return paths.status();
  Recording r;
  int64_t offset = 0;
  for (const std::string& path : *paths) {
    auto session = OpenSession(path, timeout);
    if (!session.ok()) {
      std::string w = "session " + fs::path(path).filename().string() +
                      " left out: " + session.status().message();
      NR_LOG(kWarning) << "recording: " << w;
      r.warnings.push_back(std::move(w));
      ++r.skipped;
      continue;
    }
    NR_LOG(kInfo) << "recording: " << path << ": " << session->length_ns / 1e9 << " s at "
                  << offset / 1e9 << " s" << (session->has_audio ? "" : ", no audio");
    session->offset_ns = offset;
    offset += session->length_ns;
    r.sessions.push_back(std::move(*session));
  }
  if (r.sessions.empty())
    return InvalidArgument("recording holds nothing that can be decoded (" +
                           std::to_string(r.skipped) + " session" + (r.skipped == 1 ? "" : "s") +
                           " left out): " + folder);

  const RecordingSession* largest = &r.sessions.front();
  for (const RecordingSession& s : r.sessions)
    if (Pixels(s) > Pixels(*largest) ||
        (Pixels(s) == Pixels(*largest) && s.length_ns > largest->length_ns))
      largest = &s;
  MediaInfo& m = r.combined;
  m.path = folder;
  m.container = largest->info.container;
  m.duration_ns = offset;
  m.video.push_back(largest->info.video.front());
  for (const RecordingSession& s : r.sessions) {
    m.size_bytes += s.info.size_bytes;
    if (s.has_audio && m.audio.empty()) m.audio.push_back(s.info.audio.front());
  }
  return r;
}

}  // namespace newsreel::transcoder
