// Signing in: cookies, Bearer tokens and sessions against a real catalog, and the throttle on
// failed sign-ins with an injected clock.
#include "streaming/internal/accounts.h"

#include <gtest/gtest.h>

#include <thread>

#include "catalog/catalog.h"

namespace newsreel::streaming {
namespace {

using namespace std::chrono_literals;

TEST(CookieTest, FindsTheSessionAmongOthers) {
  EXPECT_EQ(CookieValue("a=1; newsreel_session=nrt_abc; b=2", kSessionCookie), "nrt_abc");
  EXPECT_EQ(CookieValue("newsreel_session=x", kSessionCookie), "x");
  EXPECT_EQ(CookieValue("  newsreel_session = y ;", kSessionCookie), "y");
  EXPECT_EQ(CookieValue("xnewsreel_session=z", kSessionCookie), "");
  EXPECT_EQ(CookieValue("", kSessionCookie), "");
  EXPECT_EQ(CookieValue(";;;=;", kSessionCookie), "");
}

TEST(CookieTest, SessionCookieIsHttpOnlyLaxAndSecureUnderTls) {
  const std::string plain = SessionCookie("nrt_s", false);
  EXPECT_NE(plain.find("newsreel_session=nrt_s;"), std::string::npos);
  EXPECT_NE(plain.find("HttpOnly"), std::string::npos);
  EXPECT_NE(plain.find("SameSite=Lax"), std::string::npos);
  EXPECT_EQ(plain.find("Secure"), std::string::npos);
  EXPECT_NE(SessionCookie("nrt_s", true).find("; Secure"), std::string::npos);
  EXPECT_NE(ClearedSessionCookie(false).find("Max-Age=0"), std::string::npos);
}

class AuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cat = catalog::Catalog::Open(":memory:");
    ASSERT_TRUE(cat.ok()) << cat.status().message();
    catalog_ = std::move(cat).value();
    auto user = catalog_->users().CreateUser("lan", "Nguyễn Lan", catalog::Role::kReporter);
    ASSERT_TRUE(user.ok());
    user_ = *user;
  }
  catalog::UserRepository& users() { return catalog_->users(); }

  std::unique_ptr<catalog::Catalog> catalog_;
  catalog::User user_;
  Authenticator auth_{0ms};  // no caching: every call reads the catalog
};

TEST_F(AuthenticatorTest, NoCredentialsIsAnonymous) {
  auto id = auth_.Identify(users(), "", "", "10.0.0.1");
  ASSERT_TRUE(id.ok());
  EXPECT_TRUE(id->caller.anonymous);
  EXPECT_FALSE(id->caller.user.has_value());
  EXPECT_EQ(id->caller.address, "10.0.0.1");
}

TEST_F(AuthenticatorTest, BearerTokenIdentifiesItsUser) {
  auto issued = users().IssueToken(user_.id, "phone");
  ASSERT_TRUE(issued.ok());
  auto id = auth_.Identify(users(), "Bearer " + issued->secret, "", "10.0.0.1");
  ASSERT_TRUE(id.ok()) << id.status().message();
  EXPECT_FALSE(id->caller.anonymous);
  EXPECT_EQ(id->caller.user->name, "lan");
  EXPECT_EQ(id->caller.role, catalog::Role::kReporter);
  EXPECT_FALSE(id->caller.via_cookie);
  EXPECT_EQ(id->touch_token, issued->token.id);  // never used: stamp it
  // Scheme names are case-insensitive.
  EXPECT_TRUE(auth_.Identify(users(), "bearer " + issued->secret, "", "").ok());
}

TEST_F(AuthenticatorTest, BadBearerTokensAreRefusedNotAnonymous) {
  auto issued = users().IssueToken(user_.id, "old", catalog::SystemNowMs() - 1);
  ASSERT_TRUE(issued.ok());
  for (const std::string header :
       {std::string("Bearer nrt_nosuchtoken"), "Bearer " + issued->secret,
        std::string("Basic Zm9v"), std::string("Bearer"), std::string("Bearer ")}) {
    auto id = auth_.Identify(users(), header, "", "");
    EXPECT_FALSE(id.ok()) << header;
    EXPECT_TRUE(id.status().code() == ErrorCode::kNotFound ||
                id.status().code() == ErrorCode::kInvalidArgument)
        << header;
  }
}

TEST_F(AuthenticatorTest, SessionCookieWorksOnlyAsACookie) {
  auto session =
      users().IssueToken(user_.id, "browser", std::nullopt, catalog::TokenKind::kSession);
  ASSERT_TRUE(session.ok());
  auto id = auth_.Identify(users(), "", "newsreel_session=" + session->secret, "");
  ASSERT_TRUE(id.ok());
  EXPECT_TRUE(id->caller.via_cookie);
  EXPECT_EQ(id->caller.token_id, session->token.id);
  // A session secret is not an API token, and an API token is not a session.
  EXPECT_FALSE(auth_.Identify(users(), "Bearer " + session->secret, "", "").ok());
  auto api = users().IssueToken(user_.id, "script");
  auto as_cookie = auth_.Identify(users(), "", "newsreel_session=" + api->secret, "");
  ASSERT_TRUE(as_cookie.ok());
  EXPECT_TRUE(as_cookie->caller.anonymous);
}

TEST_F(AuthenticatorTest, StaleCookieLeavesTheCallerAnonymous) {
  auto session =
      users().IssueToken(user_.id, "browser", std::nullopt, catalog::TokenKind::kSession);
  ASSERT_TRUE(users().RevokeToken(session->token.id).ok());
  auto id = auth_.Identify(users(), "", "newsreel_session=" + session->secret, "");
  ASSERT_TRUE(id.ok());
  EXPECT_TRUE(id->caller.anonymous);
  EXPECT_FALSE(id->caller.via_cookie);
}

TEST_F(AuthenticatorTest, DisabledAccountIsRefused) {
  auto issued = users().IssueToken(user_.id, "phone");
  ASSERT_TRUE(users().SetDisabled(user_.id, true).ok());
  EXPECT_FALSE(auth_.Identify(users(), "Bearer " + issued->secret, "", "").ok());
}

TEST_F(AuthenticatorTest, CachedTokensAreForgottenOnRevocation) {
  Authenticator cached(1h);
  auto issued = users().IssueToken(user_.id, "phone");
  ASSERT_TRUE(cached.Identify(users(), "Bearer " + issued->secret, "", "").ok());
  ASSERT_TRUE(users().RevokeToken(issued->token.id).ok());
  // Within the cache's time the revocation from another process is not seen yet...
  EXPECT_TRUE(cached.Identify(users(), "Bearer " + issued->secret, "", "").ok());
  // ...this server's own revocation is, at once.
  cached.ForgetToken(issued->token.id);
  EXPECT_FALSE(cached.Identify(users(), "Bearer " + issued->secret, "", "").ok());
}

TEST_F(AuthenticatorTest, CachedTokensHonourTheirExpiry) {
  Authenticator cached(1h);
  auto issued = users().IssueToken(user_.id, "soon", catalog::SystemNowMs() + 150);
  ASSERT_TRUE(cached.Identify(users(), "Bearer " + issued->secret, "", "").ok());
  while (catalog::SystemNowMs() <= *issued->token.expires_at_ms) std::this_thread::yield();
  EXPECT_FALSE(cached.Identify(users(), "Bearer " + issued->secret, "", "").ok());
}

class ThrottleTest : public ::testing::Test {
 protected:
  std::chrono::steady_clock::time_point now_ = std::chrono::steady_clock::time_point() + 1h;
  LoginThrottle throttle_{3, 5, std::chrono::seconds(60), [this] { return now_; }};
};

TEST_F(ThrottleTest, AnAccountIsLockedAfterItsFailuresUntilTheyAge) {
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(throttle_.RetryAfterSeconds("lan", "10.0.0.1"), 0);
    throttle_.Failed("lan", "10.0.0.1");
    now_ += 10s;
  }
  // Three failures at t=0, 10, 20; now t=30: the first leaves the window at t=60.
  EXPECT_EQ(throttle_.RetryAfterSeconds("lan", "10.0.0.2"), 30);
  EXPECT_EQ(throttle_.RetryAfterSeconds("LAN", "10.0.0.3"), 30);  // names ignore case
  EXPECT_EQ(throttle_.RetryAfterSeconds("other", "10.0.0.2"), 0);
  now_ += 30s;
  EXPECT_EQ(throttle_.RetryAfterSeconds("lan", "10.0.0.2"), 0);
}

TEST_F(ThrottleTest, AnAddressIsLockedAcrossAccounts) {
  for (int i = 0; i < 5; ++i) throttle_.Failed("user" + std::to_string(i), "10.0.0.9");
  EXPECT_GT(throttle_.RetryAfterSeconds("someone-else", "10.0.0.9"), 0);
  EXPECT_EQ(throttle_.RetryAfterSeconds("someone-else", "10.0.0.8"), 0);
}

TEST_F(ThrottleTest, SuccessClearsTheAccountButNotTheAddress) {
  for (int i = 0; i < 3; ++i) throttle_.Failed("lan", "10.0.0.1");
  EXPECT_GT(throttle_.RetryAfterSeconds("lan", "10.0.0.7"), 0);
  throttle_.Succeeded("lan");
  EXPECT_EQ(throttle_.RetryAfterSeconds("lan", "10.0.0.7"), 0);
}

}  // namespace
}  // namespace newsreel::streaming
