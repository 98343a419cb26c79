// Copyright: the ablate authors.
//
// Checkpoint folders: save -> load round trips in F32 / F16 / BF16, both key
// spellings, the skipped buffers and the tied LM head, and every bad checkpoint
// with the message it gives (the message must name the file and the tensor or
// config field at fault).
#include "worker/engine/checkpoint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "worker/engine/config.h"
#include "worker/engine/safetensors.h"

namespace ablate::engine {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using Json = nlohmann::json;

ModelConfig SmallConfig() {
  ModelConfig c;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_embd = 8;
  c.n_positions = 16;
  c.vocab_size = 11;
  return c;
}

// A model of the config's shape with random weights (fixed seed).
ModelWeights RandomWeights(const ModelConfig& c) {
  torch::manual_seed(7);
  const int64_t d = c.n_embd;
  ModelWeights w;
  w.config = c;
  w.wte = torch::randn({c.vocab_size, d});
  w.wpe = torch::randn({c.n_positions, d});
  for (int i = 0; i < c.n_layer; ++i) {
    BlockWeights b;
    b.ln_1_weight = torch::randn({d});
    b.ln_1_bias = torch::randn({d});
    b.attn_c_attn_weight = torch::randn({d, 3 * d});
    b.attn_c_attn_bias = torch::randn({3 * d});
    b.attn_c_proj_weight = torch::randn({d, d});
    b.attn_c_proj_bias = torch::randn({d});
    b.ln_2_weight = torch::randn({d});
    b.ln_2_bias = torch::randn({d});
    b.mlp_c_fc_weight = torch::randn({d, 4 * d});
    b.mlp_c_fc_bias = torch::randn({4 * d});
    b.mlp_c_proj_weight = torch::randn({4 * d, d});
    b.mlp_c_proj_bias = torch::randn({d});
    w.blocks.push_back(b);
  }
  w.ln_f_weight = torch::randn({d});
  w.ln_f_bias = torch::randn({d});
  return w;
}

// Named tensors of a model, as SaveCheckpoint writes them (unprefixed).
std::vector<NamedTensor> Named(const ModelWeights& w,
                               const std::string& prefix = "") {
  std::vector<NamedTensor> t = {{prefix + "wte.weight", w.wte},
                                {prefix + "wpe.weight", w.wpe}};
  for (size_t i = 0; i < w.blocks.size(); ++i) {
    const BlockWeights& b = w.blocks[i];
    const std::string h = prefix + "h." + std::to_string(i) + ".";
    for (const auto& [name, tensor] :
         std::vector<std::pair<std::string, torch::Tensor>>{
             {"ln_1.weight", b.ln_1_weight},
             {"ln_1.bias", b.ln_1_bias},
             {"attn.c_attn.weight", b.attn_c_attn_weight},
             {"attn.c_attn.bias", b.attn_c_attn_bias},
             {"attn.c_proj.weight", b.attn_c_proj_weight},
             {"attn.c_proj.bias", b.attn_c_proj_bias},
             {"ln_2.weight", b.ln_2_weight},
             {"ln_2.bias", b.ln_2_bias},
             {"mlp.c_fc.weight", b.mlp_c_fc_weight},
             {"mlp.c_fc.bias", b.mlp_c_fc_bias},
             {"mlp.c_proj.weight", b.mlp_c_proj_weight},
             {"mlp.c_proj.bias", b.mlp_c_proj_bias}}) {
      t.push_back({h + name, tensor});
    }
  }
  t.push_back({prefix + "ln_f.weight", w.ln_f_weight});
  t.push_back({prefix + "ln_f.bias", w.ln_f_bias});
  return t;
}

void ExpectSameWeights(const ModelWeights& a, const ModelWeights& b, double atol,
                       double rtol) {
  const auto ta = Named(a), tb = Named(b);
  ASSERT_EQ(ta.size(), tb.size());
  for (size_t i = 0; i < ta.size(); ++i) {
    EXPECT_EQ(tb[i].tensor.scalar_type(), torch::kFloat) << ta[i].name;
    EXPECT_TRUE(tb[i].tensor.is_contiguous()) << ta[i].name;
    EXPECT_TRUE(torch::allclose(ta[i].tensor, tb[i].tensor, rtol, atol))
        << ta[i].name;
  }
}

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "ablate_ckpt_XXXXXX")
            .string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    st_ = dir_ + "/model.safetensors";
    config_path_ = dir_ + "/config.json";
    weights_ = RandomWeights(SmallConfig());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void SaveGood() { ASSERT_TRUE(SaveCheckpoint(dir_, weights_).ok()); }

  // Writes model.safetensors from tensors and config.json from a config
  // (default: ours).
  void WriteFolder(const std::vector<NamedTensor>& tensors,
                   const Json& config) {
    ASSERT_TRUE(WriteSafetensors(st_, tensors, torch::kFloat).ok());
    std::ofstream(config_path_) << config.dump();
  }
  Json GoodConfig() { return Json::parse(ModelConfigToJson(SmallConfig())); }

  // Replaces the safetensors header by edit(header) and keeps the data bytes.
  void EditHeader(const std::function<void(Json&)>& edit) {
    std::ifstream in(st_, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    const std::string bytes = s.str();
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
    Json header = Json::parse(bytes.substr(8, n));
    edit(header);
    const std::string text = header.dump();
    std::string len;
    for (int i = 0; i < 8; ++i)
      len.push_back(static_cast<char>(text.size() >> (8 * i)));
    std::ofstream(st_, std::ios::binary | std::ios::trunc)
        << len << text << bytes.substr(8 + n);
  }

  uint64_t HeaderLength() {
    std::ifstream in(st_, std::ios::binary);
    uint8_t b[8] = {};
    in.read(reinterpret_cast<char*>(b), 8);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | b[i];
    return n;
  }

  // Loads the folder, expects failure, returns the message.
  std::string LoadError() {
    absl::StatusOr<ModelWeights> w = LoadCheckpoint(dir_);
    EXPECT_FALSE(w.ok());
    return w.ok() ? "" : std::string(w.status().message());
  }

  std::string dir_, st_, config_path_;
  ModelWeights weights_;
};

TEST_F(CheckpointTest, RoundTripF32IsExact) {
  SaveGood();
  absl::StatusOr<ModelWeights> w = LoadCheckpoint(dir_);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->config.n_layer, 2);
  EXPECT_EQ(w->config.n_head, 2);
  EXPECT_EQ(w->config.n_embd, 8);
  EXPECT_EQ(w->config.n_positions, 16);
  EXPECT_EQ(w->config.vocab_size, 11);
  EXPECT_EQ(w->config.layer_norm_epsilon, 1e-5);
  ExpectSameWeights(weights_, *w, 0, 0);
}

TEST_F(CheckpointTest, RoundTripHalfPrecision) {
  for (DType dtype : {DType::kFloat16, DType::kBFloat16}) {
    SaveOptions options;
    options.dtype = dtype;
    ASSERT_TRUE(SaveCheckpoint(dir_, weights_, options).ok());
    absl::StatusOr<ModelWeights> w = LoadCheckpoint(dir_);
    ASSERT_TRUE(w.ok()) << w.status();
    // Within the format's rounding: 2^-11 (F16) or 2^-8 (BF16) relative; randn
    // values < 6.
    ExpectSameWeights(weights_, *w, 1e-6,
                      dtype == DType::kFloat16 ? 4.9e-4 : 3.9e-3);
    // And exactly the rounded values.
    const torch::ScalarType t =
        dtype == DType::kFloat16 ? torch::kHalf : torch::kBFloat16;
    EXPECT_TRUE(torch::equal(w->wte, weights_.wte.to(t).to(torch::kFloat)));
    // The data section holds exactly 2 bytes per parameter.
    int64_t n_params = 0;
    for (const NamedTensor& t : Named(weights_)) n_params += t.tensor.numel();
    EXPECT_EQ(std::filesystem::file_size(st_) - 8 - HeaderLength(),
              2 * n_params);
  }
}

TEST_F(CheckpointTest, PrefixedKeysBuffersAndTiedHead) {
  std::vector<NamedTensor> t = Named(weights_, "transformer.");
  t.push_back({"transformer.h.0.attn.bias", torch::ones({1, 1, 16, 16})});
  t.push_back({"transformer.h.1.attn.masked_bias", torch::tensor(-1e4f)});
  t.push_back({"lm_head.weight", weights_.wte.clone()});
  WriteFolder(t, GoodConfig());
  absl::StatusOr<ModelWeights> w = LoadCheckpoint(dir_);
  ASSERT_TRUE(w.ok()) << w.status();
  ExpectSameWeights(weights_, *w, 0, 0);
}

TEST_F(CheckpointTest, MixedPrefixesAndHubLikeConfig) {
  std::vector<NamedTensor> t = Named(weights_);
  t[0].name = "transformer.wte.weight";
  Json config = {{"n_layer", 2},       {"n_head", 2},
                 {"n_embd", 8},        {"n_ctx", 16},
                 {"vocab_size", 11},   {"resid_pdrop", 0.1},
                 {"n_inner", nullptr}, {"layer_norm_epsilon", 1e-6}};
  WriteFolder(t, config);
  absl::StatusOr<ModelWeights> w = LoadCheckpoint(dir_);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->config.n_positions, 16);
  EXPECT_EQ(w->config.layer_norm_epsilon, 1e-6);
}

TEST_F(CheckpointTest, SaveCopiesTokenizerAndWritesHfConfig) {
  SaveOptions options;
  options.tokenizer_dir = std::string(ABLATE_TEST_DATA_DIR) + "/gpt2-tokenizer";
  ASSERT_TRUE(SaveCheckpoint(dir_, weights_, options).ok());
  EXPECT_GT(std::filesystem::file_size(dir_ + "/vocab.json"), 1000000u);
  EXPECT_GT(std::filesystem::file_size(dir_ + "/merges.txt"), 400000u);
  std::ifstream in(config_path_);
  Json config = Json::parse(in);
  EXPECT_EQ(config["model_type"], "gpt2");
  EXPECT_EQ(config["activation_function"], "gelu_new");
  EXPECT_EQ(config["architectures"][0], "GPT2LMHeadModel");
  EXPECT_EQ(config["n_positions"], 16);
  options.tokenizer_dir = dir_ + "/nowhere";
  absl::Status missing = SaveCheckpoint(dir_, weights_, options);
  EXPECT_THAT(missing.message(), HasSubstr("neither tokenizer.json"));
}

TEST_F(CheckpointTest, SaveCopiesATokenizerJsonFolder) {
  const std::string from = dir_ + "/hf-tokenizer";
  std::filesystem::create_directories(from);
  std::ofstream(from + "/tokenizer.json") << "{\"model\": {}}";
  std::ofstream(from + "/tokenizer_config.json") << "{}";
  SaveOptions options;
  options.tokenizer_dir = from;
  const std::string out = dir_ + "/saved";
  ASSERT_TRUE(SaveCheckpoint(out, weights_, options).ok());
  EXPECT_TRUE(std::filesystem::exists(out + "/tokenizer.json"));
  EXPECT_TRUE(std::filesystem::exists(out + "/tokenizer_config.json"));
  EXPECT_FALSE(std::filesystem::exists(out + "/vocab.json"));
}

TEST_F(CheckpointTest, SaveRejectsInconsistentWeights) {
  ModelWeights bad = weights_;
  bad.blocks[1].mlp_c_fc_bias = torch::zeros({5});
  absl::Status s = SaveCheckpoint(dir_, bad);
  EXPECT_THAT(s.message(), HasSubstr("h.1.mlp.c_fc.bias"));
  bad = weights_;
  bad.blocks.pop_back();
  EXPECT_FALSE(SaveCheckpoint(dir_, bad).ok());
  EXPECT_FALSE(std::filesystem::exists(st_));
}

TEST_F(CheckpointTest, MissingFiles) {
  EXPECT_THAT(LoadError(), HasSubstr(config_path_));
  std::ofstream(config_path_) << GoodConfig().dump();
  absl::StatusOr<ModelWeights> w = LoadCheckpoint(dir_);
  EXPECT_EQ(w.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(w.status().message(), HasSubstr(st_));
}

TEST_F(CheckpointTest, TruncatedFile) {
  SaveGood();
  std::filesystem::resize_file(st_, std::filesystem::file_size(st_) - 3);
  // Saved in parameter order, so the last tensor in the data is ln_f.bias.
  EXPECT_THAT(LoadError(), AllOf(HasSubstr(st_), HasSubstr("'ln_f.bias'"),
                                 HasSubstr("truncated")));
  std::filesystem::resize_file(st_, 6);
  EXPECT_THAT(LoadError(), AllOf(HasSubstr(st_), HasSubstr("truncated")));
}

TEST_F(CheckpointTest, HeaderLengthLargerThanFile) {
  SaveGood();
  std::filesystem::resize_file(st_, 100);
  EXPECT_THAT(LoadError(), AllOf(HasSubstr(st_), HasSubstr("header length")));
}

TEST_F(CheckpointTest, BadHeaderJson) {
  SaveGood();
  std::fstream f(st_, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(8);
  f.put('[');
  f.close();
  EXPECT_THAT(LoadError(), AllOf(HasSubstr(st_), HasSubstr("bad header JSON")));
}

TEST_F(CheckpointTest, OffsetsOutOfRangeOverlappingOrInconsistent) {
  SaveGood();
  EditHeader([](Json& h) { h["ln_f.weight"]["data_offsets"][1] = 1u << 30; });
  EXPECT_THAT(LoadError(),
              AllOf(HasSubstr("'ln_f.weight'"), HasSubstr("run past the end")));
  SaveGood();
  EditHeader([](Json& h) {
    h["wpe.weight"]["data_offsets"] = h["wte.weight"]["data_offsets"];
    h["wpe.weight"]["shape"] = {11, 8};
  });
  EXPECT_THAT(LoadError(),
              AllOf(HasSubstr("wpe.weight"), HasSubstr("overlap")));
  SaveGood();
  EditHeader([](Json& h) { h["h.0.ln_1.bias"]["shape"] = {9}; });
  EXPECT_THAT(LoadError(),
              AllOf(HasSubstr("'h.0.ln_1.bias'"), HasSubstr("need 36")));
}

TEST_F(CheckpointTest, UnknownAndUnsupportedDtypes) {
  SaveGood();
  EditHeader([](Json& h) { h["h.1.ln_2.weight"]["dtype"] = "F12"; });
  EXPECT_THAT(LoadError(), AllOf(HasSubstr(st_), HasSubstr("'h.1.ln_2.weight'"),
                                 HasSubstr("unknown dtype 'F12'")));
  SaveGood();
  EditHeader([](Json& h) { h["h.1.ln_2.weight"]["dtype"] = "I32"; });
  EXPECT_THAT(LoadError(), AllOf(HasSubstr("'h.1.ln_2.weight'"),
                                 HasSubstr("I32 is not supported")));
}

TEST_F(CheckpointTest, MissingTensor) {
  std::vector<NamedTensor> t = Named(weights_, "transformer.");
  t.erase(t.begin() + 5);  // h.0.attn.c_attn.bias
  WriteFolder(t, GoodConfig());
  EXPECT_THAT(
      LoadError(),
      AllOf(HasSubstr(st_), HasSubstr("'h.0.attn.c_attn.bias' is missing"),
            HasSubstr("transformer.h.0.attn.c_attn.bias")));
}

TEST_F(CheckpointTest, WrongShape) {
  std::vector<NamedTensor> t = Named(weights_);
  t[4].tensor =
      t[4].tensor.t().contiguous();  // h.0.attn.c_attn.weight as [3d, d]
  WriteFolder(t, GoodConfig());
  EXPECT_THAT(LoadError(),
              AllOf(HasSubstr(st_), HasSubstr("'h.0.attn.c_attn.weight'"),
                    HasSubstr("shape [24, 8]"), HasSubstr("implies [8, 24]")));
}

TEST_F(CheckpointTest, ConfigInconsistentWithTensors) {
  SaveGood();
  Json config = GoodConfig();
  config["vocab_size"] = 12;
  std::ofstream(config_path_) << config.dump();
  EXPECT_THAT(LoadError(),
              AllOf(HasSubstr("'wte.weight'"), HasSubstr("[11, 8]"),
                    HasSubstr("vocab_size"), HasSubstr("[12, 8]")));
  config = GoodConfig();
  config["n_layer"] = 1;
  std::ofstream(config_path_) << config.dump();
  EXPECT_THAT(LoadError(), AllOf(HasSubstr("'h.1."), HasSubstr("n_layer = 1")));
  config = GoodConfig();
  config["n_layer"] = 3;
  std::ofstream(config_path_) << config.dump();
  EXPECT_THAT(LoadError(), HasSubstr("'h.2.ln_1.weight' is missing"));
  config = GoodConfig();
  config["n_positions"] = 32;
  std::ofstream(config_path_) << config.dump();
  EXPECT_THAT(LoadError(),
              AllOf(HasSubstr("'wpe.weight'"), HasSubstr("n_positions")));
}

TEST_F(CheckpointTest, BadConfigs) {
  SaveGood();
  const std::pair<std::function<void(Json&)>, std::string> kCases[] = {
      {[](Json& c) { c["n_head"] = 3; },
       "n_embd (8) is not divisible by n_head (3)"},
      {[](Json& c) { c.erase("n_head"); }, "missing \"n_head\""},
      {[](Json& c) { c["n_embd"] = "8"; },
       "\"n_embd\" must be a positive integer"},
      {[](Json& c) { c["n_layer"] = 0; },
       "\"n_layer\" must be a positive integer"},
      {[](Json& c) {
         c.erase("n_positions");
         c.erase("n_ctx");
       },
       "missing \"n_ctx\""},
      {[](Json& c) { c["activation_function"] = "relu"; },
       "\"activation_function\" is \"relu\""},
      {[](Json& c) { c["model_type"] = "gpt_neo"; }, "\"model_type\""},
      {[](Json& c) { c["n_inner"] = -4; },
       "\"n_inner\" must be a positive integer"},
      {[](Json& c) { c["scale_attn_by_inverse_layer_idx"] = true; },
       "scale_attn_by_inverse"},
      {[](Json& c) { c["tie_word_embeddings"] = "no"; },
       "tie_word_embeddings"},
      {[](Json& c) { c["layer_norm_epsilon"] = -1; }, "layer_norm_epsilon"},
      {[](Json& c) { c = Json::array(); }, "not a JSON object"},
  };
  for (const auto& [edit, expected] : kCases) {
    Json config = GoodConfig();
    edit(config);
    std::ofstream(config_path_) << config.dump();
    EXPECT_THAT(LoadError(),
                AllOf(HasSubstr(config_path_), HasSubstr(expected)))
        << expected;
  }
  std::ofstream(config_path_) << "{\"n_layer\": 2,";
  EXPECT_THAT(LoadError(),
              AllOf(HasSubstr(config_path_), HasSubstr("bad JSON")));
  Json config = GoodConfig();
  config.erase("activation_function");
  std::ofstream(config_path_) << config.dump();
  EXPECT_TRUE(LoadCheckpoint(dir_).ok());
}

TEST_F(CheckpointTest, UntiedHeadBothSpellingsAndNonFinite) {
  std::vector<NamedTensor> t = Named(weights_);
  t.push_back({"lm_head.weight", weights_.wte + 1});
  WriteFolder(t, GoodConfig());
  EXPECT_THAT(LoadError(),
              AllOf(HasSubstr(st_), HasSubstr("'lm_head.weight' differs")));
  t = Named(weights_);
  t.push_back({"transformer.ln_f.bias", weights_.ln_f_bias});
  WriteFolder(t, GoodConfig());
  EXPECT_THAT(LoadError(), AllOf(HasSubstr("'ln_f.bias'"),
                                 HasSubstr("both with and without")));
  t = Named(weights_);
  t[2].tensor = t[2].tensor.clone();
  t[2].tensor[3] = std::nanf("");
  WriteFolder(t, GoodConfig());
  EXPECT_THAT(LoadError(),
              AllOf(HasSubstr("'h.0.ln_1.weight'"), HasSubstr("NaN")));
}

}  // namespace
}  // namespace ablate::engine
