// Copyright: the ablate authors.
//
// Uploading artifacts (proto ArtifactService): a checkpoint folder becomes one model artifact
// (the deterministic archive of proto/artifact/model_archive.h, produced on the fly, never written
// to disk), a text file a text artifact. The digest is computed first (one pass over the
// files), then GetUploadStatus says what the server already holds: nothing is sent for a
// stored artifact, and an interrupted upload continues from the server's offset. Transient
// failures (UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, CANCELLED, UNKNOWN, INTERNAL) are retried
// with backoff; DATA_LOSS (the bytes did not match, e.g. a file changed while uploading)
// recomputes the digest and starts over.
//
// Thread-safety: the functions are reentrant; the stub must be thread-safe (gRPC stubs are).
#ifndef ABLATE_CLIENT_UPLOAD_H_
#define ABLATE_CLIENT_UPLOAD_H_

#include <cstdint>
#include <functional>
#include <string>

#include "ablate/v1/ablate.grpc.pb.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace ablate::client {

struct UploadOptions {
  int max_attempts = 8;
  absl::Duration retry_backoff = absl::Milliseconds(250);  // Doubled per retry, up to 5 s.
  size_t chunk_bytes = size_t{1} << 20;                    // At most 1 MiB.
  // Decorates every call's context (auth metadata, deadline); may be empty.
  std::function<void(grpc::ClientContext*)> prepare;
  // Called after each chunk is handed to gRPC: bytes of the artifact known to be sent so far.
  std::function<void(int64_t done, int64_t total)> progress;
};

struct UploadResult {
  ablate::v1::ArtifactInfo artifact;  // digest, kind, size, files.
  bool already_present = false;       // Nothing had to be sent.
  int attempts = 0;                   // Upload streams opened.
  int64_t bytes_sent = 0;             // Artifact bytes sent over all attempts.
  int64_t resumed_from = 0;           // Server's offset before the first stream.
};

// A checkpoint folder: its model files (proto/artifact/checkpoint_files.h: config.json, the
// weights as model.safetensors or shards with their index, the tokenizer files present).
absl::StatusOr<UploadResult> UploadModelFolder(ablate::v1::ArtifactService::StubInterface* stub,
                                               const std::string& dir,
                                               const UploadOptions& options = {});

// One file's bytes, as a text artifact.
absl::StatusOr<UploadResult> UploadTextFile(ablate::v1::ArtifactService::StubInterface* stub,
                                            const std::string& path,
                                            const UploadOptions& options = {});

// The digest a folder would be uploaded under (no network).
absl::StatusOr<std::string> ModelFolderDigest(const std::string& dir);

}  // namespace ablate::client

#endif  // ABLATE_CLIENT_UPLOAD_H_
