// The accounts part of the REST API (docs/api.md "Accounts"): signing in and out, one's own
// password, users (admins), and API tokens. ApiHandler::Route dispatches these rows of
// api_routes.h here:
//
//   GET    /api/v1/session                  who am I ({"user": null} when signed out)
//   POST   /api/v1/session                  sign in: {name, password} -> session cookie
//   DELETE /api/v1/session                  sign out
//   POST   /api/v1/session/password         {current_password, new_password}
//   GET    /api/v1/users                    admins: every account
//   POST   /api/v1/users                    admins: {name, role, display_name?, password?}
//   GET    /api/v1/users/<name>             admins, or the account itself
//   PATCH  /api/v1/users/<name>             admins: {role?, disabled?}
//   POST   /api/v1/users/<name>/password    admins: a new random password, shown once
//   GET    /api/v1/tokens[?user=<name>]     one's tokens and sessions (admins: anyone's)
//   POST   /api/v1/tokens                   {label?, expires_in_days?, user?} -> the secret, once
//   DELETE /api/v1/tokens/<id>              revoke
#include <charconv>

#include "catalog/password.h"
#include "common/log.h"
#include "streaming/first_admin.h"
#include "streaming/internal/api.h"
#include "streaming/internal/api_json.h"

namespace newsreel::streaming {

using nlohmann::json;

using namespace api_json;

namespace {

json UserJson(const catalog::User& u) {
  return {{"id", u.id},
          {"name", u.name},
          {"display_name", u.display_name},
          {"role", catalog::ToString(u.role)},
          {"disabled", u.disabled},
          {"created_at", u.created_at_ms}};
}

json TokenJson(const catalog::Token& t) {
  return {{"id", t.id},
          {"user_id", t.user_id},
          {"label", t.label},
          {"kind", catalog::ToString(t.kind)},
          {"created_at", t.created_at_ms},
          {"expires_at", Opt(t.expires_at_ms)},
          {"last_used_at", Opt(t.last_used_at_ms)},
          {"revoked_at", Opt(t.revoked_at_ms)}};
}

HttpResponse TooManyTries(int64_t seconds) {
  HttpResponse r =
      ErrorResponse(429, "too_many_requests",
                    "too many failed sign-ins; try again in " + std::to_string(seconds) + " s");
  r.headers["Retry-After"] = std::to_string(seconds);
  return r;
}

// A browser session for `user_id`, signed in from `address`, lasting kSessionLifetime.
Result<catalog::IssuedToken> IssueSession(catalog::UserRepository& users, int64_t user_id,
                                          const std::string& address) {
  const int64_t expires =
      catalog::SystemNowMs() +
      std::chrono::duration_cast<std::chrono::milliseconds>(kSessionLifetime).count();
  return users.IssueToken(user_id, "browser session from " + address, expires,
                          catalog::TokenKind::kSession);
}

// The roles an account may have (viewers are anonymous and need none).
Result<catalog::Role> AccountRole(const std::string& text) {
  Result<catalog::Role> role = catalog::ParseRole(text);
  if (!role.ok() || *role == catalog::Role::kViewer)
    return InvalidArgument("role must be reporter, editor or admin");
  return role;
}

}  // namespace

HttpResponse ApiHandler::GetSession(const RequestContext& r) {
  // Pages ask on every load; signed out is an answer, not an error.
  if (!r.caller.user) return Json(200, {{"user", nullptr}});
  return Json(
      200, {{"user", UserJson(*r.caller.user)}, {"via", r.caller.via_cookie ? "cookie" : "token"}});
}

HttpResponse ApiHandler::SignIn(const RequestContext& r) {
  json body;
  if (auto bad = ParseObject(r.body, &body)) return *bad;
  if (auto bad = OnlyFields(body, {"name", "password"})) return *bad;
  std::optional<std::string> name, password;
  if (auto bad = StringField(body, "name", &name)) return *bad;
  if (auto bad = StringField(body, "password", &password)) return *bad;
  if (!name || !password || name->empty())
    return ErrorResponse(400, "invalid_argument", "give name and password");
  if (int64_t wait = accounts_.throttle.RetryAfterSeconds(*name, r.caller.address); wait > 0) {
    NR_LOG(kWarning) << "accounts: sign-in as " << name->substr(0, 64) << " from "
                     << r.caller.address << " refused: too many failures";
    return TooManyTries(wait);
  }
  Result<catalog::User> user = catalog_.users().GetUserByName(*name);
  Result<std::string> hash =
      user.ok() ? catalog_.users().PasswordHash(user->id) : Result<std::string>(std::string());
  // Always one scrypt run, so that the time taken does not say whether the account exists.
  const bool matches = catalog::VerifyPassword(*password, hash.ok() ? *hash : "");
  if (!matches || !user.ok() || user->disabled) {
    accounts_.throttle.Failed(*name, r.caller.address);
    NR_LOG(kWarning) << "accounts: failed sign-in as " << name->substr(0, 64) << " from "
                     << r.caller.address;
    return ErrorResponse(401, "unauthenticated", "wrong name or password, or a disabled account");
  }
  accounts_.throttle.Succeeded(*name);
  auto issued = IssueSession(catalog_.users(), user->id, r.caller.address);
  if (!issued.ok()) return ErrorResponse(issued.status());
  NR_LOG(kInfo) << "accounts: " << user->name << " signed in from " << r.caller.address;
  HttpResponse resp =
      Json(200, {{"user", UserJson(*user)}, {"expires_at", *issued->token.expires_at_ms}});
  resp.headers["Set-Cookie"] = SessionCookie(issued->secret, accounts_.secure_cookies);
  resp.headers["Cache-Control"] = "no-store";
  return resp;
}

HttpResponse ApiHandler::SignOut(const RequestContext& r) {
  if (r.caller.user && r.caller.via_cookie) {
    Status s = catalog_.users().RevokeToken(r.caller.token_id);
    if (!s.ok()) return ErrorResponse(s);
    accounts_.authenticator.ForgetToken(r.caller.token_id);
    NR_LOG(kInfo) << "accounts: " << r.caller.name() << " signed out";
  }
  HttpResponse resp = NoContent();
  resp.headers["Set-Cookie"] = ClearedSessionCookie(accounts_.secure_cookies);
  return resp;
}

HttpResponse ApiHandler::ChangeOwnPassword(const RequestContext& r) {
  if (!r.caller.user) return Denied(Decision::kUnauthenticated, "changing a password", "");
  json body;
  if (auto bad = ParseObject(r.body, &body)) return *bad;
  if (auto bad = OnlyFields(body, {"current_password", "new_password"})) return *bad;
  std::optional<std::string> current, fresh;
  if (auto bad = StringField(body, "current_password", &current)) return *bad;
  if (auto bad = StringField(body, "new_password", &fresh)) return *bad;
  if (!current || !fresh)
    return ErrorResponse(400, "invalid_argument", "give current_password and new_password");
  const catalog::User& user = *r.caller.user;
  if (int64_t wait = accounts_.throttle.RetryAfterSeconds(user.name, r.caller.address); wait > 0)
    return TooManyTries(wait);
  Result<std::string> hash = catalog_.users().PasswordHash(user.id);
  if (!hash.ok()) return ErrorResponse(hash.status());
  if (!catalog::VerifyPassword(*current, *hash)) {
    accounts_.throttle.Failed(user.name, r.caller.address);
    return ErrorResponse(403, "permission_denied", "the current password is wrong");
  }
  if (Status s = catalog::CheckNewPassword(*fresh); !s.ok()) return ErrorResponse(s);
  Result<std::string> fresh_hash = catalog::HashPassword(*fresh);
  if (!fresh_hash.ok()) return ErrorResponse(fresh_hash.status());
  // Every session of the account ends (a changed password signs other browsers out); this
  // browser gets a new one.
  if (Status s = catalog_.users().SetPasswordHash(user.id, *fresh_hash); !s.ok())
    return ErrorResponse(s);
  accounts_.authenticator.ForgetUser(user.id);
  RetireFirstAdminPassword(data_, user.name);
  NR_LOG(kInfo) << "accounts: " << user.name << " changed their password";
  HttpResponse resp = Json(200, {{"user", UserJson(user)}});
  if (r.caller.via_cookie) {
    auto issued = IssueSession(catalog_.users(), user.id, r.caller.address);
    if (issued.ok())
      resp.headers["Set-Cookie"] = SessionCookie(issued->secret, accounts_.secure_cookies);
  }
  return resp;
}

HttpResponse ApiHandler::ListUsers(const RequestContext& r) {
  if (Decision d = Authorize(r.caller, Action::kManageUsers); d != Decision::kAllow)
    return Denied(d, "managing accounts", "");
  auto users = catalog_.users().ListUsers();
  if (!users.ok()) return ErrorResponse(users.status());
  json list = json::array();
  for (const auto& u : *users) list.push_back(UserJson(u));
  return Json(200, {{"users", list}});
}

HttpResponse ApiHandler::CreateUser(const RequestContext& r) {
  if (Decision d = Authorize(r.caller, Action::kManageUsers); d != Decision::kAllow)
    return Denied(d, "managing accounts", "");
  json body;
  if (auto bad = ParseObject(r.body, &body)) return *bad;
  if (auto bad = OnlyFields(body, {"name", "role", "display_name", "password"})) return *bad;
  std::optional<std::string> name, role_text, display_name, password;
  for (auto [key, field] :
       {std::pair{"name", &name}, std::pair{"role", &role_text},
        std::pair{"display_name", &display_name}, std::pair{"password", &password}}) {
    if (auto bad = StringField(body, key, field)) return *bad;
  }
  if (!name || !role_text) return ErrorResponse(400, "invalid_argument", "give name and role");
  Result<catalog::Role> role = AccountRole(*role_text);
  if (!role.ok()) return ErrorResponse(role.status());
  const bool generated = !password;
  if (generated) password = catalog::RandomPassword();
  if (Status s = catalog::CheckNewPassword(*password); !s.ok()) return ErrorResponse(s);
  Result<std::string> hash = catalog::HashPassword(*password);
  if (!hash.ok()) return ErrorResponse(hash.status());
  std::optional<catalog::User> made;
  Status s = catalog_.RunInTransaction([&]() -> Status {
    auto user = catalog_.users().CreateUser(*name, display_name.value_or(*name), *role);
    if (!user.ok()) return user.status();
    made = *user;
    return catalog_.users().SetPasswordHash(user->id, *hash);
  });
  if (!s.ok()) return ErrorResponse(s);
  NR_LOG(kInfo) << "accounts: " << r.caller.name() << " created " << made->name << " ("
                << catalog::ToString(made->role) << ")";
  json out = {{"user", UserJson(*made)}};
  if (generated) out["password"] = *password;  // shown once
  HttpResponse resp = Json(201, out);
  resp.headers["Cache-Control"] = "no-store";
  return resp;
}

HttpResponse ApiHandler::GetUser(const RequestContext& r, const std::string& name) {
  auto user = catalog_.users().GetUserByName(name);
  const bool self = user.ok() && r.caller.user_id() == user->id;
  if (!self) {
    if (Decision d = Authorize(r.caller, Action::kManageUsers); d != Decision::kAllow)
      return Denied(d, "managing accounts", "");
  }
  if (!user.ok()) return ErrorResponse(user.status());
  return Json(200, UserJson(*user));
}

HttpResponse ApiHandler::PatchUser(const RequestContext& r, const std::string& name) {
  if (Decision d = Authorize(r.caller, Action::kManageUsers); d != Decision::kAllow)
    return Denied(d, "managing accounts", "");
  json body;
  if (auto bad = ParseObject(r.body, &body)) return *bad;
  if (auto bad = OnlyFields(body, {"role", "disabled"})) return *bad;
  auto user = catalog_.users().GetUserByName(name);
  if (!user.ok()) return ErrorResponse(user.status());
  std::optional<std::string> role_text;
  if (auto bad = StringField(body, "role", &role_text)) return *bad;
  std::optional<bool> disabled;
  if (auto it = body.find("disabled"); it != body.end()) {
    if (!it->is_boolean())
      return ErrorResponse(400, "invalid_argument", "field 'disabled' must be true or false");
    disabled = it->get<bool>();
  }
  std::optional<catalog::Role> role;
  if (role_text) {
    Result<catalog::Role> parsed = AccountRole(*role_text);
    if (!parsed.ok()) return ErrorResponse(parsed.status());
    role = *parsed;
  }
  // An admin cannot lock themself out (and with it, possibly, everyone).
  if (r.caller.user_id() == user->id &&
      ((role && *role != catalog::Role::kAdmin) || disabled.value_or(false)))
    return ErrorResponse(409, "failed_precondition",
                         "you cannot take away your own admin role or disable yourself");
  catalog::User out = *user;
  if (role) {
    auto changed = catalog_.users().SetRole(user->id, *role);
    if (!changed.ok()) return ErrorResponse(changed.status());
    out = *changed;
  }
  if (disabled) {
    auto changed = catalog_.users().SetDisabled(user->id, *disabled);
    if (!changed.ok()) return ErrorResponse(changed.status());
    out = *changed;
  }
  accounts_.authenticator.ForgetUser(user->id);
  NR_LOG(kInfo) << "accounts: " << r.caller.name() << " changed " << out.name << ": role "
                << catalog::ToString(out.role) << (out.disabled ? ", disabled" : "");
  return Json(200, UserJson(out));
}

HttpResponse ApiHandler::ResetPassword(const RequestContext& r, const std::string& name) {
  if (Decision d = Authorize(r.caller, Action::kManageUsers); d != Decision::kAllow)
    return Denied(d, "managing accounts", "");
  auto user = catalog_.users().GetUserByName(name);
  if (!user.ok()) return ErrorResponse(user.status());
  const std::string password = catalog::RandomPassword();
  Result<std::string> hash = catalog::HashPassword(password);
  if (!hash.ok()) return ErrorResponse(hash.status());
  if (Status s = catalog_.users().SetPasswordHash(user->id, *hash); !s.ok())
    return ErrorResponse(s);
  accounts_.authenticator.ForgetUser(user->id);
  RetireFirstAdminPassword(data_, user->name);
  NR_LOG(kInfo) << "accounts: " << r.caller.name() << " reset the password of " << user->name;
  HttpResponse resp = Json(200, {{"user", UserJson(*user)}, {"password", password}});
  resp.headers["Cache-Control"] = "no-store";
  return resp;
}

HttpResponse ApiHandler::ListTokens(const RequestContext& r) {
  if (!r.caller.user) return Denied(Decision::kUnauthenticated, "listing tokens", "");
  int64_t owner = r.caller.user->id;
  if (auto it = r.query.find("user"); it != r.query.end()) {
    auto user = catalog_.users().GetUserByName(it->second);
    if (Decision d = user.ok()
                         ? Authorize(r.caller, Action::kManageTokens, Resource::Owned(user->id))
                         : Decision::kHidden;
        d != Decision::kAllow)
      return Denied(d, "these tokens", "no user named " + it->second);
    owner = user->id;
  }
  auto tokens = catalog_.users().ListTokens(owner);
  if (!tokens.ok()) return ErrorResponse(tokens.status());
  json list = json::array();
  for (const auto& t : *tokens) list.push_back(TokenJson(t));
  return Json(200, {{"tokens", list}});
}

HttpResponse ApiHandler::CreateToken(const RequestContext& r) {
  if (!r.caller.user) return Denied(Decision::kUnauthenticated, "creating tokens", "");
  json body;
  if (auto bad = ParseObject(r.body, &body)) return *bad;
  if (auto bad = OnlyFields(body, {"label", "expires_in_days", "user"})) return *bad;
  std::optional<std::string> label, user_name;
  if (auto bad = StringField(body, "label", &label)) return *bad;
  if (auto bad = StringField(body, "user", &user_name)) return *bad;
  catalog::User owner = *r.caller.user;
  if (user_name) {
    auto user = catalog_.users().GetUserByName(*user_name);
    if (Decision d = user.ok()
                         ? Authorize(r.caller, Action::kManageTokens, Resource::Owned(user->id))
                         : Decision::kHidden;
        d != Decision::kAllow)
      return Denied(d, "tokens for this account", "no user named " + *user_name);
    owner = *user;
  }
  std::optional<int64_t> expires;
  if (auto it = body.find("expires_in_days"); it != body.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > 3650)
      return ErrorResponse(400, "invalid_argument", "expires_in_days must be 1..3650");
    expires = catalog::SystemNowMs() + it->get<int64_t>() * 86'400'000;
  }
  auto issued = catalog_.users().IssueToken(owner.id, label.value_or(""), expires);
  if (!issued.ok()) return ErrorResponse(issued.status());
  NR_LOG(kInfo) << "accounts: " << r.caller.name() << " created token " << issued->token.id
                << " for " << owner.name;
  json out = TokenJson(issued->token);
  out["secret"] = issued->secret;  // shown once
  HttpResponse resp = Json(201, out);
  resp.headers["Cache-Control"] = "no-store";
  return resp;
}

HttpResponse ApiHandler::RevokeToken(const RequestContext& r, const std::string& id_text) {
  int64_t id = 0;
  auto [end, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
  if (ec != std::errc() || end != id_text.data() + id_text.size() || id <= 0)
    return ErrorResponse(400, "invalid_argument", "a token id is a positive integer");
  auto token = catalog_.users().GetToken(id);
  const Decision d =
      token.ok() ? Authorize(r.caller, Action::kManageTokens, Resource::Owned(token->user_id))
                 : (r.caller.user ? Decision::kHidden : Decision::kUnauthenticated);
  if (d != Decision::kAllow) return Denied(d, "revoking tokens", "no token with id " + id_text);
  if (Status s = catalog_.users().RevokeToken(id); !s.ok()) return ErrorResponse(s);
  accounts_.authenticator.ForgetToken(id);
  NR_LOG(kInfo) << "accounts: " << r.caller.name() << " revoked token " << id;
  return NoContent();
}

}  // namespace newsreel::streaming
