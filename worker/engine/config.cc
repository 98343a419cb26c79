// Copyright: the ablate authors.
#include "worker/engine/config.h"

#include <climits>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace ablate::engine {
namespace {

using Json = nlohmann::json;

// Reads the positive integer `key` into *out. Absent keys are an error only if
// `required`.
absl::Status GetPositiveInt(const Json& j, const char* key, bool required,
                            const std::string& source, int* out) {
  if (!j.contains(key) || j[key].is_null()) {
    if (!required) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": missing \"", key, "\""));
  }
  const Json& v = j[key];
  if (!v.is_number_integer() || v.get<int64_t>() <= 0 ||
      v.get<int64_t>() > INT_MAX) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": \"", key, "\" must be a positive integer, got ", v.dump()));
  }
  *out = static_cast<int>(v.get<int64_t>());
  return absl::OkStatus();
}

// Errors unless `key` is absent, null, or one of the accepted values.
absl::Status ExpectOneOf(const Json& j, const char* key,
                         const std::vector<Json>& accepted,
                         const std::string& source, const char* why) {
  if (!j.contains(key) || j[key].is_null()) return absl::OkStatus();
  for (const Json& a : accepted) {
    if (j[key] == a) return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat(source, ": \"", key, "\" is ", j[key].dump(), ": ", why));
}

absl::Status CheckUnsupported(const Json& j, const ModelConfig& c,
                              const std::string& source) {
  const std::pair<const char*, std::vector<Json>> kFixed[] = {
      {"model_type", {"gpt2"}},
      {"activation_function", {"gelu_new", "gelu_pytorch_tanh"}},
      {"scale_attn_weights", {true}},
      {"scale_attn_by_inverse_layer_idx", {false}},
      {"tie_word_embeddings", {true}},
      {"n_inner", {4 * static_cast<int64_t>(c.n_embd)}},
  };
  for (const auto& [key, accepted] : kFixed) {
    absl::Status s = ExpectOneOf(
        j, key, accepted, source,
        "this engine only runs GPT-2 with tanh GELU, a tied LM head, "
        "n_inner = 4 * n_embd and 1/sqrt(d_head) attention scaling");
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

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
  ModelConfig c;
  for (auto [key, field] : {std::pair<const char*, int*>{"n_layer", &c.n_layer},
                            {"n_head", &c.n_head},
                            {"n_embd", &c.n_embd},
                            {"vocab_size", &c.vocab_size}}) {
    absl::Status s = GetPositiveInt(j, key, /*required=*/true, source, field);
    if (!s.ok()) return s;
  }
  const bool has_positions =
      j.contains("n_positions") && !j["n_positions"].is_null();
  absl::Status s = GetPositiveInt(j, has_positions ? "n_positions" : "n_ctx",
                                  true, source, &c.n_positions);
  if (!s.ok()) return s;
  if (j.contains("layer_norm_epsilon")) {
    if (!j["layer_norm_epsilon"].is_number()) {
      return absl::InvalidArgumentError(
          source + ": \"layer_norm_epsilon\" is not a number");
    }
    c.layer_norm_epsilon = j["layer_norm_epsilon"].get<double>();
  }
  s = CheckUnsupported(j, c, source);
  if (!s.ok()) return s;
  s = ValidateModelConfig(c);
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
  const std::pair<const char*, int> kSizes[] = {{"n_layer", c.n_layer},
                                                {"n_head", c.n_head},
                                                {"n_embd", c.n_embd},
                                                {"n_positions", c.n_positions},
                                                {"vocab_size", c.vocab_size}};
  for (const auto& [name, value] : kSizes) {
    if (value <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " must be positive, got ", value));
    }
  }
  if (c.n_embd % c.n_head != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "n_embd (", c.n_embd, ") is not divisible by n_head (", c.n_head, ")"));
  }
  if (!(c.layer_norm_epsilon > 0) || !std::isfinite(c.layer_norm_epsilon)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "layer_norm_epsilon must be positive, got ", c.layer_norm_epsilon));
  }
  return absl::OkStatus();
}

std::string ModelConfigToJson(const ModelConfig& c) {
  nlohmann::ordered_json j;
  j["activation_function"] = "gelu_new";
  j["architectures"] = {"GPT2LMHeadModel"};
  if (c.vocab_size == 50257) {
    j["bos_token_id"] = 50256;
    j["eos_token_id"] = 50256;
  }
  j["layer_norm_epsilon"] = c.layer_norm_epsilon;
  j["model_type"] = "gpt2";
  j["n_ctx"] = c.n_positions;
  j["n_embd"] = c.n_embd;
  j["n_head"] = c.n_head;
  j["n_inner"] = nullptr;
  j["n_layer"] = c.n_layer;
  j["n_positions"] = c.n_positions;
  j["scale_attn_by_inverse_layer_idx"] = false;
  j["scale_attn_weights"] = true;
  j["tie_word_embeddings"] = true;
  j["vocab_size"] = c.vocab_size;
  return j.dump(2) + "\n";
}

}  // namespace ablate::engine
