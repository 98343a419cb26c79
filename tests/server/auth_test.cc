// Authentication on every call of every service (called generically from the service
// descriptors, so a new method cannot slip through unguarded), roles, listen-address rules,
// token files and TLS.
#include "server/auth.h"

#include <gmock/gmock.h>
#include <google/protobuf/descriptor.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "tests/server/server_test_util.h"

namespace ablate::server {
namespace {

namespace v1 = ::ablate::v1;
using ::ablate::testing::Ctx;
using ::ablate::testing::TempDir;
using ::ablate::testing::TestServer;

constexpr char kClientToken[] = "client-secret-1";
constexpr char kWorkerToken[] = "worker-secret-2";

// Calls `method` ("/pkg.Service/Method") with one empty request message, as a generic
// stream (works for unary and streaming methods alike); returns the final status.
grpc::Status CallGeneric(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                         const std::string& token) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  auto context = Ctx(token, std::chrono::seconds(10));
  auto call = stub.PrepareCall(context.get(), method, &cq);
  void* tag = nullptr;
  bool ok = false;
  auto step = [&](intptr_t id) { return cq.Next(&tag, &ok) && ok && tag == reinterpret_cast<void*>(id); };
  call->StartCall(reinterpret_cast<void*>(1));
  if (step(1)) {
    grpc::Slice empty("");
    call->Write(grpc::ByteBuffer(&empty, 1), reinterpret_cast<void*>(2));
    if (step(2)) {
      call->WritesDone(reinterpret_cast<void*>(3));
      if (step(3)) {
        grpc::ByteBuffer response;
        do {
          call->Read(&response, reinterpret_cast<void*>(4));
        } while (step(4));
      }
    }
  }
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  while (cq.Next(&tag, &ok) && tag != reinterpret_cast<void*>(5)) {
  }
  return status;
}

std::vector<std::string> Methods(const std::string& service) {
  const google::protobuf::ServiceDescriptor* descriptor =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service);
  std::vector<std::string> methods;
  for (int i = 0; descriptor != nullptr && i < descriptor->method_count(); ++i) {
    methods.push_back("/" + service + "/" + descriptor->method(i)->name());
  }
  return methods;
}

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.client_token = kClientToken;
    options.worker_token = kWorkerToken;
    options.max_lease_wait = std::chrono::milliseconds(100);
    ts_ = std::make_unique<TestServer>(options);
    ASSERT_TRUE(ts_->status.ok()) << ts_->status;
  }

  void CheckService(const std::string& service, const std::string& own, const std::string& other) {
    std::vector<std::string> methods = Methods(service);
    ASSERT_FALSE(methods.empty()) << service;
    for (const std::string& method : methods) {
      EXPECT_EQ(CallGeneric(ts_->channel, method, "").error_code(),
                grpc::StatusCode::UNAUTHENTICATED) << method;
      EXPECT_EQ(CallGeneric(ts_->channel, method, "not-a-token").error_code(),
                grpc::StatusCode::UNAUTHENTICATED) << method;
      EXPECT_EQ(CallGeneric(ts_->channel, method, other).error_code(),
                grpc::StatusCode::PERMISSION_DENIED) << method;
      grpc::StatusCode allowed = CallGeneric(ts_->channel, method, own).error_code();
      EXPECT_NE(allowed, grpc::StatusCode::UNAUTHENTICATED) << method;
      EXPECT_NE(allowed, grpc::StatusCode::PERMISSION_DENIED) << method;
    }
  }

  std::unique_ptr<TestServer> ts_;
};

TEST_F(AuthTest, EveryClientMethodNeedsTheClientToken) {
  CheckService(v1::AblationService::service_full_name(), kClientToken, kWorkerToken);
}

TEST_F(AuthTest, EveryWorkerMethodNeedsTheWorkerToken) {
  CheckService(v1::WorkerService::service_full_name(), kWorkerToken, kClientToken);
}

TEST_F(AuthTest, EveryArtifactMethodNeedsAToken) {
  for (const std::string& method : Methods(v1::ArtifactService::service_full_name())) {
    EXPECT_EQ(CallGeneric(ts_->channel, method, "").error_code(),
              grpc::StatusCode::UNAUTHENTICATED) << method;
  }
  EXPECT_EQ(CallGeneric(ts_->channel, "/ablate.v1.ArtifactService/Upload", kWorkerToken)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(CallGeneric(ts_->channel, "/ablate.v1.ArtifactService/Fetch", kClientToken)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(AuthTest, TypedStubsWithTokens) {
  v1::ListJobsResponse jobs;
  EXPECT_TRUE(ts_->client->ListJobs(Ctx(kClientToken).get(), v1::ListJobsRequest(), &jobs).ok());
  v1::RegisterResponse reg;
  EXPECT_TRUE(ts_->worker->Register(Ctx(kWorkerToken).get(), v1::RegisterRequest(), &reg).ok());
  EXPECT_EQ(ts_->worker->Register(Ctx(kClientToken).get(), v1::RegisterRequest(), &reg)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // Health stays open for probes.
  EXPECT_TRUE(CallGeneric(ts_->channel, "/grpc.health.v1.Health/Check", "").ok());
}

TEST(AuthOptionsTest, NonLoopbackNeedsBothTokensThatDiffer) {
  TempDir dir;
  ServerOptions options;
  options.db_path = dir.File("q.db");
  options.listen = "0.0.0.0:0";
  EXPECT_EQ(Server::Start(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.client_token = "a";
  EXPECT_EQ(Server::Start(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.worker_token = "a";
  EXPECT_EQ(Server::Start(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.worker_token = "b";
  // Off loopback without TLS: refused unless told --allow-insecure (issue 10).
  absl::Status no_tls = Server::Start(options).status();
  EXPECT_EQ(no_tls.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(no_tls.message()), ::testing::HasSubstr("--allow-insecure"));
  options.allow_insecure = true;
  auto server = Server::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_GT((*server)->port(), 0);
  options.listen = "127.0.0.1:0";
  options.tls_cert_file = "only-a-cert.pem";
  EXPECT_EQ(Server::Start(options).status().code(), absl::StatusCode::kInvalidArgument);
}

// Issue 10, the token rule: one token alone would leave the other role open, so it is
// refused even on loopback.
TEST(AuthOptionsTest, OneTokenAloneIsRefused) {
  TempDir dir;
  ServerOptions options;
  options.db_path = dir.File("q.db");
  options.client_token = "c";
  EXPECT_EQ(Server::Start(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.client_token.clear();
  options.worker_token = "w";
  EXPECT_EQ(Server::Start(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(AuthOptionsTest, LoopbackAddresses) {
  for (const char* yes : {"127.0.0.1:1", "127.1.2.3:80", "localhost:7070", "[::1]:5",
                          "ipv4:127.0.0.1:9", "unix:/tmp/ablate.sock"}) {
    EXPECT_TRUE(IsLoopbackAddress(yes)) << yes;
  }
  for (const char* no : {"0.0.0.0:1", "[::]:5", "10.0.0.1:7070", "example.com:1",
                         "127.evil.example:1", ":7070"}) {
    EXPECT_FALSE(IsLoopbackAddress(no)) << no;
  }
}

TEST(AuthOptionsTest, TokenFiles) {
  TempDir dir;
  std::ofstream(dir.File("t")) << "  s3cret \nignored\n";
  EXPECT_EQ(*ReadTokenFile(dir.File("t")), "s3cret");
  std::ofstream(dir.File("empty")) << "\n";
  EXPECT_EQ(ReadTokenFile(dir.File("empty")).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(ReadTokenFile(dir.File("missing")).ok());
}

TEST(AuthOptionsTest, HeaderForms) {
  Authenticator auth("c", "w");
  std::string lower = "bearer c", upper = "Bearer c", bad = "Basic c", other = "Bearer w";
  EXPECT_TRUE(auth.CheckHeader(&lower, Role::kClient).ok());
  EXPECT_TRUE(auth.CheckHeader(&upper, Role::kClient).ok());
  EXPECT_EQ(auth.CheckHeader(&bad, Role::kClient).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(auth.CheckHeader(&other, Role::kClient).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(auth.CheckHeader(nullptr, Role::kWorker).code(), absl::StatusCode::kUnauthenticated);
  Authenticator open("", "");
  EXPECT_TRUE(open.CheckHeader(nullptr, Role::kWorker).ok());
}

TEST(TlsTest, ServesOverTls) {
  TempDir dir;
  const std::string cert = dir.File("cert.pem"), key = dir.File("key.pem");
  const std::string command =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost"
      " -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout " + key + " -out " + cert +
      " >/dev/null 2>&1";
  if (std::system(command.c_str()) != 0) GTEST_SKIP() << "openssl cannot make a certificate";
  ServerOptions options;
  options.tls_cert_file = cert;
  options.tls_key_file = key;
  TestServer ts(options);
  ASSERT_TRUE(ts.status.ok()) << ts.status;
  std::ifstream in(cert);
  std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = pem;
  auto channel = grpc::CreateChannel("localhost:" + std::to_string(ts.server->port()),
                                     grpc::SslCredentials(ssl));
  auto stub = v1::AblationService::NewStub(channel);
  v1::ListJobsResponse jobs;
  grpc::Status status = stub->ListJobs(Ctx().get(), v1::ListJobsRequest(), &jobs);
  EXPECT_TRUE(status.ok()) << status.error_message();
  // A plaintext client cannot talk to it.
  auto plain = ts.client->ListJobs(Ctx("", std::chrono::seconds(2)).get(),
                                   v1::ListJobsRequest(), &jobs);
  EXPECT_FALSE(plain.ok());
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Issue 10, mTLS: with a worker CA, worker calls need a client certificate it signed;
// clients still connect without one. The certificates come from deploy/make-certs.sh.
TEST(TlsTest, WorkerCallsNeedAClientCertificateWithAWorkerCa) {
  TempDir dir;
  const std::string certs = dir.File("certs");
  const std::string command = std::string("bash ") + ABLATE_TEST_DATA_DIR +
                              "/../../deploy/make-certs.sh " + certs +
                              " localhost 127.0.0.1 >/dev/null 2>&1";
  if (std::system(command.c_str()) != 0) GTEST_SKIP() << "openssl cannot make certificates";
  ServerOptions options;
  options.tls_cert_file = certs + "/server.crt";
  options.tls_key_file = certs + "/server.key";
  options.tls_worker_ca_file = certs + "/ca.crt";
  TestServer ts(options);
  ASSERT_TRUE(ts.status.ok()) << ts.status;
  const std::string address = "localhost:" + std::to_string(ts.server->port());
  grpc::SslCredentialsOptions plain;
  plain.pem_root_certs = Slurp(certs + "/ca.crt");
  grpc::SslCredentialsOptions with_cert = plain;
  with_cert.pem_cert_chain = Slurp(certs + "/worker.crt");
  with_cert.pem_private_key = Slurp(certs + "/worker.key");
  auto no_cert = grpc::CreateChannel(address, grpc::SslCredentials(plain));
  auto cert = grpc::CreateChannel(address, grpc::SslCredentials(with_cert));
  v1::RegisterResponse reg;
  EXPECT_EQ(v1::WorkerService::NewStub(no_cert)->Register(Ctx().get(), {}, &reg).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(v1::WorkerService::NewStub(cert)->Register(Ctx().get(), {}, &reg).ok());
  v1::ListJobsResponse jobs;
  EXPECT_TRUE(v1::AblationService::NewStub(no_cert)->ListJobs(Ctx().get(), {}, &jobs).ok());
}

}  // namespace
}  // namespace ablate::server
