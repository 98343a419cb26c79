// Copyright: the ablate authors.
#include "worker/engine/model_checks.h"

#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ablate::engine::internal {
namespace {

std::string Shape(const std::vector<int64_t>& s) {
  return absl::StrCat("[", absl::StrJoin(s, ", "), "]");
}

absl::Status CheckTensor(const std::string& name, const torch::Tensor& t,
                         const std::vector<int64_t>& shape) {
  if (!t.defined())
    return absl::InvalidArgumentError(
        absl::StrCat("Model: tensor ", name, " is missing"));
  if (t.sizes().vec() != shape) {
    return absl::InvalidArgumentError(
        absl::StrCat("Model: tensor ", name, " has shape ",
                     Shape(t.sizes().vec()), ", expected ", Shape(shape)));
  }
  if (!t.is_floating_point()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Model: tensor ", name, " is not floating point"));
  }
  return absl::OkStatus();
}

absl::Status CheckBlock(const BlockWeights& b, int i, int64_t d) {
  const std::string p = absl::StrCat("h.", i, ".");
  const std::vector<std::pair<
      std::string, std::pair<const torch::Tensor*, std::vector<int64_t>>>>
      expected = {
          {"ln_1.weight", {&b.ln_1_weight, {d}}},
          {"ln_1.bias", {&b.ln_1_bias, {d}}},
          {"attn.c_attn.weight", {&b.attn_c_attn_weight, {d, 3 * d}}},
          {"attn.c_attn.bias", {&b.attn_c_attn_bias, {3 * d}}},
          {"attn.c_proj.weight", {&b.attn_c_proj_weight, {d, d}}},
          {"attn.c_proj.bias", {&b.attn_c_proj_bias, {d}}},
          {"ln_2.weight", {&b.ln_2_weight, {d}}},
          {"ln_2.bias", {&b.ln_2_bias, {d}}},
          {"mlp.c_fc.weight", {&b.mlp_c_fc_weight, {d, 4 * d}}},
          {"mlp.c_fc.bias", {&b.mlp_c_fc_bias, {4 * d}}},
          {"mlp.c_proj.weight", {&b.mlp_c_proj_weight, {4 * d, d}}},
          {"mlp.c_proj.bias", {&b.mlp_c_proj_bias, {d}}},
      };
  for (const auto& [name, spec] : expected) {
    absl::Status s = CheckTensor(p + name, *spec.first, spec.second);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckWeights(const ModelWeights& w) {
  const ModelConfig& c = w.config;
  if (c.n_layer <= 0 || c.n_head <= 0 || c.n_embd <= 0 || c.n_positions <= 0 ||
      c.vocab_size <= 0 || !(c.layer_norm_epsilon > 0)) {
    return absl::InvalidArgumentError("Model: config values must be positive");
  }
  if (c.n_embd % c.n_head != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Model: n_embd ", c.n_embd, " is not divisible by n_head ", c.n_head));
  }
  if (static_cast<int>(w.blocks.size()) != c.n_layer) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Model: ", w.blocks.size(), " blocks for n_layer ", c.n_layer));
  }
  const int64_t d = c.n_embd;
  for (auto s : {CheckTensor("wte.weight", w.wte, {c.vocab_size, d}),
                 CheckTensor("wpe.weight", w.wpe, {c.n_positions, d}),
                 CheckTensor("ln_f.weight", w.ln_f_weight, {d}),
                 CheckTensor("ln_f.bias", w.ln_f_bias, {d})}) {
    if (!s.ok()) return s;
  }
  for (int i = 0; i < c.n_layer; ++i) {
    absl::Status s = CheckBlock(w.blocks[i], i, d);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<torch::Device> ParseDevice(const std::string& name) {
  const bool cuda = name == "cuda" || name.rfind("cuda:", 0) == 0;
  int index = 0;
  if (name.rfind("cuda:", 0) == 0 &&
      (!absl::SimpleAtoi(name.substr(5), &index) || index < 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad device \"", name, "\": use cuda:N"));
  }
  if (name == "cpu") return torch::Device(torch::kCPU);
  if (name == "mps") {
    if (!at::hasMPS())
      return absl::UnavailableError("device mps is not available here");
    return torch::Device(torch::kMPS);
  }
  if (!cuda) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown device \"", name, "\": use cpu, cuda, cuda:N or mps"));
  }
  const int64_t count =
      torch::cuda::is_available() ? torch::cuda::device_count() : 0;
  if (index >= count) {
    return absl::UnavailableError(absl::StrCat(
        "device ", name, " is not available here (", count, " CUDA devices)"));
  }
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

absl::Status CheckDType(DType dtype, const torch::Device& device) {
  if (dtype != DType::kFloat32 && device.is_cpu()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dtype ", DTypeName(dtype), " needs a GPU; use fp32 on cpu"));
  }
  return absl::OkStatus();
}

absl::Status CheckChunks(const torch::Tensor& chunks, const ModelConfig& c) {
  if (!chunks.defined() || chunks.dim() != 2) {
    return absl::InvalidArgumentError(
        "chunks must be a [n_chunks, seq_len] tensor");
  }
  if (chunks.is_floating_point() || chunks.is_complex() ||
      chunks.scalar_type() == torch::kBool) {
    return absl::InvalidArgumentError("chunks must hold integer token ids");
  }
  const int64_t n = chunks.size(0), t = chunks.size(1);
  if (n < 1)
    return absl::InvalidArgumentError("chunks: need at least one chunk");
  if (t < 2 || t > c.n_positions) {
    return absl::InvalidArgumentError(absl::StrCat(
        "seq_len ", t,
        " out of range: need 2 <= seq_len <= n_positions = ", c.n_positions));
  }
  const int64_t lo = chunks.min().item<int64_t>(),
                hi = chunks.max().item<int64_t>();
  if (lo < 0 || hi >= c.vocab_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("token id ", lo < 0 ? lo : hi, " out of range [0, ",
                     c.vocab_size, ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckMasks(absl::Span<const HeadMask> masks, const ModelConfig& c) {
  const int total = c.n_heads_total();
  for (size_t i = 0; i < masks.size(); ++i) {
    for (int head : masks[i]) {
      if (head < 0 || head >= total) {
        return absl::InvalidArgumentError(absl::StrCat(
            "mask ", i, ": head index ", head, " out of range [0, ", total,
            ") for ", c.n_layer, " x ", c.n_head, " heads"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace ablate::engine::internal
