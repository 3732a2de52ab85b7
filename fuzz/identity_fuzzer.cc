// Copyright Switchboard authors.
//
// identity_fuzzer: the identity service's sessions (names, NAME, FORGET,
// exit, bad names, store failures) on connections from a few addresses
// sharing one in-memory store. Input format: session_harness.h.

#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_util.h"
#include "fuzz/memory_store.h"
#include "fuzz/session_harness.h"
#include "services/identity/identity_service.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace switchboard;
  fuzz::Init();
  fuzz::MemoryStore store;
  fuzz::FixedClock clock;
  IdentityService service(&store);
  fuzz::SessionHarness harness(service, store, clock);
  fuzz::Input in(data, size);
  harness.RunAll(in);
  return 0;
}
