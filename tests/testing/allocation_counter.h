// Copyright Switchboard authors.
//
// allocation_counter.h: counts every heap allocation of the test process,
// so that a test can show a hot path allocates nothing per message. Linking
// the target replaces the global operator new (it is alwayslink).

#ifndef SWITCHBOARD_TESTS_TESTING_ALLOCATION_COUNTER_H_
#define SWITCHBOARD_TESTS_TESTING_ALLOCATION_COUNTER_H_

#include <cstdint>

namespace switchboard::testing {

// Allocations so far, all threads together.
uint64_t AllocationCount();

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_ALLOCATION_COUNTER_H_
