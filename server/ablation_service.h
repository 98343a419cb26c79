// AblationService: the client API (ablate.proto). Handlers authenticate the client role and
// translate between proto and storage::Store / storage queries; nothing else.
//
// WatchJob streams a KIND_SNAPSHOT first, KIND_PROGRESS on each change, KIND_PHASE when a
// SWEEP_FULL job's cumulative phase is derived, a periodic KIND_SNAPSHOT while nothing
// changes, and KIND_FINISHED last; it ends when the job ends, the client goes away, or the
// server shuts down (UNAVAILABLE), whichever comes first.
//
// Thread-safety: handlers run concurrently on gRPC's threads; the Store is thread-safe.
#ifndef ABLATE_SERVER_ABLATION_SERVICE_H_
#define ABLATE_SERVER_ABLATION_SERVICE_H_

#include <atomic>
#include <chrono>

#include "ablate/v1/ablate.grpc.pb.h"
#include "server/auth.h"
#include "storage/artifact_store.h"
#include "storage/store.h"

namespace ablate::server {

struct WatchOptions {
  std::chrono::milliseconds snapshot_interval{10000};  // Snapshot when nothing changed.
  std::chrono::milliseconds poll_interval{250};        // How often a stream checks its client.
};

class AblationServiceImpl final : public ablate::v1::AblationService::Service {
 public:
  // The pointers must outlive the service. `artifacts` (may be null) is where SubmitJob
  // checks a spec's model.artifact_digest.
  AblationServiceImpl(storage::Store* store, const storage::ArtifactStore* artifacts,
                      const Authenticator* auth, const std::atomic<bool>* stopping,
                      WatchOptions watch)
      : store_(store), artifacts_(artifacts), auth_(auth), stopping_(stopping), watch_(watch) {}

  grpc::Status SubmitJob(grpc::ServerContext* context, const ablate::v1::SubmitJobRequest* request,
                         ablate::v1::Job* response) override;
  grpc::Status GetJob(grpc::ServerContext* context, const ablate::v1::GetJobRequest* request,
                      ablate::v1::Job* response) override;
  grpc::Status ListJobs(grpc::ServerContext* context, const ablate::v1::ListJobsRequest* request,
                        ablate::v1::ListJobsResponse* response) override;
  grpc::Status CancelJob(grpc::ServerContext* context,
                         const ablate::v1::CancelJobRequest* request,
                         ablate::v1::Job* response) override;
  grpc::Status WatchJob(grpc::ServerContext* context, const ablate::v1::WatchJobRequest* request,
                        grpc::ServerWriter<ablate::v1::JobEvent>* writer) override;
  grpc::Status GetHeadTable(grpc::ServerContext* context, const ablate::v1::JobQuery* request,
                            ablate::v1::HeadTable* response) override;
  grpc::Status GetCumulativeCurve(grpc::ServerContext* context,
                                  const ablate::v1::JobQuery* request,
                                  ablate::v1::CumulativeCurve* response) override;
  grpc::Status GetThresholds(grpc::ServerContext* context,
                             const ablate::v1::ThresholdsRequest* request,
                             ablate::v1::ThresholdTable* response) override;
  grpc::Status GetDistribution(grpc::ServerContext* context, const ablate::v1::JobQuery* request,
                               ablate::v1::DistributionStats* response) override;
  grpc::Status GetLayerTable(grpc::ServerContext* context, const ablate::v1::JobQuery* request,
                             ablate::v1::LayerTable* response) override;
  grpc::Status GetCorrelation(grpc::ServerContext* context,
                              const ablate::v1::CorrelationRequest* request,
                              ablate::v1::Correlation* response) override;
  grpc::Status CompareJobs(grpc::ServerContext* context,
                           const ablate::v1::CompareRequest* request,
                           ablate::v1::Comparison* response) override;
  grpc::Status ListWorkers(grpc::ServerContext* context,
                           const ablate::v1::ListWorkersRequest* request,
                           ablate::v1::ListWorkersResponse* response) override;
  grpc::Status DeleteJob(grpc::ServerContext* context,
                         const ablate::v1::DeleteJobRequest* request,
                         ablate::v1::DeleteJobResponse* response) override;

  // Issue 10: the largest inline dataset text SubmitJob takes (larger: a text artifact).
  void set_max_inline_text_bytes(int64_t bytes) { max_inline_text_bytes_ = bytes; }

 private:
  absl::Status Submit(grpc::ServerContext* context, const ablate::v1::SubmitJobRequest& request,
                      ablate::v1::Job* response);
  absl::Status Watch(grpc::ServerContext* context, const std::string& job_id,
                     grpc::ServerWriter<ablate::v1::JobEvent>* writer);

  storage::Store* const store_;
  const storage::ArtifactStore* const artifacts_;
  const Authenticator* const auth_;
  const std::atomic<bool>* const stopping_;
  const WatchOptions watch_;
  int64_t max_inline_text_bytes_ = int64_t{1} << 20;
};

}  // namespace ablate::server

#endif  // ABLATE_SERVER_ABLATION_SERVICE_H_
