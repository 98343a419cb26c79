#include "server/worker_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/rpc.h"
#include "storage/status_macros.h"

namespace ablate::server {
namespace {

namespace v1 = ::ablate::v1;
using SteadyClock = std::chrono::steady_clock;

// A long poll answers this long before the caller's deadline, so the answer (possibly a
// fresh lease) arrives while the caller still listens.
constexpr std::chrono::milliseconds kDeadlineMargin{500};
// Upper bound of one wait between checks of the caller and the stop flag.
constexpr std::chrono::milliseconds kPollSlice{500};

}  // namespace

grpc::Status WorkerServiceImpl::Register(grpc::ServerContext* context,
                                         const v1::RegisterRequest* request,
                                         v1::RegisterResponse* response) {
  return HandleRpc(*auth_, context, Role::kWorker, "Register", [&]() -> absl::Status {
    ABLATE_ASSIGN_OR_RETURN(*response, store_->RegisterWorker(*request));
    return absl::OkStatus();
  });
}

grpc::Status WorkerServiceImpl::LeaseTask(grpc::ServerContext* context,
                                          const v1::LeaseTaskRequest* request,
                                          v1::LeaseTaskResponse* response) {
  return HandleRpc(*auth_, context, Role::kWorker, "LeaseTask", [&]() -> absl::Status {
    ABLATE_RETURN_IF_ERROR(store_->CheckWorkerSecret(request->worker_id(),
                                                     request->worker_secret()));
    return Lease(context, *request, response);
  });
}

absl::Status WorkerServiceImpl::Lease(grpc::ServerContext* context,
                                      const v1::LeaseTaskRequest& request,
                                      v1::LeaseTaskResponse* response) {
  if (request.wait_ms() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("wait_ms must be >= 0, got ",
                                                   request.wait_ms()));
  }
  const auto start = SteadyClock::now();
  auto deadline = start + std::min(std::chrono::milliseconds(request.wait_ms()), max_lease_wait_);
  // The caller's deadline, moved from the system clock to the steady one.
  const auto remaining = context->deadline() - std::chrono::system_clock::now();
  if (remaining < std::chrono::hours(24 * 365)) {
    deadline = std::min(deadline, start + std::chrono::duration_cast<SteadyClock::duration>(
                                              remaining - kDeadlineMargin));
  }
  storage::Notifier& notifier = store_->notifier();
  while (true) {
    const uint64_t generation = notifier.QueueGeneration();
    ABLATE_ASSIGN_OR_RETURN(*response, store_->LeaseTask(request.worker_id()));
    if (response->has_task() || stopping_->load() || context->IsCancelled()) break;
    const auto now = SteadyClock::now();
    if (now >= deadline) break;
    notifier.WaitQueue(generation, std::min(deadline, now + kPollSlice));
  }
  return absl::OkStatus();
}

grpc::Status WorkerServiceImpl::Heartbeat(grpc::ServerContext* context,
                                          const v1::HeartbeatRequest* request,
                                          v1::HeartbeatResponse* response) {
  return HandleRpc(*auth_, context, Role::kWorker, "Heartbeat", [&]() -> absl::Status {
    ABLATE_RETURN_IF_ERROR(store_->CheckWorkerSecret(request->worker_id(),
                                                     request->worker_secret()));
    ABLATE_ASSIGN_OR_RETURN(*response, store_->Heartbeat(*request));
    return absl::OkStatus();
  });
}

grpc::Status WorkerServiceImpl::CompleteTask(grpc::ServerContext* context,
                                             const v1::CompleteTaskRequest* request,
                                             v1::CompleteTaskResponse* response) {
  return HandleRpc(*auth_, context, Role::kWorker, "CompleteTask", [&]() -> absl::Status {
    ABLATE_RETURN_IF_ERROR(store_->CheckWorkerSecret(request->worker_id(),
                                                     request->worker_secret()));
    ABLATE_ASSIGN_OR_RETURN(*response, store_->CompleteTask(*request));
    return absl::OkStatus();
  });
}

grpc::Status WorkerServiceImpl::FailTask(grpc::ServerContext* context,
                                         const v1::FailTaskRequest* request,
                                         v1::FailTaskResponse* /*response*/) {
  return HandleRpc(*auth_, context, Role::kWorker, "FailTask", [&]() -> absl::Status {
    ABLATE_RETURN_IF_ERROR(store_->CheckWorkerSecret(request->worker_id(),
                                                     request->worker_secret()));
    return store_->FailTask(*request);
  });
}

grpc::Status WorkerServiceImpl::GetDataset(grpc::ServerContext* context,
                                           const v1::GetDatasetRequest* request,
                                           v1::Dataset* response) {
  return HandleRpc(*auth_, context, Role::kWorker, "GetDataset", [&]() -> absl::Status {
    ABLATE_RETURN_IF_ERROR(store_->CheckWorkerSecret(request->worker_id(),
                                                     request->worker_secret()));
    ABLATE_ASSIGN_OR_RETURN(*response, store_->GetDataset(request->sha256()));
    return absl::OkStatus();
  });
}

}  // namespace ablate::server
