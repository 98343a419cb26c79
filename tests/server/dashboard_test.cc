// --http-listen at start-up: the listen rule mirrors the gRPC side (no tokens: loopback
// only), bad addresses and a port already taken are clear errors, and a loopback dashboard
// binds its own port next to the gRPC one. Requests themselves are tested against the real
// binaries (client/python/tests/test_live.py, tests/browser).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/http/dashboard.h"
#include "tests/server/server_test_util.h"

namespace ablate::server {
namespace {

using ::ablate::testing::TestServer;
using ::testing::HasSubstr;

ServerOptions WithHttp(const std::string& http_listen) {
  ServerOptions options;
  options.http_listen = http_listen;
  return options;
}

TEST(DashboardTest, LoopbackDashboardBindsItsOwnPort) {
  TestServer ts(WithHttp("127.0.0.1:0"));
  ASSERT_TRUE(ts.status.ok()) << ts.status;
  EXPECT_GT(ts.server->http_port(), 0);
  EXPECT_NE(ts.server->http_port(), ts.server->port());
  TestServer none;
  ASSERT_TRUE(none.status.ok());
  EXPECT_EQ(none.server->http_port(), 0);  // Off by default.
}

TEST(DashboardTest, NonLoopbackNeedsTokens) {
  TestServer ts(WithHttp("0.0.0.0:0"));
  EXPECT_EQ(ts.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ts.status.message(), HasSubstr("is not loopback"));
  http::DashboardOptions options;
  options.listen = "10.1.2.3:8080";
  options.tokens_configured = true;
  options.allow_insecure = false;
  EXPECT_THAT(http::CheckDashboardOptions(options).message(), HasSubstr("needs TLS"));
  options.tls_cert_file = "cert.pem";
  EXPECT_THAT(http::CheckDashboardOptions(options).message(), HasSubstr("both a certificate"));
  options.tls_key_file = "key.pem";
  EXPECT_TRUE(http::CheckDashboardOptions(options).ok());
}

TEST(DashboardTest, BadAddressesAreClearErrors) {
  for (const char* listen : {"nohost", "127.0.0.1:http", "127.0.0.1:70000"}) {
    TestServer ts(WithHttp(listen));
    EXPECT_EQ(ts.status.code(), absl::StatusCode::kInvalidArgument) << listen;
    EXPECT_THAT(ts.status.message(), HasSubstr("--http-listen")) << listen;
  }
  TestServer first(WithHttp("127.0.0.1:0"));
  ASSERT_TRUE(first.status.ok());
  TestServer second(WithHttp("127.0.0.1:" + std::to_string(first.server->http_port())));
  EXPECT_EQ(second.status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status.message(), HasSubstr("(HTTP)"));
}

TEST(DashboardTest, UnreadableCertificateIsInvalidArgument) {
  ServerOptions options = WithHttp("127.0.0.1:0");
  options.tls_cert_file = "/nonexistent/cert.pem";
  options.tls_key_file = "/nonexistent/key.pem";
  TestServer ts(options);
  EXPECT_EQ(ts.status.code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ablate::server
