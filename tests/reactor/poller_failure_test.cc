// Copyright Switchboard authors.
//
// The failure policy of the loop and its pollers: a failed wait is a bug and
// stops the process with the reason; a descriptor the poller refuses (a
// runtime limit) costs that descriptor only, whose owner closes it. The
// kernel cannot be made to hit max_user_watches on demand, so a poller that
// wraps the real one fails when told to: one of the few places a fake is
// right.

#include <errno.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "reactor/errno_status.h"
#include "reactor/event_loop.h"
#include "reactor/io_watcher.h"
#include "reactor/poller.h"
#include "reactor/tcp_connection.h"
#include "tests/testing/socket_pair.h"

namespace switchboard {
namespace {

// The platform's default poller, failing Add/Modify or Wait when armed.
class FailingPoller final : public Poller {
 public:
  struct Switches {
    int fail_add = 0;  // errno for the next Add/Modify calls; 0: none
    int fail_wait = 0;
  };

  explicit FailingPoller(Switches* switches)
      : real_(*MakePoller(DefaultPollerKind())), switches_(switches) {}

  absl::Status Add(int fd, uint32_t interest, void* token) override {
    if (switches_->fail_add != 0) return ErrnoStatus(switches_->fail_add, "epoll_ctl");
    return real_->Add(fd, interest, token);
  }
  absl::Status Modify(int fd, uint32_t interest, void* token) override {
    if (switches_->fail_add != 0) return ErrnoStatus(switches_->fail_add, "epoll_ctl");
    return real_->Modify(fd, interest, token);
  }
  void Remove(int fd) override { real_->Remove(fd); }
  absl::Status Wait(absl::Duration timeout, std::vector<ReadyEvent>* ready) override {
    if (switches_->fail_wait != 0) return ErrnoStatus(switches_->fail_wait, "epoll_wait");
    return real_->Wait(timeout, ready);
  }
  absl::string_view name() const override { return "failing"; }

 private:
  const std::unique_ptr<Poller> real_;
  Switches* const switches_;
};

class PollerFailureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<EventLoop>> loop =
        EventLoop::CreateWithPoller(std::make_unique<FailingPoller>(&switches_));
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = *std::move(loop);
  }

  FailingPoller::Switches switches_;
  std::unique_ptr<EventLoop> loop_;
};

TEST_F(PollerFailureTest, RefusedAddCallsTheOwnerAndLeavesNothingRegistered) {
  absl::StatusOr<testing::SocketPair> pair = testing::MakeSocketPair();
  ASSERT_TRUE(pair.ok()) << pair.status();
  IoWatcher watcher(loop_.get(), pair->first.fd());
  std::vector<int> errors;
  watcher.set_error_callback(
      [&errors](const absl::Status& status) { errors.push_back(ErrnoOf(status)); });

  switches_.fail_add = ENOSPC;
  watcher.EnableReading();
  EXPECT_EQ(errors, std::vector<int>{ENOSPC});
  EXPECT_FALSE(watcher.reading());
  EXPECT_EQ(loop_->watcher_count(), 0u);

  // The limit lifted, the same watcher works again: nothing stuck.
  switches_.fail_add = 0;
  watcher.EnableReading();
  EXPECT_TRUE(watcher.reading());
  EXPECT_EQ(loop_->watcher_count(), 1u);
  watcher.DisableAll();
  EXPECT_EQ(errors.size(), 1u);
}

TEST_F(PollerFailureTest, RefusedModifyUnregistersTheWatcher) {
  absl::StatusOr<testing::SocketPair> pair = testing::MakeSocketPair();
  ASSERT_TRUE(pair.ok()) << pair.status();
  IoWatcher watcher(loop_.get(), pair->first.fd());
  int error = 0;
  watcher.set_error_callback([&error](const absl::Status& status) { error = ErrnoOf(status); });
  watcher.EnableReading();
  ASSERT_EQ(loop_->watcher_count(), 1u);

  switches_.fail_add = ENOMEM;
  watcher.EnableWriting();
  EXPECT_EQ(error, ENOMEM);
  EXPECT_EQ(watcher.interest(), 0u);
  EXPECT_EQ(loop_->watcher_count(), 0u);
}

TEST_F(PollerFailureTest, AWatcherWithoutAnOwnerCallbackIsDroppedNotFatal) {
  absl::StatusOr<testing::SocketPair> pair = testing::MakeSocketPair();
  ASSERT_TRUE(pair.ok()) << pair.status();
  IoWatcher watcher(loop_.get(), pair->first.fd());
  switches_.fail_add = ENOSPC;
  watcher.EnableReading();  // before, a CHECK killed the process here
  EXPECT_EQ(watcher.interest(), 0u);
  EXPECT_EQ(loop_->watcher_count(), 0u);
}

class RecordingHandler final : public ConnectionHandler {
 public:
  void OnData(TcpConnection&, Buffer& input) override { input.Clear(); }
  void OnEndOfInput(TcpConnection& connection, Buffer&) override { connection.EndSession(); }
  void OnClose(TcpConnection&) override { ++closes; }
  int closes = 0;
};

TEST_F(PollerFailureTest, AConnectionTheLoopCannotWatchClosesAloneWithTheReason) {
  absl::StatusOr<testing::SocketPair> refused = testing::MakeSocketPair();
  absl::StatusOr<testing::SocketPair> fine = testing::MakeSocketPair();
  ASSERT_TRUE(refused.ok() && fine.ok());
  TcpConnectionOptions options;
  auto handler = std::make_shared<RecordingHandler>();

  switches_.fail_add = ENOSPC;
  auto victim = std::make_unique<TcpConnection>(loop_.get(), 1, std::move(refused->second),
                                                InetAddress(), options);
  victim->set_handler(handler);
  victim->Start();
  EXPECT_TRUE(victim->closed());
  EXPECT_TRUE(absl::StrContains(victim->close_reason(), "cannot watch the socket"))
      << victim->close_reason();
  EXPECT_EQ(handler->closes, 1);

  // Another connection on the same loop is served once the limit lifts.
  switches_.fail_add = 0;
  auto other = std::make_unique<TcpConnection>(loop_.get(), 2, std::move(fine->second),
                                               InetAddress(), options);
  other->Start();
  EXPECT_FALSE(other->closed());
  EXPECT_TRUE(other->reading());
  EXPECT_EQ(loop_->watcher_count(), 1u);
  other->Close("test over");
  loop_->RunOnce(absl::ZeroDuration());
}

TEST_F(PollerFailureTest, AFailedWaitStopsTheProcessWithTheReason) {
  switches_.fail_wait = EBADF;
  EXPECT_DEATH(loop_->RunOnce(absl::ZeroDuration()),
               "poller's wait failed, which only a bug can cause: .*epoll_wait");
}

}  // namespace
}  // namespace switchboard
