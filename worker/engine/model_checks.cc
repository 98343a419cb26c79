// Copyright: the ablate authors.
#include "worker/engine/model_checks.h"

#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "worker/engine/config.h"

namespace ablate::engine::internal {
namespace {

std::string Shape(const std::vector<int64_t>& s) {
  return absl::StrCat("[", absl::StrJoin(s, ", "), "]");
}

absl::Status CheckSlot(const WeightSlot& slot) {
  const torch::Tensor& t = *slot.tensor;
  if (slot.shape.empty()) {
    if (!t.defined()) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(
        "Model: tensor ", slot.name, " must be absent for this config"));
  }
  if (!t.defined())
    return absl::InvalidArgumentError(
        absl::StrCat("Model: tensor ", slot.name, " is missing"));
  if (t.sizes().vec() != slot.shape) {
    return absl::InvalidArgumentError(
        absl::StrCat("Model: tensor ", slot.name, " has shape ",
                     Shape(t.sizes().vec()), ", expected ", Shape(slot.shape)));
  }
  if (!t.is_floating_point()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Model: tensor ", slot.name, " is not floating point"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckWeights(const ModelWeights& w) {
  absl::Status s = ValidateModelConfig(w.config);
  if (!s.ok()) return absl::InvalidArgumentError("Model: " + std::string(s.message()));
  const ModelConfig& c = w.config;
  if (static_cast<int>(w.blocks.size()) != c.n_layer) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Model: ", w.blocks.size(), " blocks for n_layer ", c.n_layer));
  }
  ModelWeights view = w;  // shallow: tensors share storage
  for (const WeightSlot& slot : WeightSlots(&view)) {
    s = CheckSlot(slot);
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
