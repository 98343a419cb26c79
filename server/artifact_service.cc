// Copyright: the ablate authors.
#include "server/artifact_service.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "proto/artifact/model_archive.h"
#include "proto/grpc_status.h"

namespace ablate::server {
namespace {

using ablate::proto::ToGrpcStatus;

grpc::Status Invalid(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}

}  // namespace

absl::Status CheckModelArtifact(const storage::ArtifactStore& store,
                                const ablate::v1::ModelRef& model) {
  if (model.artifact_digest().empty()) return absl::OkStatus();
  absl::StatusOr<ablate::v1::ArtifactInfo> info = store.Stat(model.artifact_digest());
  if (!info.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "spec.model.artifact_digest: ", info.status().message(),
        " (upload the folder first: ablate upload DIR, or submit --upload)"));
  }
  std::vector<artifact::ArchiveMember> members;
  for (const auto& f : info->files()) members.push_back({f.name(), f.size()});
  absl::Status canonical = artifact::CanonicalMembers(std::move(members)).status();
  if (info->kind() != ablate::v1::ARTIFACT_KIND_MODEL || !canonical.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "spec.model.artifact_digest: artifact ", model.artifact_digest(),
        " is not a model folder with config.json and weights (model.safetensors, or shards "
        "with model.safetensors.index.json)",
        canonical.ok() ? "" : absl::StrCat(": ", canonical.message())));
  }
  return absl::OkStatus();
}

grpc::Status ArtifactServiceImpl::CheckRole(const grpc::ServerContext& context,
                                            Role role) const {
  if (auth_ == nullptr) return grpc::Status::OK;
  return ToGrpcStatus(auth_->Check(context, role));
}

grpc::Status ArtifactServiceImpl::CheckEitherRole(const grpc::ServerContext& context) const {
  grpc::Status status = CheckRole(context, Role::kClient);
  if (status.ok() || CheckRole(context, Role::kWorker).ok()) return grpc::Status::OK;
  return status;
}

grpc::Status ArtifactServiceImpl::Upload(grpc::ServerContext* context,
                                         grpc::ServerReader<ablate::v1::UploadRequest>* reader,
                                         ablate::v1::UploadResponse* response) {
  grpc::Status allowed = CheckRole(*context, Role::kClient);
  if (!allowed.ok()) return allowed;
  std::unique_ptr<UploadGuard::Slot> slot;
  if (uploads_ != nullptr) {
    absl::StatusOr<std::unique_ptr<UploadGuard::Slot>> admitted = uploads_->Admit(context);
    if (!admitted.ok()) return ToGrpcStatus(admitted.status());
    slot = *std::move(admitted);
  }
  ablate::v1::UploadRequest request;
  if (!reader->Read(&request)) return Invalid("upload: the stream ended before its header");
  if (slot != nullptr) slot->Touch();
  if (!request.has_header()) return Invalid("upload: the first message must be a header");
  absl::StatusOr<std::unique_ptr<storage::ArtifactStore::Upload>> upload =
      store_->BeginUpload(request.header());
  if (upload.status().code() == absl::StatusCode::kAlreadyExists) {
    absl::StatusOr<ablate::v1::ArtifactInfo> info = store_->Stat(request.header().digest());
    if (!info.ok()) return ToGrpcStatus(info.status());
    response->set_complete(true);
    response->set_already_present(true);
    response->set_received_bytes(info->size());
    *response->mutable_artifact() = *std::move(info);
    return grpc::Status::OK;
  }
  if (!upload.ok()) return ToGrpcStatus(upload.status());
  while (reader->Read(&request)) {
    if (slot != nullptr) slot->Touch();
    if (!request.has_chunk()) return Invalid("upload: every message after the header is a chunk");
    const ablate::v1::UploadChunk& chunk = request.chunk();
    if (chunk.data().size() > kMaxArtifactChunkBytes) {
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                          absl::StrCat("chunk.data: ", chunk.data().size(),
                                       " bytes, the limit is ", kMaxArtifactChunkBytes));
    }
    absl::Status status = (*upload)->Write(chunk.offset(), chunk.data());
    if (!status.ok()) return ToGrpcStatus(status);
  }
  if (context->IsCancelled()) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "upload cancelled; the bytes are kept");
  }
  response->set_received_bytes((*upload)->received());
  if ((*upload)->received() < (*upload)->total_size()) return grpc::Status::OK;
  absl::StatusOr<ablate::v1::ArtifactInfo> info = (*upload)->Finish();
  if (!info.ok()) return ToGrpcStatus(info.status());
  response->set_complete(true);
  *response->mutable_artifact() = *std::move(info);
  return grpc::Status::OK;
}

grpc::Status ArtifactServiceImpl::GetUploadStatus(grpc::ServerContext* context,
                                                  const ablate::v1::ArtifactRef* request,
                                                  ablate::v1::UploadStatus* response) {
  grpc::Status allowed = CheckRole(*context, Role::kClient);
  if (!allowed.ok()) return allowed;
  absl::StatusOr<ablate::v1::UploadStatus> status = store_->GetUploadStatus(request->digest());
  if (!status.ok()) return ToGrpcStatus(status.status());
  *response = *std::move(status);
  return grpc::Status::OK;
}

grpc::Status ArtifactServiceImpl::Fetch(grpc::ServerContext* context,
                                        const ablate::v1::FetchRequest* request,
                                        grpc::ServerWriter<ablate::v1::FetchChunk>* writer) {
  grpc::Status allowed = CheckRole(*context, Role::kWorker);
  if (!allowed.ok()) return allowed;
  absl::StatusOr<std::unique_ptr<storage::ArtifactStore::Blob>> blob =
      store_->OpenBlob(request->digest());
  if (!blob.ok()) return ToGrpcStatus(blob.status());
  int64_t offset = request->offset();
  if (offset < 0 || offset > (*blob)->size()) {
    return grpc::Status(grpc::StatusCode::OUT_OF_RANGE,
                        absl::StrCat("offset: ", offset, " is outside 0..", (*blob)->size()));
  }
  ablate::v1::FetchChunk chunk;
  *chunk.mutable_artifact() = (*blob)->info();
  do {  // At least one message, so the reader always learns the artifact's info.
    if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    chunk.set_offset(offset);
    absl::Status status = (*blob)->Read(offset, kMaxArtifactChunkBytes, chunk.mutable_data());
    if (!status.ok()) return ToGrpcStatus(status);
    offset += static_cast<int64_t>(chunk.data().size());
    if (!writer->Write(chunk)) return grpc::Status(grpc::StatusCode::CANCELLED, "reader gone");
    chunk.clear_artifact();
  } while (offset < (*blob)->size());
  return grpc::Status::OK;
}

grpc::Status ArtifactServiceImpl::Stat(grpc::ServerContext* context,
                                       const ablate::v1::ArtifactRef* request,
                                       ablate::v1::ArtifactInfo* response) {
  grpc::Status allowed = CheckEitherRole(*context);
  if (!allowed.ok()) return allowed;
  absl::StatusOr<ablate::v1::ArtifactInfo> info = store_->Stat(request->digest());
  if (!info.ok()) return ToGrpcStatus(info.status());
  *response = *std::move(info);
  return grpc::Status::OK;
}

}  // namespace ablate::server
