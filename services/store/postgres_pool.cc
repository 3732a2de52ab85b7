// Copyright Switchboard authors.

#include "services/store/postgres_pool.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace switchboard {
namespace {

constexpr absl::Duration kFirstBackoff = absl::Milliseconds(100);
constexpr absl::Duration kMaxBackoff = absl::Seconds(10);
// A caller waits this long for a lent connection before giving up: far
// longer than any statement here takes while the server is healthy.
constexpr absl::Duration kLendWait = absl::Seconds(10);

}  // namespace

PgPool::PgPool(std::string uri, int size, Setup setup, const Clock* clock)
    : uri_(std::move(uri)), size_(std::max(1, size)), setup_(std::move(setup)), clock_(clock) {}

bool PgPool::reachable() const {
  absl::MutexLock lock(&mu_);
  return reachable_;
}

absl::StatusOr<PgPool::Lease> PgPool::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    auto ready = [this]()
                     ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !idle_.empty() || open_ < size_; };
    if (!mu_.AwaitWithTimeout(absl::Condition(&ready), kLendWait)) {
      return absl::UnavailableError("postgresql: every connection stayed busy");
    }
    if (!idle_.empty()) {
      std::unique_ptr<PgConnection> connection = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(connection));
    }
    const absl::Time now = clock_->Now();
    if (now < next_attempt_) {
      return absl::UnavailableError(absl::StrCat(
          "PostgreSQL is unreachable; next attempt in ",
          absl::FormatDuration(absl::Ceil(next_attempt_ - now, absl::Milliseconds(1)))));
    }
    ++open_;
  }
  // Connecting blocks: outside the lock.
  absl::StatusOr<std::unique_ptr<PgConnection>> connection = Open();
  absl::MutexLock lock(&mu_);
  if (!connection.ok()) {
    --open_;
    if (connection.status().code() == absl::StatusCode::kUnavailable) {
      MarkLost(connection.status());
      backoff_ =
          backoff_ == absl::ZeroDuration() ? kFirstBackoff : std::min(2 * backoff_, kMaxBackoff);
      next_attempt_ = clock_->Now() + backoff_;
    }
    return connection.status();
  }
  MarkFound();
  return Lease(this, *std::move(connection));
}

absl::StatusOr<std::unique_ptr<PgConnection>> PgPool::Open() {
  absl::StatusOr<std::unique_ptr<PgConnection>> connection = PgConnection::Connect(uri_);
  if (!connection.ok()) return connection.status();
  if (absl::Status s = setup_(**connection); !s.ok()) return s;
  return connection;
}

void PgPool::Release(std::unique_ptr<PgConnection> connection) {
  const bool broken = connection->broken();
  // Closing talks to the server: outside the lock.
  std::vector<std::unique_ptr<PgConnection>> dropped;
  {
    absl::MutexLock lock(&mu_);
    if (!broken) {
      idle_.push_back(std::move(connection));
      return;
    }
    --open_;
    open_ -= static_cast<int>(idle_.size());
    dropped.swap(idle_);
    MarkLost(absl::UnavailableError("postgresql: the connection broke"));
  }
  dropped.clear();
  connection.reset();
}

void PgPool::MarkLost(const absl::Status& why) {
  if (!reachable_) return;
  reachable_ = false;
  LOG(WARNING) << "store: lost PostgreSQL (" << why.message()
               << "); requests that need it get 451 until it is back";
}

void PgPool::MarkFound() {
  backoff_ = absl::ZeroDuration();
  next_attempt_ = absl::InfinitePast();
  if (reachable_) return;
  reachable_ = true;
  LOG(INFO) << "store: PostgreSQL is back";
}

}  // namespace switchboard
