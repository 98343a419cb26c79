// Model families on the service side: which config.json model_types a job may name, the
// family-specific checks of a job's ModelShape, and the worker capability string the lease
// query matches against (Register's model_families).
//
// Thread-safety: free functions on values; safe from any thread.
#ifndef ABLATE_STORAGE_MODEL_FAMILY_H_
#define ABLATE_STORAGE_MODEL_FAMILY_H_

#include <string>
#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ablate::storage {

// GPT-2's <|endoftext|>: the BOS of a gpt2 job whose shape names none (bos_token_id <= 0, as
// clients older than families send).
inline constexpr int kGpt2BosTokenId = 50256;

// The families a job may name: gpt2, gpt_neox, llama, mistral, qwen2.
const std::vector<std::string>& KnownModelFamilies();

// The shape's family, "" read as "gpt2".
std::string ModelFamily(const ablate::v1::ModelShape& shape);

// Checks and normalizes the family-specific fields of `spec.model.shape` (n_layer, n_head and
// n_positions are checked by the caller): family "" becomes "gpt2" and must be known;
// n_kv_head (0 = n_head) divides n_head, and equals it for gpt2 and gpt_neox; head_dim >= 0
// (0 = n_embd / n_head, which must then divide), and equals n_embd / n_head for gpt2 and
// gpt_neox; llama, mistral and qwen2 need n_embd and vocab_size; bos_token_id < vocab_size.
// A gpt2 shape without a BOS (bos_token_id <= 0) gets 50256; for other families
// spec.bos_per_chunk needs bos_token_id >= 0. Errors: INVALID_ARGUMENT naming the field.
absl::Status NormalizeModelShape(ablate::v1::JobSpec* spec);

// The workers.model_families column for a Register request: ",fam1,fam2," of the listed
// families (empty list = ",gpt2,": workers older than families run GPT-2 only). Errors:
// INVALID_ARGUMENT for a name that is not a plain model_type ([a-z0-9_]+).
absl::StatusOr<std::string> WorkerFamiliesColumn(
    const google::protobuf::RepeatedPtrField<std::string>& families);

}  // namespace ablate::storage

#endif  // ABLATE_STORAGE_MODEL_FAMILY_H_
