// Copyright Switchboard authors.

#include "tests/testing/text_client.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "reactor/inet_address.h"

namespace switchboard::testing {

absl::StatusOr<TextClient> TextClient::Connect(int port, absl::string_view from, Framing framing,
                                               absl::Duration timeout) {
  absl::StatusOr<InetAddress> local = InetAddress::Parse(from, 0);
  if (!local.ok()) return local.status();
  const bool v6 = absl::StrContains(from, ':');
  absl::StatusOr<InetAddress> peer = InetAddress::Parse(v6 ? "::1" : "127.0.0.1", port);
  if (!peer.ok()) return peer.status();
  absl::StatusOr<Socket> socket = Socket::Connect(*peer, &*local);
  if (!socket.ok()) return socket.status();
  if (absl::Status s = socket->SetReceiveTimeout(timeout); !s.ok()) return s;
  return TextClient(*std::move(socket), framing);
}

TextClient::TextClient(Socket socket, Framing framing)
    : socket_(std::move(socket)), codec_(MakeCodec(framing)) {}

void TextClient::Send(absl::string_view message) {
  Buffer frame;
  codec_->Encode(message, &frame);
  SendRaw(frame.view());
}

void TextClient::SendRaw(absl::string_view bytes) { socket_.SendAll(bytes).IgnoreError(); }

absl::StatusOr<std::string> TextClient::Receive() {
  for (;;) {
    Frame frame;
    const DecodeStatus status = codec_->Decode(input_.view(), false, &frame);
    if (status == DecodeStatus::kMessage) {
      std::string message(frame.message);
      input_.Consume(frame.consumed);
      return message;
    }
    if (status != DecodeStatus::kNeedMore) {
      return absl::DataLossError("the server sent a frame the codec refuses");
    }
    char chunk[4096];
    absl::StatusOr<size_t> n = socket_.ReceiveSome(chunk, sizeof(chunk));
    if (!n.ok()) return n.status();
    if (*n == 0) {
      return absl::UnavailableError(
          absl::StrCat("the server closed the connection; left over: '", input_.view(), "'"));
    }
    input_.Append(absl::string_view(chunk, *n));
  }
}

std::string TextClient::Next() {
  absl::StatusOr<std::string> reply = Receive();
  return reply.ok() ? *reply : absl::StrCat("<error: ", reply.status().message(), ">");
}

std::string TextClient::Ask(absl::string_view message) {
  Send(message);
  return Next();
}

bool TextClient::ClosedByServer() {
  if (!input_.empty()) return false;
  char byte;
  absl::StatusOr<size_t> n = socket_.ReceiveSome(&byte, 1);
  return n.ok() ? *n == 0 : absl::StrContains(n.status().message(), "reset");
}

InProcessServer::InProcessServer(const ServerConfig& config, Clock* clock)
    : loop_(DefaultPollerKind(), clock) {
  loop_.RunSync([&] {
    absl::StatusOr<std::unique_ptr<Server>> server = Server::Create(config, loop_.loop(), clock);
    if (!server.ok()) {
      status_ = server.status();
      return;
    }
    server_ = *std::move(server);
    server_->Start();
  });
}

InProcessServer::~InProcessServer() {
  loop_.RunSync([&] {
    if (server_ != nullptr) server_->Shutdown();
    server_.reset();
  });
}

int InProcessServer::port(absl::string_view service) const {
  for (const Server::Listener& listener : server_->listeners()) {
    if (listener.service == service) return listener.address.port();
  }
  return -1;
}

}  // namespace switchboard::testing
