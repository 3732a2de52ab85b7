// Copyright Switchboard authors.

#include "services/chat/redis_backplane.h"

#include <sodium.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace switchboard {
namespace {

// KEYS: members. ARGV: nick prefix, nick, owner, lease ms, max members.
// Returns the members now, -1 when the nick is taken, -2 when full.
constexpr absl::string_view kJoinScript = R"lua(
local key = ARGV[1] .. ARGV[2]
if redis.call('EXISTS', key) == 1 then return -1 end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[5]) then return -2 end
redis.call('SET', key, ARGV[3], 'PX', ARGV[4])
redis.call('SADD', KEYS[1], ARGV[2])
return redis.call('SCARD', KEYS[1])
)lua";

// KEYS: seq, history, members. ARGV: channel, max bytes, history size,
// verb, nick, tail, nick prefix (empty unless the nick is freed), owner.
// Returns the broadcast as numbered, or nil when it would be too long.
constexpr absl::string_view kBroadcastScript = R"lua(
local seq = (tonumber(redis.call('GET', KEYS[1])) or 0) + 1
local text = ARGV[4] .. ' ' .. seq .. ' ' .. ARGV[5]
if ARGV[6] ~= '' then text = text .. ' ' .. ARGV[6] end
if #text > tonumber(ARGV[2]) then return false end
if ARGV[7] ~= '' then
  local key = ARGV[7] .. ARGV[5]
  local holder = redis.call('GET', key)
  if holder == false or holder == ARGV[8] then
    redis.call('DEL', key)
    redis.call('SREM', KEYS[3], ARGV[5])
  end
end
redis.call('SET', KEYS[1], seq)
redis.call('LPUSH', KEYS[2], text)
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[3]) - 1)
redis.call('PUBLISH', ARGV[1], text)
return text
)lua";

// KEYS: members, seq, history. ARGV: nick prefix, owner, lease ms, channel,
// history size, the last sequence number this server saw, then its nicks.
// Renews (or, after Redis lost its data, re-registers) them and keeps the
// sequence from going back, then drops every nick whose lease ran out and
// announces it. Returns how many were dropped.
constexpr absl::string_view kRenewScript = R"lua(
if (tonumber(redis.call('GET', KEYS[2])) or 0) < tonumber(ARGV[6]) then
  redis.call('SET', KEYS[2], ARGV[6])
end
for i = 7, #ARGV do
  local key = ARGV[1] .. ARGV[i]
  local holder = redis.call('GET', key)
  if holder == false or holder == ARGV[2] then
    redis.call('SET', key, ARGV[2], 'PX', ARGV[3])
    redis.call('SADD', KEYS[1], ARGV[i])
  end
end
local gone = 0
for _, nick in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. nick) == 0 then
    redis.call('SREM', KEYS[1], nick)
    local text = 'LEFT ' .. redis.call('INCR', KEYS[2]) .. ' ' .. nick .. ' timeout'
    redis.call('LPUSH', KEYS[3], text)
    redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[5]) - 1)
    redis.call('PUBLISH', ARGV[4], text)
    gone = gone + 1
  end
end
return gone
)lua";

// KEYS: members. ARGV: nick prefix. The nicks whose lease runs.
constexpr absl::string_view kMembersScript = R"lua(
local live = {}
for _, nick in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. nick) == 1 then live[#live + 1] = nick end
end
return live
)lua";

absl::Status BackplaneLost() {
  return absl::UnavailableError("backplane unavailable; try again later");
}

std::string NewOwner() {
  unsigned char bytes[12];
  randombytes_buf(bytes, sizeof bytes);
  char hex[2 * sizeof bytes + 1];
  sodium_bin2hex(hex, sizeof hex, bytes, sizeof bytes);
  return hex;
}

// The sequence number in "<verb> <seq> ...", or 0.
uint64_t SequenceOf(absl::string_view text) {
  const size_t first = text.find(' ');
  if (first == absl::string_view::npos) return 0;
  const size_t second = text.find(' ', first + 1);
  uint64_t sequence = 0;
  if (!absl::SimpleAtoi(text.substr(first + 1, second - first - 1), &sequence)) return 0;
  return sequence;
}

absl::string_view View(const redisReply* reply) {
  return absl::string_view(reply->str != nullptr ? reply->str : "", reply->len);
}

}  // namespace

RedisBackplane::RedisBackplane(EventLoop* loop, RedisBackplaneOptions options)
    : loop_(loop),
      options_(std::move(options)),
      owner_(NewOwner()),
      seq_key_(options_.prefix + "seq"),
      history_key_(options_.prefix + "history"),
      members_key_(options_.prefix + "members"),
      nick_prefix_(options_.prefix + "nick:"),
      channel_(options_.prefix + "broadcasts"),
      lease_ms_(absl::StrCat(std::max<int64_t>(1, absl::ToInt64Milliseconds(options_.lease)))),
      history_size_(absl::StrCat(std::max<size_t>(1, options_.history))),
      max_broadcast_(absl::StrCat(options_.max_broadcast)),
      commands_(
          loop, options_.endpoint, "command", [this](bool up) { OnCommandsState(up); },
          options_.connection),
      subscriber_(
          loop, options_.endpoint, "subscriber", [this](bool up) { OnSubscriberState(up); },
          options_.connection) {
  loop_->AssertInLoopThread();
  commands_.Connect();
  subscriber_.Connect();
  // A third of the lease: two renewals may fail before a live nick lapses.
  const absl::Duration every =
      std::clamp(options_.lease / 3, absl::Milliseconds(50), absl::Seconds(20));
  renew_timer_ = loop_->RunEvery(every, [this] { Renew(); });
}

RedisBackplane::~RedisBackplane() {
  loop_->AssertInLoopThread();
  if (renew_timer_.has_value()) loop_->CancelTimer(*renew_timer_);
}

void RedisBackplane::SetDelivery(DeliverCallback deliver) { deliver_ = std::move(deliver); }

absl::Status RedisBackplane::Available() const {
  if (commands_.connected() && subscribed_) return absl::OkStatus();
  return BackplaneLost();
}

void RedisBackplane::Join(absl::string_view nick, size_t max_members, JoinCallback done) {
  loop_->AssertInLoopThread();
  const std::string max = absl::StrCat(max_members);
  const absl::string_view args[] = {"EVAL", kJoinScript, "1",       members_key_, nick_prefix_,
                                    nick,   owner_,      lease_ms_, max};
  auto on_reply = [this, done = std::move(done),
                   name = std::string(nick)](redisReply* reply) mutable {
    if (reply == nullptr || reply->type != REDIS_REPLY_INTEGER) return done(Failed(reply));
    if (reply->integer == -1) return done(absl::AlreadyExistsError("nick taken"));
    if (reply->integer == -2) return done(absl::ResourceExhaustedError("room full"));
    own_nicks_.insert(std::move(name));
    done(static_cast<size_t>(reply->integer));
  };
  // Refused when Redis is gone: then on_reply runs at once, with no reply.
  commands_.Command(args, std::move(on_reply));
}

void RedisBackplane::Broadcast(absl::string_view verb, absl::string_view nick,
                               absl::string_view tail, SentCallback done) {
  Publish(verb, nick, tail, /*releasing=*/false, std::move(done));
}

void RedisBackplane::Leave(absl::string_view nick, absl::string_view reason, SentCallback done) {
  // Renewed no more from now on, whatever becomes of the request.
  own_nicks_.erase(nick);
  Publish("LEFT", nick, reason, /*releasing=*/true, std::move(done));
}

void RedisBackplane::Publish(absl::string_view verb, absl::string_view nick, absl::string_view tail,
                             bool releasing, SentCallback done) {
  loop_->AssertInLoopThread();
  const absl::string_view args[] = {
      "EVAL",
      kBroadcastScript,
      "3",
      seq_key_,
      history_key_,
      members_key_,
      channel_,
      max_broadcast_,
      history_size_,
      verb,
      nick,
      tail,
      releasing ? absl::string_view(nick_prefix_) : absl::string_view(),
      owner_};
  auto on_reply = [this, done = std::move(done)](redisReply* reply) mutable {
    if (reply != nullptr && reply->type == REDIS_REPLY_NIL) {
      return done(absl::OutOfRangeError("too large"), {});
    }
    if (reply == nullptr || reply->type != REDIS_REPLY_STRING) return done(Failed(reply), {});
    Saw(View(reply));
    done(absl::OkStatus(), View(reply));
  };
  commands_.Command(args, std::move(on_reply));
}

void RedisBackplane::Members(ListCallback done) {
  loop_->AssertInLoopThread();
  const absl::string_view args[] = {"EVAL", kMembersScript, "1", members_key_, nick_prefix_};
  commands_.Command(args, [this, done = std::move(done)](redisReply* reply) mutable {
    if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY) return done(Failed(reply), {});
    std::vector<absl::string_view> nicks;
    nicks.reserve(reply->elements);
    for (size_t i = 0; i < reply->elements; ++i) nicks.push_back(View(reply->element[i]));
    done(absl::OkStatus(), nicks);
  });
}

void RedisBackplane::History(uint64_t from_sequence, ListCallback done) {
  loop_->AssertInLoopThread();
  const absl::string_view args[] = {"LRANGE", history_key_, "0", "-1"};
  commands_.Command(args, [this, from_sequence, done = std::move(done)](redisReply* reply) mutable {
    if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY) return done(Failed(reply), {});
    std::vector<absl::string_view> held;
    held.reserve(reply->elements);
    // Newest first in Redis; oldest first to the member.
    for (size_t i = reply->elements; i-- > 0;) {
      const absl::string_view text = View(reply->element[i]);
      if (SequenceOf(text) >= from_sequence) held.push_back(text);
    }
    done(absl::OkStatus(), held);
  });
}

void RedisBackplane::Renew() {
  loop_->AssertInLoopThread();
  if (!commands_.connected()) return;
  const std::string last_seen = absl::StrCat(next_sequence_ - 1);
  std::vector<absl::string_view> args = {"EVAL",    kRenewScript, "3",           members_key_,
                                         seq_key_,  history_key_, nick_prefix_,  owner_,
                                         lease_ms_, channel_,     history_size_, last_seen};
  for (const std::string& nick : own_nicks_) args.push_back(nick);
  commands_.Command(args, [this](redisReply* reply) {
    if (reply == nullptr) return;
    if (reply->type == REDIS_REPLY_ERROR) {
      Failed(reply);
    } else if (reply->type == REDIS_REPLY_INTEGER && reply->integer > 0) {
      LOG(INFO) << "chat backplane: " << reply->integer
                << " member(s) of servers that stopped renewing their nicks timed out";
    }
  });
}

void RedisBackplane::OnCommandsState(bool up) {
  // After a reconnection Redis may have lost everything (a restart without
  // persistence): put this server's members back at once.
  if (up) Renew();
}

void RedisBackplane::OnSubscriberState(bool up) {
  subscribed_ = false;
  if (!up) return;
  subscriber_.Subscribe(channel_, [this](redisReply* reply) { OnMessage(reply); });
}

void RedisBackplane::OnMessage(const redisReply* reply) {
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) return;
  const absl::string_view kind = View(reply->element[0]);
  if (kind == "subscribe") {
    subscribed_ = true;
    // Subscribed again after a loss: what was broadcast meanwhile is in
    // the history. (A new server has no member who missed anything.)
    if (last_delivered_ > 0) CatchUp();
    return;
  }
  if (kind != "message") return;
  const absl::string_view text = View(reply->element[2]);
  if (catching_up_) {
    held_.emplace_back(text);
    return;
  }
  Deliver(text);
}

void RedisBackplane::CatchUp() {
  catching_up_ = true;
  const absl::string_view args[] = {"LRANGE", history_key_, "0", "-1"};
  commands_.Command(args, [this](redisReply* reply) {
    // Oldest first, past the last one delivered; a gap larger than the
    // history stays a gap, which members see in the numbers.
    size_t caught = 0;
    if (reply != nullptr && reply->type == REDIS_REPLY_ARRAY) {
      for (size_t i = reply->elements; i-- > 0;) caught += Deliver(View(reply->element[i]));
    }
    catching_up_ = false;
    for (const std::string& text : held_) Deliver(text);
    held_.clear();
    if (caught > 0) {
      LOG(INFO) << "chat backplane: delivered " << caught
                << " broadcast(s) made while the subscription was down";
    }
  });
}

bool RedisBackplane::Deliver(absl::string_view text) {
  // Once only: a broadcast the history gave may still arrive live (the two
  // connections are read in no set order). The renewals keep the sequence
  // from going back, even when Redis loses its data.
  const uint64_t sequence = Saw(text);
  if (sequence <= last_delivered_) return false;
  last_delivered_ = sequence;
  if (deliver_) deliver_(text);
  return true;
}

absl::Status RedisBackplane::Failed(const redisReply* reply) {
  if (reply == nullptr) return BackplaneLost();
  // An error reply (a full or read-only Redis) may repeat for every
  // request: the log says so the first time and then every thousandth.
  if (error_replies_++ % 1000 == 0) {
    LOG(WARNING) << "chat backplane: Redis answered '" << View(reply) << "' (" << error_replies_
                 << " error replies so far)";
  }
  return absl::UnavailableError("backplane error; try again later");
}

uint64_t RedisBackplane::Saw(absl::string_view text) {
  const uint64_t sequence = SequenceOf(text);
  next_sequence_ = std::max(next_sequence_, sequence + 1);
  return sequence;
}

}  // namespace switchboard
