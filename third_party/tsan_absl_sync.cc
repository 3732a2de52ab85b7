// Copyright Switchboard authors.
//
// tsan_absl_sync.cc: tells ThreadSanitizer about the synchronization that
// the system's Abseil performs, in TSan builds (tests and the binaries they
// start).
//
// Why: Debian's libabsl_synchronization.so is not built with -fsanitize=thread,
// so TSan cannot see absl::Mutex, CondVar, Notification or BlockingCounter
// order anything. Every access to data guarded by an absl::Mutex (the event
// loop's task queue, the thread pool's queue ...) is then reported as a data
// race between threads that did in fact hold the same lock: false positives
// that drown any real report. An instrumented Abseil avoids this with its
// ABSL_TSAN_MUTEX_* annotations; this file adds the equivalent from outside.
//
// How: it defines the out-of-line absl synchronization functions in the test
// executable itself. The dynamic linker binds every caller (the reactor's
// shared libraries included) to these definitions first; each forwards to
// the real function in libabsl_synchronization.so (found with
// dlsym(RTLD_NEXT)) and brackets it with __tsan_release (before giving up a
// lock or signalling) and __tsan_acquire (after taking a lock or being
// signalled) on the object's address; conditions passed to Await and
// LockWhen are wrapped so that their evaluation inside the library acquires
// too. This adds exactly the happens-before
// edges the real primitives provide and nothing else, so a real race (an
// access without the lock) is still reported.
//
// Limits: absl::Notification::HasBeenNotified() is inline and cannot be
// interposed; code that polls it and then reads published data without
// WaitForNotification() still gets a (false) report.
//
// Outside TSan builds this file compiles to nothing. Link it with
// alwayslink and linkstatic so that the definitions land in the executable.

#if defined(__SANITIZE_THREAD__)

#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

#define SWITCHBOARD_STR2(x) #x
#define SWITCHBOARD_STR(x) SWITCHBOARD_STR2(x)
#if defined(ABSL_OPTION_USE_INLINE_NAMESPACE) && ABSL_OPTION_USE_INLINE_NAMESPACE == 1
#define SWITCHBOARD_ABSL_NAMESPACE_STR SWITCHBOARD_STR(ABSL_OPTION_INLINE_NAMESPACE_NAME)
#else
#error "tsan_absl_sync.cc expects Abseil built with an inline namespace"
#endif

namespace {

// The mangled name of a member of absl's (versioned) inline namespace:
// `prefix` is "_ZN" or "_ZNK" (const), `tail` what follows the namespaces.
std::string Mangled(const char* prefix, const char* tail) {
  const std::string inline_namespace = SWITCHBOARD_ABSL_NAMESPACE_STR;
  return std::string(prefix) + "4absl" + std::to_string(inline_namespace.size()) +
         inline_namespace + tail;
}

// The next definition of the symbol after this executable: Abseil's own.
template <typename Fn>
Fn Real(const char* prefix, const char* tail) {
  const std::string symbol = Mangled(prefix, tail);
  void* address = dlsym(RTLD_NEXT, symbol.c_str());
  if (address == nullptr) {
    std::fprintf(stderr, "tsan_absl_sync: cannot find %s: %s\n", symbol.c_str(), dlerror());
    std::abort();
  }
  return reinterpret_cast<Fn>(address);
}

inline void Acquire(const void* address) { __tsan_acquire(const_cast<void*>(address)); }
inline void Release(const void* address) { __tsan_release(const_cast<void*>(address)); }

// A condition that tells TSan what the evaluation relies on. Abseil
// evaluates a waiter's condition inside the library: in the waiter after it
// took the lock internally, or in another thread that is releasing the lock
// on the waiter's behalf, where the Lock/Unlock wrappers below cannot see
// it. The waiter publishes the wrapper (Release on its address) before it
// waits and takes it back (Acquire) when the wait ends.
struct AcquiringCondition {
  const absl::Condition* condition;
  const absl::Mutex* mutex;

  static bool Eval(AcquiringCondition* self) {
    Acquire(self);  // the waiter's writes of *self and of its condition
    const absl::Condition* condition = self->condition;
    const absl::Mutex* mutex = self->mutex;
    Acquire(mutex);  // the lock's earlier holders: the guarded data
    const bool result = condition->Eval();
    Release(mutex);  // these reads, for the lock's next holder
    Release(self);   // and for the waiter, which will reuse the memory
    return result;
  }
};

// Forwards a member function with the given mangled name: `this` first.
#define SWITCHBOARD_REAL(Return, prefix, tail, ...) \
  static const auto real = Real<Return (*)(__VA_ARGS__)>(prefix, tail)

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

// ---------------------------------------------------------------- Mutex

void Mutex::Lock() {
  SWITCHBOARD_REAL(void, "_ZN", "5Mutex4LockEv", Mutex*);
  real(this);
  Acquire(this);
}

void Mutex::ReaderLock() {
  SWITCHBOARD_REAL(void, "_ZN", "5Mutex10ReaderLockEv", Mutex*);
  real(this);
  Acquire(this);
}

bool Mutex::TryLock() {
  SWITCHBOARD_REAL(bool, "_ZN", "5Mutex7TryLockEv", Mutex*);
  const bool locked = real(this);
  if (locked) Acquire(this);
  return locked;
}

bool Mutex::ReaderTryLock() {
  SWITCHBOARD_REAL(bool, "_ZN", "5Mutex13ReaderTryLockEv", Mutex*);
  const bool locked = real(this);
  if (locked) Acquire(this);
  return locked;
}

void Mutex::Unlock() {
  SWITCHBOARD_REAL(void, "_ZN", "5Mutex6UnlockEv", Mutex*);
  Release(this);
  real(this);
}

void Mutex::ReaderUnlock() {
  SWITCHBOARD_REAL(void, "_ZN", "5Mutex12ReaderUnlockEv", Mutex*);
  Release(this);
  real(this);
}

// Await and friends give the lock up while they wait and hold it again when
// they return, whatever the outcome.
void Mutex::Await(const Condition& cond) {
  SWITCHBOARD_REAL(void, "_ZN", "5Mutex5AwaitERKNS0_9ConditionE", Mutex*,
                   const Condition&);
  AcquiringCondition wrapped{&cond, this};
  Release(&wrapped);
  Release(this);
  real(this, Condition(&AcquiringCondition::Eval, &wrapped));
  Acquire(&wrapped);
  Acquire(this);
}

bool Mutex::AwaitWithTimeout(const Condition& cond, absl::Duration timeout) {
  SWITCHBOARD_REAL(bool,
                   "_ZN", "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE",
                   Mutex*, const Condition&, absl::Duration);
  AcquiringCondition wrapped{&cond, this};
  Release(&wrapped);
  Release(this);
  const bool result = real(this, Condition(&AcquiringCondition::Eval, &wrapped), timeout);
  Acquire(&wrapped);
  Acquire(this);
  return result;
}

bool Mutex::AwaitWithDeadline(const Condition& cond, absl::Time deadline) {
  SWITCHBOARD_REAL(bool,
                   "_ZN", "5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE",
                   Mutex*, const Condition&, absl::Time);
  AcquiringCondition wrapped{&cond, this};
  Release(&wrapped);
  Release(this);
  const bool result = real(this, Condition(&AcquiringCondition::Eval, &wrapped), deadline);
  Acquire(&wrapped);
  Acquire(this);
  return result;
}

void Mutex::LockWhen(const Condition& cond) {
  SWITCHBOARD_REAL(void, "_ZN", "5Mutex8LockWhenERKNS0_9ConditionE", Mutex*,
                   const Condition&);
  AcquiringCondition wrapped{&cond, this};
  Release(&wrapped);
  real(this, Condition(&AcquiringCondition::Eval, &wrapped));
  Acquire(&wrapped);
  Acquire(this);
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  SWITCHBOARD_REAL(void, "_ZN", "5Mutex14ReaderLockWhenERKNS0_9ConditionE", Mutex*,
                   const Condition&);
  AcquiringCondition wrapped{&cond, this};
  Release(&wrapped);
  real(this, Condition(&AcquiringCondition::Eval, &wrapped));
  Acquire(&wrapped);
  Acquire(this);
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, absl::Duration timeout) {
  SWITCHBOARD_REAL(bool,
                   "_ZN", "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE",
                   Mutex*, const Condition&, absl::Duration);
  AcquiringCondition wrapped{&cond, this};
  Release(&wrapped);
  const bool result = real(this, Condition(&AcquiringCondition::Eval, &wrapped), timeout);
  Acquire(&wrapped);
  Acquire(this);
  return result;
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, absl::Duration timeout) {
  SWITCHBOARD_REAL(
      bool, "_ZN", "5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE",
      Mutex*, const Condition&, absl::Duration);
  AcquiringCondition wrapped{&cond, this};
  Release(&wrapped);
  const bool result = real(this, Condition(&AcquiringCondition::Eval, &wrapped), timeout);
  Acquire(&wrapped);
  Acquire(this);
  return result;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, absl::Time deadline) {
  SWITCHBOARD_REAL(bool,
                   "_ZN", "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE",
                   Mutex*, const Condition&, absl::Time);
  AcquiringCondition wrapped{&cond, this};
  Release(&wrapped);
  const bool result = real(this, Condition(&AcquiringCondition::Eval, &wrapped), deadline);
  Acquire(&wrapped);
  Acquire(this);
  return result;
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, absl::Time deadline) {
  SWITCHBOARD_REAL(
      bool, "_ZN", "5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE",
      Mutex*, const Condition&, absl::Time);
  AcquiringCondition wrapped{&cond, this};
  Release(&wrapped);
  const bool result = real(this, Condition(&AcquiringCondition::Eval, &wrapped), deadline);
  Acquire(&wrapped);
  Acquire(this);
  return result;
}

// -------------------------------------------------------------- CondVar

void CondVar::Wait(Mutex* mu) {
  SWITCHBOARD_REAL(void, "_ZN", "7CondVar4WaitEPNS0_5MutexE", CondVar*, Mutex*);
  Release(mu);
  real(this, mu);
  Acquire(mu);
}

bool CondVar::WaitWithTimeout(Mutex* mu, absl::Duration timeout) {
  SWITCHBOARD_REAL(bool, "_ZN", "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE",
                   CondVar*, Mutex*, absl::Duration);
  Release(mu);
  const bool result = real(this, mu, timeout);
  Acquire(mu);
  return result;
}

bool CondVar::WaitWithDeadline(Mutex* mu, absl::Time deadline) {
  SWITCHBOARD_REAL(bool, "_ZN", "7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE",
                   CondVar*, Mutex*, absl::Time);
  Release(mu);
  const bool result = real(this, mu, deadline);
  Acquire(mu);
  return result;
}

// --------------------------------------------------------- Notification

void Notification::Notify() {
  SWITCHBOARD_REAL(void, "_ZN", "12Notification6NotifyEv", Notification*);
  Release(this);
  real(this);
}

void Notification::WaitForNotification() const {
  SWITCHBOARD_REAL(void, "_ZNK", "12Notification19WaitForNotificationEv",
                   const Notification*);
  real(this);
  Acquire(this);
}

bool Notification::WaitForNotificationWithTimeout(absl::Duration timeout) const {
  SWITCHBOARD_REAL(
      bool, "_ZNK", "12Notification30WaitForNotificationWithTimeoutENS0_8DurationE",
      const Notification*, absl::Duration);
  const bool notified = real(this, timeout);
  if (notified) Acquire(this);
  return notified;
}

bool Notification::WaitForNotificationWithDeadline(absl::Time deadline) const {
  SWITCHBOARD_REAL(
      bool, "_ZNK", "12Notification31WaitForNotificationWithDeadlineENS0_4TimeE",
      const Notification*, absl::Time);
  const bool notified = real(this, deadline);
  if (notified) Acquire(this);
  return notified;
}

// ------------------------------------------------------ BlockingCounter

bool BlockingCounter::DecrementCount() {
  SWITCHBOARD_REAL(bool, "_ZN", "15BlockingCounter14DecrementCountEv",
                   BlockingCounter*);
  Release(this);
  const bool reached_zero = real(this);
  if (reached_zero) Acquire(this);
  return reached_zero;
}

void BlockingCounter::Wait() {
  SWITCHBOARD_REAL(void, "_ZN", "15BlockingCounter4WaitEv", BlockingCounter*);
  real(this);
  Acquire(this);
}

ABSL_NAMESPACE_END
}  // namespace absl

// Three blind spots this file cannot annotate:
// - absl::StrError (behind absl::ErrnoToStatus) fills a table once, in a
//   function-local static whose guard TSan cannot see, so two threads
//   formatting an errno are reported.
// - The Condition that LockWhen wraps lives on the waiter's stack; the
//   notifying thread reads it inside the library (CastAndCallFunction)
//   before the wrapper's acquire can run.
// - A Mutex's destructor removes it from the deadlock detector's global
//   graph (GraphCycles, in libabsl_graphcycles_internal.so) under an
//   internal spin lock of the library's own, so two threads destroying
//   mutexes (a connection's handler, a server's) are reported.
extern "C" const char* __tsan_default_suppressions() {
  return "race:libabsl_strerror.so\n"
         "race:CastAndCallFunction\n"
         "race:libabsl_graphcycles_internal.so\n";
}

#endif  // __SANITIZE_THREAD__
