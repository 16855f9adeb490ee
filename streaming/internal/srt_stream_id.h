#pragma once
// What an SRT caller says in its stream id (SRTO_STREAMID), parsed. Pure: no socket, no libsrt.
//
// The forms accepted, as encoders really send them (docs/live.md lists them for users):
//   #!::r=<stream>,m=publish,s=<key>   SRT's access-control syntax: comma-separated key=value
//                                       pairs in any order. r: the resource (a stream id of
//                                       ours; optional), s: the stream key, m: the mode
//                                       (publish | request | bidirectional). Other keys
//                                       (u=, h=, t=, and encoders' own) are ignored.
//   <key>                               a bare stream key
//   live/<key>                          the RTMP habit: an application name, then the key
// The access-control form URL-encoded (`%23%21%3A%3Ar%3D...`, as users paste it into encoders
// that do not decode their URL, ffmpeg 5.1 among them) is decoded first.
// A puller (`m=request`) names the stream with r=, which it must give, and needs no key: it holds
// the stream's passphrase instead (srt_ingest.h). Any other stream id without a key is refused
// (kNoKey). So is anything longer than SRT's own bound of
// 512 bytes, any control byte, a duplicated access-control key, or another prefix than `live/`.
//
// A key is 1..256 bytes of visible ASCII other than ',', '=' and '/' (keys are tokens we generate:
// base64url or hex). r= is 1..256 bytes of visible ASCII other than ',' and '='.
//
// The stream id carries the key: callers log only Describe(), never the raw stream id.

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

namespace newsreel::streaming {

// SRT's own bound on SRTO_STREAMID.
inline constexpr size_t kMaxStreamIdBytes = 512;
// Bounds of the two values we use. Keys are tokens we generate; a longer one matches nothing.
inline constexpr size_t kMaxStreamKeyBytes = 256;
inline constexpr size_t kMaxResourceBytes = 256;

enum class StreamIdForm { kAccessControl, kBareKey, kLivePath };

// The `m=` of the access-control form. kUnspecified: no `m=` (or another form); SRT's spec
// reads that as `request`, but encoders often leave it out, so the listener decides.
enum class StreamMode { kUnspecified, kPublish, kRequest, kBidirectional };

struct ParsedStreamId {
  StreamIdForm form = StreamIdForm::kBareKey;
  StreamMode mode = StreamMode::kUnspecified;
  std::string resource;  // `r=`; empty when absent. Not a secret.
  std::string key;       // the stream key: never empty, except with kRequest (may be empty;
                         // then resource is not). A secret: never log it.

  bool operator==(const ParsedStreamId&) const = default;
};

enum class StreamIdProblem {
  kMalformed,  // syntax, length or bytes: refuse with 400
  kNoKey,      // understood, but no key in it: refuse with 401
  kBadMode,    // `m=` is neither publish, request nor bidirectional: refuse with 405
};

struct StreamIdError {
  StreamIdProblem problem;
  // Why, for a log line: never quotes the key (it may quote nothing of the stream id at all).
  std::string message;
};

// Either the parsed stream id or why it was refused. `stream_id` is the bytes the caller sent
// (may be empty; need not be UTF-8).
std::variant<ParsedStreamId, StreamIdError> ParseStreamId(std::string_view stream_id);

// "access-control r=abc m=publish key=(12 bytes)": what may be logged about a parsed stream id.
std::string Describe(const ParsedStreamId& id);

const char* StreamModeName(StreamMode mode);  // "publish", "request", ...; "unspecified"

}  // namespace newsreel::streaming
