// Copyright: the ablate authors.
//
// Hugging Face GPT-2 checkpoint folders: config.json + model.safetensors
// (DESIGN.md section 2). LoadCheckpoint fills ModelWeights (float32, contiguous,
// CPU) and checks every tensor against the config; SaveCheckpoint writes the
// same format back (unprefixed names, Conv1D [in, out] layout, no LM head since
// it is tied), as the trainer and tests need.
//
// Loading rules:
// - Dtypes F32, F16, BF16 (and F64) are converted to float32; any other dtype
// of a needed
//   tensor is an error.
// - Names may carry the "transformer." prefix (save_pretrained) or not (Hub
// files); the
//   same tensor under both spellings is an error.
// - The buffers h.{i}.attn.bias and h.{i}.attn.masked_bias are skipped.
// - lm_head.weight, if present, must equal wte exactly: the engine's LM head is
// tied, and an
//   untied head would make every perplexity silently wrong, so it is rejected,
//   not ignored.
// - Tensors of layers >= n_layer, tensors of the wrong shape, non-finite
// values, and
//   wte/wpe sizes that disagree with vocab_size/n_positions are errors. Other
//   unknown tensors (e.g. task heads) are ignored.
// Every error names the file and, where there is one, the tensor. Nothing
// throws.
//
// Thread-safety: functions are reentrant; concurrent saves to one folder race.
#ifndef ABLATE_WORKER_ENGINE_CHECKPOINT_H_
#define ABLATE_WORKER_ENGINE_CHECKPOINT_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/engine/model.h"
#include "worker/engine/model_weights.h"

namespace ablate::engine {

// File names inside a checkpoint folder.
inline constexpr char kConfigFile[] = "config.json";
inline constexpr char kWeightsFile[] = "model.safetensors";
inline constexpr char kVocabFile[] = "vocab.json";
inline constexpr char kMergesFile[] = "merges.txt";

absl::StatusOr<ModelWeights> LoadCheckpoint(const std::string& dir);

struct SaveOptions {
  DType dtype = DType::kFloat32;  // Storage dtype of model.safetensors.
  // If non-empty, vocab.json and merges.txt are copied from this folder.
  std::string tokenizer_dir;
};

// Creates `dir` if needed and writes config.json and model.safetensors (plus
// the tokenizer files if asked). Errors: weights inconsistent with their
// config, I/O failures.
absl::Status SaveCheckpoint(const std::string& dir, const ModelWeights& weights,
                            const SaveOptions& options = {});

// Checks that every tensor is defined, floating point and of the shape the
// config implies (and the config itself, see ValidateModelConfig). The message
// names the tensor.
absl::Status ValidateModelWeights(const ModelWeights& weights);

}  // namespace ablate::engine

#endif  // ABLATE_WORKER_ENGINE_CHECKPOINT_H_
