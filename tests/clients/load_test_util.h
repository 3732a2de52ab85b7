// Copyright Switchboard authors.
//
// Helpers for the tests of the load generator (//clients:load):
//   JsonDocument         reads the --json summary through SQLite's JSON
//                        functions (SQLite is already a dependency of the
//                        project, and its parser is a real one).
//   CorruptingEchoServer a small TCP echo server on loopback that flips a
//                        bit of every n-th byte it echoes, so that the load
//                        generator's byte checks have something to catch.

#ifndef SWITCHBOARD_TESTS_CLIENTS_LOAD_TEST_UTIL_H_
#define SWITCHBOARD_TESTS_CLIENTS_LOAD_TEST_UTIL_H_

#include <sqlite3.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "reactor/socket.h"

namespace switchboard::testing {

// One JSON text, queried by SQLite JSON paths such as "$.errors.total".
class JsonDocument {
 public:
  explicit JsonDocument(std::string text);
  ~JsonDocument();
  JsonDocument(const JsonDocument&) = delete;
  JsonDocument& operator=(const JsonDocument&) = delete;

  // True when the text is well-formed JSON.
  bool valid() const;
  // SQLite's json_type at `path`: "object", "integer", "real", "text",
  // "true", "false", "null"; "" when there is nothing at `path`.
  std::string Type(absl::string_view path) const;
  // The value at `path` as a number or a string; nullopt when absent or
  // of another type.
  std::optional<double> Number(absl::string_view path) const;
  std::optional<std::string> Text(absl::string_view path) const;

 private:
  // Runs `sql` with ?1 = the text and ?2 = `path`; the first column as
  // text, nullopt for SQL NULL.
  std::optional<std::string> Query(const char* sql, absl::string_view path) const;

  const std::string text_;
  sqlite3* db_ = nullptr;
};

// Echoes every connection on its own thread; the byte at stream offsets
// every-1, 2*every-1, ... of each connection comes back with its lowest bit
// flipped. Every wait inside is bounded (50 ms polls), and the destructor
// stops and joins everything.
class CorruptingEchoServer {
 public:
  static absl::StatusOr<std::unique_ptr<CorruptingEchoServer>> Start(size_t every);
  ~CorruptingEchoServer();

  int port() const { return port_; }
  // Bytes flipped so far, over all connections.
  uint64_t flipped() const { return flipped_.load(); }

 private:
  CorruptingEchoServer(Socket listener, int port, size_t every);
  void AcceptLoop();
  void Serve(Socket connection);

  Socket listener_;
  const int port_;
  const size_t every_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> flipped_{0};
  std::thread acceptor_;
  // The acceptor's; the destructor's once the acceptor is joined.
  std::vector<std::thread> sessions_;
};

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_CLIENTS_LOAD_TEST_UTIL_H_
