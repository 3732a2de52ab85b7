// Copyright Switchboard authors.
//
// stream_connection.h: StreamConnection, one TCP connection of a
// LoadGenerator load (part of //clients:load_generator, not for other
// users): it connects, sends, keeps to the open loop's schedule, times the
// replies and drains at the end; what it says and how the replies are
// checked is its StreamDialogue's.

#ifndef SWITCHBOARD_CLIENTS_STREAM_CONNECTION_H_
#define SWITCHBOARD_CLIENTS_STREAM_CONNECTION_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/time/time.h"
#include "clients/load_generator.h"
#include "clients/load_thread.h"
#include "clients/open_loop_schedule.h"
#include "clients/stream_dialogue.h"
#include "reactor/buffer.h"
#include "reactor/io_watcher.h"
#include "reactor/socket.h"

namespace switchboard {

// One TCP connection of the load: a non-blocking socket on its thread's loop
// that sends its dialogue's opening, then its requests (closed loop, or on
// the open loop's schedule), and checks and times their replies.
class StreamConnection final : public LoadClient {
 public:
  // Connection `id` of `thread`'s share, saying what `dialogue` says.
  StreamConnection(LoadThread* thread, uint32_t id, std::unique_ptr<StreamDialogue> dialogue);
  ~StreamConnection() override;
  StreamConnection(const StreamConnection&) = delete;
  StreamConnection& operator=(const StreamConnection&) = delete;

  // LoadClient
  void Open() override;
  bool sending() const override { return state_ == State::kOpen; }
  absl::Time SendDue(absl::Time now) override;
  void Check(absl::Time now) override;
  void EndWindow(absl::Time now, LoadStats* stats) override;

 private:
  // kOpening: established, the opening's replies not all in yet.
  enum class State { kIdle, kConnecting, kOpening, kOpen, kDraining, kClosed };

  std::string ConnectError(int error) const;

  absl::Time SentAt(uint64_t seq) const {
    return closed_loop_ ? sent_at_[seq % sent_at_.size()] : schedule_.Intended(seq);
  }

  void Established(absl::Time now);
  void BeginRequests(absl::Time now);
  void SendUpTo(uint64_t limit, absl::Time now);
  bool Flush();
  void ShutdownWrite();
  void HandleWrite();
  void HandleRead();
  bool TakeReplies(absl::Time now);
  void CheckLeftover();
  void Fail(LoadErrorKind kind, absl::FunctionRef<std::string()> describe);
  void Close();

  LoadThread* const thread_;
  const LoadConfig& config_;
  const std::unique_ptr<StreamDialogue> dialogue_;
  const uint32_t id_;
  const bool closed_loop_;

  State state_ = State::kIdle;
  Socket socket_;
  std::unique_ptr<IoWatcher> watcher_;
  Buffer input_;
  Buffer output_;
  bool write_shut_ = false;
  int opening_owed_ = 0;             // replies to the opening still to come
  int opening_taken_ = 0;            // replies to the opening taken
  uint64_t sent_ = 0;                // requests written to the output
  uint64_t received_ = 0;            // replies taken (right or wrong)
  std::vector<absl::Time> sent_at_;  // closed loop: by seq % depth
  OpenLoopSchedule schedule_;        // open loop
  absl::Time connect_started_;
  absl::Time last_progress_;  // the last reply bytes, or the first owed
  absl::Time drain_deadline_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_CLIENTS_STREAM_CONNECTION_H_
