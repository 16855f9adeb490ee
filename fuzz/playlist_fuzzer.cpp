// The HLS playlist writer (transcoder/hls_playlist.h) on arbitrary segment names, durations,
// sizes, byte ranges and rendition facts (codecs, resolution, frame rate, bandwidths).
//
// Input (FuzzedDataProvider): which playlist (media, I-frame, master), then its entries; each
// name is a plausible one ("720p/seg_00001.ts") or fuzzed bytes, each number a plausible one or
// an extreme (negative, zero, NaN, infinite, huge).
//
// Invariants:
//   - The writer refuses exactly the inputs its contract refuses (an unsafe name, a duration
//     that is not finite or out of range, a negative size, codecs outside their alphabet, ...)
//     and writes every other one.
//   - What it writes is a well-formed playlist: "#EXTM3U" first; every line a known tag or a
//     URI; the URI lines are the given names, in order, each a safe relative name; the quoted
//     attribute values are the given names and codecs; EXTINF durations are finite, not
//     negative, and none rounds above EXT-X-TARGETDURATION; no tag appears that the writer does
//     not write (nothing injected).
//   - The bandwidth helpers never overflow (UndefinedBehaviorSanitizer checks the conversions).

#include <fuzzer/FuzzedDataProvider.h>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "transcoder/hls_playlist.h"

namespace newsreel::transcoder {
namespace {

using fuzz::Printable;

// The harness's own reading of a safe name: segments of [A-Za-z0-9._-], none empty, none
// starting with '.', at most 255 characters in all.
bool SafeName(std::string_view s) {
  if (s.empty() || s.size() > 255) return false;
  size_t start = 0;
  while (true) {
    const size_t slash = s.find('/', start);
    const std::string_view seg = s.substr(start, slash == s.npos ? s.npos : slash - start);
    if (seg.empty() || seg.front() == '.') return false;
    for (char c : seg)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-')
        return false;
    if (slash == s.npos) return true;
    start = slash + 1;
  }
}

bool SaneSeconds(double d) { return std::isfinite(d) && d >= 0 && d <= 86400; }
bool SaneBytes(int64_t n) { return n >= 0 && n <= (int64_t{1} << 50); }
bool SaneCodecs(std::string_view c) {
  for (char ch : c)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != ',' && ch != '+' &&
        ch != '-')
      return false;
  return c.size() <= 256;
}

std::string Name(FuzzedDataProvider& in) {
  static const char* kNames[] = {"seg_00001.ts", "720p/seg_00002.ts", "720p/index.m3u8",
                                 "audio/index.m3u8", "720p/iframes.m3u8"};
  if (in.ConsumeIntegralInRange<int>(0, 3) != 0)
    return kNames[in.ConsumeIntegralInRange<int>(0, 4)];
  return in.ConsumeRandomLengthString(40);
}

double Seconds(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange<int>(0, 9)) {
    case 0:
      return std::numeric_limits<double>::quiet_NaN();
    case 1:
      return std::numeric_limits<double>::infinity();
    case 2:
      return -in.ConsumeFloatingPointInRange<double>(0, 1e6);
    case 3:
      return in.ConsumeFloatingPoint<double>();
    case 4:
      return 0;
    case 5:
      return in.ConsumeFloatingPointInRange<double>(0, 1e-6);
    default:
      return in.ConsumeFloatingPointInRange<double>(0, 12);
  }
}

int64_t Count(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange<int>(0, 5)) {
    case 0:
      return in.ConsumeIntegral<int64_t>();
    case 1:
      return std::numeric_limits<int64_t>::max() - in.ConsumeIntegralInRange<int64_t>(0, 2);
    default:
      return in.ConsumeIntegralInRange<int64_t>(0, 5'000'000);
  }
}

// The lines of `text`, which must end with a newline.
std::vector<std::string_view> Lines(std::string_view text, const std::string& where) {
  FUZZ_CHECK(!text.empty() && text.back() == '\n', where);
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < text.size()) {
    const size_t nl = text.find('\n', start);
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  for (std::string_view line : lines)
    FUZZ_CHECK(line.find('\r') == line.npos, where + ": a CR in '" + Printable(line) + "'");
  return lines;
}

std::string_view TagName(std::string_view line) { return line.substr(0, line.find(':')); }

// The value of attribute `name` in an attribute list ("A=1,B=\"x,y\""); quoted values lose
// their quotes. nullopt when absent.
std::optional<std::string> Attribute(std::string_view list, std::string_view name) {
  size_t at = 0;
  while (at < list.size()) {
    const size_t eq = list.find('=', at);
    if (eq == list.npos) return std::nullopt;
    const std::string_view key = list.substr(at, eq - at);
    size_t end;
    std::string value;
    if (eq + 1 < list.size() && list[eq + 1] == '"') {
      const size_t close = list.find('"', eq + 2);
      if (close == list.npos) return std::nullopt;
      value = std::string(list.substr(eq + 2, close - eq - 2));
      end = close + 1;
    } else {
      end = list.find(',', eq);
      if (end == list.npos) end = list.size();
      value = std::string(list.substr(eq + 1, end - eq - 1));
    }
    if (key == name) return value;
    at = end + 1;
  }
  return std::nullopt;
}

bool DecimalInteger(std::string_view s) {
  if (s.empty() || s.size() > 20) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

bool DecimalFloat(std::string_view s) {
  const size_t dot = s.find('.');
  if (dot == s.npos) return DecimalInteger(s);
  return DecimalInteger(s.substr(0, dot)) && DecimalInteger(s.substr(dot + 1));
}

// Media and I-frame playlists: tags from the writer's set, URIs as given, durations in bounds.
void CheckMediaLike(std::string_view text, const std::vector<std::string>& uris,
                    const std::set<std::string_view>& tags, const std::string& map_uri,
                    const std::string& where) {
  auto lines = Lines(text, where);
  FUZZ_CHECK(lines.front() == "#EXTM3U", where);
  FUZZ_CHECK(lines.back() == "#EXT-X-ENDLIST", where);
  std::vector<std::string> seen;
  std::optional<long long> target;
  double longest = 0;
  for (std::string_view line : lines) {
    FUZZ_CHECK(!line.empty(), where);
    if (line.front() != '#') {
      FUZZ_CHECK(SafeName(line), where + ": URI line '" + Printable(line) + "'");
      seen.emplace_back(line);
      continue;
    }
    const std::string_view tag = TagName(line);
    FUZZ_CHECK(tags.count(tag), where + ": unexpected line '" + Printable(line) + "'");
    if (tag == "#EXT-X-TARGETDURATION") {
      const std::string_view v = line.substr(tag.size() + 1);
      FUZZ_CHECK(DecimalInteger(v), where);
      target = std::stoll(std::string(v));
    }
    if (tag == "#EXTINF") {
      std::string_view v = line.substr(tag.size() + 1);
      FUZZ_CHECK(v.ends_with(','), where);
      v.remove_suffix(1);
      FUZZ_CHECK(DecimalFloat(v), where + ": EXTINF '" + Printable(v) + "'");
      longest = std::max(longest, std::stod(std::string(v)));
    }
    if (tag == "#EXT-X-BYTERANGE") {
      const std::string_view v = line.substr(tag.size() + 1);
      const size_t at = v.find('@');
      FUZZ_CHECK(
          at != v.npos && DecimalInteger(v.substr(0, at)) && DecimalInteger(v.substr(at + 1)),
          where);
    }
    if (tag == "#EXT-X-MAP") {
      auto uri = Attribute(line.substr(tag.size() + 1), "URI");
      FUZZ_CHECK(uri && *uri == map_uri && SafeName(*uri), where);
    }
  }
  FUZZ_CHECK(seen == uris, where + ": the URI lines are not the names given");
  // RFC 8216 4.3.3.1: each duration, rounded to the nearest integer, at most the target.
  FUZZ_CHECK(target && std::llround(longest) <= *target, where);
}

void CheckMaster(std::string_view text, const std::vector<HlsVariant>& variants,
                 const std::string& where) {
  auto lines = Lines(text, where);
  FUZZ_CHECK(lines.front() == "#EXTM3U", where);
  static const std::set<std::string_view> kTags = {
      "#EXTM3U", "#EXT-X-VERSION", "#EXT-X-INDEPENDENT-SEGMENTS", "#EXT-X-STREAM-INF",
      "#EXT-X-I-FRAME-STREAM-INF"};
  std::vector<std::string> uris, iframe_uris;
  bool expect_uri = false;
  for (std::string_view line : lines) {
    if (line.empty()) {
      FUZZ_CHECK(!expect_uri, where);
      continue;
    }
    if (line.front() != '#') {
      FUZZ_CHECK(expect_uri && SafeName(line), where + ": URI line '" + Printable(line) + "'");
      uris.emplace_back(line);
      expect_uri = false;
      continue;
    }
    FUZZ_CHECK(!expect_uri, where);
    const std::string_view tag = TagName(line);
    FUZZ_CHECK(kTags.count(tag), where + ": unexpected line '" + Printable(line) + "'");
    if (tag == "#EXT-X-STREAM-INF" || tag == "#EXT-X-I-FRAME-STREAM-INF") {
      const std::string_view list = line.substr(tag.size() + 1);
      auto bandwidth = Attribute(list, "BANDWIDTH");
      FUZZ_CHECK(bandwidth && DecimalInteger(*bandwidth), where);
      auto codecs = Attribute(list, "CODECS");
      FUZZ_CHECK(codecs && SaneCodecs(*codecs), where);
      if (auto fr = Attribute(list, "FRAME-RATE")) FUZZ_CHECK(DecimalFloat(*fr), where);
      if (tag == "#EXT-X-STREAM-INF") {
        expect_uri = true;
      } else {
        auto uri = Attribute(list, "URI");
        FUZZ_CHECK(uri && SafeName(*uri), where);
        iframe_uris.push_back(*uri);
      }
    }
  }
  FUZZ_CHECK(!expect_uri, where);
  std::vector<std::string> want, want_iframes;
  for (const auto& v : variants) {
    want.push_back(v.uri);
    if (!v.iframe_uri.empty()) want_iframes.push_back(v.iframe_uri);
  }
  FUZZ_CHECK(uris == want && iframe_uris == want_iframes, where);
}

std::string Describe(const std::vector<HlsSegment>& segments) {
  std::string s;
  for (const auto& g : segments)
    s += "\n     '" + Printable(g.uri) + "' " + std::to_string(g.duration) + " s " +
         std::to_string(g.bytes) + " B";
  return s;
}

}  // namespace
}  // namespace newsreel::transcoder

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace newsreel::transcoder;
  FuzzedDataProvider in(data, size);
  const int which = in.ConsumeIntegralInRange<int>(0, 2);
  const int count = in.ConsumeIntegralInRange<int>(0, 12);
  if (which == 0) {
    std::vector<HlsSegment> segments;
    bool sane = true;
    for (int i = 0; i < count; ++i) {
      HlsSegment s{Name(in), Seconds(in), Count(in)};
      sane &= SafeName(s.uri) && SaneSeconds(s.duration) && SaneBytes(s.bytes);
      segments.push_back(s);
    }
    (void)PeakBandwidth(segments);
    (void)AverageBandwidth(segments);
    (void)TargetDuration(segments);
    const std::string where = "media playlist of" + Describe(segments);
    auto text = MediaPlaylistText(segments);
    FUZZ_CHECK(text.ok() == sane, where + (text.ok() ? "" : ": " + text.status().message()));
    if (!text.ok()) return 0;
    std::vector<std::string> uris;
    for (const auto& s : segments) uris.push_back(s.uri);
    CheckMediaLike(
        *text, uris,
        {"#EXTM3U", "#EXT-X-VERSION", "#EXT-X-PLAYLIST-TYPE", "#EXT-X-INDEPENDENT-SEGMENTS",
         "#EXT-X-TARGETDURATION", "#EXT-X-MEDIA-SEQUENCE", "#EXTINF", "#EXT-X-ENDLIST"},
        "", where + "\n" + Printable(*text, 2000));
  } else if (which == 1) {
    std::vector<HlsIFrame> frames;
    bool sane = true;
    for (int i = 0; i < count; ++i) {
      HlsIFrame f{Name(in), Count(in), Count(in), Seconds(in)};
      sane &=
          SafeName(f.uri) && SaneBytes(f.offset) && SaneBytes(f.length) && SaneSeconds(f.duration);
      frames.push_back(f);
    }
    const std::string map_uri = in.ConsumeBool() ? "" : Name(in);
    const int64_t map_length = Count(in);
    sane &= (map_uri.empty() || SafeName(map_uri)) && SaneBytes(map_length);
    std::string where = "I-frame playlist, map '" + Printable(map_uri) + "' " +
                        std::to_string(map_length) + " B, of";
    for (const auto& f : frames)
      where += "\n     '" + Printable(f.uri) + "' " + std::to_string(f.length) + "@" +
               std::to_string(f.offset) + " " + std::to_string(f.duration) + " s";
    auto text = IFramePlaylistText(frames, map_uri, map_length);
    FUZZ_CHECK(text.ok() == sane, where + (text.ok() ? "" : ": " + text.status().message()));
    if (!text.ok()) return 0;
    std::vector<std::string> uris;
    for (const auto& f : frames) uris.push_back(f.uri);
    std::set<std::string_view> tags = {"#EXTM3U",
                                       "#EXT-X-VERSION",
                                       "#EXT-X-PLAYLIST-TYPE",
                                       "#EXT-X-I-FRAMES-ONLY",
                                       "#EXT-X-INDEPENDENT-SEGMENTS",
                                       "#EXT-X-TARGETDURATION",
                                       "#EXT-X-MEDIA-SEQUENCE",
                                       "#EXTINF",
                                       "#EXT-X-BYTERANGE",
                                       "#EXT-X-ENDLIST"};
    if (!map_uri.empty() && map_length > 0) tags.insert("#EXT-X-MAP");
    CheckMediaLike(*text, uris, tags, map_uri, where + "\n" + Printable(*text, 2000));
  } else {
    std::vector<HlsVariant> variants;
    bool sane = true;
    std::string where = "master playlist of";
    for (int i = 0; i < count; ++i) {
      HlsVariant v;
      v.uri = Name(in);
      v.iframe_uri = in.ConsumeBool() ? "" : Name(in);
      v.bandwidth = Count(in);
      v.average_bandwidth = Count(in);
      v.iframe_bandwidth = Count(in);
      v.codecs = in.ConsumeBool() ? "avc1.64001f,mp4a.40.2" : in.ConsumeRandomLengthString(30);
      v.width = in.ConsumeIntegralInRange<int>(-2, 8000);
      v.height = in.ConsumeIntegralInRange<int>(-2, 8000);
      v.frame_rate = in.ConsumeBool() ? 29.97 : Seconds(in);
      sane &= SafeName(v.uri) && (v.iframe_uri.empty() || SafeName(v.iframe_uri)) &&
              SaneBytes(v.bandwidth) && SaneBytes(v.average_bandwidth) &&
              SaneBytes(v.iframe_bandwidth) && SaneCodecs(v.codecs) && v.width >= 0 &&
              v.height >= 0 && (v.width == 0) == (v.height == 0) && SaneSeconds(v.frame_rate) &&
              (v.iframe_uri.empty() || v.width > 0);
      where += "\n     '" + Printable(v.uri) + "' '" + Printable(v.iframe_uri) + "' codecs '" +
               Printable(v.codecs) + "' " + std::to_string(v.width) + "x" +
               std::to_string(v.height) + " @" + std::to_string(v.frame_rate) + " bw " +
               std::to_string(v.bandwidth) + "/" + std::to_string(v.average_bandwidth) + "/" +
               std::to_string(v.iframe_bandwidth);
      variants.push_back(v);
    }
    auto text = MasterPlaylistText(variants);
    FUZZ_CHECK(text.ok() == sane, where + (text.ok() ? "" : ": " + text.status().message()));
    if (!text.ok()) return 0;
    CheckMaster(*text, variants, where + "\n" + Printable(*text, 2000));
  }
  return 0;
}
