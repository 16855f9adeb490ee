#pragma once
// A live stream's recording as one VOD input: a folder of MPEG-TS files, one per publishing
// session, named 1.ts, 2.ts, ... in the order they were received (the server writes
// data/live/<id>/recording/<n>.ts). Sessions may differ in size, frame rate and codecs; each one's
// timestamps start wherever its encoder chose; a session may begin mid-GOP or end mid-packet.
//
// OpenRecording() checks and measures every session without decoding it; VodPipeline
// (UseRecording) then decodes the sessions one after another and lays them end to end on one
// timeline: session k starts where session k-1 ended, video and audio of a session keep the
// distance they had in the recording. Runs demuxers: call it only in a worker process.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "transcoder/media_info.h"

namespace newsreel::transcoder {

struct RecordingSession {
  std::string path;
  MediaInfo info;  // Probe() of this file
  // The session's extent in tsdemux's running time (the timeline its decoded buffers carry):
  // from its first packet, audio or video, to the end of its last.
  int64_t origin_ns = 0;
  int64_t length_ns = 0;
  // Where the session begins in the recording's timeline: the sum of the lengths before it.
  int64_t offset_ns = 0;
  bool has_audio = false;
};

struct Recording {
  std::vector<RecordingSession> sessions;  // the usable ones, in order; never empty
  // What the ladder is chosen from: the video of the largest session (most pixels; the longer
  // one on a tie), audio when any session has audio, the duration of all sessions together.
  MediaInfo combined;
  int skipped = 0;                    // session files left out
  std::vector<std::string> warnings;  // one per session left out
};

// Whether `path` names a folder (a recording) rather than a media file.
bool IsRecordingFolder(const std::string& path);

// The session files in `folder`, in order: regular files (not symlinks) named <n>.ts, n a
// decimal number from 1 without leading zeros. Other names are ignored (a ".tmp" file being
// written, notes). kNotFound when there are none, kInvalidArgument past kMaxRecordingSessions.
Result<std::vector<std::string>> ListRecordingSessions(const std::string& folder);

inline constexpr int kMaxRecordingSessions = 10000;

// Probes and measures every session of `folder` (ListRecordingSessions): each must pass Probe()
// and be MPEG-TS. A session that fails, or holds no video picture that can be decoded (no video,
// no keyframe), is left out with a warning. kInvalidArgument when no session is left.
// `timeout` bounds each session's measuring pass while it makes no progress.
Result<Recording> OpenRecording(const std::string& folder,
                                std::chrono::seconds timeout = std::chrono::seconds(30));

}  // namespace newsreel::transcoder
