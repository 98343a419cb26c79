// Copyright: the ablate authors.
//
// Internal to the checkpoint loader: how each family's Hugging Face tensors
// map onto the internal layout (model_weights.h), in both directions.
//
//   gpt2:     names as in the file without "transformer."; Conv1D tensors are
//             already [in, out]; lm_head.weight only when untied.
//   gpt_neox: names without "gpt_neox." (embed_out.weight has no prefix);
//             nn.Linear [out, in] tensors are transposed; query_key_value's
//             rows are per head [n_head, 3, d_head] and are regrouped into
//             Q | K | V.
//   llama, mistral, qwen2: names without "model." (lm_head.weight has no
//             prefix); q_proj | k_proj | v_proj are concatenated into c_attn,
//             gate_proj | up_proj into mlp_c_fc, all transposed.
//
// Thread-safety: pure functions.
#ifndef ABLATE_WORKER_ENGINE_CHECKPOINT_LAYOUT_H_
#define ABLATE_WORKER_ENGINE_CHECKPOINT_LAYOUT_H_

#include <torch/torch.h>

#include <string>
#include <vector>

#include "worker/engine/model_weights.h"

namespace ablate::engine::internal {

enum class Transform {
  kAsIs,     // the file's tensor is the internal one
  kLinear,   // nn.Linear [out, in] -> [in, out]
  kNeoxQkv,  // NeoX [H, 3, dh] rows -> Q | K | V (and transposed if 2-D)
};

// One file tensor: its unprefixed name and shape.
struct HfTensor {
  std::string name;
  std::vector<int64_t> shape;
};

// One internal slot and the file tensors it is made of: the parts are
// concatenated along dim 0 (output features) and then transformed.
struct SlotLayout {
  WeightSlot slot;
  std::vector<HfTensor> parts;
  Transform transform = Transform::kAsIs;
};

// The layout of every slot the config has (absent slots are left out).
// w->blocks must have n_layer entries.
std::vector<SlotLayout> HfLayout(ModelWeights* w);

// The prefix the family's base model puts on names ("transformer.",
// "gpt_neox.", "model.").
std::string BasePrefix(Family family);

// Whether an unprefixed name is a buffer the loader skips (causal-mask and
// rotary buffers).
bool IsBuffer(Family family, const std::string& name);

// Layer index of an unprefixed name of a block tensor ("h.3.ln_1.weight",
// "layers.3.mlp.up_proj.weight"), or -1.
int LayerOf(Family family, const std::string& name);

// parts (in order, float32) -> the internal tensor, and back.
torch::Tensor ToInternal(const SlotLayout& layout,
                         const std::vector<torch::Tensor>& parts,
                         const ModelConfig& config);
std::vector<torch::Tensor> ToHf(const SlotLayout& layout,
                                const torch::Tensor& internal,
                                const ModelConfig& config);

}  // namespace ablate::engine::internal

#endif  // ABLATE_WORKER_ENGINE_CHECKPOINT_LAYOUT_H_
