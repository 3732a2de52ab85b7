// Copyright Switchboard authors.
//
// server.h: `Server` assembles a running Switchboard from a `ServerConfig`:
// it makes the services the service table names, binds their listeners
// (with port search), hands the TCP ones to the TcpHosting of the --model,
// binds the UDP chat on the main loop, and shuts them down in order. It
// only wires: how a model serves connections lives in its hosting.

#ifndef SWITCHBOARD_SERVICES_SERVER_H_
#define SWITCHBOARD_SERVICES_SERVER_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "reactor/clock.h"
#include "reactor/codec.h"
#include "reactor/connection_limit.h"
#include "reactor/event_loop.h"
#include "reactor/poller.h"
#include "reactor/socket.h"
#include "reactor/thread_pool.h"
#include "reactor/udp_socket.h"
#include "services/auth/failure_limiter.h"
#include "services/auth/password_hasher.h"
#include "services/chat/chat_service.h"
#include "services/chat/redis_connection.h"
#include "services/service.h"
#include "services/service_host.h"
#include "services/service_table.h"
#include "services/store/store.h"
#include "services/tcp_hosting.h"

namespace switchboard {

inline constexpr char kVersion[] = "0.1.0";

// --model: the design that serves the TCP services.
enum class ServerModel {
  kReactor,    // non-blocking event loops, the worker pool for blocking work
  kBlocking,   // a thread per connection, blocking reads and writes
  kIterative,  // one connection at a time per service, blocking calls
};

absl::StatusOr<ServerModel> ParseServerModel(absl::string_view name);
absl::string_view ServerModelName(ServerModel model);

struct ServerConfig {
  std::string host = "127.0.0.1";
  std::vector<std::string> services = {"echo"};
  absl::flat_hash_map<std::string, int> ports;         // by service
  absl::flat_hash_map<std::string, Framing> framings;  // by service
  int port_search = 0;
  bool reuse_port = false;  // SO_REUSEPORT on every listener
  int io_threads = 1;
  int workers = 4;
  PollerKind poller = DefaultPollerKind();
  ServerModel model = ServerModel::kReactor;
  Dispatch dispatch = Dispatch::kAuto;  // reactor only
  absl::Duration idle_timeout = absl::Seconds(300);
  absl::Duration request_timeout = absl::Seconds(30);  // zero: none
  absl::Duration shutdown_grace = absl::Seconds(2);
  int max_connections = 10000;
  int max_connections_per_address = 0;  // 0: no cap
  size_t echo_chunk = 1024;
  // identity and auth: "sqlite" (in data_dir) or a postgresql:// URI
  std::string store = "sqlite";
  std::string data_dir = "./switchboard-data";
  PwhashCost pwhash_cost = PwhashCost::kInteractive;
  // REGISTERs per client address per 15 minutes; 0: no limit.
  int max_registrations_per_address = 100;
  absl::Duration session_ttl = absl::Hours(24);
  // chat
  size_t chat_max_members = 1000;
  size_t chat_max_members_per_address = 64;  // 0: no cap
  absl::Duration chat_timeout = absl::Seconds(60);
  double chat_rate = 20;  // commands per second per member
  // redis://HOST:PORT or unix:///PATH: the room shared by every server
  // naming it; empty: the room in this process.
  std::string chat_backplane;
};

// Checks what flags alone cannot: known and distinct services, framings
// each service accepts, sane numbers.
absl::Status ValidateConfig(const ServerConfig& config);

// Construction, Start and Shutdown: the thread of `main_loop`.
class Server {
 public:
  struct Listener {
    std::string service;
    std::string transport;                // "tcp" or "udp"
    InetAddress address;                  // as bound: the real port
    std::vector<uint16_t> skipped_ports;  // found busy by --port_search
  };

  // Binds every listener (an error names the one that failed) and starts
  // the I/O threads and the worker pool; accepts nothing until Start().
  // Logs nothing, so that a failed start-up says one thing only.
  // `calendar` dates what outlives the process (session expiry); tests
  // pass a fake one.
  static absl::StatusOr<std::unique_ptr<Server>> Create(const ServerConfig& config,
                                                        EventLoop* main_loop,
                                                        const Clock* calendar = SystemClock());
  ~Server();

  // In the order of config.services.
  const std::vector<Listener>& listeners() const { return listeners_; }
  // The line announced on stdout for `listener`.
  static std::string ListeningLine(const Listener& listener);

  void Start();
  // Stops accepting, lets replies under way go out for at most the grace
  // period, closes every connection, stops the threads.
  void Shutdown();

  int open_connections() const { return limit_.open(); }

 private:
  Server(const ServerConfig& config, EventLoop* main_loop, const Clock* calendar);

  // Opens what the services asked for in the table share (the store, the
  // password hasher and failure limiter), when any of them runs.
  absl::Status OpenResources();
  // The store --store names.
  absl::Status OpenStore();
  // A listener bound before anything else is opened.
  struct BoundListener {
    const ServiceSpec* spec = nullptr;
    Socket tcp;                      // TCP services: listening
    std::unique_ptr<UdpSocket> udp;  // the chat
  };
  // Binds every service's listener (recorded in listeners_), so that a busy
  // port fails first, before the store or an engine is touched.
  absl::StatusOr<std::vector<BoundListener>> BindListeners();
  // Makes each service on its bound listener; the TCP ones are returned for
  // the hosting, the chat runs on the main loop.
  std::vector<ListeningService> MakeServices(std::vector<BoundListener> bound);
  // The chat room's shared state named by --chat_backplane (null: none).
  std::unique_ptr<ChatBackplane> MakeChatBackplane() const;
  // Runs the main loop until the chat's backplane serves, for a while.
  absl::Status AwaitChatBackplane();
  // The TcpHosting of config.model.
  absl::Status Host(std::vector<ListeningService> services);
  // Drops expired sessions (and failed logins out of the window), on the
  // worker pool; runs hourly.
  void PurgeExpiredSessions();

  const ServerConfig config_;
  EventLoop* const main_loop_;
  const Clock* const calendar_;
  ConnectionLimit limit_;
  // Shared by the services; declared before the threads so that they are
  // destroyed after them.
  std::unique_ptr<Store> store_;
  std::unique_ptr<PasswordHasher> hasher_;
  std::unique_ptr<FailureLimiter> limiter_;
  std::unique_ptr<FailureLimiter> registrations_;  // null: no limit
  std::vector<std::unique_ptr<Service>> services_;
  // Runs the sessions that may block (reactor model) and the store's
  // sweeps; null when nothing needs it.
  std::unique_ptr<ThreadPool> workers_;
  std::unique_ptr<TcpHosting> hosting_;
  // The UDP chat room, on the main loop under every model (cheap work; it
  // keeps the I/O threads, or the connection threads, for TCP).
  std::unique_ptr<ChatService> chat_;
  RedisEndpoint chat_endpoint_;  // --chat_backplane, its host resolved
  std::vector<Listener> listeners_;
  std::optional<TimerId> purge_timer_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_SERVER_H_
