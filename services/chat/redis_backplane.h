// Copyright Switchboard authors.
//
// redis_backplane.h: `RedisBackplane`, the chat room's shared state in
// Redis, so that every server naming the same Redis serves one room:
//   <prefix>seq          the one sequence counter of numbered broadcasts
//   <prefix>history      the last broadcasts, newest first (LPUSH + LTRIM)
//   <prefix>members      a set of every member's nick
//   <prefix>nick:<nick>  the nick's owner (a random id per server), with a
//                        lease of --chat_timeout that the owner renews; a
//                        server that dies stops renewing, so its members
//                        vanish from WHO within the timeout, and the next
//                        renewal of any server announces them as LEFT
//   <prefix>broadcasts   the pub/sub channel that delivers each broadcast
//                        once to every server, in sequence order
// Each change is one Lua script (EVAL), atomic in Redis: numbering, keeping
// and publishing a broadcast happen together, so the history's order is the
// sequence's and one round trip does it.
//
// Two connections (RedisConnection) on the room's loop: one for commands,
// one subscribed to the channel. While either is down, Available() says
// so, and the room answers `ERR 503`; both reconnect by themselves. Once
// subscribed again, a server first delivers from the history what was
// broadcast while its subscription was down.

#ifndef SWITCHBOARD_SERVICES_CHAT_REDIS_BACKPLANE_H_
#define SWITCHBOARD_SERVICES_CHAT_REDIS_BACKPLANE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "reactor/event_loop.h"
#include "services/chat/chat_backplane.h"
#include "services/chat/redis_connection.h"

namespace switchboard {

struct RedisBackplaneOptions {
  RedisEndpoint endpoint;
  // Every key and the channel start with it: rooms on one Redis differ by it.
  std::string prefix = "switchboard:chat:";
  // How long a nick outlives the last renewal by its server.
  absl::Duration lease = absl::Seconds(60);
  // Broadcasts kept for HISTORY.
  size_t history = 1000;
  // Longest broadcast, in bytes.
  size_t max_broadcast = 1200;
  RedisConnection::Options connection;
};

// Loop thread only (the loop given to the constructor), construction and
// destruction included. Starts connecting at once.
class RedisBackplane final : public ChatBackplane {
 public:
  RedisBackplane(EventLoop* loop, RedisBackplaneOptions options);
  ~RedisBackplane() override;
  RedisBackplane(const RedisBackplane&) = delete;
  RedisBackplane& operator=(const RedisBackplane&) = delete;

  void SetDelivery(DeliverCallback deliver) override;
  absl::Status Available() const override;
  uint64_t next_sequence() const override { return next_sequence_; }
  void Join(absl::string_view nick, size_t max_members, JoinCallback done) override;
  void Broadcast(absl::string_view verb, absl::string_view nick, absl::string_view tail,
                 SentCallback done) override;
  void Leave(absl::string_view nick, absl::string_view reason, SentCallback done) override;
  void Members(ListCallback done) override;
  void History(uint64_t from_sequence, ListCallback done) override;

  // Renews this server's nicks now and drops the expired ones of others
  // (otherwise done every third of the lease).
  void Renew();

 private:
  // Runs the broadcast script; `releasing` frees the nick in the same step.
  void Publish(absl::string_view verb, absl::string_view nick, absl::string_view tail,
               bool releasing, SentCallback done);
  void OnCommandsState(bool up);
  void OnSubscriberState(bool up);
  void OnMessage(const redisReply* reply);
  // Unavailable, for a lost connection or an error reply (logged).
  absl::Status Failed(const redisReply* reply);
  // Fetches the history after a re-subscription and delivers what was
  // missed, holding live broadcasts back until then, so that none is lost
  // or repeated and the order stays the sequence's.
  void CatchUp();
  // Hands a broadcast to the room, unless it was already; true if it did.
  bool Deliver(absl::string_view text);
  // Learns the sequence number of `text` ("<verb> <seq> ...") for the hint,
  // and returns it.
  uint64_t Saw(absl::string_view text);

  EventLoop* const loop_;
  const RedisBackplaneOptions options_;
  // This server's name on its nicks: random, so a restarted server is new.
  const std::string owner_;
  const std::string seq_key_, history_key_, members_key_, nick_prefix_, channel_;
  // Numbers passed to the scripts, formatted once.
  const std::string lease_ms_, history_size_, max_broadcast_;
  DeliverCallback deliver_;
  RedisConnection commands_;
  RedisConnection subscriber_;
  bool subscribed_ = false;
  // Nicks of this server's members: what Renew keeps alive.
  absl::flat_hash_set<std::string> own_nicks_;
  uint64_t next_sequence_ = 1;
  // The last broadcast handed to the room, and those held back while the
  // history is read after a re-subscription.
  uint64_t last_delivered_ = 0;
  bool catching_up_ = false;
  std::vector<std::string> held_;
  uint64_t error_replies_ = 0;
  std::optional<TimerId> renew_timer_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_CHAT_REDIS_BACKPLANE_H_
