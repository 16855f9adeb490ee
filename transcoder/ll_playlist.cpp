#include "transcoder/ll_playlist.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <type_traits>

#include "transcoder/live_playlist.h"

namespace newsreel::transcoder {
namespace {

void PartLines(std::ostringstream& o, int64_t msn, const std::vector<LlPart>& parts) {
  for (size_t k = 0; k < parts.size(); ++k) {
    o << "#EXT-X-PART:DURATION=" << PlaylistSeconds(parts[k].duration) << ",URI=\""
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

LlWindow::LlWindow(LlWindowOptions options, const LlRungState& saved, int64_t first_msn,
                   Clock::time_point now)
    : options_(options),
      next_msn_(first_msn),
      discontinuity_sequence_(saved.discontinuity_sequence) {
  for (const LlSegment& s : saved.segments) {
    listed_seconds_ += s.duration;
    listed_.push_back(s);
  }
  for (const LlLeaving& l : saved.leaving) leaving_.push_back({l.msn, l.parts, now + l.remaining});
  std::stable_sort(leaving_.begin(), leaving_.end(),
                   [](const Leaving& a, const Leaving& b) { return a.deadline < b.deadline; });
}

LlRungState ContinuedAt(const LlRungState& saved, int64_t first_msn,
                        std::chrono::milliseconds delete_grace) {
  if (saved.segments.empty() || saved.segments.back().msn + 1 == first_msn) return saved;
  LlRungState r = saved;
  for (const LlSegment& s : r.segments) {
    if (s.discontinuity) ++r.discontinuity_sequence;
    r.leaving.push_back({s.msn, static_cast<int>(s.parts.size()), delete_grace});
  }
  r.segments.clear();
  return r;
}

LlRungState LlWindow::Save(const std::string& name, Clock::time_point now) const {
  LlRungState r;
  r.name = name;
  r.segments.assign(listed_.begin(), listed_.end());
  for (const Leaving& l : leaving_)
    r.leaving.push_back(
        {l.msn, l.parts,
         std::max(std::chrono::milliseconds(0),
                  std::chrono::duration_cast<std::chrono::milliseconds>(l.deadline - now))});
  r.discontinuity_sequence = discontinuity_sequence_;
  return r;
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
    leaving_.push_back(
        {gone.msn, static_cast<int>(gone.parts.size()), now + options_.delete_grace});
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
    << "#EXT-X-PART-INF:PART-TARGET=" << PlaylistSeconds(options_.part_target) << "\n"
    << "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK="
    << PlaylistSeconds(3 * options_.part_target) << "\n"
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
    o << "#EXTINF:" << PlaylistSeconds(s.duration) << ",\n" << LlSegmentName(s.msn) << "\n";
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
    out.push_back(LlSegmentName(leaving_.front().msn));
    for (int k = 0; k < leaving_.front().parts; ++k)
      out.push_back(LlPartName(leaving_.front().msn, k));
    leaving_.pop_front();
  }
  return out;
}

namespace {

using nlohmann::json;

constexpr int kLlStateVersion = 1;
constexpr int64_t kMaxMsn = int64_t{1} << 40;

// Reads `key` of `j` as a number in [lo, hi]; throws std::runtime_error naming the key.
template <typename T>
T Get(const json& j, const char* key, T lo, T hi) {
  if (!j.is_object() || !j.contains(key) || !j.at(key).is_number())
    throw std::runtime_error(std::string(key) + " is not a number");
  if constexpr (std::is_integral_v<T>) {
    if (!j.at(key).is_number_integer())
      throw std::runtime_error(std::string(key) + " is not an integer");
  }
  const double d = j.at(key).get<double>();
  if (!(d >= static_cast<double>(lo) && d <= static_cast<double>(hi)))
    throw std::runtime_error(std::string(key) + " is out of range");
  return j.at(key).get<T>();
}

const json& List(const json& j, const char* key, size_t max) {
  if (!j.contains(key) || !j.at(key).is_array() || j.at(key).size() > max)
    throw std::runtime_error(std::string(key) + " is not a list (or too long)");
  return j.at(key);
}

bool Flag(const json& j, const char* key) {
  if (!j.contains(key) || !j.at(key).is_boolean())
    throw std::runtime_error(std::string(key) + " is not true or false");
  return j.at(key).get<bool>();
}

}  // namespace

std::string LlStateJson(const LlState& state) {
  json rungs = json::array();
  for (const LlRungState& r : state.rungs) {
    json segments = json::array(), leaving = json::array();
    for (const LlSegment& s : r.segments) {
      json parts = json::array();
      for (const LlPart& p : s.parts)
        parts.push_back({{"duration", p.duration}, {"independent", p.independent}});
      segments.push_back({{"msn", s.msn},
                          {"duration", s.duration},
                          {"discontinuity", s.discontinuity},
                          {"parts", parts}});
    }
    for (const LlLeaving& l : r.leaving)
      leaving.push_back(
          {{"msn", l.msn}, {"parts", l.parts}, {"remaining_ms", l.remaining.count()}});
    rungs.push_back({{"name", r.name},
                     {"discontinuity_sequence", r.discontinuity_sequence},
                     {"segments", segments},
                     {"leaving", leaving}});
  }
  return json{{"version", kLlStateVersion},
              {"part_target", state.part_target},
              {"next_msn", state.next_msn},
              {"end_ns", state.end_ns},
              {"rungs", rungs}}
             .dump(1) +
         "\n";
}

Result<LlState> ParseLlState(const std::string& text) {
  auto refuse = [](const std::string& why) {
    return InvalidArgument(std::string("ll/") + kLlStateFile + " is corrupt (" + why + ")");
  };
  if (text.size() > (16u << 20)) return refuse("larger than 16 MB");
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return refuse("not a JSON object");
  try {
    if (Get(j, "version", 0, 1 << 20) != kLlStateVersion) throw std::runtime_error("version");
    LlState s;
    s.part_target = Get(j, "part_target", 0.01, 10.0);
    s.next_msn = Get<int64_t>(j, "next_msn", 0, kMaxMsn);
    s.end_ns = Get<int64_t>(j, "end_ns", 0, int64_t{1} << 62);
    for (const json& r : List(j, "rungs", 16)) {
      LlRungState rs;
      if (!r.contains("name") || !r.at("name").is_string() ||
          r.at("name").get<std::string>().size() > 16)
        throw std::runtime_error("a rung's name");
      rs.name = r.at("name").get<std::string>();
      rs.discontinuity_sequence = Get<int64_t>(r, "discontinuity_sequence", 0, kMaxMsn);
      int64_t previous = -1;
      for (const json& g : List(r, "segments", 100000)) {
        LlSegment seg;
        seg.msn = Get<int64_t>(g, "msn", 0, s.next_msn - 1);
        if (previous >= 0 && seg.msn != previous + 1)
          throw std::runtime_error("segments out of sequence");
        previous = seg.msn;
        seg.duration = Get(g, "duration", 0.0, 10.0);
        seg.discontinuity = Flag(g, "discontinuity");
        for (const json& p : List(g, "parts", 1000))
          seg.parts.push_back({Get(p, "duration", 0.0, 10.0), Flag(p, "independent")});
        rs.segments.push_back(std::move(seg));
      }
      for (const json& l : List(r, "leaving", 100000))
        rs.leaving.push_back({Get<int64_t>(l, "msn", 0, s.next_msn - 1), Get(l, "parts", 0, 1000),
                              std::chrono::milliseconds(Get<int64_t>(
                                  l, "remaining_ms", 0, int64_t{7} * 24 * 3600 * 1000))});
      s.rungs.push_back(std::move(rs));
    }
    return s;
  } catch (const std::exception& e) {
    return refuse(e.what());
  }
}

}  // namespace newsreel::transcoder
