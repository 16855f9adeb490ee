// Media delivery decisions (streaming/internal/media_delivery.h PlanDelivery) for arbitrary
// Range, If-Range, If-None-Match and Accept-Encoding headers against arbitrary file sizes.
//
// Input (FuzzedDataProvider): the file's size (often 0, 1 or near a power of two), inode and
// mtime, the method, the file name, whether If-Range/If-None-Match carry the file's real entity
// tag, then the header values.
//
// Invariants:
//   - The status is one of 200, 206, 304, 404, 405, 416, and the body fits it.
//   - A 206 sends bytes [first, first + count) with count >= 1 inside the file, and its
//     Content-Range says exactly that; a 200 sends the whole file (or all of it gzip-compressed).
//   - 416 only when an independent reading of the Range header (RFC 9110 section 14.1, one
//     range, with optional whitespace as the server allows) finds a range the file cannot
//     satisfy, and whenever the independent reading finds a satisfiable range, that range is
//     sent (206) unless If-None-Match or a different If-Range decide otherwise.
//   - 304 only when If-None-Match is present and names the entity tag.
//   - No header value holds a CR or LF.

#include <fuzzer/FuzzedDataProvider.h>
#include <cctype>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "streaming/internal/http_util.h"
#include "streaming/internal/media_delivery.h"

namespace newsreel::streaming {
namespace {

using fuzz::Printable;

// The reference reading of a Range header: nullopt when it is not one well-formed single byte
// range (then the server may ignore it); otherwise the satisfiable range, or first > last when
// it cannot be satisfied.
struct Expected {
  bool satisfiable = false;
  uint64_t first = 0, last = 0;
};

std::string_view Ows(std::string_view s) {
  size_t a = s.find_first_not_of(" \t");
  if (a == std::string_view::npos) return {};
  size_t b = s.find_last_not_of(" \t");
  return s.substr(a, b - a + 1);
}

// 1 to 19 digits (larger numbers are not taken as ranges).
std::optional<uint64_t> Number(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

std::optional<Expected> ReadRange(std::string_view header, uint64_t size) {
  header = Ows(header);
  if (header.size() < 6) return std::nullopt;
  std::string unit(header.substr(0, 6));
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (unit != "bytes=") return std::nullopt;
  std::string_view spec = Ows(header.substr(6));
  if (spec.find(',') != std::string_view::npos) return std::nullopt;
  const size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  const std::string_view a = Ows(spec.substr(0, dash)), b = Ows(spec.substr(dash + 1));
  Expected e;
  if (a.empty()) {  // suffix-range: the last n bytes
    auto n = Number(b);
    if (!n) return std::nullopt;
    if (*n == 0 || size == 0) return e;  // unsatisfiable
    e.satisfiable = true;
    e.first = *n >= size ? 0 : size - *n;
    e.last = size - 1;
    return e;
  }
  auto first = Number(a);
  if (!first) return std::nullopt;
  std::optional<uint64_t> last;
  if (!b.empty()) {
    last = Number(b);
    if (!last || *last < *first) return std::nullopt;  // invalid: ignored
  }
  if (*first >= size) return e;
  e.satisfiable = true;
  e.first = *first;
  e.last = last && *last < size - 1 ? *last : size - 1;
  return e;
}

uint64_t FileSize(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange<int>(0, 4)) {
    case 0:
      return 0;
    case 1:
      return in.ConsumeIntegralInRange<uint64_t>(1, 10);
    case 2: {  // near a power of two
      const int shift = in.ConsumeIntegralInRange<int>(0, 63);
      return (uint64_t{1} << shift) + in.ConsumeIntegralInRange<uint64_t>(0, 2) - 1;
    }
    case 3:
      return UINT64_MAX - in.ConsumeIntegralInRange<uint64_t>(0, 2);
    default:
      return in.ConsumeIntegral<uint64_t>();
  }
}

}  // namespace
}  // namespace newsreel::streaming

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace newsreel::streaming;
  FuzzedDataProvider in(data, size);
  static const char* kMethods[] = {"GET", "HEAD", "POST", "get", ""};
  static const char* kNames[] = {"720p/seg_00001.ts", "master.m3u8",   "poster.jpg",
                                 "storyboard.vtt",    "manifest.json", "noextension"};
  DeliveryTarget target;
  target.visible = in.ConsumeIntegralInRange<int>(0, 15) != 0;
  if (in.ConsumeIntegralInRange<int>(0, 15) != 0)
    target.file =
        FileFacts{FileSize(in), in.ConsumeIntegral<uint64_t>(), in.ConsumeIntegral<int64_t>()};
  target.name = kNames[in.ConsumeIntegralInRange<int>(0, 5)];
  target.cache_control = "public, max-age=60";
  DeliveryRequest r;
  r.method = kMethods[in.ConsumeIntegralInRange<int>(0, 4)];
  const int if_range = in.ConsumeIntegralInRange<int>(0, 2);       // none, the real tag, fuzzed
  const int if_none_match = in.ConsumeIntegralInRange<int>(0, 3);  // none, real, weak real, fuzzed
  r.accept_encoding = in.ConsumeRandomLengthString(40);
  r.range = in.ConsumeRandomLengthString(80);
  const std::string etag =
      target.file ? MakeEtag(target.file->inode, target.file->size, target.file->mtime_ns, false)
                  : "";
  if (if_range == 1) r.if_range = etag;
  if (if_range == 2) r.if_range = in.ConsumeRandomLengthString(60);
  if (if_none_match == 1) r.if_none_match = etag;
  if (if_none_match == 2) r.if_none_match = "W/" + etag;
  if (if_none_match == 3) r.if_none_match = in.ConsumeRandomLengthString();

  const DeliveryPlan plan = PlanDelivery(r, target);
  const std::string where = r.method + " " + target.name + " size " +
                            (target.file ? std::to_string(target.file->size) : "-") + " Range '" +
                            Printable(r.range) + "' If-Range '" + Printable(r.if_range) +
                            "' If-None-Match '" + Printable(r.if_none_match) + "' -> " +
                            std::to_string(plan.status);
  for (const auto& [name, value] : plan.headers)
    FUZZ_CHECK(value.find_first_of("\r\n") == std::string::npos, where + " header " + name);

  switch (plan.status) {
    case 405:
      FUZZ_CHECK(r.method != "GET" && r.method != "HEAD", where);
      return 0;
    case 404:
      FUZZ_CHECK(!target.visible || !target.file, where);
      return 0;
    default:
      FUZZ_CHECK(target.visible && target.file, where);
  }
  const uint64_t file_size = target.file->size;
  // With a Range header there is no gzip: If-Range compares with the identity tag.
  const bool range_applies = !r.range.empty() && (r.if_range.empty() || r.if_range == etag);
  const std::optional<Expected> expected = ReadRange(r.range, file_size);

  // 304 exactly when If-None-Match names the representation's tag (always so for the real
  // tag). A refusal carries no tag: with a Range header the representation is the identity.
  const std::string& representation = plan.etag.empty() ? etag : plan.etag;
  const bool not_modified =
      !r.if_none_match.empty() && IfNoneMatchMatches(r.if_none_match, representation);
  FUZZ_CHECK((plan.status == 304) == not_modified, where);
  // The file's own tag names the identity representation (a gzip one has another tag).
  if ((if_none_match == 1 || if_none_match == 2) && plan.etag == etag)
    FUZZ_CHECK(plan.status == 304, where);
  if (plan.status == 304) {
    FUZZ_CHECK(plan.body == BodySource::kNone && plan.content_type.empty(), where);
    return 0;
  }
  switch (plan.status) {
    case 200:
      if (plan.body == BodySource::kGzip) {
        FUZZ_CHECK(r.range.empty() && file_size <= kMaxGzipBytes, where);
        FUZZ_CHECK(plan.headers.count("Content-Encoding") == 1, where);
      } else {
        FUZZ_CHECK(plan.body == BodySource::kFile && plan.first == 0 && plan.count == file_size,
                   where);
      }
      FUZZ_CHECK(!(range_applies && expected), where + ": a valid range was not honoured");
      break;
    case 206: {
      FUZZ_CHECK(range_applies && expected && expected->satisfiable, where);
      FUZZ_CHECK(plan.body == BodySource::kFile, where);
      FUZZ_CHECK(plan.count >= 1 && plan.first < file_size && plan.count <= file_size - plan.first,
                 where);
      FUZZ_CHECK(plan.first == expected->first && plan.first + plan.count - 1 == expected->last,
                 where);
      const std::string content_range = "bytes " + std::to_string(plan.first) + "-" +
                                        std::to_string(plan.first + plan.count - 1) + "/" +
                                        std::to_string(file_size);
      FUZZ_CHECK(
          plan.headers.count("Content-Range") && plan.headers.at("Content-Range") == content_range,
          where);
      break;
    }
    case 416:
      FUZZ_CHECK(range_applies && expected && !expected->satisfiable, where);
      FUZZ_CHECK(plan.body == BodySource::kNone, where);
      FUZZ_CHECK(plan.headers.count("Content-Range") &&
                     plan.headers.at("Content-Range") == "bytes */" + std::to_string(file_size),
                 where);
      break;
    default:
      FUZZ_CHECK(false, where + ": unexpected status");
  }
  // The ETag names the representation sent (a 416 sends none).
  if (plan.status != 416)
    FUZZ_CHECK(plan.etag == MakeEtag(target.file->inode, file_size, target.file->mtime_ns,
                                     plan.body == BodySource::kGzip),
               where);
  return 0;
}
