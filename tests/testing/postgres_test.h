// Copyright Switchboard authors.
//
// postgres_test.h: `PostgresTest`, the fixture of tests that need a real
// PostgreSQL server: one PostgresCluster per test suite (started before its
// first test, a few seconds, and dropped after its last), and a fresh,
// empty database per test, whose URI is uri_.

#ifndef SWITCHBOARD_TESTS_TESTING_POSTGRES_TEST_H_
#define SWITCHBOARD_TESTS_TESTING_POSTGRES_TEST_H_

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "tests/testing/postgres_cluster.h"

namespace switchboard::testing {

class PostgresTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<PostgresCluster>> cluster = PostgresCluster::Start();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = cluster->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(cluster_, nullptr) << "no PostgreSQL server (see the first test's failure)";
    absl::StatusOr<std::string> uri = cluster_->CreateDatabase();
    ASSERT_TRUE(uri.ok()) << uri.status();
    uri_ = *uri;
  }

  static inline PostgresCluster* cluster_ = nullptr;
  std::string uri_;
};

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_POSTGRES_TEST_H_
