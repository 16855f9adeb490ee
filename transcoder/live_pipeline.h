#pragma once
// `newsreel live`: one MPEG-TS stream in (H.264 or HEVC video; AAC, MP2 or Opus audio), decoded
// once, scaled and encoded into the live ladder, and written as live HLS: a sliding window of
// MPEG-TS segments per rung, every rung cut at the same instants, every segment opening with an
// IDR frame. Runs demuxers and decoders: call it only in a worker process, never in the server.
//
// Output folder:
//   master.m3u8                 every rung; written once each rung has its first segment
//   <rung>/index.m3u8           the rung's sliding window; replaced atomically (temp + rename)
//   <rung>/seg_<sequence>.ts    segments; deleted once out of the window for delete_grace
//   live-state.json             what a later run continues from (live_playlist.h's LiveState),
//                               replaced atomically before every playlist update
// With ll_part_ms (low latency), also, per rung, CMAF and LL-HLS (ll_packager.h, ll_playlist.h):
//   ll/master.m3u8              every rung's ll/<rung>/index.m3u8
//   ll/<rung>/init.mp4          ftyp + moov, written once per run
//   ll/<rung>/p<msn>.<k>.m4s    part k of segment msn; s<msn>.m4s the whole segment
//   ll/<rung>/index.m3u8        the LL-HLS playlist, replaced atomically after every part
// At the end of the input every playlist gets EXT-X-ENDLIST (unless open_end) and RunLive
// returns. A stream may span several runs on one folder: a publisher's run, the slate while it
// is away (RunLiveSlate), its next run, each with continue_stream and open_end, and FinishLive
// at the end.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "transcoder/ladder.h"

namespace newsreel::transcoder {

class EncoderProver;

// A low-latency part just listed in its rung's LL-HLS playlist.
struct LivePart {
  std::string rung;          // "720p"
  int64_t msn = 0;           // media sequence number of its segment
  int part = 0;              // 0-based index in the segment
  std::string file;          // relative to the output folder: "ll/720p/p42.3.m4s"
  std::string init;          // "ll/720p/init.mp4"
  bool independent = false;  // starts with an IDR frame
  double duration = 0;       // seconds
};

struct LiveOptions {
  // Short sides of the rungs, highest first, capped by the source (never upscaled). The default
  // is what one stream on a 2-core machine encodes in real time next to its decoder.
  std::vector<int> short_sides = {720, 480, 360};
  double segment_seconds = 2.0;  // also the GOP: one IDR per segment (1 to 6 s)
  double window_seconds = 30;    // media listed per playlist; at least 3 target durations
  // After a segment leaves the window its file stays this long; unset: the least RFC 8216
  // §6.2.2 allows (window + target duration). Less than that is refused.
  std::optional<std::chrono::milliseconds> delete_grace;
  int audio_bitrate = 64000;
  // "auto": the best proven H.264 encoder (hardware first, x264 last, which needs no trial);
  // or a name from `newsreel encoders`. There is no fallback mid-stream: input cannot be
  // replayed.
  std::string encoder = "auto";
  EncoderProver* encoders = nullptr;  // null: EncoderProver::Default(); must outlive the call
  int64_t first_sequence = 0;         // media sequence (and file number) of the first segment
  // No input byte for this long fails with kTimeout; also bounds the wait for the first
  // picture's parameters.
  std::chrono::seconds stall_timeout{30};
  // Set by another thread (a signal handler's flag) to end the stream as if the input ended.
  const std::atomic<bool>* stop = nullptr;
  // Continue the stream whose live-state.json is in the output folder (none: a new stream): its
  // rungs (sizes, rates, BANDWIDTH, CODECS), segment duration, windows and sequence numbers,
  // with EXT-X-DISCONTINUITY before this run's first segment. short_sides, segment_seconds,
  // audio_bitrate and first_sequence are then the state's, not these.
  bool continue_stream = false;
  // At the end of the input (or on `stop`) write no EXT-X-ENDLIST: another run continues.
  bool open_end = false;
  // Low latency (docs/live.md): above 0, every rung is also written as CMAF parts of about this
  // many milliseconds with an LL-HLS playlist in ll/, and encoded without B-frames and with a
  // few frames of lookahead at most. 0: MPEG-TS only, as before.
  int ll_part_ms = 0;
  // Called on RunLive's (RunLiveSlate's) thread once a part's file and the playlist listing it
  // are in place.
  std::function<void(const LivePart&)> on_part;
};

// Figures about the running stream; LiveRun fills them about once a second.
struct LiveStats {
  double input_bitrate = 0;  // bits/s over the last second or so
  double fps = 0;            // frames/s through the shared video chain
  double speed = 0;          // media seconds per wall second
  double position_seconds = 0;
  int64_t segments = 0;  // segments published per rung
  // The latest segment: from its first frame entering the worker to the segment being listed.
  std::optional<double> latency_seconds;
};

struct LiveRungResult {
  std::string name;
  int width = 0;
  int height = 0;
  int64_t bandwidth = 0;          // the BANDWIDTH written in master.m3u8 (an upper bound)
  int64_t peak_bandwidth = 0;     // measured: the largest segment's bits per second
  int64_t average_bandwidth = 0;  // measured: all published bytes over their duration
  std::string codecs;
  double frame_rate = 0;
  std::string playlist;  // relative to the output folder
};

struct LiveResult {
  std::vector<LiveRungResult> rungs;
  std::string encoder;          // registry name: "x264"
  std::string encoder_element;  // "newsreelx264"
  double duration_seconds = 0;  // media published
  int64_t segments = 0;         // per rung
  std::string video_codec;      // the input's: "h264", "h265"
  int width = 0;                // the input's picture size
  int height = 0;
  std::string audio_codec;  // "aac", "mp2", "opus"; empty without audio
  int64_t input_bytes = 0;
  std::vector<std::string> warnings;
};

// What went wrong, beyond the status: whether the encoder (not the input) failed.
struct LiveFailure {
  bool encoder_failed = false;
};

// Reads MPEG-TS from `input_fd` (a pipe, a socket or a file; not closed) until its end and writes
// live HLS into `outdir` (created; existing segments and playlists there are overwritten).
// `on_stats` is called on the calling thread about once a second. Errors:
//   kInvalidArgument  the input is not MPEG-TS, holds no H.264/HEVC video, or a media error
//   kUnsupported      a video codec other than H.264/HEVC
//   kTimeout          no input for stall_timeout
//   kNotFound         a GStreamer element or encoder is missing
//   others            I/O (the output folder), internal
// `failure` (may be null) says whether the encoder was to blame.
Result<LiveResult> RunLive(int input_fd, const std::string& outdir, const LiveOptions& options,
                           const std::function<void(const LiveStats&)>& on_stats,
                           LiveFailure* failure = nullptr);

// The slate, for the time no one publishes: a still picture ("The broadcast will resume
// shortly", in Vietnamese and English) and silent audio, made in real time at 5 fps and encoded
// like a stream into the rungs of the folder's live-state.json (with continue_stream; else the
// default ladder of a 16:9 source), until `options.stop`. Same outputs and errors as RunLive.
Result<LiveResult> RunLiveSlate(const std::string& outdir, const LiveOptions& options,
                                const std::function<void(const LiveStats&)>& on_stats,
                                LiveFailure* failure = nullptr);

// Ends the stream in `outdir` without a pipeline: rewrites every playlist from live-state.json
// with EXT-X-ENDLIST (and master.m3u8 when every rung has a segment), and marks the state ended.
// Idempotent. kNotFound without a state file; kInvalidArgument for a corrupt one.
Status FinishLive(const std::string& outdir);

// The ladder RunLive encodes for a source of this size and rate: the VOD policy (ladder.h) with
// the rungs asked for, GOP = segment, and a VBV buffer of half a segment at the peak rate, so
// that BANDWIDTH, an upper bound written before the first segment, stays near the real peak.
Result<Ladder> PickLiveLadder(int display_width, int display_height, int fps_n, int fps_d,
                              bool has_audio, const LiveOptions& options);

}  // namespace newsreel::transcoder
