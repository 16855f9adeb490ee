#include "streaming/internal/tus_framing.h"

#include <cctype>

#include "streaming/internal/http_util.h"

namespace newsreel::streaming {

Result<TusRequest> FrameTusRequest(std::string method, std::string rest, TusHeaders headers) {
  TusRequest r;
  r.rest = std::move(rest);
  if (auto cl = headers.find("content-length"); cl != headers.end() && !cl->second.empty()) {
    std::optional<int64_t> n = ParseContentLength(cl->second);
    if (!n) return InvalidArgument("bad Content-Length");
    r.content_length = *n;
  }
  if (auto o = headers.find("x-http-method-override"); o != headers.end() && method == "POST")
    method = o->second;
  r.method = std::move(method);
  std::string expect;
  if (auto e = headers.find("expect"); e != headers.end()) expect = e->second;
  for (char& c : expect) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // curl sends "Expect: 100-continue" for uploads over 1 MB and otherwise waits a second before
  // sending the body: it holds its body until we say whether we want it.
  r.expects_continue = expect == "100-continue" && r.content_length > 0;
  r.headers = std::move(headers);
  return r;
}

HttpResponse TusFramingError(const Status& status) {
  return TusError(400, "invalid_argument", status.message());
}

RefusalDelivery HowToRefuse(const TusRequest& r) {
  // A client waiting for 100 Continue sends no body: answer, and close in case it does.
  if (r.expects_continue) return RefusalDelivery::kAnswerAndClose;
  if (r.content_length > 0 && r.content_length <= kDrainBodyBytes)
    return RefusalDelivery::kDrainThenAnswer;
  return r.content_length > 0 ? RefusalDelivery::kAnswerAndClose : RefusalDelivery::kAnswer;
}

}  // namespace newsreel::streaming
