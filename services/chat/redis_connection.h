// Copyright Switchboard authors.
//
// redis_connection.h: one hiredis asynchronous connection on an EventLoop.
//   RedisEndpoint      where Redis listens: redis://HOST:PORT or
//                      unix:///PATH, parsed from a flag's value.
//   ProbeRedis         a blocking PING with a deadline, for start-up only;
//                      ResolveAndProbeRedis looks the host name up first.
//   RedisConnection    the async context, the adapter that gives hiredis
//                      the loop's watcher (its `ev` hooks: add and delete
//                      read and write interest, cleanup), and reconnection
//                      with backoff when the connection is lost.
//
// The loop never blocks on Redis: hiredis writes and reads only when the
// watcher reports the socket ready.

#ifndef SWITCHBOARD_SERVICES_CHAT_REDIS_CONNECTION_H_
#define SWITCHBOARD_SERVICES_CHAT_REDIS_CONNECTION_H_

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "reactor/event_loop.h"
#include "reactor/io_watcher.h"

namespace switchboard {

struct RedisEndpoint {
  std::string host;  // TCP, with port
  int port = 0;
  std::string unix_path;  // or a Unix socket

  // As it was written: "redis://HOST:PORT" or "unix:///PATH".
  std::string ToString() const;
};

// Parses "redis://HOST:PORT" (HOST a name or address, "[::1]" for IPv6) or
// "unix:///PATH".
absl::StatusOr<RedisEndpoint> ParseRedisEndpoint(absl::string_view url);

// Connects, sends PING and waits for PONG, all within `timeout`. Blocks:
// for start-up, to refuse an unreachable backplane with one line.
absl::Status ProbeRedis(const RedisEndpoint& endpoint, absl::Duration timeout);

// Resolves the host name and probes each of its addresses in turn: the
// first that answers, as an address, so that reconnecting never waits for
// DNS on the loop. Blocks: start-up only.
absl::StatusOr<RedisEndpoint> ResolveAndProbeRedis(const RedisEndpoint& endpoint,
                                                   absl::Duration timeout);

// Loop thread only (the loop given to the constructor), every method,
// construction and destruction included. Never destroy it from inside one of
// its callbacks.
class RedisConnection {
 public:
  // A reply, or nullptr when the connection was lost before it came.
  using ReplyCallback = absl::AnyInvocable<void(redisReply* reply)>;
  // Told `true` when connected (after every reconnection too), `false`
  // when the connection is lost.
  using StateCallback = std::function<void(bool up)>;

  struct Options {
    absl::Duration first_backoff = absl::Milliseconds(50);
    absl::Duration max_backoff = absl::Seconds(2);
  };

  // `name` says what the connection is for, in the log.
  RedisConnection(EventLoop* loop, RedisEndpoint endpoint, std::string name, StateCallback on_state,
                  Options options);
  RedisConnection(EventLoop* loop, RedisEndpoint endpoint, std::string name, StateCallback on_state)
      : RedisConnection(loop, std::move(endpoint), std::move(name), std::move(on_state),
                        Options{}) {}
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Starts connecting; from then on it reconnects by itself.
  void Connect();
  bool connected() const { return connected_; }
  // Why it is not connected (empty while connected).
  const std::string& last_error() const { return last_error_; }

  // Sends one command; `done` gets its reply. When not connected, `done`
  // runs at once with nullptr and the result is false.
  bool Command(absl::Span<const absl::string_view> args, ReplyCallback done);
  // SUBSCRIBE `channel`: `on_message` gets every reply of the subscription
  // (the confirmation, then ["message", channel, payload] each). False when
  // not connected. Subscribe again after each reconnection.
  bool Subscribe(absl::string_view channel, std::function<void(redisReply*)> on_message);

 private:
  // hiredis's callbacks; `data` of the context is the connection.
  static void OnConnect(const redisAsyncContext* context, int status);
  static void OnDisconnect(const redisAsyncContext* context, int status);
  static void OnReply(redisAsyncContext* context, void* reply, void* privdata);
  static void OnMessage(redisAsyncContext* context, void* reply, void* privdata);
  // The adapter's `ev` hooks; `privdata` is the connection.
  static void AddRead(void* privdata);
  static void DelRead(void* privdata);
  static void AddWrite(void* privdata);
  static void DelWrite(void* privdata);
  static void Cleanup(void* privdata);

  // Attaches a fresh context to the loop.
  void Attach(redisAsyncContext* context);
  // The connection is gone (or never came): says so once, retries later.
  void Lost(absl::string_view why);
  void HandleReadable();
  void HandleWritable();

  EventLoop* const loop_;
  const RedisEndpoint endpoint_;
  const std::string name_;
  const StateCallback on_state_;
  const Options options_;
  redisAsyncContext* context_ = nullptr;  // null between connections
  std::unique_ptr<IoWatcher> watcher_;    // on context_'s descriptor
  bool in_io_ = false;                    // inside HandleReadable/HandleWritable
  bool connected_ = false;
  bool ever_connected_ = false;
  bool logged_down_ = false;  // the loss was logged; retries stay quiet
  bool closing_ = false;      // in the destructor: callbacks are dropped
  std::string last_error_ = "not connected yet";
  absl::Duration backoff_;
  std::optional<TimerId> retry_timer_;
  std::function<void(redisReply*)> on_message_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_CHAT_REDIS_CONNECTION_H_
