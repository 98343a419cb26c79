// The model's shape and tokenizer as `ablate submit` reads them from a checkpoint folder, for
// every family the service runs (config.json model_type), and the client's BOS default.
//
// Field names per family (ModelShape keeps GPT-2's names):
//   gpt2 (also when model_type is absent): n_layer, n_head, n_embd, n_positions (or n_ctx),
//     vocab_size; bos_token_id (default 50256, <|endoftext|>).
//   gpt_neox, llama, mistral, qwen2: num_hidden_layers, num_attention_heads, hidden_size,
//     max_position_embeddings, vocab_size, bos_token_id (absent or null = -1, none);
//     llama, mistral, qwen2 also num_key_value_heads (default num_attention_heads) and
//     head_dim (default hidden_size / num_attention_heads).
// Thread-safety: pure functions.
#ifndef ABLATE_CLIENT_MODEL_SHAPE_H_
#define ABLATE_CLIENT_MODEL_SHAPE_H_

#include <string>

#include "ablate/v1/ablate.pb.h"
#include "absl/status/statusor.h"

namespace ablate::client {

// Reads config.json of a checkpoint folder into a full ModelShape (family, sizes, n_kv_head,
// head_dim, bos_token_id). INVALID_ARGUMENT naming the file and field: unreadable or
// non-object JSON, a model_type this service does not run (the message lists those it does),
// a missing or non-positive size.
absl::StatusOr<ablate::v1::ModelShape> ReadModelShape(const std::string& model_dir);

// Whether `submit` puts a BOS in slot 0 of every chunk when neither --bos nor --no-bos is
// given: on for llama and mistral (trained with a BOS at the start of every sequence, which
// their tokenizers add), off for gpt2, gpt_neox and qwen2 (trained without one); off whenever
// the model names no BOS token.
bool DefaultBos(const ablate::v1::ModelShape& shape);

}  // namespace ablate::client

#endif  // ABLATE_CLIENT_MODEL_SHAPE_H_
