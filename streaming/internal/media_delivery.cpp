#include "streaming/internal/media_delivery.h"

#include "streaming/internal/http_util.h"

namespace newsreel::streaming {

namespace {

DeliveryPlan Error(int status, std::string code, std::string message) {
  DeliveryPlan plan;
  plan.status = status;
  plan.content_type = "application/json";
  plan.error_code = std::move(code);
  plan.error_message = std::move(message);
  return plan;
}

}  // namespace

bool IsPlainGet(const DeliveryRequest& r, std::string_view name) {
  return r.method == "GET" && r.range.empty() && r.if_none_match.empty() &&
         !(IsCompressible(name) && AcceptsGzip(r.accept_encoding));
}

DeliveryPlan PlanDelivery(const DeliveryRequest& r, const DeliveryTarget& target) {
  if (r.method != "GET" && r.method != "HEAD") {
    DeliveryPlan plan = Error(405, "method_not_allowed", "this resource is read-only");
    plan.headers["Allow"] = "GET, HEAD, OPTIONS";
    return plan;
  }
  if (!target.visible || !target.file) return Error(404, "not_found", "no such media file");
  const FileFacts& f = *target.file;
  const bool compressible = IsCompressible(target.name);
  const bool gzip =
      compressible && r.range.empty() && f.size <= kMaxGzipBytes && AcceptsGzip(r.accept_encoding);

  DeliveryPlan plan;
  plan.etag = MakeEtag(f.inode, f.size, f.mtime_ns, gzip);
  plan.content_type = std::string(ContentTypeFor(target.name));
  plan.headers["Cache-Control"] = target.cache_control;
  plan.headers["ETag"] = plan.etag;
  plan.headers["Accept-Ranges"] = "bytes";
  if (compressible) plan.headers["Vary"] = "Accept-Encoding";

  if (!r.if_none_match.empty() && IfNoneMatchMatches(r.if_none_match, plan.etag)) {
    plan.status = 304;
    plan.content_type.clear();
    return plan;
  }
  if (gzip) {
    plan.headers["Content-Encoding"] = "gzip";
    plan.body = BodySource::kGzip;
    return plan;
  }
  RangeResult range;
  if (!r.range.empty() && (r.if_range.empty() || r.if_range == plan.etag))
    range = ParseRange(r.range, f.size);
  if (range.outcome == RangeOutcome::kUnsatisfiable) {
    DeliveryPlan bad = Error(416, "invalid_argument", "range not satisfiable");
    bad.headers["Content-Range"] = "bytes */" + std::to_string(f.size);
    bad.headers["Accept-Ranges"] = "bytes";
    return bad;
  }
  plan.body = BodySource::kFile;
  plan.first = 0;
  plan.count = f.size;
  if (range.outcome == RangeOutcome::kSatisfiable) {
    plan.status = 206;
    plan.first = range.range.first;
    plan.count = range.range.length();
    plan.headers["Content-Range"] = "bytes " + std::to_string(range.range.first) + "-" +
                                    std::to_string(range.range.last) + "/" + std::to_string(f.size);
  }
  return plan;
}

}  // namespace newsreel::streaming
