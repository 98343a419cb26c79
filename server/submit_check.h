// Submit-time checks that need the artifact store or the server's transport limits
// (issue 10); the spec itself is validated by storage/job_spec.h.
//
// Thread-safety: free functions; the ArtifactStore is thread-safe.
#ifndef ABLATE_SERVER_SUBMIT_CHECK_H_
#define ABLATE_SERVER_SUBMIT_CHECK_H_

#include <cstdint>

#include "ablate/v1/ablate.pb.h"
#include "absl/status/status.h"
#include "storage/artifact_store.h"

namespace ablate::server {

// An inline spec.dataset.text above `max_inline_bytes` is RESOURCE_EXHAUSTED naming the
// field and the way out (upload it as a text artifact).
absl::Status CheckInlineText(const ablate::v1::Dataset& dataset, int64_t max_inline_bytes);

// A dataset named by artifact_digest: the artifact must be a stored ARTIFACT_KIND_TEXT of
// at most `max_dataset_bytes` (RESOURCE_EXHAUSTED), the spec must not carry text too, and a
// given sha256 must equal the digest (INVALID_ARGUMENT). Fills dataset->text with the
// artifact's bytes (and sha256 with the digest) so the store keeps it as any dataset.
// FAILED_PRECONDITION naming spec.dataset.artifact_digest when it is not stored.
absl::Status ResolveTextArtifact(const storage::ArtifactStore& store, int64_t max_dataset_bytes,
                                 ablate::v1::Dataset* dataset);

// A model named by artifact_digest: its config.json must agree with spec.model.shape
// (n_layer, n_head, and n_embd / n_positions / vocab_size where both give them), so a
// client cannot ask for more layers or heads than the model has. INVALID_ARGUMENT naming
// the field. No digest: OK (a local path is checked by the worker).
absl::Status CheckShapeAgainstArtifact(const storage::ArtifactStore& store,
                                       const ablate::v1::ModelRef& model);

}  // namespace ablate::server

#endif  // ABLATE_SERVER_SUBMIT_CHECK_H_
