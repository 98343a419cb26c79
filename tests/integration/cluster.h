// Copyright: the ablate authors.
//
// Helpers for the integration tests: a tiny model + text on disk, an in-process server (or
// the ablate-server binary as a child), ablate-worker child processes and in-process
// WorkerLoops, job specs, waiting for a job, and comparing a finished job's tables with the
// offline `eval` of the same inputs.
//
// Thread-safety: test-thread only.
#ifndef ABLATE_TESTS_INTEGRATION_CLUSTER_H_
#define ABLATE_TESTS_INTEGRATION_CLUSTER_H_

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "ablate/v1/ablate.grpc.pb.h"
#include "server/server.h"
#include "tests/worker/worker_test_util.h"
#include "worker/engine_executor.h"
#include "worker/offline.h"
#include "worker/service.h"

namespace ablate::testing {

constexpr int kChunks = 2;
constexpr int kSeqLen = 16;

// The model and text every integration test uses, written once per test binary.
struct Inputs {
  TempDir dir;
  std::string model_dir;
  std::string model_sha;
  std::string text;
  std::string text_file;
};
const Inputs& SharedInputs();

// A job over SharedInputs().
ablate::v1::JobSpec MakeSpec(ablate::v1::Sweep sweep, ablate::v1::Method method,
                             int masks_per_task, int max_attempts = 3);

// Offline `eval` of the same inputs with the server's grouping (masks_per_batch =
// masks_per_task), so the NLLs are bit-identical to a job's. `model_dir` non-empty: that
// folder instead of spec.model().path() (a job whose model was uploaded names no path).
nlohmann::json OfflineReference(const ablate::v1::JobSpec& spec,
                                const std::string& model_dir = "");

// Expects the job's head table and curve to equal the offline result (1e-12 relative;
// in practice bit-identical).
void ExpectMatchesOffline(ablate::v1::AblationService::Stub& client, const std::string& job_id,
                          const nlohmann::json& offline);

// Client side of a server at `address`.
struct Client {
  // `token` non-empty: sent as `authorization: Bearer <token>` on every call.
  explicit Client(const std::string& address, const std::string& token = "");
  // Retries while the server is UNAVAILABLE (up to 10 s).
  ablate::v1::Job Submit(const ablate::v1::JobSpec& spec, const std::string& request_id = "");
  // The job, or a Job with id "" if the call failed.
  ablate::v1::Job Get(const std::string& job_id);
  // Polls until the job is SUCCEEDED / FAILED / CANCELLED or `timeout` passes.
  ablate::v1::Job WaitDone(const std::string& job_id, std::chrono::milliseconds timeout);
  std::vector<ablate::v1::WorkerInfo> Workers();

  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<ablate::v1::AblationService::Stub> stub;
  std::string token;
};

// In-process server on 127.0.0.1:0 with its database in `db_dir`.
// `worker_token` / `client_token` non-empty: WorkerService / AblationService calls need
// it (the server takes both or neither).
std::unique_ptr<server::Server> StartServer(const std::string& db_path, int lease_ttl_ms,
                                            int max_attempts = 3,
                                            const std::string& worker_token = "",
                                            const std::string& client_token = "");

// ablate-worker --server ADDRESS ... as a child process; `extra` flags appended.
std::unique_ptr<ChildProcess> StartWorker(const std::string& address, const std::string& name,
                                          const TempDir& logs,
                                          std::vector<std::string> extra = {});

// The start-up every in-process-server test shares: a fresh temp dir, StartServer with its
// database there, and a Client of it. Declare it before the test's workers, so they stop
// first. ok() is false (with a test failure recorded) if the server did not start.
struct Cluster {
  explicit Cluster(int lease_ttl_ms, int max_attempts = 3, const std::string& worker_token = "");
  bool ok() const { return server != nullptr; }
  // StartWorker(address, name, dir, extra): its log and cache go to `dir`.
  std::unique_ptr<ChildProcess> Worker(const std::string& name,
                                       std::vector<std::string> extra = {}) const;

  TempDir dir;  // queue.db, worker logs and caches.
  std::string client_token;  // "" when worker_token is "".
  std::unique_ptr<server::Server> server;
  std::string address;  // server->dial_address().
  Client client;
};

// The `ablate` client binary (ABLATE_CLI_BIN) run to completion with `args`, e.g.
// {"--server", address, "workers", "--format", "json"}; its output files go to `dir`.
struct CliRun {
  int code = -1;  // Exit code, or -signal.
  std::string out;
  std::string err;
};
CliRun RunCli(const std::vector<std::string>& args, const TempDir& dir);

// An in-process worker (its own thread), for tests that read its counters.
class InProcessWorker {
 public:
  InProcessWorker(const std::string& address, worker::ExecutorOptions executor,
                  bool heartbeat = true);
  ~InProcessWorker();  // Stop + join.
  worker::WorkerLoop& loop() { return *loop_; }
  void Stop();

 private:
  std::unique_ptr<worker::WorkerLoop> loop_;
  std::thread thread_;
};

}  // namespace ablate::testing

#endif  // ABLATE_TESTS_INTEGRATION_CLUSTER_H_
