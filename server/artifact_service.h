// Copyright: the ablate authors.
//
// ArtifactService over an ArtifactStore (proto ablate.v1.ArtifactService): clients upload
// checkpoint folders and texts in chunks (resumable), workers fetch them by digest. Handlers
// only translate between proto and the store; authentication and roles are the server's
// interceptor's business (Upload / GetUploadStatus: client role; Fetch: worker role; Stat:
// either).
//
// Thread-safety: thread-safe (the store is); gRPC calls the handlers from many threads.
#ifndef ABLATE_SERVER_ARTIFACT_SERVICE_H_
#define ABLATE_SERVER_ARTIFACT_SERVICE_H_

#include <cstddef>

#include "ablate/v1/ablate.grpc.pb.h"
#include "storage/artifact_store.h"

namespace ablate::server {

// Largest chunk in either direction (UploadChunk.data, FetchChunk.data).
inline constexpr size_t kMaxArtifactChunkBytes = size_t{1} << 20;

class ArtifactServiceImpl final : public ablate::v1::ArtifactService::Service {
 public:
  // `store` must outlive the service.
  explicit ArtifactServiceImpl(storage::ArtifactStore* store) : store_(store) {}

  grpc::Status Upload(grpc::ServerContext* context,
                      grpc::ServerReader<ablate::v1::UploadRequest>* reader,
                      ablate::v1::UploadResponse* response) override;
  grpc::Status GetUploadStatus(grpc::ServerContext* context,
                               const ablate::v1::ArtifactRef* request,
                               ablate::v1::UploadStatus* response) override;
  grpc::Status Fetch(grpc::ServerContext* context, const ablate::v1::FetchRequest* request,
                     grpc::ServerWriter<ablate::v1::FetchChunk>* writer) override;
  grpc::Status Stat(grpc::ServerContext* context, const ablate::v1::ArtifactRef* request,
                    ablate::v1::ArtifactInfo* response) override;

 private:
  storage::ArtifactStore* const store_;
};

}  // namespace ablate::server

#endif  // ABLATE_SERVER_ARTIFACT_SERVICE_H_
