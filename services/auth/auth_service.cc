// Copyright Switchboard authors.

#include "services/auth/auth_service.h"

#include <sodium.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "services/auth/session_token.h"
#include "services/common/text.h"

namespace switchboard {
namespace {

constexpr absl::string_view kInvalidCredentials = "401 invalid credentials";
constexpr absl::string_view kNotLoggedIn = "401 not logged in";
constexpr absl::string_view kServerFailed = "451 the server could not do that now; try again later";

// Tokens handed out are not left behind in freed memory.
void WipeSecret(std::string& secret) {
  sodium_memzero(secret.data(), secret.size());
  secret.clear();
}

class AuthSession final : public Session {
 public:
  AuthSession(Store* store, const PasswordHasher* hasher, FailureLimiter* limiter,
              FailureLimiter* registrations, const Clock* clock, const AuthServiceOptions& options,
              const SessionInfo& info)
      : store_(store),
        hasher_(hasher),
        limiter_(limiter),
        registrations_(registrations),
        clock_(clock),
        options_(options),
        id_(info.connection_id),
        address_(info.peer.IpString()) {}

  void OnStart(Replies& out) override {
    absl::StatusOr<std::optional<std::string>> user = store_->UserAt(address_);
    if (!user.ok()) {
      Fail("looking up the user of the address", user.status(), out);
      out.EndSession();
      return;
    }
    if (user->has_value()) {
      known_user_ = **user;
      out.Reply(absl::StrCat("220 auth ready; known as ", known_user_, ": LOGIN <password>"));
    } else {
      out.Reply("220 auth ready; REGISTER <user> <password> or LOGIN <user> <password>");
    }
  }

  void OnMessage(absl::string_view message, Replies& out) override {
    if (!IsValidUtf8(message)) {
      out.Reply("400 message is not valid UTF-8");
      return;
    }
    const std::vector<absl::string_view> args = SplitArguments(message);
    const absl::string_view verb = args.empty() ? absl::string_view() : args[0];
    if (verb == "REGISTER") {
      Register(args, out);
    } else if (verb == "LOGIN") {
      Login(args, out);
    } else if (verb == "RESUME") {
      Resume(args, out);
    } else if (verb == "WHOAMI") {
      if (args.size() != 1) return out.Reply("400 usage: WHOAMI");
      if (!StillLoggedIn(out)) return;
      out.Reply(absl::StrCat("200 ", user_));
    } else if (verb == "LOGOUT") {
      Logout(args, out);
    } else if (verb == "PASSWD") {
      ChangePassword(args, out);
    } else if (message == "exit") {
      out.Reply("221 Bye.");
      out.EndSession();
    } else {
      out.Reply("500 unknown command");
    }
  }

 private:
  static bool HasEmpty(const std::vector<absl::string_view>& args) {
    for (absl::string_view arg : args) {
      if (arg.empty()) return true;
    }
    return false;
  }

  void Register(const std::vector<absl::string_view>& args, Replies& out) {
    if (args.size() != 3 || HasEmpty(args)) {
      return out.Reply("400 usage: REGISTER <user> <password>");
    }
    const absl::string_view user = args[1];
    const absl::string_view password = args[2];
    if (absl::Status s = ValidateUserName(user); !s.ok()) {
      return out.Reply(absl::StrCat("400 ", s.message()));
    }
    if (absl::Status s = ValidatePassword(password); !s.ok()) {
      return out.Reply(absl::StrCat("400 ", s.message()));
    }
    if (TooManyRegistrations(out)) return;
    // A cheap look first, so that a taken name costs no hashing.
    absl::StatusOr<std::optional<std::string>> existing = store_->PasswordHash(user);
    if (!existing.ok()) return Fail("looking up a user", existing.status(), out);
    if (existing->has_value()) return out.Reply("409 user exists");
    absl::StatusOr<std::string> hash = hasher_->Hash(password);
    if (!hash.ok()) return Fail("hashing a password", hash.status(), out);
    if (absl::Status s = store_->AddUser(user, *hash); !s.ok()) {
      if (absl::IsAlreadyExists(s)) return out.Reply("409 user exists");
      return Fail("adding a user", s, out);
    }
    LOG(INFO) << "auth: connection " << id_ << ": " << address_ << " registered " << user;
    std::string token;
    if (!StartSession(user, &token, out)) return;
    out.Reply(absl::StrCat("201 registered ", user, "; session ", token));
    WipeSecret(token);
  }

  void Login(const std::vector<absl::string_view>& args, Replies& out) {
    absl::string_view user;
    absl::string_view password;
    if (args.size() == 3 && !HasEmpty(args)) {
      user = args[1];
      password = args[2];
    } else if (args.size() == 2 && !HasEmpty(args) && !known_user_.empty()) {
      user = known_user_;
      password = args[1];
    } else {
      return out.Reply("400 usage: LOGIN <user> <password>");
    }
    if (absl::Status s = ValidateUserName(user); !s.ok()) {
      return out.Reply(absl::StrCat("400 ", s.message()));
    }
    if (absl::Status s = ValidatePassword(password); !s.ok()) {
      return out.Reply(absl::StrCat("400 ", s.message()));
    }
    if (TooManyFailures(user, out)) return;
    if (!CheckPassword(user, password, out)) return;
    ForgetFailures(user);
    LOG(INFO) << "auth: connection " << id_ << ": " << address_ << " logged in as " << user;
    std::string token;
    if (!StartSession(user, &token, out)) return;
    out.Reply(absl::StrCat("200 welcome ", user, "; session ", token));
    WipeSecret(token);
  }

  void Resume(const std::vector<absl::string_view>& args, Replies& out) {
    if (args.size() != 2 || HasEmpty(args)) return out.Reply("400 usage: RESUME <token>");
    const absl::string_view token = args[1];
    if (!IsWellFormedToken(token)) {
      return out.Reply(
          absl::StrCat("400 a token is ", kTokenChars, " characters of A-Z a-z 0-9 _ -"));
    }
    const std::string token_hash = TokenHash(token);
    absl::StatusOr<std::optional<StoredSession>> session = store_->FindSession(token_hash);
    if (!session.ok()) return Fail("looking up a session", session.status(), out);
    if (!session->has_value() || (*session)->expires <= clock_->Now()) {
      VLOG(1) << "auth: connection " << id_ << ": RESUME with an unknown or expired token";
      return out.Reply("401 session unknown or expired");
    }
    if (absl::Status s = store_->SetUserAt(address_, (*session)->user); !s.ok()) {
      return Fail("remembering the user of the address", s, out);
    }
    user_ = (*session)->user;
    token_hash_ = token_hash;
    known_user_ = user_;
    LOG(INFO) << "auth: connection " << id_ << ": " << address_ << " resumed a session of "
              << user_;
    out.Reply(absl::StrCat("200 welcome back ", user_));
  }

  void Logout(const std::vector<absl::string_view>& args, Replies& out) {
    if (args.size() != 1) return out.Reply("400 usage: LOGOUT");
    if (!StillLoggedIn(out)) return;
    absl::StatusOr<bool> deleted = store_->DeleteSession(token_hash_);
    if (!deleted.ok()) return Fail("ending a session", deleted.status(), out);
    LOG(INFO) << "auth: connection " << id_ << ": " << user_ << " logged out";
    user_.clear();
    token_hash_.clear();
    out.Reply("200 logged out");
  }

  void ChangePassword(const std::vector<absl::string_view>& args, Replies& out) {
    if (args.size() != 3 || HasEmpty(args)) {
      return out.Reply("400 usage: PASSWD <old password> <new password>");
    }
    if (!StillLoggedIn(out)) return;
    const absl::string_view old_password = args[1];
    const absl::string_view new_password = args[2];
    if (absl::Status s = ValidatePassword(new_password); !s.ok()) {
      return out.Reply(absl::StrCat("400 ", s.message()));
    }
    if (TooManyFailures(user_, out)) return;
    if (!CheckPassword(user_, old_password, out)) return;
    ForgetFailures(user_);
    absl::StatusOr<std::string> hash = hasher_->Hash(new_password);
    if (!hash.ok()) return Fail("hashing a password", hash.status(), out);
    if (absl::Status s = store_->SetPasswordHash(user_, *hash); !s.ok()) {
      return Fail("storing a password", s, out);
    }
    absl::StatusOr<int> ended = store_->DeleteOtherSessions(user_, token_hash_);
    if (!ended.ok()) return Fail("ending the other sessions", ended.status(), out);
    LOG(INFO) << "auth: connection " << id_ << ": " << user_ << " changed the password; " << *ended
              << " other session(s) ended";
    out.Reply("200 password changed; other sessions ended");
  }

  // Replies 429 and returns true while `user` or this address is locked out.
  // Counts this REGISTER against the address's share; replies 429 and
  // returns true once the share is used up (451 if it cannot be counted).
  // The address is both keys of its own limiter, so both count it alike.
  bool TooManyRegistrations(Replies& out) {
    if (registrations_ == nullptr) return false;
    absl::StatusOr<std::optional<absl::Duration>> wait =
        registrations_->RetryAfter(address_, address_);
    if (!wait.ok()) {
      Fail("reading the registrations of the address", wait.status(), out);
      return true;
    }
    if (wait->has_value()) {
      VLOG(1) << "auth: connection " << id_ << ": " << address_ << " registers too often";
      out.Reply(absl::StrCat("429 too many registrations from your address; retry in ",
                             RetrySecondsRoundedUp(**wait), "s"));
      return true;
    }
    if (absl::Status s = registrations_->RecordFailure(address_, address_); !s.ok()) {
      Fail("counting a registration", s, out);
      return true;
    }
    return false;
  }

  // A count that cannot be read refuses the attempt (451): an attempt
  // that is not counted would be a free guess.
  bool TooManyFailures(absl::string_view user, Replies& out) {
    absl::StatusOr<std::optional<absl::Duration>> retry_after =
        limiter_->RetryAfter(user, address_);
    if (!retry_after.ok()) {
      Fail("reading the failed logins", retry_after.status(), out);
      return true;
    }
    const std::optional<absl::Duration>& wait = *retry_after;
    if (!wait.has_value()) return false;
    VLOG(1) << "auth: connection " << id_ << ": " << user << " from " << address_
            << " locked out for " << absl::FormatDuration(*wait);
    out.Reply(absl::StrCat("429 too many attempts; retry in ", RetrySecondsRoundedUp(*wait), "s"));
    return true;
  }

  // Verifies `password`; on a mismatch counts the failure and replies 401.
  // An unknown user costs the same hashing time as a known one.
  bool CheckPassword(absl::string_view user, absl::string_view password, Replies& out) {
    absl::StatusOr<std::optional<std::string>> stored = store_->PasswordHash(user);
    if (!stored.ok()) {
      Fail("looking up a user", stored.status(), out);
      return false;
    }
    bool ok;
    if (stored->has_value()) {
      ok = hasher_->Verify(**stored, password);
    } else {
      hasher_->VerifyDummy(password);
      ok = false;
    }
    if (!ok) {
      if (absl::Status s = limiter_->RecordFailure(user, address_); !s.ok()) {
        // Not counted: answered as a failure of ours, so that the guess
        // learns nothing either.
        Fail("counting a failed login", s, out);
        return false;
      }
      LOG(INFO) << "auth: connection " << id_ << ": wrong credentials for " << user << " from "
                << address_;
      out.Reply(kInvalidCredentials);
      return false;
    }
    if (hasher_->NeedsRehash(**stored)) {
      // The hash was made at another cost: upgrade it now that the password
      // is at hand. A failure here only delays the upgrade.
      absl::StatusOr<std::string> rehashed = hasher_->Hash(password);
      if (rehashed.ok() && store_->SetPasswordHash(user, *rehashed).ok()) {
        LOG(INFO) << "auth: rehashed the password of " << user << " at the current cost";
      }
    }
    return true;
  }

  // Creates a session for `user` on this connection; `token` gets the
  // token to hand out.
  bool StartSession(absl::string_view user, std::string* token, Replies& out) {
    *token = NewSessionToken();
    const std::string token_hash = TokenHash(*token);
    const absl::Time now = clock_->Now();
    absl::Status s = store_->AddSession(
        token_hash, StoredSession{std::string(user), now, now + options_.session_ttl});
    if (s.ok()) s = store_->SetUserAt(address_, user);
    if (!s.ok()) {
      WipeSecret(*token);
      Fail("starting a session", s, out);
      return false;
    }
    user_ = std::string(user);
    known_user_ = user_;
    token_hash_ = token_hash;
    return true;
  }

  // True when this connection's session still exists and has not expired
  // (a PASSWD elsewhere may have ended it); replies 401 otherwise.
  bool StillLoggedIn(Replies& out) {
    if (user_.empty()) {
      out.Reply(kNotLoggedIn);
      return false;
    }
    absl::StatusOr<std::optional<StoredSession>> session = store_->FindSession(token_hash_);
    if (!session.ok()) {
      Fail("looking up a session", session.status(), out);
      return false;
    }
    if (!session->has_value() || (*session)->expires <= clock_->Now()) {
      user_.clear();
      token_hash_.clear();
      out.Reply(kNotLoggedIn);
      return false;
    }
    return true;
  }

  // A success clears the counts; if that fails they only expire later.
  void ForgetFailures(absl::string_view user) {
    if (absl::Status s = limiter_->RecordSuccess(user, address_); !s.ok()) {
      LOG(WARNING) << "auth: connection " << id_ << ": clearing the failed logins of " << user
                   << ": " << s;
    }
  }

  void Fail(absl::string_view what, const absl::Status& status, Replies& out) {
    LOG(ERROR) << "auth: connection " << id_ << ": " << what << ": " << status;
    out.Reply(kServerFailed);
  }

  Store* const store_;
  const PasswordHasher* const hasher_;
  FailureLimiter* const limiter_;
  FailureLimiter* const registrations_;  // null: no limit
  const Clock* const clock_;
  const AuthServiceOptions options_;
  const uint64_t id_;
  const std::string address_;
  std::string known_user_;  // the user this address is known as, if any
  std::string user_;        // logged in as; empty when not
  std::string token_hash_;  // of this connection's session
};

}  // namespace

std::unique_ptr<Session> AuthService::NewSession(const SessionInfo& info) {
  return std::make_unique<AuthSession>(store_, hasher_, limiter_, registrations_, clock_, options_,
                                       info);
}

}  // namespace switchboard
