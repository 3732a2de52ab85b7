// Copyright Switchboard authors.

#include "reactor/event_loop.h"

#include "glog/logging.h"

namespace switchboard {

absl::StatusOr<std::unique_ptr<EventLoop>> EventLoop::Create(PollerKind kind, Clock* clock) {
  absl::StatusOr<std::unique_ptr<Poller>> poller = MakePoller(kind);
  if (!poller.ok()) return poller.status();
  return CreateWithPoller(*std::move(poller), clock);
}

absl::StatusOr<std::unique_ptr<EventLoop>> EventLoop::CreateWithPoller(
    std::unique_ptr<Poller> poller, Clock* clock) {
  absl::StatusOr<Wakeup> wakeup = Wakeup::Create();
  if (!wakeup.ok()) return wakeup.status();
  return std::unique_ptr<EventLoop>(new EventLoop(std::move(poller), *std::move(wakeup), clock));
}

EventLoop::EventLoop(std::unique_ptr<Poller> poller, Wakeup wakeup, Clock* clock)
    : thread_id_(std::this_thread::get_id()),
      poller_(std::move(poller)),
      wakeup_(std::move(wakeup)),
      wakeup_watcher_(this, wakeup_.fd()),
      clock_(clock),
      turn_time_(clock->Now()) {
  wakeup_watcher_.set_read_callback([this] { wakeup_.Drain(); });
  wakeup_watcher_.EnableReading();
}

EventLoop::~EventLoop() {
  AssertInLoopThread();
  wakeup_watcher_.DisableAll();
  // Waits out a Quit or QueueInLoop from another thread that is still
  // inside Notify (see there).
  { absl::MutexLock lock(&mutex_); }
  LOG_IF(WARNING, watchers_ != 0) << "event loop destroyed with " << watchers_
                                  << " watchers still registered";
}

void EventLoop::DieOutsideLoopThread() const {
  LOG(FATAL) << "an object of the event loop on thread " << thread_id_ << " was used from thread "
             << std::this_thread::get_id();
}

void EventLoop::Run() {
  AssertInLoopThread();
  while (!quitting()) RunOnce(absl::InfiniteDuration());
  RunQueuedTasks();
}

void EventLoop::Quit() {
  if (IsInLoopThread()) {
    quit_.store(true, std::memory_order_release);
    return;
  }
  // Notify under the mutex: once quit_ is seen the loop may return and be
  // destroyed, and the destructor takes the mutex first. (The one system
  // call made under a lock here: a non-blocking eventfd or pipe write.)
  absl::MutexLock lock(&mutex_);
  quit_.store(true, std::memory_order_release);
  wakeup_.Notify();
}

absl::Duration EventLoop::PollTimeout(absl::Duration max_wait) {
  if (has_queued_.load(std::memory_order_acquire)) return absl::ZeroDuration();
  const absl::Time deadline = timers_.NextDeadline();
  if (deadline == absl::InfiniteFuture()) return max_wait;
  return std::min(max_wait, std::max(absl::ZeroDuration(), deadline - Now()));
}

void EventLoop::RunOnce(absl::Duration max_wait) {
  AssertInLoopThread();
  // Only a programming error fails a wait (EBADF, EINVAL, EFAULT: the
  // poller's own descriptor or arguments are broken), and nothing the loop
  // could do would mend it: stop with the reason, as Redis's ae does.
  const absl::Status status = poller_->Wait(PollTimeout(max_wait), &ready_);
  if (!status.ok()) {
    LOG(FATAL) << "the " << poller_->name() << " poller's wait failed, which only a bug "
               << "can cause: " << status;
  }
  turn_time_ = Now();
  for (ready_next_ = 0; ready_next_ < ready_.size(); ++ready_next_) {
    // Copy: a callback may remove watchers and null out later entries.
    const ReadyEvent event = ready_[ready_next_];
    if (event.token == nullptr) continue;
    static_cast<IoWatcher*>(event.token)->HandleEvents(event.events);
  }
  ready_.clear();
  ready_next_ = 0;
  timers_.RunExpired(Now());
  RunQueuedTasks();
}

void EventLoop::RunInLoop(Task task) {
  if (IsInLoopThread()) {
    std::move(task)();
  } else {
    QueueInLoop(std::move(task));
  }
}

void EventLoop::QueueInLoop(Task task) {
  absl::MutexLock lock(&mutex_);
  const bool was_empty = queued_.empty();
  queued_.push_back(std::move(task));
  has_queued_.store(true, std::memory_order_release);
  // Only the push onto an empty queue wakes the loop: whoever pushed the
  // tasks before this one already did, and the loop takes them all in one
  // swap (as Envoy's post does). The loop thread itself needs no wake-up
  // unless it is past the point where it picks up queued tasks (it is
  // running them now). Notify stays under the mutex for the reason given
  // in Quit.
  if (was_empty && (!IsInLoopThread() || running_tasks_.load(std::memory_order_relaxed))) {
    wakeup_.Notify();
  }
}

void EventLoop::RunQueuedTasks() {
  // Most turns have no tasks: the flag spares them the mutex. A task queued
  // just after this check also wakes the poller, so it runs next turn.
  if (!has_queued_.load(std::memory_order_acquire)) return;
  // A task that runs a turn of its own (tests do) gets a batch of its own.
  std::vector<Task> nested;
  std::vector<Task>& batch = running_tasks_.load(std::memory_order_relaxed) ? nested : batch_;
  {
    absl::MutexLock lock(&mutex_);
    // The vectors trade places, so both keep their capacity: no allocation
    // per turn in steady state.
    batch.swap(queued_);
    has_queued_.store(false, std::memory_order_relaxed);
  }
  const bool outer = &batch == &batch_;
  if (outer) running_tasks_.store(true, std::memory_order_relaxed);
  for (Task& task : batch) {
    // Destroyed as soon as it has run, so that what it owns (a connection
    // handed over for destruction, say) goes now, not after the batch.
    Task current = std::move(task);
    std::move(current)();
  }
  batch.clear();
  if (outer) running_tasks_.store(false, std::memory_order_relaxed);
}

TimerId EventLoop::RunAt(absl::Time when, TimerQueue::Callback callback) {
  AssertInLoopThread();
  return timers_.Add(when, absl::ZeroDuration(), std::move(callback));
}

TimerId EventLoop::RunAfter(absl::Duration delay, TimerQueue::Callback callback) {
  return RunAt(Now() + delay, std::move(callback));
}

TimerId EventLoop::RunEvery(absl::Duration interval, TimerQueue::Callback callback) {
  AssertInLoopThread();
  return timers_.Add(Now() + interval, interval, std::move(callback));
}

void EventLoop::CancelTimer(TimerId id) {
  AssertInLoopThread();
  timers_.Cancel(id);
}

size_t EventLoop::watcher_count() const {
  AssertInLoopThread();
  return watchers_ - (wakeup_watcher_.registered_ ? 1 : 0);
}

void EventLoop::UpdateWatcher(IoWatcher* watcher) {
  AssertInLoopThread();
  const uint32_t interest = watcher->interest_;
  absl::Status status;
  if (interest == 0) {
    // Deregister rather than keep an empty interest: epoll and poll report
    // errors and hang-ups even then, which would wake the loop for a
    // watcher that cannot act on them.
    if (watcher->registered_) RemoveWatcher(watcher);
    return;
  }
  if (!watcher->registered_) {
    status = poller_->Add(watcher->fd(), interest, watcher);
    if (status.ok()) {
      watcher->registered_ = true;
      ++watchers_;
    }
  } else {
    status = poller_->Modify(watcher->fd(), interest, watcher);
  }
  if (ABSL_PREDICT_TRUE(status.ok())) return;
  // A runtime limit (ENOMEM; ENOSPC past epoll's max_user_watches) costs
  // this one descriptor, never the server.
  LOG(ERROR) << "cannot watch fd " << watcher->fd() << " with the " << poller_->name()
             << " poller: " << status;
  watcher->interest_ = 0;
  RemoveWatcher(watcher);
  if (watcher->error_callback_) watcher->error_callback_(status);
}

void EventLoop::RemoveWatcher(IoWatcher* watcher) {
  AssertInLoopThread();
  if (watcher->registered_) {
    poller_->Remove(watcher->fd());
    watcher->registered_ = false;
    --watchers_;
  }
  // An event for this watcher may still wait later in this turn's batch.
  for (size_t i = ready_next_ + 1; i < ready_.size(); ++i) {
    if (ready_[i].token == watcher) ready_[i].token = nullptr;
  }
}

}  // namespace switchboard
