// Copyright: the ablate authors.
//
// ArtifactService over an ArtifactStore (proto ablate.v1.ArtifactService): clients upload
// checkpoint folders and texts in chunks (resumable), workers fetch them by digest. Handlers
// check the caller's role first (server/auth.h: Upload and GetUploadStatus need the client
// token, Fetch the worker token, Stat either), then only translate between proto and the
// store.
//
// Thread-safety: thread-safe (the store is); gRPC calls the handlers from many threads.
#ifndef ABLATE_SERVER_ARTIFACT_SERVICE_H_
#define ABLATE_SERVER_ARTIFACT_SERVICE_H_

#include <cstddef>

#include "ablate/v1/ablate.grpc.pb.h"
#include "server/auth.h"
#include "server/upload_guard.h"
#include "storage/artifact_store.h"

namespace ablate::server {

// Largest chunk in either direction (UploadChunk.data, FetchChunk.data).
inline constexpr size_t kMaxArtifactChunkBytes = size_t{1} << 20;

// Submit-time check of a job's ModelRef.artifact_digest (empty: nothing to check): the
// artifact must be stored and be a model archive with config.json and complete weights
// (model.safetensors, or every shard with model.safetensors.index.json).
// FAILED_PRECONDITION naming spec.model.artifact_digest otherwise (upload it first).
absl::Status CheckModelArtifact(const storage::ArtifactStore& store,
                                const ablate::v1::ModelRef& model);

class ArtifactServiceImpl final : public ablate::v1::ArtifactService::Service {
 public:
  // `store`, `auth` and `uploads` must outlive the service; a null `auth` lets every call
  // in, a null `uploads` admits every upload.
  ArtifactServiceImpl(storage::ArtifactStore* store, const Authenticator* auth,
                      UploadGuard* uploads = nullptr)
      : store_(store), auth_(auth), uploads_(uploads) {}

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
  // OK if the caller holds one of the roles (the first role's error otherwise).
  grpc::Status CheckRole(const grpc::ServerContext& context, Role role) const;
  grpc::Status CheckEitherRole(const grpc::ServerContext& context) const;

  storage::ArtifactStore* const store_;
  const Authenticator* const auth_;
  UploadGuard* const uploads_;
};

}  // namespace ablate::server

#endif  // ABLATE_SERVER_ARTIFACT_SERVICE_H_
