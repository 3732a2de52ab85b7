// Copyright Switchboard authors.

#include "tests/clients/load_test_util.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

#include "reactor/inet_address.h"

namespace switchboard::testing {

// ---------------------------------------------------------------- JsonDocument

JsonDocument::JsonDocument(std::string text) : text_(std::move(text)) {
  if (sqlite3_open(":memory:", &db_) != SQLITE_OK) {
    sqlite3_close(db_);
    db_ = nullptr;
  }
}

JsonDocument::~JsonDocument() {
  if (db_ != nullptr) sqlite3_close(db_);
}

std::optional<std::string> JsonDocument::Query(const char* sql, absl::string_view path) const {
  if (db_ == nullptr) return std::nullopt;
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v2(db_, sql, -1, &statement, nullptr) != SQLITE_OK) return std::nullopt;
  sqlite3_bind_text(statement, 1, text_.data(), static_cast<int>(text_.size()), SQLITE_TRANSIENT);
  // (A statement without ?2 refuses this binding, harmlessly.)
  sqlite3_bind_text(statement, 2, path.data(), static_cast<int>(path.size()), SQLITE_TRANSIENT);
  std::optional<std::string> result;
  if (sqlite3_step(statement) == SQLITE_ROW && sqlite3_column_type(statement, 0) != SQLITE_NULL) {
    const unsigned char* value = sqlite3_column_text(statement, 0);
    result = std::string(reinterpret_cast<const char*>(value),
                         static_cast<size_t>(sqlite3_column_bytes(statement, 0)));
  }
  sqlite3_finalize(statement);
  return result;
}

bool JsonDocument::valid() const {
  return Query("SELECT json_valid(?1)", "") == std::optional<std::string>("1");
}

std::string JsonDocument::Type(absl::string_view path) const {
  if (!valid()) return "";
  return Query("SELECT json_type(?1, ?2)", path).value_or("");
}

std::optional<double> JsonDocument::Number(absl::string_view path) const {
  const std::string type = Type(path);
  if (type != "integer" && type != "real") return std::nullopt;
  std::optional<std::string> text = Query("SELECT json_extract(?1, ?2)", path);
  if (!text.has_value()) return std::nullopt;
  return std::stod(*text);
}

std::optional<std::string> JsonDocument::Text(absl::string_view path) const {
  if (Type(path) != "text") return std::nullopt;
  return Query("SELECT json_extract(?1, ?2)", path);
}

// ---------------------------------------------------------------- CorruptingEchoServer

absl::StatusOr<std::unique_ptr<CorruptingEchoServer>> CorruptingEchoServer::Start(size_t every) {
  absl::StatusOr<InetAddress> address = InetAddress::Parse("127.0.0.1", 0);
  if (!address.ok()) return address.status();
  absl::StatusOr<Socket> listener = Socket::Listen(*address);
  if (!listener.ok()) return listener.status();
  absl::StatusOr<InetAddress> bound = listener->LocalAddress();
  if (!bound.ok()) return bound.status();
  std::unique_ptr<CorruptingEchoServer> server(
      new CorruptingEchoServer(*std::move(listener), bound->port(), every));
  server->acceptor_ = std::thread([s = server.get()] { s->AcceptLoop(); });
  return server;
}

CorruptingEchoServer::CorruptingEchoServer(Socket listener, int port, size_t every)
    : listener_(std::move(listener)), port_(port), every_(every) {}

CorruptingEchoServer::~CorruptingEchoServer() {
  stop_.store(true);
  if (acceptor_.joinable()) acceptor_.join();
  for (std::thread& session : sessions_) session.join();
}

void CorruptingEchoServer::AcceptLoop() {
  while (!stop_.load()) {
    pollfd watch{listener_.fd(), POLLIN, 0};
    if (poll(&watch, 1, 50) <= 0) continue;
    absl::StatusOr<Socket> connection = listener_.Accept();
    if (!connection.ok()) continue;
    sessions_.emplace_back(
        [this, c = std::make_shared<Socket>(*std::move(connection))] { Serve(std::move(*c)); });
  }
}

void CorruptingEchoServer::Serve(Socket connection) {
  char data[16384];
  uint64_t offset = 0;  // of the next byte in this connection's stream
  while (!stop_.load()) {
    pollfd watch{connection.fd(), POLLIN, 0};
    if (poll(&watch, 1, 50) <= 0) continue;
    const ssize_t n = recv(connection.fd(), data, sizeof(data), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the client closed (or reset): so do we
    for (ssize_t i = 0; i < n; ++i) {
      if (every_ != 0 && (offset + i + 1) % every_ == 0) {
        data[i] ^= 1;
        flipped_.fetch_add(1);
      }
    }
    offset += n;
    if (!connection.SendAll(absl::string_view(data, n)).ok()) return;
  }
}

}  // namespace switchboard::testing
