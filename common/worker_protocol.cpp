#include "common/worker_protocol.h"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

namespace newsreel::worker {

using nlohmann::json;

namespace {

constexpr std::pair<FailureCode, const char*> kFailureNames[] = {
    {FailureCode::kBadInput, "bad_input"},
    {FailureCode::kEncoderFailed, "encoder_failed"},
    {FailureCode::kCrashed, "crashed"},
    {FailureCode::kTimedOut, "timed_out"},
    {FailureCode::kProtocolMismatch, "protocol_mismatch"},
};

json ToJson(const Hello& m) {
  return {{"type", "hello"}, {"protocol", m.protocol}, {"kind", m.kind}, {"pid", m.pid}};
}

json ToJson(const Progress& m) {
  return {{"type", "progress"},
          {"phase", m.phase},
          {"percent", m.percent},
          {"fps", m.fps},
          {"speed", m.speed},
          {"eta_seconds", m.eta_seconds ? json(*m.eta_seconds) : json(nullptr)},
          {"position_seconds", m.position_seconds},
          {"duration_seconds", m.duration_seconds}};
}

json ToJson(const Heartbeat& m) {
  json j = {{"type", "heartbeat"}};
  if (m.live) {
    const LiveFigures& f = *m.live;
    j["live"] = {{"input_bitrate", f.input_bitrate},
                 {"fps", f.fps},
                 {"speed", f.speed},
                 {"position_seconds", f.position_seconds},
                 {"segments", f.segments},
                 {"latency_seconds", f.latency_seconds ? json(*f.latency_seconds) : json(nullptr)}};
  }
  return j;
}

json ToJson(const WorkResult& m) {
  json rungs = json::array();
  for (const ResultRung& r : m.rungs)
    rungs.push_back({{"name", r.name},
                     {"width", r.width},
                     {"height", r.height},
                     {"bandwidth", r.bandwidth},
                     {"average_bandwidth", r.average_bandwidth},
                     {"codecs", r.codecs},
                     {"frame_rate", r.frame_rate},
                     {"playlist", r.playlist}});
  json j = {{"type", "result"},
            {"rungs", rungs},
            {"encoder", m.encoder},
            {"encoder_element", m.encoder_element},
            {"duration_seconds", m.duration_seconds},
            {"source",
             {{"container", m.source.container},
              {"size_bytes", m.source.size_bytes},
              {"video_codec", m.source.video_codec},
              {"width", m.source.width},
              {"height", m.source.height},
              {"audio_codec", m.source.audio_codec}}},
            {"manifest", m.manifest_path}};
  j["poster"] =
      m.poster
          ? json{{"path", m.poster->path}, {"width", m.poster->width}, {"height", m.poster->height}}
          : json(nullptr);
  j["storyboard"] = m.storyboard ? json{{"image", m.storyboard->image},
                                        {"vtt", m.storyboard->vtt},
                                        {"tile_width", m.storyboard->tile_width},
                                        {"tile_height", m.storyboard->tile_height}}
                                 : json(nullptr);
  return j;
}

json ToJson(const Part& m) {
  return {{"type", "part"},         {"rung", m.rung}, {"msn", m.msn},
          {"part", m.part},         {"file", m.file}, {"independent", m.independent},
          {"duration", m.duration}, {"init", m.init}};
}

json ToJson(const Failure& m) {
  return {{"type", "failure"}, {"code", FailureCodeName(m.code)}, {"message", m.message}};
}

// Field readers that throw json::exception on a wrong type; DecodeWorkerLine catches them.
template <typename T>
T Get(const json& j, const char* key, T fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  return it->get<T>();
}

Result<WorkerMessage> FromJson(const json& j) {
  const std::string type = Get<std::string>(j, "type", "");
  if (type == "hello") {
    return WorkerMessage(
        Hello{Get(j, "protocol", 0), Get<std::string>(j, "kind", ""), Get<int64_t>(j, "pid", 0)});
  }
  if (type == "progress") {
    Progress p;
    p.phase = Get<std::string>(j, "phase", "");
    p.percent = std::clamp(Get(j, "percent", 0.0), 0.0, 100.0);
    p.fps = Get(j, "fps", 0.0);
    p.speed = Get(j, "speed", 0.0);
    if (auto it = j.find("eta_seconds"); it != j.end() && !it->is_null())
      p.eta_seconds = it->get<double>();
    p.position_seconds = Get(j, "position_seconds", 0.0);
    p.duration_seconds = Get(j, "duration_seconds", 0.0);
    return WorkerMessage(p);
  }
  if (type == "heartbeat") {
    Heartbeat h;
    if (auto it = j.find("live"); it != j.end() && it->is_object()) {
      LiveFigures f;
      f.input_bitrate = Get(*it, "input_bitrate", 0.0);
      f.fps = Get(*it, "fps", 0.0);
      f.speed = Get(*it, "speed", 0.0);
      f.position_seconds = Get(*it, "position_seconds", 0.0);
      f.segments = Get<int64_t>(*it, "segments", 0);
      if (auto l = it->find("latency_seconds"); l != it->end() && !l->is_null())
        f.latency_seconds = l->get<double>();
      h.live = f;
    }
    return WorkerMessage(h);
  }
  if (type == "result") {
    WorkResult r;
    for (const json& g : Get(j, "rungs", json::array())) {
      r.rungs.push_back({Get<std::string>(g, "name", ""), Get(g, "width", 0), Get(g, "height", 0),
                         Get<int64_t>(g, "bandwidth", 0), Get<int64_t>(g, "average_bandwidth", 0),
                         Get<std::string>(g, "codecs", ""), Get(g, "frame_rate", 0.0),
                         Get<std::string>(g, "playlist", "")});
    }
    r.encoder = Get<std::string>(j, "encoder", "");
    r.encoder_element = Get<std::string>(j, "encoder_element", "");
    r.duration_seconds = Get(j, "duration_seconds", 0.0);
    if (auto it = j.find("poster"); it != j.end() && it->is_object())
      r.poster = ResultPoster{Get<std::string>(*it, "path", ""), Get(*it, "width", 0),
                              Get(*it, "height", 0)};
    if (auto it = j.find("storyboard"); it != j.end() && it->is_object())
      r.storyboard =
          ResultStoryboard{Get<std::string>(*it, "image", ""), Get<std::string>(*it, "vtt", ""),
                           Get(*it, "tile_width", 0), Get(*it, "tile_height", 0)};
    if (auto it = j.find("source"); it != j.end() && it->is_object()) {
      const json& s = *it;
      r.source = {Get<std::string>(s, "container", ""),
                  Get<int64_t>(s, "size_bytes", 0),
                  Get<std::string>(s, "video_codec", ""),
                  Get(s, "width", 0),
                  Get(s, "height", 0),
                  Get<std::string>(s, "audio_codec", "")};
    }
    r.manifest_path = Get<std::string>(j, "manifest", "");
    return WorkerMessage(std::move(r));
  }
  if (type == "part") {
    Part p;
    p.rung = Get<std::string>(j, "rung", "");
    p.msn = Get<int64_t>(j, "msn", 0);
    p.part = Get(j, "part", 0);
    p.file = Get<std::string>(j, "file", "");
    p.independent = Get(j, "independent", false);
    p.duration = Get(j, "duration", 0.0);
    p.init = Get<std::string>(j, "init", "");
    if (p.rung.empty() || p.file.empty() || p.init.empty() || p.msn < 0 || p.part < 0)
      return InvalidArgument("a part message without its rung, file, init or numbers");
    return WorkerMessage(std::move(p));
  }
  if (type == "failure") {
    auto code = ParseFailureCode(Get<std::string>(j, "code", ""));
    if (!code.ok()) return code.status();
    std::string message = Get<std::string>(j, "message", "");
    if (message.empty())
      message = std::string("the worker failed (") + FailureCodeName(*code) + ")";
    return WorkerMessage(Failure{*code, std::move(message)});
  }
  return InvalidArgument("unknown worker message type '" + type + "'");
}

}  // namespace

const char* FailureCodeName(FailureCode code) {
  for (const auto& [c, name] : kFailureNames)
    if (c == code) return name;
  return "crashed";
}

Result<FailureCode> ParseFailureCode(std::string_view name) {
  for (const auto& [c, n] : kFailureNames)
    if (name == n) return c;
  return InvalidArgument("unknown failure code '" + std::string(name) + "'");
}

std::string Encode(const WorkerMessage& message) {
  json j = std::visit([](const auto& m) { return ToJson(m); }, message);
  j["v"] = kWorkerProtocolVersion;
  // Invalid UTF-8 in a message (a file name, a GStreamer error) is replaced, not thrown.
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

Result<WorkerMessage> DecodeWorkerLine(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("not a JSON object");
  auto v = j.find("v");
  if (v == j.end() || !v->is_number_integer())
    return InvalidArgument("no protocol version (\"v\") in the worker's line");
  const int64_t version = v->get<int64_t>();
  if (version != kWorkerProtocolVersion) {
    return Status(ErrorCode::kFailedPrecondition, "worker speaks protocol v" +
                                                      std::to_string(version) + ", this server v" +
                                                      std::to_string(kWorkerProtocolVersion));
  }
  try {
    return FromJson(j);
  } catch (const json::exception& e) {
    return InvalidArgument(std::string("malformed worker message: ") + e.what());
  }
}

Status CheckServerProtocol(const char* announced) {
  if (announced == nullptr || *announced == '\0') return Status::Ok();
  std::string_view text(announced);
  int version = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (ec != std::errc() || end != text.data() + text.size() || version != kWorkerProtocolVersion) {
    return Status(ErrorCode::kFailedPrecondition, "server speaks protocol v" + std::string(text) +
                                                      ", this worker v" +
                                                      std::to_string(kWorkerProtocolVersion));
  }
  return Status::Ok();
}

RetryDecision DecideRetry(FailureCode code, int attempt, int max_attempts, EncoderChoice used,
                          const RetryPolicy& policy) {
  RetryDecision d;
  d.encoder = used;
  if (attempt >= max_attempts) return d;  // no attempt left, whatever the code
  switch (code) {
    case FailureCode::kBadInput:
    case FailureCode::kProtocolMismatch:
      return d;
    case FailureCode::kEncoderFailed:
      // "auto" already fell back inside the worker; once more on x264 alone, at once.
      if (used == EncoderChoice::kSoftware) return d;
      d.retry = true;
      d.encoder = EncoderChoice::kSoftware;
      d.backoff_ms = 0;
      return d;
    case FailureCode::kCrashed:
    case FailureCode::kTimedOut: {
      d.retry = true;
      d.encoder = EncoderChoice::kSoftware;
      int64_t backoff = std::max<int64_t>(policy.backoff_ms, 0);
      for (int i = 1; i < attempt && backoff < policy.max_backoff_ms; ++i) backoff *= 2;
      d.backoff_ms = std::min(backoff, policy.max_backoff_ms);
      return d;
    }
  }
  return d;
}

}  // namespace newsreel::worker
