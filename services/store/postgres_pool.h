// Copyright Switchboard authors.
//
// postgres_pool.h: `PgPool`, the PostgreSQL connections of one server: at
// most `size` of them (one per worker thread, the only callers), opened when
// needed, each set up once (its prepared statements), lent for one call.
//
// Losing the server is a state, not an error per request: the first failure
// logs "lost", every later connection attempt waits for a backoff (100 ms
// doubling to 10 s) and, until then, callers get Unavailable at once
// instead of each waiting for a connect timeout; the first success logs
// "back". A connection that broke is dropped with every idle one (they went
// to the same server), so that a restarted server costs each idle
// connection no failed request.

#ifndef SWITCHBOARD_SERVICES_STORE_POSTGRES_POOL_H_
#define SWITCHBOARD_SERVICES_STORE_POSTGRES_POOL_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "reactor/clock.h"
#include "services/store/postgres_connection.h"

namespace switchboard {

// Thread-safe. The lock is never held across a call to the server.
class PgPool {
 public:
  // Runs once on every new connection; a failure drops it.
  using Setup = std::function<absl::Status(PgConnection&)>;

  PgPool(std::string uri, int size, Setup setup, const Clock* clock);
  PgPool(const PgPool&) = delete;
  PgPool& operator=(const PgPool&) = delete;

  // A connection for the calling thread alone; it goes back to the pool
  // when the Lease is destroyed (or away, if it broke).
  class Lease {
   public:
    Lease(PgPool* pool, std::unique_ptr<PgConnection> connection)
        : pool_(pool), connection_(std::move(connection)) {}
    Lease(Lease&& other) = default;
    ~Lease() {
      if (connection_ != nullptr) pool_->Release(std::move(connection_));
    }
    PgConnection* operator->() const { return connection_.get(); }
    PgConnection& operator*() const { return *connection_; }

   private:
    PgPool* pool_;
    std::unique_ptr<PgConnection> connection_;
  };

  // An idle connection, a new one, or (all `size` lent) the next returned.
  // Unavailable while the server cannot be reached.
  absl::StatusOr<Lease> Acquire();

  // Whether the last attempt to reach the server worked.
  bool reachable() const;

 private:
  void Release(std::unique_ptr<PgConnection> connection);
  absl::StatusOr<std::unique_ptr<PgConnection>> Open();
  void MarkLost(const absl::Status& why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MarkFound() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string uri_;
  const int size_;
  const Setup setup_;
  const Clock* const clock_;

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<PgConnection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;  // idle, lent, or being opened
  bool reachable_ ABSL_GUARDED_BY(mu_) = true;
  absl::Duration backoff_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  absl::Time next_attempt_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_STORE_POSTGRES_POOL_H_
