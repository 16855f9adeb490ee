#include "transcoder/vod_pipeline.h"

#include <gst/audio/audio.h>
#include <gst/video/video.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "common/log.h"
#include "transcoder/aac_encoder.h"
#include "transcoder/device_path.h"
#include "transcoder/sws_scale.h"
#include "transcoder/video_timeline.h"

namespace newsreel::transcoder {
namespace {

namespace fs = std::filesystem;

// x264's analysis on every VOD rung: veryfast's, less the hexagon motion search (a diamond) and
// the 8x8 B partitions (VideoEncodeSettings::fast_analysis). Measured rung by rung with ffmpeg's
// libx264 on the frames each rung is fed (one thread, the rung's rate control), on 55 s of the
// real clips at 360p: x264 CPU -12 %, SSIM (RGB) -0.0002; per clip, at the source's size or
// scaled down, -0.0006 at worst. Cheaper steps were measured and refused: subme=1 (-30 % CPU)
// lost up to 0.0065 on real footage (0.0006 on the synthetic source, which hides it), no 8x8
// P partitions 0.0024, a 5-frame lookahead 0.0018. Figures against ffmpeg for the whole
// ladder: docs/performance.md.
constexpr bool kVodFastAnalysis = true;

void SetCaps(GstElement* capsfilter, const std::string& caps) {
  CapsPtr c(gst_caps_from_string(caps.c_str()));
  g_object_set(capsfilter, "caps", c.get(), nullptr);
}

std::string Fraction(int n, int d) { return std::to_string(n) + "/" + std::to_string(d); }

void ConfigureQueue(GstElement* queue, int buffers) {
  // Bounded by buffer count only: decoded 1080p frames are 3 MB each, so a byte limit would
  // starve the encoders of parallel work.
  g_object_set(queue, "max-size-buffers", static_cast<guint>(buffers), "max-size-bytes", 0u,
               "max-size-time", static_cast<guint64>(0), nullptr);
}

// Limited range (SharedChainCaps), with the frame's own colour matrix.
RgbImage I420ToRgb(const GstVideoFrame& frame) {
  RgbImage img;
  img.width = GST_VIDEO_FRAME_WIDTH(&frame);
  img.height = GST_VIDEO_FRAME_HEIGHT(&frame);
  img.pixels.resize(static_cast<size_t>(img.width) * img.height * 3);
  gdouble kr = 0.2126, kb = 0.0722;
  gst_video_color_matrix_get_Kr_Kb(GST_VIDEO_INFO_COLORIMETRY(&frame.info).matrix, &kr, &kb);
  const double kg = 1 - kr - kb;
  const auto* yp = static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&frame, 0));
  const auto* up = static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&frame, 1));
  const auto* vp = static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&frame, 2));
  const int ys = GST_VIDEO_FRAME_PLANE_STRIDE(&frame, 0);
  const int us = GST_VIDEO_FRAME_PLANE_STRIDE(&frame, 1);
  const int vs = GST_VIDEO_FRAME_PLANE_STRIDE(&frame, 2);
  auto clamp8 = [](double v) { return static_cast<uint8_t>(std::clamp(v, 0.0, 255.0) + 0.5); };
  // Each term of the conversion per sample value, computed as the per-pixel formula would:
  // the same bytes for a sixth of the work (a 360p frame took ~3 ms).
  double luma[256], r_v[256], g_u[256], g_v[256], b_u[256];
  for (int i = 0; i < 256; ++i) {
    const double Y = (i - 16) * (255.0 / 219.0);
    const double C = (i - 128) * (255.0 / 224.0);
    luma[i] = Y;
    r_v[i] = 2 * (1 - kr) * C;
    g_u[i] = 2 * (1 - kb) * kb / kg * C;
    g_v[i] = 2 * (1 - kr) * kr / kg * C;
    b_u[i] = 2 * (1 - kb) * C;
  }
  uint8_t* o = img.pixels.data();
  for (int y = 0; y < img.height; ++y) {
    const uint8_t* yrow = yp + static_cast<ptrdiff_t>(y) * ys;
    const uint8_t* urow = up + static_cast<ptrdiff_t>(y / 2) * us;
    const uint8_t* vrow = vp + static_cast<ptrdiff_t>(y / 2) * vs;
    for (int x = 0; x < img.width; ++x, o += 3) {
      const double Y = luma[yrow[x]];
      const uint8_t u = urow[x / 2], v = vrow[x / 2];
      o[0] = clamp8(Y + r_v[v]);
      o[1] = clamp8(Y - g_u[u] - g_v[v]);
      o[2] = clamp8(Y + b_u[u]);
    }
  }
  return img;
}

}  // namespace

GstPadProbeReturn PinDecodedColour(GstPad*, GstPadProbeInfo* info,
                                   gpointer i420_capsfilter) noexcept {
  GstEvent* event = GST_PAD_PROBE_INFO_EVENT(info);
  if (GST_EVENT_TYPE(event) != GST_EVENT_CAPS) return GST_PAD_PROBE_OK;
  GstCaps* decoded = nullptr;
  gst_event_parse_caps(event, &decoded);
  CapsPtr spelled = DecodedColourSpelledOut(decoded);
  if (spelled) {
    ReplaceProbedEvent(info, gst_event_new_caps(spelled.get()));
    decoded = spelled.get();
  }
  // Pinned once, before the converter sees the first caps, so that it negotiates against them; a
  // later change of the decoder's colour space is converted into the first one, and the
  // encoders' stream headers stay true.
  auto* capsfilter = static_cast<GstElement*>(i420_capsfilter);
  GstCaps* pinned = nullptr;
  g_object_get(capsfilter, "caps", &pinned, nullptr);
  CapsPtr pinned_owner(pinned);
  if (pinned != nullptr && gst_caps_get_size(pinned) > 0 &&
      gst_structure_has_field(gst_caps_get_structure(pinned, 0), "colorimetry"))
    return GST_PAD_PROBE_OK;
  SetCaps(capsfilter, SharedChainCaps(decoded));
  return GST_PAD_PROBE_OK;
}

// Running time of `pts` in the segment currently on `pad` (the PTS itself when there is none).
int64_t RunningTime(GstPad* pad, GstClockTime pts) {
  GstEvent* event = gst_pad_get_sticky_event(pad, GST_EVENT_SEGMENT, 0);
  if (event == nullptr) return static_cast<int64_t>(pts);
  const GstSegment* segment = nullptr;
  gst_event_parse_segment(event, &segment);
  GstClockTime rt = segment->format == GST_FORMAT_TIME
                        ? gst_segment_to_running_time(segment, GST_FORMAT_TIME, pts)
                        : GST_CLOCK_TIME_NONE;
  gst_event_unref(event);
  return GST_CLOCK_TIME_IS_VALID(rt) ? static_cast<int64_t>(rt) : static_cast<int64_t>(pts);
}

GstClockTime StartDtsAligner::Align(GstClockTime pts, GstClockTime dts) {
  if (done_) return dts;
  if (!GST_CLOCK_TIME_IS_VALID(pts) || !GST_CLOCK_TIME_IS_VALID(dts)) {
    done_ = true;  // nothing to align against; leave the stream as the encoder made it
    return dts;
  }
  if (!started_) {
    started_ = true;
    first_pts_ = pts;
    first_dts_ = dts;
    if (dts >= pts) {
      done_ = true;  // no reorder delay (no B-frames): already aligned
      return dts;
    }
  }
  if (dts > first_pts_) {
    done_ = true;
    return dts;
  }
  // [first DTS, first PTS] onto [first PTS, first PTS + one frame): the encoder's next DTS,
  // one frame after first PTS, stays above all of them.
  const GstClockTime lead = first_pts_ - first_dts_;
  return first_pts_ +
         gst_util_uint64_scale(dts - first_dts_, frame_duration_, lead + frame_duration_);
}

namespace {

bool LinkPads(GstElement* src, const char* src_pad, GstElement* sink, GstPad* sink_pad) {
  GstPtr<GstPad> sp(gst_element_get_static_pad(src, src_pad));
  return gst_pad_link(sp.get(), sink_pad) == GST_PAD_LINK_OK;
}

}  // namespace

std::string RungDir(const Rung& rung) { return rung.name; }

VodPipeline::VodPipeline(const MediaInfo& source, const Ladder& ladder, const VideoEncoder& encoder,
                         std::string staging_dir, ThumbnailPlan thumbnails)
    : source_(source),
      ladder_(ladder),
      encoder_(encoder),
      schedule_{0, ladder.segment_ns()},
      staging_dir_(std::move(staging_dir)),
      thumbs_(thumbnails) {}

VodPipeline::~VodPipeline() {
  // Stop streaming threads before the bundle they may still touch is freed (when they cannot
  // be stopped, it is left to them).
  if (!Stop()) (void)aac_.release();
}

bool VodPipeline::Stop() {
  if (pipeline_.abandoned()) return false;
  if (pipeline_.StopWithin(std::chrono::seconds(20))) return true;
  NR_LOG(kError) << "transcode: the pipeline did not stop within 20 s; abandoning it";
  warnings_.push_back("the pipeline did not shut down cleanly");
  return false;
}

void VodPipeline::ConfigureTsMux(GstElement* mux) const {
  // PAT/PMT once per GOP instead of every 100 ms: each segment still opens with them, and the
  // tables alone would otherwise cost about 30 kb/s, as much as half the audio rendition.
  const guint psi_interval = static_cast<guint>(ladder_.gop_ns() * 9 / 100000);  // 90 kHz
  g_object_set(mux, "pat-interval", psi_interval, "pmt-interval", psi_interval, nullptr);
}

GstElement* VodPipeline::Add(const char* factory, const char* name) {
  auto e = MakeElement(factory, name);
  if (!e) {
    if (missing_.empty()) missing_ = factory;
    return nullptr;
  }
  return pipeline_.Add(std::move(e));
}

int64_t VodPipeline::leaps() const {
  int64_t n = 0;
  for (const auto& clock : feed_clocks_) n += clock->jumps();
  return n;
}

int64_t VodPipeline::largest_leap_ns() const {
  int64_t largest = 0;
  for (const auto& clock : feed_clocks_) largest = std::max(largest, clock->largest_jump_ns());
  return largest;
}

Status VodPipeline::Build() {
  if (recording_ == nullptr) {
    GstElement* src = Add("filesrc");
    GstElement* decode = Add("decodebin");
    if (src == nullptr || decode == nullptr)
      return NotFound("GStreamer element missing: " + missing_);
    g_object_set(src, "location", source_.path.c_str(), nullptr);
    if (!gst_element_link(src, decode)) return Internal("cannot link filesrc to decodebin");
    g_signal_connect(decode, "pad-added", G_CALLBACK(&VodPipeline::PadAddedThunk), this);
    RefuseOutsideElements(decode);
    TuneVideoDecoders(decode);
    feed_clocks_.push_back(std::make_unique<FeedClock>());
    KeepDemuxedFeedsContinuous(decode, feed_clocks_.back().get());
  }

  const bool video = !ladder_.rungs.empty();
  const bool audio = ladder_.has_audio;
  // One splitmuxsink per rendition; the audio-only rendition exists whenever there is audio.
  auto make_splitter = [&](const std::string& dir) -> GstElement* {
    std::error_code ec;
    fs::create_directories(fs::path(staging_dir_) / dir, ec);
    GstElement* split = Add("splitmuxsink");
    auto mux = MakeElement("mpegtsmux");
    if (split == nullptr || !mux) return nullptr;
    ConfigureTsMux(mux.get());
    std::string location = (fs::path(staging_dir_) / dir / kSegmentPattern).string();
    // Cut at the first IDR at or after a whole number of GOPs: half a frame of slack so that
    // N GOPs of exactly segment_ns never spill into N+1. splitmuxsink may still miss the last
    // cut; segment_alignment.h restores it.
    guint64 max_time =
        static_cast<guint64>(ladder_.segment_ns() + 500000000LL * ladder_.fps_d / ladder_.fps_n);
    g_object_set(split, "location", location.c_str(), "max-size-time", max_time, "start-index", 1,
                 "muxer", mux.get(), nullptr);
    splitters_.push_back(split);
    return split;
  };

  std::vector<GstElement*> video_splitters;
  for (const Rung& r : ladder_.rungs) video_splitters.push_back(make_splitter(RungDir(r)));
  // The audio-only rendition is written as one stream and cut afterwards at the video
  // renditions' actual cut instants (ts_slicer.h), so that its segments line up with theirs.
  GstElement* audio_mux = nullptr;
  if (audio) {
    std::error_code ec;
    fs::create_directories(fs::path(staging_dir_) / kAudioDir, ec);
    audio_mux = Add("mpegtsmux");
    GstElement* sink = Add("filesink");
    if (audio_mux == nullptr || sink == nullptr)
      return NotFound("GStreamer element missing: " + missing_);
    ConfigureTsMux(audio_mux);
    // Unbuffered: progressive publishing reads the stream while it grows (progressive.h).
    g_object_set(sink, "location",
                 (fs::path(staging_dir_) / kAudioDir / kAudioStreamFile).string().c_str(),
                 "buffer-mode", 2 /* unbuffered */, nullptr);
    if (!gst_element_link(audio_mux, sink)) return Internal("cannot link the audio muxer");
  }
  if (!missing_.empty()) return NotFound("GStreamer element missing: " + missing_);

  if (video) {
    // Shared chain: convert to 8-bit 4:2:0 once, deinterlace, rotate per the orientation tag,
    // constant frame rate.
    GstElement* convert = Add("videoconvert");
    GstElement* i420 = Add("capsfilter");
    GstElement* deint = Add("deinterlace");
    // Only for a picture the probe saw turned or mirrored: videoflip copies every frame even
    // when it has nothing to do (perf: 1.2 % of a 360p job's CPU in gst_video_frame_copy;
    // 5-15 % more CPU than decoding alone at 1080p). A recording keeps it: the probe saw its
    // first session only.
    const VideoStreamInfo* probed = source_.video.empty() ? nullptr : &source_.video.front();
    const bool oriented =
        recording_ != nullptr || probed == nullptr || probed->rotation != 0 || probed->mirrored;
    GstElement* flip = oriented ? Add("videoflip") : nullptr;
    // A queue after the decoder only when the chain has work of its own (deinterlacing,
    // turning, converting more than 8 bits) or takes a recording's sessions one after another.
    // Otherwise the chain only passes frames on and times them, and the decoder's thread runs
    // it: a queue there cost a thread hand-off per frame and its frames' memory (alternating
    // runs: 13 MB less at the peak of a 1080p ladder, 2.4 MB on a 360p clip, 4 % less CPU on
    // it). Frames in flight are memory (3 MB each at 1080p, and every encoder holds its input
    // frames until their output leaves): the rungs' queues absorb the decoder's unevenness;
    // the encoders' own threads do the overlapping. 16 here and 8 per rung cost ~55 MB at
    // 1080p for no speed.
    const bool chain_works = oriented || probed->interlaced || probed->bit_depth > 8;
    GstElement* head_queue = chain_works ? Add("queue", "video_head") : nullptr;
    GstElement* rate = Add("videorate");
    GstElement* rate_caps = Add("capsfilter");
    GstElement* tee = Add("tee", "video_tee");
    if (!missing_.empty()) return NotFound("GStreamer element missing: " + missing_);
    video_head_ = head_queue != nullptr ? head_queue : convert;
    if (head_queue != nullptr) ConfigureQueue(head_queue, 4);
    g_object_set(convert, "n-threads", 2u, nullptr);
    SetCaps(i420, "video/x-raw,format=I420");
    // Until the decoder's caps are known; then with its colour space spelled out.
    GstPtr<GstPad> convert_sink(gst_element_get_static_pad(convert, "sink"));
    gst_pad_add_probe(convert_sink.get(), GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, &PinDecodedColour,
                      i420, nullptr);
    g_object_set(deint, "method", 10 /* yadif */, "fields", 1 /* top: one frame per frame */,
                 nullptr);
    if (flip != nullptr) g_object_set(flip, "video-direction", GST_VIDEO_ORIENTATION_AUTO, nullptr);
    SetCaps(rate_caps, "video/x-raw,framerate=" + Fraction(ladder_.fps_n, ladder_.fps_d));
    GstElement* before_rate = flip != nullptr ? flip : deint;
    if ((head_queue != nullptr && !gst_element_link(head_queue, convert)) ||
        !gst_element_link_many(convert, i420, deint, nullptr) ||
        (flip != nullptr && !gst_element_link(deint, flip)) ||
        !gst_element_link_many(before_rate, rate, rate_caps, tee, nullptr))
      return Internal("cannot link the shared video chain");

    // One timeline for every rung, from videorate on (video_timeline.h): a demuxer that corrects
    // its segment after the first frame no longer restarts videorate's grid.
    GstPtr<GstPad> rate_sink(gst_element_get_static_pad(rate, "sink"));
    KeepOneVideoTimeline(rate_sink.get());
    CarryCaptionsThrough(rate);

    GstPtr<GstPad> tee_sink(gst_element_get_static_pad(tee, "sink"));
    gst_pad_add_probe(
        tee_sink.get(), GST_PAD_PROBE_TYPE_BUFFER,
        +[](GstPad* pad, GstPadProbeInfo* info, gpointer self) noexcept -> GstPadProbeReturn {
          auto* p = static_cast<VodPipeline*>(self);
          GstBuffer* b = GST_PAD_PROBE_INFO_BUFFER(info);
          p->frames_.fetch_add(1, std::memory_order_relaxed);
          if (GST_BUFFER_PTS_IS_VALID(b))
            p->position_ns_.store(static_cast<int64_t>(GST_BUFFER_PTS(b)),
                                  std::memory_order_relaxed);
          if (GST_BUFFER_PTS_IS_VALID(b) && p->first_video_pts_.load() < 0) {
            const int64_t origin = RunningTime(pad, GST_BUFFER_PTS(b));
            p->first_video_pts_.store(origin);
            // Short first segments: cut at the first IDR at each scheduled instant (half a frame
            // of slack, as max-size-time has), before any encoded frame reaches a segmenter.
            // (max-size-time then cuts the rest.)
            for (int k = 1; p->schedule_.short_start() && k <= p->schedule_.short_count; ++k) {
              const guint64 at =
                  static_cast<guint64>(origin + p->schedule_.StartOf(k) -
                                       500000000LL * p->ladder_.fps_d / p->ladder_.fps_n);
              for (size_t i = 0; i < p->ladder_.rungs.size(); ++i)
                g_signal_emit_by_name(p->splitters_[i], "split-at-running-time", at);
            }
          }
          return GST_PAD_PROBE_OK;
        },
        this, nullptr);

    // Segments closed from the end of the video on are left uncounted (OnSegmentClosed): the
    // last one may still join the one before it, or hide a cut the segmenter missed.
    gst_pad_add_probe(
        tee_sink.get(), GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
        +[](GstPad*, GstPadProbeInfo* info, gpointer self) noexcept -> GstPadProbeReturn {
          if (GST_EVENT_TYPE(GST_PAD_PROBE_INFO_EVENT(info)) == GST_EVENT_EOS)
            static_cast<VodPipeline*>(self)->video_ended_.store(true);
          return GST_PAD_PROBE_OK;
        },
        this, nullptr);

    // A hardware encoder with a device scaler (device_path.h) gets its rungs scaled in device
    // memory; the thumbnail rung and rungs with their own frame rate stay in system memory.
    const DevicePath device =
        encoder_.hardware() && probed != nullptr
            ? PlanDevicePath(encoder_.factory(), probed->codec, probed->interlaced,
                             probed->rotation, ElementExists)
            : DevicePath{};
    const std::vector<int> rung_threads = EncoderThreads(ladder_, MachineCores());
    // Smaller rungs shrink a larger rung's scaled frames (ScaleSources), on the CPU path only.
    std::vector<int> scale_from(ladder_.rungs.size(), -1);
    if (!device.scale_on_device && probed != nullptr) {
      const bool turned = probed->rotation == 90 || probed->rotation == 270;
      scale_from = ScaleSources(ladder_, turned ? probed->height : probed->width,
                                turned ? probed->width : probed->height);
    }
    std::vector<GstElement*> rung_tees(ladder_.rungs.size(), nullptr);
    for (size_t i = 0; i < ladder_.rungs.size(); ++i) {
      const Rung& r = ladder_.rungs[i];
      const bool device_scaled = device.scale_on_device && r.fps_n == ladder_.fps_n &&
                                 r.fps_d == ladder_.fps_d &&
                                 !(thumbs_.enabled && r.width == thumbs_.poster_width &&
                                   r.height == thumbs_.poster_height);
      GstElement* q = Add("queue");
      // A rung at half the frame rate (the cellular one) keeps every other frame
      // (video_timeline.h); capssetter relabels the caps.
      GstElement* rung_rate = nullptr;
      if (r.fps_n != ladder_.fps_n || r.fps_d != ladder_.fps_d) {
        rung_rate = Add("capssetter");
        if (rung_rate == nullptr) return NotFound("GStreamer element missing: " + missing_);
        SetCaps(rung_rate, "video/x-raw,framerate=" + Fraction(r.fps_n, r.fps_d));
      }
      GstElement* upload =
          device_scaled && !device.upload.empty() ? Add(device.upload.c_str()) : nullptr;
      // libswscale's bicubic (sws_scale.h); a sharper one for the cellular rung.
      GstElement* scale = Add(device_scaled ? device.scaler.c_str() : kSwsScaleFactory);
      GstElement* size_caps = Add("capsfilter");
      GstElement* last = size_caps;
      if (!missing_.empty()) return NotFound("GStreamer element missing: " + missing_);
      ConfigureQueue(q, 3);
      if (!device_scaled && r.low) {
        // The cellular rung (144p at 64 kb/s) keeps more detail with C = 1 than with
        // libswscale's 0.6: SSIM at the source size after x264, RGB, +0.0026 to +0.0032 on the
        // 360p clips, within 0.0007 elsewhere; GStreamer's Lanczos (sharpness 1.3), used before,
        // did as well for nearly twice the CPU (docs/performance.md).
        g_object_set(scale, "bicubic-c", 1.0, nullptr);
      }
      SetCaps(size_caps, (device_scaled ? "video/x-raw(" + device.memory + ")"
                                        : std::string("video/x-raw,format=I420")) +
                             ",width=" + std::to_string(r.width) +
                             ",height=" + std::to_string(r.height) + ",pixel-aspect-ratio=1/1");
      GstElement* from = scale_from[i] >= 0 ? rung_tees[static_cast<size_t>(scale_from[i])] : tee;
      if (!gst_element_link(from, q)) return Internal("cannot link rung " + r.name);
      GstElement* before_scale = q;
      if (rung_rate != nullptr) {
        // Every other frame, counted (video_timeline.h), before the queue and the scaler: half
        // the frames held, half the scaling.
        GstPtr<GstPad> q_sink(gst_element_get_static_pad(q, "sink"));
        KeepEveryOtherFrame(q_sink.get());
        if (!gst_element_link(q, rung_rate))
          return Internal("cannot link the frame rate of rung " + r.name);
        before_scale = rung_rate;
      }
      if (upload != nullptr
              ? !gst_element_link_many(before_scale, upload, scale, size_caps, nullptr)
              : !gst_element_link_many(before_scale, scale, size_caps, nullptr))
        return Internal("cannot link rung " + r.name);
      if (std::find(scale_from.begin(), scale_from.end(), static_cast<int>(i)) !=
          scale_from.end()) {
        // This rung's scaled frames go on to its encoder and to the rungs scaled from them.
        GstElement* rung_tee = Add("tee");
        if (rung_tee == nullptr) return NotFound("GStreamer element missing: " + missing_);
        if (!gst_element_link(size_caps, rung_tee)) return Internal("cannot link rung " + r.name);
        rung_tees[i] = rung_tee;
        last = rung_tee;
      }
      if (thumbs_.enabled && r.width == thumbs_.poster_width && r.height == thumbs_.poster_height) {
        // Poster and storyboard frames are copied from this rung's scaled frames: no extra
        // branch, no extra scaling, and nothing that could hold the pipeline back.
        GstPtr<GstPad> caps_src(gst_element_get_static_pad(size_caps, "src"));
        gst_pad_add_probe(
            caps_src.get(), GST_PAD_PROBE_TYPE_BUFFER,
            +[](GstPad* pad, GstPadProbeInfo* info, gpointer self) noexcept -> GstPadProbeReturn {
              static_cast<VodPipeline*>(self)->OnThumbnailFrame(pad,
                                                                GST_PAD_PROBE_INFO_BUFFER(info));
              return GST_PAD_PROBE_OK;
            },
            this, nullptr);
      }
      VideoEncodeSettings settings;
      settings.width = r.width;
      settings.height = r.height;
      settings.fps_n = r.fps_n;
      settings.fps_d = r.fps_d;
      settings.bitrate = r.bitrate;
      settings.max_bitrate = r.max_bitrate;
      settings.buffer_size = r.buffer_size;
      settings.gop_frames = r.gop_frames;
      settings.threads = rung_threads[i];
      settings.fast_analysis = kVodFastAnalysis;
      if (device_scaled) settings.input_memory = device.memory;
      auto enc = encoder_.CreateBin(settings);
      if (!enc.ok()) {
        encoder_failed_ = true;
        return enc.status();
      }
      GstElement* enc_bin = pipeline_.Add(std::move(enc.value()));
      encoder_bins_.push_back(enc_bin);
      GstElement* parse = Add("h264parse");
      if (parse == nullptr) return NotFound("GStreamer element missing: h264parse");
      if (!gst_element_link_many(last, enc_bin, parse, nullptr))
        return Internal("cannot link the encoder of rung " + r.name);
      start_dts_.push_back(std::make_unique<StartDtsAligner>(
          gst_util_uint64_scale_int(GST_SECOND, r.fps_d, r.fps_n)));
      GstPtr<GstPad> parse_src(gst_element_get_static_pad(parse, "src"));
      gst_pad_add_probe(parse_src.get(), GST_PAD_PROBE_TYPE_BUFFER,
                        &VodPipeline::AlignStartDtsThunk, start_dts_.back().get(), nullptr);
      GstPtr<GstPad> vpad(gst_element_request_pad_simple(video_splitters[i], "video"));
      if (!LinkPads(parse, "src", video_splitters[i], vpad.get()))
        return Internal("cannot link rung " + r.name + " to its segmenter");
    }
  }

  if (audio) {
    audio_head_ = Add("queue", "audio_head");
    if (silent_audio_seconds_ > 0) {
      // Silence for the whole programme in place of a track that decodes to nothing.
      GstElement* silence = Add("audiotestsrc", "silence");
      if (silence == nullptr) return NotFound("GStreamer element missing: audiotestsrc");
      const int rate = ladder_.audio_rate;
      const int per_buffer = 1024;
      const int buffers =
          std::max(2, static_cast<int>(std::ceil(silent_audio_seconds_ * rate / per_buffer)));
      g_object_set(silence, "wave", 4 /* silence */, "samplesperbuffer", per_buffer, "num-buffers",
                   buffers, nullptr);
      if (!gst_element_link(silence, audio_head_)) return Internal("cannot link the silence");
      audio_linked_ = true;  // decodebin's audio pads go to a fakesink
    }
    GstElement* convert = Add("audioconvert");
    GstElement* resample = Add("audioresample");
    GstElement* raw_caps = Add("capsfilter");
    // Gaps in the audio become silence: between a recording's sessions and streams, and inside
    // one file (Android's MediaMuxer can stamp the second AAC frame 0.18 s after the first).
    // Without it the encoder, which counts samples, packs the frames after a gap up against the
    // ones before: the track loses its place on the timeline and ends early.
    GstElement* gaps = Add("audiorate");
    if (recording_ == nullptr && gaps != nullptr) {
      // Only gaps between the source's own frames. audiorate also fills to the segment's stop
      // at EOS, and through GAP events: a file cut short, whose demuxer's segment ends at the
      // duration its header declares, would come out that long in silence (and the video
      // with it), hiding that the file is incomplete. So its segment is left open-ended and
      // GAP events do not reach it.
      GstPtr<GstPad> sink(gst_element_get_static_pad(gaps, "sink"));
      gst_pad_add_probe(
          sink.get(), GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
          [](GstPad*, GstPadProbeInfo* info, gpointer) -> GstPadProbeReturn {
            GstEvent* event = GST_PAD_PROBE_INFO_EVENT(info);
            if (GST_EVENT_TYPE(event) == GST_EVENT_GAP) return GST_PAD_PROBE_DROP;
            if (GST_EVENT_TYPE(event) != GST_EVENT_SEGMENT) return GST_PAD_PROBE_OK;
            const GstSegment* in = nullptr;
            gst_event_parse_segment(event, &in);
            if (in == nullptr || in->format != GST_FORMAT_TIME || in->stop == GST_CLOCK_TIME_NONE)
              return GST_PAD_PROBE_OK;
            GstSegment open = *in;
            open.stop = GST_CLOCK_TIME_NONE;
            ReplaceProbedEvent(info, gst_event_new_segment(&open));
            return GST_PAD_PROBE_OK;
          },
          nullptr, nullptr);
    }
    GstElement* enc = Add(kAacEncoderFactory);
    GstElement* parse = Add("aacparse");
    GstElement* adts_caps = Add("capsfilter");
    GstElement* tee = Add("tee", "audio_tee");
    if (!missing_.empty()) return NotFound("GStreamer element missing: " + missing_);
    ConfigureQueue(audio_head_, 64);
    SetCaps(raw_caps, "audio/x-raw,channels=2,rate=" + std::to_string(ladder_.audio_rate));
    g_object_set(enc, "bitrate", static_cast<gint>(ladder_.audio_bitrate), nullptr);
    SetCaps(adts_caps, "audio/mpeg,mpegversion=4,stream-format=adts");
    if (!gst_element_link_many(audio_head_, convert, resample, raw_caps, nullptr) ||
        !gst_element_link_many(raw_caps, gaps, enc, nullptr) ||
        !gst_element_link_many(enc, parse, adts_caps, tee, nullptr))
      return Internal("cannot link the audio chain");
    // Counts encoded audio: a track that yields none (a few milliseconds trimmed away by its
    // edit list) makes every muxer fail, and the caller then retries with silence.
    GstPtr<GstPad> parse_src(gst_element_get_static_pad(parse, "src"));
    gst_pad_add_probe(parse_src.get(), GST_PAD_PROBE_TYPE_BUFFER, &VodPipeline::CountAudioThunk,
                      this, nullptr);
    // mpegtsmux writes one PES per buffer: one ~180-byte AAC frame in two 188-byte TS packets
    // would double the audio's cost. Bundle several ADTS frames per buffer (as ffmpeg does).
    // On the tee's sink pad: a bundle can still be pushed there when the EOS arrives.
    GstPtr<GstPad> bundle_pad(gst_element_get_static_pad(tee, "sink"));
    gst_pad_add_probe(bundle_pad.get(),
                      static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER |
                                                   GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
                      &VodPipeline::AacBundleThunk, this, nullptr);
    if (!video) {
      GstPtr<GstPad> tee_sink(gst_element_get_static_pad(tee, "sink"));
      gst_pad_add_probe(
          tee_sink.get(), GST_PAD_PROBE_TYPE_BUFFER,
          +[](GstPad*, GstPadProbeInfo* info, gpointer self) noexcept -> GstPadProbeReturn {
            auto* p = static_cast<VodPipeline*>(self);
            GstBuffer* b = GST_PAD_PROBE_INFO_BUFFER(info);
            if (GST_BUFFER_PTS_IS_VALID(b))
              p->position_ns_.store(static_cast<int64_t>(GST_BUFFER_PTS(b)),
                                    std::memory_order_relaxed);
            return GST_PAD_PROBE_OK;
          },
          this, nullptr);
    }
    std::vector<GstElement*> targets = video_splitters;
    targets.push_back(audio_mux);
    for (GstElement* target : targets) {
      GstElement* q = Add("queue");
      if (q == nullptr) return NotFound("GStreamer element missing: queue");
      // Audio is tiny; a deep queue lets it run ahead of the slower video encoders.
      ConfigureQueue(q, 4096);
      gst_element_link(tee, q);
      GstPtr<GstPad> apad(
          gst_element_request_pad_simple(target, target == audio_mux ? "sink_%d" : "audio_%u"));
      if (!LinkPads(q, "src", target, apad.get())) return Internal("cannot link audio to a muxer");
    }
  }
  if (recording_ != nullptr) return StartSession(0);
  return Status::Ok();
}

GstPadProbeReturn VodPipeline::AacBundleThunk(GstPad* pad, GstPadProbeInfo* info,
                                              gpointer self) noexcept {
  return static_cast<VodPipeline*>(self)->BundleAac(pad, info);
}

GstPadProbeReturn VodPipeline::BundleAac(GstPad* pad, GstPadProbeInfo* info) {
  // Only the audio streaming thread calls this, so the bundle needs no lock.
  if (aac_->flushing()) return GST_PAD_PROBE_OK;  // our own push of a finished bundle
  if ((info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) != 0) {
    if (GST_EVENT_TYPE(GST_PAD_PROBE_INFO_EVENT(info)) == GST_EVENT_EOS) aac_->FlushAtEos(pad);
    return GST_PAD_PROBE_OK;
  }
  GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info);
  // The AAC encoder (FFmpeg's, in newsreelaacenc as in avenc_aac) delays its output by 1024
  // priming samples and GStreamer does not compensate: the first frame holds only priming and
  // every frame is stamped 1024 samples late. Drop the first and move the others back by that
  // much, so that audio and video stay in sync to the sample.
  if (!priming_dropped_) {
    priming_dropped_ = true;
    return GST_PAD_PROBE_DROP;
  }
  const int64_t priming = gst_util_uint64_scale(1024, GST_SECOND, ladder_.audio_rate);
  // Stream times of audio and video are not comparable (an edit list gives each track its own
  // segment); running times are. Never move a frame before its segment's start, where the
  // muxers would drop it.
  int64_t pts = 0;
  int64_t running = 0;
  if (GST_BUFFER_PTS_IS_VALID(buffer)) {
    GstEvent* seg_event = gst_pad_get_sticky_event(pad, GST_EVENT_SEGMENT, 0);
    int64_t start = 0;
    if (seg_event != nullptr) {
      const GstSegment* seg = nullptr;
      gst_event_parse_segment(seg_event, &seg);
      if (seg->format == GST_FORMAT_TIME) start = static_cast<int64_t>(seg->start);
      gst_event_unref(seg_event);
    }
    pts = std::max<int64_t>(start, static_cast<int64_t>(GST_BUFFER_PTS(buffer)) - priming);
    running = RunningTime(pad, static_cast<GstClockTime>(pts));
  }
  // A bundle never spans a segment cut: cuts fall every segment_ns from the first video frame
  // (or the first audio frame of an audio-only source), in running time.
  int64_t origin = first_video_pts_.load();
  if (origin < 0 && ladder_.rungs.empty()) {
    if (first_audio_pts_ < 0) first_audio_pts_ = running;
    origin = first_audio_pts_;
  }
  const int64_t t = running - std::max<int64_t>(origin, 0);
  // About 2 KB or 8 frames (~170 ms) per PES keeps the TS overhead near 7 % (aac_bundle.h).
  return aac_->Add(pad, info, pts, schedule_.SegmentAt(t < 0 ? 0 : t));
}

CapsPtr DecodedColourSpelledOut(const GstCaps* decoded) {
  if (decoded == nullptr || gst_caps_get_size(decoded) == 0) return nullptr;
  const GstStructure* st = gst_caps_get_structure(decoded, 0);
  if (!gst_structure_has_name(st, "video/x-raw")) return nullptr;
  const char* format = gst_structure_get_string(st, "format");
  const GstVideoFormatInfo* finfo =
      gst_video_format_get_info(gst_video_format_from_string(format ? format : ""));
  if (finfo == nullptr ||
      !(GST_VIDEO_FORMAT_INFO_IS_YUV(finfo) || GST_VIDEO_FORMAT_INFO_IS_GRAY(finfo)))
    return nullptr;
  const bool has_colorimetry = gst_structure_has_field(st, "colorimetry");
  const bool has_site = gst_structure_has_field(st, "chroma-site");
  if (has_colorimetry && has_site) return nullptr;
  int height = 0;
  gst_structure_get_int(st, "height", &height);
  CapsPtr out(gst_caps_copy(decoded));
  GstStructure* o = gst_caps_get_structure(out.get(), 0);
  if (!has_colorimetry)
    gst_structure_set(o, "colorimetry", G_TYPE_STRING, height > 576 ? "bt709" : "bt601", nullptr);
  if (!has_site) gst_structure_set(o, "chroma-site", G_TYPE_STRING, "mpeg2", nullptr);
  return out;
}

std::string SharedChainCaps(const GstCaps* decoded) {
  std::string caps = "video/x-raw,format=I420";
  GstVideoInfo info;
  if (decoded == nullptr || !gst_video_info_from_caps(&info, decoded) ||
      GST_VIDEO_INFO_FORMAT(&info) == GST_VIDEO_FORMAT_ENCODED || GST_VIDEO_INFO_WIDTH(&info) <= 0)
    return caps;
  GstVideoColorimetry c = info.colorimetry;
  const bool yuv_matrix =
      c.matrix == GST_VIDEO_COLOR_MATRIX_BT709 || c.matrix == GST_VIDEO_COLOR_MATRIX_BT601 ||
      c.matrix == GST_VIDEO_COLOR_MATRIX_SMPTE240M || c.matrix == GST_VIDEO_COLOR_MATRIX_FCC ||
      c.matrix == GST_VIDEO_COLOR_MATRIX_BT2020;
  if (!yuv_matrix) gst_video_colorimetry_from_string(&c, GST_VIDEO_COLORIMETRY_BT709);
  c.range = GST_VIDEO_COLOR_RANGE_16_235;
  GCharPtr colorimetry(gst_video_colorimetry_to_string(&c));
  if (colorimetry) caps += ",colorimetry=" + std::string(colorimetry.get());
  // 4:2:0 keeps its chroma siting; frames without one (RGB, 4:4:4) get H.264's default (left).
  GstVideoChromaSite site = info.chroma_site;
  if (site == GST_VIDEO_CHROMA_SITE_UNKNOWN || GST_VIDEO_FORMAT_INFO_W_SUB(info.finfo, 1) == 0)
    site = GST_VIDEO_CHROMA_SITE_MPEG2;
  GCharPtr site_name(gst_video_chroma_site_to_string(site));
  if (site_name) caps += ",chroma-site=" + std::string(site_name.get());
  return caps;
}

GstPadProbeReturn VodPipeline::AlignStartDtsThunk(GstPad*, GstPadProbeInfo* info,
                                                  gpointer aligner) noexcept {
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
}

GstPadProbeReturn VodPipeline::CountAudioThunk(GstPad*, GstPadProbeInfo* info,
                                               gpointer self) noexcept {
  auto* p = static_cast<VodPipeline*>(self);
  p->audio_bytes_.fetch_add(gst_buffer_get_size(GST_PAD_PROBE_INFO_BUFFER(info)),
                            std::memory_order_relaxed);
  return GST_PAD_PROBE_OK;
}

namespace {

// Makes the segments that go down `pad` play at rate 1. GStreamer's MP4 demuxer applies an edit
// list's rate, so a track whose edit list says 2/65536 ran 32768 times slower: a 1.6 s upload
// became a video of 23 hours holding 64 pictures. ffmpeg ignores that rate, and so do we: every
// stream of an upload is transcoded at the speed its timestamps give.
void PlayAtNaturalSpeed(GstPad* pad) {
  gst_pad_add_probe(
      pad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
      +[](GstPad*, GstPadProbeInfo* info, gpointer) noexcept -> GstPadProbeReturn {
        GstEvent* event = GST_PAD_PROBE_INFO_EVENT(info);
        if (GST_EVENT_TYPE(event) != GST_EVENT_SEGMENT) return GST_PAD_PROBE_OK;
        const GstSegment* in = nullptr;
        gst_event_parse_segment(event, &in);
        if (in == nullptr || in->format != GST_FORMAT_TIME || in->rate == 1.0)
          return GST_PAD_PROBE_OK;
        GstSegment natural = *in;
        natural.rate = 1.0;
        ReplaceProbedEvent(info, gst_event_new_segment(&natural));
        return GST_PAD_PROBE_OK;
      },
      nullptr, nullptr);
}

}  // namespace

void VodPipeline::PadAddedThunk(GstElement*, GstPad* pad, gpointer self) noexcept {
  static_cast<VodPipeline*>(self)->OnPadAdded(pad);
}

void VodPipeline::OnPadAdded(GstPad* pad) {
  CapsPtr caps(gst_pad_get_current_caps(pad));
  if (!caps) caps.reset(gst_pad_query_caps(pad, nullptr));
  const char* name = gst_structure_get_name(gst_caps_get_structure(caps.get(), 0));
  GstElement* target = nullptr;
  if (g_str_has_prefix(name, "video/x-raw") && video_head_ != nullptr &&
      !video_linked_.exchange(true)) {
    target = video_head_;
  } else if (g_str_has_prefix(name, "audio/x-raw") && audio_head_ != nullptr &&
             !audio_linked_.exchange(true)) {
    target = audio_head_;
  }
  if (target != nullptr) {
    PlayAtNaturalSpeed(pad);
    GstPtr<GstPad> sink(gst_element_get_static_pad(target, "sink"));
    if (gst_pad_link(pad, sink.get()) != GST_PAD_LINK_OK) {
      NR_LOG(kError) << "cannot link decoded " << name << " stream";
    }
    return;
  }
  // Extra streams (a second audio track, a video track we do not use) are discarded.
  GstElement* fake = gst_element_factory_make("fakesink", nullptr);
  g_object_set(fake, "sync", FALSE, "async", FALSE, nullptr);
  gst_bin_add(pipeline_.bin(), fake);
  gst_element_sync_state_with_parent(fake);
  GstPtr<GstPad> sink(gst_element_get_static_pad(fake, "sink"));
  gst_pad_link(pad, sink.get());
}

namespace {

// Names of a session's elements: "session-<index>-...", so that a message can be traced to it.
std::string SessionElementName(size_t index, const char* what) {
  return "session-" + std::to_string(index) + "-" + what;
}

// The session an element (or its ancestor) belongs to, or -1.
int64_t SessionOf(GstObject* object) {
  GstObject* o = object != nullptr ? GST_OBJECT(gst_object_ref(object)) : nullptr;
  int64_t index = -1;
  while (o != nullptr && index < 0) {
    GCharPtr name(gst_object_get_name(o));
    if (name && g_str_has_prefix(name.get(), "session-"))
      index = g_ascii_strtoll(name.get() + 8, nullptr, 10);
    GstObject* parent = gst_object_get_parent(o);
    gst_object_unref(o);
    o = parent;
  }
  if (o != nullptr) gst_object_unref(o);
  return index;
}

constexpr const char* kSessionDone = "newsreel-session-done";

struct SessionStream {
  VodPipeline* self;
  bool video;
  int64_t shift_ns;
};

}  // namespace

void VodPipeline::SessionPadAddedThunk(GstElement*, GstPad* pad, gpointer self) noexcept {
  static_cast<VodPipeline*>(self)->OnSessionPad(pad);
}

void VodPipeline::SessionNoMorePadsThunk(GstElement*, gpointer self) noexcept {
  static_cast<VodPipeline*>(self)->OnSessionNoMorePads();
}

void VodPipeline::SessionPadRemovedThunk(GstElement*, GstPad* pad, gpointer self) noexcept {
  static_cast<VodPipeline*>(self)->OnSessionPadRemoved(pad);
}

void VodPipeline::OnSessionPadRemoved(GstPad* pad) {
  Session& session = *session_;
  std::lock_guard<std::mutex> lock(session.mu);
  for (auto& [p, ended] : session.streams) {
    if (p != pad || ended) continue;
    // decodebin drops the old group's EOS and removes its pads when the demuxer switches
    // programs (a codec change inside one file); the new group's pads and no-more-pads follow.
    session.no_more_pads = false;
    EndSessionStream(session, pad);
    return;
  }
}

void VodPipeline::EndSessionStream(Session& session, GstPad* pad) {
  for (auto& [p, ended] : session.streams) {
    if (p != pad || ended) continue;
    ended = true;
    --session.open_streams;
  }
  MaybeEndSession(session);
}

Status VodPipeline::StartSession(size_t index) {
  const RecordingSession& rs = recording_->sessions[index];
  auto session = std::make_unique<Session>();
  session->index = index;
  auto src = MakeElement("filesrc", SessionElementName(index, "src").c_str());
  auto decode = MakeElement("decodebin", SessionElementName(index, "decode").c_str());
  if (!src || !decode) return NotFound("GStreamer element missing: filesrc or decodebin");
  g_object_set(src.get(), "location", rs.path.c_str(), nullptr);
  RefuseOutsideElements(decode.get());
  TuneVideoDecoders(decode.get());
  feed_clocks_.push_back(std::make_unique<FeedClock>());
  KeepDemuxedFeedsContinuous(decode.get(), feed_clocks_.back().get());
  g_signal_connect(decode.get(), "pad-added", G_CALLBACK(&VodPipeline::SessionPadAddedThunk), this);
  g_signal_connect(decode.get(), "no-more-pads", G_CALLBACK(&VodPipeline::SessionNoMorePadsThunk),
                   this);
  g_signal_connect(decode.get(), "pad-removed", G_CALLBACK(&VodPipeline::SessionPadRemovedThunk),
                   this);
  GstElement* s = pipeline_.Add(std::move(src));
  GstElement* d = pipeline_.Add(std::move(decode));
  session->elements = {s, d};
  if (!gst_element_link(s, d)) return Internal("cannot link filesrc to decodebin");
  session_ = std::move(session);
  // Downstream first; both follow the pipeline (nothing happens before Run()).
  gst_element_sync_state_with_parent(d);
  gst_element_sync_state_with_parent(s);
  return Status::Ok();
}

Status VodPipeline::NextSession() {
  const size_t index = session_->index;
  if (!session_->video_linked)
    warnings_.push_back("session " +
                        fs::path(recording_->sessions[index].path).filename().string() +
                        ": no video could be decoded; the picture before it is held");
  // Every streaming thread of the session has ended (or stopped on an error): stop them for good.
  // Not a word more from its decodebin (stopping it removes its pads).
  for (GstElement* e : session_->elements) g_signal_handlers_disconnect_by_data(e, this);
  for (GstElement* e : session_->elements) gst_element_set_state(e, GST_STATE_NULL);
  for (GstElement* e : session_->elements) gst_bin_remove(pipeline_.bin(), e);
  session_.reset();
  if (index + 1 < recording_->sessions.size()) return StartSession(index + 1);
  // The last session's streams ended into nothing: end the shared chains.
  for (GstElement* head : {video_head_, audio_head_}) {
    if (head == nullptr) continue;
    GstPtr<GstPad> sink(gst_element_get_static_pad(head, "sink"));
    if (!GST_PAD_IS_EOS(sink.get())) gst_pad_send_event(sink.get(), gst_event_new_eos());
  }
  return Status::Ok();
}

bool VodPipeline::LinkSessionStream(Session& session, GstPad* pad, GstElement* head, bool video,
                                    int64_t shift_ns) {
  GstPtr<GstPad> sink(gst_element_get_static_pad(head, "sink"));
  gst_pad_add_probe(
      pad,
      static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
      +[](GstPad* p, GstPadProbeInfo* info, gpointer user) noexcept -> GstPadProbeReturn {
        auto* st = static_cast<SessionStream*>(user);
        return st->self->OnSessionData(p, info, st->video, st->shift_ns);
      },
      new SessionStream{this, video, shift_ns},
      +[](gpointer user) noexcept { delete static_cast<SessionStream*>(user); });
  if (gst_pad_link(pad, sink.get()) != GST_PAD_LINK_OK) return false;
  ++session.open_streams;
  session.streams.emplace_back(pad, false);
  (video ? session.video_linked : session.audio_linked) = true;
  return true;
}

void VodPipeline::OnSessionPad(GstPad* pad) {
  Session& session = *session_;  // pads come only from the current session
  const RecordingSession& rs = recording_->sessions[session.index];
  CapsPtr caps(gst_pad_get_current_caps(pad));
  if (!caps) caps.reset(gst_pad_query_caps(pad, nullptr));
  const char* name = gst_structure_get_name(gst_caps_get_structure(caps.get(), 0));
  const int64_t shift = rs.offset_ns - rs.origin_ns;
  std::lock_guard<std::mutex> lock(session.mu);
  NR_LOG(kDebug) << "transcode: session " << session.index << " stream " << name;
  // A head takes the session's first stream of its kind, or the next one after that has ended
  // (a new group of pads from decodebin).
  auto free = [](GstElement* head) {
    GstPtr<GstPad> sink(gst_element_get_static_pad(head, "sink"));
    return !gst_pad_is_linked(sink.get());
  };
  if (g_str_has_prefix(name, "video/x-raw") && video_head_ != nullptr && free(video_head_)) {
    if (!LinkSessionStream(session, pad, video_head_, true, shift))
      NR_LOG(kError) << "cannot link the decoded video of " << rs.path;
    return;
  }
  if (g_str_has_prefix(name, "audio/x-raw") && audio_head_ != nullptr && free(audio_head_) &&
      silent_audio_seconds_ <= 0) {
    if (!LinkSessionStream(session, pad, audio_head_, false, shift))
      NR_LOG(kError) << "cannot link the decoded audio of " << rs.path;
    return;
  }
  // Extra streams are discarded, as OnPadAdded does.
  GstElement* fake = gst_element_factory_make(
      "fakesink", SessionElementName(session.index,
                                     ("discard" + std::to_string(session.elements.size())).c_str())
                      .c_str());
  g_object_set(fake, "sync", FALSE, "async", FALSE, nullptr);
  gst_bin_add(pipeline_.bin(), fake);
  session.elements.push_back(fake);
  gst_element_sync_state_with_parent(fake);
  GstPtr<GstPad> sink(gst_element_get_static_pad(fake, "sink"));
  gst_pad_link(pad, sink.get());
}

void VodPipeline::OnSessionNoMorePads() {
  Session& session = *session_;
  const RecordingSession& rs = recording_->sessions[session.index];
  std::lock_guard<std::mutex> lock(session.mu);
  session.no_more_pads = true;
  GstPtr<GstPad> audio_sink(audio_head_ != nullptr ? gst_element_get_static_pad(audio_head_, "sink")
                                                   : nullptr);
  if (audio_sink && !gst_pad_is_linked(audio_sink.get()) && silent_audio_seconds_ <= 0) {
    // Silence for the session's length, so that the audio never waits for what will not come.
    const int rate = ladder_.audio_rate;
    const int per_buffer = 1024;
    const int buffers = std::max(1, static_cast<int>(std::ceil(static_cast<double>(rs.length_ns) *
                                                               rate / GST_SECOND / per_buffer)));
    GstElement* silence = gst_element_factory_make(
        "audiotestsrc", SessionElementName(session.index, "silence").c_str());
    GstElement* caps = gst_element_factory_make(
        "capsfilter", SessionElementName(session.index, "silence-caps").c_str());
    if (silence != nullptr && caps != nullptr) {
      g_object_set(silence, "wave", 4 /* silence */, "samplesperbuffer", per_buffer, "num-buffers",
                   buffers, nullptr);
      SetCaps(caps, "audio/x-raw,channels=2,rate=" + std::to_string(rate));
      gst_bin_add_many(pipeline_.bin(), silence, caps, nullptr);
      session.elements.push_back(silence);
      session.elements.push_back(caps);
      gst_element_link(silence, caps);
      GstPtr<GstPad> src(gst_element_get_static_pad(caps, "src"));
      if (LinkSessionStream(session, src.get(), audio_head_, false, rs.offset_ns)) {
        gst_element_sync_state_with_parent(caps);
        gst_element_sync_state_with_parent(silence);
      }
    } else {
      if (silence != nullptr) gst_object_unref(gst_object_ref_sink(silence));
      if (caps != nullptr) gst_object_unref(gst_object_ref_sink(caps));
    }
  }
  MaybeEndSession(session);
}

void VodPipeline::MaybeEndSession(Session& session) {
  NR_LOG(kDebug) << "transcode: session " << session.index << ": " << session.open_streams
                 << " streams open" << (session.no_more_pads ? "" : ", more to come");
  if (session.done || !session.no_more_pads || session.open_streams > 0) return;
  session.done = true;
  GstElement* p = pipeline_.element();
  gst_element_post_message(
      p, gst_message_new_application(
             GST_OBJECT(p), gst_structure_new(kSessionDone, "index", G_TYPE_UINT64,
                                              static_cast<guint64>(session.index), nullptr)));
}

GstPadProbeReturn VodPipeline::OnSessionData(GstPad* pad, GstPadProbeInfo* info, bool video,
                                             int64_t shift_ns) {
  std::atomic<bool>& started = video ? video_started_ : audio_started_;
  if ((info->type & GST_PAD_PROBE_TYPE_BUFFER) != 0) {
    GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info);
    // Running time in the session's own segment (the demuxer's timeline), moved to the session's
    // place in the recording.
    auto move = [&](GstClockTime t) -> GstClockTime {
      if (!GST_CLOCK_TIME_IS_VALID(t)) return t;
      const int64_t out = RunningTime(pad, t) + shift_ns;
      return out < 0 ? GST_CLOCK_TIME_NONE : static_cast<GstClockTime>(out);
    };
    const GstClockTime pts = move(GST_BUFFER_PTS(buffer));
    if (!GST_CLOCK_TIME_IS_VALID(pts)) return GST_PAD_PROBE_DROP;
    buffer = gst_buffer_make_writable(buffer);
    GST_BUFFER_DTS(buffer) = move(GST_BUFFER_DTS(buffer));
    GST_BUFFER_PTS(buffer) = pts;
    GST_PAD_PROBE_INFO_DATA(info) = buffer;
    return GST_PAD_PROBE_OK;
  }
  GstEvent* event = GST_PAD_PROBE_INFO_EVENT(info);
  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_STREAM_START:
      return started.load() ? GST_PAD_PROBE_DROP : GST_PAD_PROBE_OK;
    case GST_EVENT_SEGMENT: {
      // The first session's segment becomes [0, ∞) with the timestamps above; later ones are
      // dropped (audiorate would fill a new segment from its start).
      if (started.exchange(true)) return GST_PAD_PROBE_DROP;
      GstSegment out;
      gst_segment_init(&out, GST_FORMAT_TIME);
      ReplaceProbedEvent(info, gst_event_new_segment(&out));
      return GST_PAD_PROBE_OK;
    }
    case GST_EVENT_GAP:  // on the session's own timeline; the chains fill gaps themselves
      return GST_PAD_PROBE_DROP;
    case GST_EVENT_EOS: {
      Session& session = *session_;
      std::lock_guard<std::mutex> lock(session.mu);
      EndSessionStream(session, pad);
      return GST_PAD_PROBE_DROP;  // the shared chains go on with the next session
    }
    default:
      return GST_PAD_PROBE_OK;
  }
}

void VodPipeline::OnThumbnailFrame(GstPad* pad, GstBuffer* buffer) {
  if (!GST_BUFFER_PTS_IS_VALID(buffer)) return;
  const double t = static_cast<double>(GST_BUFFER_PTS(buffer)) / GST_SECOND;
  std::lock_guard<std::mutex> lock(thumb_mu_);
  const bool poster = !have_poster_ && t + 1e-6 >= thumbs_.poster_time;
  const bool first = !have_poster_ && first_frame_.width == 0;  // the poster if none comes
  const bool tile = t + 1e-6 >= next_tile_;
  if (!first && !tile && !poster) return;
  CapsPtr caps(gst_pad_get_current_caps(pad));
  GstVideoInfo info;
  if (!caps || !gst_video_info_from_caps(&info, caps.get())) return;
  GstVideoFrame frame;
  if (!gst_video_frame_map(&frame, &info, buffer, GST_MAP_READ)) return;
  RgbImage img = I420ToRgb(frame);
  gst_video_frame_unmap(&frame);
  if (tile) {
    tiles_.push_back(Downscale(img, thumbs_.layout.tile_width, thumbs_.layout.tile_height));
    while (next_tile_ <= t + 1e-6) next_tile_ += thumbs_.layout.interval_seconds;
  }
  if (poster) {
    poster_ = std::move(img);
    have_poster_ = true;
    first_frame_ = RgbImage();  // no longer needed: one full-size picture held, not two
  } else if (first) {
    first_frame_ = std::move(img);
  }
}

RgbImage VodPipeline::TakePoster() {
  std::lock_guard<std::mutex> lock(thumb_mu_);
  return have_poster_ ? std::move(poster_) : std::move(first_frame_);
}

std::vector<RgbImage> VodPipeline::TakeTiles() {
  std::lock_guard<std::mutex> lock(thumb_mu_);
  return std::move(tiles_);
}

Status VodPipeline::Run(const std::function<void(const PipelineTick&)>& on_tick,
                        std::chrono::seconds stall_timeout) {
  GstElement* p = pipeline_.element();
  if (gst_element_set_state(p, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    MessagePtr msg(gst_bus_pop_filtered(pipeline_.bus(), GST_MESSAGE_ERROR));
    return InvalidArgument("cannot start decoding: " +
                           (msg ? DescribeGstMessage(msg.get()) : std::string("unknown reason")));
  }
  auto last_change = std::chrono::steady_clock::now();
  int64_t last_frames = -1, last_pos = -1;
  for (;;) {
    MessagePtr msg(gst_bus_timed_pop_filtered(
        pipeline_.bus(), 250 * GST_MSECOND,
        static_cast<GstMessageType>(GST_MESSAGE_ERROR | GST_MESSAGE_EOS | GST_MESSAGE_WARNING |
                                    GST_MESSAGE_APPLICATION | GST_MESSAGE_ELEMENT)));
    PipelineTick tick{frames_.load(), static_cast<double>(position_ns_.load()) / 1e9};
    if (msg) {
      switch (GST_MESSAGE_TYPE(msg.get())) {
        case GST_MESSAGE_EOS:
          // Every file has been written and flushed at EOS; a stuck shutdown only leaks.
          Stop();
          if (on_tick) on_tick(tick);
          return Status::Ok();
        case GST_MESSAGE_ELEMENT: {
          const GstStructure* st = gst_message_get_structure(msg.get());
          if (!on_segment_closed_ || video_ended_.load() || st == nullptr ||
              !gst_structure_has_name(st, "splitmuxsink-fragment-closed"))
            break;
          for (size_t i = 0; i < ladder_.rungs.size() && i < splitters_.size(); ++i)
            if (GST_MESSAGE_SRC(msg.get()) == GST_OBJECT(splitters_[i])) on_segment_closed_(i);
          break;
        }
        case GST_MESSAGE_APPLICATION: {
          const GstStructure* st = gst_message_get_structure(msg.get());
          guint64 index = 0;
          if (recording_ == nullptr || session_ == nullptr ||
              !gst_structure_has_name(st, kSessionDone) ||
              !gst_structure_get_uint64(st, "index", &index) || index != session_->index)
            break;
          if (Status next = NextSession(); !next.ok()) {
            Stop();
            return next;
          }
          break;
        }
        case GST_MESSAGE_ERROR: {
          std::string what = DescribeGstMessage(msg.get());
          if (const int64_t index = recording_ ? SessionOf(GST_MESSAGE_SRC(msg.get())) : -1;
              index >= 0) {
            // One session's input broke (a damaged file): the recording goes on with the next.
            if (session_ == nullptr || static_cast<size_t>(index) != session_->index) break;
            std::string w = "session " +
                            fs::path(recording_->sessions[index].path).filename().string() +
                            " ended early: " + what;
            NR_LOG(kWarning) << "transcode: " << w;
            warnings_.push_back(w);
            if (Status next = NextSession(); !next.ok()) {
              Stop();
              return next;
            }
            break;
          }
          for (GstElement* bin : encoder_bins_)
            if (GST_MESSAGE_SRC(msg.get()) == GST_OBJECT(bin) ||
                gst_object_has_as_ancestor(GST_MESSAGE_SRC(msg.get()), GST_OBJECT(bin)))
              encoder_failed_ = true;
          Stop();
          return InvalidArgument("media error at " +
                                 std::to_string(tick.position_seconds).substr(0, 6) +
                                 " s: " + what);
        }
        case GST_MESSAGE_WARNING: {
          std::string what = DescribeGstMessage(msg.get());
          NR_LOG(kWarning) << "transcode: " << what;
          warnings_.push_back(what);
          break;
        }
        default:
          break;
      }
    }
    if (on_tick) on_tick(tick);
    auto now = std::chrono::steady_clock::now();
    if (tick.frames != last_frames || position_ns_.load() != last_pos) {
      last_frames = tick.frames;
      last_pos = position_ns_.load();
      last_change = now;
    } else if (now - last_change > stall_timeout) {
      GST_DEBUG_BIN_TO_DOT_FILE(pipeline_.bin(), GST_DEBUG_GRAPH_SHOW_ALL, "newsreel-stalled");
      Stop();
      return Status(ErrorCode::kTimeout, "the pipeline made no progress for " +
                                             std::to_string(stall_timeout.count()) +
                                             " s (stalled input or decoder)");
    }
  }
}

}  // namespace newsreel::transcoder
