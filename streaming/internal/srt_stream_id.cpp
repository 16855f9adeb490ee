#include "streaming/internal/srt_stream_id.h"

#include <optional>
#include <set>

namespace newsreel::streaming {
namespace {

constexpr std::string_view kAccessControlPrefix = "#!::";
constexpr std::string_view kLivePrefix = "live/";

bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

// A key or a resource: visible ASCII only (no space, no byte above 0x7e), and none of the
// separators of the access-control syntax.
bool IsTokenByte(unsigned char c) { return c > 0x20 && c < 0x7f && c != ',' && c != '='; }

bool IsToken(std::string_view s) {
  for (unsigned char c : s) {
    if (!IsTokenByte(c)) return false;
  }
  return true;
}

// A key is a token without '/' either: "live/a/KEY" is not a key under a path.
bool IsKey(std::string_view s) { return IsToken(s) && s.find('/') == std::string_view::npos; }

StreamIdError Malformed(std::string message) {
  return {StreamIdProblem::kMalformed, std::move(message)};
}

std::variant<ParsedStreamId, StreamIdError> KeyOnly(StreamIdForm form, std::string_view key) {
  if (key.empty()) return StreamIdError{StreamIdProblem::kNoKey, "the stream id has no key"};
  if (key.size() > kMaxStreamKeyBytes) return Malformed("the stream key is too long");
  if (!IsKey(key)) return Malformed("the stream key has a byte that no key of ours has");
  ParsedStreamId id;
  id.form = form;
  id.key = std::string(key);
  return id;
}

std::variant<ParsedStreamId, StreamIdError> ParseAccessControl(std::string_view body) {
  ParsedStreamId id;
  id.form = StreamIdForm::kAccessControl;
  std::set<std::string, std::less<>> seen;
  size_t pos = 0;
  while (pos <= body.size()) {
    size_t comma = body.find(',', pos);
    if (comma == std::string_view::npos) comma = body.size();
    std::string_view item = body.substr(pos, comma - pos);
    pos = comma + 1;
    if (item.empty()) continue;  // "a=1,,b=2" or a trailing comma: nothing said
    size_t eq = item.find('=');
    if (eq == std::string_view::npos) return Malformed("an access-control item has no '='");
    std::string_view name = item.substr(0, eq);
    std::string_view value = item.substr(eq + 1);
    if (name.empty() || !IsToken(name)) return Malformed("an access-control item has no name");
    // The same name twice is ambiguous: one reader takes the first, another the last.
    if (!seen.emplace(name).second) {
      return Malformed("the access-control key '" + std::string(name) + "' appears twice");
    }
    if (name == "s") {
      id.key = std::string(value);  // checked below, as the other forms' keys
    } else if (name == "r") {
      if (value.size() > kMaxResourceBytes) return Malformed("r= is too long");
      if (!IsToken(value)) return Malformed("r= has a byte that no stream id of ours has");
      id.resource = std::string(value);
    } else if (name == "m") {
      if (value == "publish") {
        id.mode = StreamMode::kPublish;
      } else if (value == "request") {
        id.mode = StreamMode::kRequest;
      } else if (value == "bidirectional") {
        id.mode = StreamMode::kBidirectional;
      } else {
        return StreamIdError{StreamIdProblem::kBadMode,
                             "m= is neither publish, request nor bidirectional"};
      }
    }
    // Any other key (u, h, t, an encoder's own) is ignored.
  }
  if (id.mode == StreamMode::kRequest) {
    // A puller holds the stream's passphrase, not its key: r= names the stream, and a key, if
    // given, is checked for its bytes only (the listener ignores it).
    if (id.resource.empty()) return Malformed("m=request needs r=<stream>");
    if (id.key.empty()) return id;
  }
  auto keyed = KeyOnly(StreamIdForm::kAccessControl, id.key);
  if (auto* error = std::get_if<StreamIdError>(&keyed)) return *error;
  return id;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "%23%21%3A%3Ar%3D..." (the access-control form URL-encoded by a user, sent as it is by an
// encoder that does not decode its URL, as ffmpeg 5.1 does not) -> "#!::r=...".
std::optional<std::string> PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

bool StartsWithEncodedAccessControl(std::string_view s) {
  if (s.size() < 12) return false;
  std::string head(s.substr(0, 12));
  for (char& c : head) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  return head == "%23%21%3A%3A";
}

}  // namespace

std::variant<ParsedStreamId, StreamIdError> ParseStreamId(std::string_view stream_id) {
  if (stream_id.size() > kMaxStreamIdBytes) return Malformed("the stream id is too long");
  if (StartsWithEncodedAccessControl(stream_id)) {
    auto decoded = PercentDecode(stream_id);
    if (!decoded) return Malformed("the URL-encoded stream id has a bad %-escape");
    return ParseStreamId(*decoded);  // shorter, and no longer starts with '%'
  }
  for (size_t i = 0; i < stream_id.size(); ++i) {
    if (IsControl(static_cast<unsigned char>(stream_id[i]))) {
      return Malformed("the stream id has a control byte at offset " + std::to_string(i));
    }
  }
  if (stream_id.starts_with(kAccessControlPrefix)) {
    return ParseAccessControl(stream_id.substr(kAccessControlPrefix.size()));
  }
  if (stream_id.starts_with("#!")) {
    return Malformed("the stream id starts with '#!' but not with the access-control '#!::'");
  }
  if (stream_id.starts_with(kLivePrefix)) {
    return KeyOnly(StreamIdForm::kLivePath, stream_id.substr(kLivePrefix.size()));
  }
  if (stream_id.find('=') != std::string_view::npos) {
    return Malformed("the stream id looks like access-control pairs without the '#!::' prefix");
  }
  if (stream_id.find('/') != std::string_view::npos) {
    return Malformed("the stream id has a path prefix other than 'live/'");
  }
  return KeyOnly(StreamIdForm::kBareKey, stream_id);
}

const char* StreamModeName(StreamMode mode) {
  switch (mode) {
    case StreamMode::kUnspecified:
      return "unspecified";
    case StreamMode::kPublish:
      return "publish";
    case StreamMode::kRequest:
      return "request";
    case StreamMode::kBidirectional:
      return "bidirectional";
  }
  return "unspecified";
}

std::string Describe(const ParsedStreamId& id) {
  std::string out;
  switch (id.form) {
    case StreamIdForm::kAccessControl:
      out = "access-control";
      break;
    case StreamIdForm::kBareKey:
      out = "bare-key";
      break;
    case StreamIdForm::kLivePath:
      out = "live/<key>";
      break;
  }
  if (!id.resource.empty()) out += " r=" + id.resource;
  out += " m=";
  out += StreamModeName(id.mode);
  out += id.key.empty() ? std::string(" no key")
                        : " key=(" + std::to_string(id.key.size()) + " bytes)";
  return out;
}

}  // namespace newsreel::streaming
