// The model shape `ablate submit` reads for every family, the BOS default, and the request
// built from a sharded checkpoint folder (weights digest, tokenizer kind).
#include "client/model_shape.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "client/spec.h"
#include "proto/artifact/digest.h"

namespace ablate::client {
namespace {

namespace fs = std::filesystem;

class ModelShapeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("ablate-shape-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Folder(const std::string& config) {
    std::ofstream(dir_ / "config.json") << config;
    return dir_.string();
  }
  fs::path dir_;
};

TEST_F(ModelShapeTest, Gpt2) {
  auto s = ReadModelShape(Folder(
      R"({"model_type": "gpt2", "n_layer": 12, "n_head": 12, "n_embd": 768, "n_ctx": 1024,
          "vocab_size": 50257})"));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->family(), "gpt2");
  EXPECT_EQ(s->n_positions(), 1024);  // From n_ctx.
  EXPECT_EQ(s->n_kv_head(), 12);
  EXPECT_EQ(s->head_dim(), 64);
  EXPECT_EQ(s->bos_token_id(), 50256);  // Not in the file: GPT-2's <|endoftext|>.
  EXPECT_FALSE(DefaultBos(*s));
}

TEST_F(ModelShapeTest, PythiaLlamaMistralQwen2) {
  // Pythia-160m's config (abridged).
  auto neox = ReadModelShape(Folder(
      R"({"model_type": "gpt_neox", "num_hidden_layers": 12, "num_attention_heads": 12,
          "hidden_size": 768, "max_position_embeddings": 2048, "vocab_size": 50304,
          "bos_token_id": 0, "rotary_pct": 0.25})"));
  ASSERT_TRUE(neox.ok()) << neox.status();
  EXPECT_EQ(neox->family(), "gpt_neox");
  EXPECT_EQ(neox->n_layer(), 12);
  EXPECT_EQ(neox->n_kv_head(), 12);
  EXPECT_EQ(neox->head_dim(), 64);
  EXPECT_EQ(neox->vocab_size(), 50304);
  EXPECT_EQ(neox->bos_token_id(), 0);
  EXPECT_FALSE(DefaultBos(*neox));
  // Llama-3.2-1B's config (abridged): GQA 32/8, head_dim 64.
  auto llama = ReadModelShape(Folder(
      R"({"model_type": "llama", "num_hidden_layers": 16, "num_attention_heads": 32,
          "num_key_value_heads": 8, "hidden_size": 2048, "head_dim": 64,
          "max_position_embeddings": 131072, "vocab_size": 128256, "bos_token_id": 128000})"));
  ASSERT_TRUE(llama.ok()) << llama.status();
  EXPECT_EQ(llama->n_head(), 32);
  EXPECT_EQ(llama->n_kv_head(), 8);
  EXPECT_EQ(llama->head_dim(), 64);
  EXPECT_EQ(llama->n_embd(), 2048);
  EXPECT_EQ(llama->n_positions(), 131072);
  EXPECT_EQ(llama->bos_token_id(), 128000);
  EXPECT_TRUE(DefaultBos(*llama));
  // head_dim differing from hidden_size / heads, no num_key_value_heads (= heads).
  auto mistral = ReadModelShape(Folder(
      R"({"model_type": "mistral", "num_hidden_layers": 2, "num_attention_heads": 4,
          "hidden_size": 32, "head_dim": 16, "max_position_embeddings": 64, "vocab_size": 100,
          "bos_token_id": 1})"));
  ASSERT_TRUE(mistral.ok()) << mistral.status();
  EXPECT_EQ(mistral->n_kv_head(), 4);
  EXPECT_EQ(mistral->head_dim(), 16);
  EXPECT_TRUE(DefaultBos(*mistral));
  auto qwen = ReadModelShape(Folder(
      R"({"model_type": "qwen2", "num_hidden_layers": 24, "num_attention_heads": 14,
          "num_key_value_heads": 2, "hidden_size": 896, "max_position_embeddings": 32768,
          "vocab_size": 151936, "bos_token_id": 151643, "head_dim": null})"));
  ASSERT_TRUE(qwen.ok()) << qwen.status();
  EXPECT_EQ(qwen->head_dim(), 64);
  EXPECT_FALSE(DefaultBos(*qwen));
  // A Llama without a BOS token: no BOS by default.
  auto no_bos = ReadModelShape(Folder(
      R"({"model_type": "llama", "num_hidden_layers": 2, "num_attention_heads": 4,
          "hidden_size": 32, "max_position_embeddings": 64, "vocab_size": 100,
          "bos_token_id": null})"));
  ASSERT_TRUE(no_bos.ok()) << no_bos.status();
  EXPECT_EQ(no_bos->bos_token_id(), -1);
  EXPECT_FALSE(DefaultBos(*no_bos));
}

TEST_F(ModelShapeTest, ErrorsNameTheField) {
  struct Case {
    const char* config;
    const char* says;
  };
  for (const Case& c : {
           Case{R"({"model_type": "falcon", "num_hidden_layers": 2})",
                "model_type 'falcon' is not supported (ablate runs gpt2, gpt_neox, llama"},
           Case{R"({"model_type": "llama", "num_hidden_layers": 2, "num_attention_heads": 4,
                    "max_position_embeddings": 64, "vocab_size": 100})",
                "missing 'hidden_size'"},
           Case{R"({"model_type": "llama", "num_hidden_layers": 2, "num_attention_heads": 4,
                    "hidden_size": 32, "max_position_embeddings": 64, "vocab_size": 100,
                    "num_key_value_heads": 0})",
                "'num_key_value_heads' must be a positive integer"},
           Case{R"({"n_layer": 2, "n_head": 2, "n_embd": 8, "vocab_size": 10})",
                "missing 'n_positions'"},
           Case{R"({"model_type": 3})", "'model_type' must be a string"},
           Case{"[1, 2]", "is not a JSON object"},
       }) {
    auto s = ReadModelShape(Folder(c.config));
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << c.config;
    EXPECT_NE(s.status().message().find(c.says), std::string::npos) << s.status();
  }
}

TEST_F(ModelShapeTest, SubmitRequestForAShardedLlama) {
  Folder(R"({"model_type": "llama", "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2, "hidden_size": 32, "max_position_embeddings": 64,
             "vocab_size": 100})");
  std::ofstream(dir_ / "model-00001-of-00002.safetensors") << "first";
  std::ofstream(dir_ / "model-00002-of-00002.safetensors") << "second";
  std::ofstream(dir_ / "model.safetensors.index.json") << "{}";
  std::ofstream(dir_ / "tokenizer.json") << "{}";
  std::ofstream(dir_ / "text.txt") << "some text to score";
  SubmitOptions o;
  o.model = dir_.string();
  o.text = (dir_ / "text.txt").string();
  o.seq_len = 4;
  auto req = BuildSubmitRequest(o);
  ASSERT_TRUE(req.ok()) << req.status();
  const std::string listing =
      artifact::Sha256Hex("first") + "  model-00001-of-00002.safetensors\n" +
      artifact::Sha256Hex("second") + "  model-00002-of-00002.safetensors\n" +
      artifact::Sha256Hex("{}") + "  model.safetensors.index.json\n";
  EXPECT_EQ(req->spec().model().sha256(), artifact::Sha256Hex(listing));
  EXPECT_EQ(req->spec().model().tokenizer(), "tokenizer.json");
  EXPECT_EQ(req->spec().model().shape().family(), "llama");
  EXPECT_EQ(req->spec().model().shape().bos_token_id(), -1);
  EXPECT_FALSE(req->spec().bos_per_chunk());  // No BOS id: off even for llama.
  o.bos_per_chunk = true;
  auto bad = BuildSubmitRequest(o);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("names no bos_token_id"), std::string::npos);
  fs::remove(dir_ / "model-00002-of-00002.safetensors");
  o.bos_per_chunk = false;
  auto missing = BuildSubmitRequest(o);
  EXPECT_NE(missing.status().message().find("missing shard 2 of 2"), std::string::npos)
      << missing.status();
}

}  // namespace
}  // namespace ablate::client
