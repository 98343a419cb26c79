// Copyright: the ablate authors.
//
// config.json of a Hugging Face checkpoint: parse into ModelConfig
// (model_config.h) and write back. The family comes from "model_type":
// gpt2 (also when absent), gpt_neox, llama, mistral, qwen2.
//
// Parsing is strict about what changes the model's math: a field this engine
// cannot honour (another model_type, an unsupported rope_scaling type, another
// activation, mlp_bias, ALiBi, Qwen2's use_sliding_window, partial rotary on
// Llama, ...) is an error naming the field, never silently ignored. Fields that
// do not change inference (dropouts, initializer_range, use_cache,
// pretraining_tp, torch_dtype, ...) and fields at values that change nothing
// (rope_scaling null or "default", use_sliding_window false) are accepted.
//
// Per family (required fields first; defaults are Hugging Face's):
//   gpt2:     n_layer, n_head, n_embd, vocab_size, n_positions (or n_ctx);
//             layer_norm_epsilon 1e-5, activation_function gelu_new, n_inner
//             null (= 4 * n_embd), tie_word_embeddings true.
//   gpt_neox: num_hidden_layers, num_attention_heads, hidden_size,
//             intermediate_size, vocab_size; max_position_embeddings 2048,
//             rotary_pct (or partial_rotary_factor) 0.25, rotary_emb_base (or
//             rope_theta) 10000, layer_norm_eps 1e-5, use_parallel_residual
//             true, hidden_act gelu, attention_bias true, tie_word_embeddings
//             false, rope_scaling null or linear.
//   llama, mistral, qwen2: num_hidden_layers, num_attention_heads,
//             hidden_size, intermediate_size, vocab_size;
//             num_key_value_heads (= heads), head_dim (= hidden / heads),
//             max_position_embeddings, rms_norm_eps 1e-6, rope_theta 10000,
//             rope_scaling null | linear | llama3 (under "rope_type" or the
//             older "type"), hidden_act silu, tie_word_embeddings false;
//             llama: attention_bias false (q, k, v and o biases);
//             mistral: sliding_window (null = none);
//             qwen2: q, k, v biases, no o bias, use_sliding_window false.
// bos_token_id is read when it is an integer.
//
// Thread-safety: pure functions.
#ifndef ABLATE_WORKER_ENGINE_CONFIG_H_
#define ABLATE_WORKER_ENGINE_CONFIG_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/engine/model_config.h"

namespace ablate::engine {

// Parses config.json text; `source` (normally the file path) prefixes every
// error message.
absl::StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text,
                                             const std::string& source);

// Reads and parses the file at `path`. NotFound if it does not exist.
absl::StatusOr<ModelConfig> ReadModelConfig(const std::string& path);

// Checks the numbers themselves: all sizes positive, n_embd divisible by
// n_head when head_dim is not given, n_head divisible by n_kv_head, rotary_dim
// even and <= d_head, epsilon positive and finite, rope fields sane. The
// message names the offending field.
absl::Status ValidateModelConfig(const ModelConfig& config);

// The config as Hugging Face writes it for the family's *ForCausalLM class,
// pretty-printed with a trailing newline; ParseModelConfig reads it back to the
// same ModelConfig.
std::string ModelConfigToJson(const ModelConfig& config);

}  // namespace ablate::engine

#endif  // ABLATE_WORKER_ENGINE_CONFIG_H_
