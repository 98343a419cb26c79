// Copyright: the ablate authors.
#include "worker/engine/checkpoint.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "worker/engine/config.h"
#include "worker/engine/safetensors.h"

namespace ablate::engine {
namespace {

constexpr char kPrefix[] = "transformer.";

// One parameter of the model: its Hugging Face name, the shape the config
// implies (with the config fields that imply it, for messages) and where it
// lives in ModelWeights.
struct ParamRef {
  std::string name;
  std::vector<int64_t> shape;
  const char* dims;
  torch::Tensor* tensor;
};

// All parameters in Hugging Face order. w->blocks must have n_layer entries.
std::vector<ParamRef> Params(ModelWeights* w) {
  const ModelConfig& c = w->config;
  const int64_t d = c.n_embd;
  std::vector<ParamRef> p = {
      {"wte.weight", {c.vocab_size, d}, "vocab_size, n_embd", &w->wte},
      {"wpe.weight", {c.n_positions, d}, "n_positions, n_embd", &w->wpe}};
  for (int i = 0; i < c.n_layer; ++i) {
    BlockWeights& b = w->blocks[i];
    const std::string h = absl::StrCat("h.", i, ".");
    p.push_back({h + "ln_1.weight", {d}, "n_embd", &b.ln_1_weight});
    p.push_back({h + "ln_1.bias", {d}, "n_embd", &b.ln_1_bias});
    p.push_back({h + "attn.c_attn.weight",
                 {d, 3 * d},
                 "n_embd, 3*n_embd",
                 &b.attn_c_attn_weight});
    p.push_back(
        {h + "attn.c_attn.bias", {3 * d}, "3*n_embd", &b.attn_c_attn_bias});
    p.push_back({h + "attn.c_proj.weight",
                 {d, d},
                 "n_embd, n_embd",
                 &b.attn_c_proj_weight});
    p.push_back({h + "attn.c_proj.bias", {d}, "n_embd", &b.attn_c_proj_bias});
    p.push_back({h + "ln_2.weight", {d}, "n_embd", &b.ln_2_weight});
    p.push_back({h + "ln_2.bias", {d}, "n_embd", &b.ln_2_bias});
    p.push_back({h + "mlp.c_fc.weight",
                 {d, 4 * d},
                 "n_embd, 4*n_embd",
                 &b.mlp_c_fc_weight});
    p.push_back({h + "mlp.c_fc.bias", {4 * d}, "4*n_embd", &b.mlp_c_fc_bias});
    p.push_back({h + "mlp.c_proj.weight",
                 {4 * d, d},
                 "4*n_embd, n_embd",
                 &b.mlp_c_proj_weight});
    p.push_back({h + "mlp.c_proj.bias", {d}, "n_embd", &b.mlp_c_proj_bias});
  }
  p.push_back({"ln_f.weight", {d}, "n_embd", &w->ln_f_weight});
  p.push_back({"ln_f.bias", {d}, "n_embd", &w->ln_f_bias});
  return p;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

std::string Join(const std::string& dir, const char* file) {
  return (std::filesystem::path(dir) / file).string();
}

// Layer index of a name "h.{i}.rest", or -1 if the name is not of that form.
int LayerOf(const std::string& name, std::string* rest) {
  if (!absl::StartsWith(name, "h.")) return -1;
  const size_t dot = name.find('.', 2);
  int layer = -1;
  if (dot == std::string::npos ||
      !absl::SimpleAtoi(name.substr(2, dot - 2), &layer))
    return -1;
  *rest = name.substr(dot + 1);
  return layer;
}

// Maps unprefixed names to their entries, dropping attention buffers. Errors on
// a name present with and without the prefix and on tensors of layers the
// config does not have.
absl::StatusOr<std::map<std::string, const SafetensorsEntry*>> CanonicalNames(
    const SafetensorsReader& reader, const ModelConfig& config) {
  std::map<std::string, const SafetensorsEntry*> out;
  for (const auto& [name, entry] : reader.entries()) {
    std::string canon = name;
    if (absl::StartsWith(canon, kPrefix))
      canon = canon.substr(sizeof(kPrefix) - 1);
    std::string rest;
    const int layer = LayerOf(canon, &rest);
    if (layer >= 0 && (rest == "attn.bias" || rest == "attn.masked_bias"))
      continue;
    if (layer >= config.n_layer) {
      return absl::InvalidArgumentError(absl::StrCat(
          reader.path(), ": tensor '", name, "' belongs to layer ", layer,
          " but config.json has n_layer = ", config.n_layer));
    }
    auto [it, inserted] = out.emplace(canon, &entry);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(
          reader.path(), ": tensor '", canon,
          "' is present both with and without the '", kPrefix, "' prefix"));
    }
  }
  return out;
}

// Reads one tensor as float32 after checking presence, shape and finiteness.
absl::StatusOr<torch::Tensor> ReadParam(
    const SafetensorsReader& reader,
    const std::map<std::string, const SafetensorsEntry*>& names,
    const std::string& name, const std::vector<int64_t>& shape,
    const char* dims) {
  auto it = names.find(name);
  if (it == names.end()) {
    return absl::NotFoundError(absl::StrCat(reader.path(), ": tensor '", name,
                                            "' is missing (looked for '", name,
                                            "' and '", kPrefix, name, "')"));
  }
  const SafetensorsEntry& e = *it->second;
  if (e.shape != shape) {
    return absl::InvalidArgumentError(
        absl::StrCat(reader.path(), ": tensor '", e.name, "' has shape ",
                     ShapeString(e.shape), " but config.json (", dims,
                     ") implies ", ShapeString(shape)));
  }
  absl::StatusOr<torch::Tensor> t = reader.ReadFloat32(e);
  if (!t.ok()) return t.status();
  if (!torch::isfinite(*t).all().item<bool>()) {
    return absl::InvalidArgumentError(
        absl::StrCat(reader.path(), ": tensor '", e.name,
                     "' contains NaN or infinite values"));
  }
  return t;
}

// lm_head.weight, when present, must be a copy of wte (the engine's head is
// tied).
absl::Status CheckLmHead(
    const SafetensorsReader& reader,
    const std::map<std::string, const SafetensorsEntry*>& names,
    const ModelWeights& w) {
  if (names.count("lm_head.weight") == 0) return absl::OkStatus();
  absl::StatusOr<torch::Tensor> head =
      ReadParam(reader, names, "lm_head.weight", w.wte.sizes().vec(),
                "vocab_size, n_embd");
  if (!head.ok()) return head.status();
  if (!torch::equal(*head, w.wte)) {
    return absl::InvalidArgumentError(
        absl::StrCat(reader.path(),
                     ": tensor 'lm_head.weight' differs from wte.weight; "
                     "only GPT-2 with a tied LM head is supported"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelWeights> LoadUnsafe(const std::string& dir) {
  absl::StatusOr<ModelConfig> config = ReadModelConfig(Join(dir, kConfigFile));
  if (!config.ok()) return config.status();
  absl::StatusOr<std::unique_ptr<SafetensorsReader>> reader =
      SafetensorsReader::Open(Join(dir, kWeightsFile));
  if (!reader.ok()) return reader.status();
  auto names = CanonicalNames(**reader, *config);
  if (!names.ok()) return names.status();
  ModelWeights w;
  w.config = *config;
  w.blocks.resize(config->n_layer);
  for (ParamRef& p : Params(&w)) {
    absl::StatusOr<torch::Tensor> t =
        ReadParam(**reader, *names, p.name, p.shape, p.dims);
    if (!t.ok()) return t.status();
    *p.tensor = *std::move(t);
  }
  absl::Status s = CheckLmHead(**reader, *names, w);
  if (!s.ok()) return s;
  return w;
}

torch::ScalarType TorchType(DType dtype) {
  switch (dtype) {
    case DType::kBFloat16:
      return torch::kBFloat16;
    case DType::kFloat16:
      return torch::kHalf;
    case DType::kFloat32:
    default:
      return torch::kFloat;
  }
}

absl::Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::InternalError(path + ": write failed");
  return absl::OkStatus();
}

absl::Status CopyTokenizer(const std::string& from, const std::string& to) {
  for (const char* file : {kVocabFile, kMergesFile}) {
    std::error_code ec;
    std::filesystem::copy_file(
        Join(from, file), Join(to, file),
        std::filesystem::copy_options::overwrite_existing, ec);
    if (ec) {
      return absl::InternalError(absl::StrCat("copying ", Join(from, file),
                                              " to ", to, ": ", ec.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ModelWeights> LoadCheckpoint(const std::string& dir) {
  try {
    return LoadUnsafe(dir);
  } catch (
      const std::exception& e) {  // c10::Error derives from std::exception.
    return absl::InternalError(
        absl::StrCat(dir, ": loading the checkpoint failed: ", e.what()));
  }
}

absl::Status ValidateModelWeights(const ModelWeights& weights) {
  absl::Status s = ValidateModelConfig(weights.config);
  if (!s.ok()) return s;
  if (static_cast<int>(weights.blocks.size()) != weights.config.n_layer) {
    return absl::InvalidArgumentError(
        absl::StrCat("weights have ", weights.blocks.size(),
                     " blocks but n_layer is ", weights.config.n_layer));
  }
  ModelWeights view = weights;  // Shallow: tensors share storage.
  for (const ParamRef& p : Params(&view)) {
    if (!p.tensor->defined() || !p.tensor->is_floating_point()) {
      return absl::InvalidArgumentError("tensor '" + p.name +
                                        "' is undefined or not floating");
    }
    if (p.tensor->sizes().vec() != p.shape) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", p.name, "' has shape ",
          ShapeString(p.tensor->sizes().vec()), " but the config (", p.dims,
          ") implies ", ShapeString(p.shape)));
    }
  }
  return absl::OkStatus();
}

absl::Status SaveCheckpoint(const std::string& dir, const ModelWeights& weights,
                            const SaveOptions& options) {
  absl::Status s = ValidateModelWeights(weights);
  if (!s.ok())
    return absl::InvalidArgumentError(absl::StrCat(dir, ": ", s.message()));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return absl::InternalError(
        absl::StrCat(dir, ": cannot create: ", ec.message()));
  s = WriteText(Join(dir, kConfigFile), ModelConfigToJson(weights.config));
  if (!s.ok()) return s;
  ModelWeights view = weights;
  std::vector<NamedTensor> tensors;
  for (const ParamRef& p : Params(&view))
    tensors.push_back({p.name, *p.tensor});
  s = WriteSafetensors(Join(dir, kWeightsFile), tensors,
                       TorchType(options.dtype));
  if (!s.ok()) return s;
  if (!options.tokenizer_dir.empty())
    return CopyTokenizer(options.tokenizer_dir, dir);
  return absl::OkStatus();
}

}  // namespace ablate::engine
