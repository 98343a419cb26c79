// Copyright: the ablate authors.
//
// Where a worker's ArtifactCache gets the artifacts it lacks: ArtifactService.Fetch on the
// server, streamed from an offset so a broken download resumes where it stopped.
//
// Thread-safety: GrpcArtifactSource is thread-safe (one gRPC call per Fetch).
#ifndef ABLATE_WORKER_ARTIFACT_SOURCE_H_
#define ABLATE_WORKER_ARTIFACT_SOURCE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "ablate/v1/ablate.grpc.pb.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace ablate::worker {

class ArtifactSource {
 public:
  using InfoFn = std::function<absl::Status(const ablate::v1::ArtifactInfo&)>;
  using DataFn = std::function<absl::Status(int64_t offset, absl::string_view data)>;

  virtual ~ArtifactSource() = default;
  // Streams `digest` from `offset`: `on_info` once (before any data) with the artifact's info,
  // then `on_data` with consecutive chunks until the end. An error from a callback stops the
  // stream and is returned; transport errors come back with their gRPC code.
  virtual absl::Status Fetch(const std::string& digest, int64_t offset, const InfoFn& on_info,
                             const DataFn& on_data) = 0;
};

class GrpcArtifactSource final : public ArtifactSource {
 public:
  // `prepare` decorates every call's context (auth metadata, deadline); may be empty.
  GrpcArtifactSource(std::shared_ptr<ablate::v1::ArtifactService::StubInterface> stub,
                     std::function<void(grpc::ClientContext*)> prepare)
      : stub_(std::move(stub)), prepare_(std::move(prepare)) {}

  absl::Status Fetch(const std::string& digest, int64_t offset, const InfoFn& on_info,
                     const DataFn& on_data) override;

 private:
  const std::shared_ptr<ablate::v1::ArtifactService::StubInterface> stub_;
  const std::function<void(grpc::ClientContext*)> prepare_;
};

}  // namespace ablate::worker

#endif  // ABLATE_WORKER_ARTIFACT_SOURCE_H_
