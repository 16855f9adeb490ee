#include "transcoder/ll_packager.h"

#include <algorithm>

#include "transcoder/atomic_file.h"
#include "transcoder/ll_playlist.h"

namespace newsreel::transcoder {
namespace {

namespace fs = std::filesystem;

constexpr uint32_t kAacFrameSamples = 1024;

}  // namespace

LlPackager::LlPackager(LlPackagerOptions options, std::function<void(const LlPartClosed&)> on_part)
    : options_(std::move(options)), on_part_(std::move(on_part)), msn_(options_.first_msn) {}

int64_t LlPackager::Shift(int64_t ns) {
  if (!offset_ns_) offset_ns_ = options_.continue_from_ns ? *options_.continue_from_ns - ns : 0;
  return std::max<int64_t>(0, ns + *offset_ns_);
}

int64_t LlPackager::To90k(int64_t ns) { return (Shift(ns) * 9 + 50000) / 100000; }

Status LlPackager::AddVideo(std::string_view annex_b, int64_t dts_ns, int64_t pts_ns,
                            bool keyframe) {
  std::lock_guard lock(mu_);
  if (video_ended_) return Status::Ok();
  AvcSample sample = AvcSampleFromAnnexB(annex_b);
  const bool idr = keyframe && sample.idr;
  if (!started_ && !idr) return Status::Ok();  // a part starts with an IDR frame
  if (!sample.sps.empty() && video_config_.sps.empty()) {
    video_config_.sps = sample.sps;
    video_config_.width = options_.width;
    video_config_.height = options_.height;
  }
  if (!sample.pps.empty() && video_config_.pps.empty()) video_config_.pps = sample.pps;
  if (!started_ && (video_config_.sps.empty() || video_config_.pps.empty()))
    return InvalidArgument("the first IDR frame carries no SPS and PPS");
  started_ = true;
  Frame frame{std::move(sample.data), To90k(dts_ns), To90k(pts_ns), idr};
  if (!current_.empty()) {
    if (idr) {
      NR_RETURN_IF_ERROR(CloseCurrent(frame.dts, true));
    } else if (segment_frame_ >= options_.plan.PartEnd(part_index_)) {
      NR_RETURN_IF_ERROR(CloseCurrent(frame.dts, false));
    }
  }
  current_.push_back(std::move(frame));
  ++segment_frame_;
  return Flush();
}

Status LlPackager::CloseCurrent(int64_t end, bool segment_complete) {
  ReadyPart part{std::move(current_), end, msn_, part_index_, segment_complete};
  current_.clear();
  ready_.push_back(std::move(part));
  if (segment_complete) {
    ++msn_;
    part_index_ = 0;
    segment_frame_ = 0;
  } else {
    ++part_index_;
  }
  return Status::Ok();
}

Status LlPackager::AddAudio(std::string_view adts, int64_t pts_ns) {
  std::lock_guard lock(mu_);
  if (!options_.has_audio || audio_ended_) return Status::Ok();
  CmafAudioConfig config;
  auto frames = SplitAdtsFrames(adts, &config);
  if (!frames.ok()) return frames.status();
  if (frames->empty()) return Status::Ok();
  if (!audio_config_) audio_config_ = config;
  const int rate = audio_config_->sample_rate;
  const int64_t t = Shift(pts_ns);
  uint64_t time = static_cast<uint64_t>((t * rate + 500000000LL) / 1000000000LL);
  // Frames follow each other; only a gap of more than half a frame starts a new timeline.
  if (audio_next_ && time < *audio_next_ + kAacFrameSamples / 2) time = *audio_next_;
  for (std::string_view f : *frames) {
    audio_.push_back({std::string(f), time});
    time += kAacFrameSamples;
  }
  audio_next_ = time;
  return Flush();
}

Status LlPackager::EndVideo() {
  std::lock_guard lock(mu_);
  if (video_ended_) return Status::Ok();
  video_ended_ = true;
  if (!current_.empty()) {
    const int64_t frame = 90000LL * options_.fps_d / options_.fps_n;
    NR_RETURN_IF_ERROR(CloseCurrent(current_.back().dts + frame, true));
  }
  return Flush();
}

Status LlPackager::EndAudio() {
  std::lock_guard lock(mu_);
  audio_ended_ = true;
  return Flush();
}

Status LlPackager::Flush() {
  while (!ready_.empty()) {
    ReadyPart& part = ready_.front();
    if (options_.has_audio && !audio_ended_) {
      if (!audio_next_ || !audio_config_) return Status::Ok();
      const int64_t audio_end =
          static_cast<int64_t>(*audio_next_ * 90000 / audio_config_->sample_rate);
      if (audio_end < part.end) return Status::Ok();  // its audio is still to come
    }
    NR_RETURN_IF_ERROR(WritePart(part));
    ready_.pop_front();
  }
  return Status::Ok();
}

Status LlPackager::WriteInit() {
  NR_RETURN_IF_ERROR(WriteFileAtomically(options_.dir / kLlInitName,
                                         CmafInitSegment(video_config_, audio_config_)));
  codecs_ = AvcCodecsOfSps(video_config_.sps) + (audio_config_ ? ",mp4a.40.2" : "");
  init_written_ = true;
  return Status::Ok();
}

Status LlPackager::WritePart(ReadyPart& part) {
  if (!init_written_) NR_RETURN_IF_ERROR(WriteInit());
  std::string bytes;
  CmafRun video;
  video.track_id = kCmafVideoTrack;
  video.base_decode_time = static_cast<uint64_t>(part.frames.front().dts);
  for (size_t i = 0; i < part.frames.size(); ++i) {
    const Frame& f = part.frames[i];
    const int64_t next = i + 1 < part.frames.size() ? part.frames[i + 1].dts : part.end;
    video.samples.push_back({static_cast<uint32_t>(f.data.size()),
                             static_cast<uint32_t>(std::max<int64_t>(1, next - f.dts)), f.idr,
                             static_cast<int32_t>(f.pts - f.dts)});
    video.data += f.data;
  }
  bytes += CmafFragment(fragment_sequence_++, video);
  // The audio that starts before the video's end, in runs of frames that follow each other.
  if (audio_config_) {
    const int rate = audio_config_->sample_rate;
    CmafRun audio;
    audio.track_id = kCmafAudioTrack;
    auto flush_audio = [&] {
      if (audio.samples.empty()) return;
      bytes += CmafFragment(fragment_sequence_++, audio);
      audio.samples.clear();
      audio.data.clear();
    };
    uint64_t expected = 0;
    while (!audio_.empty() &&
           (static_cast<int64_t>(audio_.front().time * 90000 / rate) < part.end ||
            (video_ended_ && ready_.size() == 1 && audio_ended_))) {
      AudioFrame& a = audio_.front();
      if (!audio.samples.empty() && a.time != expected) flush_audio();
      if (audio.samples.empty()) audio.base_decode_time = a.time;
      audio.samples.push_back({static_cast<uint32_t>(a.data.size()), kAacFrameSamples, true, 0});
      audio.data += a.data;
      expected = a.time + kAacFrameSamples;
      audio_.pop_front();
    }
    flush_audio();
  }

  const fs::path file = options_.dir / LlPartName(part.msn, part.index);
  NR_RETURN_IF_ERROR(WriteFileAtomically(file, bytes));
  const double duration = (part.end - part.frames.front().dts) / 90000.0;
  segment_bytes_ += bytes;
  segment_seconds_ += duration;
  LlPartClosed closed;
  closed.msn = part.msn;
  closed.part = part.index;
  closed.duration = duration;
  closed.independent = part.frames.front().idr;
  closed.segment_complete = part.segment_complete;
  closed.codecs = codecs_;
  closed.video_end_ns = part.end * 100000 / 9;
  if (part.segment_complete) {
    NR_RETURN_IF_ERROR(WriteFileAtomically(options_.dir / LlSegmentName(part.msn), segment_bytes_));
    closed.segment_duration = segment_seconds_;
    segment_bytes_.clear();
    segment_seconds_ = 0;
  }
  if (on_part_) on_part_(closed);
  return Status::Ok();
}

}  // namespace newsreel::transcoder
