// Copyright: the ablate authors.
//
// Checkpoints of the non-GPT-2 families: the Hugging Face tensor layout
// (NeoX's per-head fused query_key_value, Llama's separate q/k/v and
// gate/up projections) checked against hand-placed values; save / load round
// trips for every family (F32 exact, F16 / BF16 rounded, sharded); and the
// named errors of bad checkpoints.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <functional>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "worker/engine/checkpoint.h"
#include "worker/engine/config.h"
#include "worker/engine/model.h"
#include "worker/engine/model_random.h"
#include "worker/engine/safetensors.h"

namespace ablate::engine {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using Json = nlohmann::json;

ModelConfig Neox() {
  ModelConfig c;
  c.family = Family::kGptNeox;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_embd = 8;
  c.n_positions = 16;
  c.vocab_size = 11;
  c.intermediate_size = 12;
  c.activation = Activation::kGeluExact;
  c.tie_word_embeddings = false;
  c.parallel_residual = true;
  c.rope.rotary_dim = 2;
  return c;
}

ModelConfig Llama(Family family) {
  ModelConfig c;
  c.family = family;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_kv_head = 2;
  c.n_embd = 8;
  c.n_positions = 16;
  c.vocab_size = 11;
  c.intermediate_size = 6;
  c.activation = Activation::kSilu;
  c.mlp_bias = false;
  c.qkv_bias = family == Family::kQwen2;
  c.o_bias = false;
  c.tie_word_embeddings = family == Family::kQwen2;
  c.layer_norm_epsilon = 1e-6;
  c.rope.rotary_dim = 2;
  if (family == Family::kMistral) c.sliding_window = 5;
  c.rope.rotary_dim = c.d_head();
  return c;
}

std::vector<ModelConfig> AllFamilies() {
  ModelConfig gpt2{2, 2, 8, 16, 11, 1e-5};
  return {gpt2, Neox(), Llama(Family::kLlama), Llama(Family::kMistral),
          Llama(Family::kQwen2)};
}

void ExpectSameWeights(ModelWeights a, ModelWeights b, double rtol) {
  std::vector<WeightSlot> sa = WeightSlots(&a), sb = WeightSlots(&b);
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    ASSERT_EQ(sa[i].tensor->defined(), sb[i].tensor->defined()) << sa[i].name;
    if (!sa[i].tensor->defined()) continue;
    if (rtol == 0) {
      EXPECT_TRUE(torch::equal(*sa[i].tensor, *sb[i].tensor)) << sa[i].name;
    } else {
      EXPECT_TRUE(torch::allclose(*sa[i].tensor, *sb[i].tensor, rtol, 1e-6))
          << sa[i].name;
    }
  }
}

class FamilyCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() /
            ("ablate_famckpt_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string LoadError() {
    absl::StatusOr<ModelWeights> w = LoadCheckpoint(dir_);
    EXPECT_FALSE(w.ok());
    return w.ok() ? "" : std::string(w.status().message());
  }
  void WriteConfig(const ModelConfig& c) {
    std::ofstream(dir_ + "/config.json") << ModelConfigToJson(c);
  }
  void WriteTensors(const std::vector<NamedTensor>& t) {
    ASSERT_TRUE(
        WriteSafetensors(dir_ + "/model.safetensors", t, torch::kFloat).ok());
  }

  std::string dir_;
};

TEST_F(FamilyCheckpointTest, RoundTripEveryFamilyAndDtype) {
  for (const ModelConfig& c : AllFamilies()) {
    const ModelWeights w = RandomWeights(c, 3, RandomInit{0.5, 0.2, 0.1});
    for (DType dtype : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
      std::filesystem::remove_all(dir_);
      SaveOptions o;
      o.dtype = dtype;
      ASSERT_TRUE(SaveCheckpoint(dir_, w, o).ok()) << FamilyName(c.family);
      absl::StatusOr<ModelWeights> back = LoadCheckpoint(dir_);
      ASSERT_TRUE(back.ok()) << back.status();
      EXPECT_EQ(ModelConfigToJson(back->config), ModelConfigToJson(c));
      ExpectSameWeights(w, *back,
                        dtype == DType::kFloat32   ? 0
                        : dtype == DType::kFloat16 ? 1e-3
                                                   : 8e-3);
    }
  }
}

TEST_F(FamilyCheckpointTest, ShardedRoundTripEqualsSingleFile) {
  for (const ModelConfig& c : AllFamilies()) {
    const ModelWeights w = RandomWeights(c, 4, RandomInit{0.5, 0.2, 0.1});
    std::filesystem::remove_all(dir_);
    SaveOptions o;
    o.max_shard_bytes = 600;
    ASSERT_TRUE(SaveCheckpoint(dir_, w, o).ok());
    EXPECT_FALSE(std::filesystem::exists(dir_ + "/model.safetensors"));
    int shards = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_))
      shards += e.path().filename().string().rfind("model-0", 0) == 0;
    EXPECT_GT(shards, 2) << FamilyName(c.family);
    absl::StatusOr<ModelWeights> back = LoadCheckpoint(dir_);
    ASSERT_TRUE(back.ok()) << back.status();
    ExpectSameWeights(w, *back, 0);
  }
}

// Pythia's query_key_value rows are [head, (q, k, v), d_head]: row
// h * 3 * dh + i * dh + j is part i (q, k, v) of head h, dim j.
TEST_F(FamilyCheckpointTest, NeoxFusedQkvIsPerHead) {
  const ModelConfig c = Neox();
  ModelWeights w = RandomWeights(c, 5);
  SaveOptions o;
  ASSERT_TRUE(SaveCheckpoint(dir_, w, o).ok());
  auto reader = SafetensorsReader::Open(dir_ + "/model.safetensors");
  ASSERT_TRUE(reader.ok());
  const SafetensorsEntry* e =
      (*reader)->Find("gpt_neox.layers.1.attention.query_key_value.weight");
  ASSERT_NE(e, nullptr);
  torch::Tensor hf = *(*reader)->ReadFloat32(*e);  // [3d, d] nn.Linear
  const int64_t dh = 4, d = 8;
  for (int64_t h = 0; h < 2; ++h) {
    for (int64_t i = 0; i < 3; ++i) {
      for (int64_t j = 0; j < dh; ++j) {
        // Internal column of part i, head h, dim j: i * d + h * dh + j.
        EXPECT_TRUE(torch::equal(
            hf[h * 3 * dh + i * dh + j],
            w.blocks[1].attn_c_attn_weight.select(1, i * d + h * dh + j)));
      }
    }
  }
  EXPECT_NE((*reader)->Find("embed_out.weight"), nullptr);
  EXPECT_NE((*reader)->Find("gpt_neox.embed_in.weight"), nullptr);
}

// Llama's projections are nn.Linear [out, in]: q_proj row r is internal
// column r of c_attn; k_proj and v_proj follow; gate then up in c_fc.
TEST_F(FamilyCheckpointTest, LlamaProjectionsAreConcatenatedAndTransposed) {
  const ModelConfig c = Llama(Family::kQwen2);
  std::vector<NamedTensor> t;
  torch::manual_seed(1);
  auto r = [](std::vector<int64_t> s) { return torch::randn(s); };
  const int64_t d = 8, q = 8, kv = 4, ff = 6, V = 11;
  t.push_back({"model.embed_tokens.weight", r({V, d})});
  t.push_back({"model.norm.weight", r({d})});
  for (int l = 0; l < 2; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    for (const auto& [name, shape] :
         std::vector<std::pair<std::string, std::vector<int64_t>>>{
             {"input_layernorm.weight", {d}},
             {"post_attention_layernorm.weight", {d}},
             {"self_attn.q_proj.weight", {q, d}},
             {"self_attn.k_proj.weight", {kv, d}},
             {"self_attn.v_proj.weight", {kv, d}},
             {"self_attn.q_proj.bias", {q}},
             {"self_attn.k_proj.bias", {kv}},
             {"self_attn.v_proj.bias", {kv}},
             {"self_attn.o_proj.weight", {d, q}},
             {"mlp.gate_proj.weight", {ff, d}},
             {"mlp.up_proj.weight", {ff, d}},
             {"mlp.down_proj.weight", {d, ff}},
             {"self_attn.rotary_emb.inv_freq", {1}}}) {
      t.push_back({p + name, r(shape)});
    }
  }
  WriteConfig(c);
  WriteTensors(t);
  absl::StatusOr<ModelWeights> w = LoadCheckpoint(dir_);
  ASSERT_TRUE(w.ok()) << w.status();
  auto find = [&](const std::string& n) {
    for (const NamedTensor& x : t)
      if (x.name == n) return x.tensor;
    return torch::Tensor();
  };
  const BlockWeights& b = w->blocks[1];
  const std::string p = "model.layers.1.";
  EXPECT_TRUE(torch::equal(b.attn_c_attn_weight.slice(1, 0, q),
                           find(p + "self_attn.q_proj.weight").t()));
  EXPECT_TRUE(torch::equal(b.attn_c_attn_weight.slice(1, q + kv, q + 2 * kv),
                           find(p + "self_attn.v_proj.weight").t()));
  EXPECT_TRUE(torch::equal(b.attn_c_attn_bias.slice(0, q, q + kv),
                           find(p + "self_attn.k_proj.bias")));
  EXPECT_TRUE(torch::equal(b.mlp_c_fc_weight.slice(1, ff, 2 * ff),
                           find(p + "mlp.up_proj.weight").t()));
  EXPECT_TRUE(torch::equal(b.mlp_c_proj_weight, find(p + "mlp.down_proj.weight").t()));
  EXPECT_FALSE(w->lm_head.defined());  // tied (Qwen2 small models)
  // An evaluable model.
  EXPECT_TRUE(Model::Create(*w, EngineOptions{}).ok());
}

TEST_F(FamilyCheckpointTest, HeadRules) {
  ModelConfig c = Llama(Family::kLlama);  // untied
  ModelWeights w = RandomWeights(c, 6);
  ASSERT_TRUE(SaveCheckpoint(dir_, w).ok());
  // Untied: the head must be there.
  auto reader = SafetensorsReader::Open(dir_ + "/model.safetensors");
  std::vector<NamedTensor> t;
  for (const auto& [name, e] : (*reader)->entries())
    if (name != "lm_head.weight") t.push_back({name, *(*reader)->ReadFloat32(e)});
  reader->reset();
  WriteTensors(t);
  EXPECT_THAT(LoadError(), HasSubstr("'lm_head.weight' is missing"));
  // Tied: a head that differs from the embedding is an error.
  c.tie_word_embeddings = true;
  WriteConfig(c);
  t.push_back({"lm_head.weight", torch::ones({11, 8})});
  WriteTensors(t);
  EXPECT_THAT(LoadError(), HasSubstr("'lm_head.weight' differs"));
}

TEST_F(FamilyCheckpointTest, UnknownLayerTensorsBuffersAndPrefixes) {
  const ModelConfig c = Neox();
  ModelWeights w = RandomWeights(c, 7);
  ASSERT_TRUE(SaveCheckpoint(dir_, w).ok());
  auto reader = SafetensorsReader::Open(dir_ + "/model.safetensors");
  std::vector<NamedTensor> t;
  for (const auto& [name, e] : (*reader)->entries()) {
    std::string n = name;
    if (n.rfind("gpt_neox.layers.0.", 0) == 0) n = n.substr(9);  // unprefixed
    t.push_back({n, *(*reader)->ReadFloat32(e)});
  }
  reader->reset();
  t.push_back({"gpt_neox.layers.0.attention.bias", torch::ones({1, 1, 4, 4})});
  t.push_back({"gpt_neox.layers.1.attention.masked_bias", torch::ones({1})});
  t.push_back({"gpt_neox.layers.1.attention.rotary_emb.inv_freq",
               torch::ones({1})});
  t.push_back({"score.weight", torch::ones({2, 8})});  // a task head: ignored
  WriteTensors(t);
  absl::StatusOr<ModelWeights> back = LoadCheckpoint(dir_);
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSameWeights(w, *back, 0);
  t.push_back({"gpt_neox.layers.1.attention.q_norm.weight", torch::ones({4})});
  WriteTensors(t);
  EXPECT_THAT(LoadError(), AllOf(HasSubstr("unexpected tensor"),
                                 HasSubstr("layers.1.attention.q_norm")));
  t.pop_back();
  t.push_back({"layers.1.input_layernorm.bias", torch::ones({8})});
  WriteTensors(t);
  EXPECT_THAT(LoadError(), HasSubstr("both with and without"));
}

TEST_F(FamilyCheckpointTest, BadShardIndexes) {
  const ModelConfig c = Llama(Family::kMistral);
  const ModelWeights w = RandomWeights(c, 8);
  SaveOptions o;
  o.max_shard_bytes = 400;
  const std::string index = dir_ + "/model.safetensors.index.json";
  auto edit = [&](const std::function<void(Json&)>& f) {
    std::filesystem::remove_all(dir_);
    ASSERT_TRUE(SaveCheckpoint(dir_, w, o).ok());
    std::ifstream in(index);
    Json j = Json::parse(in);
    f(j);
    std::ofstream(index) << j.dump();
  };
  edit([](Json& j) { j["weight_map"]["model.norm.weight"] = "../x.safetensors"; });
  EXPECT_THAT(LoadError(), AllOf(HasSubstr(index), HasSubstr("not a file name")));
  edit([](Json& j) { j["weight_map"]["model.norm.weight"] = "model-9.safetensors"; });
  EXPECT_THAT(LoadError(), HasSubstr("shard model-9.safetensors is missing"));
  edit([](Json& j) {  // the first shard holds the embedding, not the norm
    j["weight_map"]["model.norm.weight"] =
        j["weight_map"]["model.embed_tokens.weight"];
  });
  EXPECT_THAT(LoadError(), AllOf(HasSubstr("'model.norm.weight' is listed in"),
                                 HasSubstr("does not hold it")));
  edit([](Json& j) { j.erase("weight_map"); });
  EXPECT_THAT(LoadError(), HasSubstr("weight_map"));
  edit([](Json& j) { j["weight_map"].erase("model.norm.weight"); });
  EXPECT_TRUE(LoadCheckpoint(dir_).ok());  // the shard still holds it
  std::filesystem::remove_all(dir_);
  ASSERT_TRUE(SaveCheckpoint(dir_, w, o).ok());
  std::ifstream in(index);
  const std::string norm_shard =
      Json::parse(in)["weight_map"]["model.norm.weight"].get<std::string>();
  std::filesystem::remove(dir_ + "/" + norm_shard);
  EXPECT_THAT(LoadError(), HasSubstr("is missing from the folder"));
  std::filesystem::remove(index);
  absl::StatusOr<ModelWeights> none = LoadCheckpoint(dir_);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(none.status().message(), HasSubstr("model.safetensors.index.json"));
}

}  // namespace
}  // namespace ablate::engine
