// Copyright: the ablate authors.
//
// ModelConfigToJson (config.h): the config.json Hugging Face writes for each
// family's *ForCausalLM, so saved checkpoints load in transformers too.
#include <nlohmann/json.hpp>

#include "worker/engine/config.h"

namespace ablate::engine {
namespace {

using OJson = nlohmann::ordered_json;

OJson Gpt2Json(const ModelConfig& c) {
  OJson j;
  j["activation_function"] =
      c.activation == Activation::kGeluExact ? "gelu" : "gelu_new";
  j["architectures"] = {"GPT2LMHeadModel"};
  if (c.bos_token_id >= 0) {
    j["bos_token_id"] = c.bos_token_id;
  } else if (c.vocab_size == 50257) {
    j["bos_token_id"] = 50256;
    j["eos_token_id"] = 50256;
  }
  j["layer_norm_epsilon"] = c.layer_norm_epsilon;
  j["model_type"] = "gpt2";
  j["n_ctx"] = c.n_positions;
  j["n_embd"] = c.n_embd;
  j["n_head"] = c.n_head;
  if (c.intermediate_size > 0 && c.intermediate_size != 4 * c.n_embd) {
    j["n_inner"] = c.intermediate_size;
  } else {
    j["n_inner"] = nullptr;
  }
  j["n_layer"] = c.n_layer;
  j["n_positions"] = c.n_positions;
  j["scale_attn_by_inverse_layer_idx"] = false;
  j["scale_attn_weights"] = true;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["vocab_size"] = c.vocab_size;
  return j;
}

OJson RopeScalingJson(const Rope& r) {
  if (r.scaling == Rope::Scaling::kNone) return nullptr;
  OJson s;
  s["factor"] = r.factor;
  if (r.scaling == Rope::Scaling::kLlama3) {
    s["high_freq_factor"] = r.high_freq_factor;
    s["low_freq_factor"] = r.low_freq_factor;
    s["original_max_position_embeddings"] = r.original_max_position_embeddings;
    s["rope_type"] = "llama3";
  } else {
    s["rope_type"] = "linear";
  }
  return s;
}

OJson NeoxJson(const ModelConfig& c) {
  OJson j;
  j["architectures"] = {"GPTNeoXForCausalLM"};
  j["attention_bias"] = c.qkv_bias;
  if (c.bos_token_id >= 0) j["bos_token_id"] = c.bos_token_id;
  j["hidden_act"] = c.activation == Activation::kGeluExact ? "gelu" : "gelu_new";
  j["hidden_size"] = c.n_embd;
  j["intermediate_size"] = c.d_ff();
  j["layer_norm_eps"] = c.layer_norm_epsilon;
  j["max_position_embeddings"] = c.n_positions;
  j["model_type"] = "gpt_neox";
  j["num_attention_heads"] = c.n_head;
  j["num_hidden_layers"] = c.n_layer;
  j["rope_scaling"] = RopeScalingJson(c.rope);
  j["rotary_emb_base"] = c.rope.theta;
  // Exact as a fraction: int(d_head * pct) gives rotary_dim back.
  j["rotary_pct"] = static_cast<double>(c.rope.rotary_dim) / c.d_head();
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["use_parallel_residual"] = c.parallel_residual;
  j["vocab_size"] = c.vocab_size;
  return j;
}

OJson LlamaJson(const ModelConfig& c) {
  OJson j;
  const char* arch = c.family == Family::kLlama     ? "LlamaForCausalLM"
                     : c.family == Family::kMistral ? "MistralForCausalLM"
                                                    : "Qwen2ForCausalLM";
  j["architectures"] = {arch};
  if (c.family == Family::kLlama) j["attention_bias"] = c.qkv_bias;
  if (c.bos_token_id >= 0) j["bos_token_id"] = c.bos_token_id;
  j["head_dim"] = c.d_head();
  j["hidden_act"] = "silu";
  j["hidden_size"] = c.n_embd;
  j["intermediate_size"] = c.d_ff();
  j["max_position_embeddings"] = c.n_positions;
  if (c.family == Family::kLlama) j["mlp_bias"] = false;
  j["model_type"] = FamilyName(c.family);
  j["num_attention_heads"] = c.n_head;
  j["num_hidden_layers"] = c.n_layer;
  j["num_key_value_heads"] = c.kv_heads();
  j["rms_norm_eps"] = c.layer_norm_epsilon;
  j["rope_scaling"] = RopeScalingJson(c.rope);
  j["rope_theta"] = c.rope.theta;
  if (c.family == Family::kMistral) {
    j["sliding_window"] =
        c.sliding_window > 0 ? OJson(c.sliding_window) : OJson(nullptr);
  }
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  if (c.family == Family::kQwen2) j["use_sliding_window"] = false;
  j["vocab_size"] = c.vocab_size;
  return j;
}

}  // namespace

std::string ModelConfigToJson(const ModelConfig& c) {
  OJson j = c.family == Family::kGpt2      ? Gpt2Json(c)
            : c.family == Family::kGptNeox ? NeoxJson(c)
                                           : LlamaJson(c);
  return j.dump(2) + "\n";
}

}  // namespace ablate::engine
