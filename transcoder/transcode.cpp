#include "transcoder/transcode.h"

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>

#include "common/log.h"
#include "transcoder/atomic_file.h"
#include "transcoder/encoder_registry.h"
#include "transcoder/encoder_trial.h"
#include "transcoder/feed_clock.h"
#include "transcoder/hls_playlist.h"
#include "transcoder/hw_sessions.h"
#include "transcoder/probe.h"
#include "transcoder/progressive.h"
#include "transcoder/recording.h"
#include "transcoder/segment_alignment.h"
#include "transcoder/storyboard.h"
#include "transcoder/ts_scanner.h"
#include "transcoder/ts_slicer.h"
#include "transcoder/vod_pipeline.h"

namespace newsreel::transcoder {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr double kTs = 90000.0;  // MPEG-TS clock

// Removes staging folders left by transcodes that were killed (their pid no longer runs).
void RemoveStaleStaging(const fs::path& parent, const std::string& name) {
  std::error_code ec;
  const std::string prefix = "." + name + ".partial-";
  for (const auto& entry : fs::directory_iterator(parent, ec)) {
    std::string f = entry.path().filename().string();
    if (f.rfind(prefix, 0) != 0) continue;
    pid_t pid = static_cast<pid_t>(std::atol(f.c_str() + prefix.size()));
    if (pid > 0 && kill(pid, 0) == 0) continue;  // still running
    fs::remove_all(entry.path(), ec);
  }
}

// Removes an output folder that progressive publishing created, when the job fails before
// publishing anything into it.
class EmptyOutputGuard {
 public:
  explicit EmptyOutputGuard(fs::path dir) : dir_(std::move(dir)) {}
  ~EmptyOutputGuard() {
    std::error_code ec;
    if (!dir_.empty() && fs::is_empty(dir_, ec)) fs::remove(dir_, ec);
  }

 private:
  fs::path dir_;
};

// Removes the staging folder unless released (on success it has been renamed away).
class StagingGuard {
 public:
  explicit StagingGuard(fs::path dir) : dir_(std::move(dir)) {}
  ~StagingGuard() {
    if (dir_.empty()) return;
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void Release() { dir_.clear(); }

 private:
  fs::path dir_;
};

struct Rendition {
  std::vector<HlsSegment> segments;
  std::vector<HlsIFrame> iframes;
  std::string codecs;
  int64_t map_length = 0;
  int64_t bytes = 0;
  double duration = 0;
  std::vector<double> boundaries;  // segment start times (s) relative to the first
  std::vector<int64_t> start_pts;  // segment start times (90 kHz), as written
};

// Reads back one rendition's segments: durations, byte sizes, IDR positions, codec strings.
// A segment too short for ffmpeg to recognise as MPEG-TS gets a null packet first (ts_slicer.h).
Result<Rendition> ScanRendition(const fs::path& dir, bool video, double frame_duration) {
  Rendition r;
  auto files = ListSegmentFiles(dir);
  if (files.empty()) return Internal("no segments were written in " + dir.filename().string());
  std::vector<TsSegmentScan> scans;
  for (const auto& f : files) {
    NR_RETURN_IF_ERROR(EndShortTsFileWithNullPacket(f.string()));
    auto s = ScanTsFile(f.string());
    if (!s.ok()) return s.status();
    scans.push_back(std::move(s.value()));
  }
  std::optional<std::array<uint8_t, 3>> sps;
  int aot = 0;
  std::vector<int64_t> starts;
  for (size_t i = 0; i < scans.size(); ++i) {
    const auto& s = scans[i];
    if (!sps && s.sps) sps = s.sps;
    if (s.aac_object_type != 0) aot = s.aac_object_type;
    int64_t start = video ? s.first_video_pts() : s.first_audio_pts();
    if (start < 0)
      return Internal("segment " + files[i].filename().string() + " of " + dir.filename().string() +
                      " holds no " + (video ? "video" : "audio"));
    if (video && (s.video.empty() || !s.video.front().idr))
      return Internal("segment " + files[i].filename().string() + " of " + dir.filename().string() +
                      " does not begin with an IDR frame");
    starts.push_back(start);
  }
  for (size_t i = 0; i < scans.size(); ++i) {
    const auto& s = scans[i];
    double duration;
    if (i + 1 < scans.size()) {
      duration = static_cast<double>(starts[i + 1] - starts[i]) / kTs;
    } else {
      // The last segment lasts until its last video frame or its last audio frame ends,
      // whichever is later (a source's audio often outlasts its video).
      int64_t end = s.audio_end_pts();
      if (video)
        end = std::max<int64_t>(end, s.last_video_pts() + std::llround(frame_duration * kTs));
      duration = static_cast<double>(end - starts[i]) / kTs;
    }
    HlsSegment seg{files[i].filename().string(), duration, s.size_bytes};
    r.segments.push_back(seg);
    r.bytes += s.size_bytes;
    r.duration += duration;
    r.boundaries.push_back(static_cast<double>(starts[i] - starts[0]) / kTs);
    r.start_pts.push_back(starts[i]);
  }
  if (video) {
    if (!sps) return Internal("no H.264 SPS found in " + dir.filename().string());
    r.codecs = AvcCodecString(*sps);
    if (aot != 0) r.codecs += ",mp4a.40." + std::to_string(aot);
    r.map_length = scans.front().psi_end;
    const int64_t end_pts = starts.front() + static_cast<int64_t>(std::llround(r.duration * kTs));
    for (size_t i = 0; i < scans.size(); ++i) {
      for (const auto& au : scans[i].video) {
        if (!au.idr) continue;
        r.iframes.push_back(
            {files[i].filename().string(), au.offset, au.length, static_cast<double>(au.pts)});
      }
    }
    for (size_t i = 0; i < r.iframes.size(); ++i) {
      double pts = r.iframes[i].duration;  // holds the PTS until here
      double next =
          i + 1 < r.iframes.size() ? r.iframes[i + 1].duration : static_cast<double>(end_pts);
      r.iframes[i].duration = (next - pts) / kTs;
    }
  } else {
    r.codecs = "mp4a.40." + std::to_string(aot != 0 ? aot : 2);
  }
  return r;
}

// Peak I-frame bitrate: each I-frame's size over its interval, the interval taken as at least
// one GOP so that a last frame just before the end does not count as a burst.
int64_t IFramePeak(const std::vector<HlsIFrame>& frames, double gop_seconds) {
  double peak = 0;
  for (const auto& f : frames)
    peak = std::max(peak, f.length * 8.0 / std::max(f.duration, gop_seconds));
  return static_cast<int64_t>(std::ceil(peak));
}

// Smaller copies of the poster for lists and phones, beside poster.jpg: poster-320.jpg and
// poster-640.jpg, that many pixels wide (the poster's own size when it is narrower: never
// upscaled, but always there, so that pages can name them without asking). Returns their
// manifest entries.
Result<nlohmann::json> WritePosterSizes(const RgbImage& poster, const fs::path& dir) {
  nlohmann::json sizes = nlohmann::json::array();
  for (int width : {320, 640}) {
    RgbImage small = poster;
    if (poster.width > width) {
      int height = std::max(
          2, static_cast<int>(std::lround(1.0 * width * poster.height / poster.width / 2)) * 2);
      small = Downscale(poster, width, height);
    }
    auto jpeg = EncodeJpeg(small, 75);  // as the storyboard's thumbnails
    if (!jpeg.ok()) return jpeg.status();
    const std::string name = "poster-" + std::to_string(width) + ".jpg";
    NR_RETURN_IF_ERROR(WriteFileAtomically(dir / name, std::string(jpeg->begin(), jpeg->end())));
    sizes.push_back({{"uri", name}, {"width", small.width}, {"height", small.height}});
  }
  return sizes;
}

ThumbnailPlan PlanThumbnails(const Ladder& ladder, double duration) {
  ThumbnailPlan plan;
  if (ladder.rungs.empty()) return plan;
  // Poster: the largest rung whose long side is at most 1280 (the smallest rung otherwise).
  const Rung* top = &ladder.rungs.back();
  for (const Rung& r : ladder.rungs) {
    if (std::max(r.width, r.height) <= 1280) {
      top = &r;
      break;
    }
  }
  plan.enabled = true;
  plan.poster_width = top->width;
  plan.poster_height = top->height;
  // A quarter in, at most 10 s: past fades from black, still early in the story.
  plan.poster_time = std::min(duration * 0.25, 10.0);
  plan.layout.interval_seconds = StoryboardInterval(duration);
  // Tiles: long side 160, the video's aspect ratio.
  if (top->width >= top->height) {
    plan.layout.tile_width = 160;
    plan.layout.tile_height =
        std::max(2, static_cast<int>(std::lround(160.0 * top->height / top->width / 2)) * 2);
  } else {
    plan.layout.tile_height = 160;
    plan.layout.tile_width =
        std::max(2, static_cast<int>(std::lround(160.0 * top->width / top->height / 2)) * 2);
  }
  return plan;
}

}  // namespace

Result<TranscodeResult> Transcode(const std::string& input, const std::string& outdir,
                                  const TranscodeOptions& options) {
  const auto started = Clock::now();
  auto emit = [&](const TranscodeProgress& p) {
    if (options.on_progress) options.on_progress(p);
  };

  // A folder is a live stream's recording: its sessions, end to end (recording.h).
  std::optional<Recording> recording;
  MediaInfo probed_file;
  if (IsRecordingFolder(input)) {
    auto opened = OpenRecording(input);
    if (!opened.ok()) return opened.status();
    recording = std::move(*opened);
  } else {
    auto probed = Probe(input);
    if (!probed.ok()) return probed.status();
    probed_file = std::move(*probed);
  }
  const MediaInfo& source = recording ? recording->combined : probed_file;
  auto ladder_or = PickLadder(source, options.ladder);
  if (!ladder_or.ok()) return ladder_or.status();
  Ladder ladder = *ladder_or;
  EncoderProver& prover = options.encoders ? *options.encoders : EncoderProver::Default();
  HardwareSessions& sessions = options.sessions ? *options.sessions : HardwareSessions::Default();
  if (options.encoder != "auto" && prover.registry().Find(options.encoder) == nullptr)
    return prover.registry().Select(options.encoder).status();  // unknown: fail before any work

  // The output folder: refuse to clobber a previous result unless asked to.
  fs::path out = fs::absolute(fs::path(outdir)).lexically_normal();
  if (out.filename().empty()) out = out.parent_path();
  std::error_code ec;
  if (fs::exists(out, ec) && !fs::is_directory(out, ec))
    return InvalidArgument("output exists and is not a folder: " + out.string());
  if (fs::is_directory(out, ec) && !fs::is_empty(out, ec) && !options.force)
    return Status(ErrorCode::kAlreadyExists,
                  "output folder is not empty: " + out.string() + " (use --force to replace it)");
  fs::create_directories(out.parent_path(), ec);
  if (ec) return IoError("cannot create " + out.parent_path().string() + ": " + ec.message());
  const std::string name = out.filename().string();
  RemoveStaleStaging(out.parent_path(), name);
  fs::path staging = out.parent_path() / ("." + name + ".partial-" + std::to_string(getpid()));
  fs::remove_all(staging, ec);
  fs::create_directories(staging, ec);
  if (ec) return IoError("cannot create " + staging.string() + ": " + ec.message());
  StagingGuard guard(staging);

  const double duration = source.duration_seconds();
  // Progressive publishing into `out` itself: only into an empty folder (progressive.h).
  const bool progressive = options.publish_progressively && !ladder.rungs.empty() &&
                           (!fs::exists(out, ec) || fs::is_empty(out, ec));
  std::unique_ptr<ProgressivePublisher> publisher;
  bool publishing = progressive;
  if (progressive) {
    fs::create_directories(out, ec);
    if (ec) return IoError("cannot create " + out.string() + ": " + ec.message());
  }
  EmptyOutputGuard empty_output(progressive ? out : fs::path());
  TranscodeProgress last_progress;
  auto last_emit = Clock::time_point{};
  auto on_tick = [&](const PipelineTick& tick) {
    if (publisher && publishing) {
      const bool was_playable = publisher->playable();
      if (Status published = publisher->Publish(); !published.ok())
        NR_LOG(kWarning) << "transcode: " << published.message()
                         << "; the rest appears with the finished output";
      if (publisher->playable() && !was_playable) {
        NR_LOG(kInfo) << "transcode: playable after "
                      << std::chrono::duration<double>(Clock::now() - started).count() << " s";
        last_progress.playable = true;
        emit(last_progress);
      }
    }
    auto now = Clock::now();
    if (now - last_emit < std::chrono::milliseconds(500)) return;
    last_emit = now;
    double elapsed = std::chrono::duration<double>(now - started).count();
    if (tick.position_seconds <= 0) return;  // nothing to report yet: speed and ETA unknown
    TranscodeProgress p;
    p.phase = "encoding";
    p.duration_seconds = duration;
    p.position_seconds = std::min(tick.position_seconds, duration);
    p.percent = duration > 0 ? std::min(99.0, 100.0 * p.position_seconds / duration) : 0;
    p.fps = elapsed > 0 ? static_cast<double>(tick.frames) / elapsed : 0;
    p.speed = elapsed > 0 ? p.position_seconds / elapsed : 0;
    p.eta_seconds = p.speed > 0 ? (duration - p.position_seconds) / p.speed : -1;
    p.playable = publisher && publisher->playable();
    last_progress = p;
    emit(p);
  };
  double silent_audio_seconds = 0;
  ThumbnailPlan thumbs = PlanThumbnails(ladder, duration);
  std::unique_ptr<VodPipeline> pipeline;
  // One whole run with `encoder`, into an empty staging folder.
  auto run_once = [&](const VideoEncoder& encoder) -> Status {
    pipeline.reset();
    fs::remove_all(staging, ec);
    fs::create_directories(staging, ec);
    pipeline = std::make_unique<VodPipeline>(source, ladder, encoder, staging.string(), thumbs);
    if (progressive) {
      pipeline->UseSchedule(ProgressiveSchedule(ladder));
      // A second run (another encoder, or silence for the audio) makes other bytes: what the
      // first published stays until the finished output replaces it.
      if (publisher && publisher->published() > 0) publishing = false;
      if (publishing) {
        publisher = std::make_unique<ProgressivePublisher>(staging, out, ladder);
        pipeline->OnSegmentClosed([&](size_t rung) { publisher->FragmentClosed(rung); });
      }
    }
    if (silent_audio_seconds > 0) pipeline->UseSilentAudio(silent_audio_seconds);
    if (recording) pipeline->UseRecording(&*recording);
    NR_RETURN_IF_ERROR(pipeline->Build());
    // The probe (and a hardware encoder's trial) freed their memory into malloc's heap, where
    // it stayed resident; give it back before the frames come (peak RSS when x264 still had a
    // trial, nomexif_webm_480.webm: 108 -> 103 MB; nomexif_3gp_640x360.3gp: 116-122 -> 113-114
    // MB).
    malloc_trim(0);
    return pipeline->Run(on_tick, options.stall_timeout);
  };
  auto encode_with = [&](const VideoEncoder& encoder) -> Status {
    Status run = run_once(encoder);
    if (!run.ok() && pipeline->audio_missing() && !ladder.rungs.empty()) {
      // The audio track decoded to nothing (a few milliseconds trimmed away by its edit list):
      // every muxer then fails waiting for audio. Start again with silence in its place, so
      // that every rendition still carries an audio track, and say so.
      NR_LOG(kWarning) << "transcode: no audio could be encoded (" << run.message()
                       << "); retrying with silence";
      silent_audio_seconds = std::max(duration, 0.05);
      run = run_once(encoder);
    }
    // A file cut short after its headers, or whose pictures are all damaged, can end without an
    // error and without a picture: bad input, said as such (the segments would hold no video).
    if (run.ok() && !ladder.rungs.empty() && pipeline->frames() == 0)
      return InvalidArgument(
          "no picture of the video could be decoded (file cut short or damaged?)");
    return run;
  };
  // Encoders in order (encoder_trial.h). A hardware encoder needs one session per rung
  // (hw_sessions.h); a job that cannot get them, or whose encoder fails mid-job, moves on to
  // the next proven encoder. A failure that is not the encoder's (bad input) ends the job.
  const VideoEncoder* used = nullptr;
  nlohmann::json attempts = nlohmann::json::array();
  Status failure = Status::Ok();
  bool encoder_to_blame = false;  // for the last failure
  auto attempt = [&](const VideoEncoder& encoder) -> bool {
    HardwareSessions::Lease lease;
    if (encoder.hardware() && !ladder.rungs.empty()) {
      auto l = sessions.TryAcquire(encoder.device(), static_cast<int>(ladder.rungs.size()));
      if (!l.ok()) {
        NR_LOG(kWarning) << "transcode: not using " << encoder.name() << ": "
                         << l.status().message();
        attempts.push_back({{"encoder", encoder.name()}, {"error", l.status().message()}});
        failure = l.status();
        encoder_to_blame = true;
        return options.encoder != "auto";
      }
      lease = std::move(*l);
    }
    Status run = encode_with(encoder);
    if (run.ok()) {
      used = &encoder;
      return true;
    }
    attempts.push_back({{"encoder", encoder.name()}, {"error", run.message()}});
    failure = run;
    // A hardware encoder that stalls the pipeline is blamed too: a wedged GPU looks like that.
    const bool encoder_fault =
        pipeline->encoder_failed() || (encoder.hardware() && run.code() == ErrorCode::kTimeout);
    encoder_to_blame = encoder_fault;
    if (encoder_fault)
      NR_LOG(kWarning) << "transcode: encoder " << encoder.name() << " failed (" << run.message()
                       << "); trying the next encoder";
    return !encoder_fault || options.encoder != "auto";
  };
  if (ladder.rungs.empty()) {
    // Audio only: no video encoder runs, so none needs proving.
    auto encoder = prover.registry().Select(options.encoder);
    if (!encoder.ok()) return encoder.status();
    attempt(**encoder);
  } else {
    NR_RETURN_IF_ERROR(prover.ForEachCandidate(options.encoder, attempt));
  }
  if (used == nullptr) {
    if (options.encoder_failed) *options.encoder_failed = encoder_to_blame;
    if (attempts.size() > 1)
      return Status(failure.code(), "every encoder failed; last: " + failure.message());
    return failure;
  }
  // `attempts` now lists the encoders tried before the one that produced the output, and why
  // each was not used.
  const VideoEncoder& encoder = *used;

  TranscodeResult result;
  if (recording) result.warnings = recording->warnings;
  for (const std::string& w : pipeline->warnings()) result.warnings.push_back(w);
  if (const int64_t leaps = pipeline->leaps(); leaps > 0) {
    result.warnings.push_back(
        LeapsWarning("the input's", leaps, pipeline->largest_leap_ns(), "the video"));
  }
  if (silent_audio_seconds > 0)
    result.warnings.push_back(
        "the audio track holds no decodable samples; the output carries silence instead");
  emit({"packaging", 99, 0, 0, 0, duration, duration, publisher && publisher->playable()});

  // Read back what was written and describe it in playlists.
  nlohmann::json rungs = nlohmann::json::array();
  std::vector<HlsVariant> variants;
  double out_duration = 0;
  double shortest = 1e18;  // the shortest rendition: what every viewer is sure to get
  std::vector<double> reference_boundaries;
  std::vector<int64_t> reference_starts;  // the first rung's cuts, followed by the audio rendition
  std::vector<fs::path> rung_dirs;
  for (const Rung& r : ladder.rungs) rung_dirs.push_back(staging / RungDir(r));
  NR_RETURN_IF_ERROR(AlignSegmentCuts(
      rung_dirs, std::llround(static_cast<double>(ladder.fps_d) / ladder.fps_n * kTs)));
  for (const Rung& r : ladder.rungs) {
    auto scanned =
        ScanRendition(staging / RungDir(r), true, static_cast<double>(r.fps_d) / r.fps_n);
    if (!scanned.ok()) return scanned.status();
    const Rendition& rend = *scanned;
    if (reference_boundaries.empty()) {
      reference_boundaries = rend.boundaries;
      reference_starts = rend.start_pts;
    } else if (rend.boundaries.size() != reference_boundaries.size()) {
      return Internal("rung " + r.name + " was cut into a different number of segments");
    }
    const std::string dir = RungDir(r);
    auto media = progressive
                     ? FinishedPlaylistText(rend.segments, ProgressiveTargetDuration(ladder))
                     : MediaPlaylistText(rend.segments);
    if (!media.ok()) return media.status();
    NR_RETURN_IF_ERROR(WriteFileAtomically(staging / dir / "index.m3u8", *media));
    auto iframes = IFramePlaylistText(rend.iframes, rend.segments.front().uri, rend.map_length);
    if (!iframes.ok()) return iframes.status();
    NR_RETURN_IF_ERROR(WriteFileAtomically(staging / dir / "iframes.m3u8", *iframes));
    HlsVariant v;
    v.uri = dir + "/index.m3u8";
    v.iframe_uri = dir + "/iframes.m3u8";
    v.bandwidth = PeakBandwidth(rend.segments);
    v.average_bandwidth = AverageBandwidth(rend.segments);
    v.iframe_bandwidth = IFramePeak(rend.iframes, static_cast<double>(ladder.gop_ns()) / 1e9);
    v.codecs = rend.codecs;
    v.width = r.width;
    v.height = r.height;
    v.frame_rate = r.frame_rate();
    variants.push_back(v);
    out_duration = std::max(out_duration, rend.duration);
    shortest = std::min(shortest, rend.duration);
    rungs.push_back({{"name", r.name},
                     {"width", r.width},
                     {"height", r.height},
                     {"frame_rate", r.frame_rate()},
                     {"gop_frames", r.gop_frames},
                     {"bitrate", r.bitrate},
                     {"max_bitrate", r.max_bitrate},
                     {"buffer_size", r.buffer_size},
                     {"codecs", rend.codecs},
                     {"bandwidth", v.bandwidth},
                     {"average_bandwidth", v.average_bandwidth},
                     {"playlist", v.uri},
                     {"iframe_playlist", v.iframe_uri},
                     {"segments", rend.segments.size()},
                     {"bytes", rend.bytes},
                     {"duration_seconds", rend.duration}});
  }
  nlohmann::json audio_json = nullptr;
  if (ladder.has_audio) {
    // Cut the audio-only stream where the video renditions were cut (or every segment length
    // for an audio-only source), then describe it like the others.
    const fs::path stream = staging / kAudioDir / kAudioStreamFile;
    std::vector<int64_t> cuts = reference_starts;
    if (cuts.empty()) {
      auto whole = ScanTsFile(stream.string());
      if (!whole.ok()) return whole.status();
      const int64_t first = whole->first_audio_pts();
      const int64_t step = ladder.segment_ns() * 9 / 100000;
      for (int64_t t = first; t < whole->audio_end_pts(); t += step) cuts.push_back(t);
    }
    auto sliced = SliceTsByPts(stream.string(), cuts, (staging / kAudioDir).string());
    if (!sliced.ok()) return sliced.status();
    fs::remove(stream, ec);
    auto scanned = ScanRendition(staging / kAudioDir, false, 0);
    if (!scanned.ok()) return scanned.status();
    const Rendition& rend = *scanned;
    auto media = progressive
                     ? FinishedPlaylistText(rend.segments, ProgressiveTargetDuration(ladder))
                     : MediaPlaylistText(rend.segments);
    if (!media.ok()) return media.status();
    NR_RETURN_IF_ERROR(WriteFileAtomically(staging / kAudioDir / "index.m3u8", *media));
    HlsVariant v;
    v.uri = std::string(kAudioDir) + "/index.m3u8";
    v.bandwidth = PeakBandwidth(rend.segments);
    v.average_bandwidth = AverageBandwidth(rend.segments);
    v.codecs = rend.codecs;
    variants.push_back(v);
    if (ladder.rungs.empty()) out_duration = rend.duration;
    shortest = std::min(shortest, rend.duration);
    audio_json = {{"codecs", rend.codecs},
                  {"bitrate", ladder.audio_bitrate},
                  {"channels", ladder.audio_channels},
                  {"sample_rate", ladder.audio_rate},
                  {"bandwidth", v.bandwidth},
                  {"average_bandwidth", v.average_bandwidth},
                  {"playlist", v.uri},
                  {"segments", rend.segments.size()},
                  {"bytes", rend.bytes},
                  {"duration_seconds", rend.duration}};
  }

  nlohmann::json poster_json = nullptr, storyboard_json = nullptr;
  if (thumbs.enabled) {
    RgbImage poster = pipeline->TakePoster();
    std::vector<RgbImage> tiles = pipeline->TakeTiles();
    if (poster.width > 0) {
      auto jpeg = EncodeJpeg(poster, 85);
      if (!jpeg.ok()) return jpeg.status();
      NR_RETURN_IF_ERROR(
          WriteFileAtomically(staging / "poster.jpg", std::string(jpeg->begin(), jpeg->end())));
      poster_json = {{"uri", "poster.jpg"}, {"width", poster.width}, {"height", poster.height}};
      auto sizes = WritePosterSizes(poster, staging);
      if (!sizes.ok()) return sizes.status();
      poster_json["sizes"] = *sizes;
    }
    if (!tiles.empty()) {
      RgbImage sheet = ComposeSprite(tiles, thumbs.layout);
      auto jpeg = EncodeJpeg(sheet, 75);
      if (!jpeg.ok()) return jpeg.status();
      NR_RETURN_IF_ERROR(
          WriteFileAtomically(staging / "storyboard.jpg", std::string(jpeg->begin(), jpeg->end())));
      NR_RETURN_IF_ERROR(WriteFileAtomically(
          staging / "storyboard.vtt", StoryboardVtt(static_cast<int>(tiles.size()), out_duration,
                                                    thumbs.layout, "storyboard.jpg")));
      int columns = std::min(thumbs.layout.columns, static_cast<int>(tiles.size()));
      storyboard_json = {{"image", "storyboard.jpg"},
                         {"vtt", "storyboard.vtt"},
                         {"interval_seconds", thumbs.layout.interval_seconds},
                         {"tile_width", thumbs.layout.tile_width},
                         {"tile_height", thumbs.layout.tile_height},
                         {"columns", columns},
                         {"tiles", tiles.size()}};
    }
  }

  if (duration - shortest > 0.3) {
    // A TS measured from its packets has no header to blame: its last frame claimed more time.
    const char* announced = source.duration_from_packets
                                ? " s its timestamps reach"
                                : " s its header announces (file cut short?)";
    std::string w = "input ended at " + std::to_string(shortest).substr(0, 6) + " s of the " +
                    std::to_string(duration).substr(0, 6) + announced +
                    "; output holds what could be decoded";
    NR_LOG(kWarning) << "transcode: " << w;
    result.warnings.push_back(w);
  }

  if (publisher && publisher->published() > 0) {
    // Viewers who started during the transcode go on with the final files: they must agree.
    if (Status same = publisher->CheckAgainst(staging); !same.ok()) {
      NR_LOG(kWarning) << "transcode: " << same.message();
      result.warnings.push_back(same.message());
    }
  }
  auto master = MasterPlaylistText(variants);
  if (!master.ok()) return master.status();
  NR_RETURN_IF_ERROR(WriteFileAtomically(staging / "master.m3u8", *master));
  const double elapsed = std::chrono::duration<double>(Clock::now() - started).count();
  nlohmann::json manifest = {
      {"version", 1},
      {"encoder", encoder.name()},
      {"encoder_element", encoder.factory()},
      {"encoder_attempts", attempts},
      {"elapsed_seconds", elapsed},
      {"speed", elapsed > 0 ? out_duration / elapsed : 0},
      {"duration_seconds", out_duration},
      {"source", ToJson(source)},
      {"gop_seconds", static_cast<double>(ladder.gop_ns()) / 1e9},
      {"segment_seconds", static_cast<double>(ladder.segment_ns()) / 1e9},
      {"master_playlist", "master.m3u8"},
      {"audio_bitrate",
       ladder.has_audio ? nlohmann::json(ladder.audio_bitrate) : nlohmann::json(nullptr)},
      {"rungs", rungs},
      {"audio", audio_json},
      {"poster", poster_json},
      {"storyboard", storyboard_json},
      {"warnings", result.warnings}};
  // The source path is the worker's business, not the viewers'.
  manifest["source"].erase("path");
  if (recording) {
    // The ladder follows the largest session (recording.h); the others are scaled to it.
    manifest["source"]["recording"] = {{"sessions", recording->sessions.size()},
                                       {"sessions_left_out", recording->skipped}};
  }
  NR_RETURN_IF_ERROR(WriteFileAtomically(staging / "manifest.json", manifest.dump(2) + "\n"));

  // Publish in one step: an existing output (a progressive one, or one replaced with --force)
  // is exchanged with the new one atomically, so that viewers never find the folder missing.
  if (fs::exists(out, ec) && !fs::is_empty(out, ec) &&
      renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, out.c_str(), RENAME_EXCHANGE) == 0) {
    guard.Release();
    fs::remove_all(staging, ec);  // now the previous output
    result.manifest = std::move(manifest);
    emit({"done", 100, 0, elapsed > 0 ? out_duration / elapsed : 0, 0, out_duration, out_duration,
          publisher && publisher->playable()});
    return result;
  }
  // Without RENAME_EXCHANGE (a file system that lacks it): the previous output is moved aside
  // first.
  fs::path old;
  if (fs::exists(out, ec)) {
    if (fs::is_empty(out, ec)) {
      fs::remove(out, ec);
    } else {
      old = out.parent_path() / ("." + name + ".old-" + std::to_string(getpid()));
      fs::rename(out, old, ec);
      if (ec) return IoError("cannot move the previous output aside: " + ec.message());
    }
  }
  fs::rename(staging, out, ec);
  if (ec) return IoError("cannot publish " + out.string() + ": " + ec.message());
  guard.Release();
  if (!old.empty()) fs::remove_all(old, ec);

  result.manifest = std::move(manifest);
  emit({"done", 100, 0, elapsed > 0 ? out_duration / elapsed : 0, 0, out_duration, out_duration,
        publisher && publisher->playable()});
  return result;
}

}  // namespace newsreel::transcoder
