// Copyright: the ablate authors.
//
// config.json of every family: real configs as published (Pythia, Llama 3.2,
// TinyLlama, Mistral 7B, Qwen2 0.5B; abridged to the fields that matter plus
// some that do not) parse to the right ModelConfig; unsupported features are
// errors naming the field; harmless fields at harmless values are accepted;
// ModelConfigToJson reads back to the same config.
#include "worker/engine/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace ablate::engine {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using Json = nlohmann::json;

Json Pythia160m() {
  return Json::parse(R"({
    "architectures": ["GPTNeoXForCausalLM"], "bos_token_id": 0,
    "eos_token_id": 0, "hidden_act": "gelu", "hidden_size": 768,
    "initializer_range": 0.02, "intermediate_size": 3072,
    "layer_norm_eps": 1e-05, "max_position_embeddings": 2048,
    "model_type": "gpt_neox", "num_attention_heads": 12,
    "num_hidden_layers": 12, "rotary_emb_base": 10000, "rotary_pct": 0.25,
    "tie_word_embeddings": false, "torch_dtype": "float16",
    "transformers_version": "4.24.0", "use_cache": true,
    "use_parallel_residual": true, "vocab_size": 50304})");
}

Json Llama32_1b() {
  return Json::parse(R"({
    "architectures": ["LlamaForCausalLM"], "attention_bias": false,
    "attention_dropout": 0.0, "bos_token_id": 128000, "eos_token_id": 128001,
    "head_dim": 64, "hidden_act": "silu", "hidden_size": 2048,
    "initializer_range": 0.02, "intermediate_size": 8192,
    "max_position_embeddings": 131072, "mlp_bias": false,
    "model_type": "llama", "num_attention_heads": 32,
    "num_hidden_layers": 16, "num_key_value_heads": 8, "pretraining_tp": 1,
    "rms_norm_eps": 1e-05,
    "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0,
                     "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192,
                     "rope_type": "llama3"},
    "rope_theta": 500000.0, "tie_word_embeddings": true,
    "torch_dtype": "bfloat16", "use_cache": true, "vocab_size": 128256})");
}

Json TinyLlama() {
  return Json::parse(R"({
    "architectures": ["LlamaForCausalLM"], "bos_token_id": 1,
    "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 2048,
    "initializer_range": 0.02, "intermediate_size": 5632,
    "max_position_embeddings": 2048, "model_type": "llama",
    "num_attention_heads": 32, "num_hidden_layers": 22,
    "num_key_value_heads": 4, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
    "rope_scaling": null, "tie_word_embeddings": false,
    "torch_dtype": "bfloat16", "use_cache": true, "vocab_size": 32000})");
}

Json Mistral7b() {
  return Json::parse(R"({
    "architectures": ["MistralForCausalLM"], "bos_token_id": 1,
    "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 4096,
    "initializer_range": 0.02, "intermediate_size": 14336,
    "max_position_embeddings": 32768, "model_type": "mistral",
    "num_attention_heads": 32, "num_hidden_layers": 32,
    "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
    "sliding_window": 4096, "tie_word_embeddings": false,
    "torch_dtype": "bfloat16", "use_cache": true, "vocab_size": 32000})");
}

Json Qwen2_05b() {
  return Json::parse(R"({
    "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0,
    "bos_token_id": 151643, "eos_token_id": 151643, "hidden_act": "silu",
    "hidden_size": 896, "initializer_range": 0.02, "intermediate_size": 4864,
    "max_position_embeddings": 131072, "max_window_layers": 24,
    "model_type": "qwen2", "num_attention_heads": 14,
    "num_hidden_layers": 24, "num_key_value_heads": 2, "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0, "sliding_window": 131072,
    "tie_word_embeddings": true, "torch_dtype": "bfloat16",
    "use_cache": true, "use_sliding_window": false, "vocab_size": 151936})");
}

ModelConfig Parse(const Json& j) {
  absl::StatusOr<ModelConfig> c = ParseModelConfig(j.dump(), "config.json");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : ModelConfig{};
}

std::string Error(const Json& j) {
  absl::StatusOr<ModelConfig> c = ParseModelConfig(j.dump(), "config.json");
  EXPECT_FALSE(c.ok());
  return c.ok() ? "" : std::string(c.status().message());
}

TEST(ConfigTest, Pythia) {
  const ModelConfig c = Parse(Pythia160m());
  EXPECT_EQ(c.family, Family::kGptNeox);
  EXPECT_EQ(c.n_layer, 12);
  EXPECT_EQ(c.d_head(), 64);
  EXPECT_EQ(c.rope.rotary_dim, 16);
  EXPECT_EQ(c.rope.theta, 10000);
  EXPECT_TRUE(c.parallel_residual);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.activation, Activation::kGeluExact);
  EXPECT_TRUE(c.qkv_bias && c.o_bias && c.mlp_bias);
  EXPECT_EQ(c.vocab_size, 50304);
  EXPECT_EQ(c.bos_token_id, 0);
  EXPECT_EQ(c.n_positions, 2048);
}

TEST(ConfigTest, LlamaTinyLlamaMistralQwen2) {
  ModelConfig c = Parse(Llama32_1b());
  EXPECT_EQ(c.family, Family::kLlama);
  EXPECT_EQ(c.kv_heads(), 8);
  EXPECT_EQ(c.d_head(), 64);
  EXPECT_EQ(c.rope.rotary_dim, 64);
  EXPECT_EQ(c.rope.scaling, Rope::Scaling::kLlama3);
  EXPECT_EQ(c.rope.factor, 32);
  EXPECT_EQ(c.rope.original_max_position_embeddings, 8192);
  EXPECT_EQ(c.rope.theta, 500000);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_FALSE(c.qkv_bias || c.o_bias || c.mlp_bias);
  EXPECT_EQ(c.layer_norm_epsilon, 1e-5);
  EXPECT_EQ(c.bos_token_id, 128000);
  c = Parse(TinyLlama());
  EXPECT_EQ(c.kv_heads(), 4);
  EXPECT_EQ(c.rope.scaling, Rope::Scaling::kNone);
  EXPECT_FALSE(c.tie_word_embeddings);
  c = Parse(Mistral7b());
  EXPECT_EQ(c.family, Family::kMistral);
  EXPECT_EQ(c.sliding_window, 4096);
  c = Parse(Qwen2_05b());
  EXPECT_EQ(c.family, Family::kQwen2);
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_FALSE(c.o_bias);
  EXPECT_EQ(c.sliding_window, 0);  // use_sliding_window false
  EXPECT_EQ(c.d_head(), 64);
  EXPECT_EQ(c.rope.theta, 1e6);
}

TEST(ConfigTest, OlderAndNewerSpellings) {
  Json j = Llama32_1b();
  j["rope_scaling"].erase("rope_type");
  j["rope_scaling"]["type"] = "llama3";
  EXPECT_EQ(Parse(j).rope.scaling, Rope::Scaling::kLlama3);
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  EXPECT_EQ(Parse(j).rope.scaling, Rope::Scaling::kLinear);
  j["rope_scaling"] = {{"rope_type", "default"}};
  EXPECT_EQ(Parse(j).rope.scaling, Rope::Scaling::kNone);
  j = Pythia160m();
  j.erase("rotary_pct");
  j.erase("rotary_emb_base");
  j["partial_rotary_factor"] = 0.5;
  j["rope_theta"] = 20000;
  ModelConfig c = Parse(j);
  EXPECT_EQ(c.rope.rotary_dim, 32);
  EXPECT_EQ(c.rope.theta, 20000);
  j = Llama32_1b();
  j.erase("head_dim");
  j["hidden_size"] = 2048 + 16;  // not divisible: head_dim needed
  EXPECT_THAT(Error(j), HasSubstr("not divisible by n_head"));
  j["head_dim"] = 64;  // given explicitly, it may differ from hidden / heads
  EXPECT_EQ(Parse(j).d_head(), 64);
}

TEST(ConfigTest, UnsupportedFeaturesNameTheField) {
  const std::vector<std::pair<std::function<void(Json&)>, std::string>> kCases = {
      {[](Json& j) { j["model_type"] = "gemma"; }, "\"model_type\" is \"gemma\""},
      {[](Json& j) { j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}}; },
       "rope type \"yarn\""},
      {[](Json& j) { j["rope_scaling"] = {{"rope_type", "dynamic"}, {"factor", 4.0}}; },
       "\"rope_scaling\""},
      {[](Json& j) { j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 4.0}}; },
       "low_freq_factor"},
      {[](Json& j) { j["mlp_bias"] = true; }, "\"mlp_bias\""},
      {[](Json& j) { j["hidden_act"] = "gelu"; }, "\"hidden_act\""},
      {[](Json& j) { j["alibi"] = true; }, "\"alibi\""},
      {[](Json& j) { j["partial_rotary_factor"] = 0.5; }, "\"partial_rotary_factor\""},
      {[](Json& j) { j["num_key_value_heads"] = 3; }, "not divisible by n_kv_head"},
      {[](Json& j) { j["final_logit_softcapping"] = 30.0; }, "final_logit_softcapping"},
      {[](Json& j) { j.erase("intermediate_size"); }, "missing \"intermediate_size\""},
      {[](Json& j) { j["rms_norm_eps"] = "x"; }, "\"rms_norm_eps\""},
  };
  for (const auto& [edit, expected] : kCases) {
    Json j = Llama32_1b();
    edit(j);
    EXPECT_THAT(Error(j), AllOf(HasSubstr("config.json"), HasSubstr(expected)))
        << expected;
  }
  Json q = Qwen2_05b();
  q["use_sliding_window"] = true;
  EXPECT_THAT(Error(q), HasSubstr("\"use_sliding_window\""));
  Json p = Pythia160m();
  p["hidden_act"] = "relu";
  EXPECT_THAT(Error(p), HasSubstr("\"hidden_act\" is \"relu\""));
  p = Pythia160m();
  p["rotary_pct"] = 0.0;
  EXPECT_THAT(Error(p), HasSubstr("\"rotary_pct\""));
}

TEST(ConfigTest, HarmlessFieldsAccepted) {
  Json j = Llama32_1b();
  j["pretraining_tp"] = 4;
  j["rope_scaling"] = nullptr;
  j["use_cache"] = false;
  j["attention_dropout"] = 0.1;
  EXPECT_EQ(Parse(j).rope.scaling, Rope::Scaling::kNone);
  Json m = Mistral7b();
  m["sliding_window"] = nullptr;
  EXPECT_EQ(Parse(m).sliding_window, 0);
  Json p = Pythia160m();
  p["use_parallel_residual"] = false;
  p["rope_scaling"] = nullptr;
  EXPECT_FALSE(Parse(p).parallel_residual);
}

TEST(ConfigTest, JsonRoundTripEveryFamily) {
  for (const Json& j :
       {Pythia160m(), Llama32_1b(), TinyLlama(), Mistral7b(), Qwen2_05b()}) {
    const ModelConfig c = Parse(j);
    const ModelConfig back = Parse(Json::parse(ModelConfigToJson(c)));
    EXPECT_EQ(ModelConfigToJson(back), ModelConfigToJson(c));
    EXPECT_EQ(back.family, c.family);
    EXPECT_EQ(back.rope.rotary_dim, c.rope.rotary_dim);
    EXPECT_EQ(back.kv_heads(), c.kv_heads());
  }
}

}  // namespace
}  // namespace ablate::engine
