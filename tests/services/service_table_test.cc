// Copyright Switchboard authors.
//
// The service table: the one list the server, its flags and the validation
// read. A row that breaks a rule here would start a server that cannot
// frame, bind or make its service.

#include "services/service_table.h"

#include <set>
#include <string>

#include "gtest/gtest.h"

namespace switchboard {
namespace {

TEST(ServiceTableTest, KnowsTheFourServicesInTheDefaultOrder) {
  EXPECT_EQ(KnownServices(), (std::vector<std::string>{"echo", "identity", "auth", "chat"}));
}

TEST(ServiceTableTest, EveryRowIsComplete) {
  std::set<std::string> names;
  std::set<int> ports;
  for (const ServiceSpec& spec : ServiceTable()) {
    SCOPED_TRACE(spec.name);
    EXPECT_TRUE(names.insert(spec.name).second) << "listed twice";
    EXPECT_TRUE(ports.insert(spec.default_port).second) << "default port shared";
    EXPECT_GT(spec.default_port, 0);
    if (spec.transport == Transport::kTcp) {
      EXPECT_FALSE(spec.framings.empty()) << "a TCP service needs a default framing";
      ASSERT_TRUE(spec.make != nullptr);
    } else {
      EXPECT_TRUE(spec.framings.empty()) << "one message per datagram";
      EXPECT_TRUE(spec.make == nullptr);
    }
    if (spec.needs_passwords) EXPECT_TRUE(spec.needs_store);
  }
}

TEST(ServiceTableTest, DefaultsAreTheDocumentedOnes) {
  EXPECT_EQ(FindService("echo")->framings.front(), Framing::kRaw);
  EXPECT_EQ(FindService("identity")->framings.front(), Framing::kLine);
  EXPECT_EQ(FindService("auth")->framings.front(), Framing::kLine);
  EXPECT_EQ(FindService("echo")->default_port, 7007);
  EXPECT_EQ(FindService("chat")->default_port, 7010);
  EXPECT_EQ(FindService("nope"), nullptr);
}

TEST(ServiceTableTest, EchoIsMadeWithoutAnySharedResource) {
  std::unique_ptr<Service> echo = FindService("echo")->make(ServiceResources{});
  ASSERT_NE(echo, nullptr);
  EXPECT_EQ(echo->name(), "echo");
  EXPECT_TRUE(echo->cheap());
}

}  // namespace
}  // namespace switchboard
