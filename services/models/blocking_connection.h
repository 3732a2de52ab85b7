// Copyright Switchboard authors.
//
// blocking_connection.h: `BlockingConnection` serves one accepted TCP
// connection from greeting to close with blocking calls on the calling
// thread, on top of the same Session and Codec the reactor uses: the
// iterative and the thread-per-connection models run every connection
// through it, so the services answer alike under every --model.

#ifndef SWITCHBOARD_SERVICES_MODELS_BLOCKING_CONNECTION_H_
#define SWITCHBOARD_SERVICES_MODELS_BLOCKING_CONNECTION_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "reactor/buffer.h"
#include "reactor/codec.h"
#include "reactor/inet_address.h"
#include "reactor/socket.h"
#include "services/service.h"
#include "services/session_driver.h"

namespace switchboard {

struct BlockingConnectionOptions {
  std::string name = "tcp";  // the service's name, for log lines
  Framing framing = Framing::kRaw;
  // Sent, framed, to a connection refused past --max_connections (in all;
  // from its address).
  std::string refusal;
  std::string address_refusal;
  CodecLimits limits;
  // No byte received or sent for this long closes the connection.
  absl::Duration idle_timeout = absl::Seconds(300);
  // After the server ends a session, how long it waits for the client to
  // close (the reactor's TcpConnection waits as long).
  absl::Duration linger = absl::Seconds(5);
};

// What the connection does, in order: OnStart (the greeting); then, for
// each read, every whole message to OnMessage, the replies encoded and
// written before the next read. End of stream from the client: the last
// messages (a final line without "\n" included), OnEndOfInput, the replies,
// close. When the session ends itself (EndSession, a message over the
// framing's limit, the server shutting down): everything owed is sent, the
// sending side shut down, what the client still sends discarded, and the
// socket closed once the client closes or after the linger time, so that a
// reset never destroys replies not yet read. The thread blocks in poll()
// whenever it must wait (for input, on the socket and `stop_fd`; for room
// to write, on the socket), so that the idle timeout counts from the last
// byte either way, as the reactor's does, and shutdown needs nothing from
// other threads until its grace period is over.
//
// Thread affinity: Serve() runs on one thread (the connection's own in the
// thread-per-connection model, the accept thread in the iterative one).
// ForceClose() and the accessors of values fixed at construction: any
// thread, while the object lives. The descriptor is closed only by the
// destructor, so that ForceClose() from another thread never shuts down a
// number the kernel has handed out again; the owner destroys the
// connection as soon as Serve() returns.
class BlockingConnection {
 public:
  // `service` and `options` must outlive the connection. `stop_fd` becomes
  // readable, and stays so, once the server shuts down: the connection then
  // ends its session at its next wait for input.
  BlockingConnection(uint64_t id, Socket socket, const InetAddress& peer, Service* service,
                     const BlockingConnectionOptions* options, int stop_fd);
  BlockingConnection(const BlockingConnection&) = delete;
  BlockingConnection& operator=(const BlockingConnection&) = delete;
  ~BlockingConnection();

  // Runs the session to the end and logs how it ended; nothing more is
  // read or written after it returns, and the destructor closes the
  // socket. Once.
  void Serve();

  // Shuts down both directions of the socket, so that a Serve() waiting for
  // input, for room to write or for the client's close returns at once and
  // ends; for shutdown after the grace period. Idempotent; harmless after
  // Serve() returned.
  void ForceClose();

  uint64_t id() const { return id_; }
  const InetAddress& peer() const { return peer_; }

 private:
  // Replies of one session call: encoded straight into the output buffer.
  class SessionReplies;

  enum class Wait { kReady, kStopping, kTimedOut, kError };

  // The conversation until the session ends or the connection fails; false
  // when it closed already (the reason is set).
  bool Converse();
  // Runs one session call here, its replies into the output buffer.
  void RunCall(SessionCall call, absl::string_view message);
  // Decodes and answers every whole message in the input; `end_of_stream`
  // lets a last partial message count and answers the end of input.
  void HandleInput(bool end_of_stream);
  // Waits until the socket has `events` (POLLIN or POLLOUT), an error or a
  // hang-up, or `deadline`; with `watch_stop`, the server's shutdown ends
  // the wait too.
  Wait WaitFor(short events, absl::Time deadline, bool watch_stop);
  // Writes the whole output buffer; false when the connection failed (the
  // reason is set).
  bool Flush();
  // Sends FIN, then reads and discards until the client closes or the
  // linger time is up.
  void LingeringClose();
  // Sets the reason the log gives, unless one is set; a forced close wins.
  void SetReason(absl::string_view why);
  // Logs the connection's end, as the reactor's TcpServer does.
  void LogClosed();

  const uint64_t id_;
  const InetAddress peer_;
  Service* const service_;
  const BlockingConnectionOptions& options_;
  const int stop_fd_;
  const Socket socket_;
  const int fd_;                           // socket_'s
  std::unique_ptr<SessionDriver> driver_;  // made by Serve()

  // Serve()'s thread only.
  Buffer input_;
  Buffer output_;
  uint64_t bytes_received_ = 0;
  uint64_t bytes_sent_ = 0;
  absl::Time started_;
  absl::Time last_activity_;
  std::string close_reason_;

  std::atomic<bool> forced_{false};  // ForceClose() ran
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_MODELS_BLOCKING_CONNECTION_H_
