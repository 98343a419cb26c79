// Copyright: the ablate authors.
//
// End to end with the real binaries: a model uploaded once as an artifact (no path), a job
// run by two workers that each had to fetch it into their own cache.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "client/upload.h"
#include "gtest/gtest.h"
#include "tests/worker/worker_test_util.h"

namespace ablate {
namespace {

using ::ablate::testing::ChildProcess;
using ::ablate::testing::TempDir;

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TEST(ArtifactClusterTest, TwoWorkersFetchTheUploadedModel) {
  TempDir tmp;
  auto sha = testing::WriteRandomModel(tmp.File("model"), 5);
  ASSERT_TRUE(sha.ok()) << sha.status();
  const std::string address = "127.0.0.1:" + std::to_string(FreePort());
  auto server = ChildProcess::Start({ABLATE_SERVER_BIN, "--listen", address, "--db",
                                     tmp.File("queue.db"), "--artifact-dir",
                                     tmp.File("artifacts")},
                                    tmp.File("server.log"));
  ASSERT_TRUE(server.ok()) << server.status();
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() +
                                        std::chrono::seconds(20)))
      << (*server)->Log();
  auto artifacts = v1::ArtifactService::NewStub(channel);
  auto client = v1::AblationService::NewStub(channel);
  auto uploaded = client::UploadModelFolder(artifacts.get(), tmp.File("model"));
  ASSERT_TRUE(uploaded.ok()) << uploaded.status();

  v1::SubmitJobRequest request;
  request.set_request_id("cluster-1");
  v1::JobSpec* spec = request.mutable_spec();
  spec->mutable_model()->set_artifact_digest(uploaded->artifact.digest());
  spec->mutable_model()->set_sha256(*sha);
  const auto config = testing::TinyConfig();
  auto* shape = spec->mutable_model()->mutable_shape();
  shape->set_n_layer(config.n_layer);
  shape->set_n_head(config.n_head);
  shape->set_n_embd(config.n_embd);
  shape->set_n_positions(config.n_positions);
  shape->set_vocab_size(config.vocab_size);
  spec->mutable_dataset()->set_text(testing::TestText());
  spec->set_n_chunks(2);
  spec->set_seq_len(32);
  spec->set_method(v1::METHOD_ZERO);
  spec->set_sweep(v1::SWEEP_INDIVIDUAL);
  spec->set_masks_per_task(1);
  v1::Job job;
  {
    grpc::ClientContext context;
    grpc::Status status = client->SubmitJob(&context, request, &job);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  std::unique_ptr<ChildProcess> workers[2];
  for (int i = 0; i < 2; ++i) {
    const std::string n = std::to_string(i);
    auto w = ChildProcess::Start({ABLATE_WORKER_BIN, "--server", address, "--name", "w" + n,
                                  "--cache-dir", tmp.File("cache" + n),
                                  "--test-sleep-per-mask-ms", "100"},
                                 tmp.File("worker" + n + ".log"));
    ASSERT_TRUE(w.ok()) << w.status();
    workers[i] = *std::move(w);
  }
  bool done = testing::WaitFor([&] {
    grpc::ClientContext context;
    v1::GetJobRequest get;
    get.set_job_id(job.id());
    return client->GetJob(&context, get, &job).ok() && job.state() >= v1::JOB_STATE_SUCCEEDED;
  }, std::chrono::seconds(90), std::chrono::milliseconds(200));
  ASSERT_TRUE(done) << workers[0]->Log() << workers[1]->Log();
  EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.error();
  EXPECT_GT(job.baseline_ppl(), 1.0);
  for (int i = 0; i < 2; ++i) {  // Each worker fetched the model into its own cache.
    const std::string entry =
        tmp.File("cache" + std::to_string(i)) + "/entries/" + uploaded->artifact.digest();
    EXPECT_TRUE(std::filesystem::exists(entry + "/model.safetensors")) << workers[i]->Log();
    EXPECT_TRUE(std::filesystem::exists(entry + ".meta"));
  }
}

}  // namespace
}  // namespace ablate
