// Copyright Switchboard authors.
//
// tcp_connection.h: `TcpConnection`, one accepted TCP connection on one
// event loop: reads into an input buffer, writes from an output buffer
// without blocking, and carries out the ways a connection can end.
//
// Ending, from the server's side:
//   EndSession()  sends what is owed, shuts down the sending side, discards
//                 what the peer still sends, and closes when the peer closes
//                 or after the linger time (a lingering close, as nginx does),
//                 so that a reset never destroys replies not yet read.
//   Close(why)    closes now.
// From the peer's side: end of stream stops reading and is reported to the
// owner, who answers what it still owes and then calls EndSession().
//
// Backpressure: when the output buffer passes the high-water mark the
// connection stops reading until it drains below the low-water mark, so a
// peer that does not read its replies costs bounded memory. An idle timer
// closes a connection that neither sent anything nor read anything for the
// idle timeout.

#ifndef SWITCHBOARD_REACTOR_TCP_CONNECTION_H_
#define SWITCHBOARD_REACTOR_TCP_CONNECTION_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "reactor/buffer.h"
#include "reactor/event_loop.h"
#include "reactor/inet_address.h"
#include "reactor/io_watcher.h"
#include "reactor/socket.h"

namespace switchboard {

struct TcpConnectionOptions {
  size_t high_water_bytes = 1 << 20;     // pause reading above this much output
  size_t low_water_bytes = 256 << 10;    // resume once output is this small
  size_t max_write_per_event = 1 << 20;  // fairness between connections
  absl::Duration idle_timeout = absl::Seconds(300);
  absl::Duration linger = absl::Seconds(5);
};

class TcpConnection;

// What a connection's owner (a service host) does with its traffic. Called
// on the connection's loop thread, never after OnClose.
class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;
  // New input is in `input`; consume what was used, leave the rest.
  //
  // Hot-path rules: `input` may be a buffer the loop thread lends to every
  // connection in turn, valid only during this call; what is left in it
  // afterwards is copied into the connection's own buffer, so consume
  // every whole message here, and keep no pointer or view into it past the
  // return (copy what must outlive the call). The call may Send(), which
  // can fail and close the connection inside the call: check closed()
  // before touching it again.
  virtual void OnData(TcpConnection& connection, Buffer& input) = 0;
  // The peer sent end of stream; `input` holds what was not consumed. Answer
  // what is still owed, then call connection.EndSession().
  virtual void OnEndOfInput(TcpConnection& connection, Buffer& input) = 0;
  // The connection closed; it is destroyed soon after. Do not touch it later.
  virtual void OnClose(TcpConnection& connection) = 0;
};

// Loop thread only, except the const accessors of values fixed at
// construction (id, peer, local), which any thread may read.
class TcpConnection {
 public:
  // For the object that owns the connection (TcpServer): called after the
  // handler's OnClose. It must not destroy the connection inside the call.
  using CloseCallback = std::function<void(TcpConnection&)>;

  TcpConnection(EventLoop* loop, uint64_t id, Socket socket, const InetAddress& peer,
                const TcpConnectionOptions& options);
  ~TcpConnection();
  TcpConnection(const TcpConnection&) = delete;
  TcpConnection& operator=(const TcpConnection&) = delete;

  // Without a handler, input is discarded and end of stream ends the
  // session. The connection keeps the handler until it is destroyed (always
  // after the current callbacks), so a handler whose own call closed the
  // connection is not destroyed under it.
  void set_handler(std::shared_ptr<ConnectionHandler> handler) { handler_ = std::move(handler); }
  void set_close_callback(CloseCallback cb) { close_callback_ = std::move(cb); }

  // Starts reading and the idle timer.
  void Start();

  // Writes `data` at once as far as the socket takes it (straight from
  // `data` when nothing is queued before it) and queues the rest.
  void Send(absl::string_view data);
  // The output buffer, for encoding replies in place; then call Flush().
  Buffer* output() { return &output_; }
  // Writes what the output buffer holds, as far as the socket takes it.
  void Flush();

  // The message arriving is `bytes` long in all (its framing said so): the
  // input buffer is sized to it once, rather than doubling as it arrives.
  // For this message only; loop thread.
  void ExpectMessage(size_t bytes) { expected_message_ = bytes; }

  // Ends the session gracefully (see the file comment). Idempotent.
  void EndSession();
  // The same, for a server shutting down: once everything owed is sent, a
  // connection with no unread input closes at once instead of lingering
  // for the client's close (there is nothing a reset could destroy: the
  // close sends FIN). An idle client so never holds a shutdown.
  void EndSessionForShutdown();
  // Closes at once. `why` is logged ("idle for 300s"). Idempotent.
  void Close(absl::string_view why);

  // Counted pauses of reading for the owner's own backpressure (work queued
  // on a pool, say); reading resumes when every pause is lifted.
  void PauseReading();
  void ResumeReading();

  uint64_t id() const { return id_; }
  EventLoop* loop() const { return watcher_.loop(); }
  const InetAddress& peer() const { return peer_; }
  const InetAddress& local() const { return local_; }

  // Where the connection is in its life. Only forward: kNew -> kOpen ->
  // kEnding -> kLingering -> kClosed, any step may be skipped, and kClosed
  // can follow any phase.
  enum class Phase {
    kNew,        // not started: not reading yet
    kOpen,       // exchanging data
    kEnding,     // EndSession(): replies still going out, input discarded
    kLingering,  // FIN sent; waiting for the peer's close or the linger time
    kClosed,     // socket closed; the handler gets no more calls
  };
  Phase phase() const { return phase_; }
  bool closed() const { return phase_ == Phase::kClosed; }
  bool ending() const { return phase_ == Phase::kEnding || phase_ == Phase::kLingering; }
  // The peer sent end of stream (in any phase after kNew).
  bool peer_finished() const { return peer_finished_; }
  bool reading() const { return watcher_.reading(); }
  uint64_t bytes_received() const { return bytes_received_; }
  uint64_t bytes_sent() const { return bytes_sent_; }
  absl::Time started() const { return started_; }
  // Why the connection closed, for the log ("the client closed it").
  const std::string& close_reason() const { return close_reason_; }

 private:
  void HandleRead();
  // `n` > 0 new bytes are in `input` (input_, or the thread's shared
  // buffer): hands them to the handler.
  // Sizes input_ for the message ExpectMessage announced.
  void ReserveExpected();
  void TakeInput(ssize_t n, Buffer& input);
  // A read brought nothing: end of stream (0) or an error (-1, `error`).
  void HandleReadEnd(ssize_t n, int error);
  void HandleWrite();
  // Writes from the output buffer; false when the connection closed.
  bool WriteOutput();
  // Sends from `data` until it is all sent, `budget` bytes are, or the
  // socket is full. Returns the bytes sent, or -1 when an error closed the
  // connection.
  ssize_t WriteSome(absl::string_view data, size_t budget);
  // Reading is on iff nothing pauses it and the session still reads.
  void UpdateReading();
  // Takes the next step of an ending session once the output is drained.
  void AdvanceEnding();
  // Pauses reading above the high-water mark, resumes below the low one.
  // (Inline: it runs after every write, and almost always changes nothing.)
  void UpdateHighWater() {
    const size_t pending = output_.readable_bytes();
    if (over_high_water_ ? pending <= options_.low_water_bytes
                         : pending > options_.high_water_bytes) {
      CrossWaterMark();
    }
  }
  void CrossWaterMark();
  void ArmIdleTimer(absl::Duration after);
  void CheckIdle();
  void CancelTimers();

  // The members every message touches come first, in four cache lines:
  // with thousands of connections taking turns they are rarely cached, and
  // loads of them are most of the server's own time per message.
  IoWatcher watcher_;
  Buffer input_;
  Buffer output_;
  std::shared_ptr<ConnectionHandler> handler_;
  Phase phase_ = Phase::kNew;
  // Independent of the phase and of each other:
  bool peer_finished_ = false;    // read end of stream
  bool skip_linger_ = false;      // EndSessionForShutdown
  size_t expected_message_ = 0;   // ExpectMessage, until the next read
  bool over_high_water_ = false;  // reading paused for unread replies
  int owner_pauses_ = 0;          // PauseReading() calls not yet lifted
  uint64_t bytes_received_ = 0;
  uint64_t bytes_sent_ = 0;
  absl::Time last_activity_;
  const TcpConnectionOptions options_;  // the water marks first

  Socket socket_;  // owns the descriptor that watcher_.fd() names
  const uint64_t id_;
  const InetAddress peer_;
  InetAddress local_;
  CloseCallback close_callback_;
  absl::Time started_;
  TimerId idle_timer_ = 0;
  TimerId linger_timer_ = 0;
  std::string close_reason_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_REACTOR_TCP_CONNECTION_H_
