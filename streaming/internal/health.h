#pragma once
// /healthz and /metrics: answers built from the calling thread's catalog connection and the
// shared counters. No socket involved; any thread with its own Catalog may call.

#include "catalog/catalog.h"
#include "streaming/events.h"
#include "streaming/metrics.h"
#include "streaming/request_context.h"

namespace newsreel::streaming {

// 200 {"status":"ok","catalog":"ok"}, or 503 "degraded" with the catalog's error.
HttpResponse HealthResponse(catalog::Catalog& catalog);

// The Prometheus text of `metrics`, with jobs by state from `catalog`.
HttpResponse MetricsResponse(catalog::Catalog& catalog, Metrics& metrics, const EventBus& events);

}  // namespace newsreel::streaming
