// Copyright Switchboard authors.
//
// RedisConnection against a real redis-server (started here, on a Unix
// socket and on a TCP port): the endpoint syntax, the start-up probe,
// commands round trip through the loop's watcher, pub/sub, and the loss of
// Redis at run time: pending replies fail, commands are refused, the state
// callback says down, then up again once Redis is back; nothing is left on
// the loop afterwards.

#include "services/chat/redis_connection.h"

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/testing/loop_thread.h"
#include "tests/testing/redis_process.h"

namespace switchboard {
namespace {

using testing::LoopThread;
using testing::RedisProcess;

TEST(RedisEndpointTest, ParsesTheTwoForms) {
  absl::StatusOr<RedisEndpoint> tcp = ParseRedisEndpoint("redis://127.0.0.1:6379");
  ASSERT_TRUE(tcp.ok()) << tcp.status();
  EXPECT_EQ(tcp->host, "127.0.0.1");
  EXPECT_EQ(tcp->port, 6379);
  EXPECT_EQ(tcp->ToString(), "redis://127.0.0.1:6379");
  absl::StatusOr<RedisEndpoint> v6 = ParseRedisEndpoint("redis://[::1]:7000");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->ToString(), "redis://[::1]:7000");
  absl::StatusOr<RedisEndpoint> unix_socket = ParseRedisEndpoint("unix:///run/redis.sock");
  ASSERT_TRUE(unix_socket.ok()) << unix_socket.status();
  EXPECT_EQ(unix_socket->unix_path, "/run/redis.sock");
  for (const char* bad :
       {"", "redis://", "redis://host", "redis://host:0", "redis://host:65536", "redis://:6379",
        "redis://host:x", "http://host:1", "unix://", "unix://relative.sock", "localhost:6379"}) {
    EXPECT_FALSE(ParseRedisEndpoint(bad).ok()) << bad;
  }
}

TEST(RedisProbeTest, SaysWhyRedisCannotBeReached) {
  absl::StatusOr<RedisEndpoint> nowhere = ParseRedisEndpoint("unix:///nonexistent/redis.sock");
  ASSERT_TRUE(nowhere.ok());
  const absl::Status status = ProbeRedis(*nowhere, absl::Seconds(1));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(status.message().find("unix:///nonexistent/redis.sock"), std::string::npos) << status;
}

// Records what the connection's callbacks see, for the test's thread.
struct Observed {
  absl::Mutex mutex;
  std::vector<bool> states ABSL_GUARDED_BY(mutex);
  std::vector<std::string> replies ABSL_GUARDED_BY(mutex);
};

std::string Describe(const redisReply* reply) {
  if (reply == nullptr) return "<lost>";
  switch (reply->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      return std::string(reply->str, reply->len);
    case REDIS_REPLY_ERROR:
      return absl::StrCat("<error ", std::string(reply->str, reply->len), ">");
    case REDIS_REPLY_INTEGER:
      return absl::StrCat(reply->integer);
    case REDIS_REPLY_ARRAY: {
      std::string all = "[";
      for (size_t i = 0; i < reply->elements; ++i) {
        absl::StrAppend(&all, i > 0 ? " " : "", Describe(reply->element[i]));
      }
      return all + "]";
    }
    default:
      return "<nil>";
  }
}

class RedisConnectionTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    RedisProcess::Options options;
    options.tcp = GetParam();
    absl::StatusOr<std::unique_ptr<RedisProcess>> redis = RedisProcess::Start(options);
    ASSERT_TRUE(redis.ok()) << "the tests need a real Redis: " << redis.status();
    redis_ = *std::move(redis);
    absl::StatusOr<RedisEndpoint> endpoint =
        ParseRedisEndpoint(GetParam() ? redis_->tcp_url() : redis_->unix_url());
    ASSERT_TRUE(endpoint.ok()) << endpoint.status();
    ASSERT_TRUE(ProbeRedis(*endpoint, absl::Seconds(2)).ok());
    loop_.RunSync([&] {
      RedisConnection::Options fast;
      fast.first_backoff = absl::Milliseconds(20);
      fast.max_backoff = absl::Milliseconds(200);
      connection_ = std::make_unique<RedisConnection>(
          loop_.loop(), *endpoint, "test",
          [this](bool up) {
            absl::MutexLock lock(&seen_.mutex);
            seen_.states.push_back(up);
          },
          fast);
      connection_->Connect();
    });
  }

  void TearDown() override {
    loop_.RunSync([&] { connection_.reset(); });
    // One more turn, for a watcher whose deletion was deferred.
    size_t watchers = 1;
    loop_.RunSync([] {});
    loop_.RunSync([&] { watchers = loop_.loop()->watcher_count(); });
    EXPECT_EQ(watchers, 0u) << "the connection left a watcher on the loop";
  }

  size_t StateCount() {
    absl::MutexLock lock(&seen_.mutex);
    return seen_.states.size();
  }
  bool WaitStates(size_t count) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (StateCount() < count) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return true;
  }

  // Sends `args` on the loop and waits for the reply, described.
  std::string Ask(std::vector<std::string> args) {
    absl::Mutex mutex;
    std::optional<std::string> answer;
    loop_.RunSync([&] {
      std::vector<absl::string_view> views(args.begin(), args.end());
      const bool sent = connection_->Command(views, [&](redisReply* reply) {
        absl::MutexLock lock(&mutex);
        answer = Describe(reply);
      });
      absl::MutexLock lock(&mutex);
      if (!sent) answer = *answer + " <refused>";
    });
    absl::MutexLock lock(&mutex);
    if (!mutex.AwaitWithTimeout(
            absl::Condition(
                +[](std::optional<std::string>* a) { return a->has_value(); }, &answer),
            absl::Seconds(10))) {
      return "<timeout>";
    }
    return *answer;
  }

  LoopThread loop_;
  std::unique_ptr<RedisProcess> redis_;
  std::unique_ptr<RedisConnection> connection_;
  Observed seen_;
};

TEST_P(RedisConnectionTest, CommandsRoundTrip) {
  ASSERT_TRUE(WaitStates(1)) << "never connected";
  EXPECT_EQ(Ask({"SET", "greeting", "hello world"}), "OK");
  EXPECT_EQ(Ask({"GET", "greeting"}), "hello world");
  EXPECT_EQ(Ask({"INCR", "counter"}), "1");
  EXPECT_EQ(Ask({"RPUSH", "list", "a", "b", "c"}), "3");
  EXPECT_EQ(Ask({"LRANGE", "list", "0", "-1"}), "[a b c]");
  EXPECT_EQ(Ask({"NOSUCHCOMMAND"}).substr(0, 7), "<error ");
  // Binary-safe arguments, and many of them.
  std::vector<std::string> many = {"RPUSH", "many"};
  for (int i = 0; i < 100; ++i) many.push_back(std::string("x\0y\r\n", 5));
  EXPECT_EQ(Ask(many), "100");
  // A reply far larger than one read.
  EXPECT_EQ(Ask({"SET", "big", std::string(1 << 20, 'b')}), "OK");
  EXPECT_EQ(Ask({"STRLEN", "big"}), "1048576");
}

TEST_P(RedisConnectionTest, PubSubDeliversMessages) {
  ASSERT_TRUE(WaitStates(1));
  absl::Mutex mutex;
  std::vector<std::string> messages;
  loop_.RunSync([&] {
    ASSERT_TRUE(connection_->Subscribe("news", [&](redisReply* reply) {
      absl::MutexLock lock(&mutex);
      messages.push_back(Describe(reply));
    }));
  });
  {
    absl::MutexLock lock(&mutex);
    ASSERT_TRUE(mutex.AwaitWithTimeout(
        absl::Condition(
            +[](std::vector<std::string>* m) { return !m->empty(); }, &messages),
        absl::Seconds(10)));
    EXPECT_EQ(messages[0], "[subscribe news 1]");
  }
  std::unique_ptr<RedisConnection> publisher;
  std::atomic<bool> up{false};
  loop_.RunSync([&] {
    publisher =
        std::make_unique<RedisConnection>(loop_.loop(), *ParseRedisEndpoint(redis_->unix_url()),
                                          "publisher", [&](bool state) { up = state; });
    publisher->Connect();
  });
  for (int i = 0; i < 1000 && !up; ++i) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_TRUE(up);
  loop_.RunSync([&] {
    const absl::string_view args[] = {"PUBLISH", "news", "extra"};
    EXPECT_TRUE(publisher->Command(args, [](redisReply*) {}));
  });
  {
    absl::MutexLock lock(&mutex);
    ASSERT_TRUE(mutex.AwaitWithTimeout(
        absl::Condition(
            +[](std::vector<std::string>* m) { return m->size() >= 2; }, &messages),
        absl::Seconds(10)));
    EXPECT_EQ(messages[1], "[message news extra]");
  }
  loop_.RunSync([&] { publisher.reset(); });
}

TEST_P(RedisConnectionTest, LossIsReportedAndRecovered) {
  ASSERT_TRUE(WaitStates(1));
  EXPECT_EQ(Ask({"SET", "k", "v"}), "OK");
  redis_->Kill();
  ASSERT_TRUE(WaitStates(2)) << "the loss was not reported";
  {
    absl::MutexLock lock(&seen_.mutex);
    EXPECT_EQ(seen_.states[1], false);
  }
  EXPECT_EQ(Ask({"GET", "k"}), "<lost> <refused>");
  bool connected = true;
  loop_.RunSync([&] { connected = connection_->connected(); });
  EXPECT_FALSE(connected);
  // Some failed retries while it is away, then it comes back.
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(StateCount(), 2u) << "a retry that fails is not a new state";
  ASSERT_TRUE(redis_->Restart().ok());
  ASSERT_TRUE(WaitStates(3)) << "did not reconnect";
  {
    absl::MutexLock lock(&seen_.mutex);
    EXPECT_EQ(seen_.states[2], true);
  }
  EXPECT_EQ(Ask({"GET", "k"}), "<nil>") << "nothing was saved";
  EXPECT_EQ(Ask({"SET", "k", "again"}), "OK");
}

TEST_P(RedisConnectionTest, PendingRepliesFailWhenRedisDies) {
  ASSERT_TRUE(WaitStates(1));
  absl::Mutex mutex;
  std::optional<std::string> answer;
  loop_.RunSync([&] {
    // Blocks in Redis until killed.
    const absl::string_view args[] = {"BLPOP", "never", "0"};
    ASSERT_TRUE(connection_->Command(args, [&](redisReply* reply) {
      absl::MutexLock lock(&mutex);
      answer = Describe(reply);
    }));
  });
  absl::SleepFor(absl::Milliseconds(50));
  redis_->Kill();
  absl::MutexLock lock(&mutex);
  ASSERT_TRUE(mutex.AwaitWithTimeout(
      absl::Condition(
          +[](std::optional<std::string>* a) { return a->has_value(); }, &answer),
      absl::Seconds(10)));
  EXPECT_EQ(*answer, "<lost>");
}

INSTANTIATE_TEST_SUITE_P(UnixAndTcp, RedisConnectionTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Tcp" : "Unix";
                         });

}  // namespace
}  // namespace switchboard
