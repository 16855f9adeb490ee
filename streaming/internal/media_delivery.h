#pragma once
// Media delivery as data: what to answer to a GET or HEAD of a file under /media/, /live/ or
// the pages, decided from the request's headers and the file's facts without a socket. The
// service thread opens the file, asks for a plan, then carries it out (response_writer.h).
//
// Order of the checks, which tests pin down: method (405), visibility (404, the same answer as
// a missing file, so a hidden video cannot be told from none), file (404), If-None-Match (304),
// gzip (a whole compressible file, no Range), Range (206 / 416), else 200.
//
// Who may see what is decided before a plan is made and before any cache is consulted: the
// response cache of a service thread replays a whole earlier answer, so it sits after every
// check that depends on the caller (see ServiceThread's ServeMedia and SendFile).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace newsreel::streaming {

// The parts of a request media delivery reads. Header values are as received ("" when absent).
struct DeliveryRequest {
  std::string method;  // "GET" or "HEAD" are served; others get 405
  std::string range;
  std::string if_none_match;
  std::string if_range;
  std::string accept_encoding;
};

// A file's identity and version (from fstat).
struct FileFacts {
  uint64_t size = 0;
  uint64_t inode = 0;
  int64_t mtime_ns = 0;
};

struct DeliveryTarget {
  std::string name;               // the file's name or relative path: its type and compressibility
  std::string cache_control;      // Cache-Control for a success
  bool visible = true;            // the caller may see it (a draft is not visible to players)
  std::optional<FileFacts> file;  // nullopt: there is no regular file to open
};

enum class BodySource {
  kNone,  // headers only: 304, HEAD, errors with their JSON body in `error_message`
  kFile,  // bytes [first, first + count) of the file
  kGzip,  // the whole file, gzip-compressed (read it, then compress or take a cached copy)
};

struct DeliveryPlan {
  int status = 200;
  std::string content_type;                    // empty: no Content-Type (304)
  std::map<std::string, std::string> headers;  // besides Content-Type and Content-Length
  BodySource body = BodySource::kNone;
  uint64_t first = 0, count = 0;  // for kFile
  std::string etag;               // of the representation sent
  // For errors: the API error code and message of the JSON body.
  std::string error_code, error_message;

  bool ok() const { return status < 400; }
};

// The largest file served compressed; larger text goes out as is.
inline constexpr uint64_t kMaxGzipBytes = 8u << 20;

DeliveryPlan PlanDelivery(const DeliveryRequest& request, const DeliveryTarget& target);

// Whether a plain GET (no Range, no If-None-Match, no gzip) could be answered from a whole
// earlier response: only such requests are kept and replayed by the response cache.
bool IsPlainGet(const DeliveryRequest& request, std::string_view name);

}  // namespace newsreel::streaming
