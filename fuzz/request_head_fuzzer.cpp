// The request-head screen (streaming/internal/lws_workarounds.h ScreenRequestHead): what the
// server decides about the first bytes of a connection before libwebsockets sees them, and the
// answer it writes for a refusal (RefusalResponse).
//
// Input: one byte (bit 0: the screen's buffer is full), then the head as it arrived.
//
// Invariants:
//   - A refusal is 400, 405, 426, 431 or 505, and its answer is one well-formed HTTP/1.1
//     response: the status line, header lines without stray CR or LF, a Content-Length equal to
//     the body's size, and a body that is a JSON error object (never an exception, whatever bytes
//     the head held: the screen runs in a noexcept event callback).
//   - A head let through whole (its end has arrived) is one a strict reading accepts: a known
//     method, one space, a target, one space, HTTP/1.0 or HTTP/1.1, no control byte in the
//     request line, and header lines that each have a token name and a colon and no control
//     byte but tab.
//   - The screen is a function of the bytes: the same head gets the same decision.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "streaming/internal/lws_workarounds.h"

namespace newsreel::streaming {
namespace {

using fuzz::Printable;

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

bool HasControlByte(std::string_view s, bool tab_ok) {
  for (char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if ((b < 0x20 && !(tab_ok && c == '\t')) || b == 0x7f) return true;
  }
  return false;
}

void CheckRefusalResponse(const HeadRefusal& refusal, const std::string& where) {
  const std::string response = RefusalResponse(refusal, "*");
  const size_t end = response.find("\r\n\r\n");
  FUZZ_CHECK(end != std::string::npos, where);
  const std::string status_line = "HTTP/1.1 " + std::to_string(refusal.status) + " ";
  FUZZ_CHECK(response.starts_with(status_line), where);
  std::string_view head(response.data(), end);
  std::optional<size_t> content_length;
  size_t at = 0;
  while (at <= head.size()) {
    size_t crlf = head.find("\r\n", at);
    std::string_view line = head.substr(at, crlf == std::string_view::npos ? head.npos : crlf - at);
    FUZZ_CHECK(line.find_first_of("\r\n") == std::string_view::npos,
               where + ": a stray CR or LF in '" + Printable(line) + "'");
    if (at > 0) {
      const size_t colon = line.find(':');
      FUZZ_CHECK(colon != std::string_view::npos && IsToken(line.substr(0, colon)),
                 where + ": header line '" + Printable(line) + "'");
      if (line.substr(0, colon) == "content-length")
        content_length = std::stoul(std::string(line.substr(colon + 1)));
    }
    if (crlf == std::string_view::npos) break;
    at = crlf + 2;
  }
  const std::string body = response.substr(end + 4);
  FUZZ_CHECK(content_length && *content_length == body.size(), where);
  const nlohmann::json json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  FUZZ_CHECK(!json.is_discarded() && json.contains("error") && json["error"].contains("message"),
             where + ": body " + Printable(body));
}

// The non-empty lines after the request line (an upper bound on the header fields).
int CountFieldLines(std::string_view head) {
  int count = 0;
  size_t at = head.find('\n');
  while (at != std::string_view::npos) {
    const size_t nl = head.find('\n', at + 1);
    std::string_view line =
        head.substr(at + 1, nl == std::string_view::npos ? head.npos : nl - at - 1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (!line.empty()) ++count;
    at = nl;
  }
  return count;
}

// The strict reading of a whole head that the screen let through.
void CheckAccepted(std::string_view head, const std::string& where) {
  const size_t eol = head.find('\n');
  std::string_view line = head.substr(0, eol);
  if (line.ends_with('\r')) line.remove_suffix(1);
  FUZZ_CHECK(!HasControlByte(line, false), where);
  const size_t sp1 = line.find(' ');
  FUZZ_CHECK(sp1 != std::string_view::npos, where);
  const size_t sp2 = line.find(' ', sp1 + 1);
  FUZZ_CHECK(sp2 != std::string_view::npos && line.find(' ', sp2 + 1) == std::string_view::npos,
             where);
  const std::string_view method = line.substr(0, sp1), version = line.substr(sp2 + 1);
  FUZZ_CHECK(method == "GET" || method == "HEAD" || method == "POST" || method == "PUT" ||
                 method == "PATCH" || method == "DELETE" || method == "OPTIONS",
             where);
  FUZZ_CHECK(version == "HTTP/1.1" || version == "HTTP/1.0", where);
  // The header lines up to the first empty line.
  std::string_view rest = head.substr(eol + 1);
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    if (nl == std::string_view::npos) break;  // past the end of the head: not screened
    std::string_view field = rest.substr(0, nl);
    rest.remove_prefix(nl + 1);
    if (field.ends_with('\r')) field.remove_suffix(1);
    if (field.empty()) break;
    FUZZ_CHECK(!HasControlByte(field, true), where + ": field '" + Printable(field) + "'");
    FUZZ_CHECK(field.front() != ' ' && field.front() != '\t', where);
    const size_t colon = field.find(':');
    FUZZ_CHECK(colon != std::string_view::npos && IsToken(field.substr(0, colon)),
               where + ": field '" + Printable(field) + "'");
  }
}

}  // namespace
}  // namespace newsreel::streaming

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("NEWSREEL_LOG", "error", 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace newsreel::streaming;
  if (size == 0) return 0;
  const bool buffer_full = (data[0] & 1) != 0;
  const std::string_view head(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::string where =
      std::string(buffer_full ? "full " : "") + "head '" + Printable(head) + "'";
  const std::optional<HeadRefusal> refusal = ScreenRequestHead(head, buffer_full);
  const std::optional<HeadRefusal> again = ScreenRequestHead(head, buffer_full);
  FUZZ_CHECK(
      refusal.has_value() == again.has_value() &&
          (!refusal || (refusal->status == again->status && refusal->message == again->message)),
      where);
  (void)RequestLineHasControlByte(head);
  (void)LooksLikeRequestLine(head);
  if (refusal) {
    const int s = refusal->status;
    FUZZ_CHECK(s == 400 || s == 405 || s == 426 || s == 431 || s == 505,
               where + " -> " + std::to_string(s));
    // 431 only for a head too large for the buffer, or one with more fields than the
    // server reads (100, streaming/internal/lws_workarounds.cpp).
    FUZZ_CHECK(s != 431 || buffer_full || CountFieldLines(head) > 100, where);
    CheckRefusalResponse(*refusal, where + " -> " + std::to_string(s));
    return 0;
  }
  // Let through: a whole head must read well; an unfinished one is left to lws.
  const bool whole = head.find("\r\n\r\n") != std::string_view::npos ||
                     head.find("\n\n") != std::string_view::npos;
  if (whole) CheckAccepted(head, where);
  return 0;
}
