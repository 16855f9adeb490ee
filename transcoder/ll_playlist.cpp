#include "transcoder/ll_playlist.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace newsreel::transcoder {
namespace {

std::string Seconds(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.5f", v);
  return buf;
}

void PartLines(std::ostringstream& o, int64_t msn, const std::vector<LlPart>& parts) {
  for (size_t k = 0; k < parts.size(); ++k) {
    o << "#EXT-X-PART:DURATION=" << Seconds(parts[k].duration) << ",URI=\""
      << LlPartName(msn, static_cast<int>(k)) << "\"";
    if (parts[k].independent) o << ",INDEPENDENT=YES";
    o << "\n";
  }
}

}  // namespace

std::string LlPartName(int64_t msn, int part) {
  return "p" + std::to_string(msn) + "." + std::to_string(part) + ".m4s";
}

std::string LlSegmentName(int64_t msn) { return "s" + std::to_string(msn) + ".m4s"; }

int LlPartPlan::PartEnd(int k) const {
  if (k < parts) return static_cast<int>((static_cast<int64_t>(k) + 1) * segment_frames / parts);
  return segment_frames + (k - parts + 1) * max_frames;
}

double LlPartPlan::Target(int fps_n, int fps_d) const {
  return std::ceil(static_cast<double>(max_frames) * fps_d / fps_n * 1e5 - 1e-6) / 1e5;
}

LlPartPlan PlanParts(int part_ms, int fps_n, int fps_d, int segment_frames) {
  LlPartPlan plan;
  plan.segment_frames = std::max(1, segment_frames);
  const double frames = part_ms / 1000.0 * fps_n / std::max(1, fps_d);
  const int most = std::max(1, static_cast<int>(std::floor(frames + 0.05)));
  plan.parts = (plan.segment_frames + most - 1) / most;
  plan.max_frames = (plan.segment_frames + plan.parts - 1) / plan.parts;
  return plan;
}

void LlWindow::AddPart(LlPart part) { in_progress_.push_back(part); }

void LlWindow::CompleteSegment(Clock::time_point now) {
  LlSegment s;
  s.msn = next_msn_++;
  s.parts = std::move(in_progress_);
  in_progress_.clear();
  for (const LlPart& p : s.parts) s.duration += p.duration;
  s.discontinuity = discontinuity_next_;
  discontinuity_next_ = false;
  listed_seconds_ += s.duration;
  listed_.push_back(std::move(s));
  const double keep = std::max(options_.window_seconds, 3.0 * options_.target_duration);
  while (listed_.size() > 1 && listed_seconds_ - listed_.front().duration >= keep - 1e-6) {
    const LlSegment& gone = listed_.front();
    listed_seconds_ -= gone.duration;
    if (gone.discontinuity) ++discontinuity_sequence_;
    Leaving l{{LlSegmentName(gone.msn)}, now + options_.delete_grace};
    for (size_t k = 0; k < gone.parts.size(); ++k)
      l.files.push_back(LlPartName(gone.msn, static_cast<int>(k)));
    leaving_.push_back(std::move(l));
    listed_.pop_front();
  }
}

bool LlWindow::LastPart(int64_t* msn, int* part) const {
  if (!in_progress_.empty()) {
    *msn = next_msn_;
    *part = static_cast<int>(in_progress_.size()) - 1;
    return true;
  }
  if (listed_.empty() || listed_.back().parts.empty()) return false;
  *msn = listed_.back().msn;
  *part = static_cast<int>(listed_.back().parts.size()) - 1;
  return true;
}

std::string LlWindow::PlaylistText(const std::vector<LlRenditionReport>& reports,
                                   bool ended) const {
  std::ostringstream o;
  // Version 6: EXT-X-MAP in a media playlist; nothing here needs more (no EXT-X-SKIP).
  o << "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n"
    << "#EXT-X-TARGETDURATION:" << options_.target_duration << "\n"
    << "#EXT-X-PART-INF:PART-TARGET=" << Seconds(options_.part_target) << "\n"
    << "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK="
    << Seconds(3 * options_.part_target) << "\n"
    << "#EXT-X-MEDIA-SEQUENCE:" << (listed_.empty() ? next_msn_ : listed_.front().msn) << "\n"
    << "#EXT-X-DISCONTINUITY-SEQUENCE:" << discontinuity_sequence_ << "\n"
    << "#EXT-X-MAP:URI=\"" << kLlInitName << "\"\n";
  // Parts are listed for the segments that end within three target durations of the live edge.
  double in_progress_seconds = 0;
  for (const LlPart& p : in_progress_) in_progress_seconds += p.duration;
  double from_edge = in_progress_seconds;
  std::vector<bool> with_parts(listed_.size(), false);
  for (size_t i = listed_.size(); i-- > 0;) {
    with_parts[i] = from_edge < 3.0 * options_.target_duration;
    from_edge += listed_[i].duration;
  }
  for (size_t i = 0; i < listed_.size(); ++i) {
    const LlSegment& s = listed_[i];
    if (s.discontinuity) o << "#EXT-X-DISCONTINUITY\n";
    if (with_parts[i]) PartLines(o, s.msn, s.parts);
    o << "#EXTINF:" << Seconds(s.duration) << ",\n" << LlSegmentName(s.msn) << "\n";
  }
  if (!in_progress_.empty() && discontinuity_next_) o << "#EXT-X-DISCONTINUITY\n";
  PartLines(o, next_msn_, in_progress_);
  if (!ended)
    o << "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\""
      << LlPartName(next_msn_, static_cast<int>(in_progress_.size())) << "\"\n";
  for (const LlRenditionReport& r : reports)
    o << "#EXT-X-RENDITION-REPORT:URI=\"" << r.uri << "\",LAST-MSN=" << r.last_msn
      << ",LAST-PART=" << r.last_part << "\n";
  if (ended) o << "#EXT-X-ENDLIST\n";
  return o.str();
}

std::vector<std::string> LlWindow::TakeExpired(Clock::time_point now) {
  std::vector<std::string> out;
  while (!leaving_.empty() && leaving_.front().deadline <= now) {
    for (std::string& f : leaving_.front().files) out.push_back(std::move(f));
    leaving_.pop_front();
  }
  return out;
}

}  // namespace newsreel::transcoder
