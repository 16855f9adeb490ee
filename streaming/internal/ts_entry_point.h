#pragma once
// Where a puller that joins a live MPEG-TS relay can start (issue 14, point 6): the latest PAT and
// PMT, and the next packet a decoder can start from. Reads packet headers and the two PSI
// tables only, never a PES payload: this is not a demuxer, and the server runs none. The bytes
// are a publisher's and hostile: anything that is not whole 188-byte packets with their sync
// byte, or a table that does not fit in one packet, is simply not understood (no start point is
// found in it, nothing is remembered from it).
//
// Not thread-safe: one owner (SrtIngest's ingest thread).

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace newsreel::streaming {

inline constexpr size_t kTsPacketBytes = 188;

class TsEntryPoint {
 public:
  static constexpr size_t kNone = static_cast<size_t>(-1);

  // Remembers the latest PAT, the latest PMT of the PAT's first program, and the PMT's first
  // video stream (H.264, HEVC, MPEG-1/2/4 video), from one message as relayed.
  void Observe(std::span<const uint8_t> message);

  // The offset in `message` of the first packet a decoder can start from, or kNone:
  //   - with a video stream known: a packet of it that starts a PES with the
  //     random_access_indicator set (a keyframe, as ffmpeg, GStreamer and OBS mark them);
  //   - with a PMT known and no video in it: a packet of any of its streams that starts a PES;
  //   - with no PMT known: kNone.
  size_t FindStart(std::span<const uint8_t> message) const;

  // The latest PAT and PMT packets, in this order: what a new puller gets first. Empty until
  // both were seen.
  std::span<const uint8_t> Tables() const;

  // The PID of the video stream, or -1.
  int video_pid() const { return video_pid_; }

  // Forgets everything (a new publisher: another stream, maybe other PIDs).
  void Reset() { *this = TsEntryPoint(); }

 private:
  void ObservePat(const uint8_t* packet);
  void ObservePmt(const uint8_t* packet);

  int pmt_pid_ = -1;
  int video_pid_ = -1;
  std::vector<int> stream_pids_;  // every elementary stream of the PMT
  bool have_pat_ = false;
  bool have_pmt_ = false;
  std::array<uint8_t, 2 * kTsPacketBytes> tables_{};  // PAT, then PMT
};

}  // namespace newsreel::streaming
