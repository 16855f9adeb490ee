#pragma once
// The HTTP framing of a tus request, apart from the socket: which method it really is
// (X-HTTP-Method-Override), its Content-Length, whether the client waits for "100 Continue",
// and how a refusal must be delivered so that the client can read it while its body is on its
// way. Pure functions; the service thread reads the headers and carries the decision out, and
// tests drive whole upload operations through TusHandler with requests made in memory.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "streaming/request_context.h"
#include "streaming/tus.h"

namespace newsreel::streaming {

// A refused upload request body up to this size is read (and dropped) before the answer.
inline constexpr int64_t kDrainBodyBytes = 16 << 20;

struct TusRequest {
  std::string method;           // after X-HTTP-Method-Override (only a POST may be overridden)
  std::string rest;             // the path after "/files": "", "/" or "/<id>"
  TusHeaders headers;           // lower-case names, as TusHandler reads them
  int64_t content_length = -1;  // -1: absent
  bool expects_continue = false;
};

// `headers` holds the tus headers plus "content-type", "content-length" and "expect" when the
// request has them. A malformed Content-Length is refused (400, with Tus-Resumable).
Result<TusRequest> FrameTusRequest(std::string method, std::string rest, TusHeaders headers);

// The same refusal as an HTTP answer with the tus headers.
HttpResponse TusFramingError(const Status& status);

enum class RefusalDelivery {
  kAnswer,           // no body follows: answer now, keep the connection
  kDrainThenAnswer,  // a small body follows: read and drop it, then answer
  kAnswerAndClose,   // a large body follows, or the client waits for 100 Continue: answer
                     // now and close the connection after the answer
};

// How to deliver a refusal (an answer from TusHandler::Begin without a write) to `request`.
RefusalDelivery HowToRefuse(const TusRequest& request);

}  // namespace newsreel::streaming
