// Copyright: the ablate authors.
//
// Cutting a token stream into evaluation chunks (DESIGN.md section 2, "Perplexity").
//
// Without BOS: the first n_chunks * seq_len tokens, row c = tokens [c*seq_len, (c+1)*seq_len).
// With BOS: every row starts with <|endoftext|> followed by the next seq_len - 1 text tokens,
// so the row width stays seq_len (<= n_positions) and every text token is predicted.
// Either way each mask scores n_chunks * (seq_len - 1) tokens.
//
// Thread-safety: pure functions.
#ifndef ABLATE_WORKER_CHUNKS_H_
#define ABLATE_WORKER_CHUNKS_H_

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace ablate::worker {

// Text tokens a chunking needs.
int64_t TokensNeeded(int n_chunks, int seq_len, bool bos);

// Returns int64 [n_chunks, seq_len] on the CPU. Errors (InvalidArgument): n_chunks < 1,
// seq_len < 2, bos without a BOS id (bos_id < 0), or fewer tokens than needed (the message
// says how many the text has and how many are needed).
absl::StatusOr<torch::Tensor> MakeChunks(absl::Span<const int> tokens, int n_chunks, int seq_len,
                                         bool bos, int bos_id);

}  // namespace ablate::worker

#endif  // ABLATE_WORKER_CHUNKS_H_
