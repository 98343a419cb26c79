// Copyright: the ablate authors.
//
// Hugging Face checkpoint folders of every supported family (config.json,
// model_weights.h): config.json plus model.safetensors, or shards named by
// model.safetensors.index.json (checkpoint_files.h). LoadCheckpoint converts
// the family's tensors into ModelWeights (float32, contiguous, CPU;
// checkpoint_layout.h) and checks every tensor against the config;
// SaveCheckpoint writes the same format back, as the trainer and tests need.
//
// Loading rules:
// - Dtypes F32, F16, BF16 (and F64) are converted to float32; any other dtype
//   of a needed tensor is an error.
// - Names may carry the family's base-model prefix ("transformer.",
//   "gpt_neox.", "model.") or not; the same tensor under both spellings is an
//   error.
// - Buffers are skipped: GPT-2's h.{i}.attn.bias / masked_bias, NeoX's
//   attention.bias / masked_bias, any rotary_emb.inv_freq.
// - A tied model (tie_word_embeddings) may carry its head (lm_head.weight,
//   NeoX embed_out.weight) only as an exact copy of the embedding; an untied
//   one must carry it.
// - Tensors of layers >= n_layer, unknown tensors inside a layer (e.g. biases
//   the config says the model does not have), tensors of the wrong shape,
//   non-finite values, and embeddings that disagree with vocab_size are
//   errors. Other unknown tensors (e.g. task heads) are ignored.
// Every error names the file and, where there is one, the tensor. Nothing
// throws.
//
// Thread-safety: functions are reentrant; concurrent saves to one folder race.
#ifndef ABLATE_WORKER_ENGINE_CHECKPOINT_H_
#define ABLATE_WORKER_ENGINE_CHECKPOINT_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/engine/model.h"
#include "worker/engine/model_weights.h"

namespace ablate::engine {

// File names inside a checkpoint folder.
inline constexpr char kConfigFile[] = "config.json";
inline constexpr char kWeightsFile[] = "model.safetensors";
inline constexpr char kWeightsIndexFile[] = "model.safetensors.index.json";
inline constexpr char kVocabFile[] = "vocab.json";
inline constexpr char kMergesFile[] = "merges.txt";

absl::StatusOr<ModelWeights> LoadCheckpoint(const std::string& dir);

struct SaveOptions {
  DType dtype = DType::kFloat32;  // Storage dtype of model.safetensors.
  // If non-empty, the tokenizer files of this folder are copied (tokenizer.json,
  // tokenizer_config.json, special_tokens_map.json, vocab.json, merges.txt,
  // whichever exist); it must hold tokenizer.json or vocab.json + merges.txt.
  std::string tokenizer_dir;
  // > 0: write shards model-0000K-of-0000N.safetensors of at most this many
  // bytes (at least one tensor each) plus model.safetensors.index.json instead
  // of one model.safetensors.
  int64_t max_shard_bytes = 0;
};

// Creates `dir` if needed and writes config.json and the weights under their
// Hugging Face names (plus the tokenizer files if asked). Errors: weights inconsistent with their
// config, I/O failures.
absl::Status SaveCheckpoint(const std::string& dir, const ModelWeights& weights,
                            const SaveOptions& options = {});

// Checks that every tensor is defined, floating point and of the shape the
// config implies (and the config itself, see ValidateModelConfig). The message
// names the tensor.
absl::Status ValidateModelWeights(const ModelWeights& weights);

}  // namespace ablate::engine

#endif  // ABLATE_WORKER_ENGINE_CHECKPOINT_H_
