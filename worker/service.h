// Copyright: the ablate authors.
//
// WorkerLoop: the worker's service mode. Registers with the server (device kind, dtypes,
// memory, version), long-polls LeaseTask, runs each task through a TaskExecutor while a
// Heartbeater extends the lease, then reports CompleteTask (per-mask NLL sums + ResultMeta)
// or FailTask (the error; `permanent` when the job can never succeed).
//
// Failures: while the server is unreachable every call is retried with exponential backoff
// (0.2 s doubling to 5 s), Register included; a server that no longer knows this worker
// (NOT_FOUND / FAILED_PRECONDITION on LeaseTask) gets a fresh Register. A refused result
// (FAILED_PRECONDITION on CompleteTask: the lease expired and went elsewhere) is logged and
// dropped. Only UNAUTHENTICATED / PERMISSION_DENIED end Run with an error.
//
// Shutdown (Stop, e.g. on SIGTERM): an idle worker returns at once (the long poll is
// cancelled). A busy worker finishes its current task (tasks are sized to take seconds) and
// reports it; if that takes longer than `drain_timeout_ms` the evaluation is abandoned at the
// next batch boundary and the task is handed back (FailTask with `release`: no attempt is
// counted) so another worker picks it up at once. Then Run returns OK.
//
// Thread-safety: Run on one thread; Stop, stats and worker_id from any thread.
#ifndef ABLATE_WORKER_SERVICE_H_
#define ABLATE_WORKER_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/connection.h"
#include "worker/device_info.h"
#include "worker/task_control.h"
#include "worker/task_executor.h"

namespace ablate::worker {

struct ServiceOptions {
  std::string name;               // Shown in `ablate workers`; default: host name.
  DeviceInfo device;              // What Register advertises.
  // Model families (config.json model_type) Register advertises: the engine's list
  // (worker/model_families.h); empty = gpt2 only, as workers older than families.
  std::vector<std::string> model_families;
  int lease_wait_ms = 10000;      // Long-poll length of one LeaseTask.
  int rpc_timeout_ms = 10000;     // Deadline of every other call.
  int drain_timeout_ms = 60000;   // After Stop, how long a running task may still take.
  int report_retry_ms = 120000;   // How long CompleteTask / FailTask / GetDataset are retried.
  // Test hook: never send heartbeats, so the lease expires while the task runs.
  bool test_disable_heartbeat = false;
};

// Counters since start; for tests and the final log line.
struct ServiceStats {
  int registrations = 0;
  int tasks_leased = 0;
  int tasks_completed = 0;   // CompleteTask accepted (including duplicates).
  int tasks_failed = 0;      // FailTask sent and accepted.
  int tasks_dropped = 0;     // Cancelled or lease lost: nothing reported.
  int results_refused = 0;   // CompleteTask answered FAILED_PRECONDITION.
  int64_t masks_done = 0;
};

class WorkerLoop {
 public:
  WorkerLoop(ServiceOptions options, std::unique_ptr<Connection> connection,
             std::unique_ptr<TaskExecutor> executor);
  ~WorkerLoop();

  // Serves until Stop. OK after a clean stop; an error when the server refuses our
  // credentials.
  absl::Status Run();

  // Asks Run to return (see the shutdown contract above). Idempotent. `immediate` (e.g. a
  // second SIGTERM) hands a running task back at its next batch boundary instead of
  // letting it finish.
  void Stop(bool immediate = false);

  ServiceStats stats() const;
  std::string worker_id() const;
  std::string worker_secret() const;  // RegisterResponse.worker_secret; "" before.

 private:
  // Now + the drain timeout (0 after an immediate stop). Requires mu_.
  TaskControl::Clock::time_point DrainDeadline() const;
  absl::Status Register();
  absl::StatusOr<bool> LeaseOnce(ablate::v1::Task* task);
  void RunTask(const ablate::v1::Task& task);
  void Report(const ablate::v1::Task& task, AbortReason reason,
              const absl::StatusOr<TaskOutput>& output);
  void Complete(const ablate::v1::Task& task, const TaskOutput& output);
  // `release`: give the task back without using up an attempt (shutdown).
  void Fail(const ablate::v1::Task& task, const std::string& error, bool permanent,
            bool release = false);
  absl::StatusOr<std::string> FetchDataset(const std::string& sha256);
  // Calls `rpc` with a fresh context until it succeeds, fails non-transiently, or
  // report_retry_ms passes.
  absl::Status CallWithRetry(const std::function<grpc::Status(grpc::ClientContext*)>& rpc);

  const ServiceOptions options_;
  const std::unique_ptr<Connection> connection_;
  const std::unique_ptr<TaskExecutor> executor_;
  StopFlag stop_;

  mutable std::mutex mu_;
  std::string worker_id_;
  std::string worker_secret_;
  int heartbeat_interval_ms_ = 2000;
  grpc::ClientContext* lease_context_ = nullptr;  // The long poll in flight, if any.
  TaskControl* current_control_ = nullptr;        // The task in flight, if any.
  bool immediate_stop_ = false;
  ServiceStats stats_;
};

}  // namespace ablate::worker

#endif  // ABLATE_WORKER_SERVICE_H_
