#include "streaming/signed_url.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

namespace newsreel::streaming {
namespace {

constexpr int64_t kNow = 1'700'000'000;
constexpr char kVideo[] = "k3v7q2mzp4x5t6ab";
constexpr char kOther[] = "q2mzp4x5t6abk3v7";

SigningKey KeyOf(unsigned char first) {
  SigningKey key{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<unsigned char>(first + i);
  return key;
}

// What the server sees after "/media/": the prefix without it, plus a file.
std::string RestOf(const std::string& prefix, const std::string& file) {
  EXPECT_EQ(prefix.rfind("/media/", 0), 0u) << prefix;
  return prefix.substr(7) + file;
}

// The token segment of a prefix ("~s.<expires>.<hex>").
std::string TokenOf(const std::string& prefix) {
  const size_t start = prefix.find('~');
  return prefix.substr(start, prefix.size() - 1 - start);
}

std::string ReplaceToken(const std::string& rest, const std::string& token) {
  const size_t start = rest.find('~'), end = rest.find('/', start);
  return rest.substr(0, start) + token + rest.substr(end);
}

class SignedUrlTest : public ::testing::Test {
 protected:
  UrlSigner signer_{KeyOf(0)};
  const int64_t expires_ = kNow + 3600;
};

TEST_F(SignedUrlTest, PrefixHasTheDocumentedShape) {
  const std::string open = signer_.MediaPrefix(kVideo, expires_);
  EXPECT_TRUE(
      std::regex_match(open, std::regex("/media/k3v7q2mzp4x5t6ab/~s\\.1700003600\\.[0-9a-f]{64}/")))
      << open;
  const std::string bound = signer_.MediaPrefix(kVideo, expires_, "192.0.2.7");
  EXPECT_TRUE(std::regex_match(
      bound, std::regex("/media/k3v7q2mzp4x5t6ab/~a\\.1700003600\\.[0-9a-f]{64}/")))
      << bound;
  EXPECT_NE(TokenOf(open).substr(3), TokenOf(bound).substr(3));
}

// The signature is the documented HMAC: these vectors come from Python's hmac module
// (hmac.new(bytes(range(32)), message, hashlib.sha256).hexdigest()), not from this code.
TEST_F(SignedUrlTest, SignatureIsTheDocumentedHmac) {
  EXPECT_EQ(signer_.MediaPrefix(kVideo, 1'700'000'000),
            "/media/k3v7q2mzp4x5t6ab/~s.1700000000."
            "1738426f6a84dac99c4db2f955c3d24a49942f665c4d01ee190bcbb6680b5d51/");
  EXPECT_EQ(signer_.MediaPrefix(kVideo, 1'700'000'000, "192.0.2.7"),
            "/media/k3v7q2mzp4x5t6ab/~a.1700000000."
            "405b84eacf0d15511e922f678059e4d3f9c590512624a1c41848a0e0da216ccb/");
}

TEST_F(SignedUrlTest, ValidOnEveryFileBelowThePrefix) {
  const std::string prefix = signer_.MediaPrefix(kVideo, expires_);
  for (std::string file : {"master.m3u8", "720p/index.m3u8", "720p/seg_00001.ts", "poster.jpg",
                           "storyboard.jpg", "storyboard.vtt", "720p/iframes.m3u8"}) {
    SignedMediaCheck c = signer_.CheckMediaPath(RestOf(prefix, file), kNow, "127.0.0.1");
    EXPECT_EQ(c.verdict, SignatureVerdict::kValid) << file;
    EXPECT_EQ(c.unsigned_rest, std::string(kVideo) + "/" + file);
    EXPECT_EQ(c.expires_at_s, expires_);
  }
}

TEST_F(SignedUrlTest, ValidUntilItsLastSecondThenExpired) {
  const std::string rest = RestOf(signer_.MediaPrefix(kVideo, expires_), "master.m3u8");
  EXPECT_EQ(signer_.CheckMediaPath(rest, expires_, "").verdict, SignatureVerdict::kValid);
  SignedMediaCheck late = signer_.CheckMediaPath(rest, expires_ + 1, "");
  EXPECT_EQ(late.verdict, SignatureVerdict::kExpired);
  EXPECT_EQ(late.expires_at_s, expires_);
  EXPECT_EQ(late.unsigned_rest, std::string(kVideo) + "/master.m3u8");
  // Signed in the past: expired at once (an operator's --expires-at), and still authentic.
  const std::string old = RestOf(signer_.MediaPrefix(kVideo, kNow - 60), "master.m3u8");
  EXPECT_EQ(signer_.CheckMediaPath(old, kNow, "").verdict, SignatureVerdict::kExpired);
}

TEST_F(SignedUrlTest, TamperedSignatureIsForged) {
  const std::string rest = RestOf(signer_.MediaPrefix(kVideo, expires_), "720p/seg_00001.ts");
  const size_t sig = rest.rfind('.', rest.find('/', rest.find('~'))) + 1;
  for (size_t i : {size_t{0}, size_t{17}, size_t{63}}) {
    std::string tampered = rest;
    tampered[sig + i] = tampered[sig + i] == '0' ? '1' : '0';
    EXPECT_EQ(signer_.CheckMediaPath(tampered, kNow, "").verdict, SignatureVerdict::kForged) << i;
  }
}

TEST_F(SignedUrlTest, TamperedExpiryIsForgedEvenWhenExpired) {
  const std::string rest = RestOf(signer_.MediaPrefix(kVideo, expires_), "master.m3u8");
  std::string later = rest;
  later.replace(later.find("1700003600"), 10, "1700099999");
  EXPECT_EQ(signer_.CheckMediaPath(later, kNow, "").verdict, SignatureVerdict::kForged);
  // An expired URL whose expiry was pushed forward does not come back to life, and one pushed
  // back is not told apart from a forgery: only an authentic URL hears that it expired.
  std::string earlier = rest;
  earlier.replace(earlier.find("1700003600"), 10, "1600000000");
  EXPECT_EQ(signer_.CheckMediaPath(earlier, kNow, "").verdict, SignatureVerdict::kForged);
}

TEST_F(SignedUrlTest, AnotherVideosPathIsForged) {
  const std::string token = TokenOf(signer_.MediaPrefix(kVideo, expires_));
  const std::string other = std::string(kOther) + "/" + token + "/master.m3u8";
  EXPECT_EQ(signer_.CheckMediaPath(other, kNow, "").verdict, SignatureVerdict::kForged);
}

TEST_F(SignedUrlTest, AnotherKeyIsForged) {
  const std::string rest = RestOf(UrlSigner(KeyOf(1)).MediaPrefix(kVideo, expires_), "master.m3u8");
  EXPECT_EQ(signer_.CheckMediaPath(rest, kNow, "").verdict, SignatureVerdict::kForged);
}

TEST_F(SignedUrlTest, BoundUrlOnlyFromItsAddress) {
  const std::string rest =
      RestOf(signer_.MediaPrefix(kVideo, expires_, "127.0.0.2"), "720p/index.m3u8");
  EXPECT_EQ(signer_.CheckMediaPath(rest, kNow, "127.0.0.2").verdict, SignatureVerdict::kValid);
  EXPECT_EQ(signer_.CheckMediaPath(rest, kNow, "127.0.0.1").verdict, SignatureVerdict::kForged);
  EXPECT_EQ(signer_.CheckMediaPath(rest, kNow, "").verdict, SignatureVerdict::kForged);
  // Expired and from the wrong address: forged (nothing is told about it).
  EXPECT_EQ(signer_.CheckMediaPath(rest, expires_ + 1, "127.0.0.1").verdict,
            SignatureVerdict::kForged);
  EXPECT_EQ(signer_.CheckMediaPath(rest, expires_ + 1, "127.0.0.2").verdict,
            SignatureVerdict::kExpired);

  const std::string v6 = RestOf(signer_.MediaPrefix(kVideo, expires_, "2001:db8::1"), "poster.jpg");
  EXPECT_EQ(signer_.CheckMediaPath(v6, kNow, "2001:db8::1").verdict, SignatureVerdict::kValid);
  EXPECT_EQ(signer_.CheckMediaPath(v6, kNow, "2001:db8::2").verdict, SignatureVerdict::kForged);
}

TEST_F(SignedUrlTest, SwitchingTheModeIsForged) {
  const std::string bound =
      RestOf(signer_.MediaPrefix(kVideo, expires_, "127.0.0.1"), "master.m3u8");
  std::string unbound = bound;
  unbound[unbound.find("~a.") + 1] = 's';
  EXPECT_EQ(signer_.CheckMediaPath(unbound, kNow, "127.0.0.1").verdict, SignatureVerdict::kForged);

  const std::string open = RestOf(signer_.MediaPrefix(kVideo, expires_), "master.m3u8");
  std::string rebound = open;
  rebound[rebound.find("~s.") + 1] = 'a';
  EXPECT_EQ(signer_.CheckMediaPath(rebound, kNow, "127.0.0.1").verdict, SignatureVerdict::kForged);
}

TEST_F(SignedUrlTest, MalformedTokensAreRefused) {
  const std::string good = RestOf(signer_.MediaPrefix(kVideo, expires_), "master.m3u8");
  const std::string hex = good.substr(good.rfind('.', good.rfind('/')) + 1, 64);
  std::string upper = hex;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string non_hex = hex;
  non_hex[10] = 'g';
  const std::vector<std::string> tokens = {
      "~",
      "~s",
      "~s.",
      "~s.1700003600",
      "~s.1700003600.",
      "~s..",
      "~s.." + hex,
      "~x.1700003600." + hex,                // unknown mode
      "~S.1700003600." + hex,                // mode in upper case
      "~s.-1700003600." + hex,               // sign
      "~s.+1700003600." + hex,               //
      "~s. 1700003600." + hex,               // space
      "~s.01700003600." + hex,               // leading zero: not the signed text
      "~s.17000036OO." + hex,                // letters in the number
      "~s.99999999999999999999." + hex,      // overflows int64
      "~s.9223372036854775808." + hex,       // INT64_MAX + 1
      "~s.1000000000000000000." + hex,       // 19 digits
      "~s.1700003600." + hex.substr(0, 63),  // short
      "~s.1700003600." + hex + "0",          // long
      "~s.1700003600." + upper,              // not the canonical hex
      "~s.1700003600." + non_hex,            //
      "~s.1700003600." + hex + ".extra",     //
      "~s.1700003600.." + hex,               //
      "~s:1700003600:" + hex,                // other separators
  };
  for (const std::string& token : tokens) {
    SignedMediaCheck c = signer_.CheckMediaPath(ReplaceToken(good, token), kNow, "127.0.0.1");
    EXPECT_EQ(c.verdict, SignatureVerdict::kMalformed) << token;
    EXPECT_EQ(c.unsigned_rest, std::string(kVideo) + "/master.m3u8") << token;
  }
  // A token after something that is not a video id.
  const std::string token = TokenOf(signer_.MediaPrefix(kVideo, expires_));
  EXPECT_EQ(signer_.CheckMediaPath("-bad/" + token + "/master.m3u8", kNow, "").verdict,
            SignatureVerdict::kMalformed);
  EXPECT_EQ(signer_.CheckMediaPath("/" + token + "/master.m3u8", kNow, "").verdict,
            SignatureVerdict::kMalformed);
}

TEST_F(SignedUrlTest, PathsWithoutATokenAreUnsigned) {
  const std::string token = TokenOf(signer_.MediaPrefix(kVideo, expires_));
  for (std::string rest :
       {std::string(kVideo) + "/master.m3u8", std::string(kVideo), std::string(kVideo) + "/",
        std::string(kVideo) + "/720p/" + token + "/seg_00001.ts", token + "/" + kVideo + "/x",
        std::string()}) {
    SignedMediaCheck c = signer_.CheckMediaPath(rest, kNow, "");
    EXPECT_EQ(c.verdict, SignatureVerdict::kUnsigned) << rest;
    EXPECT_EQ(c.unsigned_rest, rest);
  }
}

TEST_F(SignedUrlTest, SignatureWithNothingAfterItLeavesNoFile) {
  // Authentic, but names no file: what remains is "<id>", which ParseMediaPath refuses.
  std::string rest = RestOf(signer_.MediaPrefix(kVideo, expires_), "");
  rest.pop_back();  // no trailing '/'
  SignedMediaCheck c = signer_.CheckMediaPath(rest, kNow, "");
  EXPECT_EQ(c.verdict, SignatureVerdict::kValid);
  EXPECT_EQ(c.unsigned_rest, kVideo);
}

TEST(CanonicalAddressTest, WritesEachAddressOneWay) {
  EXPECT_EQ(CanonicalAddress("127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(CanonicalAddress("::ffff:127.0.0.2"), "127.0.0.2");
  EXPECT_EQ(CanonicalAddress("2001:DB8:0:0:0:0:0:1"), "2001:db8::1");
  EXPECT_EQ(CanonicalAddress("::1"), "::1");
  for (const char* bad : {"", "localhost", "127.1", "1.2.3.4.5", "256.0.0.1", "::g", " 1.2.3.4",
                          "1.2.3.4 ", "fe80::1%eth0"})
    EXPECT_EQ(CanonicalAddress(bad), std::nullopt) << bad;
}

TEST(SignedCacheControlTest, PrivateAndNeverPastTheExpiry) {
  EXPECT_EQ(SignedCacheControl("public, max-age=31536000, immutable", 3600),
            "private, max-age=3600");
  EXPECT_EQ(SignedCacheControl("public, max-age=300", 21600), "private, max-age=300");
  EXPECT_EQ(SignedCacheControl("public, max-age=300", 0), "private, max-age=0");
  EXPECT_EQ(SignedCacheControl("public, max-age=300", -5), "private, max-age=0");
  EXPECT_EQ(SignedCacheControl("no-cache", 600), "private, max-age=0");
}

TEST(PlaybackExpiryTest, AtLeastTheLifetimeRoundedToFiveMinutes) {
  for (int64_t now : {kNow, kNow + 1, kNow + 299, kNow + 300}) {
    const int64_t at = PlaybackExpiry(now, 21600);
    EXPECT_EQ(at % 300, 0) << now;
    EXPECT_GE(at, now + 21600) << now;
    EXPECT_LT(at, now + 21600 + 300) << now;
  }
  // Within one five-minute step the URLs handed out are the same.
  const int64_t step = kNow / 300 * 300;
  EXPECT_EQ(PlaybackExpiry(step + 1, 600), PlaybackExpiry(step + 299, 600));
  EXPECT_NE(PlaybackExpiry(step, 600), PlaybackExpiry(step + 1, 600));
}

}  // namespace
}  // namespace newsreel::streaming
