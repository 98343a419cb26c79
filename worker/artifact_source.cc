// Copyright: the ablate authors.
#include "worker/artifact_source.h"

#include "absl/strings/str_cat.h"
#include "proto/grpc_status.h"

namespace ablate::worker {

absl::Status GrpcArtifactSource::Fetch(const std::string& digest, int64_t offset,
                                       const InfoFn& on_info, const DataFn& on_data) {
  grpc::ClientContext context;
  if (prepare_) prepare_(&context);
  ablate::v1::FetchRequest request;
  request.set_digest(digest);
  request.set_offset(offset);
  std::unique_ptr<grpc::ClientReaderInterface<ablate::v1::FetchChunk>> reader =
      stub_->Fetch(&context, request);
  ablate::v1::FetchChunk chunk;
  absl::Status status;
  bool first = true;
  int64_t expected = offset;
  while (status.ok() && reader->Read(&chunk)) {
    if (first) {
      if (!chunk.has_artifact() || chunk.artifact().digest() != digest) {
        status = absl::DataLossError("fetch: the first message does not describe " + digest);
        break;
      }
      status = on_info(chunk.artifact());
      first = false;
      if (!status.ok()) break;
    }
    if (chunk.offset() != expected) {
      status = absl::DataLossError(
          absl::StrCat("fetch: chunk at offset ", chunk.offset(), ", expected ", expected));
      break;
    }
    expected += static_cast<int64_t>(chunk.data().size());
    status = on_data(chunk.offset(), chunk.data());
  }
  if (!status.ok()) {
    context.TryCancel();
    reader->Finish();
    return status;
  }
  status = ablate::proto::FromGrpcStatus(reader->Finish());
  if (status.ok() && first) return absl::DataLossError("fetch: empty stream for " + digest);
  return status;
}

}  // namespace ablate::worker
