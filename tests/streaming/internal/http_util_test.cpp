#include "streaming/internal/http_util.h"

#include <gtest/gtest.h>
#include <zlib.h>

namespace newsreel::streaming {
namespace {

TEST(HttpUtilTest, ContentTypes) {
  EXPECT_EQ(ContentTypeFor("master.m3u8"), "application/vnd.apple.mpegurl");
  EXPECT_EQ(ContentTypeFor("720p/seg_00001.ts"), "video/mp2t");
  EXPECT_EQ(ContentTypeFor("a/b.m4s"), "video/iso.segment");
  EXPECT_EQ(ContentTypeFor("init.mp4"), "video/mp4");
  EXPECT_EQ(ContentTypeFor("poster.jpg"), "image/jpeg");
  EXPECT_EQ(ContentTypeFor("storyboard.vtt"), "text/vtt; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("noext"), "application/octet-stream");
  EXPECT_EQ(ContentTypeFor("dir.ts/file"), "application/octet-stream");
}

TEST(HttpUtilTest, CacheControl) {
  EXPECT_NE(CacheControlFor("seg_00001.ts", false).find("immutable"), std::string_view::npos);
  EXPECT_EQ(CacheControlFor("index.m3u8", false), "public, max-age=300");
  EXPECT_EQ(CacheControlFor("index.m3u8", true), "public, max-age=1");
  // LL-HLS: playlists and a rung's init segment are revalidated; parts and segments kept.
  EXPECT_EQ(CacheControlFor("ll/720p/index.m3u8", true), "no-cache");
  EXPECT_EQ(CacheControlFor("ll/master.m3u8", true), "no-cache");
  EXPECT_EQ(CacheControlFor("ll/720p/init.mp4", true), "no-cache");
  EXPECT_NE(CacheControlFor("ll/720p/p12.3.m4s", true).find("immutable"), std::string_view::npos);
  EXPECT_NE(CacheControlFor("ll/720p/s12.m4s", true).find("immutable"), std::string_view::npos);
}

TEST(HttpUtilTest, EtagsDifferByVersionAndEncoding) {
  std::string a = MakeEtag(1, 2, 3, false);
  EXPECT_EQ(a.front(), '"');
  EXPECT_EQ(a.back(), '"');
  EXPECT_NE(a, MakeEtag(1, 2, 4, false));
  EXPECT_NE(a, MakeEtag(1, 2, 3, true));
}

TEST(HttpUtilTest, IfNoneMatch) {
  std::string tag = MakeEtag(1, 2, 3, false);
  EXPECT_TRUE(IfNoneMatchMatches(tag, tag));
  EXPECT_TRUE(IfNoneMatchMatches("\"x\", " + tag, tag));
  EXPECT_TRUE(IfNoneMatchMatches("W/" + tag, tag));
  EXPECT_TRUE(IfNoneMatchMatches("*", tag));
  EXPECT_FALSE(IfNoneMatchMatches("\"other\"", tag));
  EXPECT_FALSE(IfNoneMatchMatches("", tag));
}

TEST(HttpUtilTest, AcceptsGzip) {
  EXPECT_TRUE(AcceptsGzip("gzip"));
  EXPECT_TRUE(AcceptsGzip("br, GZIP;q=0.5"));
  EXPECT_TRUE(AcceptsGzip("*"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=0"));
  EXPECT_FALSE(AcceptsGzip("identity"));
  EXPECT_FALSE(AcceptsGzip(""));
  EXPECT_FALSE(AcceptsGzip("xgzip"));
}

TEST(HttpUtilTest, Ranges) {
  auto r = ParseRange("bytes=0-99", 1000);
  EXPECT_EQ(r.outcome, RangeOutcome::kSatisfiable);
  EXPECT_EQ(r.range.first, 0u);
  EXPECT_EQ(r.range.last, 99u);
  r = ParseRange("bytes=900-", 1000);
  EXPECT_EQ(r.range.first, 900u);
  EXPECT_EQ(r.range.last, 999u);
  r = ParseRange("bytes=-100", 1000);
  EXPECT_EQ(r.range.first, 900u);
  r = ParseRange("bytes=-5000", 1000);  // longer than the file: all of it
  EXPECT_EQ(r.range.first, 0u);
  r = ParseRange("bytes=500-5000", 1000);  // clamped
  EXPECT_EQ(r.range.last, 999u);
  EXPECT_EQ(ParseRange("bytes=1000-", 1000).outcome, RangeOutcome::kUnsatisfiable);
  EXPECT_EQ(ParseRange("bytes=5000-6000", 1000).outcome, RangeOutcome::kUnsatisfiable);
  EXPECT_EQ(ParseRange("bytes=-0", 1000).outcome, RangeOutcome::kUnsatisfiable);
  // Invalid or unsupported: ignored, the whole file is sent.
  EXPECT_EQ(ParseRange("bytes=5-1", 1000).outcome, RangeOutcome::kNone);
  EXPECT_EQ(ParseRange("items=0-1", 1000).outcome, RangeOutcome::kNone);
  EXPECT_EQ(ParseRange("bytes=a-b", 1000).outcome, RangeOutcome::kNone);
  EXPECT_EQ(ParseRange("bytes=0-1,5-6", 1000).outcome, RangeOutcome::kNone);
  EXPECT_EQ(ParseRange("bytes=99999999999999999999-", 1000).outcome, RangeOutcome::kNone);
}

TEST(HttpUtilTest, GzipRoundTrips) {
  std::string text;
  for (int i = 0; i < 200; ++i) text += "#EXTINF:2.000,\nseg_" + std::to_string(i) + ".ts\n";
  auto z = Gzip(text);
  ASSERT_TRUE(z.ok());
  EXPECT_LT(z->size(), text.size());
  EXPECT_EQ(static_cast<unsigned char>((*z)[0]), 0x1f);  // gzip magic
  EXPECT_EQ(static_cast<unsigned char>((*z)[1]), 0x8b);
  std::string out(text.size() + 16, '\0');
  z_stream zs{};
  ASSERT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
  zs.next_in = reinterpret_cast<Bytef*>(z->data());
  zs.avail_in = static_cast<uInt>(z->size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  inflateEnd(&zs);
  EXPECT_EQ(out, text);
}

TEST(HttpUtilTest, PercentDecodeAndQuery) {
  EXPECT_EQ(*PercentDecode("a%20b+c", true), "a b c");
  EXPECT_EQ(*PercentDecode("%2e%2E", false), "..");
  EXPECT_FALSE(PercentDecode("%2", false).has_value());
  EXPECT_FALSE(PercentDecode("%zz", false).has_value());
  EXPECT_EQ(*QueryParam("a=1&q=l%C5%A9+qu%C3%A9t", "q"), "lũ quét");
  EXPECT_FALSE(QueryParam("a=1", "b").has_value());
}

}  // namespace
}  // namespace newsreel::streaming
