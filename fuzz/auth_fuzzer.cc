// Copyright Switchboard authors.
//
// auth_fuzzer: the auth service's sessions (REGISTER, LOGIN, RESUME,
// WHOAMI, LOGOUT, PASSWD, exit; user names, passwords, UTF-8; the failure
// limit as the clock moves; store failures) on connections from a few
// addresses sharing one in-memory store. Hashing at libsodium's minimum
// cost, so that an execution takes microseconds. Input format:
// session_harness.h.

#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_util.h"
#include "fuzz/memory_store.h"
#include "fuzz/session_harness.h"
#include "services/auth/auth_service.h"
#include "services/auth/memory_failure_limiter.h"
#include "services/auth/password_hasher.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace switchboard;
  fuzz::Init();
  static const PasswordHasher* const hasher = new PasswordHasher(PwhashCost::kMin);
  fuzz::MemoryStore store;
  fuzz::FixedClock clock;
  MemoryFailureLimiter limiter(&clock);
  AuthService service(&store, hasher, &limiter, &clock, AuthServiceOptions{});
  fuzz::SessionHarness harness(service, store, clock);
  fuzz::Input in(data, size);
  harness.RunAll(in);
  return 0;
}
