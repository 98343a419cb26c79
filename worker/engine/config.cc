// Copyright: the ablate authors.
#include "worker/engine/config.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "worker/engine/config_fields.h"

namespace ablate::engine {
namespace {

using internal::Fields;
using internal::Json;

absl::Status Invalid(const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(field, " ", why));
}

absl::Status ValidateRope(const ModelConfig& c) {
  const Rope& r = c.rope;
  if (c.learned_positions()) {
    if (r.rotary_dim != 0)
      return Invalid("rotary_dim", "must be 0 for learned positions");
    return absl::OkStatus();
  }
  if (r.rotary_dim <= 0 || r.rotary_dim % 2 != 0 || r.rotary_dim > c.d_head()) {
    return Invalid("rotary_dim", absl::StrCat("must be even and in [2, d_head = ",
                                              c.d_head(), "], got ",
                                              r.rotary_dim));
  }
  if (!(r.theta > 0) || !std::isfinite(r.theta))
    return Invalid("rope_theta", absl::StrCat("must be positive, got ", r.theta));
  if (r.scaling != Rope::Scaling::kNone && !(r.factor > 0))
    return Invalid("rope_scaling.factor", "must be positive");
  if (r.scaling == Rope::Scaling::kLlama3 &&
      (!(r.high_freq_factor > r.low_freq_factor) || !(r.low_freq_factor > 0) ||
       r.original_max_position_embeddings <= 0)) {
    return Invalid("rope_scaling",
                   "llama3 needs 0 < low_freq_factor < high_freq_factor and "
                   "original_max_position_embeddings > 0");
  }
  return absl::OkStatus();
}

// The shape fields every family has.
absl::Status ValidateSizes(const ModelConfig& c) {
  const std::pair<const char*, int> kSizes[] = {{"n_layer", c.n_layer},
                                                {"n_head", c.n_head},
                                                {"n_embd", c.n_embd},
                                                {"n_positions", c.n_positions},
                                                {"vocab_size", c.vocab_size}};
  for (const auto& [name, value] : kSizes) {
    if (value <= 0)
      return Invalid(name, absl::StrCat("must be positive, got ", value));
  }
  const std::pair<const char*, int> kOptional[] = {
      {"n_kv_head", c.n_kv_head},
      {"head_dim", c.head_dim},
      {"intermediate_size", c.intermediate_size},
      {"sliding_window", c.sliding_window}};
  for (const auto& [name, value] : kOptional) {
    if (value < 0)
      return Invalid(name, absl::StrCat("must be >= 0, got ", value));
  }
  if (c.head_dim == 0 && c.n_embd % c.n_head != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "n_embd (", c.n_embd, ") is not divisible by n_head (", c.n_head, ")"));
  }
  if (c.n_head % c.kv_heads() != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("n_head (", c.n_head, ") is not divisible by n_kv_head (",
                     c.kv_heads(), ")"));
  }
  return absl::OkStatus();
}

// Family-fixed features: which combinations the forward pass implements.
absl::Status ValidateFamily(const ModelConfig& c) {
  const bool gpt2 = c.family == Family::kGpt2;
  const bool neox = c.family == Family::kGptNeox;
  if ((gpt2 || neox) && c.gated_mlp())
    return Invalid("activation", "must be a GELU for gpt2 and gpt_neox");
  if (!gpt2 && !neox && !c.gated_mlp())
    return Invalid("activation", "must be silu for llama, mistral and qwen2");
  if (!neox && c.parallel_residual)
    return Invalid("parallel_residual", "is a gpt_neox feature");
  if (c.family != Family::kMistral && c.sliding_window != 0)
    return Invalid("sliding_window", "is a mistral feature");
  if (gpt2 && (c.n_kv_head != 0 && c.n_kv_head != c.n_head))
    return Invalid("n_kv_head", "must equal n_head for gpt2");
  return absl::OkStatus();
}

}  // namespace

std::string FamilyName(Family family) {
  switch (family) {
    case Family::kGpt2:
      return "gpt2";
    case Family::kGptNeox:
      return "gpt_neox";
    case Family::kLlama:
      return "llama";
    case Family::kMistral:
      return "mistral";
    case Family::kQwen2:
      return "qwen2";
  }
  return "unknown";
}

absl::StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text,
                                             const std::string& source) {
  Json j;
  try {
    j = Json::parse(json_text);
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": bad JSON: ", e.what()));
  }
  if (!j.is_object())
    return absl::InvalidArgumentError(source + ": not a JSON object");
  Fields f(j, source);
  std::string type = "gpt2";
  f.String("model_type", &type);
  ModelConfig c;
  if (type == "gpt2") {
    internal::ParseGpt2Fields(&f, &c);
  } else if (type == "gpt_neox") {
    internal::ParseNeoxFields(&f, &c);
  } else if (type == "llama" || type == "mistral" || type == "qwen2") {
    c.family = type == "llama"     ? Family::kLlama
               : type == "mistral" ? Family::kMistral
                                   : Family::kQwen2;
    internal::ParseLlamaFields(&f, &c);
  } else {
    f.Fail("model_type",
           "not supported (supported: gpt2, gpt_neox, llama, mistral, qwen2)");
  }
  internal::RejectForeignFeatures(&f);
  if (const Json* bos = f.Get("bos_token_id"); bos && bos->is_number_integer())
    c.bos_token_id = bos->get<int>();
  if (!f.ok()) return f.status();
  absl::Status s = ValidateModelConfig(c);
  if (!s.ok())
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", s.message()));
  return c;
}

absl::StatusOr<ModelConfig> ReadModelConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::NotFoundError(path + ": cannot open (missing config.json?)");
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::InternalError(path + ": read failed");
  return ParseModelConfig(text.str(), path);
}

absl::Status ValidateModelConfig(const ModelConfig& c) {
  absl::Status s = ValidateSizes(c);
  if (!s.ok()) return s;
  if (!(c.layer_norm_epsilon > 0) || !std::isfinite(c.layer_norm_epsilon)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "layer_norm_epsilon must be positive, got ", c.layer_norm_epsilon));
  }
  s = ValidateFamily(c);
  if (!s.ok()) return s;
  return ValidateRope(c);
}

}  // namespace ablate::engine
