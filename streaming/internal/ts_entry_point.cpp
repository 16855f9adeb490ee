#include "streaming/internal/ts_entry_point.h"

#include <algorithm>
#include <cstring>

namespace newsreel::streaming {
namespace {

constexpr uint8_t kSync = 0x47;

int Pid(const uint8_t* p) { return ((p[1] & 0x1f) << 8) | p[2]; }
bool StartsUnit(const uint8_t* p) { return (p[1] & 0x40) != 0; }
bool HasPayload(const uint8_t* p) { return (p[3] & 0x10) != 0; }
bool HasAdaptation(const uint8_t* p) { return (p[3] & 0x20) != 0; }

// The payload of a packet: after the header and the adaptation field, if any. Empty when the
// adaptation field claims more than the packet holds.
std::span<const uint8_t> Payload(const uint8_t* p) {
  if (!HasPayload(p)) return {};
  size_t at = 4;
  if (HasAdaptation(p)) at += 1 + static_cast<size_t>(p[4]);
  if (at >= kTsPacketBytes) return {};
  return {p + at, kTsPacketBytes - at};
}

bool RandomAccess(const uint8_t* p) { return HasAdaptation(p) && p[4] > 0 && (p[5] & 0x40) != 0; }

// The section a packet that starts one carries (after its pointer_field), if the whole section
// (per section_length) lies in this packet and has the table id wanted.
std::span<const uint8_t> Section(const uint8_t* p, uint8_t table_id) {
  if (!StartsUnit(p)) return {};
  auto payload = Payload(p);
  if (payload.empty()) return {};
  const size_t at = 1 + static_cast<size_t>(payload[0]);
  if (at + 3 > payload.size()) return {};
  const uint8_t* s = payload.data() + at;
  if (s[0] != table_id) return {};
  const size_t length = 3 + (static_cast<size_t>(s[1] & 0x0f) << 8 | s[2]);
  // Header (8 bytes after the length field's end counted in it) and CRC: at least 12 in all.
  if (length < 12 || at + length > payload.size()) return {};
  return {s, length};
}

bool IsVideo(uint8_t stream_type) {
  switch (stream_type) {
    case 0x01:  // MPEG-1 video
    case 0x02:  // MPEG-2 video
    case 0x10:  // MPEG-4 part 2
    case 0x1b:  // H.264
    case 0x24:  // HEVC
      return true;
    default:
      return false;
  }
}

// Calls f(packet) for each whole packet of `message`, from the start, up to the first place it
// is not one (no sync byte, a short tail).
template <typename F>
void ForEachPacket(std::span<const uint8_t> message, F f) {
  for (size_t at = 0; at + kTsPacketBytes <= message.size(); at += kTsPacketBytes) {
    if (message[at] != kSync) return;
    if (!f(message.data() + at, at)) return;
  }
}

}  // namespace

void TsEntryPoint::ObservePat(const uint8_t* packet) {
  auto s = Section(packet, 0x00);
  if (s.empty()) return;
  // Programs from byte 8 to the CRC: program_number (16), reserved (3) + PID (13).
  for (size_t at = 8; at + 4 <= s.size() - 4; at += 4) {
    const int program = s[at] << 8 | s[at + 1];
    if (program == 0) continue;  // the network PID
    const int pid = (s[at + 2] & 0x1f) << 8 | s[at + 3];
    if (pid != pmt_pid_) {
      pmt_pid_ = pid;
      have_pmt_ = false;
      video_pid_ = -1;
      stream_pids_.clear();
    }
    std::memcpy(tables_.data(), packet, kTsPacketBytes);
    have_pat_ = true;
    return;
  }
}

void TsEntryPoint::ObservePmt(const uint8_t* packet) {
  auto s = Section(packet, 0x02);
  if (s.empty()) return;
  const size_t info_length = static_cast<size_t>(s[10] & 0x0f) << 8 | s[11];
  const size_t end = s.size() - 4;  // the CRC
  int video = -1;
  std::vector<int> pids;
  for (size_t at = 12 + info_length; at + 5 <= end;) {
    const uint8_t type = s[at];
    const int pid = (s[at + 1] & 0x1f) << 8 | s[at + 2];
    const size_t es_info = static_cast<size_t>(s[at + 3] & 0x0f) << 8 | s[at + 4];
    pids.push_back(pid);
    if (video == -1 && IsVideo(type)) video = pid;
    at += 5 + es_info;
  }
  video_pid_ = video;
  stream_pids_ = std::move(pids);
  std::memcpy(tables_.data() + kTsPacketBytes, packet, kTsPacketBytes);
  have_pmt_ = true;
}

void TsEntryPoint::Observe(std::span<const uint8_t> message) {
  ForEachPacket(message, [&](const uint8_t* p, size_t) {
    const int pid = Pid(p);
    if (pid == 0) {
      ObservePat(p);
    } else if (pid == pmt_pid_) {
      ObservePmt(p);
    }
    return true;
  });
}

size_t TsEntryPoint::FindStart(std::span<const uint8_t> message) const {
  if (!have_pmt_) return kNone;
  size_t found = kNone;
  ForEachPacket(message, [&](const uint8_t* p, size_t at) {
    const int pid = Pid(p);
    bool start = false;
    if (video_pid_ != -1) {
      start = pid == video_pid_ && StartsUnit(p) && RandomAccess(p);
    } else {
      start = StartsUnit(p) &&
              std::find(stream_pids_.begin(), stream_pids_.end(), pid) != stream_pids_.end();
    }
    if (start) found = at;
    return !start;
  });
  return found;
}

std::span<const uint8_t> TsEntryPoint::Tables() const {
  if (!have_pat_ || !have_pmt_) return {};
  return {tables_.data(), tables_.size()};
}

}  // namespace newsreel::streaming
