// Copyright Switchboard authors.

#include "services/chat/redis_connection.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "glog/logging.h"

namespace switchboard {
namespace {

constexpr absl::string_view kUsage = "use redis://HOST:PORT or unix:///PATH";

// Sends `args` on `context` with `privdata` for `callback`.
int SendArgv(redisAsyncContext* context, redisCallbackFn* callback, void* privdata,
             absl::Span<const absl::string_view> args) {
  // A few words per command: on the stack.
  constexpr size_t kInline = 16;
  const char* inline_argv[kInline];
  size_t inline_lengths[kInline];
  std::vector<const char*> heap_argv;
  std::vector<size_t> heap_lengths;
  const char** argv = inline_argv;
  size_t* lengths = inline_lengths;
  if (args.size() > kInline) {
    heap_argv.resize(args.size());
    heap_lengths.resize(args.size());
    argv = heap_argv.data();
    lengths = heap_lengths.data();
  }
  for (size_t i = 0; i < args.size(); ++i) {
    argv[i] = args[i].data();
    lengths[i] = args[i].size();
  }
  return redisAsyncCommandArgv(context, callback, privdata, static_cast<int>(args.size()), argv,
                               lengths);
}

}  // namespace

std::string RedisEndpoint::ToString() const {
  if (!unix_path.empty()) return absl::StrCat("unix://", unix_path);
  if (absl::StrContains(host, ':')) return absl::StrCat("redis://[", host, "]:", port);
  return absl::StrCat("redis://", host, ":", port);
}

absl::StatusOr<RedisEndpoint> ParseRedisEndpoint(absl::string_view url) {
  RedisEndpoint endpoint;
  absl::string_view rest = url;
  if (absl::ConsumePrefix(&rest, "unix://")) {
    if (rest.size() < 2 || rest[0] != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("'", url, "' has no absolute socket path (", kUsage, ")"));
    }
    endpoint.unix_path = std::string(rest);
    return endpoint;
  }
  if (!absl::ConsumePrefix(&rest, "redis://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", url, "' is not a Redis address (", kUsage, ")"));
  }
  const size_t colon = rest.rfind(':');
  absl::string_view host = colon == absl::string_view::npos ? rest : rest.substr(0, colon);
  int port = 0;
  if (colon == absl::string_view::npos || !absl::SimpleAtoi(rest.substr(colon + 1), &port) ||
      port < 1 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", url, "' needs a port from 1 to 65535 (", kUsage, ")"));
  }
  if (absl::ConsumePrefix(&host, "[") && !absl::ConsumeSuffix(&host, "]")) host = {};
  if (host.empty() || absl::StrContains(host, '/')) {
    return absl::InvalidArgumentError(absl::StrCat("'", url, "' has no host (", kUsage, ")"));
  }
  endpoint.host = std::string(host);
  endpoint.port = port;
  return endpoint;
}

absl::Status ProbeRedis(const RedisEndpoint& endpoint, absl::Duration timeout) {
  const timeval tv = absl::ToTimeval(timeout);
  redisContext* context = endpoint.unix_path.empty()
                              ? redisConnectWithTimeout(endpoint.host.c_str(), endpoint.port, tv)
                              : redisConnectUnixWithTimeout(endpoint.unix_path.c_str(), tv);
  if (context == nullptr) return absl::ResourceExhaustedError("out of memory");
  absl::Status status;
  if (context->err != 0) {
    status = absl::UnavailableError(context->errstr);
  } else if (redisSetTimeout(context, tv) != REDIS_OK) {
    status = absl::UnavailableError(context->errstr);
  } else {
    auto* reply = static_cast<redisReply*>(redisCommand(context, "PING"));
    if (reply == nullptr) {
      status = absl::UnavailableError(context->errstr[0] != '\0' ? context->errstr : "no reply");
    } else if (reply->type != REDIS_REPLY_STATUS || absl::string_view(reply->str) != "PONG") {
      status = absl::UnavailableError(
          absl::StrCat("PING got '", reply->str != nullptr ? reply->str : "", "' instead of PONG"));
    }
    if (reply != nullptr) freeReplyObject(reply);
  }
  redisFree(context);
  if (!status.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot reach Redis at ", endpoint.ToString(), ": ", status.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<RedisEndpoint> ResolveAndProbeRedis(const RedisEndpoint& endpoint,
                                                   absl::Duration timeout) {
  if (!endpoint.unix_path.empty()) {
    if (absl::Status s = ProbeRedis(endpoint, timeout); !s.ok()) return s;
    return endpoint;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int error = getaddrinfo(endpoint.host.c_str(), nullptr, &hints, &found);
  if (error != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve '", endpoint.host, "': ", gai_strerror(error)));
  }
  absl::Status first_failure = absl::UnavailableError("no address");
  std::optional<RedisEndpoint> reached;
  for (const addrinfo* each = found; each != nullptr && !reached; each = each->ai_next) {
    char numeric[NI_MAXHOST];
    if (getnameinfo(each->ai_addr, each->ai_addrlen, numeric, sizeof numeric, nullptr, 0,
                    NI_NUMERICHOST) != 0) {
      continue;
    }
    RedisEndpoint candidate = endpoint;
    candidate.host = numeric;
    absl::Status status = ProbeRedis(candidate, timeout);
    if (status.ok()) {
      reached = candidate;
    } else if (each == found) {
      first_failure = status;
    }
  }
  freeaddrinfo(found);
  if (!reached) return first_failure;
  return *reached;
}

RedisConnection::RedisConnection(EventLoop* loop, RedisEndpoint endpoint, std::string name,
                                 StateCallback on_state, Options options)
    : loop_(loop),
      endpoint_(std::move(endpoint)),
      name_(std::move(name)),
      on_state_(std::move(on_state)),
      options_(options),
      backoff_(options.first_backoff) {
  loop_->AssertInLoopThread();
}

RedisConnection::~RedisConnection() {
  loop_->AssertInLoopThread();
  CHECK(!in_io_) << "RedisConnection destroyed inside its own callback";
  closing_ = true;
  if (retry_timer_.has_value()) loop_->CancelTimer(*retry_timer_);
  // Runs the pending callbacks with no reply (OnReply drops them) and
  // Cleanup, which takes the watcher off the loop.
  if (context_ != nullptr) redisAsyncFree(context_);
}

void RedisConnection::Connect() {
  loop_->AssertInLoopThread();
  retry_timer_.reset();
  redisAsyncContext* context = endpoint_.unix_path.empty()
                                   ? redisAsyncConnect(endpoint_.host.c_str(), endpoint_.port)
                                   : redisAsyncConnectUnix(endpoint_.unix_path.c_str());
  if (context == nullptr) return Lost("out of memory");
  if (context->err != 0) {
    const std::string why = context->errstr;
    redisAsyncFree(context);
    return Lost(why);
  }
  Attach(context);
}

void RedisConnection::Attach(redisAsyncContext* context) {
  context_ = context;
  context->data = this;
  context->ev.data = this;
  context->ev.addRead = &AddRead;
  context->ev.delRead = &DelRead;
  context->ev.addWrite = &AddWrite;
  context->ev.delWrite = &DelWrite;
  context->ev.cleanup = &Cleanup;
  watcher_ = std::make_unique<IoWatcher>(loop_, context->c.fd);
  watcher_->set_read_callback([this] { HandleReadable(); });
  watcher_->set_write_callback([this] { HandleWritable(); });
  redisAsyncSetConnectCallback(context, &OnConnect);
  redisAsyncSetDisconnectCallback(context, &OnDisconnect);
  // The first PONG proves the peer is Redis and ready: then we are up.
  const absl::string_view ping[] = {"PING"};
  auto* on_pong = new ReplyCallback([this](redisReply* reply) {
    if (reply == nullptr) return;  // OnConnect or OnDisconnect says why
    if (reply->type == REDIS_REPLY_ERROR) {
      // Not a Redis that serves us (one that wants a password, or is
      // loading its data): try again later. hiredis closes it after this
      // callback returns.
      Lost(absl::StrCat("PING answered: ", absl::string_view(reply->str, reply->len)));
      redisAsyncDisconnect(context_);
      return;
    }
    connected_ = true;
    last_error_.clear();
    backoff_ = options_.first_backoff;
    if (!ever_connected_ || logged_down_) {
      LOG(INFO) << "chat backplane: " << name_ << " connection to " << endpoint_.ToString()
                << (ever_connected_ ? " is back" : " is up");
    }
    ever_connected_ = true;
    logged_down_ = false;
    if (on_state_) on_state_(true);
  });
  if (SendArgv(context, &OnReply, on_pong, ping) != REDIS_OK) delete on_pong;
  // The socket turns writable once the (non-blocking) connect completes.
  watcher_->EnableWriting();
}

void RedisConnection::Lost(absl::string_view why) {
  const bool was_up = connected_;
  connected_ = false;
  if (closing_) return;
  last_error_ = std::string(why);
  if (!logged_down_) {
    LOG(WARNING) << "chat backplane: " << name_ << " connection to " << endpoint_.ToString()
                 << (ever_connected_ ? " lost: " : " failed: ") << why
                 << "; retrying with backoff (up to every "
                 << absl::FormatDuration(options_.max_backoff) << ")";
    logged_down_ = true;
  }
  if (was_up && on_state_) on_state_(false);
  if (retry_timer_.has_value()) return;
  retry_timer_ = loop_->RunAfter(backoff_, [this] { Connect(); });
  backoff_ = std::min(backoff_ * 2, options_.max_backoff);
}

bool RedisConnection::Command(absl::Span<const absl::string_view> args, ReplyCallback done) {
  loop_->AssertInLoopThread();
  if (!connected_ || context_ == nullptr) {
    done(nullptr);
    return false;
  }
  auto* callback = new ReplyCallback(std::move(done));
  if (SendArgv(context_, &OnReply, callback, args) != REDIS_OK) {
    (*callback)(nullptr);
    delete callback;
    return false;
  }
  return true;
}

bool RedisConnection::Subscribe(absl::string_view channel,
                                std::function<void(redisReply*)> on_message) {
  loop_->AssertInLoopThread();
  if (!connected_ || context_ == nullptr) return false;
  on_message_ = std::move(on_message);
  const absl::string_view args[] = {"SUBSCRIBE", channel};
  return SendArgv(context_, &OnMessage, this, args) == REDIS_OK;
}

void RedisConnection::OnConnect(const redisAsyncContext* context, int status) {
  auto* self = static_cast<RedisConnection*>(context->data);
  // Success waits for the PONG; a failure frees the context after this.
  if (status != REDIS_OK) self->Lost(context->errstr);
}

void RedisConnection::OnDisconnect(const redisAsyncContext* context, int status) {
  auto* self = static_cast<RedisConnection*>(context->data);
  self->Lost(status == REDIS_OK ? "closed" : context->errstr);
}

void RedisConnection::OnReply(redisAsyncContext* context, void* reply, void* privdata) {
  auto* self = static_cast<RedisConnection*>(context->data);
  std::unique_ptr<ReplyCallback> callback(static_cast<ReplyCallback*>(privdata));
  if (self->closing_) return;
  (*callback)(static_cast<redisReply*>(reply));
}

void RedisConnection::OnMessage(redisAsyncContext*, void* reply, void* privdata) {
  auto* self = static_cast<RedisConnection*>(privdata);
  if (self->closing_ || reply == nullptr || !self->on_message_) return;
  self->on_message_(static_cast<redisReply*>(reply));
}

void RedisConnection::AddRead(void* privdata) {
  auto* self = static_cast<RedisConnection*>(privdata);
  if (self->watcher_ != nullptr) self->watcher_->EnableReading();
}

void RedisConnection::DelRead(void* privdata) {
  auto* self = static_cast<RedisConnection*>(privdata);
  if (self->watcher_ != nullptr) self->watcher_->DisableReading();
}

void RedisConnection::AddWrite(void* privdata) {
  auto* self = static_cast<RedisConnection*>(privdata);
  if (self->watcher_ != nullptr) self->watcher_->EnableWriting();
}

void RedisConnection::DelWrite(void* privdata) {
  auto* self = static_cast<RedisConnection*>(privdata);
  if (self->watcher_ != nullptr) self->watcher_->DisableWriting();
}

void RedisConnection::Cleanup(void* privdata) {
  // hiredis is freeing the context and will close its descriptor.
  auto* self = static_cast<RedisConnection*>(privdata);
  self->context_ = nullptr;
  if (self->watcher_ == nullptr) return;
  self->watcher_->DisableAll();
  if (self->in_io_) {
    // Inside the watcher's own callback: it may not be destroyed yet.
    self->loop_->QueueInLoop([watcher = std::move(self->watcher_)]() mutable { watcher.reset(); });
  } else {
    self->watcher_.reset();
  }
}

void RedisConnection::HandleReadable() {
  if (context_ == nullptr) return;
  in_io_ = true;
  redisAsyncHandleRead(context_);
  in_io_ = false;
}

void RedisConnection::HandleWritable() {
  if (context_ == nullptr) return;
  in_io_ = true;
  redisAsyncHandleWrite(context_);
  in_io_ = false;
}

}  // namespace switchboard
