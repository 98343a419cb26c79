// Copyright: the ablate authors.
//
// What a worker promises about model families: the families its engine runs (advertised at
// Register, so the server leases it only tasks it can run), the check that the checkpoint a
// task names is the model the job describes (family and shape) before anything is evaluated,
// and which token goes in slot 0 of each chunk when a BOS is asked for.
//
// Thread-safety: pure functions.
#ifndef ABLATE_WORKER_MODEL_CHECK_H_
#define ABLATE_WORKER_MODEL_CHECK_H_

#include <string>
#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/engine/model_weights.h"

namespace ablate::worker {

// The config.json model_types this worker's engine evaluates (engine::Family): gpt2,
// gpt_neox, llama, mistral, qwen2.
std::vector<std::string> ModelFamilies();

// A loaded checkpoint's family ("gpt2", ...) and config.json bos_token_id (-1 = none).
std::string ModelFamilyOf(const engine::ModelConfig& config);
int ModelConfigBosId(const engine::ModelConfig& config);

// Checks the loaded checkpoint's config against the task's shape: family ("" = gpt2),
// n_layer, n_head, n_embd, and where the shape gives them (non-zero; older clients send
// only some) n_positions, vocab_size, n_kv_head, head_dim, and bos_token_id for families
// other than gpt2. A mismatch is FAILED_PRECONDITION naming both shapes, MarkPermanent (the
// bytes the job names are not the model it describes). An all-zero shape checks nothing.
absl::Status CheckModelShape(const ablate::v1::ModelShape& want,
                             const engine::ModelConfig& have, const std::string& path);

// The BOS token id of a task (slot 0 of every chunk): the shape's bos_token_id; for gpt2
// shapes without one (<= 0, from servers older than families) the checkpoint's, else the
// tokenizer's <|endoftext|> (`eot_id`). INVALID_ARGUMENT, MarkPermanent, when none is known.
absl::StatusOr<int> TaskBosId(const ablate::v1::ModelShape& shape,
                              const engine::ModelConfig& config, int eot_id);

// The BOS of an offline run (`ablate-worker eval --bos`): config.json's bos_token_id, else
// for gpt2 the tokenizer's <|endoftext|>. INVALID_ARGUMENT naming the folder when neither.
absl::StatusOr<int> ModelBosId(const engine::ModelConfig& config, int eot_id,
                               const std::string& path);

}  // namespace ablate::worker

#endif  // ABLATE_WORKER_MODEL_CHECK_H_
