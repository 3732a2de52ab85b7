// Copyright Switchboard authors.

#include "services/models/thread_per_connection_server.h"

#include <system_error>
#include <utility>

#include "glog/logging.h"

namespace switchboard {

absl::StatusOr<std::unique_ptr<ThreadPerConnectionServer>> ThreadPerConnectionServer::Create(
    Service* service, Socket listener, ConnectionLimit* limit, BlockingConnectionOptions options) {
  absl::StatusOr<Wakeup> stop = Wakeup::Create();
  if (!stop.ok()) return stop.status();
  return std::unique_ptr<ThreadPerConnectionServer>(new ThreadPerConnectionServer(
      service, std::move(listener), limit, std::move(options), *std::move(stop)));
}

ThreadPerConnectionServer::~ThreadPerConnectionServer() { Shutdown(); }

void ThreadPerConnectionServer::Start() {
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

void ThreadPerConnectionServer::AcceptLoop() {
  while (std::unique_ptr<BlockingConnection> connection = Accept()) {
    // Read before the thread starts: it may serve, and destroy, the
    // connection before this thread runs again.
    const uint64_t id = connection->id();
    BlockingConnection* raw = connection.get();
    // Held while the thread starts, so that its entry exists before the
    // thread, however quick, looks for it on the way out.
    absl::MutexLock lock(&threads_mu_);
    std::thread thread;
    try {
      thread = std::thread([this, raw] { ServeAndExit(raw); });
    } catch (const std::system_error& e) {
      // Out of threads (or memory for a stack): this client is turned away,
      // the others go on.
      LOG(WARNING) << options().name << ": cannot start a thread for connection " << id << " ("
                   << e.what() << "); closing it";
      Finish(std::move(connection));
      continue;
    }
    connection.release();  // the thread owns it now
    running_.emplace(id, std::move(thread));
  }
}

void ThreadPerConnectionServer::ServeAndExit(BlockingConnection* raw) {
  std::unique_ptr<BlockingConnection> connection(raw);
  const uint64_t id = connection->id();
  connection->Serve();
  Finish(std::move(connection));
  std::thread previous;
  {
    absl::MutexLock lock(&threads_mu_);
    auto it = running_.find(id);
    CHECK(it != running_.end());
    previous = std::exchange(last_exited_, std::move(it->second));
    running_.erase(it);
  }
  if (previous.joinable()) previous.join();
}

void ThreadPerConnectionServer::Join() {
  if (accept_thread_.joinable()) accept_thread_.join();
  std::thread last;
  {
    absl::MutexLock lock(&threads_mu_);
    threads_mu_.Await(absl::Condition(
        +[](absl::flat_hash_map<uint64_t, std::thread>* running) { return running->empty(); },
        &running_));
    last = std::move(last_exited_);
  }
  if (last.joinable()) last.join();
}

}  // namespace switchboard
