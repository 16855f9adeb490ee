#include "streaming/internal/share_meta.h"

#include <gtest/gtest.h>

#include "streaming/internal/http_util.h"

namespace newsreel::streaming {
namespace {

ShareFacts Hostile() {
  ShareFacts v;
  v.id = "k3v7q2mzp4x5t6ab";
  v.title = "\"><script>alert(1)</script> Lũ & 'lở'";
  v.description = "<img src=x onerror=alert(2)>";
  v.reporter = "Minh <b>";
  v.poster = "poster.jpg";
  v.poster_width = 1280;
  v.poster_height = 720;
  v.width = 1920;
  v.height = 1080;
  return v;
}

TEST(ShareMetaTest, HtmlEscapeLeavesNoMarkup) {
  EXPECT_EQ(HtmlEscape("\"><script>alert(1)</script>"),
            "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;");
  EXPECT_EQ(HtmlEscape("a & 'b'"), "a &amp; &#39;b&#39;");
  EXPECT_EQ(HtmlEscape("Lũ quét ở Sơn La"), "Lũ quét ở Sơn La");
}

TEST(ShareMetaTest, TagsNameThePosterTheTitleAndThePlayer) {
  const std::string tags = WatchPageTags(Hostile(), "https://news.example.vn");
  const std::string title = "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt; Lũ &amp; &#39;lở&#39;";
  EXPECT_NE(tags.find("<meta property=\"og:type\" content=\"video.other\">"), std::string::npos);
  EXPECT_NE(tags.find("<meta property=\"og:title\" content=\"" + title + "\">"), std::string::npos)
      << tags;
  EXPECT_NE(tags.find("<meta property=\"og:image\" content=\"https://news.example.vn/media/"
                      "k3v7q2mzp4x5t6ab/poster.jpg\">"),
            std::string::npos);
  EXPECT_NE(tags.find("<meta property=\"og:image:width\" content=\"1280\">"), std::string::npos);
  EXPECT_NE(tags.find("<meta property=\"og:image:height\" content=\"720\">"), std::string::npos);
  EXPECT_NE(tags.find("<meta property=\"og:video\" content=\"https://news.example.vn/embed/"
                      "k3v7q2mzp4x5t6ab\">"),
            std::string::npos);
  EXPECT_NE(tags.find("og:video:secure_url"), std::string::npos);
  EXPECT_NE(tags.find("<meta property=\"og:video:type\" content=\"text/html\">"),
            std::string::npos);
  EXPECT_NE(tags.find("<meta property=\"og:url\" content=\"https://news.example.vn/watch.html?id="
                      "k3v7q2mzp4x5t6ab\">"),
            std::string::npos);
  EXPECT_NE(tags.find("<meta name=\"twitter:card\" content=\"player\">"), std::string::npos);
  EXPECT_NE(tags.find("<link rel=\"alternate\" type=\"application/json+oembed\" "
                      "href=\"https://news.example.vn/api/v1/oembed?format=json&amp;url=https%3A%"
                      "2F%2Fnews.example.vn%2Fwatch.html%3Fid%3Dk3v7q2mzp4x5t6ab\""),
            std::string::npos)
      << tags;
  // Nothing a stranger wrote comes out as markup.
  EXPECT_EQ(tags.find("<script"), std::string::npos);
  EXPECT_EQ(tags.find("<img"), std::string::npos);
  EXPECT_EQ(tags.find("'"), std::string::npos);
}

TEST(ShareMetaTest, PlainHttpHasNoSecureUrlsAndNoBaseNoAbsoluteTags) {
  const std::string plain = WatchPageTags(Hostile(), "http://127.0.0.1:8080");
  EXPECT_EQ(plain.find("secure_url"), std::string::npos);
  EXPECT_NE(plain.find("http://127.0.0.1:8080/embed/k3v7q2mzp4x5t6ab"), std::string::npos);
  const std::string bare = WatchPageTags(Hostile(), "");
  EXPECT_NE(bare.find("og:title"), std::string::npos);
  EXPECT_EQ(bare.find("og:image"), std::string::npos);
  EXPECT_EQ(bare.find("og:video"), std::string::npos);
  EXPECT_EQ(bare.find("oembed"), std::string::npos);
  EXPECT_EQ(bare.find("://"), std::string::npos);
}

TEST(ShareMetaTest, TagsGoIntoTheHead) {
  EXPECT_EQ(InsertIntoHead("<html><head><title>x</title></head><body></body></html>", "<T>"),
            "<html><head><title>x</title><T></head><body></body></html>");
  EXPECT_EQ(InsertIntoHead("<HEAD></HEAD>", "<T>"), "<HEAD><T></HEAD>");
  EXPECT_EQ(InsertIntoHead("<p>no head</p>", "<T>"), "<p>no head</p>");
}

TEST(ShareMetaTest, HostsAreCheckedBeforeTheyBecomeUrls) {
  for (const char* good : {"news.example.vn", "127.0.0.1:8080", "localhost", "[::1]:8443",
                           "[2001:db8::1]", "a-b.c:1", "x:65535"})
    EXPECT_TRUE(IsValidHost(good)) << good;
  for (const char* bad :
       {"", "evil.example/x", "a b", "host:0", "host:65536", "host:", "host:80x", "\"><script>",
        "-a.example", "a..b", "user@host", "[::1", "[zz]", "host\r\nX: y", "[::1]x", "a.b:8:9"})
    EXPECT_FALSE(IsValidHost(bad)) << bad;
}

TEST(ShareMetaTest, TheSiteIsThePublicUrlOrAValidHost) {
  EXPECT_EQ(SiteBase({"https://news.example.vn", false}, "evil.example"),
            "https://news.example.vn");
  EXPECT_EQ(SiteBase({"", false}, "127.0.0.1:8080"), "http://127.0.0.1:8080");
  EXPECT_EQ(SiteBase({"", true}, "news.example.vn"), "https://news.example.vn");
  EXPECT_EQ(SiteBase({"", false}, "bad host\"><"), std::nullopt);
  EXPECT_EQ(SiteBase({"", false}, ""), std::nullopt);
}

TEST(ShareMetaTest, PublicUrlsAreCheckedAtStart) {
  EXPECT_EQ(*ParsePublicUrl("https://news.example.vn/"), "https://news.example.vn");
  EXPECT_EQ(*ParsePublicUrl("http://10.0.0.5:8080/tv"), "http://10.0.0.5:8080/tv");
  for (const char* bad : {"news.example.vn", "ftp://news.example.vn", "https://", "https://a b",
                          "https://news.example.vn/?q=1", "https://news.example.vn/#x",
                          "https://u@news.example.vn", "https://news.example.vn/\"x"})
    EXPECT_FALSE(ParsePublicUrl(bad).ok()) << bad;
}

TEST(ShareMetaTest, OembedSizeKeepsTheAspectWithinTheBounds) {
  auto is = [](FrameSize s, int w, int h) { return s.width == w && s.height == h; };
  EXPECT_TRUE(is(OembedSize(1920, 1080, 0, 0), 640, 360));
  EXPECT_TRUE(is(OembedSize(320, 180, 0, 0), 320, 180)) << "never larger than the video";
  EXPECT_TRUE(is(OembedSize(1080, 1920, 0, 0), 360, 640)) << "portrait stays portrait";
  EXPECT_TRUE(is(OembedSize(0, 0, 0, 0), 640, 360)) << "16:9 when unknown";
  EXPECT_TRUE(is(OembedSize(1920, 1080, 300, 0), 300, 168));
  EXPECT_TRUE(is(OembedSize(1920, 1080, 0, 100), 177, 100));
  EXPECT_TRUE(is(OembedSize(1920, 1080, 400, 400), 400, 225));
  EXPECT_TRUE(is(OembedSize(1920, 1080, 2000, 2000), 640, 360)) << "a large bound does not grow it";
  EXPECT_TRUE(is(OembedSize(1920, 1080, 1, 1), 1, 1));
  for (int max_width : {1, 7, 99, 333, 639, 640, 1000}) {
    for (int max_height : {0, 1, 50, 359, 720}) {
      FrameSize s = OembedSize(1280, 720, max_width, max_height);
      EXPECT_LE(s.width, max_width);
      if (max_height) {
        EXPECT_LE(s.height, max_height);
      }
      EXPECT_GE(s.width, 1);
      EXPECT_GE(s.height, 1);
    }
  }
}

TEST(ShareMetaTest, OnlyThisSitesWatchAndEmbedUrlsNameAVideo) {
  const std::string base = "https://news.example.vn";
  EXPECT_EQ(VideoIdOfUrl(base + "/watch.html?id=k3v7q2mzp4x5t6ab", base), "k3v7q2mzp4x5t6ab");
  EXPECT_EQ(VideoIdOfUrl(base + "/watch.html?t=12&id=k3v7q2mzp4x5t6ab#x", base),
            "k3v7q2mzp4x5t6ab");
  EXPECT_EQ(VideoIdOfUrl(base + "/embed/k3v7q2mzp4x5t6ab", base), "k3v7q2mzp4x5t6ab");
  EXPECT_EQ(VideoIdOfUrl(base + "/embed/k3v7q2mzp4x5t6ab?autoplay=1", base), "k3v7q2mzp4x5t6ab");
  EXPECT_EQ(VideoIdOfUrl("HTTPS://NEWS.example.vn/embed/k3v7q2mzp4x5t6ab", base),
            "k3v7q2mzp4x5t6ab");
  for (const std::string& bad : std::vector<std::string>{
           "https://evil.example/embed/k3v7q2mzp4x5t6ab",
           "https://news.example.vn.evil.example/embed/k3v7q2mzp4x5t6ab",
           "http://news.example.vn/embed/k3v7q2mzp4x5t6ab", base + "/embed/", base + "/embed/a/b",
           base + "/embed/..%2F..%2Fetc", base + "/watch.html?id=", base + "/watch.html",
           base + "/index.html?id=k3v7q2mzp4x5t6ab", base + "/media/k3v7q2mzp4x5t6ab/poster.jpg",
           base + "/watch.html?id=%3Cscript%3E", ""})
    EXPECT_EQ(VideoIdOfUrl(bad, base), std::nullopt) << bad;
  EXPECT_EQ(VideoIdOfUrl(base + "/embed/k3v7q2mzp4x5t6ab", ""), std::nullopt);
}

TEST(ShareMetaTest, OembedIsAVideoWithAnEscapedIframe) {
  const ShareFacts v = Hostile();
  nlohmann::json j =
      OembedJson(v, "https://news.example.vn", OembedSize(v.width, v.height, 480, 0));
  EXPECT_EQ(j["type"], "video");
  EXPECT_EQ(j["version"], "1.0");
  EXPECT_EQ(j["title"], v.title);
  EXPECT_EQ(j["author_name"], "Minh <b>");
  EXPECT_EQ(j["provider_name"], "Newsreel");
  EXPECT_EQ(j["width"], 480);
  EXPECT_EQ(j["height"], 270);
  EXPECT_EQ(j["thumbnail_url"], "https://news.example.vn/media/k3v7q2mzp4x5t6ab/poster.jpg");
  EXPECT_EQ(j["thumbnail_width"], 1280);
  EXPECT_EQ(j["thumbnail_height"], 720);
  const std::string html = j["html"];
  EXPECT_TRUE(
      html.starts_with("<iframe src=\"https://news.example.vn/embed/k3v7q2mzp4x5t6ab\" "
                       "width=\"480\" height=\"270\""))
      << html;
  EXPECT_TRUE(html.ends_with("></iframe>"));
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("title=\"&quot;&gt;&lt;script&gt;"), std::string::npos) << html;

  ShareFacts no_poster = v;
  no_poster.poster.clear();
  no_poster.reporter.clear();
  nlohmann::json bare = OembedJson(no_poster, "https://news.example.vn", FrameSize{640, 360});
  EXPECT_FALSE(bare.contains("thumbnail_url"));
  EXPECT_FALSE(bare.contains("author_name"));
}

TEST(ShareMetaTest, RenderedPagesGetAnEtagOfTheirBytes) {
  EXPECT_EQ(ContentEtag("a"), ContentEtag("a"));
  EXPECT_NE(ContentEtag("a"), ContentEtag("b"));
  EXPECT_TRUE(IfNoneMatchMatches(ContentEtag("page"), ContentEtag("page")));
  EXPECT_EQ(ContentEtag("").size(), 2 + 2 + 32u);  // quotes, "b-", 128 bits in hex
}

}  // namespace
}  // namespace newsreel::streaming
