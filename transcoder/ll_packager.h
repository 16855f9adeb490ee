#pragma once
// One rung's low-latency packager: encoded H.264 access units (Annex B, as h264parse writes for
// MPEG-TS) and ADTS audio in, CMAF files out (cmaf_writer.h) in OUTDIR/ll/<rung>/: init.mp4 once
// the codec configuration is known, a part p<msn>.<k>.m4s every `part_frames` frames, and, when
// the next IDR frame begins the next segment, the whole segment s<msn>.m4s. A part closes once
// its frames are complete (the next frame arrived) and the audio has reached its end; it holds
// one moof+mdat of video and one of audio. Every file is written through a temporary name and a
// rename. No playlists: the caller lists what `on_part` reports.
//
// Thread-safe: video and audio come from different streaming threads (one lock). `on_part` is
// called with that lock held, on whichever of them closed the part: it must be quick and must
// not call back into the packager.

#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "transcoder/cmaf_writer.h"
#include "transcoder/ll_playlist.h"

namespace newsreel::transcoder {

struct LlPackagerOptions {
  std::filesystem::path dir;  // OUTDIR/ll/<rung>; must exist
  int fps_n = 30;             // the rung's frame rate in this run
  int fps_d = 1;
  int width = 0;  // the rung's picture
  int height = 0;
  LlPartPlan plan;  // where parts are cut within each segment
  bool has_audio = true;
  int64_t first_msn = 0;  // media sequence number of the first segment
  // A continued stream: decode times go on from here (ns), where its last run ended; the first
  // timestamp of this run (video or audio) maps to it. Unset: timestamps as they come.
  std::optional<int64_t> continue_from_ns;
};

struct LlPartClosed {
  int64_t msn = 0;
  int part = 0;
  double duration = 0;            // seconds of video
  bool independent = false;       // starts with an IDR frame
  bool segment_complete = false;  // the segment's last part: s<msn>.m4s is written too
  double segment_duration = 0;    // when segment_complete
  std::string codecs;             // "avc1.64001f,mp4a.40.2"
  int64_t video_end_ns = 0;       // where the video ends (with time_offset_ns)
};

class LlPackager {
 public:
  LlPackager(LlPackagerOptions options, std::function<void(const LlPartClosed&)> on_part);

  // One access unit; times in ns (running time). Errors: kIo (a file), kInvalidArgument.
  Status AddVideo(std::string_view annex_b, int64_t dts_ns, int64_t pts_ns, bool keyframe);
  // ADTS frames, the first starting at `pts_ns`.
  Status AddAudio(std::string_view adts, int64_t pts_ns);
  // The end of each stream: the last part closes (its last frame lasts one frame duration).
  Status EndVideo();
  Status EndAudio();

 private:
  struct Frame {
    std::string data;  // length-prefixed NAL units
    int64_t dts = 0;   // 90 kHz
    int64_t pts = 0;
    bool idr = false;
  };
  struct AudioFrame {
    std::string data;
    uint64_t time = 0;  // in samples
  };
  struct ReadyPart {
    std::vector<Frame> frames;
    int64_t end = 0;  // 90 kHz: the next frame's DTS
    int64_t msn = 0;
    int index = 0;
    bool segment_complete = false;
  };

  int64_t To90k(int64_t ns);
  int64_t Shift(int64_t ns);  // ns on the output's timeline
  Status CloseCurrent(int64_t end, bool segment_complete);
  Status Flush();  // writes the ready parts whose audio is in
  Status WritePart(ReadyPart& part);
  Status WriteInit();

  const LlPackagerOptions options_;
  const std::function<void(const LlPartClosed&)> on_part_;
  std::mutex mu_;
  // All below guarded by mu_.
  std::vector<Frame> current_;  // the part being gathered
  int64_t msn_;                 // of the segment being gathered
  int part_index_ = 0;          // of the part being gathered
  int segment_frame_ = 0;       // frames of the segment so far
  bool started_ = false;        // the first IDR arrived
  std::deque<ReadyPart> ready_;
  std::deque<AudioFrame> audio_;
  std::optional<uint64_t> audio_next_;  // the time the next audio frame should have
  bool video_ended_ = false;
  bool audio_ended_ = false;
  CmafVideoConfig video_config_;
  std::optional<CmafAudioConfig> audio_config_;
  bool init_written_ = false;
  uint32_t fragment_sequence_ = 1;
  std::string segment_bytes_;  // the parts of the segment being written
  double segment_seconds_ = 0;
  std::string codecs_;
  std::optional<int64_t> offset_ns_;  // added to every timestamp; fixed by the first one
};

}  // namespace newsreel::transcoder
