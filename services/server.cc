// Copyright Switchboard authors.

#include "services/server.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"
#include "services/auth/memory_failure_limiter.h"
#include "services/auth/shared_failure_limiter.h"
#include "services/chat/redis_backplane.h"
#include "services/chat/redis_connection.h"
#include "services/models/blocking_hosting.h"
#include "services/reactor_hosting.h"
#include "services/store/postgres_store.h"
#include "services/store/sqlite_store.h"

namespace switchboard {
namespace {

constexpr size_t kWorkerQueue = 1 << 16;

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
  options.max_members_per_address = config.chat_max_members_per_address;
  options.member_timeout = config.chat_timeout;
  options.rate = config.chat_rate;
  // A small burst: half a second's worth, at least one, at most ten.
  options.burst = std::clamp(config.chat_rate / 2, 1.0, 10.0);
  return options;
}

// How long start-up waits for Redis to answer, on each step.
constexpr absl::Duration kBackplaneStartup = absl::Seconds(5);

Framing FramingOf(const ServerConfig& config, const ServiceSpec& spec) {
  auto it = config.framings.find(spec.name);
  return it == config.framings.end() ? spec.framings.front() : it->second;
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

namespace {

// The services named, their ports and framings, against the table.
absl::Status ValidateServices(const ServerConfig& config) {
  if (config.services.empty()) {
    return absl::InvalidArgumentError("--services names no service");
  }
  absl::flat_hash_set<std::string> seen;
  for (const std::string& name : config.services) {
    if (FindService(name) == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown service '", name,
                       "' in --services (known: ", absl::StrJoin(KnownServices(), ","), ")"));
    }
    if (!seen.insert(name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("service '", name, "' is listed twice in --services"));
    }
    if (auto it = config.ports.find(name);
        it != config.ports.end() && (it->second < 0 || it->second > 65535)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, "_port=", it->second, " is not a port (0 to 65535)"));
    }
  }
  for (const auto& [name, framing] : config.framings) {
    const ServiceSpec* spec = FindService(name);
    if (spec == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, "_framing: no such service"));
    }
    if (spec->framings.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " takes one command per datagram: no framing"));
    }
    if (std::find(spec->framings.begin(), spec->framings.end(), framing) == spec->framings.end()) {
      std::vector<std::string> allowed;
      for (Framing f : spec->framings) allowed.emplace_back(FramingName(f));
      return absl::InvalidArgumentError(absl::StrCat("--", name, "_framing=", FramingName(framing),
                                                     ": the ", name, " service takes ",
                                                     absl::StrJoin(allowed, " or ")));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateConfig(const ServerConfig& config) {
  if (absl::Status s = ValidateServices(config); !s.ok()) return s;
  if (!InetAddress::Parse(config.host, 0).ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--host=", config.host, " is not an IPv4 or IPv6 address (127.0.0.1, 0.0.0.0, ::1, ::)"));
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
  if (config.max_registrations_per_address < 0) {
    return absl::InvalidArgumentError(
        "--max_registrations_per_address must be 0 (no limit) or more");
  }
  if (config.max_connections_per_address < 0) {
    return absl::InvalidArgumentError("--max_connections_per_address must be 0 (no cap) or more");
  }
  if (config.echo_chunk < 1 || config.echo_chunk > (1 << 20)) {
    return absl::InvalidArgumentError("--echo_chunk must be between 1 and 1048576");
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
  if (!config.chat_backplane.empty()) {
    absl::StatusOr<RedisEndpoint> endpoint = ParseRedisEndpoint(config.chat_backplane);
    if (!endpoint.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--chat_backplane: ", endpoint.status().message()));
    }
  }
  if (config.session_ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--session_ttl must be positive");
  }
  if (config.store != "sqlite") {
    if (absl::Status s = CheckPostgresUri(config.store); !s.ok()) return s;
  } else if (config.data_dir.empty()) {
    return absl::InvalidArgumentError("--data_dir must name a directory");
  }
  if (config.request_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--request_timeout must not be negative (0: none)");
  }
  if (config.idle_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--idle_timeout must be positive");
  }
  if (config.shutdown_grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--shutdown_grace must not be negative");
  }
  if (!PollerAvailable(config.poller)) {
    return absl::InvalidArgumentError(absl::StrCat("--poller=", PollerKindName(config.poller),
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
      limit_(config.max_connections, config.max_connections_per_address) {}

std::unique_ptr<ChatBackplane> Server::MakeChatBackplane() const {
  if (config_.chat_backplane.empty()) return nullptr;
  RedisBackplaneOptions options;
  options.endpoint = chat_endpoint_;  // resolved by Create
  options.lease = config_.chat_timeout;
  return std::make_unique<RedisBackplane>(main_loop_, options);
}

absl::Status Server::AwaitChatBackplane() {
  if (chat_ == nullptr || config_.chat_backplane.empty()) return absl::OkStatus();
  // The probe said Redis answers: the loop's own connections come up within
  // a few turns (nothing else is started yet).
  const absl::Time deadline = SteadyClock()->Now() + kBackplaneStartup;
  while (!chat_->room().backplane().Available().ok()) {
    if (SteadyClock()->Now() > deadline) {
      return absl::UnavailableError(
          absl::StrCat("--chat_backplane: Redis at ", config_.chat_backplane, " did not answer"));
    }
    main_loop_->RunOnce(absl::Milliseconds(10));
  }
  return absl::OkStatus();
}

absl::Status Server::OpenResources() {
  bool needs_store = false;
  bool needs_passwords = false;
  for (const std::string& name : config_.services) {
    const ServiceSpec& spec = *FindService(name);
    needs_store |= spec.needs_store;
    needs_passwords |= spec.needs_passwords;
  }
  if (needs_store) {
    if (absl::Status s = OpenStore(); !s.ok()) return s;
  }
  if (needs_passwords) {
    hasher_ = std::make_unique<PasswordHasher>(config_.pwhash_cost);
    const int registrations = config_.max_registrations_per_address;
    if (FailureLog* shared = store_->shared_failure_log(); shared != nullptr) {
      limiter_ = std::make_unique<SharedFailureLimiter>(shared, calendar_);
      if (registrations > 0) {
        registrations_ = std::make_unique<SharedFailureLimiter>(shared, calendar_, registrations,
                                                                kLoginFailureWindow, "register ");
      }
    } else {
      limiter_ = std::make_unique<MemoryFailureLimiter>(main_loop_->clock());
      if (registrations > 0) {
        registrations_ = std::make_unique<MemoryFailureLimiter>(main_loop_->clock(), registrations,
                                                                kLoginFailureWindow);
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Server::OpenStore() {
  if (config_.store == "sqlite") {
    absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(config_.data_dir);
    if (!store.ok()) return store.status();
    store_ = *std::move(store);
    return absl::OkStatus();
  }
  // One connection per worker, the only threads that call the store (the
  // blocking models' connection threads share them, waiting their turn).
  absl::StatusOr<std::unique_ptr<PostgresStore>> store =
      PostgresStore::Open(config_.store, config_.workers);
  if (!store.ok()) {
    return absl::Status(store.status().code(), absl::StrCat("--store: ", store.status().message()));
  }
  store_ = *std::move(store);
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
    FailureLog* failures = store->shared_failure_log();
    if (failures == nullptr) return;
    absl::StatusOr<int> forgotten =
        failures->DeleteFailuresBefore(calendar->Now() - kLoginFailureWindow);
    if (!forgotten.ok()) {
      LOG(WARNING) << "store: dropping old failed logins failed: " << forgotten.status();
    }
  });
}

absl::StatusOr<std::unique_ptr<Server>> Server::Create(const ServerConfig& config,
                                                       EventLoop* main_loop,
                                                       const Clock* calendar) {
  main_loop->AssertInLoopThread();
  if (absl::Status s = ValidateConfig(config); !s.ok()) return s;
  // For auth's hashes and tokens and chat's cookies and keys.
  if (absl::Status s = PasswordHasher::InitSodium(); !s.ok()) return s;
  std::unique_ptr<Server> server(new Server(config, main_loop, calendar));
  // Bind first, so that a busy port fails before anything is created,
  // connected to or started.
  absl::StatusOr<std::vector<BoundListener>> bound = server->BindListeners();
  if (!bound.ok()) return bound.status();
  if (absl::Status s = server->OpenResources(); !s.ok()) return s;
  const bool chat =
      std::find(config.services.begin(), config.services.end(), "chat") != config.services.end();
  if (chat && !config.chat_backplane.empty()) {
    // Refused before anything starts, with one line that says why.
    absl::StatusOr<RedisEndpoint> endpoint =
        ResolveAndProbeRedis(*ParseRedisEndpoint(config.chat_backplane), kBackplaneStartup);
    if (!endpoint.ok()) {
      return absl::UnavailableError(
          absl::StrCat("--chat_backplane: ", endpoint.status().message()));
    }
    server->chat_endpoint_ = *endpoint;
  }
  std::vector<ListeningService> services = server->MakeServices(*std::move(bound));
  if (absl::Status s = server->AwaitChatBackplane(); !s.ok()) return s;
  if (absl::Status s = server->Host(std::move(services)); !s.ok()) return s;
  return server;
}

absl::StatusOr<std::vector<Server::BoundListener>> Server::BindListeners() {
  std::vector<BoundListener> bound;
  for (const std::string& name : config_.services) {
    const ServiceSpec& spec = *FindService(name);
    auto port_it = config_.ports.find(name);
    const int port = port_it == config_.ports.end() ? spec.default_port : port_it->second;
    absl::StatusOr<InetAddress> address =
        InetAddress::Parse(config_.host, static_cast<uint16_t>(port));
    if (!address.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--host=", config_.host, " is not an IPv4 or IPv6 address"));
    }
    std::vector<uint16_t> skipped;
    BoundListener listener;
    listener.spec = &spec;
    if (spec.transport == Transport::kUdp) {
      absl::StatusOr<std::unique_ptr<UdpSocket>> socket = BindWithPortSearch(
          *address, config_.port_search, &skipped, [&](const InetAddress& candidate) {
            UdpSocketOptions socket_options;
            socket_options.reuse_port = config_.reuse_port;
            return UdpSocket::Bind(main_loop_, candidate, socket_options);
          });
      if (!socket.ok()) return ListenError(name, *address, config_.port_search, socket.status());
      listeners_.push_back(Listener{name, "udp", (*socket)->local_address(), skipped});
      listener.udp = *std::move(socket);
    } else {
      absl::StatusOr<Socket> socket = BindWithPortSearch(
          *address, config_.port_search, &skipped, [this](const InetAddress& candidate) {
            ListenOptions options;
            options.reuse_port = config_.reuse_port;
            return Socket::Listen(candidate, options);
          });
      if (!socket.ok()) return ListenError(name, *address, config_.port_search, socket.status());
      absl::StatusOr<InetAddress> local = socket->LocalAddress();
      if (!local.ok()) return local.status();
      listeners_.push_back(Listener{name, "tcp", *local, skipped});
      listener.tcp = *std::move(socket);
    }
    bound.push_back(std::move(listener));
  }
  return bound;
}

std::vector<ListeningService> Server::MakeServices(std::vector<BoundListener> bound) {
  const ServiceResources resources{store_.get(),         hasher_.get(), limiter_.get(),
                                   registrations_.get(), calendar_,     config_.session_ttl};
  std::vector<ListeningService> tcp;
  for (BoundListener& listener : bound) {
    const ServiceSpec& spec = *listener.spec;
    if (listener.udp != nullptr) {
      chat_ = ChatService::Create(main_loop_, std::move(listener.udp), ChatOptionsOf(config_),
                                  MakeChatBackplane());
      continue;
    }
    services_.push_back(spec.make(resources));
    const Framing framing = FramingOf(config_, spec);
    const auto frame = [framing](absl::string_view text) {
      if (text.empty()) return std::string();
      Buffer framed;
      MakeCodec(framing)->Encode(text, &framed);
      return std::string(framed.view());
    };
    tcp.push_back(ListeningService{spec.name, services_.back().get(), std::move(listener.tcp),
                                   framing, frame(spec.busy_reply),
                                   frame(spec.address_busy_reply)});
  }
  return tcp;
}

absl::Status Server::Host(std::vector<ListeningService> services) {
  HostingOptions common;
  common.limits.raw_chunk = config_.echo_chunk;
  common.idle_timeout = config_.idle_timeout;
  common.request_timeout = config_.request_timeout;
  if (config_.model == ServerModel::kReactor) {
    workers_ = std::make_unique<ThreadPool>(config_.workers, kWorkerQueue);
    ReactorHostingOptions options;
    options.common = common;
    options.io_threads = config_.io_threads;
    options.poller = config_.poller;
    options.dispatch = config_.dispatch;
    absl::StatusOr<std::unique_ptr<ReactorHosting>> hosting =
        ReactorHosting::Create(main_loop_, workers_.get(), &limit_, std::move(services), options);
    if (!hosting.ok()) return hosting.status();
    hosting_ = *std::move(hosting);
    return absl::OkStatus();
  }
  // The connections' own threads run every session call, so no pool for
  // sessions exists; one worker sweeps expired auth sessions, which must
  // stay off the main loop (the store blocks).
  if (hasher_ != nullptr) workers_ = std::make_unique<ThreadPool>(1, kWorkerQueue);
  absl::StatusOr<std::unique_ptr<BlockingHosting>> hosting = BlockingHosting::Create(
      config_.model == ServerModel::kIterative ? BlockingHosting::Kind::kIterative
                                               : BlockingHosting::Kind::kThreadPerConnection,
      &limit_, std::move(services), common);
  if (!hosting.ok()) return hosting.status();
  hosting_ = *std::move(hosting);
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
  hosting_->Start();
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
  // A failed start-up (Create() part way, or no Start()) has no connection
  // and must say one thing only.
  if (started_) {
    LOG(INFO) << "shutdown begun: no new connections; replies under way get "
              << absl::FormatDuration(config_.shutdown_grace) << " to go out";
  }
  const absl::Time deadline = SteadyClock()->Now() + config_.shutdown_grace;
  if (hosting_ != nullptr)
    hosting_->Shutdown(started_ ? config_.shutdown_grace : absl::ZeroDuration());
  if (workers_ != nullptr) {
    workers_->Stop(std::max(absl::ZeroDuration(), deadline - SteadyClock()->Now()));
  }
  hosting_.reset();
}

}  // namespace switchboard
