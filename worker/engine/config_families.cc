// Copyright: the ablate authors.
#include <climits>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "worker/engine/config_fields.h"

namespace ablate::engine::internal {

const Json* Fields::Get(const std::string& key) const {
  if (!j_.contains(key) || j_[key].is_null()) return nullptr;
  return &j_[key];
}

void Fields::Fail(const std::string& key, const std::string& why) {
  if (!status_.ok()) return;
  const Json* v = Get(key);
  status_ = absl::InvalidArgumentError(
      v ? absl::StrCat(source_, ": \"", key, "\" is ", v->dump(), ": ", why)
        : absl::StrCat(source_, ": \"", key, "\": ", why));
}

void Fields::PositiveInt(const std::string& key, bool required, int* out) {
  const Json* v = Get(key);
  if (v == nullptr) {
    if (required && status_.ok()) {
      status_ = absl::InvalidArgumentError(
          absl::StrCat(source_, ": missing \"", key, "\""));
    }
    return;
  }
  if (!v->is_number_integer() || v->get<int64_t>() <= 0 ||
      v->get<int64_t>() > INT_MAX) {
    if (status_.ok()) {
      status_ = absl::InvalidArgumentError(
          absl::StrCat(source_, ": \"", key,
                       "\" must be a positive integer, got ", v->dump()));
    }
    return;
  }
  *out = static_cast<int>(v->get<int64_t>());
}

void Fields::Number(const std::string& key, double* out) {
  const Json* v = Get(key);
  if (v == nullptr) return;
  if (!v->is_number() || !std::isfinite(v->get<double>())) {
    Fail(key, "not a finite number");
    return;
  }
  *out = v->get<double>();
}

void Fields::Bool(const std::string& key, bool* out) {
  const Json* v = Get(key);
  if (v == nullptr) return;
  if (!v->is_boolean()) {
    Fail(key, "not true or false");
    return;
  }
  *out = v->get<bool>();
}

void Fields::String(const std::string& key, std::string* out) {
  const Json* v = Get(key);
  if (v == nullptr) return;
  if (!v->is_string()) {
    Fail(key, "not a string");
    return;
  }
  *out = v->get<std::string>();
}

void Fields::OneOf(const std::string& key, const std::vector<Json>& accepted,
                   const std::string& why) {
  const Json* v = Get(key);
  if (v == nullptr) return;
  for (const Json& a : accepted) {
    if (*v == a) return;
  }
  Fail(key, why);
}

// Fields that would change the numbers in ways no supported family does.
void RejectForeignFeatures(Fields* f) {
  const char* why = "not supported by this engine (it would change the numbers)";
  f->OneOf("alibi", {false}, why);
  f->OneOf("attn_logit_softcapping", {}, why);
  f->OneOf("final_logit_softcapping", {}, why);
  f->OneOf("logits_scaling", {1, 1.0}, why);
  f->OneOf("embedding_multiplier", {1, 1.0}, why);
  f->OneOf("qk_layernorm", {false}, why);
  f->OneOf("use_qk_norm", {false}, why);
}

namespace {

void ParseActivation(Fields* f, const char* key, ModelConfig* c) {
  std::string act;
  f->String(key, &act);
  if (act.empty()) return;  // the family's default, set by the caller
  if (act == "gelu") {
    c->activation = Activation::kGeluExact;
  } else if (act == "gelu_new" || act == "gelu_pytorch_tanh" ||
             act == "gelu_fast") {
    c->activation = Activation::kGeluTanh;
  } else {
    f->Fail(key, "supported: gelu, gelu_new, gelu_pytorch_tanh, gelu_fast");
  }
}

void ParseLlama3(Fields* f, const Json& rs, ModelConfig* c) {
  for (const char* k : {"factor", "low_freq_factor", "high_freq_factor",
                        "original_max_position_embeddings"}) {
    if (!rs.contains(k) || !rs[k].is_number()) {
      f->Fail("rope_scaling", absl::StrCat("llama3 scaling needs a number \"",
                                           k, "\""));
      return;
    }
  }
  c->rope.scaling = Rope::Scaling::kLlama3;
  c->rope.factor = rs["factor"].get<double>();
  c->rope.low_freq_factor = rs["low_freq_factor"].get<double>();
  c->rope.high_freq_factor = rs["high_freq_factor"].get<double>();
  c->rope.original_max_position_embeddings =
      rs["original_max_position_embeddings"].get<int>();
}

// rope_scaling: null, or {"rope_type" | "type": default | linear | llama3}.
void ParseRopeScaling(Fields* f, ModelConfig* c) {
  const Json* rs = f->Get("rope_scaling");
  if (rs == nullptr) return;
  if (!rs->is_object()) return f->Fail("rope_scaling", "not an object or null");
  const char* key = rs->contains("rope_type") ? "rope_type" : "type";
  if (!rs->contains(key) || !(*rs)[key].is_string())
    return f->Fail("rope_scaling", "needs a string \"rope_type\" (or \"type\")");
  const std::string type = (*rs)[key].get<std::string>();
  if (type == "default") return;
  if (type == "linear") {
    if (!rs->contains("factor") || !(*rs)["factor"].is_number())
      return f->Fail("rope_scaling", "linear scaling needs a number \"factor\"");
    c->rope.scaling = Rope::Scaling::kLinear;
    c->rope.factor = (*rs)["factor"].get<double>();
    return;
  }
  if (type == "llama3") return ParseLlama3(f, *rs, c);
  f->Fail("rope_scaling", absl::StrCat("rope type \"", type,
                                       "\" is not supported (supported: "
                                       "default, linear, llama3)"));
}

// rotary_dim = int(d_head * fraction), as Hugging Face computes it.
void SetRotaryFraction(Fields* f, const char* key, double fraction,
                       ModelConfig* c) {
  if (!(fraction > 0 && fraction <= 1)) return f->Fail(key, "must be in (0, 1]");
  c->rope.rotary_dim = static_cast<int>(c->d_head() * fraction);
}

}  // namespace

void ParseGpt2Fields(Fields* f, ModelConfig* c) {
  c->family = Family::kGpt2;
  f->PositiveInt("n_layer", true, &c->n_layer);
  f->PositiveInt("n_head", true, &c->n_head);
  f->PositiveInt("n_embd", true, &c->n_embd);
  f->PositiveInt("vocab_size", true, &c->vocab_size);
  f->PositiveInt(f->Get("n_positions") ? "n_positions" : "n_ctx", true,
                 &c->n_positions);
  f->Number("layer_norm_epsilon", &c->layer_norm_epsilon);
  f->PositiveInt("n_inner", false, &c->intermediate_size);
  ParseActivation(f, "activation_function", c);
  f->Bool("tie_word_embeddings", &c->tie_word_embeddings);
  f->OneOf("scale_attn_weights", {true},
           "this engine scales attention by 1/sqrt(d_head)");
  f->OneOf("scale_attn_by_inverse_layer_idx", {false},
           "per-layer attention scaling is not supported");
}

void ParseNeoxFields(Fields* f, ModelConfig* c) {
  c->family = Family::kGptNeox;
  c->n_positions = 2048;
  c->activation = Activation::kGeluExact;
  c->tie_word_embeddings = false;
  c->parallel_residual = true;
  f->PositiveInt("num_hidden_layers", true, &c->n_layer);
  f->PositiveInt("num_attention_heads", true, &c->n_head);
  f->PositiveInt("hidden_size", true, &c->n_embd);
  f->PositiveInt("intermediate_size", true, &c->intermediate_size);
  f->PositiveInt("vocab_size", true, &c->vocab_size);
  f->PositiveInt("max_position_embeddings", false, &c->n_positions);
  f->Number("layer_norm_eps", &c->layer_norm_epsilon);
  f->Bool("use_parallel_residual", &c->parallel_residual);
  f->Bool("tie_word_embeddings", &c->tie_word_embeddings);
  bool attention_bias = true;
  f->Bool("attention_bias", &attention_bias);
  c->qkv_bias = c->o_bias = attention_bias;
  ParseActivation(f, "hidden_act", c);
  const char* base = f->Get("rotary_emb_base") ? "rotary_emb_base" : "rope_theta";
  f->Number(base, &c->rope.theta);
  const char* pct =
      f->Get("rotary_pct") ? "rotary_pct" : "partial_rotary_factor";
  double fraction = 0.25;
  f->Number(pct, &fraction);
  if (f->ok() && c->n_head > 0) SetRotaryFraction(f, pct, fraction, c);
  ParseRopeScaling(f, c);
}

void ParseLlamaFields(Fields* f, ModelConfig* c) {
  c->n_positions = c->family == Family::kLlama    ? 2048
                   : c->family == Family::kQwen2 ? 32768
                                                 : 131072;
  c->layer_norm_epsilon = 1e-6;
  c->activation = Activation::kSilu;
  c->tie_word_embeddings = false;
  c->mlp_bias = false;
  c->qkv_bias = c->family == Family::kQwen2;
  c->o_bias = false;
  f->PositiveInt("num_hidden_layers", true, &c->n_layer);
  f->PositiveInt("num_attention_heads", true, &c->n_head);
  f->PositiveInt("hidden_size", true, &c->n_embd);
  f->PositiveInt("intermediate_size", true, &c->intermediate_size);
  f->PositiveInt("vocab_size", true, &c->vocab_size);
  f->PositiveInt("num_key_value_heads", false, &c->n_kv_head);
  f->PositiveInt("head_dim", false, &c->head_dim);
  f->PositiveInt("max_position_embeddings", false, &c->n_positions);
  f->Number("rms_norm_eps", &c->layer_norm_epsilon);
  f->Number("rope_theta", &c->rope.theta);
  f->Bool("tie_word_embeddings", &c->tie_word_embeddings);
  f->OneOf("hidden_act", {"silu"}, "only the SiLU-gated MLP is supported");
  f->OneOf("mlp_bias", {false}, "MLP biases are not supported");
  if (c->family == Family::kLlama) {
    bool attention_bias = false;
    f->Bool("attention_bias", &attention_bias);
    c->qkv_bias = c->o_bias = attention_bias;
    f->OneOf("partial_rotary_factor", {1, 1.0},
             "partial rotary is not supported for llama");
  }
  if (c->family == Family::kMistral)
    f->PositiveInt("sliding_window", false, &c->sliding_window);
  if (c->family == Family::kQwen2) {
    f->OneOf("use_sliding_window", {false},
             "Qwen2's per-layer sliding window is not supported");
  }
  if (f->ok() && c->n_head > 0) c->rope.rotary_dim = c->d_head();
  ParseRopeScaling(f, c);
}

}  // namespace ablate::engine::internal
