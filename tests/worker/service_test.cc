// Copyright: the ablate authors.
//
// WorkerLoop against a scripted in-process WorkerService and a fake executor (no model):
// register + lease + complete, bearer token metadata, heartbeats carrying cancel, re-register
// when the server forgets the worker, CompleteTask retried through UNAVAILABLE, a refused
// result, prompt stop while long-polling, drain-timeout hand-back, and auth errors ending Run.
#include "worker/service.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <thread>

#include "tests/worker/worker_test_util.h"

namespace ablate::worker {
namespace {

namespace v1 = ::ablate::v1;
using std::chrono::milliseconds;
using std::chrono::seconds;

// A WorkerService whose answers the test scripts. Thread-safe (gRPC handler threads).
class FakeService final : public v1::WorkerService::Service {
 public:
  grpc::Status Register(grpc::ServerContext* ctx, const v1::RegisterRequest* req,
                        v1::RegisterResponse* resp) override {
    std::lock_guard<std::mutex> lock(mu);
    auth.push_back(Auth(ctx));
    if (refuse_auth) return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "bad token");
    registered.push_back(*req);
    resp->set_worker_id("w" + std::to_string(registered.size()));
    resp->set_heartbeat_interval_ms(100);
    resp->set_lease_ttl_ms(400);
    return grpc::Status::OK;
  }
  grpc::Status LeaseTask(grpc::ServerContext* ctx, const v1::LeaseTaskRequest* req,
                         v1::LeaseTaskResponse* resp) override {
    {
      std::lock_guard<std::mutex> lock(mu);
      ++leases;
      if (forget_worker) {
        forget_worker = false;
        return grpc::Status(grpc::StatusCode::NOT_FOUND, "worker_id: unknown");
      }
      if (!tasks.empty()) {
        *resp->mutable_task() = tasks.front();
        tasks.pop_front();
        return grpc::Status::OK;
      }
    }
    // Long poll: wait until cancelled or the requested time passes.
    const auto until = std::chrono::steady_clock::now() + milliseconds(req->wait_ms());
    while (!ctx->IsCancelled() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(milliseconds(10));
    }
    return grpc::Status::OK;
  }
  grpc::Status Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest* req,
                         v1::HeartbeatResponse* resp) override {
    std::lock_guard<std::mutex> lock(mu);
    ++heartbeats;
    last_masks_done = req->masks_done();
    resp->set_cancelled(cancel);
    return grpc::Status::OK;
  }
  grpc::Status CompleteTask(grpc::ServerContext*, const v1::CompleteTaskRequest* req,
                            v1::CompleteTaskResponse*) override {
    std::lock_guard<std::mutex> lock(mu);
    if (unavailable_completes > 0) {
      --unavailable_completes;
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "restarting");
    }
    if (refuse_complete) return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "stale");
    completed.push_back(*req);
    return grpc::Status::OK;
  }
  grpc::Status FailTask(grpc::ServerContext*, const v1::FailTaskRequest* req,
                        v1::FailTaskResponse*) override {
    std::lock_guard<std::mutex> lock(mu);
    failed.push_back(*req);
    return grpc::Status::OK;
  }
  grpc::Status GetDataset(grpc::ServerContext*, const v1::GetDatasetRequest*,
                          v1::Dataset* resp) override {
    resp->set_text("text");
    return grpc::Status::OK;
  }

  static std::string Auth(grpc::ServerContext* ctx) {
    auto it = ctx->client_metadata().find("authorization");
    return it == ctx->client_metadata().end() ? "" : std::string(it->second.data(), it->second.size());
  }

  std::mutex mu;
  bool refuse_auth = false, forget_worker = false, cancel = false, refuse_complete = false;
  int unavailable_completes = 0, leases = 0, heartbeats = 0, last_masks_done = 0;
  std::deque<v1::Task> tasks;
  std::vector<std::string> auth;
  std::vector<v1::RegisterRequest> registered;
  std::vector<v1::CompleteTaskRequest> completed;
  std::vector<v1::FailTaskRequest> failed;
};

// Reports nll_sum = index for every mask after `work`, polling ShouldStop every 10 ms.
class FakeExecutor : public TaskExecutor {
 public:
  explicit FakeExecutor(milliseconds work) : work_(work) {}
  absl::StatusOr<TaskOutput> Execute(const v1::Task& task, const DatasetFetcher& fetch,
                                     TaskControl* control) override {
    auto text = fetch(task.dataset_sha256());
    if (!text.ok()) return text.status();
    const auto until = std::chrono::steady_clock::now() + work_;
    while (std::chrono::steady_clock::now() < until) {
      if (control->ShouldStop()) return absl::AbortedError("stop");
      std::this_thread::sleep_for(milliseconds(10));
    }
    control->AddMasksDone(task.masks_size());
    TaskOutput out;
    for (const v1::MaskSpec& m : task.masks()) {
      v1::MaskResult& r = out.results.emplace_back();
      r.set_phase(m.phase());
      r.set_index(m.index());
      r.set_nll_sum(m.index());
      r.set_n_tokens(10);
    }
    out.meta.set_device("cpu");
    return out;
  }

 private:
  milliseconds work_;
};

v1::Task MakeTask(const std::string& id, int masks) {
  v1::Task task;
  task.set_task_id(id);
  task.set_job_id("job-1");
  task.set_lease_token(7);
  task.set_dataset_sha256("abc");
  for (int i = 0; i < masks; ++i) task.add_masks()->set_index(i);
  return task;
}

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_GT(port_, 0);
  }
  void TearDown() override {
    if (loop_) loop_->Stop(true);
    if (thread_.joinable()) thread_.join();
    server_->Shutdown(std::chrono::system_clock::now() + milliseconds(100));
  }

  void StartLoop(milliseconds work, int drain_timeout_ms = 60000, const std::string& token = "") {
    std::string token_file;
    if (!token.empty()) {
      token_file = dir_.File("token");
      ablate::testing::WriteFileOrDie(token_file, token + "\n");
    }
    auto connection = Connection::Create({"127.0.0.1:" + std::to_string(port_), token_file, ""});
    ASSERT_TRUE(connection.ok());
    ServiceOptions options;
    options.name = "test-worker";
    options.device = *DescribeDevice("cpu", v1::DTYPE_UNSPECIFIED);
    options.lease_wait_ms = 300;
    options.drain_timeout_ms = drain_timeout_ms;
    options.report_retry_ms = 10000;
    loop_ = std::make_unique<WorkerLoop>(options, std::move(*connection),
                                         std::make_unique<FakeExecutor>(work));
    thread_ = std::thread([this] { run_status_ = loop_->Run(); });
  }

  template <typename F>
  bool Until(F f) {
    return ablate::testing::WaitFor(
        [&] {
          std::lock_guard<std::mutex> lock(service_.mu);
          return f();
        },
        seconds(10), milliseconds(10));
  }

  ablate::testing::TempDir dir_;
  FakeService service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<WorkerLoop> loop_;
  std::thread thread_;
  absl::Status run_status_;
};

TEST_F(ServiceTest, RegistersLeasesAndCompletesWithTheToken) {
  service_.tasks.push_back(MakeTask("t1", 3));
  StartLoop(milliseconds(300), 60000, "tok");
  ASSERT_TRUE(Until([&] { return service_.completed.size() == 1; }));
  std::lock_guard<std::mutex> lock(service_.mu);
  const v1::RegisterRequest& reg = service_.registered.at(0);
  EXPECT_EQ(reg.name(), "test-worker");
  EXPECT_EQ(reg.device_kind(), v1::DEVICE_KIND_CPU);
  EXPECT_EQ(reg.version(), ABLATE_VERSION);
  EXPECT_GT(reg.memory_bytes(), 0);
  EXPECT_EQ(service_.auth.at(0), "Bearer tok");
  const v1::CompleteTaskRequest& done = service_.completed[0];
  EXPECT_EQ(done.worker_id(), "w1");
  EXPECT_EQ(done.task_id(), "t1");
  EXPECT_EQ(done.lease_token(), 7);
  ASSERT_EQ(done.results_size(), 3);
  EXPECT_EQ(done.results(2).nll_sum(), 2);
  EXPECT_GE(service_.heartbeats, 1);  // 300 ms of work, 100 ms interval.
}

TEST_F(ServiceTest, CancelAtHeartbeatDropsTheTask) {
  service_.cancel = true;
  service_.tasks.push_back(MakeTask("t1", 2));
  StartLoop(seconds(5));
  ASSERT_TRUE(Until([&] { return service_.heartbeats >= 1; }));
  ASSERT_TRUE(ablate::testing::WaitFor([&] { return loop_->stats().tasks_dropped == 1; },
                                       seconds(2)));
  std::lock_guard<std::mutex> lock(service_.mu);
  EXPECT_TRUE(service_.completed.empty());
  EXPECT_TRUE(service_.failed.empty());
}

TEST_F(ServiceTest, ForgottenWorkerRegistersAgain) {
  service_.forget_worker = true;
  service_.tasks.push_back(MakeTask("t1", 1));
  StartLoop(milliseconds(0));
  ASSERT_TRUE(Until([&] { return service_.completed.size() == 1; }));
  std::lock_guard<std::mutex> lock(service_.mu);
  EXPECT_EQ(service_.registered.size(), 2u);
  EXPECT_EQ(service_.completed[0].worker_id(), "w2");
}

TEST_F(ServiceTest, CompleteIsRetriedWhileUnavailableAndRefusalIsCounted) {
  service_.unavailable_completes = 2;
  service_.tasks.push_back(MakeTask("t1", 1));
  StartLoop(milliseconds(0));
  ASSERT_TRUE(Until([&] { return service_.completed.size() == 1; }));
  {
    std::lock_guard<std::mutex> lock(service_.mu);
    service_.refuse_complete = true;
    service_.tasks.push_back(MakeTask("t2", 1));
  }
  ASSERT_TRUE(ablate::testing::WaitFor([&] { return loop_->stats().results_refused == 1; },
                                       seconds(5)));
  EXPECT_EQ(loop_->stats().tasks_completed, 1);
}

TEST_F(ServiceTest, StopWhileIdleReturnsPromptly) {
  StartLoop(milliseconds(0));
  ASSERT_TRUE(Until([&] { return service_.leases >= 1; }));
  const auto t0 = std::chrono::steady_clock::now();
  loop_->Stop();
  thread_.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(1000));
  EXPECT_TRUE(run_status_.ok());
}

TEST_F(ServiceTest, StopFinishesTheTaskOrHandsItBackAfterTheDrainTimeout) {
  service_.tasks.push_back(MakeTask("t1", 1));
  StartLoop(milliseconds(400));
  ASSERT_TRUE(ablate::testing::WaitFor([&] { return loop_->stats().tasks_leased == 1; },
                                       seconds(5)));
  loop_->Stop();
  thread_.join();
  {
    std::lock_guard<std::mutex> lock(service_.mu);
    EXPECT_EQ(service_.completed.size(), 1u);  // Finished, then stopped.
    service_.tasks.push_back(MakeTask("t2", 1));
  }
  loop_.reset();
  StartLoop(seconds(30), /*drain_timeout_ms=*/200);
  ASSERT_TRUE(ablate::testing::WaitFor([&] { return loop_->stats().tasks_leased == 1; },
                                       seconds(5)));
  loop_->Stop();
  thread_.join();
  std::lock_guard<std::mutex> lock(service_.mu);
  ASSERT_EQ(service_.failed.size(), 1u);
  EXPECT_TRUE(service_.failed[0].release());
  EXPECT_FALSE(service_.failed[0].permanent());
}

TEST_F(ServiceTest, RefusedCredentialsEndRun) {
  service_.refuse_auth = true;
  StartLoop(milliseconds(0));
  thread_.join();
  EXPECT_EQ(run_status_.code(), absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace ablate::worker
