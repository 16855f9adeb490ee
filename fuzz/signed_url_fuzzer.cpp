// The signed-URL checker (streaming/signed_url.h UrlSigner::CheckMediaPath) on arbitrary
// request paths, clocks and client addresses, and on paths made by MediaPrefix and then
// altered.
//
// Input (FuzzedDataProvider): a mode byte, the time, a client address, then either a whole
// arbitrary path or the parts of a real signed one (video id, expiry, bound address, file) and
// an edit to apply to it.
//
// Invariants:
//   - The checker never crashes and never reads outside its input (ASan, UBSan).
//   - kValid only for a path whose signature this key made for this video, this expiry and (when
//     bound) this address, at a time not past the expiry: any single-byte change to the
//     signature segment of a real signed path is not kValid.
//   - A real signed path checked within its time from its address is kValid, and
//     `unsigned_rest` is "<id>/<file>" exactly; past its time it is kExpired (never kValid).
//   - kUnsigned leaves the path as given; kValid and kExpired serve the path without exactly
//     its signature segment.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <string>

#include "fuzz/fuzz_util.h"
#include "streaming/signed_url.h"

namespace newsreel::streaming {
namespace {

using fuzz::Printable;

const UrlSigner& Signer() {
  static const UrlSigner signer([] {
    SigningKey key{};
    for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<unsigned char>(i * 37 + 11);
    return key;
  }());
  return signer;
}

bool IdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

}  // namespace
}  // namespace newsreel::streaming

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace newsreel::streaming;
  FuzzedDataProvider in(data, size);
  const UrlSigner& signer = Signer();
  const uint8_t mode = in.ConsumeIntegral<uint8_t>();
  const int64_t now = in.ConsumeIntegralInRange<int64_t>(-1, int64_t{1} << 40);
  const std::string client = in.ConsumeRandomLengthString(64);

  if (mode % 2 == 0) {
    // Any path at all.
    const std::string rest = in.ConsumeRemainingBytesAsString();
    const SignedMediaCheck check = signer.CheckMediaPath(rest, now, client);
    if (check.verdict == SignatureVerdict::kUnsigned) {
      FUZZ_CHECK(check.unsigned_rest == rest, "unsigned path changed: " + Printable(rest));
    } else if (check.verdict == SignatureVerdict::kValid ||
               check.verdict == SignatureVerdict::kExpired) {
      // What is served is the path without its second segment (the signature), exactly.
      const size_t id_end = rest.find('/');
      const size_t sig_end = id_end == std::string::npos ? id_end : rest.find('/', id_end + 1);
      FUZZ_CHECK(sig_end != std::string::npos &&
                     check.unsigned_rest == rest.substr(0, id_end + 1) + rest.substr(sig_end + 1),
                 "unsigned_rest " + Printable(check.unsigned_rest) + " of " + Printable(rest));
    }
    return 0;
  }

  // A real signed path, then perhaps one edit.
  std::string id = in.ConsumeRandomLengthString(20);
  std::string clean;
  for (char c : id)
    if (IdChar(c)) clean += c;
  if (clean.empty() || clean[0] == '-') clean = "v" + clean;
  const int64_t expires = in.ConsumeIntegralInRange<int64_t>(0, int64_t{1} << 40);
  const bool bound = in.ConsumeBool();
  const std::optional<std::string> address = CanonicalAddress(client);
  if (bound && (!address || address->empty())) return 0;
  const std::string prefix = signer.MediaPrefix(
      clean, expires, bound ? std::optional<std::string_view>(*address) : std::nullopt);
  constexpr std::string_view kMedia = "/media/";
  FUZZ_CHECK(prefix.rfind(kMedia, 0) == 0, "prefix " + Printable(prefix));
  const std::string file = in.ConsumeBool() ? "master.m3u8" : "720p/seg_00001.ts";
  std::string rest = prefix.substr(kMedia.size()) + file;
  const std::string client_canonical = address.value_or("");

  const size_t edit_at = in.ConsumeIntegral<size_t>();
  const uint8_t edit_byte = in.ConsumeIntegral<uint8_t>();
  const bool edit = in.ConsumeBool();
  const size_t sig_start = clean.size() + 1;  // "<id>/" then "~s.<exp>.<sig>/"
  const size_t sig_end = rest.find('/', sig_start);
  std::string edited = rest;
  bool changed = false;
  if (edit && sig_end != std::string::npos && sig_end > sig_start) {
    const size_t at = sig_start + edit_at % (sig_end - sig_start);
    if (edited[at] != static_cast<char>(edit_byte)) {
      edited[at] = static_cast<char>(edit_byte);
      changed = true;
    }
  }
  const SignedMediaCheck check = signer.CheckMediaPath(edited, now, client_canonical);
  if (changed) {
    FUZZ_CHECK(check.verdict != SignatureVerdict::kValid,
               "an edited signature passed: " + Printable(edited) + " from " + Printable(rest));
    return 0;
  }
  if (now <= expires) {
    FUZZ_CHECK(
        check.verdict == SignatureVerdict::kValid,
        std::string("a real signed path was ") + ToString(check.verdict) + ": " + Printable(rest));
    FUZZ_CHECK(check.unsigned_rest == clean + "/" + file,
               "unsigned_rest " + Printable(check.unsigned_rest));
    FUZZ_CHECK(check.expires_at_s == expires, "expiry " + std::to_string(check.expires_at_s));
  } else {
    FUZZ_CHECK(check.verdict == SignatureVerdict::kExpired,
               std::string("an expired path was ") + ToString(check.verdict));
  }
  // Bound to an address: from another it is never valid.
  if (bound) {
    const SignedMediaCheck elsewhere = signer.CheckMediaPath(rest, now, "192.0.2.99");
    if (client_canonical != "192.0.2.99")
      FUZZ_CHECK(elsewhere.verdict != SignatureVerdict::kValid, "valid from another address");
  }
  return 0;
}
