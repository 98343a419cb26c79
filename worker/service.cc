// Copyright: the ablate authors.
#include "worker/service.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "worker/heartbeat.h"
#include "worker/status_util.h"

namespace ablate::worker {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kBackoffInitial(200);
constexpr milliseconds kBackoffMax(5000);

bool IsAuthError(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnauthenticated ||
         status.code() == absl::StatusCode::kPermissionDenied;
}

std::string HostName() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "worker";
  return buf;
}

}  // namespace

WorkerLoop::WorkerLoop(ServiceOptions options, std::unique_ptr<Connection> connection,
                       std::unique_ptr<TaskExecutor> executor)
    : options_(std::move(options)),
      connection_(std::move(connection)),
      executor_(std::move(executor)) {}

WorkerLoop::~WorkerLoop() = default;

void WorkerLoop::Stop(bool immediate) {
  stop_.Set();
  std::lock_guard<std::mutex> lock(mu_);
  if (immediate) immediate_stop_ = true;
  if (lease_context_ != nullptr) lease_context_->TryCancel();
  if (current_control_ != nullptr) current_control_->SetShutdownDeadline(DrainDeadline());
}

TaskControl::Clock::time_point WorkerLoop::DrainDeadline() const {
  return TaskControl::Clock::now() +
         milliseconds(immediate_stop_ ? 0 : options_.drain_timeout_ms);
}

ServiceStats WorkerLoop::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

std::string WorkerLoop::worker_id() const {
  std::lock_guard<std::mutex> lock(mu_);
  return worker_id_;
}

std::string WorkerLoop::worker_secret() const {
  std::lock_guard<std::mutex> lock(mu_);
  return worker_secret_;
}

absl::Status WorkerLoop::Run() {
  Backoff backoff(kBackoffInitial, kBackoffMax);
  spdlog::info("worker: serving {} on {} (device {})", connection_->address(),
               options_.name.empty() ? HostName() : options_.name, options_.device.device);
  while (!stop_.IsSet()) {
    absl::Status status = worker_id().empty() ? Register() : absl::OkStatus();
    ablate::v1::Task task;
    absl::StatusOr<bool> leased = false;
    if (status.ok()) {
      leased = LeaseOnce(&task);
      status = leased.status();
    }
    if (status.ok()) {
      backoff.Reset();
      if (*leased) RunTask(task);
      continue;
    }
    if (stop_.IsSet()) break;
    if (IsAuthError(status)) return status;
    if (status.code() == absl::StatusCode::kNotFound ||
        status.code() == absl::StatusCode::kFailedPrecondition) {
      spdlog::warn("worker: server does not know worker {} ({}); registering again",
                   worker_id(), status.ToString());
      std::lock_guard<std::mutex> lock(mu_);
      worker_id_.clear();
      continue;
    }
    milliseconds wait = backoff.Next();
    spdlog::warn("worker: server {}: {}; retrying in {} ms", connection_->address(),
                 status.ToString(), wait.count());
    stop_.WaitFor(wait);
  }
  ServiceStats s = stats();
  spdlog::info("worker: stopped ({} tasks completed, {} failed, {} dropped, {} refused)",
               s.tasks_completed, s.tasks_failed, s.tasks_dropped, s.results_refused);
  return absl::OkStatus();
}

absl::Status WorkerLoop::Register() {
  ablate::v1::RegisterRequest request;
  request.set_name(options_.name.empty() ? HostName() : options_.name);
  request.set_device_kind(options_.device.kind);
  request.set_device(options_.device.device);
  for (ablate::v1::DType d : options_.device.dtypes) request.add_dtypes(d);
  request.set_memory_bytes(options_.device.memory_bytes);
  request.set_version(ABLATE_VERSION);
  for (const std::string& f : options_.model_families) request.add_model_families(f);
  ablate::v1::RegisterResponse response;
  grpc::ClientContext context;
  connection_->Prepare(&context, milliseconds(options_.rpc_timeout_ms));
  absl::Status status = FromGrpc(connection_->stub().Register(&context, request, &response));
  if (!status.ok()) return status;
  std::lock_guard<std::mutex> lock(mu_);
  worker_id_ = response.worker_id();
  worker_secret_ = response.worker_secret();
  if (response.heartbeat_interval_ms() > 0) heartbeat_interval_ms_ = response.heartbeat_interval_ms();
  ++stats_.registrations;
  spdlog::info("worker: registered as {} (heartbeat {} ms, lease ttl {} ms)", worker_id_,
               heartbeat_interval_ms_, response.lease_ttl_ms());
  return absl::OkStatus();
}

absl::StatusOr<bool> WorkerLoop::LeaseOnce(ablate::v1::Task* task) {
  ablate::v1::LeaseTaskRequest request;
  request.set_worker_id(worker_id());
  request.set_worker_secret(worker_secret());
  request.set_wait_ms(options_.lease_wait_ms);
  ablate::v1::LeaseTaskResponse response;
  grpc::ClientContext context;
  connection_->Prepare(&context, milliseconds(options_.lease_wait_ms + options_.rpc_timeout_ms));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_.IsSet()) return absl::CancelledError("stopping");
    lease_context_ = &context;
  }
  grpc::Status rpc = connection_->stub().LeaseTask(&context, request, &response);
  {
    std::lock_guard<std::mutex> lock(mu_);
    lease_context_ = nullptr;
  }
  if (!rpc.ok()) return FromGrpc(rpc);
  if (!response.has_task()) return false;
  *task = std::move(*response.mutable_task());
  return true;
}

void WorkerLoop::RunTask(const ablate::v1::Task& task) {
  spdlog::info("job {} task {}: leased (attempt {}, {} masks, lease token {})", task.job_id(),
               task.task_id(), task.attempt(), task.masks_size(), task.lease_token());
  TaskControl control;
  int interval_ms = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.tasks_leased;
    current_control_ = &control;
    interval_ms = heartbeat_interval_ms_;
    if (stop_.IsSet()) control.SetShutdownDeadline(DrainDeadline());
  }
  DatasetFetcher fetch = [this](const std::string& sha) { return FetchDataset(sha); };
  absl::StatusOr<TaskOutput> output;
  {
    std::optional<Heartbeater> heartbeater;
    if (!options_.test_disable_heartbeat) {
      heartbeater.emplace(*connection_, worker_id(), worker_secret(), task,
                          milliseconds(interval_ms), &control);
    }
    output = executor_->Execute(task, fetch, &control);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    current_control_ = nullptr;
    stats_.masks_done += control.masks_done();
  }
  Report(task, control.reason(), output);
}

void WorkerLoop::Report(const ablate::v1::Task& task, AbortReason reason,
                        const absl::StatusOr<TaskOutput>& output) {
  if (reason == AbortReason::kCancelled || reason == AbortReason::kLeaseLost) {
    spdlog::info("job {} task {}: dropped ({})", task.job_id(), task.task_id(),
                 AbortReasonName(reason));
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.tasks_dropped;
    return;
  }
  if (reason == AbortReason::kShutdown) {
    Fail(task, "worker shut down before finishing the task", /*permanent=*/false,
         /*release=*/true);
  } else if (!output.ok()) {
    Fail(task, std::string(output.status().message()), IsPermanent(output.status()));
  } else {
    Complete(task, *output);
  }
}

void WorkerLoop::Complete(const ablate::v1::Task& task, const TaskOutput& output) {
  ablate::v1::CompleteTaskRequest request;
  request.set_worker_id(worker_id());
  request.set_worker_secret(worker_secret());
  request.set_task_id(task.task_id());
  request.set_lease_token(task.lease_token());
  for (const ablate::v1::MaskResult& r : output.results) *request.add_results() = r;
  *request.mutable_meta() = output.meta;
  ablate::v1::CompleteTaskResponse response;
  absl::Status status = CallWithRetry([&](grpc::ClientContext* context) {
    return connection_->stub().CompleteTask(context, request, &response);
  });
  std::lock_guard<std::mutex> lock(mu_);
  if (status.ok()) {
    ++stats_.tasks_completed;
    spdlog::info("job {} task {}: completed ({} masks, {:.2f} s{})", task.job_id(),
                 task.task_id(), output.results.size(), output.meta.seconds(),
                 response.duplicate() ? ", duplicate" : "");
  } else if (status.code() == absl::StatusCode::kFailedPrecondition) {
    ++stats_.results_refused;
    spdlog::warn("job {} task {}: result refused, lease no longer ours: {}", task.job_id(),
                 task.task_id(), status.ToString());
  } else {
    spdlog::error("job {} task {}: CompleteTask failed: {}", task.job_id(), task.task_id(),
                  status.ToString());
  }
}

void WorkerLoop::Fail(const ablate::v1::Task& task, const std::string& error, bool permanent,
                      bool release) {
  spdlog::warn("job {} task {}: {}{}: {}", task.job_id(), task.task_id(),
               release ? "handed back" : "failed", permanent ? " (permanent)" : "", error);
  ablate::v1::FailTaskRequest request;
  request.set_worker_id(worker_id());
  request.set_worker_secret(worker_secret());
  request.set_task_id(task.task_id());
  request.set_lease_token(task.lease_token());
  request.set_error(error);
  request.set_permanent(permanent);
  request.set_release(release);
  ablate::v1::FailTaskResponse response;
  absl::Status status = CallWithRetry([&](grpc::ClientContext* context) {
    return connection_->stub().FailTask(context, request, &response);
  });
  std::lock_guard<std::mutex> lock(mu_);
  if (status.ok()) {
    ++stats_.tasks_failed;
  } else {
    spdlog::warn("job {} task {}: FailTask not accepted: {}", task.job_id(), task.task_id(),
                 status.ToString());
  }
}

absl::StatusOr<std::string> WorkerLoop::FetchDataset(const std::string& sha256) {
  ablate::v1::GetDatasetRequest request;
  request.set_worker_id(worker_id());
  request.set_worker_secret(worker_secret());
  request.set_sha256(sha256);
  ablate::v1::Dataset response;
  absl::Status status = CallWithRetry([&](grpc::ClientContext* context) {
    return connection_->stub().GetDataset(context, request, &response);
  });
  if (!status.ok()) {
    return absl::Status(status.code(),
                        absl::StrCat("GetDataset ", sha256, ": ", status.message()));
  }
  return std::move(*response.mutable_text());
}

absl::Status WorkerLoop::CallWithRetry(
    const std::function<grpc::Status(grpc::ClientContext*)>& rpc) {
  Backoff backoff(kBackoffInitial, kBackoffMax);
  auto give_up = TaskControl::Clock::now() + milliseconds(options_.report_retry_ms);
  while (true) {
    grpc::ClientContext context;
    connection_->Prepare(&context, milliseconds(options_.rpc_timeout_ms));
    absl::Status status = FromGrpc(rpc(&context));
    if (status.ok() || !IsTransient(status) || TaskControl::Clock::now() >= give_up) {
      return status;
    }
    milliseconds wait = backoff.Next();
    spdlog::warn("worker: call to {} failed ({}); retrying in {} ms", connection_->address(),
                 status.ToString(), wait.count());
    std::this_thread::sleep_for(wait);
  }
}

}  // namespace ablate::worker
