#include "streaming/internal/ll_hls.h"

#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

namespace newsreel::streaming {

namespace {

// A decimal number without sign or leading zeros, at most `max`.
std::optional<int64_t> ParseCount(std::string_view text, int64_t max) {
  if (text.empty() || text.size() > 18 || (text.size() > 1 && text[0] == '0')) return std::nullopt;
  int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || n < 0 || n > max)
    return std::nullopt;
  return n;
}

}  // namespace

bool IsRungName(std::string_view name) {
  if (name.empty() || name.size() > 32) return false;
  for (char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<PartEvent> ParsePartMessage(std::string_view line) {
  const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return NotFound("not JSON");
  auto type = j.find("type");
  if (type == j.end() || !type->is_string() || *type != "part") return NotFound("not a part");
  if (auto v = j.find("v"); v != j.end() && !(v->is_number_integer() && *v == 1))
    return InvalidArgument("a part message of another protocol version");
  PartEvent e;
  auto rung = j.find("rung");
  if (rung == j.end() || !rung->is_string() || !IsRungName(rung->get<std::string>()))
    return InvalidArgument("a part message needs a rung name");
  e.rung = rung->get<std::string>();
  auto msn = j.find("msn");
  auto part = j.find("part");
  if (msn == j.end() || !msn->is_number_integer() || *msn < 0 || *msn > kMaxMediaSequence)
    return InvalidArgument("a part message needs msn >= 0");
  if (part == j.end() || !part->is_number_integer() || *part < 0 || *part > kMaxPartIndex)
    return InvalidArgument("a part message needs part in 0.." + std::to_string(kMaxPartIndex));
  e.msn = msn->get<int64_t>();
  e.part = part->get<int>();
  const std::string dir = "ll/" + e.rung + "/";
  e.file = dir + "p" + std::to_string(e.msn) + "." + std::to_string(e.part) + ".m4s";
  e.init = dir + "init.mp4";
  auto file = j.find("file");
  if (file == j.end() || !file->is_string() || *file != e.file)
    return InvalidArgument("a part message's file must be " + e.file);
  // "init" may be left out: the init segment is always at the same place.
  if (auto init = j.find("init"); init != j.end() && !(init->is_string() && *init == e.init))
    return InvalidArgument("a part message's init must be " + e.init);
  if (auto independent = j.find("independent"); independent != j.end()) {
    if (!independent->is_boolean()) return InvalidArgument("independent must be true or false");
    e.independent = independent->get<bool>();
  }
  if (auto duration = j.find("duration"); duration != j.end()) {
    if (!duration->is_number() || !std::isfinite(duration->get<double>()) ||
        duration->get<double>() < 0 || duration->get<double>() > 3600)
      return InvalidArgument("a part's duration must be a number of seconds");
    e.duration = duration->get<double>();
  }
  return e;
}

Result<std::optional<BlockingQuery>> ParseBlockingQuery(
    const std::map<std::string, std::string>& query) {
  auto msn = query.find("_HLS_msn");
  auto part = query.find("_HLS_part");
  if (msn == query.end() && part == query.end()) return std::optional<BlockingQuery>();
  if (msn == query.end()) return InvalidArgument("_HLS_part needs _HLS_msn");
  BlockingQuery q;
  std::optional<int64_t> n = ParseCount(msn->second, kMaxMediaSequence);
  if (!n) return InvalidArgument("_HLS_msn must be a media sequence number");
  q.msn = *n;
  if (part != query.end()) {
    std::optional<int64_t> k = ParseCount(part->second, kMaxPartIndex);
    if (!k) return InvalidArgument("_HLS_part must be a part index");
    q.part = static_cast<int>(*k);
  }
  return std::optional<BlockingQuery>(q);
}

Readiness JudgePlaylist(const BlockingQuery& query, PartPosition last) {
  if (query.msn > last.msn + 2) return Readiness::kTooFar;
  if (query.msn < last.msn) return Readiness::kReady;
  if (query.msn == last.msn && query.part && *query.part <= last.part) return Readiness::kReady;
  return Readiness::kWait;
}

std::optional<PartPosition> ParsePartFileName(std::string_view name) {
  if (!name.starts_with("p") || !name.ends_with(".m4s")) return std::nullopt;
  std::string_view middle = name.substr(1, name.size() - 5);
  const size_t dot = middle.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  std::optional<int64_t> msn = ParseCount(middle.substr(0, dot), kMaxMediaSequence);
  std::optional<int64_t> part = ParseCount(middle.substr(dot + 1), kMaxPartIndex);
  if (!msn || !part) return std::nullopt;
  return PartPosition{*msn, static_cast<int>(*part)};
}

Readiness JudgePart(PartPosition wanted, PartPosition last) {
  if (wanted <= last) return Readiness::kReady;
  if (last.msn < 0) return Readiness::kNotThere;  // nothing announced: no hint to honour
  const bool next_in_segment = wanted.msn == last.msn && wanted.part == last.part + 1;
  const bool next_segment = wanted.msn == last.msn + 1 && wanted.part == 0;
  return next_in_segment || next_segment ? Readiness::kWait : Readiness::kNotThere;
}

bool ParkedRequests::Park(Entry entry) {
  if (entries_.count(entry.serial)) return false;
  size_t& count = by_address_[entry.address];
  if (max_per_address_ > 0 && count >= max_per_address_) {
    if (count == 0) by_address_.erase(entry.address);
    return false;
  }
  ++count;
  const uint64_t serial = entry.serial;
  entries_.emplace(serial, std::move(entry));
  return true;
}

void ParkedRequests::Erase(std::map<uint64_t, Entry>::iterator it) {
  auto a = by_address_.find(it->second.address);
  if (a != by_address_.end() && --a->second == 0) by_address_.erase(a);
  entries_.erase(it);
}

std::vector<uint64_t> ParkedRequests::TakeIf(const std::function<bool(const Entry&)>& take) {
  std::vector<uint64_t> taken;
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto next = std::next(it);
    if (take(it->second)) {
      taken.push_back(it->first);
      Erase(it);
    }
    it = next;
  }
  return taken;
}

std::vector<uint64_t> ParkedRequests::Wake(const std::string& stream, const std::string& rung,
                                           PartPosition last) {
  return TakeIf([&](const Entry& e) {
    if (e.stream != stream || e.rung != rung) return false;
    return (e.kind == Kind::kPlaylist ? JudgePlaylist(e.playlist, last)
                                      : JudgePart(e.part, last)) != Readiness::kWait;
  });
}

std::vector<uint64_t> ParkedRequests::WakeAll(const std::string& stream) {
  return TakeIf([&](const Entry& e) { return e.stream == stream; });
}

std::vector<uint64_t> ParkedRequests::Expire(Clock::time_point now) {
  return TakeIf([&](const Entry& e) { return e.deadline <= now; });
}

void ParkedRequests::Remove(uint64_t serial) {
  auto it = entries_.find(serial);
  if (it != entries_.end()) Erase(it);
}

}  // namespace newsreel::streaming
