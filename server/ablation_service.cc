#include "server/ablation_service.h"

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "server/artifact_service.h"
#include "server/rpc.h"
#include "server/submit_check.h"
#include "storage/compare.h"
#include "storage/ids.h"
#include "storage/job_spec.h"
#include "storage/queries.h"
#include "storage/status_macros.h"

namespace ablate::server {
namespace {

namespace v1 = ::ablate::v1;
using SteadyClock = std::chrono::steady_clock;

bool Finished(const v1::Job& job) {
  return job.state() == v1::JOB_STATE_SUCCEEDED || job.state() == v1::JOB_STATE_FAILED ||
         job.state() == v1::JOB_STATE_CANCELLED;
}

// A SWEEP_FULL job holds more results than one phase has masks once its cumulative phase
// is derived (k = 0 is stored with the derivation).
bool CumulativeDerived(const v1::Job& job) {
  return job.spec().sweep() == v1::SWEEP_FULL &&
         job.progress().masks_done() > storage::MasksPerPhase(job.spec());
}

bool ProgressChanged(const v1::Job& a, const v1::Job& b) {
  const v1::Progress& p = a.progress();
  const v1::Progress& q = b.progress();
  return a.state() != b.state() || p.masks_done() != q.masks_done() ||
         p.tasks_done() != q.tasks_done() || p.tasks_running() != q.tasks_running() ||
         p.workers_busy() != q.workers_busy() || p.masks_total() != q.masks_total();
}

bool Send(grpc::ServerWriter<v1::JobEvent>* writer, v1::JobEvent::Kind kind, const v1::Job& job,
          std::string message) {
  v1::JobEvent event;
  event.set_kind(kind);
  *event.mutable_job() = job;
  event.set_message(std::move(message));
  return writer->Write(event);
}

}  // namespace

grpc::Status AblationServiceImpl::SubmitJob(grpc::ServerContext* context,
                                            const v1::SubmitJobRequest* request,
                                            v1::Job* response) {
  return HandleRpc(*auth_, context, Role::kClient, "SubmitJob",
                   [&] { return Submit(context, *request, response); });
}

absl::Status AblationServiceImpl::Submit(grpc::ServerContext* context,
                                         const v1::SubmitJobRequest& request, v1::Job* response) {
  const storage::SpecLimits& limits = store_->options().limits;
  ABLATE_RETURN_IF_ERROR(CheckInlineText(request.spec().dataset(), max_inline_text_bytes_));
  if (artifacts_ != nullptr) {  // The database shares the volume: refuse new work up front.
    ABLATE_RETURN_IF_ERROR(artifacts_->CheckFreeSpace(
        static_cast<int64_t>(request.spec().dataset().text().size())));
  }
  if (request.spec().priority() > limits.max_client_priority &&
      request.spec().priority() <= limits.max_priority && !auth_->IsOperator(*context)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "spec.priority ", request.spec().priority(), ": priorities above ",
        limits.max_client_priority, " are reserved for the operator (operator token)"));
  }
  const v1::SubmitJobRequest* to_store = &request;
  v1::SubmitJobRequest resolved;
  if (artifacts_ != nullptr) {
    ABLATE_RETURN_IF_ERROR(CheckModelArtifact(*artifacts_, request.spec().model()));
    ABLATE_RETURN_IF_ERROR(CheckShapeAgainstArtifact(*artifacts_, request.spec().model()));
    if (!request.spec().dataset().artifact_digest().empty()) {
      resolved = request;
      ABLATE_RETURN_IF_ERROR(ResolveTextArtifact(*artifacts_, limits.max_dataset_bytes,
                                                 resolved.mutable_spec()->mutable_dataset()));
      to_store = &resolved;
    }
  } else if (!request.spec().dataset().artifact_digest().empty()) {
    return absl::FailedPreconditionError(
        "spec.dataset.artifact_digest: this server has no artifact store");
  }
  ABLATE_ASSIGN_OR_RETURN(storage::SubmitOutcome outcome, store_->SubmitJob(*to_store));
  *response = std::move(outcome.job);
  return absl::OkStatus();
}

grpc::Status AblationServiceImpl::DeleteJob(grpc::ServerContext* context,
                                            const v1::DeleteJobRequest* request,
                                            v1::DeleteJobResponse* response) {
  return HandleRpc(*auth_, context, Role::kClient, "DeleteJob", [&]() -> absl::Status {
    ABLATE_ASSIGN_OR_RETURN(*response, store_->DeleteJob(request->job_id()));
    return absl::OkStatus();
  });
}

grpc::Status AblationServiceImpl::GetJob(grpc::ServerContext* context,
                                         const v1::GetJobRequest* request, v1::Job* response) {
  return HandleRpc(*auth_, context, Role::kClient, "GetJob", [&]() -> absl::Status {
    ABLATE_ASSIGN_OR_RETURN(*response, store_->GetJob(request->job_id()));
    return absl::OkStatus();
  });
}

grpc::Status AblationServiceImpl::ListJobs(grpc::ServerContext* context,
                                           const v1::ListJobsRequest* request,
                                           v1::ListJobsResponse* response) {
  return HandleRpc(*auth_, context, Role::kClient, "ListJobs", [&]() -> absl::Status {
    ABLATE_ASSIGN_OR_RETURN(*response, store_->ListJobs(*request));
    return absl::OkStatus();
  });
}

grpc::Status AblationServiceImpl::CancelJob(grpc::ServerContext* context,
                                            const v1::CancelJobRequest* request,
                                            v1::Job* response) {
  return HandleRpc(*auth_, context, Role::kClient, "CancelJob", [&]() -> absl::Status {
    ABLATE_ASSIGN_OR_RETURN(*response, store_->CancelJob(request->job_id()));
    return absl::OkStatus();
  });
}

grpc::Status AblationServiceImpl::WatchJob(grpc::ServerContext* context,
                                           const v1::WatchJobRequest* request,
                                           grpc::ServerWriter<v1::JobEvent>* writer) {
  return HandleRpc(*auth_, context, Role::kClient, "WatchJob",
                   [&] { return Watch(context, request->job_id(), writer); });
}

absl::Status AblationServiceImpl::Watch(grpc::ServerContext* context, const std::string& job_id,
                                        grpc::ServerWriter<v1::JobEvent>* writer) {
  ABLATE_ASSIGN_OR_RETURN(int64_t id, storage::ParseJobId(job_id));
  storage::Notifier& notifier = store_->notifier();
  uint64_t version = notifier.JobVersion(id);  // Read before the job: no change is missed.
  ABLATE_ASSIGN_OR_RETURN(v1::Job job, store_->GetJob(job_id));
  if (!Send(writer, v1::JobEvent::KIND_SNAPSHOT, job, "")) return absl::OkStatus();
  bool phase_sent = CumulativeDerived(job);
  SteadyClock::time_point last_sent = SteadyClock::now();
  while (!Finished(job)) {
    if (stopping_->load()) return absl::UnavailableError("server shutting down");
    if (context->IsCancelled()) return absl::CancelledError("client went away");
    const uint64_t seen = notifier.WaitJob(id, version, SteadyClock::now() + watch_.poll_interval);
    const bool snapshot_due = SteadyClock::now() - last_sent >= watch_.snapshot_interval;
    if (seen == version && !snapshot_due) continue;
    version = seen;
    ABLATE_ASSIGN_OR_RETURN(v1::Job next, store_->GetJob(job_id));
    v1::JobEvent::Kind kind = v1::JobEvent::KIND_UNSPECIFIED;
    std::string message;
    if (Finished(next)) {
      job = std::move(next);
      break;
    } else if (!phase_sent && CumulativeDerived(next)) {
      kind = v1::JobEvent::KIND_PHASE;
      message = "cumulative phase derived and enqueued";
      phase_sent = true;
    } else if (ProgressChanged(job, next)) {
      kind = v1::JobEvent::KIND_PROGRESS;
    } else if (snapshot_due) {
      kind = v1::JobEvent::KIND_SNAPSHOT;
    }
    job = std::move(next);
    if (kind == v1::JobEvent::KIND_UNSPECIFIED) continue;
    if (!Send(writer, kind, job, message)) return absl::OkStatus();  // Client gone.
    last_sent = SteadyClock::now();
  }
  Send(writer, v1::JobEvent::KIND_FINISHED, job,
       absl::StrCat(v1::JobState_Name(job.state()), job.error().empty() ? "" : ": ",
                    job.error()));
  return absl::OkStatus();
}

grpc::Status AblationServiceImpl::GetHeadTable(grpc::ServerContext* context,
                                               const v1::JobQuery* request,
                                               v1::HeadTable* response) {
  return HandleRpc(*auth_, context, Role::kClient, "GetHeadTable", [&]() -> absl::Status {
    ABLATE_ASSIGN_OR_RETURN(*response, storage::QueryHeadTable(*store_, request->job_id(),
                                                               request->uncertainty()));
    return absl::OkStatus();
  });
}

grpc::Status AblationServiceImpl::GetCumulativeCurve(grpc::ServerContext* context,
                                                     const v1::JobQuery* request,
                                                     v1::CumulativeCurve* response) {
  return HandleRpc(*auth_, context, Role::kClient, "GetCumulativeCurve", [&]() -> absl::Status {
    ABLATE_ASSIGN_OR_RETURN(*response,
                            storage::QueryCurve(*store_, request->job_id(), request->uncertainty()));
    return absl::OkStatus();
  });
}

grpc::Status AblationServiceImpl::GetThresholds(grpc::ServerContext* context,
                                                const v1::ThresholdsRequest* request,
                                                v1::ThresholdTable* response) {
  return HandleRpc(*auth_, context, Role::kClient, "GetThresholds", [&]() -> absl::Status {
    ABLATE_ASSIGN_OR_RETURN(*response, storage::QueryThresholds(*store_, *request));
    return absl::OkStatus();
  });
}

grpc::Status AblationServiceImpl::GetDistribution(grpc::ServerContext* context,
                                                  const v1::JobQuery* request,
                                                  v1::DistributionStats* response) {
  return HandleRpc(*auth_, context, Role::kClient, "GetDistribution", [&]() -> absl::Status {
    ABLATE_ASSIGN_OR_RETURN(*response, storage::QueryDistribution(*store_, request->job_id(),
                                                                request->uncertainty()));
    return absl::OkStatus();
  });
}

grpc::Status AblationServiceImpl::GetLayerTable(grpc::ServerContext* context,
                                                const v1::JobQuery* request,
                                                v1::LayerTable* response) {
  return HandleRpc(*auth_, context, Role::kClient, "GetLayerTable", [&]() -> absl::Status {
    ABLATE_ASSIGN_OR_RETURN(*response, storage::QueryLayers(*store_, request->job_id(),
                                                                  request->uncertainty()));
    return absl::OkStatus();
  });
}

grpc::Status AblationServiceImpl::GetCorrelation(grpc::ServerContext* context,
                                                 const v1::CorrelationRequest* request,
                                                 v1::Correlation* response) {
  return HandleRpc(*auth_, context, Role::kClient, "GetCorrelation", [&]() -> absl::Status {
    ABLATE_ASSIGN_OR_RETURN(*response, storage::QueryCorrelation(*store_, *request));
    return absl::OkStatus();
  });
}

grpc::Status AblationServiceImpl::CompareJobs(grpc::ServerContext* context,
                                              const v1::CompareRequest* request,
                                              v1::Comparison* response) {
  return HandleRpc(*auth_, context, Role::kClient, "CompareJobs", [&]() -> absl::Status {
    ABLATE_ASSIGN_OR_RETURN(*response, storage::QueryComparison(*store_, *request));
    return absl::OkStatus();
  });
}

grpc::Status AblationServiceImpl::ListWorkers(grpc::ServerContext* context,
                                              const v1::ListWorkersRequest* /*request*/,
                                              v1::ListWorkersResponse* response) {
  return HandleRpc(*auth_, context, Role::kClient, "ListWorkers", [&]() -> absl::Status {
    ABLATE_ASSIGN_OR_RETURN(*response, store_->ListWorkers());
    return absl::OkStatus();
  });
}

}  // namespace ablate::server
