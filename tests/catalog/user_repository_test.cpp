#include "catalog/user_repository.h"

#include <gtest/gtest.h>

#include <SQLiteCpp/Database.h>

#include <fstream>
#include <iterator>

#include "tests/catalog/test_util.h"

namespace newsreel::catalog {
namespace {

using testing::CatalogTest;

class UserRepositoryTest : public CatalogTest {
 protected:
  UserRepository& users() { return catalog_->users(); }
};

TEST_F(UserRepositoryTest, CreateGetListUsers) {
  NR_ASSERT_OK_AND_ASSIGN(User u,
                          users().CreateUser("an.nguyen", "Nguyễn Văn An", Role::kReporter));
  EXPECT_GT(u.id, 0);
  EXPECT_EQ(u.display_name, "Nguyễn Văn An");
  EXPECT_EQ(u.role, Role::kReporter);
  EXPECT_FALSE(u.disabled);
  NR_ASSERT_OK_AND_ASSIGN(User by_id, users().GetUser(u.id));
  EXPECT_EQ(by_id, u);
  NR_ASSERT_OK_AND_ASSIGN(User by_name, users().GetUserByName("AN.NGUYEN"));
  EXPECT_EQ(by_name, u);
  NR_ASSERT_OK(users().CreateUser("admin", "", Role::kAdmin));
  NR_ASSERT_OK_AND_ASSIGN(std::vector<User> all, users().ListUsers());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "admin");
}

TEST_F(UserRepositoryTest, NamesAreUniqueIgnoringCaseAndValidated) {
  NR_ASSERT_OK(users().CreateUser("bich", "", Role::kEditor));
  NR_EXPECT_CODE(users().CreateUser("BICH", "", Role::kEditor), ErrorCode::kAlreadyExists);
  NR_EXPECT_CODE(users().CreateUser("", "", Role::kEditor), ErrorCode::kInvalidArgument);
  NR_EXPECT_CODE(users().CreateUser("bích", "", Role::kEditor), ErrorCode::kInvalidArgument);
  NR_EXPECT_CODE(users().CreateUser("a b", "", Role::kEditor), ErrorCode::kInvalidArgument);
}

TEST_F(UserRepositoryTest, RoleAndDisable) {
  NR_ASSERT_OK_AND_ASSIGN(User u, users().CreateUser("nam", "", Role::kViewer));
  NR_ASSERT_OK_AND_ASSIGN(User promoted, users().SetRole(u.id, Role::kEditor));
  EXPECT_EQ(promoted.role, Role::kEditor);
  NR_ASSERT_OK_AND_ASSIGN(User disabled, users().SetDisabled(u.id, true));
  EXPECT_TRUE(disabled.disabled);
  NR_EXPECT_CODE(users().SetRole(999, Role::kAdmin), ErrorCode::kNotFound);
}

TEST_F(UserRepositoryTest, TokensAuthenticateAndOnlyTheirHashIsStored) {
  NR_ASSERT_OK_AND_ASSIGN(User u, users().CreateUser("duc", "Phạm Minh Đức", Role::kReporter));
  NR_ASSERT_OK_AND_ASSIGN(IssuedToken issued, users().IssueToken(u.id, "điện thoại"));
  EXPECT_EQ(issued.secret.rfind("nrt_", 0), 0u);
  EXPECT_EQ(issued.secret.size(), 4u + 52u);
  NR_ASSERT_OK_AND_ASSIGN(Authenticated who, users().Authenticate(issued.secret));
  EXPECT_EQ(who.user, u);
  EXPECT_EQ(who.token.id, issued.token.id);
  EXPECT_EQ(who.token.label, "điện thoại");

  // The stored hash is a SHA-256, and neither the database nor its WAL holds the secret.
  SQLite::Database raw(db_path(), SQLite::OPEN_READONLY);
  EXPECT_EQ(raw.execAndGet("SELECT length(hash) FROM tokens").getInt(), 32);
  for (const std::string& file : {db_path(), db_path() + "-wal"}) {
    std::ifstream in(file, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(bytes.find(issued.secret.substr(4)), std::string::npos) << file;
  }
}

TEST_F(UserRepositoryTest, UnknownRevokedAndExpiredTokensAreRefused) {
  NR_ASSERT_OK_AND_ASSIGN(User u, users().CreateUser("ha", "", Role::kReporter));
  NR_EXPECT_CODE(users().Authenticate("nrt_nothinglikeit"), ErrorCode::kNotFound);
  NR_EXPECT_CODE(users().Authenticate(""), ErrorCode::kNotFound);
  NR_EXPECT_CODE(users().Authenticate("Bearer x"), ErrorCode::kNotFound);

  NR_ASSERT_OK_AND_ASSIGN(IssuedToken revoked, users().IssueToken(u.id, "cũ"));
  NR_ASSERT_OK(users().RevokeToken(revoked.token.id));
  NR_ASSERT_OK(users().RevokeToken(revoked.token.id));  // twice is fine
  NR_EXPECT_CODE(users().Authenticate(revoked.secret), ErrorCode::kNotFound);
  NR_EXPECT_CODE(users().RevokeToken(999), ErrorCode::kNotFound);

  NR_ASSERT_OK_AND_ASSIGN(IssuedToken expiring,
                          users().IssueToken(u.id, "một giờ", clock_.now() + 3'600'000));
  NR_EXPECT_OK(users().Authenticate(expiring.secret));
  clock_.Advance(3'600'000);
  NR_EXPECT_CODE(users().Authenticate(expiring.secret), ErrorCode::kNotFound);
}

TEST_F(UserRepositoryTest, ADisabledUsersTokensStopWorking) {
  NR_ASSERT_OK_AND_ASSIGN(User u, users().CreateUser("tam", "", Role::kReporter));
  NR_ASSERT_OK_AND_ASSIGN(IssuedToken t, users().IssueToken(u.id, ""));
  NR_ASSERT_OK(users().SetDisabled(u.id, true));
  NR_EXPECT_CODE(users().Authenticate(t.secret), ErrorCode::kFailedPrecondition);
  NR_ASSERT_OK(users().SetDisabled(u.id, false));
  NR_EXPECT_OK(users().Authenticate(t.secret));
}

TEST_F(UserRepositoryTest, LastUsedIsStampedAtMostOncePerMinute) {
  NR_ASSERT_OK_AND_ASSIGN(User u, users().CreateUser("lan", "", Role::kViewer));
  NR_ASSERT_OK_AND_ASSIGN(IssuedToken t, users().IssueToken(u.id, ""));
  const int64_t first = clock_.now();
  NR_ASSERT_OK(users().Authenticate(t.secret));
  clock_.Advance(59'999);
  NR_ASSERT_OK(users().Authenticate(t.secret));
  NR_ASSERT_OK_AND_ASSIGN(std::vector<Token> tokens, users().ListTokens(u.id));
  ASSERT_EQ(tokens.size(), 1u);
  EXPECT_EQ(tokens[0].last_used_at_ms, first);
  clock_.Advance(1);
  NR_ASSERT_OK(users().Authenticate(t.secret));
  NR_ASSERT_OK_AND_ASSIGN(tokens, users().ListTokens(u.id));
  EXPECT_EQ(tokens[0].last_used_at_ms, clock_.now());
}

TEST_F(UserRepositoryTest, DeletingAUserDeletesTheirTokens) {
  NR_ASSERT_OK_AND_ASSIGN(User u, users().CreateUser("xoa", "", Role::kViewer));
  NR_ASSERT_OK_AND_ASSIGN(IssuedToken t, users().IssueToken(u.id, ""));
  NR_ASSERT_OK(users().DeleteUser(u.id));
  NR_EXPECT_CODE(users().Authenticate(t.secret), ErrorCode::kNotFound);
  NR_EXPECT_CODE(users().ListTokens(u.id), ErrorCode::kNotFound);
  NR_EXPECT_CODE(users().DeleteUser(u.id), ErrorCode::kNotFound);
  NR_EXPECT_CODE(users().IssueToken(u.id, ""), ErrorCode::kNotFound);
}

TEST_F(UserRepositoryTest, PasswordChangeEndsSessionsButKeepsApiTokens) {
  NR_ASSERT_OK_AND_ASSIGN(User u, users().CreateUser("lan", "", Role::kReporter));
  NR_ASSERT_OK_AND_ASSIGN(std::string none, users().PasswordHash(u.id));
  EXPECT_EQ(none, "");
  NR_ASSERT_OK_AND_ASSIGN(IssuedToken session,
                          users().IssueToken(u.id, "browser", std::nullopt, TokenKind::kSession));
  NR_ASSERT_OK_AND_ASSIGN(IssuedToken api, users().IssueToken(u.id, "phone"));
  EXPECT_EQ(session.token.kind, TokenKind::kSession);
  NR_ASSERT_OK(users().SetPasswordHash(u.id, "$scrypt$stored"));
  NR_ASSERT_OK_AND_ASSIGN(std::string stored, users().PasswordHash(u.id));
  EXPECT_EQ(stored, "$scrypt$stored");
  EXPECT_EQ(users().Lookup(session.secret).status().code(), ErrorCode::kNotFound);
  NR_ASSERT_OK_AND_ASSIGN(Authenticated still, users().Lookup(api.secret));
  EXPECT_EQ(still.token.kind, TokenKind::kApi);
  EXPECT_EQ(users().SetPasswordHash(9999, "x").code(), ErrorCode::kNotFound);
}

TEST_F(UserRepositoryTest, LookupDoesNotWriteAndTouchStamps) {
  NR_ASSERT_OK_AND_ASSIGN(User u, users().CreateUser("lan", "", Role::kReporter));
  NR_ASSERT_OK_AND_ASSIGN(IssuedToken t, users().IssueToken(u.id, "phone"));
  NR_ASSERT_OK_AND_ASSIGN(Authenticated looked, users().Lookup(t.secret));
  EXPECT_FALSE(looked.token.last_used_at_ms.has_value());
  NR_ASSERT_OK_AND_ASSIGN(Token read, users().GetToken(t.token.id));
  EXPECT_FALSE(read.last_used_at_ms.has_value());
  NR_ASSERT_OK(users().Touch(t.token.id));
  NR_ASSERT_OK_AND_ASSIGN(Token touched, users().GetToken(t.token.id));
  EXPECT_TRUE(touched.last_used_at_ms.has_value());
}

TEST_F(UserRepositoryTest, RevokeTokensOfAKind) {
  NR_ASSERT_OK_AND_ASSIGN(User u, users().CreateUser("lan", "", Role::kReporter));
  NR_ASSERT_OK(users().IssueToken(u.id, "a", std::nullopt, TokenKind::kSession));
  NR_ASSERT_OK(users().IssueToken(u.id, "b", std::nullopt, TokenKind::kSession));
  NR_ASSERT_OK_AND_ASSIGN(IssuedToken api, users().IssueToken(u.id, "c"));
  NR_ASSERT_OK_AND_ASSIGN(int sessions, users().RevokeTokensOf(u.id, TokenKind::kSession));
  EXPECT_EQ(sessions, 2);
  NR_ASSERT_OK(users().Lookup(api.secret));
  NR_ASSERT_OK_AND_ASSIGN(int rest, users().RevokeTokensOf(u.id));
  EXPECT_EQ(rest, 1);
  EXPECT_FALSE(users().Lookup(api.secret).ok());
  NR_ASSERT_OK_AND_ASSIGN(int64_t count, users().CountUsers());
  EXPECT_EQ(count, 1);
}

}  // namespace
}  // namespace newsreel::catalog
