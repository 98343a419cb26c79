// Copyright: the ablate authors.
#include "worker/engine/model_weights.h"

#include "absl/strings/str_cat.h"

namespace ablate::engine {

namespace {

using Shape = std::vector<int64_t>;

// The shape if `present`, else empty (the slot must stay undefined).
Shape If(bool present, Shape shape) { return present ? shape : Shape{}; }

void AddBlock(const ModelConfig& c, int i, BlockWeights* b,
              std::vector<WeightSlot>* out) {
  const int64_t d = c.n_embd, q = c.q_width(), qkv = q + 2 * c.kv_width();
  const int64_t ff = c.d_ff(), fc = c.gated_mlp() ? 2 * ff : ff;
  const bool nb = c.norm_bias();
  const std::string qkv_dims = "n_head*d_head + 2*n_kv_head*d_head";
  const std::string fc_dims = c.gated_mlp() ? "2*d_ff" : "d_ff";
  const std::string h = absl::StrCat("h.", i, ".");
  const WeightSlot slots[] = {
      {h + "ln_1.weight", &b->ln_1_weight, {d}, "n_embd"},
      {h + "ln_1.bias", &b->ln_1_bias, If(nb, {d}), "n_embd"},
      {h + "attn.c_attn.weight", &b->attn_c_attn_weight, {d, qkv},
       "n_embd, " + qkv_dims},
      {h + "attn.c_attn.bias", &b->attn_c_attn_bias, If(c.qkv_bias, {qkv}),
       qkv_dims},
      {h + "attn.c_proj.weight", &b->attn_c_proj_weight, {q, d},
       "n_head*d_head, n_embd"},
      {h + "attn.c_proj.bias", &b->attn_c_proj_bias, If(c.o_bias, {d}),
       "n_embd"},
      {h + "ln_2.weight", &b->ln_2_weight, {d}, "n_embd"},
      {h + "ln_2.bias", &b->ln_2_bias, If(nb, {d}), "n_embd"},
      {h + "mlp.c_fc.weight", &b->mlp_c_fc_weight, {d, fc}, "n_embd, " + fc_dims},
      {h + "mlp.c_fc.bias", &b->mlp_c_fc_bias, If(c.mlp_bias, {fc}), fc_dims},
      {h + "mlp.c_proj.weight", &b->mlp_c_proj_weight, {ff, d}, "d_ff, n_embd"},
      {h + "mlp.c_proj.bias", &b->mlp_c_proj_bias, If(c.mlp_bias, {d}),
       "n_embd"},
  };
  out->insert(out->end(), std::begin(slots), std::end(slots));
}

}  // namespace

std::vector<WeightSlot> WeightSlots(ModelWeights* w) {
  const ModelConfig& c = w->config;
  const int64_t d = c.n_embd, V = c.vocab_size;
  std::vector<WeightSlot> out = {
      {"wte.weight", &w->wte, {V, d}, "vocab_size, n_embd"},
      {"wpe.weight", &w->wpe, If(c.learned_positions(), {c.n_positions, d}),
       "n_positions, n_embd"}};
  for (int i = 0; i < c.n_layer; ++i) AddBlock(c, i, &w->blocks[i], &out);
  out.push_back({"ln_f.weight", &w->ln_f_weight, {d}, "n_embd"});
  out.push_back({"ln_f.bias", &w->ln_f_bias, If(c.norm_bias(), {d}), "n_embd"});
  out.push_back({"lm_head.weight", &w->lm_head,
                 If(!c.tie_word_embeddings, {V, d}), "vocab_size, n_embd"});
  return out;
}

}  // namespace ablate::engine
