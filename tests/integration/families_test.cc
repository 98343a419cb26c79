// Copyright: the ablate authors.
//
// Every non-GPT-2 family through the whole system (issue 9): a random checkpoint of each
// family is submitted with the `ablate` binary (`submit --upload`: config.json, the weights
// and the tokenizer files travel as an artifact, shards included), run by an ablate-worker
// process that fetched it by digest, and the server's head table and curve must equal the
// offline `eval` of the same folder (the same grouping, so bit-identical in practice).
//   llama:   grouped-query attention (4 query heads over 2 kv heads), llama3 rope scaling,
//            untied head, BOS on by the client's default, tokenizer.json only (no
//            vocab.json/merges.txt: a worker without the uploaded tokenizer.json fails),
//            weights in shards with model.safetensors.index.json; full sweep, zero.
//   gpt_neox: Pythia's layout, parallel residual, partial rotary; individual sweep, mean.
//   qwen2:   q/k/v biases, tied embeddings, GQA; individual sweep, zero_folded (the kv
//            head's value bias).
//   mistral: sliding window (5) shorter than the chunks (16); individual sweep, zero.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/cluster.h"
#include "worker/engine/checkpoint.h"
#include "worker/engine/model_random.h"

namespace ablate::testing {
namespace {

namespace v1 = ::ablate::v1;
using engine::Family;
using engine::ModelConfig;
using nlohmann::json;
using std::chrono::seconds;

// GPT-2's vocabulary and merges written as a Hugging Face tokenizer.json (byte-level BPE
// with GPT-2's pre-tokenizer regex), as GPT-2's own tokenizer.json on the hub is laid out.
json Gpt2TokenizerJson() {
  const std::string dir = std::string(ABLATE_TEST_DATA_DIR) + "/gpt2-tokenizer";
  json vocab = json::parse(ReadAll(dir + "/vocab.json"));
  json merges = json::array();
  std::istringstream lines(ReadAll(dir + "/merges.txt"));
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    merges.push_back(line);
  }
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens",
           {{{"id", 50256}, {"content", "<|endoftext|>"}, {"single_word", false},
             {"lstrip", false}, {"rstrip", false}, {"normalized", true}, {"special", true}}}},
          {"normalizer", nullptr},
          {"pre_tokenizer",
           {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true},
            {"use_regex", true}}},
          {"post_processor", nullptr},
          {"decoder",
           {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true},
            {"use_regex", true}}},
          {"model",
           {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr},
            {"continuing_subword_prefix", ""}, {"end_of_word_suffix", ""},
            {"fuse_unk", false}, {"byte_fallback", false}, {"vocab", vocab},
            {"merges", merges}}}};
}

ModelConfig Base(Family family) {
  ModelConfig c;
  c.family = family;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_embd = 16;
  c.n_positions = 64;
  c.vocab_size = 50257;
  c.bos_token_id = 50256;
  return c;
}

ModelConfig LlamaLike(Family family) {
  ModelConfig c = Base(family);
  c.n_kv_head = 2;
  c.intermediate_size = 24;
  c.activation = engine::Activation::kSilu;
  c.mlp_bias = false;
  c.qkv_bias = family == Family::kQwen2;
  c.o_bias = false;
  c.tie_word_embeddings = family == Family::kQwen2;
  c.layer_norm_epsilon = 1e-6;
  c.rope.rotary_dim = c.d_head();
  if (family == Family::kLlama) {
    c.rope.theta = 500000.0;
    c.rope.scaling = engine::Rope::Scaling::kLlama3;
    c.rope.factor = 8.0;
    c.rope.original_max_position_embeddings = 8;
  }
  if (family == Family::kMistral) c.sliding_window = 5;
  return c;
}

ModelConfig Pythia() {
  ModelConfig c = Base(Family::kGptNeox);
  c.bos_token_id = 0;
  c.intermediate_size = 64;
  c.activation = engine::Activation::kGeluExact;
  c.tie_word_embeddings = false;
  c.parallel_residual = true;
  c.rope.rotary_dim = 2;  // rotary_pct 0.5 of head_dim 4.
  return c;
}

struct Case {
  std::string name;
  ModelConfig config;
  std::string sweep;   // CLI spelling.
  std::string method;  // CLI spelling.
  bool tokenizer_json_only = false;
  int64_t max_shard_bytes = 0;
  bool bos = false;  // What the client's default gives for this family.
  int masks_expected = 0;  // The baseline counts as a mask; a full sweep adds L*H+1 curve points.
};

// Writes the checkpoint folder of `c`: random weights large enough that every head matters.
std::string WriteCheckpoint(const TempDir& dir, const Case& c, uint64_t seed) {
  const std::string path = dir.File(c.name);
  engine::RandomInit init;
  init.weight_std = 0.3;
  init.bias_std = 0.1;
  init.ln_std = 0.1;
  engine::SaveOptions save;
  save.max_shard_bytes = c.max_shard_bytes;
  if (!c.tokenizer_json_only) save.tokenizer_dir = std::string(ABLATE_TEST_DATA_DIR) + "/gpt2-tokenizer";
  const absl::Status saved =
      engine::SaveCheckpoint(path, engine::RandomWeights(c.config, seed, init), save);
  EXPECT_TRUE(saved.ok()) << c.name << ": " << saved;
  if (c.tokenizer_json_only) {
    WriteFileOrDie(path + "/tokenizer.json", Gpt2TokenizerJson().dump());
    WriteFileOrDie(path + "/tokenizer_config.json",
                   R"({"bos_token": "<|endoftext|>", "model_max_length": 64})");
  }
  return path;
}

TEST(Families, EveryFamilyUploadedAndRunByAWorkerEqualsOfflineEval) {
  Cluster cluster(/*lease_ttl_ms=*/10000);
  ASSERT_TRUE(cluster.ok());
  const std::vector<Case> cases = {
      {"llama", LlamaLike(Family::kLlama), "full", "zero", true, 400000, true, 9 + 9},
      {"pythia", Pythia(), "individual", "mean", false, 0, false, 9},
      {"qwen2", LlamaLike(Family::kQwen2), "individual", "zero_folded", false, 0, false, 9},
      {"mistral", LlamaLike(Family::kMistral), "individual", "zero", false, 0, true, 9},
  };
  std::vector<std::string> dirs, jobs;
  uint64_t seed = 90;
  for (const Case& c : cases) {
    dirs.push_back(WriteCheckpoint(cluster.dir, c, ++seed));
    if (c.max_shard_bytes > 0) {  // The llama checkpoint really is sharded.
      ASSERT_TRUE(std::filesystem::exists(dirs.back() + "/" + engine::kWeightsIndexFile));
      ASSERT_FALSE(std::filesystem::exists(dirs.back() + "/" + engine::kWeightsFile));
    }
    const CliRun submitted =
        RunCli({"--server", cluster.address, "submit", "--model", dirs.back(), "--text",
                SharedInputs().text_file, "--n-chunks", std::to_string(kChunks), "--seq-len",
                std::to_string(kSeqLen), "--sweep", c.sweep, "--method", c.method,
                "--masks-per-task", "3", "--upload", "--request-id", "fam-" + c.name},
               cluster.dir);
    ASSERT_EQ(submitted.code, 0) << c.name << ": " << submitted.err;
    std::istringstream words(submitted.out);
    std::string word, last;
    while (words >> word) last = word;
    jobs.push_back(last);
  }
  auto worker = cluster.Worker("w");
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const v1::Job done = cluster.client.WaitDone(jobs[i], seconds(120));
    ASSERT_EQ(done.state(), v1::JOB_STATE_SUCCEEDED)
        << c.name << ": " << done.error() << "\n" << worker->Log();
    // Fetched by digest: the job names no path, and the client read the family's shape.
    const v1::JobSpec& spec = done.spec();
    EXPECT_TRUE(spec.model().path().empty()) << c.name;
    EXPECT_FALSE(spec.model().artifact_digest().empty()) << c.name;
    EXPECT_EQ(spec.model().shape().family(), engine::FamilyName(c.config.family));
    EXPECT_EQ(spec.model().shape().n_kv_head(), c.config.kv_heads()) << c.name;
    EXPECT_EQ(spec.model().tokenizer(),
              c.tokenizer_json_only ? "tokenizer.json" : "vocab.json+merges.txt");
    EXPECT_EQ(spec.bos_per_chunk(), c.bos) << c.name;
    EXPECT_EQ(done.progress().masks_done(), c.masks_expected) << c.name;
    SCOPED_TRACE(c.name);
    ExpectMatchesOffline(*cluster.client.stub, jobs[i], OfflineReference(spec, dirs[i]));
  }
}

}  // namespace
}  // namespace ablate::testing
