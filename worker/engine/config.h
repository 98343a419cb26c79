// Copyright: the ablate authors.
//
// config.json of a Hugging Face GPT-2 checkpoint: parse into ModelConfig
// (model_weights.h) and write back. Parsing is strict about what changes the
// model's math: a field this engine cannot honour (another activation, another
// model type, n_inner != 4 * n_embd, attention scaling switched off or by layer
// index) is an error, never silently ignored. Fields that do not change
// inference (dropouts, initializer_range, token ids, ...) are ignored.
//
// Required: n_layer, n_head, n_embd, vocab_size, and n_positions (or the older
// n_ctx). Optional: layer_norm_epsilon (default 1e-5), activation_function
// ("gelu_new" only), model_type ("gpt2" only).
//
// Thread-safety: pure functions.
#ifndef ABLATE_WORKER_ENGINE_CONFIG_H_
#define ABLATE_WORKER_ENGINE_CONFIG_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/engine/model_weights.h"

namespace ablate::engine {

// Parses config.json text; `source` (normally the file path) prefixes every
// error message.
absl::StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text,
                                           const std::string& source);

// Reads and parses the file at `path`. NotFound if it does not exist.
absl::StatusOr<ModelConfig> ReadModelConfig(const std::string& path);

// Checks the numbers themselves: all sizes positive, n_embd divisible by
// n_head, layer_norm_epsilon positive and finite. The message names the
// offending field.
absl::Status ValidateModelConfig(const ModelConfig& config);

// The config as Hugging Face writes it for GPT2LMHeadModel (model_type "gpt2",
// gelu_new, n_ctx = n_positions, tied embeddings), pretty-printed with a
// trailing newline.
std::string ModelConfigToJson(const ModelConfig& config);

}  // namespace ablate::engine

#endif  // ABLATE_WORKER_ENGINE_CONFIG_H_
