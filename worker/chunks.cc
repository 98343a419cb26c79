// Copyright: the ablate authors.
#include "worker/chunks.h"

#include "absl/strings/str_cat.h"

namespace ablate::worker {

int64_t TokensNeeded(int n_chunks, int seq_len, bool bos) {
  return static_cast<int64_t>(n_chunks) * (bos ? seq_len - 1 : seq_len);
}

absl::StatusOr<torch::Tensor> MakeChunks(absl::Span<const int> tokens, int n_chunks, int seq_len,
                                         bool bos, int bos_id) {
  if (n_chunks < 1) return absl::InvalidArgumentError("n_chunks must be at least 1");
  if (seq_len < 2) return absl::InvalidArgumentError("seq_len must be at least 2");
  if (bos && bos_id < 0) {
    return absl::InvalidArgumentError("BOS per chunk asked, but the vocabulary has no <|endoftext|>");
  }
  const int64_t needed = TokensNeeded(n_chunks, seq_len, bos);
  if (static_cast<int64_t>(tokens.size()) < needed) {
    return absl::InvalidArgumentError(absl::StrCat(
        "text too short: ", tokens.size(), " tokens, but n_chunks ", n_chunks, " x seq_len ",
        seq_len, bos ? " (with BOS)" : "", " needs ", needed));
  }
  torch::Tensor chunks = torch::empty({n_chunks, seq_len}, torch::kInt64);
  int64_t* out = chunks.data_ptr<int64_t>();
  const int text_per_row = bos ? seq_len - 1 : seq_len;
  for (int c = 0; c < n_chunks; ++c) {
    int64_t* row = out + static_cast<int64_t>(c) * seq_len;
    if (bos) *row++ = bos_id;
    const int* src = tokens.data() + static_cast<int64_t>(c) * text_per_row;
    for (int t = 0; t < text_per_row; ++t) row[t] = src[t];
  }
  return chunks;
}

}  // namespace ablate::worker
