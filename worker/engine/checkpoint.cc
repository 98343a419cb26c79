// Copyright: the ablate authors.
#include "worker/engine/checkpoint.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "worker/engine/checkpoint_files.h"
#include "worker/engine/checkpoint_layout.h"
#include "worker/engine/config.h"
#include "worker/engine/safetensors.h"

namespace ablate::engine {
namespace {

using internal::CheckpointFiles;
using internal::HfTensor;
using internal::SlotLayout;
using internal::TensorRef;
using Names = std::map<std::string, TensorRef>;

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

std::string Join(const std::string& dir, const std::string& file) {
  return (std::filesystem::path(dir) / file).string();
}

// Maps unprefixed names to their tensors, dropping buffers. Errors on a name
// present with and without the prefix, on tensors of layers the config does
// not have, and on unknown tensors inside a layer (ignoring one could change
// the numbers).
absl::StatusOr<Names> CanonicalNames(const CheckpointFiles& files,
                                     const ModelConfig& config,
                                     const std::set<std::string>& known) {
  const std::string prefix = internal::BasePrefix(config.family);
  Names out;
  for (const auto& [name, ref] : files.tensors()) {
    std::string canon = name;
    if (absl::StartsWith(canon, prefix)) canon = canon.substr(prefix.size());
    if (internal::IsBuffer(config.family, canon)) continue;
    const std::string& path = ref.reader->path();
    const int layer = internal::LayerOf(config.family, canon);
    if (layer >= config.n_layer) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": tensor '", name, "' belongs to layer ", layer,
          " but config.json has n_layer = ", config.n_layer));
    }
    if (layer >= 0 && known.count(canon) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": unexpected tensor '", name, "' for a ",
          FamilyName(config.family),
          " model with this config.json (refusing to ignore it)"));
    }
    auto [it, inserted] = out.emplace(canon, ref);
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": tensor '", canon,
                       "' is present both with and without the '", prefix,
                       "' prefix"));
    }
  }
  return out;
}

// Reads one file tensor as float32 after checking presence, shape and
// finiteness.
absl::StatusOr<torch::Tensor> ReadPart(const CheckpointFiles& files,
                                       const Names& names, const HfTensor& part,
                                       const std::string& dims,
                                       const std::string& prefix) {
  auto it = names.find(part.name);
  if (it == names.end()) {
    return absl::NotFoundError(absl::StrCat(
        files.path(), ": tensor '", part.name, "' is missing (looked for '",
        part.name, "' and '", prefix, part.name, "')"));
  }
  const SafetensorsReader& reader = *it->second.reader;
  const SafetensorsEntry& e = *it->second.entry;
  if (e.shape != part.shape) {
    return absl::InvalidArgumentError(
        absl::StrCat(reader.path(), ": tensor '", e.name, "' has shape ",
                     ShapeString(e.shape), " but config.json (", dims,
                     ") implies ", ShapeString(part.shape)));
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

// A tied model's file may still hold the head: it must then equal the
// embedding exactly (an untied head would make every number silently wrong).
absl::Status CheckTiedHead(const CheckpointFiles& files, const Names& names,
                           const ModelWeights& w) {
  const bool neox = w.config.family == Family::kGptNeox;
  const std::string head = neox ? "embed_out.weight" : "lm_head.weight";
  if (!w.config.tie_word_embeddings || names.count(head) == 0)
    return absl::OkStatus();
  absl::StatusOr<torch::Tensor> t =
      ReadPart(files, names, {head, w.wte.sizes().vec()}, "vocab_size, n_embd",
               "");
  if (!t.ok()) return t.status();
  if (!torch::equal(*t, w.wte)) {
    return absl::InvalidArgumentError(absl::StrCat(
        files.path(), ": tensor '", head,
        "' differs from the token embedding, but config.json says "
        "tie_word_embeddings (a tied LM head)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelWeights> LoadUnsafe(const std::string& dir) {
  absl::StatusOr<ModelConfig> config = ReadModelConfig(Join(dir, kConfigFile));
  if (!config.ok()) return config.status();
  absl::StatusOr<std::unique_ptr<CheckpointFiles>> files =
      CheckpointFiles::Open(dir);
  if (!files.ok()) return files.status();
  ModelWeights w;
  w.config = *config;
  w.blocks.resize(config->n_layer);
  std::vector<SlotLayout> layout = internal::HfLayout(&w);
  std::set<std::string> known;
  for (const SlotLayout& s : layout) {
    for (const HfTensor& p : s.parts) known.insert(p.name);
  }
  absl::StatusOr<Names> names = CanonicalNames(**files, *config, known);
  if (!names.ok()) return names.status();
  const std::string prefix = internal::BasePrefix(config->family);
  for (const SlotLayout& s : layout) {
    std::vector<torch::Tensor> parts;
    for (const HfTensor& p : s.parts) {
      absl::StatusOr<torch::Tensor> t =
          ReadPart(**files, *names, p, s.slot.dims, prefix);
      if (!t.ok()) return t.status();
      parts.push_back(*std::move(t));
    }
    *s.slot.tensor = internal::ToInternal(s, parts, *config);
  }
  absl::Status st = CheckTiedHead(**files, *names, w);
  if (!st.ok()) return st;
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
  // Every tokenizer file the source has; it must have one of the two tokenizers
  // the engine reads (tokenizer.json, or vocab.json + merges.txt).
  auto has = [&](const char* file) {
    std::error_code ec;
    return std::filesystem::is_regular_file(Join(from, file), ec);
  };
  if (!has("tokenizer.json") && !(has(kVocabFile) && has(kMergesFile))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tokenizer folder ", from, " has neither tokenizer.json nor ", kVocabFile,
        " + ", kMergesFile));
  }
  for (const char* file : {"tokenizer.json", "tokenizer_config.json",
                           "special_tokens_map.json", kVocabFile, kMergesFile}) {
    if (!has(file)) continue;
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

// The file tensors of `weights` with their Hugging Face names: GPT-2
// unprefixed (as Hub files are), the others with the base-model prefix
// save_pretrained writes.
std::vector<NamedTensor> HfTensors(const ModelWeights& weights) {
  ModelWeights view = weights;  // shallow: tensors share storage
  const Family family = weights.config.family;
  const std::string prefix =
      family == Family::kGpt2 ? "" : internal::BasePrefix(family);
  std::vector<NamedTensor> out;
  for (const SlotLayout& s : internal::HfLayout(&view)) {
    std::vector<torch::Tensor> parts =
        internal::ToHf(s, *s.slot.tensor, weights.config);
    for (size_t i = 0; i < parts.size(); ++i) {
      const std::string& name = s.parts[i].name;
      const bool top = name == "lm_head.weight" || name == "embed_out.weight";
      out.push_back({(top ? "" : prefix) + name, parts[i]});
    }
  }
  return out;
}

// Writes the tensors as shards of at most max_bytes each (at least one
// tensor per shard) plus model.safetensors.index.json.
absl::Status WriteShards(const std::string& dir,
                         const std::vector<NamedTensor>& tensors,
                         torch::ScalarType dtype, int64_t max_bytes) {
  const int64_t elem = c10::elementSize(dtype);
  std::vector<std::vector<NamedTensor>> shards(1);
  int64_t bytes = 0, total = 0;
  for (const NamedTensor& t : tensors) {
    const int64_t n = t.tensor.numel() * elem;
    if (!shards.back().empty() && bytes + n > max_bytes) {
      shards.emplace_back();
      bytes = 0;
    }
    shards.back().push_back(t);
    bytes += n;
    total += n;
  }
  nlohmann::ordered_json index;
  index["metadata"]["total_size"] = total;
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string file = absl::StrFormat("model-%05d-of-%05d.safetensors",
                                             i + 1, shards.size());
    absl::Status s = WriteSafetensors(Join(dir, file), shards[i], dtype);
    if (!s.ok()) return s;
    for (const NamedTensor& t : shards[i]) index["weight_map"][t.name] = file;
  }
  return WriteText(Join(dir, internal::kWeightsIndexFile), index.dump(2) + "\n");
}

}  // namespace

absl::StatusOr<ModelWeights> LoadCheckpoint(const std::string& dir) {
  try {
    return LoadUnsafe(dir);
  } catch (const std::exception& e) {  // c10::Error derives from it
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
  ModelWeights view = weights;  // shallow: tensors share storage
  for (const WeightSlot& p : WeightSlots(&view)) {
    if (p.shape.empty()) {
      if (!p.tensor->defined()) continue;
      return absl::InvalidArgumentError(
          "tensor '" + p.name + "' must be absent for this config");
    }
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
  const std::vector<NamedTensor> tensors = HfTensors(weights);
  const torch::ScalarType dtype = TorchType(options.dtype);
  s = options.max_shard_bytes > 0
          ? WriteShards(dir, tensors, dtype, options.max_shard_bytes)
          : WriteSafetensors(Join(dir, kWeightsFile), tensors, dtype);
  if (!s.ok()) return s;
  if (!options.tokenizer_dir.empty())
    return CopyTokenizer(options.tokenizer_dir, dir);
  return absl::OkStatus();
}

}  // namespace ablate::engine
