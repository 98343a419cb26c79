// WorkerService: the worker API (ablate.proto). Handlers authenticate the worker role and
// translate to storage::Store calls. LeaseTask long-polls: with no task ready it waits on the
// store's queue notifications up to min(wait_ms, max_lease_wait, the call's deadline less a
// margin), and returns at once when the server shuts down.
//
// Thread-safety: handlers run concurrently on gRPC's threads; the Store is thread-safe.
#ifndef ABLATE_SERVER_WORKER_SERVICE_H_
#define ABLATE_SERVER_WORKER_SERVICE_H_

#include <atomic>
#include <chrono>

#include "ablate/v1/ablate.grpc.pb.h"
#include "server/auth.h"
#include "storage/store.h"

namespace ablate::server {

class WorkerServiceImpl final : public ablate::v1::WorkerService::Service {
 public:
  // `store`, `auth` and `stopping` must outlive the service.
  WorkerServiceImpl(storage::Store* store, const Authenticator* auth,
                    const std::atomic<bool>* stopping, std::chrono::milliseconds max_lease_wait)
      : store_(store), auth_(auth), stopping_(stopping), max_lease_wait_(max_lease_wait) {}

  grpc::Status Register(grpc::ServerContext* context, const ablate::v1::RegisterRequest* request,
                        ablate::v1::RegisterResponse* response) override;
  grpc::Status LeaseTask(grpc::ServerContext* context,
                         const ablate::v1::LeaseTaskRequest* request,
                         ablate::v1::LeaseTaskResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext* context,
                         const ablate::v1::HeartbeatRequest* request,
                         ablate::v1::HeartbeatResponse* response) override;
  grpc::Status CompleteTask(grpc::ServerContext* context,
                            const ablate::v1::CompleteTaskRequest* request,
                            ablate::v1::CompleteTaskResponse* response) override;
  grpc::Status FailTask(grpc::ServerContext* context, const ablate::v1::FailTaskRequest* request,
                        ablate::v1::FailTaskResponse* response) override;
  grpc::Status GetDataset(grpc::ServerContext* context,
                          const ablate::v1::GetDatasetRequest* request,
                          ablate::v1::Dataset* response) override;

 private:
  absl::Status Lease(grpc::ServerContext* context, const ablate::v1::LeaseTaskRequest& request,
                     ablate::v1::LeaseTaskResponse* response);

  storage::Store* const store_;
  const Authenticator* const auth_;
  const std::atomic<bool>* const stopping_;
  const std::chrono::milliseconds max_lease_wait_;
};

}  // namespace ablate::server

#endif  // ABLATE_SERVER_WORKER_SERVICE_H_
