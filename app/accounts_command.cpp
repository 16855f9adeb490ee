// `newsreel user ...` and `newsreel token ...`: manage accounts and API tokens from the server
// machine. They work while `newsreel serve` runs on the same data directory (the catalog is
// shared); a server notices a revoked token or a disabled account within 5 seconds.
//
//   newsreel user add NAME --role ROLE [--display-name D] [--password-stdin]
//   newsreel user list [--json]
//   newsreel user reset NAME [--password-stdin]
//   newsreel user disable NAME | newsreel user enable NAME
//   newsreel token create NAME [--label L] [--expires DAYS]
//   newsreel token list NAME
//   newsreel token revoke ID
//
// Without --password-stdin a random password is made and printed once, on stdout.
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "catalog/catalog.h"
#include "catalog/password.h"
#include "streaming/data_dir.h"
#include "streaming/first_admin.h"

namespace newsreel::app {
namespace {

struct Opened {
  streaming::DataDir data;
  std::unique_ptr<catalog::Catalog> catalog;
};

Result<Opened> Open(const std::string& dir) {
  auto data = streaming::PrepareDataDir(dir);
  if (!data.ok()) return data.status();
  auto cat = catalog::Catalog::Open(data->catalog().string());
  if (!cat.ok()) return cat.status();
  return Opened{*data, std::move(cat).value()};
}

int Fail(const char* command, const Status& status) {
  std::cerr << "newsreel " << command << ": " << status.message() << "\n";
  return 1;
}

// The password to set: one line from stdin, or a random one (then printed).
Result<std::string> NewPassword(bool from_stdin, bool* generated) {
  *generated = !from_stdin;
  if (!from_stdin) return catalog::RandomPassword();
  std::string line;
  std::getline(std::cin, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  NR_RETURN_IF_ERROR(catalog::CheckNewPassword(line));
  return line;
}

std::string Time(const std::optional<int64_t>& ms) {
  if (!ms) return "-";
  std::time_t t = static_cast<std::time_t>(*ms / 1000);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", std::gmtime(&t));
  return buf;
}

}  // namespace

CommandRunner RegisterUserCommand(CLI::App& app) {
  struct Args {
    std::string data = "data", name, role, display_name;
    bool password_stdin = false, json = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("user", "Manage accounts (admins, editors, reporters)");
  cmd->require_subcommand(1);
  auto data_option = [&](CLI::App* sub) {
    sub->add_option("--data", a->data, "Data directory of the server")->capture_default_str();
  };
  auto* add = cmd->add_subcommand("add", "Create an account");
  add->add_option("NAME", a->name, "Sign-in name: A-Z a-z 0-9 . _ -")->required();
  add->add_option("--role", a->role, "reporter, editor or admin")
      ->required()
      ->check(CLI::IsMember({"reporter", "editor", "admin"}));
  add->add_option("--display-name", a->display_name, "Name shown on videos (default: NAME)");
  add->add_flag("--password-stdin", a->password_stdin, "Read the password from stdin");
  data_option(add);
  auto* list = cmd->add_subcommand("list", "List accounts");
  list->add_flag("--json", a->json, "Print JSON");
  data_option(list);
  auto* reset = cmd->add_subcommand("reset", "Set a new password (signs the account out)");
  reset->add_option("NAME", a->name, "Account")->required();
  reset->add_flag("--password-stdin", a->password_stdin, "Read the password from stdin");
  data_option(reset);
  auto* disable = cmd->add_subcommand("disable", "Disable an account (it can no longer sign in)");
  disable->add_option("NAME", a->name, "Account")->required();
  data_option(disable);
  auto* enable = cmd->add_subcommand("enable", "Enable a disabled account");
  enable->add_option("NAME", a->name, "Account")->required();
  data_option(enable);

  return [a, add, list, reset, disable, enable]() -> int {
    auto opened = Open(a->data);
    if (!opened.ok()) return Fail("user", opened.status());
    catalog::UserRepository& users = opened->catalog->users();
    if (add->parsed()) {
      bool generated = false;
      auto password = NewPassword(a->password_stdin, &generated);
      if (!password.ok()) return Fail("user add", password.status());
      auto hash = catalog::HashPassword(*password);
      if (!hash.ok()) return Fail("user add", hash.status());
      std::optional<catalog::User> made;
      Status s = opened->catalog->RunInTransaction([&]() -> Status {
        auto user = users.CreateUser(a->name, a->display_name.empty() ? a->name : a->display_name,
                                     *catalog::ParseRole(a->role));
        if (!user.ok()) return user.status();
        made = *user;
        return users.SetPasswordHash(user->id, *hash);
      });
      if (!s.ok()) return Fail("user add", s);
      std::cerr << "newsreel user add: created " << made->name << " (" << a->role << ")\n";
      if (generated) std::cout << *password << "\n";
      return 0;
    }
    if (list->parsed()) {
      auto all = users.ListUsers();
      if (!all.ok()) return Fail("user list", all.status());
      nlohmann::json out = nlohmann::json::array();
      for (const auto& u : *all) {
        if (a->json) {
          out.push_back({{"id", u.id},
                         {"name", u.name},
                         {"display_name", u.display_name},
                         {"role", catalog::ToString(u.role)},
                         {"disabled", u.disabled}});
        } else {
          std::cout << u.name << "\t" << catalog::ToString(u.role)
                    << (u.disabled ? "\tdisabled" : "\t") << "\t" << u.display_name << "\n";
        }
      }
      if (a->json) std::cout << out.dump() << "\n";
      return 0;
    }
    auto user = users.GetUserByName(a->name);
    if (!user.ok()) return Fail("user", user.status());
    if (reset->parsed()) {
      bool generated = false;
      auto password = NewPassword(a->password_stdin, &generated);
      if (!password.ok()) return Fail("user reset", password.status());
      auto hash = catalog::HashPassword(*password);
      if (!hash.ok()) return Fail("user reset", hash.status());
      if (Status s = users.SetPasswordHash(user->id, *hash); !s.ok()) return Fail("user reset", s);
      streaming::RetireFirstAdminPassword(opened->data, user->name);
      std::cerr << "newsreel user reset: new password for " << user->name
                << "; their browser sessions ended\n";
      if (generated) std::cout << *password << "\n";
      return 0;
    }
    const bool disabling = disable->parsed();
    auto changed = users.SetDisabled(user->id, disabling);
    if (!changed.ok()) return Fail(disabling ? "user disable" : "user enable", changed.status());
    std::cerr << "newsreel user: " << user->name << (disabling ? " disabled" : " enabled") << "\n";
    return 0;
  };
}

CommandRunner RegisterTokenCommand(CLI::App& app) {
  struct Args {
    std::string data = "data", name, label;
    int expires_days = 0;
    int64_t id = 0;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("token", "Manage API tokens (Authorization: Bearer ...)");
  cmd->require_subcommand(1);
  auto data_option = [&](CLI::App* sub) {
    sub->add_option("--data", a->data, "Data directory of the server")->capture_default_str();
  };
  auto* create = cmd->add_subcommand("create", "Issue a token for an account; prints it once");
  create->add_option("NAME", a->name, "Account")->required();
  create->add_option("--label", a->label, "What the token is for (\"phone app\", \"portal\")");
  create->add_option("--expires", a->expires_days, "Days until it expires (default: never)")
      ->check(CLI::Range(1, 3650));
  data_option(create);
  auto* list = cmd->add_subcommand("list", "List an account's tokens and sessions");
  list->add_option("NAME", a->name, "Account")->required();
  data_option(list);
  auto* revoke = cmd->add_subcommand("revoke", "Revoke a token by its id");
  revoke->add_option("ID", a->id, "Token id (from `token list`)")->required();
  data_option(revoke);

  return [a, create, list, revoke]() -> int {
    auto opened = Open(a->data);
    if (!opened.ok()) return Fail("token", opened.status());
    catalog::UserRepository& users = opened->catalog->users();
    if (revoke->parsed()) {
      if (Status s = users.RevokeToken(a->id); !s.ok()) return Fail("token revoke", s);
      std::cerr << "newsreel token revoke: token " << a->id << " revoked\n";
      return 0;
    }
    auto user = users.GetUserByName(a->name);
    if (!user.ok()) return Fail("token", user.status());
    if (create->parsed()) {
      std::optional<int64_t> expires;
      if (a->expires_days > 0)
        expires = catalog::SystemNowMs() + int64_t{a->expires_days} * 86'400'000;
      auto issued = users.IssueToken(user->id, a->label, expires);
      if (!issued.ok()) return Fail("token create", issued.status());
      std::cerr << "newsreel token create: token " << issued->token.id << " for " << user->name
                << (expires ? ", expires " + Time(expires) + " UTC" : ", never expires")
                << ". It is shown only now:\n";
      std::cout << issued->secret << "\n";
      return 0;
    }
    auto tokens = users.ListTokens(user->id);
    if (!tokens.ok()) return Fail("token list", tokens.status());
    std::cout << "id\tkind\tcreated\texpires\tlast used\trevoked\tlabel\n";
    for (const auto& t : *tokens) {
      std::cout << t.id << "\t" << catalog::ToString(t.kind) << "\t" << Time(t.created_at_ms)
                << "\t" << Time(t.expires_at_ms) << "\t" << Time(t.last_used_at_ms) << "\t"
                << Time(t.revoked_at_ms) << "\t" << t.label << "\n";
    }
    return 0;
  };
}

}  // namespace newsreel::app
