// Copyright Switchboard authors.

#include "services/server.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"
#include "reactor/acceptor.h"
#include "services/auth_service.h"
#include "services/echo_service.h"
#include "services/identity_service.h"
#include "services/models/iterative_server.h"
#include "services/store/sqlite_store.h"
#include "services/models/thread_per_connection_server.h"

namespace switchboard {
namespace {

constexpr size_t kWorkerQueue = 1 << 16;

int DefaultPort(absl::string_view service) {
  if (service == "echo") return 7007;
  if (service == "identity") return 7008;
  if (service == "auth") return 7009;
  if (service == "chat") return 7010;
  return 0;
}

absl::Status ListenError(absl::string_view name, const InetAddress& address, int port_search,
                         const absl::Status& status) {
  return absl::UnavailableError(absl::StrCat(
      "cannot listen for ", name, " on ", address.ToString(), ": ", status.message(),
      port_search > 0 ? absl::StrCat(" (and the next ", port_search, " ports)")
                      : absl::StrCat(" (try --port_search=N or another --", name, "_port)")));
}

ChatOptions ChatOptionsOf(const ServerConfig& config) {
  ChatOptions options;
  options.max_members = config.chat_max_members;
  options.member_timeout = config.chat_timeout;
  options.rate = config.chat_rate;
  // A small burst: half a second's worth, at least one, at most ten.
  options.burst = std::clamp(config.chat_rate / 2, 1.0, 10.0);
  return options;
}

Framing DefaultFraming(absl::string_view service) {
  return service == "echo" ? Framing::kRaw : Framing::kLine;
}

Framing FramingOf(const ServerConfig& config, const std::string& service) {
  auto it = config.framings.find(service);
  return it == config.framings.end() ? DefaultFraming(service) : it->second;
}

}  // namespace

absl::StatusOr<ServerModel> ParseServerModel(absl::string_view name) {
  if (name == "reactor") return ServerModel::kReactor;
  if (name == "blocking") return ServerModel::kBlocking;
  if (name == "iterative") return ServerModel::kIterative;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown model '", name, "' (reactor, blocking or iterative)"));
}

absl::string_view ServerModelName(ServerModel model) {
  switch (model) {
    case ServerModel::kReactor:
      return "reactor";
    case ServerModel::kBlocking:
      return "blocking";
    case ServerModel::kIterative:
      return "iterative";
  }
  return "unknown";
}

const std::vector<std::string>& KnownServices() {
  static const auto* const names =
      new std::vector<std::string>{"echo", "identity", "auth", "chat"};
  return *names;
}

absl::Status ValidateConfig(const ServerConfig& config) {
  if (config.services.empty()) {
    return absl::InvalidArgumentError("--services names no service");
  }
  absl::flat_hash_set<std::string> seen;
  for (const std::string& name : config.services) {
    const auto& known = KnownServices();
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown service '", name, "' in --services (known: ",
          absl::StrJoin(known, ","), ")"));
    }
    if (!seen.insert(name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("service '", name, "' is listed twice in --services"));
    }
    if (auto it = config.ports.find(name); it != config.ports.end() &&
                                           (it->second < 0 || it->second > 65535)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--", name, "_port=", it->second, " is not a port (0 to 65535)"));
    }
  }
  for (const auto& [name, framing] : config.framings) {
    if (framing == Framing::kRaw && name != "echo") {
      return absl::InvalidArgumentError(absl::StrCat(
          "--", name, "_framing=raw: the ", name, " service takes line or length"));
    }
  }
  if (!InetAddress::Parse(config.host, 0).ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--host=", config.host,
        " is not an IPv4 or IPv6 address (127.0.0.1, 0.0.0.0, ::1, ::)"));
  }
  if (config.port_search < 0) {
    return absl::InvalidArgumentError("--port_search must be 0 or more");
  }
  if (config.io_threads < 1 || config.io_threads > 256) {
    return absl::InvalidArgumentError("--io_threads must be between 1 and 256");
  }
  if (config.workers < 1 || config.workers > 1024) {
    return absl::InvalidArgumentError("--workers must be between 1 and 1024");
  }
  if (config.max_connections < 1) {
    return absl::InvalidArgumentError("--max_connections must be at least 1");
  }
  if (config.echo_chunk < 1 || config.echo_chunk > (1 << 20)) {
    return absl::InvalidArgumentError("--echo_chunk must be between 1 and 1048576");
  }
  if (config.framings.contains("chat")) {
    return absl::InvalidArgumentError("chat takes one command per datagram: no framing");
  }
  if (config.chat_max_members < 1) {
    return absl::InvalidArgumentError("--chat_max_members must be at least 1");
  }
  if (config.chat_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--chat_timeout must be positive");
  }
  if (!(config.chat_rate > 0) || config.chat_rate > 1e6) {
    return absl::InvalidArgumentError("--chat_rate must be above 0 and at most 1000000");
  }
  if (config.session_ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--session_ttl must be positive");
  }
  if (config.data_dir.empty()) {
    return absl::InvalidArgumentError("--data_dir must name a directory");
  }
  if (config.idle_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--idle_timeout must be positive");
  }
  if (config.shutdown_grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--shutdown_grace must not be negative");
  }
  if (!PollerAvailable(config.poller)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--poller=", PollerKindName(config.poller),
        " is not available on this platform"));
  }
  return absl::OkStatus();
}

// Sessions stay in the store until they expire; an hourly sweep (and one at
// start-up) keeps the table from growing with every login.
constexpr absl::Duration kSessionPurgeInterval = absl::Hours(1);

Server::Server(const ServerConfig& config, EventLoop* main_loop, const Clock* calendar)
    : config_(config),
      main_loop_(main_loop),
      calendar_(calendar),
      limit_(config.max_connections) {}

absl::Status Server::OpenStore() {
  const auto& services = config_.services;
  const bool needs_store =
      std::find(services.begin(), services.end(), "identity") != services.end() ||
      std::find(services.begin(), services.end(), "auth") != services.end();
  if (!needs_store) return absl::OkStatus();
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(config_.data_dir);
  if (!store.ok()) return store.status();
  store_ = *std::move(store);
  if (std::find(services.begin(), services.end(), "auth") != services.end()) {
    hasher_ = std::make_unique<PasswordHasher>(config_.pwhash_cost);
    limiter_ = std::make_unique<FailureLimiter>(main_loop_->clock());
  }
  return absl::OkStatus();
}

void Server::PurgeExpiredSessions() {
  // The pool, not this loop: the store blocks. If the queue is full the
  // next sweep catches up.
  Store* store = store_.get();
  const Clock* calendar = calendar_;
  workers_->TrySubmit([store, calendar] {
    absl::StatusOr<int> purged = store->DeleteExpiredSessions(calendar->Now());
    if (!purged.ok()) {
      LOG(WARNING) << "store: dropping expired sessions failed: " << purged.status();
    } else if (*purged > 0) {
      LOG(INFO) << "store: dropped " << *purged << " expired session(s)";
    }
  });
}

absl::StatusOr<std::unique_ptr<Service>> Server::MakeService(absl::string_view name) {
  if (name == "echo") return std::unique_ptr<Service>(new EchoService());
  if (name == "identity") return std::unique_ptr<Service>(new IdentityService(store_.get()));
  if (name == "auth") {
    AuthServiceOptions options;
    options.session_ttl = config_.session_ttl;
    return std::unique_ptr<Service>(new AuthService(store_.get(), hasher_.get(),
                                                    limiter_.get(), calendar_, options));
  }
  return absl::UnimplementedError(
      absl::StrCat("the ", name, " service is not available in this build"));
}

absl::StatusOr<std::unique_ptr<Server>> Server::Create(const ServerConfig& config,
                                                       EventLoop* main_loop,
                                                       const Clock* calendar) {
  main_loop->AssertInLoopThread();
  if (absl::Status s = ValidateConfig(config); !s.ok()) return s;
  // For auth's hashes and tokens and chat's cookies and keys.
  if (absl::Status s = PasswordHasher::InitSodium(); !s.ok()) return s;
  std::unique_ptr<Server> server(new Server(config, main_loop, calendar));
  if (absl::Status s = server->OpenStore(); !s.ok()) return s;

  // Bind first, so that a busy port fails before any thread starts.
  std::vector<Socket> sockets;
  for (const std::string& name : config.services) {
    auto port_it = config.ports.find(name);
    const int port = port_it == config.ports.end() ? DefaultPort(name) : port_it->second;
    absl::StatusOr<InetAddress> address =
        InetAddress::Parse(config.host, static_cast<uint16_t>(port));
    if (!address.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--host=", config.host, " is not an IPv4 or IPv6 address"));
    }
    if (name == "chat") {
      std::vector<uint16_t> skipped;
      absl::StatusOr<std::unique_ptr<ChatService>> chat = BindWithPortSearch(
          *address, config.port_search, &skipped, [&](const InetAddress& candidate) {
            return ChatService::Bind(main_loop, candidate, ChatOptionsOf(config));
          });
      if (!chat.ok()) return ListenError(name, *address, config.port_search, chat.status());
      server->listeners_.push_back(Listener{name, "udp", (*chat)->local_address(), skipped});
      server->chat_ = *std::move(chat);
      continue;
    }
    absl::StatusOr<std::unique_ptr<Service>> service = server->MakeService(name);
    if (!service.ok()) return service.status();
    std::vector<uint16_t> skipped;
    absl::StatusOr<Socket> socket =
        BindWithPortSearch(*address, config.port_search, &skipped,
                           [](const InetAddress& candidate) { return Socket::Listen(candidate); });
    if (!socket.ok()) return ListenError(name, *address, config.port_search, socket.status());
    absl::StatusOr<InetAddress> bound = socket->LocalAddress();
    if (!bound.ok()) return bound.status();
    server->listeners_.push_back(Listener{name, "tcp", *bound, skipped});
    server->hosted_.push_back(Hosted{name, *std::move(service), nullptr, nullptr, nullptr});
    sockets.push_back(*std::move(socket));
  }
  if (config.model != ServerModel::kReactor) {
    if (absl::Status s = server->HostBlocking(std::move(sockets)); !s.ok()) return s;
    return server;
  }

  server->io_loops_ =
      std::make_unique<EventLoopPool>(config.io_threads, config.poller, main_loop->clock());
  if (absl::Status s = server->io_loops_->Start(); !s.ok()) return s;
  server->workers_ = std::make_unique<ThreadPool>(config.workers, kWorkerQueue);

  TcpServerOptions tcp_options;
  tcp_options.connection.idle_timeout = config.idle_timeout;
  for (size_t i = 0; i < server->hosted_.size(); ++i) {
    Hosted& hosted = server->hosted_[i];
    const std::string& name = hosted.name;
    ServiceHostOptions host_options;
    host_options.framing = FramingOf(config, name);
    host_options.limits.raw_chunk = config.echo_chunk;
    host_options.dispatch = config.dispatch;
    hosted.host = std::make_unique<ServiceHost>(hosted.service.get(),
                                                server->workers_.get(), host_options);
    tcp_options.name = name;
    hosted.tcp = std::make_unique<TcpServer>(main_loop, server->io_loops_.get(),
                                             std::move(sockets[i]), &server->limit_,
                                             tcp_options);
    hosted.host->Attach(hosted.tcp.get());
  }
  return server;
}

absl::Status Server::HostBlocking(std::vector<Socket> sockets) {
  // The connections' own threads run every session call, so neither I/O
  // loops nor a pool for sessions exist; one worker sweeps expired auth
  // sessions, which must stay off the main loop (the store blocks).
  if (hasher_ != nullptr) workers_ = std::make_unique<ThreadPool>(1, kWorkerQueue);
  for (size_t i = 0; i < hosted_.size(); ++i) {
    Hosted& hosted = hosted_[i];
    BlockingConnectionOptions options;
    options.name = hosted.name;
    options.framing = FramingOf(config_, hosted.name);
    options.limits.raw_chunk = config_.echo_chunk;
    options.idle_timeout = config_.idle_timeout;
    if (config_.model == ServerModel::kIterative) {
      absl::StatusOr<std::unique_ptr<IterativeServer>> host = IterativeServer::Create(
          hosted.service.get(), std::move(sockets[i]), &limit_, std::move(options));
      if (!host.ok()) return host.status();
      hosted.blocking = *std::move(host);
    } else {
      absl::StatusOr<std::unique_ptr<ThreadPerConnectionServer>> host =
          ThreadPerConnectionServer::Create(hosted.service.get(), std::move(sockets[i]),
                                            &limit_, std::move(options));
      if (!host.ok()) return host.status();
      hosted.blocking = *std::move(host);
    }
  }
  return absl::OkStatus();
}

Server::~Server() { Shutdown(); }

std::string Server::ListeningLine(const Listener& listener) {
  return absl::StrCat("listening ", listener.service, " ", listener.transport, " ",
                      listener.address.ToString());
}

void Server::Start() {
  main_loop_->AssertInLoopThread();
  started_ = true;
  for (Hosted& hosted : hosted_) {
    if (hosted.tcp != nullptr) hosted.tcp->Start();
    if (hosted.blocking != nullptr) hosted.blocking->Start();
  }
  if (chat_ != nullptr) chat_->Start();
  if (hasher_ != nullptr) {
    PurgeExpiredSessions();
    purge_timer_ = main_loop_->RunEvery(kSessionPurgeInterval, [this] { PurgeExpiredSessions(); });
  }
}

void Server::Shutdown() {
  main_loop_->AssertInLoopThread();
  if (stopped_) return;
  stopped_ = true;
  if (purge_timer_.has_value()) main_loop_->CancelTimer(*purge_timer_);
  chat_.reset();  // datagrams need no goodbye: members time out elsewhere
  if (!started_) {
    // Create() failed part way or Start() never ran: no connection exists,
    // and a failed start-up must say one thing only.
    if (io_loops_ != nullptr) io_loops_->Stop();
    if (workers_ != nullptr) workers_->Stop(absl::ZeroDuration());
    hosted_.clear();
    return;
  }
  if (config_.model != ServerModel::kReactor) {
    ShutdownBlocking();
    return;
  }
  const absl::Time deadline = main_loop_->Now() + config_.shutdown_grace;
  LOG(INFO) << "shutdown begun: no new connections; replies under way get "
            << absl::FormatDuration(config_.shutdown_grace) << " to go out";
  for (Hosted& hosted : hosted_) hosted.tcp->StopAccepting();
  // No new requests: what is under way finishes, nothing more starts.
  for (Hosted& hosted : hosted_) {
    hosted.tcp->ForEachConnection([](TcpConnection& c) { c.PauseReading(); });
  }
  if (workers_ != nullptr) {
    workers_->Stop(std::max(absl::ZeroDuration(), deadline - main_loop_->Now()));
  }
  // The workers' replies are queued on the I/O loops; each connection now
  // sends what it owes and closes (lingering).
  for (Hosted& hosted : hosted_) {
    hosted.tcp->ForEachConnection([](TcpConnection& c) { c.EndSession(); });
  }
  while (limit_.open() > 0 && main_loop_->Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  const int left = limit_.open();
  LOG_IF(INFO, left > 0) << "closing " << left
                         << " connections still open after the grace period";
  for (Hosted& hosted : hosted_) hosted.tcp->CloseAll("the server is shutting down");
  if (io_loops_ != nullptr) io_loops_->Stop();
  hosted_.clear();
}

void Server::ShutdownBlocking() {
  // Real time, not the main loop's clock: the connection threads wait in
  // real time, and a test's fake clock would never end the grace period.
  const absl::Time deadline = SteadyClock()->Now() + config_.shutdown_grace;
  LOG(INFO) << "shutdown begun: no new connections; replies under way get "
            << absl::FormatDuration(config_.shutdown_grace) << " to go out";
  // The accept threads close their listeners; each connection's thread
  // answers the request under way, then ends its session (lingering close)
  // instead of reading another.
  for (Hosted& hosted : hosted_) hosted.blocking->BeginShutdown();
  while (limit_.open() > 0 && SteadyClock()->Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  const int left = limit_.open();
  LOG_IF(INFO, left > 0) << "closing " << left
                         << " connections still open after the grace period";
  // shutdown(SHUT_RDWR) ends every wait (for input, for room to write, for
  // the client's close), so the joins below end once any session call
  // still computing returns.
  for (Hosted& hosted : hosted_) hosted.blocking->CloseAll();
  for (Hosted& hosted : hosted_) hosted.blocking->Join();
  if (workers_ != nullptr) {
    workers_->Stop(std::max(absl::ZeroDuration(), deadline - SteadyClock()->Now()));
  }
  hosted_.clear();
}

}  // namespace switchboard
