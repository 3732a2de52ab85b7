// Copyright Switchboard authors.

#include "services/service_host.h"

#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "reactor/serial_executor.h"

namespace switchboard {
namespace {

// One connection's side of a ServiceHost. Owned by the connection (as its
// handler) and, in pool mode, by the tasks queued for it.
//
// Thread affinity: everything but `session_` and `ending_` belongs to the
// connection's loop thread. `session_` is called by one thread at a time
// (the loop thread, or the serial executor's current worker). `ending_` is
// atomic: a worker sets it when the session ends, so that queued messages
// are skipped.
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
  // the connection's output buffer, no copies.
  class DirectReplies final : public Replies {
   public:
    explicit DirectReplies(HostedSession& host) : host_(host) {}
    void Reply(absl::string_view message) override;
    void EndSession() override;

   private:
    HostedSession& host_;
  };

  // Replies from a session call on a worker: gathered, then written on the
  // loop thread.
  class DeferredReplies final : public Replies {
   public:
    explicit DeferredReplies(HostedSession& host) : host_(host) {}
    void Reply(absl::string_view message) override { messages.emplace_back(message); }
    void EndSession() override;
    std::vector<std::string> messages;
    bool end = false;

   private:
    HostedSession& host_;
  };

  enum class Call { kStart, kMessage, kEndOfInput, kTooLong };

  // Runs one session call where this host runs them. Loop thread.
  void Dispatch(Call call, absl::string_view message);
  // Runs `call` on this thread and returns its replies. Worker or loop.
  void RunCall(Call call, absl::string_view message, Replies& out);
  // Writes a worker's replies. Loop thread.
  void DeliverDeferred(DeferredReplies replies, size_t message_bytes);
  // Takes a reply that is the next stretch of the input being decoded into
  // echo_ (false: it is not). Loop thread.
  bool AddToEcho(absl::string_view message);
  // Sends echo_ and empties it. Loop thread.
  void SendEcho();
  // Flushes and, once nothing is owed, ends the connection if asked to.
  void AfterCalls();
  void UpdateBackpressure();

  TcpConnection* connection_;  // null once closed
  EventLoop* const loop_;
  const std::string service_name_;
  const ServiceHostOptions& options_;
  const std::unique_ptr<Codec> codec_;
  const std::unique_ptr<Session> session_;
  const std::shared_ptr<SerialExecutor> executor_;  // null: calls run inline
  // Raw framing with calls inline: replies may be sent from the input.
  const bool raw_inline_;
  absl::string_view decoding_;  // inside OnData: the input being decoded
  absl::string_view echo_;      // replies not yet sent that are input bytes

  bool end_requested_ = false;  // the session (or the framing) ended it
  size_t queued_messages_ = 0;  // calls waiting on the pool
  size_t queued_bytes_ = 0;
  bool paused_ = false;
  std::atomic<bool> ending_{false};
};

HostedSession::HostedSession(TcpConnection& connection, Service& service,
                             ThreadPool* pool, const ServiceHostOptions& options)
    : connection_(&connection),
      loop_(connection.loop()),
      service_name_(service.name()),
      options_(options),
      codec_(MakeCodec(options.framing, options.limits)),
      session_(service.NewSession(
          SessionInfo{connection.id(), connection.peer(), options.framing})),
      executor_(pool == nullptr ? nullptr : SerialExecutor::Create(pool)),
      raw_inline_(options.framing == Framing::kRaw && executor_ == nullptr) {}

void HostedSession::Start() {
  Dispatch(Call::kStart, {});
  AfterCalls();
}

void HostedSession::DirectReplies::Reply(absl::string_view message) {
  if (host_.connection_ == nullptr) return;
  if (host_.AddToEcho(message)) return;
  host_.SendEcho();  // what came before goes first
  if (host_.connection_ == nullptr) return;  // sending it closed the connection
  host_.codec_->Encode(message, host_.connection_->output());
}

bool HostedSession::AddToEcho(absl::string_view message) {
  if (decoding_.empty() || message.empty()) return false;
  const char* const begin = decoding_.data();
  const char* const end = begin + decoding_.size();
  if (message.data() < begin || message.data() + message.size() > end) return false;
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

void HostedSession::DirectReplies::EndSession() {
  host_.end_requested_ = true;
  host_.ending_.store(true, std::memory_order_relaxed);
}

void HostedSession::DeferredReplies::EndSession() {
  end = true;
  host_.ending_.store(true, std::memory_order_relaxed);
}

void HostedSession::RunCall(Call call, absl::string_view message, Replies& out) {
  switch (call) {
    case Call::kStart:
      session_->OnStart(out);
      return;
    case Call::kMessage:
      // After the session ended, what the client sent later is discarded.
      if (ending_.load(std::memory_order_relaxed)) return;
      session_->OnMessage(message, out);
      return;
    case Call::kEndOfInput:
      if (!ending_.load(std::memory_order_relaxed)) session_->OnEndOfInput(out);
      out.EndSession();
      return;
    case Call::kTooLong:
      if (absl::string_view reply = codec_->TooLongReply();
          !reply.empty() && !ending_.load(std::memory_order_relaxed)) {
        out.Reply(reply);
      }
      out.EndSession();
      return;
  }
}

void HostedSession::Dispatch(Call call, absl::string_view message) {
  if (call == Call::kMessage) {
    VLOG(1) << service_name_ << ": connection " << connection_->id()
            << ": message of " << message.size() << " bytes";
  }
  if (executor_ == nullptr) {
    DirectReplies out(*this);
    RunCall(call, message, out);
    return;
  }
  ++queued_messages_;
  queued_bytes_ += message.size();
  const bool queued = executor_->Add(
      [self = shared_from_this(), call, copy = std::string(message)] {
        DeferredReplies out(*self);
        self->RunCall(call, copy, out);
        const size_t bytes = copy.size();
        self->loop_->RunInLoop([self, out = std::move(out), bytes]() mutable {
          self->DeliverDeferred(std::move(out), bytes);
        });
      });
  if (!queued) {
    // Only a stopping pool refuses work.
    connection_->Close("the server is shutting down");
    return;
  }
  UpdateBackpressure();
}

void HostedSession::DeliverDeferred(DeferredReplies replies, size_t message_bytes) {
  --queued_messages_;
  queued_bytes_ -= message_bytes;
  if (connection_ == nullptr) return;
  for (const std::string& message : replies.messages) {
    codec_->Encode(message, connection_->output());
  }
  if (replies.end) end_requested_ = true;
  UpdateBackpressure();
  AfterCalls();
}

void HostedSession::UpdateBackpressure() {
  if (connection_ == nullptr) return;
  const bool over = queued_messages_ >= options_.max_queued_messages ||
                    queued_bytes_ >= options_.max_queued_bytes;
  if (over && !paused_) {
    paused_ = true;
    connection_->PauseReading();
  } else if (!over && paused_ && queued_messages_ <= options_.max_queued_messages / 2) {
    paused_ = false;
    connection_->ResumeReading();
  }
}

void HostedSession::AfterCalls() {
  if (connection_ == nullptr) return;
  connection_->Flush();
  if (end_requested_ && queued_messages_ == 0 && connection_ != nullptr) {
    connection_->EndSession();
  }
}

void HostedSession::OnData(TcpConnection& connection, Buffer& input) {
  Frame frame;
  // Raw framing adds nothing to a reply, so replies made of the input's own
  // bytes (echo's) are sent from the input. Consuming only moves the
  // input's read position, and nothing writes to the input before
  // SendEcho, so the views stay valid until then.
  if (raw_inline_) decoding_ = input.view();
  while (!end_requested_ && !ending_.load(std::memory_order_relaxed)) {
    const DecodeStatus status = codec_->Decode(input.view(), false, &frame);
    if (status == DecodeStatus::kNeedMore) break;
    if (status == DecodeStatus::kTooLong) {
      SendEcho();
      LOG(INFO) << service_name_ << ": connection " << connection.id() << " from "
                << connection.peer().ToString() << " sent a "
                << FramingName(options_.framing)
                << " message over the size limit; ending the session";
      input.Clear();
      Dispatch(Call::kTooLong, {});
      end_requested_ = true;  // read nothing more; end once replies are out
      break;
    }
    Dispatch(Call::kMessage, frame.message);
    input.Consume(frame.consumed);
    if (connection_ == nullptr) break;
  }
  SendEcho();
  decoding_ = {};
  if (connection_ == nullptr) return;
  if (end_requested_) input.Clear();
  AfterCalls();
}

void HostedSession::OnEndOfInput(TcpConnection& /*connection*/, Buffer& input) {
  Frame frame;
  // What is left may hold several messages, the last without its end.
  while (!end_requested_ && !input.empty()) {
    const DecodeStatus status = codec_->Decode(input.view(), true, &frame);
    if (status != DecodeStatus::kMessage) break;
    Dispatch(Call::kMessage, frame.message);
    input.Consume(frame.consumed);
    if (connection_ == nullptr) return;
  }
  input.Clear();
  if (!end_requested_) Dispatch(Call::kEndOfInput, {});
  AfterCalls();
}

void HostedSession::OnClose(TcpConnection& /*connection*/) { connection_ = nullptr; }

}  // namespace

absl::StatusOr<Dispatch> ParseDispatch(absl::string_view name) {
  if (name == "auto") return Dispatch::kAuto;
  if (name == "pool") return Dispatch::kPool;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown dispatch '", name, "' (auto or pool)"));
}

ServiceHost::ServiceHost(Service* service, ThreadPool* pool,
                         ServiceHostOptions options)
    : service_(service),
      pool_(pool),
      options_(std::move(options)),
      on_pool_(pool != nullptr &&
               (options_.dispatch == Dispatch::kPool || !service->cheap())) {
  CHECK(pool != nullptr || service->cheap())
      << "service " << service->name() << " may block and needs a worker pool";
}

void ServiceHost::Attach(TcpServer* server) {
  server->set_connection_callback([this](TcpConnection& connection) {
    auto hosted = std::make_shared<HostedSession>(
        connection, *service_, on_pool_ ? pool_ : nullptr, options_);
    connection.set_handler(hosted);
    hosted->Start();
  });
}

}  // namespace switchboard
