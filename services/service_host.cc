// Copyright Switchboard authors.

#include "services/service_host.h"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "reactor/serial_executor.h"
#include "services/session_driver.h"

namespace switchboard {
namespace {

// One connection's side of a ServiceHost. Owned by the connection (as its
// handler) and, in pool mode, by the tasks queued for it.
//
// Thread affinity: everything but `driver_`'s session calls belongs to the
// connection's loop thread. The session runs on one thread at a time (the
// loop thread, or the serial executor's current worker); the driver's stop
// bit is what crosses threads.
class HostedSession final : public ConnectionHandler,
                            public std::enable_shared_from_this<HostedSession> {
 public:
  HostedSession(TcpConnection& connection, Service& service, ThreadPool* pool,
                const ServiceHostOptions& options);

  // Greets, if the session does. Loop thread.
  void Start();

  // ConnectionHandler
  void OnData(TcpConnection& connection, Buffer& input) override;
  void OnEndOfInput(TcpConnection& connection, Buffer& input) override;
  void OnClose(TcpConnection& connection) override;

 private:
  // Replies from a session call on the loop thread: framed straight into
  // the connection's output buffer, or sent from the input itself.
  class DirectReplies final : public Replies {
   public:
    explicit DirectReplies(HostedSession& host) : host_(host) {}
    void Reply(absl::string_view message) override;
    void EndSession() override { host_.driver_.MarkEnded(); }

   private:
    HostedSession& host_;
  };

  // Replies from a session call on a worker: gathered, then written on the
  // loop thread.
  class DeferredReplies final : public Replies {
   public:
    explicit DeferredReplies(HostedSession& host) : host_(&host) {}
    void Reply(absl::string_view message) override { messages.emplace_back(message); }
    void EndSession() override { host_->driver_.MarkEnded(); }
    std::vector<std::string> messages;

   private:
    HostedSession* host_;
  };

  // The loop thread's view of the connection.
  enum class State {
    kServing,  // calls run, replies go out
    kEnding,   // the connection's EndSession ran: nothing more to do
    kClosed,   // the connection is gone
  };

  // Runs one session call where this host runs them; false once the
  // connection closed. Loop thread.
  bool Schedule(SessionCall call, absl::string_view message);
  // Writes a worker's replies. Loop thread.
  void DeliverDeferred(DeferredReplies replies, size_t message_bytes);
  // Takes a reply that is the next stretch of the input being decoded into
  // echo_ (false: it is not). Loop thread.
  bool AddToEcho(absl::string_view message);
  // Sends echo_ and empties it. Loop thread.
  void SendEcho();
  // Flushes and, once the session ended and nothing is owed, ends the
  // connection.
  void AfterCalls();
  void UpdateBackpressure();
  // After a read: notes when a partial message started, arms the deadline.
  void TrackPartialMessage(const Buffer& input);
  void ArmRequestTimer(absl::Duration after);
  void OnRequestDeadline();

  TcpConnection* connection_;  // null once closed
  EventLoop* const loop_;
  // Copied: a connection may outlive the host's options during shutdown.
  const size_t max_queued_messages_;
  const size_t max_queued_bytes_;
  const absl::Duration request_timeout_;
  SessionDriver driver_;
  const std::shared_ptr<SerialExecutor> executor_;  // null: calls run inline
  // Raw framing with calls inline: replies may be sent from the input.
  const bool raw_inline_;
  absl::string_view decoding_;  // inside OnData: the input being decoded
  absl::string_view echo_;      // replies not yet sent that are input bytes

  State state_ = State::kServing;
  // Set on the loop when the connection closes, read by workers: calls
  // still queued then are dropped, not run (a hash or a commit for nobody
  // is what lets a storm of clients that reset pile work up).
  std::atomic<bool> closed_{false};
  size_t queued_messages_ = 0;  // calls waiting on the pool
  size_t queued_bytes_ = 0;
  bool paused_ = false;
  // When the unfinished message in the input began (InfinitePast: none),
  // and the one timer that checks it, armed while there is one.
  absl::Time partial_since_ = absl::InfinitePast();
  TimerId request_timer_ = 0;
};

HostedSession::HostedSession(TcpConnection& connection, Service& service, ThreadPool* pool,
                             const ServiceHostOptions& options)
    : connection_(&connection),
      loop_(connection.loop()),
      max_queued_messages_(options.max_queued_messages),
      max_queued_bytes_(options.max_queued_bytes),
      request_timeout_(options.framing == Framing::kRaw ? absl::ZeroDuration()
                                                        : options.request_timeout),
      driver_(service, SessionInfo{connection.id(), connection.peer(), options.framing},
              options.limits),
      executor_(pool == nullptr ? nullptr : SerialExecutor::Create(pool)),
      raw_inline_(options.framing == Framing::kRaw && executor_ == nullptr) {}

void HostedSession::Start() {
  Schedule(SessionCall::kStart, {});
  AfterCalls();
}

void HostedSession::DirectReplies::Reply(absl::string_view message) {
  if (host_.connection_ == nullptr) return;
  if (host_.AddToEcho(message)) return;
  host_.SendEcho();                          // what came before goes first
  if (host_.connection_ == nullptr) return;  // sending it closed the connection
  host_.driver_.codec().Encode(message, host_.connection_->output());
}

bool HostedSession::AddToEcho(absl::string_view message) {
  if (decoding_.empty() || message.empty()) return false;
  // std::less: pointers into different objects have no order under `<`.
  const std::less<const char*> before;
  const char* const begin = decoding_.data();
  const char* const end = begin + decoding_.size();
  if (before(message.data(), begin) || before(end, message.data() + message.size())) {
    return false;
  }
  if (echo_.empty()) {
    echo_ = message;
    return true;
  }
  if (message.data() != echo_.data() + echo_.size()) return false;
  echo_ = absl::string_view(echo_.data(), echo_.size() + message.size());
  return true;
}

void HostedSession::SendEcho() {
  if (echo_.empty()) return;
  if (connection_ != nullptr) connection_->Send(echo_);
  echo_ = {};
}

bool HostedSession::Schedule(SessionCall call, absl::string_view message) {
  if (connection_ == nullptr) return false;
  if (executor_ == nullptr) {
    DirectReplies out(*this);
    driver_.Run(call, message, out);
    return connection_ != nullptr;
  }
  ++queued_messages_;
  queued_bytes_ += message.size();
  const bool queued =
      executor_->Add([self = shared_from_this(), call, copy = std::string(message)] {
        if (self->closed_.load(std::memory_order_acquire)) return;
        DeferredReplies out(*self);
        self->driver_.Run(call, copy, out);
        const size_t bytes = copy.size();
        self->loop_->RunInLoop([self, out = std::move(out), bytes]() mutable {
          self->DeliverDeferred(std::move(out), bytes);
        });
      });
  if (!queued) {
    // Only a stopping pool refuses work.
    connection_->Close("the server is shutting down");
    return false;
  }
  UpdateBackpressure();
  return true;
}

void HostedSession::DeliverDeferred(DeferredReplies replies, size_t message_bytes) {
  --queued_messages_;
  queued_bytes_ -= message_bytes;
  if (connection_ == nullptr) return;
  for (const std::string& message : replies.messages) {
    driver_.codec().Encode(message, connection_->output());
  }
  UpdateBackpressure();
  AfterCalls();
}

void HostedSession::UpdateBackpressure() {
  if (connection_ == nullptr) return;
  const bool over = queued_messages_ >= max_queued_messages_ || queued_bytes_ >= max_queued_bytes_;
  if (over && !paused_) {
    paused_ = true;
    connection_->PauseReading();
  } else if (!over && paused_ && queued_messages_ <= max_queued_messages_ / 2) {
    paused_ = false;
    connection_->ResumeReading();
  }
}

void HostedSession::AfterCalls() {
  if (state_ != State::kServing) return;
  connection_->Flush();
  if (state_ != State::kServing) return;  // the flush failed and closed it
  // The stop bit and an empty queue: every reply of the session is out.
  if (driver_.ended() && queued_messages_ == 0) {
    state_ = State::kEnding;
    connection_->EndSession();
  }
}

void HostedSession::OnData(TcpConnection& /*connection*/, Buffer& input) {
  // Raw framing adds nothing to a reply, so replies made of the input's own
  // bytes (echo's) are sent from the input. Consuming only moves the
  // input's read position, and nothing writes to the input before
  // SendEcho, so the views stay valid until then.
  if (raw_inline_) decoding_ = input.view();
  driver_.Decode(
      input, /*end_of_stream=*/false,
      [this](SessionCall call, absl::string_view message) { return Schedule(call, message); });
  SendEcho();
  decoding_ = {};
  AfterCalls();
  TrackPartialMessage(input);
  if (connection_ != nullptr && !input.empty()) {
    if (const size_t whole = driver_.codec().AnnouncedBytes(input.view()); whole > 0) {
      connection_->ExpectMessage(whole);
    }
  }
}

void HostedSession::TrackPartialMessage(const Buffer& input) {
  if (request_timeout_ == absl::ZeroDuration()) return;
  if (input.empty() || state_ != State::kServing) {
    partial_since_ = absl::InfinitePast();
    return;
  }
  if (partial_since_ != absl::InfinitePast()) return;  // the same message goes on
  partial_since_ = loop_->Now();
  if (request_timer_ == 0) ArmRequestTimer(request_timeout_);
}

void HostedSession::ArmRequestTimer(absl::Duration after) {
  request_timer_ = loop_->RunAfter(after, [weak = weak_from_this()] {
    if (std::shared_ptr<HostedSession> self = weak.lock()) self->OnRequestDeadline();
  });
}

void HostedSession::OnRequestDeadline() {
  request_timer_ = 0;
  if (state_ != State::kServing || partial_since_ == absl::InfinitePast()) return;
  const absl::Time now = loop_->Now();
  // Not the client's delay: replies are still owed, or our backpressure
  // stopped reading. The message's clock starts again.
  if (paused_ || queued_messages_ > 0) partial_since_ = now;
  const absl::Time due = partial_since_ + request_timeout_;
  if (now < due) return ArmRequestTimer(due - now);
  LOG(INFO) << "connection " << connection_->id() << ": a message unfinished for "
            << absl::FormatDuration(request_timeout_) << "; ending the session";
  driver_.codec().Encode("408 request timeout", connection_->output());
  driver_.MarkEnded();
  state_ = State::kEnding;
  connection_->Flush();
  if (connection_ != nullptr) connection_->EndSession();
}

void HostedSession::OnEndOfInput(TcpConnection& /*connection*/, Buffer& input) {
  // What is left may hold several messages, the last without its end.
  driver_.Decode(
      input, /*end_of_stream=*/true,
      [this](SessionCall call, absl::string_view message) { return Schedule(call, message); });
  AfterCalls();
}

void HostedSession::OnClose(TcpConnection& /*connection*/) {
  if (request_timer_ != 0) loop_->CancelTimer(request_timer_);
  request_timer_ = 0;
  connection_ = nullptr;
  state_ = State::kClosed;
  closed_.store(true, std::memory_order_release);
}

}  // namespace

absl::StatusOr<Dispatch> ParseDispatch(absl::string_view name) {
  if (name == "auto") return Dispatch::kAuto;
  if (name == "pool") return Dispatch::kPool;
  return absl::InvalidArgumentError(absl::StrCat("unknown dispatch '", name, "' (auto or pool)"));
}

ServiceHost::ServiceHost(Service* service, ThreadPool* pool, ServiceHostOptions options)
    : service_(service),
      pool_(pool),
      options_(std::move(options)),
      on_pool_(pool != nullptr && (options_.dispatch == Dispatch::kPool || !service->cheap())) {
  CHECK(pool != nullptr || service->cheap())
      << "service " << service->name() << " may block and needs a worker pool";
}

void ServiceHost::Attach(TcpServer* server) {
  server->set_connection_callback([this](TcpConnection& connection) {
    auto hosted = std::make_shared<HostedSession>(connection, *service_, on_pool_ ? pool_ : nullptr,
                                                  options_);
    connection.set_handler(hosted);
    hosted->Start();
  });
}

}  // namespace switchboard
