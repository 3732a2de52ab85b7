// Copyright Switchboard authors.

#include "reactor/tcp_server.h"

#include "absl/synchronization/blocking_counter.h"
#include "glog/logging.h"

namespace switchboard {

TcpServer::TcpServer(EventLoop* accept_loop, EventLoopPool* io_loops, Socket listener,
                     ConnectionLimit* limit, TcpServerOptions options)
    : accept_loop_(accept_loop),
      limit_(limit),
      options_(std::move(options)),
      acceptor_(accept_loop, std::move(listener), [this](Socket socket, const InetAddress& peer) {
        HandleNewConnection(std::move(socket), peer);
      }) {
  if (io_loops == nullptr || io_loops->size() == 0) {
    loops_.push_back(std::make_unique<LoopConnections>(LoopConnections{accept_loop, {}}));
  } else {
    for (size_t i = 0; i < io_loops->size(); ++i) {
      loops_.push_back(std::make_unique<LoopConnections>(LoopConnections{io_loops->loop(i), {}}));
    }
  }
}

TcpServer::~TcpServer() {
  accept_loop_->AssertInLoopThread();
  if (connection_count() > 0) CloseAll("the server is stopping");
}

void TcpServer::Start() {
  accept_loop_->AssertInLoopThread();
  acceptor_.Listen();
}

void TcpServer::StopAccepting() {
  accept_loop_->AssertInLoopThread();
  acceptor_.Close();
}

void TcpServer::HandleNewConnection(Socket socket, const InetAddress& raw_peer) {
  const InetAddress peer = raw_peer.Unmapped();
  const ConnectionLimit::Verdict verdict = limit_->TryAcquire(peer);
  if (verdict != ConnectionLimit::Verdict::kAdmitted) {
    const bool address = verdict == ConnectionLimit::Verdict::kAddressFull;
    LOG(WARNING) << options_.name << ": refused " << peer.ToString() << ": "
                 << (address ? limit_->max_per_address() : limit_->max())
                 << (address ? " connections from this address are open, the "
                               "--max_connections_per_address limit"
                             : " connections are open, the --max_connections limit")
                 << "; closing it at once";
    // A fresh socket's send buffer takes a line; if not, the close says it.
    const std::string& refusal = address ? options_.address_refusal : options_.refusal;
    int ignored_errno = 0;
    if (!refusal.empty()) (void)socket.SendSome(refusal, &ignored_errno);
    return;  // `socket` closes here
  }
  const uint64_t id = next_id_++;
  LoopConnections* slot = loops_[next_loop_].get();
  next_loop_ = (next_loop_ + 1) % loops_.size();
  count_.fetch_add(1, std::memory_order_acq_rel);
  slot->loop->RunInLoop([this, slot, id, socket = std::move(socket), peer]() mutable {
    AddOnLoop(slot, id, std::move(socket), peer);
  });
}

void TcpServer::AddOnLoop(LoopConnections* slot, uint64_t id, Socket socket,
                          const InetAddress& peer) {
  auto connection =
      std::make_unique<TcpConnection>(slot->loop, id, std::move(socket), peer, options_.connection);
  TcpConnection& ref = *connection;
  slot->connections.emplace(id, std::move(connection));
  LOG(INFO) << options_.name << ": client " << peer.ToString() << " connected as connection " << id
            << " (" << connection_count() << " open)";
  ref.set_close_callback([this, slot](TcpConnection& c) { HandleClosed(slot, c); });
  if (on_connection_) on_connection_(ref);
  ref.Start();
}

void TcpServer::HandleClosed(LoopConnections* slot, TcpConnection& connection) {
  const absl::Duration lasted = connection.loop()->Now() - connection.started();
  LOG(INFO) << options_.name << ": connection " << connection.id() << " with "
            << connection.peer().ToString() << " closed: " << connection.close_reason()
            << "; received " << connection.bytes_received() << " bytes, sent "
            << connection.bytes_sent() << " bytes in "
            << absl::FormatDuration(absl::Trunc(lasted, absl::Microseconds(1)));
  // We are inside the connection's own callback: take it out of the map now,
  // destroy it after the current callbacks, in a task that owns it.
  auto it = slot->connections.find(connection.id());
  CHECK(it != slot->connections.end());
  std::unique_ptr<TcpConnection> owned = std::move(it->second);
  slot->connections.erase(it);
  count_.fetch_sub(1, std::memory_order_acq_rel);
  limit_->Release(connection.peer());
  slot->loop->QueueInLoop([owned = std::move(owned)] {});
}

void TcpServer::ForEachLoop(const std::function<void(LoopConnections&)>& fn) {
  absl::BlockingCounter done(static_cast<int>(loops_.size()));
  for (auto& slot : loops_) {
    LoopConnections* s = slot.get();
    s->loop->RunInLoop([&fn, &done, s] {
      fn(*s);
      done.DecrementCount();
    });
  }
  done.Wait();
}

void TcpServer::ForEachConnection(const std::function<void(TcpConnection&)>& fn) {
  ForEachLoop([&fn](LoopConnections& slot) {
    std::vector<TcpConnection*> open;
    for (auto& [id, connection] : slot.connections) open.push_back(connection.get());
    for (TcpConnection* connection : open) {
      if (!connection->closed()) fn(*connection);
    }
  });
}

void TcpServer::CloseAll(absl::string_view why) {
  const std::string reason(why);
  ForEachConnection([&reason](TcpConnection& c) { c.Close(reason); });
}

}  // namespace switchboard
