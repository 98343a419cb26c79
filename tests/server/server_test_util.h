// Helpers for the server tests: an in-process server on 127.0.0.1:0 with stubs, call
// contexts with tokens, and FakeWorker, a WorkerService client thread that reports made-up
// NLLs (tests/storage/test_util.h FakePpl) instead of running a model.
#ifndef ABLATE_TESTS_SERVER_SERVER_TEST_UTIL_H_
#define ABLATE_TESTS_SERVER_SERVER_TEST_UTIL_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ablate/v1/ablate.grpc.pb.h"
#include "server/server.h"
#include "tests/storage/test_util.h"

namespace ablate::testing {

inline std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token = "",
                                                std::chrono::milliseconds timeout =
                                                    std::chrono::seconds(20)) {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
  context->set_deadline(std::chrono::system_clock::now() + timeout);
  return context;
}

// An in-process server with its database in a temp dir and stubs on one channel.
struct TestServer {
  // `fast_sync` trades power-loss durability for speed (synchronous=NORMAL); the durability
  // and load tests keep the production default (FULL).
  explicit TestServer(server::ServerOptions options = server::ServerOptions(),
                      bool fast_sync = true) {
    options.db_path = dir.File("queue.db");
    if (fast_sync) options.store.synchronous_full = false;
    auto started = server::Server::Start(std::move(options));
    status = started.status();
    if (!started.ok()) return;
    server = std::move(*started);
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    channel = grpc::CreateCustomChannel(server->dial_address(),
                                        grpc::InsecureChannelCredentials(), args);
    client = ablate::v1::AblationService::NewStub(channel);
    worker = ablate::v1::WorkerService::NewStub(channel);
  }

  TempDir dir;
  absl::Status status;
  std::unique_ptr<server::Server> server;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<ablate::v1::AblationService::Stub> client;
  std::unique_ptr<ablate::v1::WorkerService::Stub> worker;
};

// Leases tasks and completes them with FakePpl results until stopped.
class FakeWorker {
 public:
  struct Options {
    std::string token;
    ablate::v1::DeviceKind device_kind = ablate::v1::DEVICE_KIND_CPU;
    int wait_ms = 200;
    bool heartbeat = true;  // One heartbeat per task before completing.
    std::chrono::milliseconds work{0};  // Pretend to compute this long per task.
    // The PPL reported for each mask.
    std::function<double(ablate::v1::Phase, int)> ppl = FakePpl;
  };

  FakeWorker(std::shared_ptr<grpc::Channel> channel, Options options)
      : stub_(ablate::v1::WorkerService::NewStub(channel)), options_(options) {}
  ~FakeWorker() { Stop(); }

  void Start() {
    thread_ = std::thread([this] { Run(); });
  }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  int tasks_done() const { return tasks_done_.load(); }
  int errors() const { return errors_.load(); }
  // Milliseconds of each LeaseTask call that returned a task.
  std::vector<double> lease_latencies_ms() const {
    std::lock_guard<std::mutex> lock(mu_);
    return lease_ms_;
  }

 private:
  void Run() {
    ablate::v1::RegisterRequest reg;
    reg.set_name("fake");
    reg.set_device_kind(options_.device_kind);
    reg.set_device("cpu");
    ablate::v1::RegisterResponse registered;
    if (!stub_->Register(Ctx(options_.token).get(), reg, &registered).ok()) {
      ++errors_;
      return;
    }
    while (!stop_) {
      ablate::v1::LeaseTaskRequest lease;
      lease.set_worker_id(registered.worker_id());
      lease.set_worker_secret(registered.worker_secret());
      lease.set_wait_ms(options_.wait_ms);
      ablate::v1::LeaseTaskResponse leased;
      const auto start = std::chrono::steady_clock::now();
      grpc::Status status = stub_->LeaseTask(Ctx(options_.token).get(), lease, &leased);
      const double ms = std::chrono::duration<double, std::milli>(
                            std::chrono::steady_clock::now() - start)
                            .count();
      if (!status.ok()) {
        ++errors_;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        continue;
      }
      if (!leased.has_task()) continue;
      {
        std::lock_guard<std::mutex> lock(mu_);
        lease_ms_.push_back(ms);
      }
      RunTask(registered.worker_id(), registered.worker_secret(), leased.task());
    }
  }

  void RunTask(const std::string& worker_id, const std::string& secret,
               const ablate::v1::Task& task) {
    if (options_.work.count() > 0) std::this_thread::sleep_for(options_.work);
    if (options_.heartbeat) {
      ablate::v1::HeartbeatRequest beat;
      beat.set_worker_id(worker_id);
      beat.set_worker_secret(secret);
      beat.set_task_id(task.task_id());
      beat.set_lease_token(task.lease_token());
      ablate::v1::HeartbeatResponse answer;
      if (!stub_->Heartbeat(Ctx(options_.token).get(), beat, &answer).ok()) ++errors_;
      if (answer.cancelled() || answer.lease_lost()) return;
    }
    ablate::v1::CompleteTaskRequest complete;
    FillFakeResults(task, worker_id, &complete, options_.ppl);
    complete.set_worker_secret(secret);
    ablate::v1::CompleteTaskResponse done;
    if (stub_->CompleteTask(Ctx(options_.token).get(), complete, &done).ok()) {
      ++tasks_done_;
    } else {
      ++errors_;
    }
  }

  std::unique_ptr<ablate::v1::WorkerService::Stub> stub_;
  const Options options_;
  std::atomic<bool> stop_{false};
  std::atomic<int> tasks_done_{0};
  std::atomic<int> errors_{0};
  mutable std::mutex mu_;
  std::vector<double> lease_ms_;
  std::thread thread_;
};

// Percentile (0..100) of `values` by nearest rank; 0 for none.
inline double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * values.size()));
  return values[std::min(values.size() - 1, rank == 0 ? 0 : rank - 1)];
}

}  // namespace ablate::testing

#endif  // ABLATE_TESTS_SERVER_SERVER_TEST_UTIL_H_
