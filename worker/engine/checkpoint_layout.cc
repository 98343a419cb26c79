// Copyright: the ablate authors.
#include "worker/engine/checkpoint_layout.h"

#include <map>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace ablate::engine::internal {
namespace {

struct Rule {
  std::vector<std::string> hf;  // file names (block names without "layers.i.")
  Transform transform;
};

using Rules = std::map<std::string, Rule>;

const Rules& NeoxBlockRules() {
  static const Rules* rules = new Rules{
      {"ln_1.weight", {{"input_layernorm.weight"}, Transform::kAsIs}},
      {"ln_1.bias", {{"input_layernorm.bias"}, Transform::kAsIs}},
      {"attn.c_attn.weight",
       {{"attention.query_key_value.weight"}, Transform::kNeoxQkv}},
      {"attn.c_attn.bias",
       {{"attention.query_key_value.bias"}, Transform::kNeoxQkv}},
      {"attn.c_proj.weight", {{"attention.dense.weight"}, Transform::kLinear}},
      {"attn.c_proj.bias", {{"attention.dense.bias"}, Transform::kAsIs}},
      {"ln_2.weight", {{"post_attention_layernorm.weight"}, Transform::kAsIs}},
      {"ln_2.bias", {{"post_attention_layernorm.bias"}, Transform::kAsIs}},
      {"mlp.c_fc.weight", {{"mlp.dense_h_to_4h.weight"}, Transform::kLinear}},
      {"mlp.c_fc.bias", {{"mlp.dense_h_to_4h.bias"}, Transform::kAsIs}},
      {"mlp.c_proj.weight", {{"mlp.dense_4h_to_h.weight"}, Transform::kLinear}},
      {"mlp.c_proj.bias", {{"mlp.dense_4h_to_h.bias"}, Transform::kAsIs}},
  };
  return *rules;
}

const Rules& LlamaBlockRules() {
  static const Rules* rules = new Rules{
      {"ln_1.weight", {{"input_layernorm.weight"}, Transform::kAsIs}},
      {"attn.c_attn.weight",
       {{"self_attn.q_proj.weight", "self_attn.k_proj.weight",
         "self_attn.v_proj.weight"},
        Transform::kLinear}},
      {"attn.c_attn.bias",
       {{"self_attn.q_proj.bias", "self_attn.k_proj.bias",
         "self_attn.v_proj.bias"},
        Transform::kAsIs}},
      {"attn.c_proj.weight", {{"self_attn.o_proj.weight"}, Transform::kLinear}},
      {"attn.c_proj.bias", {{"self_attn.o_proj.bias"}, Transform::kAsIs}},
      {"ln_2.weight", {{"post_attention_layernorm.weight"}, Transform::kAsIs}},
      {"mlp.c_fc.weight",
       {{"mlp.gate_proj.weight", "mlp.up_proj.weight"}, Transform::kLinear}},
      {"mlp.c_fc.bias",
       {{"mlp.gate_proj.bias", "mlp.up_proj.bias"}, Transform::kAsIs}},
      {"mlp.c_proj.weight", {{"mlp.down_proj.weight"}, Transform::kLinear}},
      {"mlp.c_proj.bias", {{"mlp.down_proj.bias"}, Transform::kAsIs}},
  };
  return *rules;
}

// Names outside the blocks.
Rule GlobalRule(Family family, const std::string& internal) {
  const bool neox = family == Family::kGptNeox;
  if (family == Family::kGpt2) return {{internal}, Transform::kAsIs};
  if (internal == "wte.weight")
    return {{neox ? "embed_in.weight" : "embed_tokens.weight"}, Transform::kAsIs};
  if (internal == "lm_head.weight")
    return {{neox ? "embed_out.weight" : "lm_head.weight"}, Transform::kAsIs};
  if (internal == "ln_f.weight")
    return {{neox ? "final_layer_norm.weight" : "norm.weight"}, Transform::kAsIs};
  return {{"final_layer_norm.bias"}, Transform::kAsIs};  // ln_f.bias (NeoX)
}

// Output-feature sizes of the parts of a concatenated slot.
std::vector<int64_t> PartSizes(const ModelConfig& c, size_t n_parts,
                               int64_t total) {
  if (n_parts == 3) return {c.q_width(), c.kv_width(), c.kv_width()};
  if (n_parts == 2) return {c.d_ff(), c.d_ff()};
  return {total};
}

SlotLayout MakeLayout(const ModelConfig& c, const WeightSlot& slot,
                      const Rule& rule, const std::string& prefix) {
  SlotLayout out{slot, {}, rule.transform};
  const std::vector<int64_t>& s = slot.shape;
  const bool matrix = s.size() == 2;
  const bool transposed = matrix && rule.transform != Transform::kAsIs;
  const std::vector<int64_t> sizes =
      PartSizes(c, rule.hf.size(), transposed ? s[1] : s[0]);
  for (size_t i = 0; i < rule.hf.size(); ++i) {
    std::vector<int64_t> shape = {sizes[i]};
    if (matrix) shape.push_back(transposed ? s[0] : s[1]);
    out.parts.push_back({prefix + rule.hf[i], shape});
  }
  return out;
}

}  // namespace

std::string BasePrefix(Family family) {
  switch (family) {
    case Family::kGpt2:
      return "transformer.";
    case Family::kGptNeox:
      return "gpt_neox.";
    default:
      return "model.";
  }
}

int LayerOf(Family family, const std::string& name) {
  const std::string head = family == Family::kGpt2 ? "h." : "layers.";
  if (!absl::StartsWith(name, head)) return -1;
  const size_t dot = name.find('.', head.size());
  int layer = -1;
  if (dot == std::string::npos ||
      !absl::SimpleAtoi(name.substr(head.size(), dot - head.size()), &layer))
    return -1;
  return layer;
}

bool IsBuffer(Family family, const std::string& name) {
  if (absl::EndsWith(name, "rotary_emb.inv_freq")) return true;
  if (LayerOf(family, name) < 0) return false;
  const std::string rest = name.substr(name.find('.', name.find('.') + 1) + 1);
  if (family == Family::kGpt2)
    return rest == "attn.bias" || rest == "attn.masked_bias";
  if (family == Family::kGptNeox)
    return rest == "attention.bias" || rest == "attention.masked_bias";
  return false;
}

std::vector<SlotLayout> HfLayout(ModelWeights* w) {
  const ModelConfig& c = w->config;
  std::vector<SlotLayout> out;
  for (const WeightSlot& slot : WeightSlots(w)) {
    if (slot.shape.empty()) continue;
    const int layer = LayerOf(Family::kGpt2, slot.name);
    if (layer < 0 || c.family == Family::kGpt2) {
      out.push_back(MakeLayout(c, slot, GlobalRule(c.family, slot.name), ""));
      continue;
    }
    const std::string rest =
        slot.name.substr(absl::StrCat("h.", layer, ".").size());
    const Rules& rules =
        c.family == Family::kGptNeox ? NeoxBlockRules() : LlamaBlockRules();
    out.push_back(MakeLayout(c, slot, rules.at(rest),
                             absl::StrCat("layers.", layer, ".")));
  }
  return out;
}

torch::Tensor ToInternal(const SlotLayout& layout,
                         const std::vector<torch::Tensor>& parts,
                         const ModelConfig& c) {
  torch::Tensor t = parts.size() == 1 ? parts[0] : torch::cat(parts);
  if (layout.transform == Transform::kAsIs) return t.contiguous();
  if (layout.transform == Transform::kNeoxQkv) {
    const int64_t H = c.n_head, dh = c.d_head();
    if (t.dim() == 1) return t.view({H, 3, dh}).permute({1, 0, 2}).reshape({-1});
    t = t.view({H, 3, dh, -1}).permute({1, 0, 2, 3}).reshape({3 * H * dh, -1});
  }
  return t.dim() == 2 ? t.t().contiguous() : t.contiguous();
}

std::vector<torch::Tensor> ToHf(const SlotLayout& layout,
                                const torch::Tensor& internal,
                                const ModelConfig& c) {
  torch::Tensor t = internal;
  if (layout.transform == Transform::kNeoxQkv) {
    const int64_t H = c.n_head, dh = c.d_head();
    if (t.dim() == 1) return {t.view({3, H, dh}).permute({1, 0, 2}).reshape({-1})};
    return {t.t()
                .reshape({3, H, dh, -1})
                .permute({1, 0, 2, 3})
                .reshape({3 * H * dh, -1})
                .contiguous()};
  }
  if (layout.transform == Transform::kLinear && t.dim() == 2) t = t.t();
  std::vector<torch::Tensor> out;
  int64_t lo = 0;
  for (const HfTensor& part : layout.parts) {
    out.push_back(t.slice(0, lo, lo + part.shape[0]).contiguous());
    lo += part.shape[0];
  }
  return out;
}

}  // namespace ablate::engine::internal
