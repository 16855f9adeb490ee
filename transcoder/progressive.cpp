#include "transcoder/progressive.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>

#include "common/log.h"
#include "transcoder/atomic_file.h"
#include "transcoder/ts_scanner.h"
#include "transcoder/vod_pipeline.h"

namespace newsreel::transcoder {
namespace {

namespace fs = std::filesystem;

constexpr double kTs = 90000.0;     // MPEG-TS clock
constexpr int64_t kTolerance = 90;  // 1 ms, as segment_alignment.h

std::string SegmentName(int k) {
  char name[32];
  std::snprintf(name, sizeof name, kSegmentPattern, k);
  return name;
}

Result<std::vector<uint8_t>> ReadRange(const fs::path& path, int64_t from) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError("cannot read " + path.string());
  in.seekg(0, std::ios::end);
  const int64_t size = static_cast<int64_t>(in.tellg());
  // Whole packets only: the muxer may be in the middle of writing one.
  const int64_t end = size - size % static_cast<int64_t>(kTsPacketBytes);
  std::vector<uint8_t> bytes(static_cast<size_t>(std::max<int64_t>(0, end - from)));
  in.seekg(from);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!in) return IoError("short read from " + path.string());
  return bytes;
}

}  // namespace

int64_t SegmentSchedule::SegmentAt(int64_t t_ns) const {
  if (t_ns < 0) return 0;
  if (!short_start()) return t_ns / segment_ns;
  const int64_t short_end = first_ns * short_count;
  if (t_ns < short_end) return t_ns / first_ns;
  return short_count + (t_ns - short_end) / segment_ns;
}

int64_t SegmentSchedule::StartOf(int64_t index) const {
  if (index <= 0) return 0;
  if (!short_start()) return index * segment_ns;
  if (index <= short_count) return index * first_ns;
  return short_count * first_ns + (index - short_count) * segment_ns;
}

SegmentSchedule ProgressiveSchedule(const Ladder& ladder) {
  return {ladder.gop_ns(), ladder.segment_ns(), 2};
}

int ProgressiveTargetDuration(const Ladder& ladder) {
  double slowest_frame = static_cast<double>(ladder.fps_d) / ladder.fps_n;
  for (const Rung& r : ladder.rungs)
    slowest_frame = std::max(slowest_frame, static_cast<double>(r.fps_d) / r.fps_n);
  const double longest = static_cast<double>(ladder.segment_ns()) / 1e9 + 1.0 + slowest_frame;
  return static_cast<int>(std::ceil(longest - 0.001));
}

int64_t UpperBoundBandwidth(const Rung* rung, const Ladder& ladder, double shortest_seconds) {
  const double shortest = std::max(shortest_seconds, 0.001);
  double payload_bps = 0, pes_per_second = 0;
  if (rung != nullptr) {
    payload_bps += rung->max_bitrate + rung->buffer_size / shortest;
    pes_per_second += rung->frame_rate();
  }
  if (ladder.has_audio) {
    payload_bps += ladder.audio_bitrate * 1.25;
    pes_per_second += ladder.audio_rate / 1024.0;  // at worst one PES per AAC frame
  }
  const double pes_overhead_bps = pes_per_second * (19 + kTsPacketBytes - 4) * 8;
  const double pcr_bps = 25 * 8 * 8;  // an adaptation field with a PCR every 40 ms
  const double psi_bps =
      2 * kTsPacketBytes * 8 * (1e9 / static_cast<double>(ladder.gop_ns()) + 1 / shortest);
  const double total =
      (payload_bps + pes_overhead_bps + pcr_bps) * kTsPacketBytes / (kTsPacketBytes - 4) + psi_bps;
  return static_cast<int64_t>(std::ceil(total));
}

ProgressivePublisher::ProgressivePublisher(fs::path staging, fs::path out, const Ladder& ladder)
    : staging_(std::move(staging)),
      out_(std::move(out)),
      ladder_(ladder),
      target_(ProgressiveTargetDuration(ladder)) {
  for (const Rung& r : ladder_.rungs) rungs_.push_back({RungDir(r), 0, {}, {}});
}

void ProgressivePublisher::FragmentClosed(size_t rung) {
  if (rung < rungs_.size()) ++rungs_[rung].closed;
}

Status ProgressivePublisher::Publish() {
  if (stopped_ || rungs_.empty()) return Status::Ok();
  for (;;) {
    const int k = published_ + 1;
    bool ready = true;
    for (const RungState& r : rungs_) ready = ready && r.closed >= k + 1;
    if (!ready) return Status::Ok();
    Result<bool> one = PublishOne(k);
    if (!one.ok()) {
      stopped_ = true;
      return one.status().WithContext("progressive publishing stopped at segment " +
                                      std::to_string(k));
    }
    if (!*one) return Status::Ok();  // the audio has not reached the cut yet
    const bool first = published_ == 0;
    published_ = k;
    if (first) {
      Status master = WriteMaster();
      if (!master.ok()) {
        stopped_ = true;
        return master;
      }
    }
  }
}

Result<ProgressivePublisher::SegmentFacts> ProgressivePublisher::Facts(RungState& rung, int k) {
  while (static_cast<int>(rung.scanned.size()) < k) {
    const int n = static_cast<int>(rung.scanned.size()) + 1;
    const fs::path file = staging_ / rung.dir / SegmentName(n);
    auto scan = ScanTsFile(file.string());
    if (!scan.ok()) return scan.status();
    SegmentFacts f;
    f.start_pts = scan->first_video_pts();
    f.bytes = scan->size_bytes;
    f.idr_first = !scan->video.empty() && scan->video.front().idr;
    if (n == 1) {
      if (!scan->sps) return Internal("no H.264 SPS in the first segment of " + rung.dir);
      std::string codecs = AvcCodecString(*scan->sps);
      if (scan->aac_object_type != 0) {
        codecs += ",mp4a.40." + std::to_string(scan->aac_object_type);
        audio_object_type_ = scan->aac_object_type;
      }
      codecs_.push_back(codecs);
    }
    rung.scanned.push_back(f);
  }
  return rung.scanned[static_cast<size_t>(k - 1)];
}

Result<bool> ProgressivePublisher::PublishOne(int k) {
  // Check segment k in every rung, and where k+1 starts, before anything is copied.
  std::vector<SegmentFacts> here, next;
  for (RungState& r : rungs_) {
    auto a = Facts(r, k);
    if (!a.ok()) return a.status();
    auto b = Facts(r, k + 1);
    if (!b.ok()) return b.status();
    if (!a->idr_first || a->start_pts < 0)
      return Internal("segment " + std::to_string(k) + " of " + r.dir +
                      " does not begin with an IDR frame");
    here.push_back(*a);
    next.push_back(*b);
  }
  for (size_t i = 1; i < rungs_.size(); ++i) {
    if (std::llabs(here[i].start_pts - here[0].start_pts) > kTolerance ||
        std::llabs(next[i].start_pts - next[0].start_pts) > kTolerance)
      return Internal("rungs " + rungs_[0].dir + " and " + rungs_[i].dir +
                      " were cut at different instants around segment " + std::to_string(k));
  }
  // The audio-only rendition: from the cut at segment k to the first access unit of k+1.
  std::vector<uint8_t> audio_segment, first_psi;
  int64_t audio_next_offset = 0;
  if (ladder_.has_audio) {
    const fs::path stream = staging_ / kAudioDir / kAudioStreamFile;
    auto tail = ReadRange(stream, audio_offset_);
    if (!tail.ok()) return tail.status();
    std::vector<uint8_t> bytes = audio_psi_;
    const int64_t psi = static_cast<int64_t>(audio_psi_.size());
    bytes.insert(bytes.end(), tail->begin(), tail->end());
    auto scan = ScanTsBytes(bytes);
    if (!scan.ok()) return scan.status().WithContext(stream.string());
    if (k == 1) first_psi.assign(bytes.begin(), bytes.begin() + scan->psi_end);
    const int64_t cut = next[0].start_pts - kTolerance;
    auto it = std::find_if(scan->audio.begin(), scan->audio.end(), [&](const TsAccessUnit& au) {
      return au.pts >= cut && au.offset >= psi;
    });
    if (it == scan->audio.end()) return false;
    audio_segment.assign(bytes.begin(), bytes.begin() + it->offset);
    audio_next_offset = audio_offset_ + (it->offset - psi);
  }
  // Files first, then the playlists that name them.
  for (size_t i = 0; i < rungs_.size(); ++i) {
    RungState& r = rungs_[i];
    const std::string name = SegmentName(k);
    std::error_code ec;
    fs::create_directories(out_ / r.dir, ec);
    auto bytes = ReadRange(staging_ / r.dir / name, 0);
    if (!bytes.ok()) return bytes.status();
    if (static_cast<int64_t>(bytes->size()) != here[i].bytes)
      return Internal("segment " + name + " of " + r.dir + " changed while being published");
    NR_RETURN_IF_ERROR(WriteFileAtomically(out_ / r.dir / name, bytes->data(), bytes->size()));
    r.listed.push_back(
        {name, static_cast<double>(next[i].start_pts - here[i].start_pts) / kTs, here[i].bytes});
  }
  if (ladder_.has_audio) {
    std::error_code ec;
    fs::create_directories(out_ / kAudioDir, ec);
    NR_RETURN_IF_ERROR(WriteFileAtomically(out_ / kAudioDir / SegmentName(k), audio_segment.data(),
                                           audio_segment.size()));
    audio_listed_.push_back({SegmentName(k),
                             static_cast<double>(next[0].start_pts - here[0].start_pts) / kTs,
                             static_cast<int64_t>(audio_segment.size())});
    audio_offset_ = audio_next_offset;
    if (k == 1) audio_psi_ = std::move(first_psi);
  }
  for (const RungState& r : rungs_) {
    auto text = EventPlaylistText(r.listed, target_);
    if (!text.ok()) return text.status();
    NR_RETURN_IF_ERROR(WriteFileAtomically(out_ / r.dir / "index.m3u8", *text));
  }
  if (ladder_.has_audio) {
    auto text = EventPlaylistText(audio_listed_, target_);
    if (!text.ok()) return text.status();
    NR_RETURN_IF_ERROR(WriteFileAtomically(out_ / kAudioDir / "index.m3u8", *text));
  }
  return true;
}

Status ProgressivePublisher::WriteMaster() {
  // Published segments last at least one GOP (only the last one, published with the final
  // output, may be shorter).
  const double shortest = static_cast<double>(ladder_.gop_ns()) / 1e9;
  std::vector<HlsVariant> variants;
  for (size_t i = 0; i < ladder_.rungs.size(); ++i) {
    const Rung& r = ladder_.rungs[i];
    HlsVariant v;
    v.uri = RungDir(r) + "/index.m3u8";
    v.bandwidth = UpperBoundBandwidth(&r, ladder_, shortest);
    v.codecs = codecs_[i];
    v.width = r.width;
    v.height = r.height;
    v.frame_rate = r.frame_rate();
    variants.push_back(v);
  }
  if (ladder_.has_audio) {
    HlsVariant v;
    v.uri = std::string(kAudioDir) + "/index.m3u8";
    v.bandwidth = UpperBoundBandwidth(nullptr, ladder_, shortest);
    v.codecs = "mp4a.40." + std::to_string(audio_object_type_ != 0 ? audio_object_type_ : 2);
    variants.push_back(v);
  }
  auto text = MasterPlaylistText(variants);
  if (!text.ok()) return text.status();
  return WriteFileAtomically(out_ / "master.m3u8", *text);
}

Status ProgressivePublisher::CheckAgainst(const fs::path& final_dir) const {
  std::vector<std::string> dirs;
  for (const RungState& r : rungs_) dirs.push_back(r.dir);
  if (ladder_.has_audio) dirs.push_back(kAudioDir);
  for (const std::string& dir : dirs) {
    for (int k = 1; k <= published_; ++k) {
      const std::string name = SegmentName(k);
      auto a = ReadRange(out_ / dir / name, 0);
      auto b = ReadRange(final_dir / dir / name, 0);
      if (!a.ok()) return a.status();
      if (!b.ok()) return b.status();
      if (*a != *b)
        return Internal(dir + "/" + name + " as published differs from the final output");
    }
  }
  return Status::Ok();
}

}  // namespace newsreel::transcoder
