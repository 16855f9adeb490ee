#pragma once
// The VOD pipeline: decode once; deinterlace, rotate and convert to constant frame rate once;
// tee the frames into one scale+encode branch per rung; encode audio once (stereo AAC) and mux it
// into every rung; cut MPEG-TS segments with splitmuxsink at the same instants in every rung.
// The poster and storyboard frames are copied from one rung after scaling.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "transcoder/aac_bundle.h"
#include "transcoder/encoder_registry.h"
#include "transcoder/feed_clock.h"
#include "transcoder/gst_util.h"
#include "transcoder/ladder.h"
#include "transcoder/media_info.h"
#include "transcoder/progressive.h"
#include "transcoder/recording.h"
#include "transcoder/storyboard.h"

namespace newsreel::transcoder {

struct ThumbnailPlan {
  bool enabled = false;
  // Must equal one rung's size: the frames are taken from that rung after scaling.
  int poster_width = 0;
  int poster_height = 0;
  double poster_time = 0;  // seconds; the first frame at or after it becomes the poster
  StoryboardLayout layout;
};

struct PipelineTick {
  int64_t frames = 0;  // video frames through the shared chain (0 for audio-only)
  double position_seconds = 0;
};

// Folder names inside the staging directory.
std::string RungDir(const Rung& rung);
inline constexpr const char* kAudioDir = "audio";
inline constexpr const char* kSegmentPattern = "seg_%05d.ts";
// The audio-only rendition as one stream, before it is cut (then removed).
inline constexpr const char* kAudioStreamFile = "stream.ts";

// Running time of `pts` in the segment currently on `pad` (the PTS itself when there is none).
int64_t RunningTime(GstPad* pad, GstClockTime pts);

// Makes an encoded video stream's first decode timestamp equal to its first presentation
// timestamp. An encoder with B-frames stamps its first frames with DTS before their PTS (x264's
// B-pyramid: two frames, 0.16 s at 12.5 fps), as ffmpeg does too; hls.js starts its timeline at
// the lowest DTS of the first fragment, so the video was buffered only from PTS - DTS onwards and
// hls.js had to skip that hole at t=0 (a non-fatal bufferSeekOverHole). The frames decoded before
// the first picture is shown get their DTS spread over [first PTS, first PTS + one frame), which
// keeps DTS increasing and never after PTS (the first frame is an IDR of a closed GOP, so every
// other frame is shown at least one frame after it). Later frames keep the encoder's DTS: a jump
// in DTS at later IDRs would look like a hole between fragments to hls.js.
// Feed it one stream's buffers in decode order; not thread-safe (one streaming thread).
class StartDtsAligner {
 public:
  explicit StartDtsAligner(GstClockTime frame_duration) : frame_duration_(frame_duration) {}
  // The DTS the buffer with `pts` and `dts` should carry (`dts` when it needs no change).
  GstClockTime Align(GstClockTime pts, GstClockTime dts);
  bool done() const { return done_; }

 private:
  GstClockTime frame_duration_;
  bool started_ = false;
  bool done_ = false;
  GstClockTime first_pts_ = 0;
  GstClockTime first_dts_ = 0;
};

// Decoded caps (`decoded`) with the colour space and chroma siting written out where the decoder
// leaves them unsaid: BT.709 above 576 lines, BT.601 up to it, chroma sited left, as players
// assume for H.264. (GStreamer's own guess is BT.2020 from 2160 lines on.) Null when nothing is
// missing or the caps are not raw YUV.
CapsPtr DecodedColourSpelledOut(const GstCaps* decoded);

// The caps the shared chain converts decoded frames (`decoded`, spelled out as above) to: 8-bit
// 4:2:0, limited range, with the colour space and chroma siting written out. Left unsaid, every
// element guessed them from its own frame size (BT.709 above 576 lines, BT.601 below), so each SD
// rung's scaler converted every pixel of an HD source to BT.601: 40 % more CPU in those rungs,
// rounding loss, and rungs whose colours differ. Now every rung keeps the source's colour space
// (ffmpeg does the same), BT.2020 and HDR transfer included (kept with their tags, not
// tone-mapped); RGB sources get BT.709.
std::string SharedChainCaps(const GstCaps* decoded);

// A pad probe for the converter's sink pad (VOD and live): spells out the decoder's colour space
// in its caps event and pins the shared chain's caps (`i420_capsfilter`, a capsfilter) to it
// (SharedChainCaps), once.
GstPadProbeReturn PinDecodedColour(GstPad* pad, GstPadProbeInfo* info,
                                   gpointer i420_capsfilter) noexcept;

class VodPipeline {
 public:
  // `source`, `ladder` and `encoder` must outlive this object. Segments are written under
  // `staging_dir`/<rung>/ and `staging_dir`/audio/.
  VodPipeline(const MediaInfo& source, const Ladder& ladder, const VideoEncoder& encoder,
              std::string staging_dir, ThumbnailPlan thumbnails);
  ~VodPipeline();
  VodPipeline(const VodPipeline&) = delete;
  VodPipeline& operator=(const VodPipeline&) = delete;

  // Replaces the source's audio with `seconds` of silence (call before Build()): for a track
  // that decodes to nothing, so that every rendition still carries audio.
  void UseSilentAudio(double seconds) { silent_audio_seconds_ = seconds; }

  // Decodes the sessions of `recording` one after another instead of the file source.path (call
  // before Build()); `recording` must outlive this object. Each session's frames and samples are
  // moved onto one timeline (recording.h): session k from its offset_ns on. Only one session's
  // demuxer and decoders exist at a time; the next is started on Run()'s thread when the last
  // stream of the previous one has ended. A session without audio gets silence for its length;
  // a gap between a session's streams or sessions is filled (videorate repeats the last picture,
  // audiorate inserts silence). A session whose decoding fails ends there, with a warning.
  void UseRecording(const Recording* recording) { recording_ = recording; }

  // Cuts segments on `schedule` (call before Build()) instead of every ladder.segment_ns():
  // a short first segment for progressive publishing (progressive.h). Every rung alike.
  void UseSchedule(SegmentSchedule schedule) { schedule_ = schedule; }

  // Called on Run()'s thread each time a rung's segmenter has finished writing a segment file
  // (`rung` is the rung's index in the ladder) because the next one began; not for the files
  // closed once the video has ended (the last one may yet change: segment_alignment.h). Set
  // before Run().
  void OnSegmentClosed(std::function<void(size_t rung)> closed) {
    on_segment_closed_ = std::move(closed);
  }

  Status Build();
  // Runs to end of stream on the calling thread, calling `on_tick` about four times a second.
  // Fails when GStreamer reports an error or nothing moves for `stall_timeout`.
  Status Run(const std::function<void(const PipelineTick&)>& on_tick,
             std::chrono::seconds stall_timeout);

  const std::vector<std::string>& warnings() const { return warnings_; }
  // Video frames that went through the shared chain to the rungs.
  int64_t frames() const { return frames_.load(); }
  // The leaps taken out of an MPEG-TS input's timestamps (feed_clock.h), and the largest, in
  // nanoseconds, over the file or every recorded session.
  int64_t leaps() const;
  int64_t largest_leap_ns() const;
  // True when Build() or Run() failed because of the video encoder (its bin could not be made,
  // or the error came from inside an encoder bin): the caller may retry with another encoder.
  bool encoder_failed() const { return encoder_failed_; }
  // True when the ladder has audio but the encoder produced none (valid after Run()).
  bool audio_missing() const { return ladder_.has_audio && audio_bytes_.load() == 0; }
  // Valid after Run(); moved out.
  RgbImage TakePoster();
  std::vector<RgbImage> TakeTiles();

 private:
  GstElement* Add(const char* factory, const char* name = nullptr);
  void ConfigureTsMux(GstElement* mux) const;
  // Sets the pipeline to NULL within a time limit; false when it had to be abandoned.
  bool Stop();
  Status BuildVideo();
  Status BuildAudio();
  void OnPadAdded(GstPad* pad);
  // Called on the thumbnail rung's streaming thread for every scaled frame; copies the few
  // frames the poster and storyboard need.
  void OnThumbnailFrame(GstPad* pad, GstBuffer* buffer);

  GstPadProbeReturn BundleAac(GstPad* pad, GstPadProbeInfo* info);
  static GstPadProbeReturn AacBundleThunk(GstPad* pad, GstPadProbeInfo* info,
                                          gpointer self) noexcept;
  static GstPadProbeReturn AlignStartDtsThunk(GstPad* pad, GstPadProbeInfo* info,
                                              gpointer aligner) noexcept;
  static GstPadProbeReturn CountAudioThunk(GstPad* pad, GstPadProbeInfo* info,
                                           gpointer self) noexcept;
  static void PadAddedThunk(GstElement*, GstPad* pad, gpointer self) noexcept;

  // Recording input (UseRecording). The session being decoded; created and destroyed on the
  // thread that calls Build() and Run(), its counters touched by its streaming threads.
  struct Session {
    size_t index = 0;
    std::vector<GstElement*> elements;  // owned by the pipeline; removed with the session
    std::mutex mu;                      // guards what follows
    bool video_linked = false;
    bool audio_linked = false;
    bool no_more_pads = false;
    int open_streams = 0;  // linked streams that have not ended yet
    // The streams linked to the shared chains, and whether each has ended (EOS, or removed by
    // decodebin when the demuxer changed programs mid-file: a new group of pads follows).
    std::vector<std::pair<GstPad*, bool>> streams;
    bool done = false;  // the "session done" message has been posted
  };
  Status StartSession(size_t index);
  // Stops and removes the current session, then starts the next one or, after the last, ends
  // the streams into the shared chains.
  Status NextSession();
  void OnSessionPad(GstPad* pad);
  void OnSessionNoMorePads();
  void OnSessionPadRemoved(GstPad* pad);
  // Called with session.mu held: `pad`, one of session.streams, has ended.
  void EndSessionStream(Session& session, GstPad* pad);
  // Links `pad` (a session's decoded stream, or its silence) to `head`, moving its timestamps by
  // `shift_ns` (offset_ns - origin_ns, or offset_ns for silence that starts at 0).
  bool LinkSessionStream(Session& session, GstPad* pad, GstElement* head, bool video,
                         int64_t shift_ns);
  // Called with session.mu held when one of its streams ended or no more will come.
  void MaybeEndSession(Session& session);
  GstPadProbeReturn OnSessionData(GstPad* pad, GstPadProbeInfo* info, bool video, int64_t shift_ns);
  static void SessionPadAddedThunk(GstElement*, GstPad* pad, gpointer self) noexcept;
  static void SessionNoMorePadsThunk(GstElement*, gpointer self) noexcept;
  static void SessionPadRemovedThunk(GstElement*, GstPad* pad, gpointer self) noexcept;

  const Recording* recording_ = nullptr;
  std::unique_ptr<Session> session_;
  // Set once the first stream-start and segment of each kind have gone downstream; later
  // sessions' are dropped, so the shared chains see one stream on one timeline.
  std::atomic<bool> video_started_{false}, audio_started_{false};

  const MediaInfo& source_;
  const Ladder& ladder_;
  const VideoEncoder& encoder_;
  SegmentSchedule schedule_;
  std::function<void(size_t)> on_segment_closed_;
  std::string staging_dir_;
  ThumbnailPlan thumbs_;

  // One per input file (the upload, or each recorded session); they outlive the pipeline.
  std::vector<std::unique_ptr<FeedClock>> feed_clocks_;
  Pipeline pipeline_{"vod"};
  std::string missing_;               // first element factory that is not installed
  GstElement* video_head_ = nullptr;  // first element of the shared video chain (a queue or not)
  GstElement* audio_head_ = nullptr;
  std::atomic<bool> video_linked_{false};
  std::atomic<bool> audio_linked_{false};
  std::vector<GstElement*> splitters_;     // one splitmuxsink per rendition
  std::vector<GstElement*> encoder_bins_;  // one per rung, owned by the pipeline
  // One per rung, each used only by that rung's streaming thread (after its parser).
  std::vector<std::unique_ptr<StartDtsAligner>> start_dts_;
  bool encoder_failed_ = false;

  // ADTS frames being bundled into one buffer; touched only by the audio streaming thread
  // (and the destructor, after the pipeline has stopped).
  std::unique_ptr<AacBundle> aac_ = std::make_unique<AacBundle>();
  bool priming_dropped_ = false;  // the encoder's first (priming-only) frame is gone
  int64_t first_audio_pts_ = -1;  // origin of the cuts for an audio-only source
  double silent_audio_seconds_ = 0;
  // Encoded audio bytes that left the AAC parser.
  std::atomic<uint64_t> audio_bytes_{0};

  // Progress, written by streaming threads.
  std::atomic<int64_t> frames_{0};
  std::atomic<int64_t> position_ns_{0};
  std::atomic<int64_t> first_video_pts_{-1};  // running time of the first frame: cut origin
  std::atomic<bool> video_ended_{false};      // EOS has reached the video tee

  // Thumbnails, written on the thumbnail rung's streaming thread and read after Run().
  std::mutex thumb_mu_;
  double next_tile_ = 0;
  bool have_poster_ = false;
  RgbImage poster_;
  RgbImage first_frame_;
  std::vector<RgbImage> tiles_;

  std::vector<std::string> warnings_;
};

}  // namespace newsreel::transcoder
