// Copyright: the ablate authors.
//
// Cutting a job's token stream into evaluation chunks: the engine's MakeChunks
// (worker/engine/sweep.h; DESIGN.md section 2, "Perplexity") with the worker's flag shape.
//
// Thread-safety: pure function.
#ifndef ABLATE_WORKER_CHUNKS_H_
#define ABLATE_WORKER_CHUNKS_H_

#include <torch/torch.h>

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "worker/engine/sweep.h"

namespace ablate::worker {

// Returns int64 [n_chunks, seq_len] on the CPU. `bos`: every row starts with `bos_id`, the
// model's BOS token (model_check.h; -1 = none known: InvalidArgument). Other errors
// as engine::MakeChunks (bad shape, "text too short: ...").
inline absl::StatusOr<torch::Tensor> MakeChunks(absl::Span<const int> tokens, int n_chunks,
                                                int seq_len, bool bos, int bos_id) {
  return engine::MakeChunks(tokens, n_chunks, seq_len,
                            bos ? std::optional<int64_t>(bos_id) : std::nullopt);
}

}  // namespace ablate::worker

#endif  // ABLATE_WORKER_CHUNKS_H_
