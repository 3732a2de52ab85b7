// Copyright Switchboard authors.
//
// auth_service.h: `AuthService`, password authentication with session
// tokens: REGISTER, LOGIN (with a user name, or the password alone from an
// address the store knows), RESUME with a saved token, WHOAMI, LOGOUT,
// PASSWD, exit. Passwords are kept only as Argon2id hashes and tokens only
// as hashes; failed logins are limited per user and per address. Hashing
// and the store block, so every call runs on the worker pool.

#ifndef SWITCHBOARD_SERVICES_AUTH_AUTH_SERVICE_H_
#define SWITCHBOARD_SERVICES_AUTH_AUTH_SERVICE_H_

#include <memory>

#include "absl/time/time.h"
#include "reactor/clock.h"
#include "services/auth/failure_limiter.h"
#include "services/auth/password_hasher.h"
#include "services/service.h"
#include "services/store/store.h"

namespace switchboard {

struct AuthServiceOptions {
  absl::Duration session_ttl = absl::Hours(24);
};

class AuthService final : public Service {
 public:
  // Every pointer must outlive the service and its sessions.
  // `registrations` counts REGISTERs per client address (null: no limit).
  AuthService(Store* store, const PasswordHasher* hasher, FailureLimiter* limiter,
              const Clock* clock, AuthServiceOptions options,
              FailureLimiter* registrations = nullptr)
      : store_(store),
        hasher_(hasher),
        limiter_(limiter),
        registrations_(registrations),
        clock_(clock),
        options_(options) {}

  // Service
  absl::string_view name() const override { return "auth"; }
  bool cheap() const override { return false; }
  std::unique_ptr<Session> NewSession(const SessionInfo& info) override;

 private:
  Store* const store_;
  const PasswordHasher* const hasher_;
  FailureLimiter* const limiter_;
  FailureLimiter* const registrations_;
  const Clock* const clock_;
  const AuthServiceOptions options_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_AUTH_AUTH_SERVICE_H_
