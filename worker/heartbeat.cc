// Copyright: the ablate authors.
#include "worker/heartbeat.h"

#include <spdlog/spdlog.h>

#include "worker/status_util.h"

namespace ablate::worker {

Heartbeater::Heartbeater(const Connection& connection, std::string worker_id,
                         std::string worker_secret,
                         const ablate::v1::Task& task, std::chrono::milliseconds interval,
                         TaskControl* control)
    : connection_(connection),
      worker_id_(std::move(worker_id)),
      worker_secret_(std::move(worker_secret)),
      task_id_(task.task_id()),
      job_id_(task.job_id()),
      lease_token_(task.lease_token()),
      interval_(interval),
      control_(control),
      thread_([this] { Loop(); }) {}

Heartbeater::~Heartbeater() {
  stop_.Set();
  thread_.join();
}

void Heartbeater::Loop() {
  while (!stop_.WaitFor(interval_)) {
    if (control_->reason() != AbortReason::kNone) continue;  // Nothing left to extend.
    BeatOnce();
  }
}

void Heartbeater::BeatOnce() {
  ablate::v1::HeartbeatRequest request;
  request.set_worker_id(worker_id_);
  request.set_worker_secret(worker_secret_);
  request.set_task_id(task_id_);
  request.set_lease_token(lease_token_);
  request.set_masks_done(static_cast<int32_t>(control_->masks_done()));
  ablate::v1::HeartbeatResponse response;
  grpc::ClientContext context;
  connection_.Prepare(&context, std::max(interval_, std::chrono::milliseconds(1000)));
  absl::Status status = FromGrpc(connection_.stub().Heartbeat(&context, request, &response));
  if (!status.ok()) {
    if (IsTransient(status)) {
      spdlog::warn("job {} task {}: heartbeat failed: {}", job_id_, task_id_, status.ToString());
      return;
    }
    spdlog::warn("job {} task {}: heartbeat refused ({}); dropping the task", job_id_, task_id_,
                 status.ToString());
    control_->Abort(AbortReason::kLeaseLost);
    return;
  }
  ++beats_;
  if (response.cancelled()) {
    spdlog::info("job {} task {}: job cancelled; stopping", job_id_, task_id_);
    control_->Abort(AbortReason::kCancelled);
  } else if (response.lease_lost()) {
    spdlog::warn("job {} task {}: lease lost; stopping", job_id_, task_id_);
    control_->Abort(AbortReason::kLeaseLost);
  }
}

}  // namespace ablate::worker
