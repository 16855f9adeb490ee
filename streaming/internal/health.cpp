#include "streaming/internal/health.h"

#include <nlohmann/json.hpp>

namespace newsreel::streaming {

HttpResponse HealthResponse(catalog::Catalog& catalog) {
  auto counts = catalog.jobs().CountByState();
  nlohmann::json j = {{"status", counts.ok() ? "ok" : "degraded"},
                      {"catalog", counts.ok() ? "ok" : counts.status().ToString()}};
  HttpResponse resp;
  resp.status = counts.ok() ? 200 : 503;
  resp.body = j.dump();
  resp.headers["Cache-Control"] = "no-store";
  return resp;
}

HttpResponse MetricsResponse(catalog::Catalog& catalog, Metrics& metrics, const EventBus& events) {
  std::map<std::string, int64_t> jobs;
  if (auto counts = catalog.jobs().CountByState(); counts.ok())
    for (auto& [state, n] : *counts) jobs[catalog::ToString(state)] = n;
  metrics.events_published.store(events.published());
  HttpResponse resp;
  resp.content_type = "text/plain; version=0.0.4; charset=utf-8";
  resp.body = RenderPrometheus(metrics, jobs);
  resp.headers["Cache-Control"] = "no-store";
  return resp;
}

}  // namespace newsreel::streaming
