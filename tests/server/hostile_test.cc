// Issue 10, hostile clients against a real ablate-server process: memory before
// authentication (oversized requests from callers without a token), silent upload streams,
// and forged worker calls, while an honest client and worker keep being served in normal
// time and nothing acknowledged is lost. Under memory pressure gRPC may close connections,
// honest ones too; honest calls retry UNAVAILABLE as the CLI and the worker do.
//
// The memory probe of the issue is 16 unauthenticated callers sending 32 MiB GetJob
// requests for 20 s (before: 20 MB -> 550 MB resident). Here it runs for
// ABLATE_PROBE_SECONDS (default 3) and prints the server's peak resident memory.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <future>
#include <iterator>
#include <sstream>
#include <thread>

#include "tests/server/server_test_util.h"

#if defined(__SANITIZE_ADDRESS__)
#define ABLATE_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ABLATE_UNDER_ASAN 1
#endif
#endif
#ifndef ABLATE_UNDER_ASAN
#define ABLATE_UNDER_ASAN 0
#endif

namespace ablate::server {
namespace {

namespace v1 = ::ablate::v1;
using ::ablate::testing::Ctx;
using ::ablate::testing::FakeWorker;
using ::ablate::testing::Percentile;
using ::ablate::testing::SmallSpec;
using ::ablate::testing::TempDir;
using ::ablate::testing::TestServer;

constexpr char kClientToken[] = "hostile-client-token";
constexpr char kWorkerToken[] = "hostile-worker-token";

// One ablate-server child process with both tokens, on a loopback port.
class ChildServer {
 public:
  explicit ChildServer(const TempDir& dir) {
    std::ofstream(dir.File("client.token")) << kClientToken << "\n";
    std::ofstream(dir.File("worker.token")) << kWorkerToken << "\n";
    const std::string port_file = dir.File("port");
    std::vector<std::string> args = {
        ABLATE_SERVER_BIN, "--listen", "127.0.0.1:0", "--db", dir.File("queue.db"),
        "--port-file", port_file, "--client-token-file", dir.File("client.token"),
        "--worker-token-file", dir.File("worker.token"), "--sync", "normal",
        "--log-level", "error"};
    if (const char* extra = std::getenv("ABLATE_PROBE_SERVER_ARGS")) {  // Experiments.
      std::istringstream words(extra);
      for (std::string word; words >> word;) args.push_back(word);
    }
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    log_path_ = dir.File("server.log");
    const int log = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(log, 1);
      dup2(log, 2);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(log);
    for (int i = 0; i < 200 && port_ == 0; ++i) {
      std::ifstream in(port_file);
      if (!(in >> port_)) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ~ChildServer() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }

  // A fresh channel (its own connection).
  // `honest`: reconnects within 100-500 ms after the server drops the connection (gRPC's
  // default first reconnect waits about 1 s), as a client that expects to be served would.
  std::shared_ptr<grpc::Channel> Channel(bool honest = false) const {
    grpc::ChannelArguments args;
    args.SetInt("grpc.use_local_subchannel_pool", 1);
    if (honest) {
      args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
      args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
      args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
    }
    args.SetMaxSendMessageSize(-1);
    return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port_),
                                     grpc::InsecureChannelCredentials(), args);
  }
  int port() const { return port_; }
  // "running", or how the child ended, and the end of its log: for failure messages.
  std::string Fate() {
    int status = 0;
    std::string fate = "running";
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      fate = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                 : "exited with " + std::to_string(WEXITSTATUS(status));
    }
    std::ifstream in(log_path_);
    std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (log.size() > 2000) log = "..." + log.substr(log.size() - 2000);
    return "server " + fate + "; its log:\n" + log;
  }
  // VmRSS or VmHWM of the child in bytes.
  int64_t Memory(const std::string& field) const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(field + ":", 0) == 0) return std::atoll(line.c_str() + field.size() + 1) * 1024;
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string log_path_;
};

// Sends `request` (one shared buffer) to GetJob without a token until `stop`; counts codes.
void Attacker(std::shared_ptr<grpc::Channel> channel, const grpc::ByteBuffer* request,
              std::atomic<bool>* stop, std::map<int, int>* codes, std::mutex* mu) {
  grpc::GenericStub stub(channel);
  while (!*stop) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::ByteBuffer response;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&context, "/ablate.v1.AblationService/GetJob", grpc::StubOptions(), request,
                   &response, [&](grpc::Status status) { done.set_value(status); });
    grpc::Status status = done.get_future().get();
    std::lock_guard<std::mutex> lock(*mu);
    ++(*codes)[status.error_code()];
  }
}

// Milliseconds of honest GetJob calls made every 20 ms until `stop`; every 10th call also
// submits a job, whose id goes to `acknowledged` once the server answered.
std::vector<double> HonestClient(std::shared_ptr<grpc::Channel> channel, std::string job_id,
                                 std::atomic<bool>* stop, int* failures,
                                 std::vector<std::string>* acknowledged) {
  auto stub = v1::AblationService::NewStub(channel);
  std::vector<double> ms;
  for (int i = 0; !*stop; ++i) {
    if (acknowledged != nullptr && i % 10 == 0) {
      v1::SubmitJobRequest submit;
      submit.set_request_id("honest-" + std::to_string(i));
      *submit.mutable_spec() = SmallSpec(2, 2, v1::SWEEP_FULL, 1);
      v1::Job job;
      if (stub->SubmitJob(Ctx(kClientToken).get(), submit, &job).ok()) {
        acknowledged->push_back(job.id());
      }
    }
    v1::GetJobRequest request;
    request.set_job_id(job_id);
    v1::Job job;
    const auto start = std::chrono::steady_clock::now();
    grpc::Status status;
    // Under memory pressure gRPC sheds load from attackers and honest callers alike: it
    // closes connections (UNAVAILABLE, "GOAWAY received") or resets streams
    // (RESOURCE_EXHAUSTED, "Received RST_STREAM with error code 11"). Both are retried for
    // up to 3 s with pauses of 50, 100, 200, then 400 ms, as the worker retries them.
    for (int attempt = 0;; ++attempt) {
      status = stub->GetJob(Ctx(kClientToken, std::chrono::seconds(10)).get(), request, &job);
      if ((status.error_code() != grpc::StatusCode::UNAVAILABLE &&
           status.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) ||
          std::chrono::steady_clock::now() - start > std::chrono::seconds(3)) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50 << std::min(attempt, 3)));
    }
    if (!status.ok()) {
      ++*failures;
      std::cout << "honest GetJob failed: " << status.error_code() << " "
                << status.error_message() << "\n";
    }
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                           start).count());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return ms;
}

TEST(HostileTest, OversizedRequestsWithoutATokenDoNotGrowTheServer) {
  TempDir dir;
  ChildServer server(dir);
  ASSERT_GT(server.port(), 0);
  auto honest = server.Channel(/*honest=*/true);
  auto client = v1::AblationService::NewStub(honest);
  v1::SubmitJobRequest submit;
  *submit.mutable_spec() = SmallSpec(2, 2, v1::SWEEP_FULL, 1);
  v1::Job job;
  ASSERT_TRUE(client->SubmitJob(Ctx(kClientToken).get(), submit, &job).ok());

  std::atomic<bool> stop_honest{false};
  int honest_failures = 0;
  auto baseline = std::async(std::launch::async, HonestClient, honest, job.id(), &stop_honest,
                             &honest_failures, nullptr);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  stop_honest = true;
  const std::vector<double> before = baseline.get();
  const int64_t rss_before = server.Memory("VmRSS");

  v1::GetJobRequest big;
  big.set_job_id(std::string(32 << 20, 'j'));
  const std::string bytes = big.SerializeAsString();
  grpc::Slice slice(bytes);
  const grpc::ByteBuffer request(&slice, 1);
  std::atomic<bool> stop{false};
  std::map<int, int> codes;
  std::mutex mu;
  std::vector<std::thread> attackers;
  for (int i = 0; i < 16; ++i) {
    attackers.emplace_back(Attacker, server.Channel(), &request, &stop, &codes, &mu);
  }
  stop_honest = false;
  std::vector<std::string> acknowledged;
  auto during = std::async(std::launch::async, HonestClient, honest, job.id(), &stop_honest,
                           &honest_failures, &acknowledged);
  const char* env = std::getenv("ABLATE_PROBE_SECONDS");
  std::this_thread::sleep_for(std::chrono::seconds(env != nullptr ? std::atoi(env) : 3));
  stop = true;
  stop_honest = true;
  for (std::thread& t : attackers) t.join();
  const std::vector<double> under_attack = during.get();
  const int64_t peak = server.Memory("VmHWM");

  std::cout << "probe: server RSS before " << rss_before / 1e6 << " MB, peak " << peak / 1e6
            << " MB; honest GetJob p50/p99 " << Percentile(before, 50) << "/"
            << Percentile(before, 99) << " ms before, " << Percentile(under_attack, 50) << "/"
            << Percentile(under_attack, 99) << " ms during; attacker codes:";
  for (auto [code, n] : codes) std::cout << " " << code << "x" << n;
  std::cout << "\n";
  ASSERT_GT(peak, 0) << server.Fate();
  // Every oversized call is refused by size, before any handler ran.
  ASSERT_FALSE(codes.empty());
  for (auto [code, n] : codes) {
    EXPECT_TRUE(code == grpc::StatusCode::RESOURCE_EXHAUSTED ||
                code == grpc::StatusCode::UNAVAILABLE) << code;  // Reset stream / connection.
  }
  EXPECT_GT(codes[grpc::StatusCode::RESOURCE_EXHAUSTED], 0);
#if !ABLATE_UNDER_ASAN  // ASan's redzones and quarantine inflate memory several-fold.
  EXPECT_LT(peak, int64_t{450} << 20);  // Before issue 10: 550-670 MB.
#endif
  EXPECT_EQ(honest_failures, 0);
  // The attackers share this process's CPU with the honest client: generous bounds. The
  // 99th percentile is about the slowest of ~100 calls; a call may spend up to 3 s in retries
  // by design, and under ctest -j2 next to other suites it was seen at 2.2-3.2 s.
  EXPECT_LT(Percentile(under_attack, 50), 500.0);
  EXPECT_LT(Percentile(under_attack, 99), 4000.0);
  // Every job the server acknowledged during the attack is there.
  EXPECT_FALSE(acknowledged.empty());
  for (const std::string& id : acknowledged) {
    v1::GetJobRequest get;
    get.set_job_id(id);
    EXPECT_TRUE(client->GetJob(Ctx(kClientToken).get(), get, &job).ok()) << id;
  }
}

TEST(HostileTest, SilentAndExcessUploadsAreCut) {
  ServerOptions options;
  options.transport.upload_idle_timeout = std::chrono::milliseconds(300);
  options.transport.max_concurrent_uploads = 1;
  options.reap_interval = std::chrono::milliseconds(50);
  TestServer ts(options);
  ASSERT_TRUE(ts.status.ok()) << ts.status;
  auto stub = v1::ArtifactService::NewStub(ts.channel);
  grpc::ClientContext silent_context;
  silent_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  v1::UploadResponse silent_response;
  auto silent = stub->Upload(&silent_context, &silent_response);
  v1::UploadRequest header;
  header.mutable_header()->set_kind(v1::ARTIFACT_KIND_TEXT);
  header.mutable_header()->set_digest(std::string(64, 'a'));
  header.mutable_header()->set_total_size(100);
  ASSERT_TRUE(silent->Write(header));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // A second upload while the first holds the only slot.
  grpc::ClientContext second_context;
  v1::UploadResponse second_response;
  auto second = stub->Upload(&second_context, &second_response);
  second->Write(header);
  second->WritesDone();
  EXPECT_EQ(second->Finish().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  // The silent one is cancelled by the server long before its own deadline.
  const auto start = std::chrono::steady_clock::now();
  const grpc::Status status = silent->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED) << status.error_message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(HostileTest, ForgedWorkerCallsAreRefused) {
  ServerOptions options;
  options.client_token = kClientToken;
  options.worker_token = kWorkerToken;
  TestServer ts(options);
  ASSERT_TRUE(ts.status.ok()) << ts.status;
  v1::SubmitJobRequest submit;
  *submit.mutable_spec() = SmallSpec(1, 2, v1::SWEEP_INDIVIDUAL, 1);
  v1::Job job;
  ASSERT_TRUE(ts.client->SubmitJob(Ctx(kClientToken).get(), submit, &job).ok());
  v1::RegisterResponse honest, mallory;
  ASSERT_TRUE(ts.worker->Register(Ctx(kWorkerToken).get(), {}, &honest).ok());
  ASSERT_TRUE(ts.worker->Register(Ctx(kWorkerToken).get(), {}, &mallory).ok());
  EXPECT_NE(honest.worker_secret(), mallory.worker_secret());
  auto lease = [&](const v1::RegisterResponse& who) {
    v1::LeaseTaskRequest request;
    request.set_worker_id(who.worker_id());
    request.set_worker_secret(who.worker_secret());
    v1::LeaseTaskResponse response;
    EXPECT_TRUE(ts.worker->LeaseTask(Ctx(kWorkerToken).get(), request, &response).ok());
    return response.task();
  };
  const v1::Task victim = lease(honest);
  const v1::Task own = lease(mallory);
  ASSERT_FALSE(victim.task_id().empty());
  ASSERT_FALSE(own.task_id().empty());
  // Tokens are not sequential: the neighbours of Mallory's own token are not the victim's.
  EXPECT_GT(std::abs(victim.lease_token() - own.lease_token()), 1000);
  // Mallory acts as the honest worker (its id, without its secret; or with her own).
  for (const std::string& secret : {std::string(), mallory.worker_secret()}) {
    for (int64_t guess : {own.lease_token() - 1, own.lease_token() + 1, victim.lease_token()}) {
      v1::HeartbeatRequest beat;
      beat.set_worker_id(honest.worker_id());
      beat.set_worker_secret(secret);
      beat.set_task_id(victim.task_id());
      beat.set_lease_token(guess);
      v1::HeartbeatResponse beat_response;
      EXPECT_EQ(ts.worker->Heartbeat(Ctx(kWorkerToken).get(), beat, &beat_response).error_code(),
                grpc::StatusCode::PERMISSION_DENIED);
      v1::CompleteTaskRequest complete;
      ::ablate::testing::FillFakeResults(victim, honest.worker_id(), &complete);
      complete.set_worker_secret(secret);
      complete.set_lease_token(guess);
      v1::CompleteTaskResponse complete_response;
      EXPECT_EQ(ts.worker->CompleteTask(Ctx(kWorkerToken).get(), complete, &complete_response)
                    .error_code(),
                grpc::StatusCode::PERMISSION_DENIED);
      v1::FailTaskRequest fail;
      fail.set_worker_id(honest.worker_id());
      fail.set_worker_secret(secret);
      fail.set_task_id(victim.task_id());
      fail.set_lease_token(guess);
      fail.set_permanent(true);
      v1::FailTaskResponse fail_response;
      EXPECT_EQ(ts.worker->FailTask(Ctx(kWorkerToken).get(), fail, &fail_response).error_code(),
                grpc::StatusCode::PERMISSION_DENIED);
    }
  }
  // Under her own name she cannot touch the victim's lease either (fencing).
  v1::FailTaskRequest fail;
  fail.set_worker_id(mallory.worker_id());
  fail.set_worker_secret(mallory.worker_secret());
  fail.set_task_id(victim.task_id());
  fail.set_lease_token(own.lease_token() - 1);
  fail.set_permanent(true);
  v1::FailTaskResponse fail_response;
  EXPECT_EQ(ts.worker->FailTask(Ctx(kWorkerToken).get(), fail, &fail_response).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  // The honest worker's completion is still accepted.
  v1::CompleteTaskRequest complete;
  ::ablate::testing::FillFakeResults(victim, honest.worker_id(), &complete);
  complete.set_worker_secret(honest.worker_secret());
  v1::CompleteTaskResponse done;
  EXPECT_TRUE(ts.worker->CompleteTask(Ctx(kWorkerToken).get(), complete, &done).ok());
}

}  // namespace
}  // namespace ablate::server
