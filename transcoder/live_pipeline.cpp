#include "transcoder/live_pipeline.h"

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/base/gsttypefindhelper.h>
#include <gst/video/video.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "common/log.h"
#include "transcoder/aac_bundle.h"
#include "transcoder/aac_encoder.h"
#include "transcoder/atomic_file.h"
#include "transcoder/audio_decoder.h"
#include "transcoder/encoder_registry.h"
#include "transcoder/encoder_trial.h"
#include "transcoder/feed_clock.h"
#include "transcoder/gst_util.h"
#include "transcoder/live_playlist.h"
#include "transcoder/ll_packager.h"
#include "transcoder/ll_playlist.h"
#include "transcoder/media_allowlist.h"
#include "transcoder/ts_scanner.h"
#include "transcoder/video_decoder.h"
#include "transcoder/video_timeline.h"
#include "transcoder/vod_pipeline.h"

namespace newsreel::transcoder {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr size_t kChunkBytes = 64 * 1024;
// Typefinding needs a few packets; MPEG-TS's own typefinder looks for several in a row.
constexpr size_t kTypefindBytes = 64 * 1024;
// Input held while waiting for the first picture's parameters (an SPS with its IDR): many GOPs
// of any sane stream.
constexpr size_t kMaxProbeBytes = 32u << 20;
constexpr char kMasterPlaylist[] = "master.m3u8";
constexpr char kMediaPlaylist[] = "index.m3u8";
constexpr char kSegmentClosed[] = "newsreel-segment-closed";
constexpr char kPartClosed[] = "newsreel-part-closed";
constexpr char kLlDir[] = "ll";

// The slate: a still picture, so a low frame rate loses nothing and costs a sixth of 30 fps
// (measured: docs/live.md). Players take the lower rate after the EXT-X-DISCONTINUITY.
constexpr int kSlateFps = 5;
// A still picture needs few bits; the cap keeps slate segments far under BANDWIDTH.
constexpr int kSlateMaxBitrate = 300000;
constexpr char kSlateText[] =
    "Chương trình sẽ tiếp tục trong giây lát\nThe broadcast will resume shortly";

void SetCaps(GstElement* capsfilter, const std::string& caps) {
  CapsPtr c(gst_caps_from_string(caps.c_str()));
  g_object_set(capsfilter, "caps", c.get(), nullptr);
}

void ConfigureQueue(GstElement* queue, int buffers) {
  g_object_set(queue, "max-size-buffers", static_cast<guint>(buffers), "max-size-bytes", 0u,
               "max-size-time", static_cast<guint64>(0), nullptr);
}

std::string Fraction(int n, int d) { return std::to_string(n) + "/" + std::to_string(d); }

// The input, read in chunks. Not thread-safe: one reader at a time.
class InputReader {
 public:
  InputReader(int fd, const std::atomic<bool>* stop, std::chrono::seconds stall)
      : fd_(fd), stop_(stop), stall_(stall) {}

  // The next chunk; empty at the end of the input (or when asked to stop). kTimeout when
  // nothing arrived for the stall timeout, kIo on a read error. `quit` ends the wait early
  // (then: empty).
  Result<std::string> Next(const std::atomic<bool>* quit = nullptr) {
    auto last = Clock::now();
    for (;;) {
      if ((stop_ != nullptr && stop_->load()) || (quit != nullptr && quit->load()))
        return std::string();
      pollfd p{fd_, POLLIN, 0};
      int ready = poll(&p, 1, 200);
      if (ready < 0 && errno != EINTR) return IoError(std::string("poll: ") + strerror(errno));
      if (ready <= 0) {
        if (Clock::now() - last > stall_)
          return Status(ErrorCode::kTimeout, "no input for " + std::to_string(stall_.count()) +
                                                 " s (the publisher stopped sending)");
        continue;
      }
      std::string chunk(kChunkBytes, '\0');
      ssize_t n = read(fd_, chunk.data(), chunk.size());
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n < 0) return IoError(std::string("cannot read the input: ") + strerror(errno));
      chunk.resize(static_cast<size_t>(n));
      bytes_.fetch_add(n, std::memory_order_relaxed);
      return chunk;  // empty: end of input
    }
  }

  int64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }

 private:
  int fd_;
  const std::atomic<bool>* stop_;
  std::chrono::seconds stall_;
  std::atomic<int64_t> bytes_{0};
};

GstBuffer* ToBuffer(const std::string& chunk) {
  return gst_buffer_new_memdup(chunk.data(), chunk.size());
}

// What the probe learnt about the input's streams.
struct InputFacts {
  std::string video_caps;  // "video/x-h264" or "video/x-h265"
  int width = 0, height = 0, par_n = 1, par_d = 1, fps_n = 0, fps_d = 1;
  bool interlaced = false;
  std::string audio_caps;   // the caps name of the first accepted audio stream, or empty
  std::string audio_codec;  // "aac", "mp2", "mp3", "opus"
  int audio_mpegversion = 0;
  std::vector<std::string> refused;  // streams we do not take, by caps name
};

const char* VideoCodecOf(const std::string& caps_name) {
  if (caps_name == "video/x-h264") return "h264";
  if (caps_name == "video/x-h265") return "h265";
  return nullptr;
}

// The audio codec of `caps`, or null when live does not take it.
const char* AudioCodecOf(const GstStructure* s) {
  const std::string name = gst_structure_get_name(s);
  if (name == "audio/x-opus") return "opus";
  if (name != "audio/mpeg") return nullptr;
  int version = 0, layer = 0;
  gst_structure_get_int(s, "mpegversion", &version);
  gst_structure_get_int(s, "layer", &layer);
  if (version == 4 || version == 2) return "aac";
  if (version == 1) return layer == 3 ? "mp3" : "mp2";
  return nullptr;
}

// A short pipeline (appsrc ! tsdemux ! parser ! fakesink) that runs over the first bytes of the
// input until the video parser knows the picture's size and rate. Only parsers: no decoder.
class InputProbe {
 public:
  InputProbe() = default;
  ~InputProbe() = default;

  Status Build() {
    auto src = MakeElement("appsrc");
    auto demux = MakeElement("tsdemux");
    if (!src || !demux) return NotFound("GStreamer element missing: appsrc or tsdemux");
    src_ = pipeline_.Add(std::move(src));
    GstElement* d = pipeline_.Add(std::move(demux));
    CapsPtr caps(gst_caps_from_string("video/mpegts,systemstream=(boolean)true"));
    g_object_set(src_, "caps", caps.get(), "format", GST_FORMAT_BYTES, nullptr);
    if (!gst_element_link(src_, d)) return Internal("cannot link the probe's demuxer");
    g_signal_connect(d, "pad-added", G_CALLBACK(&InputProbe::PadAddedThunk), this);
    g_signal_connect(d, "no-more-pads", G_CALLBACK(&InputProbe::NoMorePadsThunk), this);
    if (gst_element_set_state(pipeline_.element(), GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
      return Internal("cannot start the input probe");
    return Status::Ok();
  }

  void Push(const std::string& chunk) {
    gst_app_src_push_buffer(GST_APP_SRC(src_), ToBuffer(chunk));
  }
  void EndOfStream() { gst_app_src_end_of_stream(GST_APP_SRC(src_)); }

  // Waits up to `wait` for the video's parameters, the end of the probe's input, or an error.
  // Returns true when it is time to stop feeding it.
  bool Wait(std::chrono::milliseconds wait) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, wait, [this] { return video_ready_ || no_video_; });
    if (video_ready_ || no_video_) return true;
    MessagePtr msg(gst_bus_pop_filtered(
        pipeline_.bus(), static_cast<GstMessageType>(GST_MESSAGE_ERROR | GST_MESSAGE_EOS)));
    if (msg && GST_MESSAGE_TYPE(msg.get()) == GST_MESSAGE_ERROR) {
      error_ = DescribeGstMessage(msg.get());
      return true;
    }
    return msg != nullptr;
  }

  // The facts, or why the input cannot be taken.
  Result<InputFacts> Facts() {
    pipeline_.StopWithin(std::chrono::seconds(5));
    std::lock_guard lock(mu_);
    std::string refused;
    for (const auto& r : facts_.refused) refused += (refused.empty() ? "" : ", ") + r;
    if (!video_ready_ && !unsupported_video_.empty())
      return Status(ErrorCode::kUnsupported,
                    "the stream's video is " + unsupported_video_ + "; live takes H.264 or HEVC");
    if (!video_ready_ && !error_.empty())
      return InvalidArgument("the MPEG-TS stream cannot be read: " + error_);
    if (!video_ready_ && no_video_)
      return InvalidArgument("the MPEG-TS stream holds no video" +
                             (refused.empty() ? std::string() : " (only " + refused + ")"));
    if (!video_ready_)
      return InvalidArgument("no picture parameters (SPS) found in the video of the first " +
                             std::to_string(kMaxProbeBytes >> 20) + " MB of the stream");
    return facts_;
  }

 private:
  static void PadAddedThunk(GstElement*, GstPad* pad, gpointer self) noexcept {
    static_cast<InputProbe*>(self)->OnPadAdded(pad);
  }
  static void NoMorePadsThunk(GstElement*, gpointer self) noexcept {
    auto* p = static_cast<InputProbe*>(self);
    std::lock_guard lock(p->mu_);
    if (!p->have_video_pad_) p->no_video_ = true;
    p->cv_.notify_all();
  }
  static GstPadProbeReturn ParsedCapsThunk(GstPad*, GstPadProbeInfo* info, gpointer self) noexcept {
    GstEvent* event = GST_PAD_PROBE_INFO_EVENT(info);
    if (GST_EVENT_TYPE(event) != GST_EVENT_CAPS) return GST_PAD_PROBE_OK;
    GstCaps* caps = nullptr;
    gst_event_parse_caps(event, &caps);
    static_cast<InputProbe*>(self)->OnParsedCaps(caps);
    return GST_PAD_PROBE_OK;
  }

  GstElement* SinkFor(GstPad* pad, const char* parser) {
    GstElement* fake = gst_element_factory_make("fakesink", nullptr);
    g_object_set(fake, "sync", FALSE, "async", FALSE, nullptr);
    gst_bin_add(pipeline_.bin(), fake);
    GstElement* first = fake;
    if (parser != nullptr) {
      GstElement* p = gst_element_factory_make(parser, nullptr);
      if (p == nullptr) return nullptr;
      gst_bin_add(pipeline_.bin(), p);
      gst_element_link(p, fake);
      gst_element_sync_state_with_parent(p);
      first = p;
    }
    gst_element_sync_state_with_parent(fake);
    GstPtr<GstPad> sink(gst_element_get_static_pad(first, "sink"));
    gst_pad_link(pad, sink.get());
    return first;
  }

  void OnPadAdded(GstPad* pad) {
    CapsPtr caps(gst_pad_get_current_caps(pad));
    if (!caps) caps.reset(gst_pad_query_caps(pad, nullptr));
    const GstStructure* s = gst_caps_get_structure(caps.get(), 0);
    const std::string name = gst_structure_get_name(s);
    std::unique_lock lock(mu_);
    if (name.starts_with("video/")) {
      if (VideoCodecOf(name) != nullptr && !have_video_pad_) {
        have_video_pad_ = true;
        facts_.video_caps = name;
        lock.unlock();
        GstElement* parser = SinkFor(pad, name == "video/x-h264" ? "h264parse" : "h265parse");
        if (parser != nullptr) {
          GstPtr<GstPad> src(gst_element_get_static_pad(parser, "src"));
          gst_pad_add_probe(src.get(), GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
                            &InputProbe::ParsedCapsThunk, this, nullptr);
        }
        return;
      }
      if (unsupported_video_.empty() && VideoCodecOf(name) == nullptr) unsupported_video_ = name;
      facts_.refused.push_back(name);
    } else if (const char* codec = AudioCodecOf(s); codec != nullptr && facts_.audio_caps.empty()) {
      facts_.audio_caps = name;
      facts_.audio_codec = codec;
      gst_structure_get_int(s, "mpegversion", &facts_.audio_mpegversion);
    } else {
      facts_.refused.push_back(name);
    }
    lock.unlock();
    SinkFor(pad, nullptr);
  }

  void OnParsedCaps(GstCaps* caps) {
    const GstStructure* s = gst_caps_get_structure(caps, 0);
    int width = 0, height = 0;
    if (!gst_structure_get_int(s, "width", &width) ||
        !gst_structure_get_int(s, "height", &height) || width <= 0 || height <= 0)
      return;
    std::lock_guard lock(mu_);
    facts_.width = width;
    facts_.height = height;
    gst_structure_get_fraction(s, "pixel-aspect-ratio", &facts_.par_n, &facts_.par_d);
    gst_structure_get_fraction(s, "framerate", &facts_.fps_n, &facts_.fps_d);
    const char* mode = gst_structure_get_string(s, "interlace-mode");
    facts_.interlaced = mode != nullptr && std::string(mode) != "progressive";
    video_ready_ = true;
    cv_.notify_all();
  }

  Pipeline pipeline_{"live-probe"};
  GstElement* src_ = nullptr;
  std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  InputFacts facts_;
  bool have_video_pad_ = false;
  bool video_ready_ = false;
  bool no_video_ = false;
  std::string unsupported_video_;
  std::string error_;
};

// Checks the first bytes: MPEG-TS, nothing else (media_allowlist.h's idea, for a stream).
Status CheckIsMpegTs(const std::string& head) {
  if (head.empty()) return InvalidArgument("the input is empty: no MPEG-TS stream arrived");
  EnsureGstInit();
  GstTypeFindProbability probability = GST_TYPE_FIND_NONE;
  CapsPtr caps(gst_type_find_helper_for_data(nullptr, reinterpret_cast<const guint8*>(head.data()),
                                             head.size(), &probability));
  if (!caps || gst_caps_is_empty(caps.get()))
    return InvalidArgument("the input is not MPEG-TS (unrecognised format)");
  const std::string name = gst_structure_get_name(gst_caps_get_structure(caps.get(), 0));
  if (name == "video/mpegts") return Status::Ok();
  return InvalidArgument("the input is not MPEG-TS (it looks like " + name +
                         "); live takes MPEG-TS only");
}

// Bundles ADTS frames (aac_bundle.h), so that mpegtsmux writes one PES per bundle instead of two
// mostly empty TS packets per frame; cuts fall every segment from the first video frame. Also
// drops the AAC encoder's priming frame and moves the others back by its 1024 samples (as
// VodPipeline::BundleAac does). Only the audio streaming thread calls it.
class AacBundler {
 public:
  AacBundler(int audio_rate, int64_t segment_ns, const std::atomic<int64_t>* origin)
      : audio_rate_(audio_rate), segment_ns_(segment_ns), origin_(origin) {}

  static GstPadProbeReturn Thunk(GstPad* pad, GstPadProbeInfo* info, gpointer self) noexcept {
    return static_cast<AacBundler*>(self)->Probe(pad, info);
  }

 private:
  GstPadProbeReturn Probe(GstPad* pad, GstPadProbeInfo* info) {
    if (bundle_.flushing()) return GST_PAD_PROBE_OK;
    if ((info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) != 0) {
      if (GST_EVENT_TYPE(GST_PAD_PROBE_INFO_EVENT(info)) == GST_EVENT_EOS) bundle_.FlushAtEos(pad);
      return GST_PAD_PROBE_OK;
    }
    GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info);
    if (!priming_dropped_) {
      priming_dropped_ = true;
      return GST_PAD_PROBE_DROP;
    }
    const int64_t priming = gst_util_uint64_scale(1024, GST_SECOND, audio_rate_);
    int64_t pts = 0, running = 0;
    if (GST_BUFFER_PTS_IS_VALID(buffer)) {
      pts = std::max<int64_t>(0, static_cast<int64_t>(GST_BUFFER_PTS(buffer)) - priming);
      running = RunningTime(pad, static_cast<GstClockTime>(pts));
    }
    const int64_t t = running - std::max<int64_t>(origin_->load(), 0);
    return bundle_.Add(pad, info, pts, t < 0 ? -1 : t / segment_ns_);
  }

  int audio_rate_;
  int64_t segment_ns_;
  const std::atomic<int64_t>* origin_;
  AacBundle bundle_;
  bool priming_dropped_ = false;
};

// Cuts one rung's MPEG-TS into segment files at its keyframes. mpegtsmux marks the first packet
// it writes for a video keyframe as its only output without DELTA_UNIT; a new file begins there,
// with copies of the latest PAT and PMT in front (mpegtsmux sends them on its own schedule, not
// at keyframes), so every segment opens with PAT, PMT and an IDR frame. The copies keep their
// continuity counters: to a demuxer reading on from the previous segment they are duplicates.
// Each finished file is announced on the bus as an element message kSegmentClosed ("location").
// Why not splitmuxsink: it decides to cut only once the *next* GOP is gathered (a whole segment
// more of latency), and can miss its last cut at the end (segment_alignment.h). Not
// multifilesink: its key-frame mode makes files of at least 10 s.
// Runs on the appsink's streaming thread only.
class SegmentWriter {
 public:
  SegmentWriter(fs::path dir, int64_t first_index, GstElement* appsink)
      : dir_(std::move(dir)), index_(first_index), sink_(appsink) {
    GstAppSinkCallbacks callbacks{};
    callbacks.eos = &SegmentWriter::EosThunk;
    callbacks.new_sample = &SegmentWriter::NewSampleThunk;
    gst_app_sink_set_callbacks(GST_APP_SINK(appsink), &callbacks, this, nullptr);
  }
  ~SegmentWriter() {
    if (file_ != nullptr) std::fclose(file_);
  }

 private:
  static GstFlowReturn NewSampleThunk(GstAppSink* sink, gpointer self) noexcept {
    return static_cast<SegmentWriter*>(self)->OnSample(sink);
  }
  static void EosThunk(GstAppSink*, gpointer self) noexcept {
    static_cast<SegmentWriter*>(self)->Close();
  }

  GstFlowReturn OnSample(GstAppSink* sink) {
    SamplePtr sample(gst_app_sink_pull_sample(sink));
    if (!sample) return GST_FLOW_OK;
    GstBuffer* buffer = gst_sample_get_buffer(sample.get());
    if (buffer == nullptr) return GST_FLOW_OK;
    const bool keyframe = !GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT);
    if (keyframe && file_ != nullptr && written_ > 0) Close();
    if (file_ == nullptr) {
      path_ = dir_ / LiveSegmentName(index_++);
      file_ = std::fopen(path_.c_str(), "wb");
      written_ = 0;
      if (file_ == nullptr) return Fail("cannot create " + path_.string());
      for (const std::string* psi : {&pat_, &pmt_}) {
        if (psi->empty()) continue;
        if (std::fwrite(psi->data(), 1, psi->size(), file_) != psi->size())
          return Fail("cannot write " + path_.string() + ": " + strerror(errno));
      }
    }
    BufferMap map(buffer);
    if (!map.ok()) return GST_FLOW_OK;
    if (std::fwrite(map.data(), 1, map.size(), file_) != map.size())
      return Fail("cannot write " + path_.string() + ": " + strerror(errno));
    written_ += map.size();
    RememberPsi(map.data(), map.size());
    return GST_FLOW_OK;
  }

  // Keeps the latest PAT and PMT packets (single-packet tables, as mpegtsmux writes them).
  void RememberPsi(const guint8* data, size_t size) {
    if (size % kTsPacketBytes != 0) return;
    for (size_t off = 0; off < size; off += kTsPacketBytes) {
      const guint8* p = data + off;
      if (p[0] != 0x47 || (p[1] & 0x40) == 0) continue;  // a table starts in this packet
      const int pid = ((p[1] & 0x1f) << 8) | p[2];
      if (pid == 0) {
        pat_.assign(reinterpret_cast<const char*>(p), kTsPacketBytes);
        // The PMT's PID: the first program in the PAT (after the pointer field and 8 bytes).
        size_t at = 4;
        if ((p[3] & 0x20) != 0) at += 1 + p[4];  // adaptation field
        at += 1 + p[at];                         // pointer field
        for (size_t e = at + 8; e + 4 <= kTsPacketBytes - 4; e += 4) {
          const int program = (p[e] << 8) | p[e + 1];
          if (program == 0) continue;
          pmt_pid_ = ((p[e + 2] & 0x1f) << 8) | p[e + 3];
          break;
        }
      } else if (pid == pmt_pid_) {
        pmt_.assign(reinterpret_cast<const char*>(p), kTsPacketBytes);
      }
    }
  }

  void Close() {
    if (file_ == nullptr) return;
    const bool ok = std::fclose(file_) == 0;
    file_ = nullptr;
    if (!ok) {
      Fail("cannot write " + path_.string());
      return;
    }
    gst_element_post_message(
        sink_, gst_message_new_element(GST_OBJECT(sink_),
                                       gst_structure_new(kSegmentClosed, "location", G_TYPE_STRING,
                                                         path_.c_str(), nullptr)));
  }

  GstFlowReturn Fail(const std::string& what) {
    GErrorPtr error(
        g_error_new_literal(GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_WRITE, what.c_str()));
    gst_element_post_message(sink_,
                             gst_message_new_error(GST_OBJECT(sink_), error.get(), what.c_str()));
    return GST_FLOW_ERROR;
  }

  fs::path dir_;
  int64_t index_;
  GstElement* sink_;
  FILE* file_ = nullptr;
  fs::path path_;
  size_t written_ = 0;
  std::string pat_, pmt_;  // the latest PAT and PMT packets
  int pmt_pid_ = -1;
};

// One rung's output state; touched only on the bus thread (RunLive's).
struct RungOutput {
  Rung rung;    // what this run encodes (the slate's frame rate differs)
  Rung stored;  // the stream's rung, kept in live-state.json for the runs that follow
  fs::path dir;
  GstElement* mux = nullptr;
  GstElement* sink = nullptr;
  LiveWindow window;
  int64_t next_sequence = 0;        // of the next segment file to close
  std::deque<LiveSegment> closed;   // closed, waiting for the other rungs' segment of that number
  bool discontinuity_next = false;  // the next published segment follows an earlier run's
  int64_t published = 0;
  std::string codecs;
  int64_t bandwidth = 0;
  double peak_bps = 0;
  double published_seconds = 0;
  int64_t published_bytes = 0;
  // Low latency: OUTDIR/ll/<rung> and its LL-HLS window (the packager is LivePipeline's).
  fs::path ll_dir;
  std::optional<LlWindow> ll_window;
  std::string ll_codecs;  // from the first part
};

// The H.264 level (level_idc) a picture of this size and rate needs (ITU-T H.264 table A-1:
// frame size, macroblock rate, High profile bit rate).
int H264LevelFor(int width, int height, double fps, int max_bitrate) {
  struct Level {
    int idc;
    double max_mbps, max_fs, max_kbps;
  };
  static constexpr Level kLevels[] = {
      {10, 1485, 99, 64},          {11, 3000, 396, 192},        {12, 6000, 396, 384},
      {13, 11880, 396, 768},       {20, 11880, 396, 2000},      {21, 19800, 792, 4000},
      {22, 20250, 1620, 4000},     {30, 40500, 1620, 10000},    {31, 108000, 3600, 14000},
      {32, 216000, 5120, 20000},   {40, 245760, 8192, 20000},   {41, 245760, 8192, 50000},
      {42, 522240, 8704, 50000},   {50, 589824, 22080, 135000}, {51, 983040, 36864, 240000},
      {52, 2073600, 36864, 240000}};
  const double mbs = std::ceil(width / 16.0) * std::ceil(height / 16.0);
  for (const Level& l : kLevels)
    if (mbs <= l.max_fs && mbs * fps <= l.max_mbps && max_bitrate <= l.max_kbps * 1250)
      return l.idc;
  return 52;
}

// CODECS for a rung the slate starts: the level the stream's own frame rate needs, not the
// slate's, so that the real picture that follows stays within what master.m3u8 announced.
std::string SlateCodecs(const Rung& stored, bool has_audio) {
  char codecs[40];
  std::snprintf(codecs, sizeof codecs, "avc1.6400%02x",
                H264LevelFor(stored.width, stored.height, stored.frame_rate(), stored.max_bitrate));
  return std::string(codecs) + (has_audio ? ",mp4a.40.2" : "");
}

// The ladder the slate encodes: the stream's rungs and sizes at kSlateFps, with a small rate.
Ladder SlateLadder(Ladder ladder) {
  ladder.fps_n = kSlateFps;
  ladder.fps_d = 1;
  for (Rung& r : ladder.rungs) {
    r.fps_n = kSlateFps;
    r.fps_d = 1;
    r.gop_frames = std::max(1, static_cast<int>(std::lround(ladder.gop_seconds * kSlateFps)));
    r.bitrate = r.max_bitrate = std::min(r.bitrate, kSlateMaxBitrate);
    r.buffer_size = static_cast<int>(std::lround(r.max_bitrate * ladder.gop_seconds / 2));
  }
  return ladder;
}

class LivePipeline {
 public:
  // `facts` null: the slate, no input. `ladder` is what this run encodes, rung for rung the
  // stream's rungs in `state` (the slate's at its own frame rate); the windows, sequence numbers
  // and master playlist continue from `state` (a fresh one for a new stream).
  // `ll_state`: the low-latency output's ll-state.json an earlier run left (null: none).
  LivePipeline(const InputFacts* facts, const Ladder& ladder, const LiveState& state,
               const VideoEncoder& encoder, const LiveOptions& options, LiveWindowOptions window,
               fs::path outdir, const std::optional<LlState>& ll_state)
      : facts_(facts),
        ladder_(ladder),
        encoder_(encoder),
        options_(options),
        outdir_(outdir),
        state_(state),
        next_row_(state.next_sequence) {
    const auto now = Clock::now();
    for (size_t i = 0; i < ladder_.rungs.size(); ++i) {
      const LiveRungState& rs = state.rungs[i];
      RungOutput out{
          .rung = ladder_.rungs[i],
          .stored = rs.rung,
          .dir = outdir_ / RungDir(rs.rung),
          .window = LiveWindow(window, rs.segments, rs.pending, rs.discontinuity_sequence, now),
          .next_sequence = state.next_sequence,
          .closed = {},
          .discontinuity_next = !rs.segments.empty(),
          .published = 0,
          .codecs = rs.codecs,
          .bandwidth = rs.bandwidth,
          .peak_bps = 0,
          .published_seconds = 0,
          .published_bytes = 0,
          .ll_dir = {},
          .ll_window = std::nullopt,
          .ll_codecs = {}};
      if (out.codecs.empty() && facts_ == nullptr)
        out.codecs = SlateCodecs(rs.rung, state.has_audio);
      if (options.ll_part_ms > 0) {
        const Rung& r = ladder_.rungs[i];
        LlWindowOptions ll;
        ll.target_duration = window.target_duration;
        // The stream's own rate decides PART-TARGET (the slate's parts are shorter, not longer).
        ll.part_target = std::max(
            PlanParts(options.ll_part_ms, rs.rung.fps_n, rs.rung.fps_d, rs.rung.gop_frames)
                .Target(rs.rung.fps_n, rs.rung.fps_d),
            PlanParts(options.ll_part_ms, r.fps_n, r.fps_d, r.gop_frames).Target(r.fps_n, r.fps_d));
        ll.window_seconds = window.window_seconds;
        ll.delete_grace = window.delete_grace;
        out.ll_dir = outdir_ / kLlDir / RungDir(rs.rung);
        // Past every number an earlier run used, TS or LL (its last segment's parts may have
        // gone out although the TS segment of that number was dropped).
        const int64_t first =
            std::max(state.next_sequence, ll_state ? ll_state->next_msn : int64_t{0});
        const LlRungState* saved = nullptr;
        for (size_t k = 0; ll_state && k < ll_state->rungs.size(); ++k)
          if (ll_state->rungs[k].name == rs.rung.name) saved = &ll_state->rungs[k];
        if (saved != nullptr) {
          out.ll_window.emplace(ll, ContinuedAt(*saved, first, ll.delete_grace), first, now);
        } else {
          out.ll_window.emplace(ll, first);
        }
        if (!rs.segments.empty() || (saved != nullptr && !saved->segments.empty()))
          out.ll_window->MarkDiscontinuity();
        ll_continued_ = ll_state;
        ll_end_ns_ = ll_state ? ll_state->end_ns : 0;
      }
      rungs_.push_back(std::move(out));
    }
  }
  ~LivePipeline() { Stop(); }

  Status Build();
  void Push(GstBuffer* buffer) { gst_app_src_push_buffer(GST_APP_SRC(src_), buffer); }
  void EndOfStream() { gst_app_src_end_of_stream(GST_APP_SRC(src_)); }

  // Runs until the end of the stream; the reader pushes from its own thread meanwhile.
  // `input_failed` returns an error the reader met (checked each tick).
  Status Run(const std::function<Status()>& input_status,
             const std::function<void(LiveStats)>& on_stats,
             const std::function<int64_t()>& input_bytes);

  bool encoder_failed() const { return encoder_failed_; }
  const std::vector<RungOutput>& rungs() const { return rungs_; }
  std::vector<std::string>& warnings() { return warnings_; }
  const FeedClock& feed_clock() const { return feed_clock_; }
  bool Stop() {
    if (pipeline_.abandoned()) return false;
    if (pipeline_.StopWithin(std::chrono::seconds(20))) return true;
    warnings_.push_back("the pipeline did not shut down cleanly");
    return false;
  }

 private:
  GstElement* Add(const char* factory, const char* name = nullptr) {
    auto e = MakeElement(factory, name);
    if (!e) {
      if (missing_.empty()) missing_ = factory;
      return nullptr;
    }
    return pipeline_.Add(std::move(e));
  }
  Status BuildVideo();
  Status BuildDecodedVideo(GstElement*& last);
  Status BuildRungs(GstElement* tee);
  Status BuildAudio();
  void OnPadAdded(GstPad* pad);
  static void PadAddedThunk(GstElement*, GstPad* pad, gpointer self) noexcept {
    static_cast<LivePipeline*>(self)->OnPadAdded(pad);
  }
  Status BuildSlateVideo(GstElement*& last);
  Status OnSegmentClosed(size_t rung, const std::string& location);
  Status OnPartClosed(size_t rung, const GstStructure* s);
  Status WriteLlPlaylist(size_t rung, bool ended);
  Status MaybeWriteLlMaster();
  Status WriteLlState(Clock::time_point now);
  // Called on streaming threads: the packager's error ends the run through the bus.
  void FailLl(size_t rung, const Status& status);
  // Sends what passes `pad` (access units when `video`, else ADTS bundles) and its EOS to rung
  // `rung`'s CMAF packager.
  void TapLl(GstPad* pad, size_t rung, bool video);
  Status PublishRows(Clock::time_point now);
  Status WriteState(Clock::time_point now, bool ended);
  Status WritePlaylist(RungOutput& out, bool ended);
  Status MaybeWriteMaster();
  void DeleteExpired(Clock::time_point now);
  std::optional<double> LatencyOf(int64_t segment_start_rt, Clock::time_point now);

  const InputFacts* facts_;  // null: the slate
  const Ladder& ladder_;
  const VideoEncoder& encoder_;
  const LiveOptions& options_;
  fs::path outdir_;
  FeedClock feed_clock_;  // the demuxer's video and audio pads; outlives the pipeline
  Pipeline pipeline_{"live"};
  std::string missing_;
  GstElement* src_ = nullptr;
  GstElement* video_in_ = nullptr;  // the queue the demuxer's video pad feeds
  GstElement* audio_in_ = nullptr;
  std::atomic<bool> video_linked_{false};
  std::atomic<bool> audio_linked_{false};
  std::vector<GstElement*> encoder_bins_;
  std::vector<std::unique_ptr<StartDtsAligner>> start_dts_;
  std::unique_ptr<AacBundler> bundler_;
  std::vector<std::unique_ptr<SegmentWriter>> writers_;  // one per rung; used by its appsink
  // Low latency: one per rung, fed by the rung's parser and audio queue threads.
  std::vector<std::unique_ptr<LlPackager>> ll_packagers_;
  bool ll_master_written_ = false;
  std::optional<LlState> ll_continued_;  // what this run's low-latency output continues
  int64_t ll_end_ns_ = 0;                // the latest part's end, on the decode timeline
  bool encoder_failed_ = false;
  bool master_written_ = false;
  bool eos_sent_ = false;  // the slate: asked to end
  LiveState state_;        // the stream's settings; rungs and windows live in rungs_
  int64_t next_row_;       // sequence number of the next segment published in every rung

  std::vector<RungOutput> rungs_;
  std::vector<std::string> warnings_;

  // Written by streaming threads.
  std::atomic<int64_t> frames_{0};
  std::atomic<int64_t> position_ns_{0};
  std::atomic<int64_t> first_video_rt_{-1};  // running time of the first frame: cut origin

  // For the latency figure: when input frames arrived, by running time (the demuxer's thread
  // writes, the bus thread reads), and the running times at which the first rung's segments
  // start (its parser's thread writes: one per IDR).
  std::mutex timing_mu_;
  std::deque<std::pair<int64_t, Clock::time_point>> arrivals_;  // guarded by timing_mu_
  std::deque<int64_t> segment_starts_;                          // guarded by timing_mu_
  std::optional<double> last_latency_;
};

Status LivePipeline::Build() {
  if (facts_ != nullptr) {
    src_ = Add("appsrc", "input");
    GstElement* demux = Add("tsdemux");
    if (!missing_.empty()) return NotFound("GStreamer element missing: " + missing_);
    CapsPtr caps(gst_caps_from_string("video/mpegts,systemstream=(boolean)true"));
    // Bounded: a pipeline that falls behind holds the reader back, and with it the publisher.
    g_object_set(src_, "caps", caps.get(), "format", GST_FORMAT_BYTES, "block", TRUE, "max-bytes",
                 static_cast<guint64>(4u << 20), nullptr);
    if (!gst_element_link(src_, demux)) return Internal("cannot link the demuxer");
    g_signal_connect(demux, "pad-added", G_CALLBACK(&LivePipeline::PadAddedThunk), this);
  }

  std::error_code ec;
  for (RungOutput& out : rungs_) {
    fs::create_directories(out.dir, ec);
    if (ec) return IoError("cannot create " + out.dir.string() + ": " + ec.message());
    out.mux = Add("mpegtsmux");
    out.sink = Add("appsink");
    if (!missing_.empty()) return NotFound("GStreamer element missing: " + missing_);
    // PAT/PMT once per GOP: every segment still opens with them (mpegtsmux sends them in front
    // of each keyframe).
    const guint psi = static_cast<guint>(ladder_.gop_ns() * 9 / 100000);
    g_object_set(out.mux, "pat-interval", psi, "pmt-interval", psi, nullptr);
    g_object_set(out.sink, "sync", FALSE, "async", FALSE, "max-buffers", 0u, "drop", FALSE,
                 nullptr);
    if (!gst_element_link(out.mux, out.sink)) return Internal("cannot link a muxer");
    writers_.push_back(std::make_unique<SegmentWriter>(out.dir, out.next_sequence, out.sink));
  }
  for (size_t i = 0; i < rungs_.size() && options_.ll_part_ms > 0; ++i) {
    RungOutput& out = rungs_[i];
    fs::create_directories(out.ll_dir, ec);
    if (ec) return IoError("cannot create " + out.ll_dir.string() + ": " + ec.message());
    LlPackagerOptions o;
    o.dir = out.ll_dir;
    o.fps_n = out.rung.fps_n;
    o.fps_d = out.rung.fps_d;
    o.width = out.rung.width;
    o.height = out.rung.height;
    o.plan = PlanParts(options_.ll_part_ms, out.rung.fps_n, out.rung.fps_d, out.rung.gop_frames);
    o.has_audio = ladder_.has_audio;
    o.first_msn = out.ll_window->next_msn();
    if (ll_continued_) o.continue_from_ns = ll_continued_->end_ns;
    GstElement* sink = out.sink;
    // Runs on a streaming thread with the packager's lock held: only posts to the bus.
    ll_packagers_.push_back(std::make_unique<LlPackager>(o, [sink](const LlPartClosed& p) {
      gst_element_post_message(
          sink, gst_message_new_element(
                    GST_OBJECT(sink),
                    gst_structure_new(kPartClosed, "msn", G_TYPE_INT64, p.msn, "part", G_TYPE_INT,
                                      p.part, "duration", G_TYPE_DOUBLE, p.duration, "independent",
                                      G_TYPE_BOOLEAN, p.independent, "complete", G_TYPE_BOOLEAN,
                                      p.segment_complete, "codecs", G_TYPE_STRING, p.codecs.c_str(),
                                      "end_ns", G_TYPE_INT64, p.video_end_ns, nullptr)));
    }));
  }

  NR_RETURN_IF_ERROR(BuildVideo());
  if (ladder_.has_audio) NR_RETURN_IF_ERROR(BuildAudio());
  return Status::Ok();
}

// The slate's picture: a solid colour with the two lines of text, made once per frame by
// videotestsrc and textoverlay at kSlateFps, in real time (a live source), the top rung's size.
Status LivePipeline::BuildSlateVideo(GstElement*& last) {
  GstElement* src = Add("videotestsrc", "slate");
  GstElement* caps = Add("capsfilter");
  GstElement* text = Add("textoverlay");
  if (!missing_.empty()) return NotFound("GStreamer element missing: " + missing_);
  const Rung& top = ladder_.rungs.front();
  g_object_set(src, "is-live", TRUE, "pattern", 17 /* solid-color */, "foreground-color",
               0xff1d2b3au, nullptr);
  SetCaps(caps, "video/x-raw,format=I420,width=" + std::to_string(top.width) +
                    ",height=" + std::to_string(top.height) +
                    ",pixel-aspect-ratio=1/1,framerate=" + Fraction(ladder_.fps_n, ladder_.fps_d));
  // About 1/24 of the short side per line: readable on the cellular rung, not shouting on 720p.
  const int points = std::max(8, std::min(top.width, top.height) / 24);
  const std::string font = "Sans " + std::to_string(points);
  g_object_set(text, "text", kSlateText, "font-desc", font.c_str(), "valignment", 4 /* center */,
               "halignment", 1 /* center */, "line-alignment", 1 /* center */, "shaded-background",
               FALSE, nullptr);
  if (!gst_element_link_many(src, caps, text, nullptr)) return Internal("cannot link the slate");
  last = text;
  return Status::Ok();
}

Status LivePipeline::BuildVideo() {
  GstElement* rate = Add("videorate");
  GstElement* rate_caps = Add("capsfilter");
  GstElement* tee = Add("tee", "video_tee");
  if (!missing_.empty()) return NotFound("GStreamer element missing: " + missing_);
  SetCaps(rate_caps, "video/x-raw,framerate=" + Fraction(ladder_.fps_n, ladder_.fps_d));
  GstElement* before_rate = nullptr;
  if (facts_ == nullptr) {
    NR_RETURN_IF_ERROR(BuildSlateVideo(before_rate));
  } else {
    NR_RETURN_IF_ERROR(BuildDecodedVideo(before_rate));
  }
  if (!gst_element_link_many(before_rate, rate, rate_caps, tee, nullptr))
    return Internal("cannot link the shared video chain");
  GstPtr<GstPad> rate_sink(gst_element_get_static_pad(rate, "sink"));
  KeepOneVideoTimeline(rate_sink.get());
  CarryCaptionsThrough(rate);
  return BuildRungs(tee);
}

Status LivePipeline::BuildDecodedVideo(GstElement*& last) {
  const bool h265 = facts_->video_caps == "video/x-h265";
  video_in_ = Add("queue", "video_in");
  GstElement* parse = Add(h265 ? "h265parse" : "h264parse");
  GstElement* decode = Add(kVideoDecoderFactory);
  GstElement* convert = Add("videoconvert");
  GstElement* i420 = Add("capsfilter");
  GstElement* deint = facts_->interlaced ? Add("deinterlace") : nullptr;
  if (!missing_.empty()) return NotFound("GStreamer element missing: " + missing_);
  // Encoded frames are small; a few seconds of them absorb a slow start of the decoder.
  ConfigureQueue(video_in_, 512);
  // A live worker decodes the whole source in real time, whatever its size and rate (a 2160p
  // HEVC or 1080p60 feed), before anything is halved: as many threads as cores up to 16, as
  // avdec took, not the VOD share (DecoderThreads, sized for a decoder that is a seventh of a
  // ladder's work). Each frame thread adds a frame of latency.
  g_object_set(decode, "max-threads", std::min(MachineCores(), 16), nullptr);
  g_object_set(convert, "n-threads", 2u, nullptr);
  SetCaps(i420, "video/x-raw,format=I420");
  GstPtr<GstPad> convert_sink(gst_element_get_static_pad(convert, "sink"));
  gst_pad_add_probe(convert_sink.get(), GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, &PinDecodedColour,
                    i420, nullptr);
  bool linked = gst_element_link_many(video_in_, parse, decode, convert, i420, nullptr);
  last = i420;
  if (deint != nullptr) {
    g_object_set(deint, "method", 10 /* yadif */, "fields", 1 /* top */, nullptr);
    linked = linked && gst_element_link(i420, deint);
    last = deint;
  }
  if (!linked) return Internal("cannot link the decoder");

  // When each frame arrived, for the latency figure.
  GstPtr<GstPad> in_sink(gst_element_get_static_pad(video_in_, "sink"));
  gst_pad_add_probe(
      in_sink.get(), GST_PAD_PROBE_TYPE_BUFFER,
      +[](GstPad* pad, GstPadProbeInfo* info, gpointer self) noexcept -> GstPadProbeReturn {
        auto* p = static_cast<LivePipeline*>(self);
        GstBuffer* b = GST_PAD_PROBE_INFO_BUFFER(info);
        if (!GST_BUFFER_PTS_IS_VALID(b)) return GST_PAD_PROBE_OK;
        const int64_t rt = RunningTime(pad, GST_BUFFER_PTS(b));
        std::lock_guard lock(p->timing_mu_);
        p->arrivals_.emplace_back(rt, Clock::now());
        while (p->arrivals_.size() > 20000) p->arrivals_.pop_front();
        return GST_PAD_PROBE_OK;
      },
      this, nullptr);
  return Status::Ok();
}

Status LivePipeline::BuildRungs(GstElement* tee) {
  GstPtr<GstPad> tee_sink(gst_element_get_static_pad(tee, "sink"));
  gst_pad_add_probe(
      tee_sink.get(), GST_PAD_PROBE_TYPE_BUFFER,
      +[](GstPad* pad, GstPadProbeInfo* info, gpointer self) noexcept -> GstPadProbeReturn {
        auto* p = static_cast<LivePipeline*>(self);
        GstBuffer* b = GST_PAD_PROBE_INFO_BUFFER(info);
        p->frames_.fetch_add(1, std::memory_order_relaxed);
        if (GST_BUFFER_PTS_IS_VALID(b)) {
          const int64_t rt = RunningTime(pad, GST_BUFFER_PTS(b));
          p->position_ns_.store(rt, std::memory_order_relaxed);
          if (p->first_video_rt_.load() < 0) p->first_video_rt_.store(rt);
        }
        return GST_PAD_PROBE_OK;
      },
      this, nullptr);

  for (size_t i = 0; i < rungs_.size(); ++i) {
    const Rung& r = rungs_[i].rung;
    GstElement* q = Add("queue");
    GstElement* rung_rate = nullptr;
    if (r.fps_n != ladder_.fps_n || r.fps_d != ladder_.fps_d) {
      rung_rate = Add("capssetter");
      if (rung_rate != nullptr)
        SetCaps(rung_rate, "video/x-raw,framerate=" + Fraction(r.fps_n, r.fps_d));
    }
    GstElement* scale = Add("videoscale");
    GstElement* size_caps = Add("capsfilter");
    GstElement* h264parse = Add("h264parse");
    if (!missing_.empty()) return NotFound("GStreamer element missing: " + missing_);
    ConfigureQueue(q, 8);
    g_object_set(scale, "method", r.low ? 3 /* lanczos */ : 4 /* bilinear2 */, "sharpness", 1.3,
                 nullptr);
    SetCaps(size_caps, "video/x-raw,format=I420,width=" + std::to_string(r.width) +
                           ",height=" + std::to_string(r.height) + ",pixel-aspect-ratio=1/1");
    // Parameter sets in front of every IDR: each segment decodes on its own.
    g_object_set(h264parse, "config-interval", -1, nullptr);
    VideoEncodeSettings s;
    s.width = r.width;
    s.height = r.height;
    s.fps_n = r.fps_n;
    s.fps_d = r.fps_d;
    s.bitrate = r.bitrate;
    s.max_bitrate = r.max_bitrate;
    s.buffer_size = r.buffer_size;
    s.gop_frames = r.gop_frames;
    // Two B-frames, none a reference, and a third of a second of lookahead: what x264 holds
    // back stays well under a segment.
    s.bframes = 2;
    s.lookahead_frames = std::clamp(static_cast<int>(std::lround(r.frame_rate() / 3)), 1, 10);
    if (options_.ll_part_ms > 0) {
      // Low latency: a frame leaves the encoder a tenth of a second (3 frames at most) after it
      // entered, and in order, so that a part closes right after its last frame; x264's
      // zero-latency tuning (sliced threads: no frame held per encoding thread).
      s.low_latency = true;
      s.bframes = 0;
      s.lookahead_frames = std::clamp(static_cast<int>(std::lround(r.frame_rate() / 10)), 1, 3);
    }
    auto enc = encoder_.CreateBin(s);
    if (!enc.ok()) {
      encoder_failed_ = true;
      return enc.status();
    }
    GstElement* enc_bin = pipeline_.Add(std::move(enc.value()));
    encoder_bins_.push_back(enc_bin);
    if (!gst_element_link(tee, q)) return Internal("cannot link rung " + r.name);
    GstElement* before_scale = q;
    if (rung_rate != nullptr) {
      GstPtr<GstPad> q_src(gst_element_get_static_pad(q, "src"));
      KeepEveryOtherFrame(q_src.get());
      if (!gst_element_link(q, rung_rate)) return Internal("cannot link rung " + r.name);
      before_scale = rung_rate;
    }
    if (!gst_element_link_many(before_scale, scale, size_caps, enc_bin, h264parse, nullptr))
      return Internal("cannot link rung " + r.name);
    start_dts_.push_back(
        std::make_unique<StartDtsAligner>(gst_util_uint64_scale_int(GST_SECOND, r.fps_d, r.fps_n)));
    GstPtr<GstPad> parse_src(gst_element_get_static_pad(h264parse, "src"));
    gst_pad_add_probe(
        parse_src.get(), GST_PAD_PROBE_TYPE_BUFFER,
        +[](GstPad*, GstPadProbeInfo* info, gpointer aligner) noexcept -> GstPadProbeReturn {
          auto* a = static_cast<StartDtsAligner*>(aligner);
          if (a->done()) return GST_PAD_PROBE_OK;
          GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info);
          const GstClockTime dts = a->Align(GST_BUFFER_PTS(buffer), GST_BUFFER_DTS(buffer));
          if (dts != GST_BUFFER_DTS(buffer)) {
            buffer = gst_buffer_make_writable(buffer);
            GST_BUFFER_DTS(buffer) = dts;
            GST_PAD_PROBE_INFO_DATA(info) = buffer;
          }
          return GST_PAD_PROBE_OK;
        },
        start_dts_.back().get(), nullptr);
    if (i == 0) {
      // Where the first rung's segments start (one IDR each), for the latency figure.
      gst_pad_add_probe(
          parse_src.get(), GST_PAD_PROBE_TYPE_BUFFER,
          +[](GstPad* pad, GstPadProbeInfo* info, gpointer self) noexcept -> GstPadProbeReturn {
            auto* p = static_cast<LivePipeline*>(self);
            GstBuffer* b = GST_PAD_PROBE_INFO_BUFFER(info);
            if (GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DELTA_UNIT) ||
                !GST_BUFFER_PTS_IS_VALID(b))
              return GST_PAD_PROBE_OK;
            std::lock_guard lock(p->timing_mu_);
            p->segment_starts_.push_back(RunningTime(pad, GST_BUFFER_PTS(b)));
            return GST_PAD_PROBE_OK;
          },
          this, nullptr);
    }
    if (!ll_packagers_.empty()) {
      // Every access unit (its DTS aligned above) also goes to the rung's CMAF packager.
      TapLl(parse_src.get(), i, /*video=*/true);
    }
    GstPtr<GstPad> vpad(gst_element_request_pad_simple(rungs_[i].mux, "sink_%d"));
    if (gst_pad_link(parse_src.get(), vpad.get()) != GST_PAD_LINK_OK)
      return Internal("cannot link rung " + r.name + " to its segmenter");
  }
  return Status::Ok();
}

Status LivePipeline::BuildAudio() {
  // The input's audio, decoded; or, for the slate, silence in real time.
  std::vector<GstElement*> head;
  if (facts_ == nullptr) {
    GstElement* silence = Add("audiotestsrc", "slate_audio");
    if (silence != nullptr)
      g_object_set(silence, "is-live", TRUE, "wave", 4 /* silence */, "samplesperbuffer", 1024,
                   nullptr);
    head = {silence};
  } else {
    audio_in_ = Add("queue", "audio_in");
    const std::string& codec = facts_->audio_codec;
    if (codec == "aac") {
      head = {audio_in_, Add("aacparse"), Add(kAudioDecoderFactory)};
    } else if (codec == "opus") {
      head = {audio_in_, Add("opusparse"), Add("opusdec")};
    } else {
      // MPEG-1/2 audio: tsdemux's caps do not say the layer (stream types 0x03 and 0x04 carry
      // MP2 and MP3 alike), so one decoder takes all three: mpg123 (avdec_mp2float takes
      // layer 2 only, and refused ffmpeg's `-c copy` of an MP3 track).
      head = {audio_in_, Add("mpegaudioparse"), Add("mpg123audiodec")};
    }
  }
  GstElement* convert = Add("audioconvert");
  GstElement* resample = Add("audioresample");
  GstElement* raw_caps = Add("capsfilter");
  GstElement* enc = Add(kAacEncoderFactory);
  GstElement* aparse = Add("aacparse");
  GstElement* adts_caps = Add("capsfilter");
  GstElement* tee = Add("tee", "audio_tee");
  if (!missing_.empty()) return NotFound("GStreamer element missing: " + missing_);
  if (audio_in_ != nullptr) ConfigureQueue(audio_in_, 512);
  for (size_t i = 0; i + 1 < head.size(); ++i)
    if (!gst_element_link(head[i], head[i + 1])) return Internal("cannot link the audio input");
  SetCaps(raw_caps, "audio/x-raw,channels=2,rate=" + std::to_string(ladder_.audio_rate));
  g_object_set(enc, "bitrate", static_cast<gint>(ladder_.audio_bitrate), nullptr);
  SetCaps(adts_caps, "audio/mpeg,mpegversion=4,stream-format=adts");
  if (!gst_element_link_many(head.back(), convert, resample, raw_caps, enc, aparse, adts_caps, tee,
                             nullptr))
    return Internal("cannot link the audio chain");
  bundler_ =
      std::make_unique<AacBundler>(ladder_.audio_rate, ladder_.segment_ns(), &first_video_rt_);
  GstPtr<GstPad> bundle_pad(gst_element_get_static_pad(tee, "sink"));
  gst_pad_add_probe(
      bundle_pad.get(),
      static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
      &AacBundler::Thunk, bundler_.get(), nullptr);
  for (size_t i = 0; i < rungs_.size(); ++i) {
    RungOutput& out = rungs_[i];
    GstElement* q = Add("queue");
    if (q == nullptr) return NotFound("GStreamer element missing: queue");
    ConfigureQueue(q, 4096);
    gst_element_link(tee, q);
    GstPtr<GstPad> apad(gst_element_request_pad_simple(out.mux, "sink_%d"));
    GstPtr<GstPad> qsrc(gst_element_get_static_pad(q, "src"));
    if (!ll_packagers_.empty()) {
      // The rung's audio bundles (ADTS) also go to its CMAF packager.
      TapLl(qsrc.get(), i, /*video=*/false);
    }
    if (gst_pad_link(qsrc.get(), apad.get()) != GST_PAD_LINK_OK)
      return Internal("cannot link audio to a segmenter");
  }
  return Status::Ok();
}

void LivePipeline::OnPadAdded(GstPad* pad) {
  CapsPtr caps(gst_pad_get_current_caps(pad));
  if (!caps) caps.reset(gst_pad_query_caps(pad, nullptr));
  const GstStructure* s = gst_caps_get_structure(caps.get(), 0);
  const std::string name = gst_structure_get_name(s);
  GstElement* target = nullptr;
  if (name == facts_->video_caps && !video_linked_.exchange(true)) {
    target = video_in_;
  } else if (audio_in_ != nullptr && name == facts_->audio_caps && !audio_linked_.exchange(true)) {
    int version = 0;
    gst_structure_get_int(s, "mpegversion", &version);
    if (version == facts_->audio_mpegversion) {
      target = audio_in_;
    } else {
      audio_linked_ = false;
    }
  }
  if (target != nullptr) {
    KeepFeedContinuous(pad, &feed_clock_);
    GstPtr<GstPad> sink(gst_element_get_static_pad(target, "sink"));
    if (gst_pad_link(pad, sink.get()) != GST_PAD_LINK_OK)
      NR_LOG(kError) << "live: cannot link the " << name << " stream";
    return;
  }
  // Other streams (a second audio track, data, subtitles) are discarded.
  GstElement* fake = gst_element_factory_make("fakesink", nullptr);
  g_object_set(fake, "sync", FALSE, "async", FALSE, nullptr);
  gst_bin_add(pipeline_.bin(), fake);
  gst_element_sync_state_with_parent(fake);
  GstPtr<GstPad> sink(gst_element_get_static_pad(fake, "sink"));
  gst_pad_link(pad, sink.get());
}

std::optional<double> LivePipeline::LatencyOf(int64_t start_rt, Clock::time_point now) {
  std::lock_guard lock(timing_mu_);
  const int64_t half_frame = 500000000LL * ladder_.fps_d / ladder_.fps_n;
  std::optional<double> latency;
  for (const auto& [rt, when] : arrivals_) {
    if (rt + half_frame >= start_rt) {
      latency = std::chrono::duration<double>(now - when).count();
      break;
    }
  }
  // Arrivals before this segment's start are no longer needed.
  while (!arrivals_.empty() && arrivals_.front().first + half_frame < start_rt)
    arrivals_.pop_front();
  return latency;
}

Status LivePipeline::WritePlaylist(RungOutput& out, bool ended) {
  return WriteFileAtomically(out.dir / kMediaPlaylist, out.window.PlaylistText(ended));
}

Status LivePipeline::WriteState(Clock::time_point now, bool ended) {
  LiveState s = state_;
  s.next_sequence = next_row_;
  s.ended = ended;
  s.rungs.clear();
  for (const RungOutput& out : rungs_) {
    LiveRungState r;
    r.rung = out.stored;
    r.bandwidth = out.bandwidth;
    r.codecs = out.codecs;
    r.segments.assign(out.window.segments().begin(), out.window.segments().end());
    r.pending = out.window.PendingDeletions(now);
    r.discontinuity_sequence = out.window.discontinuity_sequence();
    s.rungs.push_back(std::move(r));
  }
  return WriteFileAtomically(outdir_ / kLiveStateFile, LiveStateJson(s));
}

Status LivePipeline::MaybeWriteMaster() {
  if (master_written_) return Status::Ok();
  for (const RungOutput& out : rungs_)
    if (out.codecs.empty() || out.window.segments().empty()) return Status::Ok();
  std::vector<LiveVariant> variants;
  for (const RungOutput& out : rungs_) {
    variants.push_back({RungDir(out.stored) + "/" + kMediaPlaylist, out.bandwidth, out.codecs,
                        out.stored.width, out.stored.height, out.stored.frame_rate()});
  }
  NR_RETURN_IF_ERROR(
      WriteFileAtomically(outdir_ / kMasterPlaylist, LiveMasterPlaylistText(variants)));
  master_written_ = true;
  return Status::Ok();
}

Status LivePipeline::OnSegmentClosed(size_t i, const std::string& location) {
  RungOutput& out = rungs_[i];
  const auto now = Clock::now();
  auto scan = ScanTsFile(location);
  if (!scan.ok())
    return Internal("cannot read the segment just written: " + scan.status().message());
  const fs::path file(location);
  if (scan->video.empty()) {
    // Audio that outlasted the video at the end: nothing a video rung can list.
    std::error_code ec;
    fs::remove(file, ec);
    return Status::Ok();
  }
  if (!scan->video.front().idr) {
    const std::string w = "segment " + file.filename().string() + " of " + out.rung.name +
                          " does not begin with an IDR frame";
    NR_LOG(kWarning) << "live: " << w;
    warnings_.push_back(w);
  }
  if (out.codecs.empty() && scan->sps) {
    out.codecs = AvcCodecString(*scan->sps);
    if (ladder_.has_audio) out.codecs += ",mp4a.40.2";
  }
  // Constant frame rate: a segment lasts as many frame durations as it holds frames.
  const double duration = static_cast<double>(scan->video.size()) * out.rung.fps_d / out.rung.fps_n;
  if (duration >
      out.rung.gop_frames * static_cast<double>(out.rung.fps_d) / out.rung.fps_n + 0.001) {
    const std::string w = "segment " + file.filename().string() + " of " + out.rung.name +
                          " lasts " + std::to_string(duration) + " s, longer than one GOP";
    NR_LOG(kWarning) << "live: " << w;
    warnings_.push_back(w);
  }
  out.closed.push_back({out.next_sequence++, file.filename().string(), duration, scan->size_bytes});
  if (i == 0) {
    std::optional<int64_t> start;
    {
      std::lock_guard lock(timing_mu_);
      if (!segment_starts_.empty()) {
        start = segment_starts_.front();
        segment_starts_.pop_front();
      }
    }
    if (start) last_latency_ = LatencyOf(*start, now);
  }
  return PublishRows(now);
}

// Publishes each sequence number once every rung has closed its segment: the state file first
// (it is the truth a later run continues from), then the playlists. So every rung lists the same
// sequence numbers, and a run killed between the two writes leaves nothing the next run loses.
Status LivePipeline::PublishRows(Clock::time_point now) {
  for (;;) {
    for (const RungOutput& out : rungs_)
      if (out.closed.empty()) return Status::Ok();
    for (RungOutput& out : rungs_) {
      LiveSegment seg = std::move(out.closed.front());
      out.closed.pop_front();
      if (seg.sequence != next_row_)
        return Internal("rung " + out.rung.name + " closed segment " +
                        std::to_string(seg.sequence) + " where " + std::to_string(next_row_) +
                        " was due");
      seg.discontinuity = out.discontinuity_next;
      out.discontinuity_next = false;
      out.published++;
      out.published_seconds += seg.duration;
      out.published_bytes += seg.bytes;
      if (seg.duration > 0) out.peak_bps = std::max(out.peak_bps, seg.bytes * 8.0 / seg.duration);
      out.window.Add(std::move(seg), now);
    }
    ++next_row_;
    NR_RETURN_IF_ERROR(WriteState(now, false));
    for (RungOutput& out : rungs_) NR_RETURN_IF_ERROR(WritePlaylist(out, false));
    NR_RETURN_IF_ERROR(MaybeWriteMaster());
  }
}

void LivePipeline::TapLl(GstPad* pad, size_t rung, bool video) {
  struct Tap {
    LivePipeline* pipeline;
    size_t rung;
    bool video;
  };
  gst_pad_add_probe(
      pad,
      static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
      +[](GstPad* pad, GstPadProbeInfo* info, gpointer data) noexcept -> GstPadProbeReturn {
        auto* tap = static_cast<Tap*>(data);
        LlPackager& ll = *tap->pipeline->ll_packagers_[tap->rung];
        Status st;
        if ((info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) != 0) {
          if (GST_EVENT_TYPE(GST_PAD_PROBE_INFO_EVENT(info)) == GST_EVENT_EOS)
            st = tap->video ? ll.EndVideo() : ll.EndAudio();
        } else {
          GstBuffer* b = GST_PAD_PROBE_INFO_BUFFER(info);
          if (!GST_BUFFER_PTS_IS_VALID(b)) return GST_PAD_PROBE_OK;
          const int64_t pts = RunningTime(pad, GST_BUFFER_PTS(b));
          BufferMap map(b);
          if (!map.ok()) return GST_PAD_PROBE_OK;
          const std::string_view bytes(reinterpret_cast<const char*>(map.data()), map.size());
          if (tap->video) {
            const int64_t dts =
                GST_BUFFER_DTS_IS_VALID(b) ? RunningTime(pad, GST_BUFFER_DTS(b)) : pts;
            st = ll.AddVideo(bytes, dts, pts,
                             !GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DELTA_UNIT));
          } else {
            st = ll.AddAudio(bytes, pts);
          }
        }
        if (!st.ok()) tap->pipeline->FailLl(tap->rung, st);
        return GST_PAD_PROBE_OK;
      },
      new Tap{this, rung, video}, +[](gpointer data) { delete static_cast<Tap*>(data); });
}

void LivePipeline::FailLl(size_t i, const Status& status) {
  GstElement* sink = rungs_[i].sink;
  const std::string what = "low-latency output of " + rungs_[i].rung.name + ": " + status.message();
  GErrorPtr error(g_error_new_literal(GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_WRITE, what.c_str()));
  gst_element_post_message(sink,
                           gst_message_new_error(GST_OBJECT(sink), error.get(), what.c_str()));
}

Status LivePipeline::WriteLlPlaylist(size_t i, bool ended) {
  std::vector<LlRenditionReport> reports;
  for (size_t j = 0; j < rungs_.size(); ++j) {
    LlRenditionReport r;
    if (j == i || !rungs_[j].ll_window->LastPart(&r.last_msn, &r.last_part)) continue;
    r.uri = "../" + RungDir(rungs_[j].stored) + "/" + kMediaPlaylist;
    reports.push_back(std::move(r));
  }
  return WriteFileAtomically(rungs_[i].ll_dir / kMediaPlaylist,
                             rungs_[i].ll_window->PlaylistText(reports, ended));
}

Status LivePipeline::WriteLlState(Clock::time_point now) {
  LlState s;
  s.end_ns = ll_end_ns_;
  for (const RungOutput& out : rungs_) {
    const LlWindow& w = *out.ll_window;
    s.part_target = w.options().part_target;
    s.next_msn = std::max(s.next_msn, w.next_msn() + (w.parts_in_progress().empty() ? 0 : 1));
    s.rungs.push_back(w.Save(out.stored.name, now));
  }
  return WriteFileAtomically(outdir_ / kLlDir / kLlStateFile, LlStateJson(s));
}

Status LivePipeline::MaybeWriteLlMaster() {
  if (ll_master_written_) return Status::Ok();
  std::vector<LiveVariant> variants;
  for (const RungOutput& out : rungs_) {
    if (out.ll_codecs.empty()) return Status::Ok();
    // The stream's CODECS when known (a continued stream's, the slate's at the stream's level),
    // so that both multivariant playlists say the same; else the first part's.
    variants.push_back({RungDir(out.stored) + "/" + kMediaPlaylist, out.bandwidth,
                        out.codecs.empty() ? out.ll_codecs : out.codecs, out.stored.width,
                        out.stored.height, out.stored.frame_rate()});
  }
  NR_RETURN_IF_ERROR(
      WriteFileAtomically(outdir_ / kLlDir / kMasterPlaylist, LiveMasterPlaylistText(variants)));
  ll_master_written_ = true;
  return Status::Ok();
}

// A part is in its file (and, for a segment's last, the segment too): list it, then say so.
Status LivePipeline::OnPartClosed(size_t i, const GstStructure* s) {
  RungOutput& out = rungs_[i];
  gint64 msn = 0;
  int part = 0;
  double duration = 0;
  gboolean independent = FALSE, complete = FALSE;
  gst_structure_get_int64(s, "msn", &msn);
  gst_structure_get_int(s, "part", &part);
  gst_structure_get_double(s, "duration", &duration);
  gst_structure_get_boolean(s, "independent", &independent);
  gst_structure_get_boolean(s, "complete", &complete);
  if (const char* codecs = gst_structure_get_string(s, "codecs"); codecs != nullptr)
    out.ll_codecs = codecs;
  if (msn != out.ll_window->next_msn() ||
      part != static_cast<int>(out.ll_window->parts_in_progress().size()))
    return Internal("low-latency part " + LlPartName(msn, part) + " of " + out.rung.name +
                    " out of order");
  out.ll_window->AddPart({duration, independent != FALSE});
  gint64 end_ns = 0;
  if (gst_structure_get_int64(s, "end_ns", &end_ns))
    ll_end_ns_ = std::max<int64_t>(ll_end_ns_, end_ns);
  const auto now = Clock::now();
  if (complete) out.ll_window->CompleteSegment(now);
  // The state first, as for the MPEG-TS output: a later run goes on past this part.
  NR_RETURN_IF_ERROR(WriteLlState(now));
  NR_RETURN_IF_ERROR(WriteLlPlaylist(i, false));
  NR_RETURN_IF_ERROR(MaybeWriteLlMaster());
  if (options_.on_part) {
    const std::string dir = std::string(kLlDir) + "/" + RungDir(out.stored) + "/";
    options_.on_part(LivePart{out.stored.name, msn, part, dir + LlPartName(msn, part),
                              dir + kLlInitName, independent != FALSE, duration});
  }
  return Status::Ok();
}

void LivePipeline::DeleteExpired(Clock::time_point now) {
  for (RungOutput& out : rungs_) {
    if (out.ll_window) {
      for (const std::string& name : out.ll_window->TakeExpired(now)) {
        std::error_code ec;
        fs::remove(out.ll_dir / name, ec);
      }
    }
    for (const std::string& uri : out.window.TakeExpired(now)) {
      std::error_code ec;
      fs::remove(out.dir / uri, ec);
      if (ec)
        NR_LOG(kWarning) << "live: cannot delete " << (out.dir / uri).string() << ": "
                         << ec.message();
    }
  }
}

Status LivePipeline::Run(const std::function<Status()>& input_status,
                         const std::function<void(LiveStats)>& on_stats,
                         const std::function<int64_t()>& input_bytes) {
  // A continued stream: the playlists as the state has them (a run killed between writing the
  // state and its playlists left them one segment behind).
  for (RungOutput& out : rungs_)
    if (!out.window.segments().empty()) NR_RETURN_IF_ERROR(WritePlaylist(out, false));
  NR_RETURN_IF_ERROR(MaybeWriteMaster());
  GstElement* p = pipeline_.element();
  if (gst_element_set_state(p, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    MessagePtr msg(gst_bus_pop_filtered(pipeline_.bus(), GST_MESSAGE_ERROR));
    return InvalidArgument("cannot start decoding: " +
                           (msg ? DescribeGstMessage(msg.get()) : std::string("unknown reason")));
  }
  auto last_stats = Clock::now();
  int64_t last_bytes = input_bytes(), last_frames = 0, last_pos = 0;
  for (;;) {
    // The slate has no input to end: it ends when asked, through an EOS from its sources.
    if (facts_ == nullptr && !eos_sent_ && options_.stop != nullptr && options_.stop->load()) {
      eos_sent_ = true;
      gst_element_send_event(p, gst_event_new_eos());
    }
    MessagePtr msg(gst_bus_timed_pop_filtered(
        pipeline_.bus(), 250 * GST_MSECOND,
        static_cast<GstMessageType>(GST_MESSAGE_ERROR | GST_MESSAGE_EOS | GST_MESSAGE_WARNING |
                                    GST_MESSAGE_ELEMENT)));
    const auto now = Clock::now();
    if (msg) {
      switch (GST_MESSAGE_TYPE(msg.get())) {
        case GST_MESSAGE_ELEMENT: {
          const GstStructure* s = gst_message_get_structure(msg.get());
          if (s != nullptr && gst_structure_has_name(s, kPartClosed)) {
            for (size_t i = 0; i < rungs_.size(); ++i) {
              if (GST_MESSAGE_SRC(msg.get()) != GST_OBJECT(rungs_[i].sink)) continue;
              Status st = OnPartClosed(i, s);
              if (!st.ok()) {
                Stop();
                return st;
              }
            }
            break;
          }
          if (s == nullptr || !gst_structure_has_name(s, kSegmentClosed)) break;
          const char* location = gst_structure_get_string(s, "location");
          for (size_t i = 0; i < rungs_.size(); ++i) {
            if (GST_MESSAGE_SRC(msg.get()) != GST_OBJECT(rungs_[i].sink) || location == nullptr)
              continue;
            Status st = OnSegmentClosed(i, location);
            if (!st.ok()) {
              Stop();
              return st;
            }
          }
          break;
        }
        case GST_MESSAGE_EOS: {
          Stop();
          // A segment some rungs closed and others did not (the very end) is not published:
          // every rung lists the same sequence numbers, and the next run reuses the number.
          for (RungOutput& out : rungs_) {
            for (const LiveSegment& seg : out.closed) {
              std::error_code ec;
              fs::remove(out.dir / seg.uri, ec);
              warnings_.push_back("the last segment of " + out.rung.name +
                                  " was dropped: not every rung finished it");
            }
            out.closed.clear();
          }
          const bool ended = !options_.open_end;
          NR_RETURN_IF_ERROR(WriteState(now, ended));
          for (RungOutput& out : rungs_)
            if (ended || !out.window.segments().empty())
              NR_RETURN_IF_ERROR(WritePlaylist(out, ended));
          NR_RETURN_IF_ERROR(MaybeWriteMaster());
          if (options_.ll_part_ms > 0) {
            NR_RETURN_IF_ERROR(WriteLlState(now));
            for (size_t i = 0; i < rungs_.size() && ended; ++i)
              NR_RETURN_IF_ERROR(WriteLlPlaylist(i, true));
          }
          DeleteExpired(now);
          return input_status();
        }
        case GST_MESSAGE_ERROR: {
          const std::string what = DescribeGstMessage(msg.get());
          for (GstElement* bin : encoder_bins_)
            if (GST_MESSAGE_SRC(msg.get()) == GST_OBJECT(bin) ||
                gst_object_has_as_ancestor(GST_MESSAGE_SRC(msg.get()), GST_OBJECT(bin)))
              encoder_failed_ = true;
          Stop();
          Status in = input_status();
          if (!in.ok()) return in;
          return InvalidArgument("media error at " +
                                 std::to_string(position_ns_.load() / 1e9).substr(0, 6) +
                                 " s: " + what);
        }
        case GST_MESSAGE_WARNING: {
          const std::string what = DescribeGstMessage(msg.get());
          NR_LOG(kWarning) << "live: " << what;
          if (warnings_.size() < 100) warnings_.push_back(what);
          break;
        }
        default:
          break;
      }
    }
    DeleteExpired(now);
    if (Status in = input_status(); !in.ok()) {
      Stop();
      return in;
    }
    const double elapsed = std::chrono::duration<double>(now - last_stats).count();
    if (elapsed >= 1.0) {
      LiveStats st;
      const int64_t bytes = input_bytes(), frames = frames_.load(), pos = position_ns_.load();
      st.input_bitrate = (bytes - last_bytes) * 8.0 / elapsed;
      st.fps = (frames - last_frames) / elapsed;
      st.speed = (pos - last_pos) / 1e9 / elapsed;
      st.position_seconds = pos / 1e9;
      st.segments = rungs_.empty() ? 0 : rungs_.front().published;
      st.latency_seconds = last_latency_;
      last_bytes = bytes;
      last_frames = frames;
      last_pos = pos;
      last_stats = now;
      if (on_stats) on_stats(st);
    }
  }
}

// The window options of `options`, checked; `segment_seconds` is the stream's.
Result<LiveWindowOptions> WindowOptionsFor(const LiveOptions& options, double segment_seconds) {
  if (segment_seconds < 1 || segment_seconds > 6)
    return InvalidArgument("the segment duration must be between 1 and 6 s");
  LiveWindowOptions window;
  window.target_duration = static_cast<int>(std::ceil(segment_seconds - 0.001));
  window.window_seconds = options.window_seconds;
  window.delete_grace = options.delete_grace.value_or(
      MinimumDeleteGrace(window.target_duration, options.window_seconds));
  NR_RETURN_IF_ERROR(CheckLiveWindowOptions(window));
  return window;
}

// OUTDIR/live-state.json, checked; nullopt when there is none.
Result<std::optional<LiveState>> LoadLiveState(const fs::path& outdir) {
  const fs::path path = outdir / kLiveStateFile;
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::optional<LiveState>();
  if (!fs::is_regular_file(path, ec))
    return InvalidArgument(path.string() + " is not a regular file");
  const auto size = fs::file_size(path, ec);
  if (ec) return IoError("cannot read " + path.string() + ": " + ec.message());
  if (size > (64u << 20)) return InvalidArgument(path.string() + " is larger than 64 MB");
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in && !in.eof()) return IoError("cannot read " + path.string());
  auto state = ParseLiveState(text);
  if (!state.ok()) return state.status();
  return std::optional<LiveState>(std::move(*state));
}

// The state a continued run starts from (--continue with a state file), or nullopt.
Result<std::optional<LiveState>> StateToContinue(const fs::path& outdir,
                                                 const LiveOptions& options) {
  if (!options.continue_stream) return std::optional<LiveState>();
  auto state = LoadLiveState(outdir);
  if (!state.ok()) return state.status();
  if (*state && (*state)->ended)
    return Status(ErrorCode::kFailedPrecondition,
                  "the stream in " + outdir.string() +
                      " has ended (its playlists carry EXT-X-ENDLIST) and cannot go on; start a "
                      "new stream in a new folder");
  return state;
}

// What a run (the stream's or the slate's) starts from: the state it continues (or none) and its
// window options, with the output folder made. A continued stream keeps its segment duration:
// EXT-X-TARGETDURATION must not change.
struct RunStart {
  std::optional<LiveState> continued;
  LiveWindowOptions window;
  std::optional<LlState> ll_continued;  // with low latency: the LL output continued
};

// The number past every low-latency part or segment file in OUTDIR/ll/<rung>/ (p<N>.<K>.m4s,
// s<N>.m4s); 0 when there is none.
int64_t NextMsnOnDisk(const fs::path& outdir) {
  int64_t next = 0;
  std::error_code ec;
  for (fs::directory_iterator rung(outdir / kLlDir, ec), end; !ec && rung != end;
       rung.increment(ec)) {
    if (!rung->is_directory(ec)) continue;
    std::error_code inner;
    for (fs::directory_iterator f(rung->path(), inner); !inner && f != end; f.increment(inner)) {
      const std::string name = f->path().filename().string();
      if (name.size() < 6 || (name[0] != 'p' && name[0] != 's') ||
          name.substr(name.size() - 4) != ".m4s")
        continue;
      const size_t digits = name.find_first_not_of("0123456789", 1);
      if (digits == 1 || digits == std::string::npos || digits > 13) continue;
      next = std::max<int64_t>(next, std::stoll(name.substr(1, digits - 1)) + 1);
    }
  }
  return next;
}

// OUTDIR/ll/ll-state.json, checked; nullopt when there is none.
Result<std::optional<LlState>> LoadLlState(const fs::path& outdir) {
  const fs::path path = outdir / kLlDir / kLlStateFile;
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::optional<LlState>();
  if (!fs::is_regular_file(path, ec) || fs::file_size(path, ec) > (16u << 20))
    return InvalidArgument(path.string() + " is not a regular file of at most 16 MB");
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto state = ParseLlState(text);
  if (!state.ok()) return state.status();
  return std::optional<LlState>(std::move(*state));
}
Result<RunStart> StartRun(const std::string& outdir, const LiveOptions& options) {
  auto continued = StateToContinue(outdir, options);
  if (!continued.ok()) return continued.status();
  auto window = WindowOptionsFor(
      options, *continued ? (*continued)->segment_seconds : options.segment_seconds);
  if (!window.ok()) return window.status();
  std::error_code ec;
  fs::create_directories(outdir, ec);
  if (ec) return IoError("cannot create " + outdir + ": " + ec.message());
  std::optional<LlState> ll;
  if (options.ll_part_ms > 0 && *continued) {
    auto loaded = LoadLlState(outdir);
    if (loaded.ok()) {
      ll = std::move(*loaded);
    } else {
      // The low-latency output is the stream's second way out, not a reason to stop the first:
      // it starts afresh past every number its files use (a part a player cached is never
      // rewritten under the same name), after a discontinuity.
      LlState fresh;
      fresh.next_msn = NextMsnOnDisk(outdir);
      NR_LOG(kWarning) << "live: " << loaded.status().message()
                       << "; the low-latency playlists start again at segment " << fresh.next_msn;
      ll = std::move(fresh);
    }
  }
  return RunStart{std::move(*continued), *window, std::move(ll)};
}

// A new stream's state: the ladder's rungs with their BANDWIDTH bounds, nothing published.
LiveState FreshState(const Ladder& ladder, const LiveOptions& options, int target_duration) {
  LiveState s;
  s.segment_seconds = options.segment_seconds;
  s.target_duration = target_duration;
  s.fps_n = ladder.fps_n;
  s.fps_d = ladder.fps_d;
  s.has_audio = ladder.has_audio;
  s.audio_bitrate = ladder.audio_bitrate;
  s.audio_rate = ladder.audio_rate;
  s.next_sequence = options.first_sequence;
  for (const Rung& r : ladder.rungs) {
    LiveRungState rs;
    rs.rung = r;
    rs.bandwidth = LiveBandwidthBound(r, ladder.has_audio, ladder.audio_bitrate, ladder.audio_rate,
                                      ladder.segment_ns() / 1e9);
    s.rungs.push_back(std::move(rs));
  }
  return s;
}

Result<const VideoEncoder*> ChooseEncoder(const LiveOptions& options, LiveFailure* failure) {
  EncoderProver& prover = options.encoders ? *options.encoders : EncoderProver::Default();
  const VideoEncoder* encoder = nullptr;
  Status chosen = prover.ForEachCandidate(options.encoder, [&](const VideoEncoder& e) {
    if (e.codec() != VideoCodec::kH264) return false;  // the playlists' CODECS speak H.264
    encoder = &e;
    return true;
  });
  if (encoder == nullptr) {
    if (failure) failure->encoder_failed = true;
    return chosen.ok() ? NotFound("no proven H.264 encoder") : chosen;
  }
  return encoder;
}

LiveResult ResultOf(const LivePipeline& pipeline, const VideoEncoder& encoder) {
  LiveResult result;
  result.encoder = encoder.name();
  result.encoder_element = encoder.factory();
  for (const RungOutput& out : pipeline.rungs()) {
    result.rungs.push_back(
        {out.stored.name, out.stored.width, out.stored.height, out.bandwidth,
         static_cast<int64_t>(std::ceil(out.peak_bps)),
         out.published_seconds > 0
             ? static_cast<int64_t>(std::ceil(out.published_bytes * 8.0 / out.published_seconds))
             : 0,
         out.codecs, out.stored.frame_rate(), RungDir(out.stored) + "/" + kMediaPlaylist});
    result.segments = std::max(result.segments, out.published);
    result.duration_seconds = std::max(result.duration_seconds, out.published_seconds);
  }
  return result;
}

}  // namespace

Result<Ladder> PickLiveLadder(int display_width, int display_height, int fps_n, int fps_d,
                              bool has_audio, const LiveOptions& options) {
  MediaInfo source;
  VideoStreamInfo v;
  v.display_width = v.width = display_width;
  v.display_height = v.height = display_height;
  v.fps_n = fps_n;
  v.fps_d = fps_d;
  source.video.push_back(v);
  if (has_audio) {
    AudioStreamInfo a;
    a.sample_rate = 48000;
    a.channels = 2;
    source.audio.push_back(a);
  }
  LadderOptions lo;
  lo.short_sides = options.short_sides;
  lo.gop_seconds = options.segment_seconds;
  lo.segment_seconds = options.segment_seconds;
  lo.audio_bitrate = options.audio_bitrate;
  auto ladder = PickLadder(source, lo);
  if (!ladder.ok()) return ladder;
  ladder->gops_per_segment = 1;
  for (Rung& r : ladder->rungs) {
    // Half a segment of buffer at the peak rate: BANDWIDTH (peak + buffer / segment) is then
    // 1.5 times the peak rate, where VOD's 2 s buffer would make it twice at 2 s segments.
    if (!r.low)
      r.buffer_size = static_cast<int>(std::lround(r.max_bitrate * options.segment_seconds / 2));
  }
  return ladder;
}

Result<LiveResult> RunLive(int input_fd, const std::string& outdir, const LiveOptions& options,
                           const std::function<void(const LiveStats&)>& on_stats,
                           LiveFailure* failure) {
  EnsureGstInit();
  auto start = StartRun(outdir, options);
  if (!start.ok()) return start.status();
  const std::optional<LiveState>& continued = start->continued;
  const LiveWindowOptions& window = start->window;

  InputReader reader(input_fd, options.stop, options.stall_timeout);
  // 1. The first bytes: MPEG-TS or nothing.
  std::vector<std::string> held;
  size_t held_bytes = 0;
  bool ended = false;
  // Reads the next chunk into `held`, or notes the input's end.
  auto read_more = [&]() -> Status {
    auto chunk = reader.Next();
    if (!chunk.ok()) return chunk.status();
    ended = chunk->empty();
    held_bytes += chunk->size();
    if (!ended) held.push_back(std::move(*chunk));
    return Status::Ok();
  };
  while (held_bytes < kTypefindBytes && !ended) NR_RETURN_IF_ERROR(read_more());
  {
    std::string head;
    for (const auto& c : held) head += c;
    NR_RETURN_IF_ERROR(CheckIsMpegTs(head));
  }

  // 2. Parsers only, until the picture's size and rate are known. What was read is held and
  // replayed into the real pipeline.
  InputFacts facts;
  {
    InputProbe probe;
    NR_RETURN_IF_ERROR(probe.Build());
    size_t fed = 0;
    const auto deadline = Clock::now() + options.stall_timeout;
    bool done = false;
    while (!done) {
      for (; fed < held.size(); ++fed) probe.Push(held[fed]);
      if (ended) {
        probe.EndOfStream();
        while (!probe.Wait(std::chrono::milliseconds(200)) && Clock::now() < deadline) {
        }
        break;
      }
      done = probe.Wait(std::chrono::milliseconds(0));
      if (done || held_bytes > kMaxProbeBytes || Clock::now() > deadline) break;
      NR_RETURN_IF_ERROR(read_more());
    }
    auto f = probe.Facts();
    if (!f.ok()) return f.status();
    facts = *f;
  }
  for (const auto& r : facts.refused) NR_LOG(kInfo) << "live: ignoring a " << r << " stream";

  // 3. The ladder and the encoder.
  VideoStreamInfo v;
  v.width = facts.width;
  v.height = facts.height;
  v.par_n = facts.par_n > 0 ? facts.par_n : 1;
  v.par_d = facts.par_d > 0 ? facts.par_d : 1;
  ComputeDisplaySize(v);
  // A continued stream keeps its rungs: every size in master.m3u8 stays what players chose, and
  // the new picture is scaled into it, with black bars where its shape differs (videoscale's
  // add-borders: a face squeezed to another aspect is worse than bars).
  LiveState state;
  if (continued) {
    state = *continued;
    if (state.has_audio && facts.audio_caps.empty())
      NR_LOG(kWarning) << "live: the stream had audio and this source has none: its segments "
                          "carry video only";
  } else {
    auto picked = PickLiveLadder(v.display_width, v.display_height, facts.fps_n, facts.fps_d,
                                 !facts.audio_caps.empty(), options);
    if (!picked.ok()) return picked.status();
    state = FreshState(*picked, options, window.target_duration);
  }
  Ladder ladder = LadderOfState(state);
  if (facts.audio_caps.empty()) ladder.has_audio = false;
  auto encoder = ChooseEncoder(options, failure);
  if (!encoder.ok()) return encoder.status();

  // 4. The pipeline; the held bytes first, then the reader's thread feeds it.
  LivePipeline pipeline(&facts, ladder, state, **encoder, options, window, fs::path(outdir),
                        start->ll_continued);
  if (Status built = pipeline.Build(); !built.ok()) {
    if (failure) failure->encoder_failed = pipeline.encoder_failed();
    return built;
  }
  std::mutex input_mu;
  Status input_error;  // guarded by input_mu
  std::atomic<bool> quit{false};
  std::thread feeder([&] {
    // Pushed here, not before: the bounded source would block until the pipeline plays.
    for (const auto& chunk : held) pipeline.Push(ToBuffer(chunk));
    if (!ended) {
      for (;;) {
        auto chunk = reader.Next(&quit);
        if (!chunk.ok()) {
          std::lock_guard lock(input_mu);
          input_error = chunk.status();
          break;
        }
        if (chunk->empty()) break;
        pipeline.Push(ToBuffer(*chunk));
      }
    }
    pipeline.EndOfStream();
  });
  Status run = pipeline.Run(
      [&] {
        std::lock_guard lock(input_mu);
        return input_error;
      },
      [&](LiveStats s) {
        if (on_stats) on_stats(s);
      },
      [&] { return reader.bytes(); });
  quit = true;
  pipeline.Stop();  // unblocks a push waiting for room
  feeder.join();
  if (!run.ok()) {
    if (failure) failure->encoder_failed = pipeline.encoder_failed();
    return run;
  }

  LiveResult result = ResultOf(pipeline, **encoder);
  result.video_codec = VideoCodecOf(facts.video_caps);
  result.width = facts.width;
  result.height = facts.height;
  result.audio_codec = facts.audio_codec;
  result.input_bytes = reader.bytes();
  result.warnings = pipeline.warnings();
  if (const int64_t leaps = pipeline.feed_clock().jumps(); leaps > 0) {
    result.warnings.push_back(
        LeapsWarning("the feed's", leaps, pipeline.feed_clock().largest_jump_ns(), "the stream"));
  }
  return result;
}

Result<LiveResult> RunLiveSlate(const std::string& outdir, const LiveOptions& options,
                                const std::function<void(const LiveStats&)>& on_stats,
                                LiveFailure* failure) {
  EnsureGstInit();
  auto start = StartRun(outdir, options);
  if (!start.ok()) return start.status();
  const std::optional<LiveState>& continued = start->continued;
  const LiveWindowOptions& window = start->window;

  LiveState state;
  if (continued) {
    state = *continued;
  } else {
    // No stream yet: the default ladder of a 16:9 1080p30 source with audio.
    auto picked = PickLiveLadder(1920, 1080, 30, 1, true, options);
    if (!picked.ok()) return picked.status();
    state = FreshState(*picked, options, window.target_duration);
  }
  const Ladder slate = SlateLadder(LadderOfState(state));
  auto encoder = ChooseEncoder(options, failure);
  if (!encoder.ok()) return encoder.status();
  LivePipeline pipeline(nullptr, slate, state, **encoder, options, window, fs::path(outdir),
                        start->ll_continued);
  if (Status built = pipeline.Build(); !built.ok()) {
    if (failure) failure->encoder_failed = pipeline.encoder_failed();
    return built;
  }
  Status run = pipeline.Run([] { return Status::Ok(); },
                            [&](LiveStats s) {
                              if (on_stats) on_stats(s);
                            },
                            [] { return int64_t{0}; });
  if (!run.ok()) {
    if (failure) failure->encoder_failed = pipeline.encoder_failed();
    return run;
  }
  LiveResult result = ResultOf(pipeline, **encoder);
  result.width = slate.rungs.front().width;
  result.height = slate.rungs.front().height;
  result.warnings = pipeline.warnings();
  return result;
}

Status FinishLive(const std::string& outdir) {
  auto loaded = LoadLiveState(outdir);
  if (!loaded.ok()) return loaded.status();
  if (!*loaded)
    return NotFound("no " + std::string(kLiveStateFile) + " in " + outdir +
                    ": no live stream to finish there");
  LiveState state = **loaded;
  state.ended = true;
  LiveWindowOptions window;
  window.target_duration = state.target_duration;
  const auto now = Clock::now();
  // The state first, as a run does; then every playlist, whole, with EXT-X-ENDLIST.
  NR_RETURN_IF_ERROR(WriteFileAtomically(fs::path(outdir) / kLiveStateFile, LiveStateJson(state)));
  bool all_known = true;
  std::vector<LiveVariant> variants;
  for (const LiveRungState& r : state.rungs) {
    const fs::path dir = fs::path(outdir) / RungDir(r.rung);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return IoError("cannot create " + dir.string() + ": " + ec.message());
    LiveWindow w(window, r.segments, r.pending, r.discontinuity_sequence, now);
    NR_RETURN_IF_ERROR(WriteFileAtomically(dir / kMediaPlaylist, w.PlaylistText(true)));
    all_known = all_known && !r.codecs.empty() && !r.segments.empty();
    variants.push_back({RungDir(r.rung) + "/" + kMediaPlaylist, r.bandwidth, r.codecs, r.rung.width,
                        r.rung.height, r.rung.frame_rate()});
  }
  if (all_known)
    NR_RETURN_IF_ERROR(
        WriteFileAtomically(fs::path(outdir) / kMasterPlaylist, LiveMasterPlaylistText(variants)));
  // The low-latency playlists, when a run wrote them: their windows, with EXT-X-ENDLIST. An
  // unreadable LL state does not keep the stream from ending (as in StartRun): its playlists
  // are left as the last run wrote them.
  auto ll = LoadLlState(outdir);
  if (!ll.ok()) {
    NR_LOG(kWarning) << "live: " << ll.status().message()
                     << "; the low-latency playlists are left as they are";
  } else if (*ll) {
    for (const LlRungState& r : (*ll)->rungs) {
      const auto rung = std::find_if(state.rungs.begin(), state.rungs.end(),
                                     [&](const LiveRungState& s) { return s.rung.name == r.name; });
      if (rung == state.rungs.end()) continue;  // only the stream's own rungs name a folder
      LlWindowOptions o;
      o.target_duration = state.target_duration;
      o.part_target = (*ll)->part_target;
      const fs::path dir = fs::path(outdir) / kLlDir / RungDir(rung->rung);
      std::error_code ec;
      fs::create_directories(dir, ec);
      if (ec) return IoError("cannot create " + dir.string() + ": " + ec.message());
      LlWindow w(o, r, (*ll)->next_msn, now);
      NR_RETURN_IF_ERROR(WriteFileAtomically(dir / kMediaPlaylist, w.PlaylistText({}, true)));
    }
  }
  return Status::Ok();
}

}  // namespace newsreel::transcoder
