// Copyright: the ablate authors.
//
// The worker's model-family promises: the families it advertises, the checkpoint-vs-job
// shape check (family, heads, kv heads, head_dim, sizes; permanent on mismatch), and which
// token a BOS per chunk uses.
#include "worker/model_check.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "tests/worker/worker_test_util.h"
#include "worker/status_util.h"

namespace ablate::worker {
namespace {

namespace v1 = ::ablate::v1;

v1::ModelShape ShapeOf(const engine::ModelConfig& c) {
  v1::ModelShape s;
  s.set_family(ModelFamilyOf(c));
  s.set_n_layer(c.n_layer);
  s.set_n_head(c.n_head);
  s.set_n_embd(c.n_embd);
  s.set_n_positions(c.n_positions);
  s.set_vocab_size(c.vocab_size);
  s.set_n_kv_head(c.n_head);
  s.set_head_dim(c.d_head());
  return s;
}

TEST(ModelCheckTest, AdvertisesTheEngineFamilies) {
  const std::vector<std::string> families = ModelFamilies();
  for (const char* f : {"gpt2", "gpt_neox", "llama", "mistral", "qwen2"}) {
    EXPECT_NE(std::find(families.begin(), families.end(), f), families.end()) << f;
  }
}

TEST(ModelCheckTest, ShapeMismatchIsPermanentAndNamesBoth) {
  const engine::ModelConfig c = testing::TinyConfig();
  EXPECT_TRUE(CheckModelShape(ShapeOf(c), c, "/m").ok());
  EXPECT_TRUE(CheckModelShape(v1::ModelShape(), c, "/m").ok());  // Nothing named.
  v1::ModelShape legacy = ShapeOf(c);  // Older clients: no family, kv heads, head_dim.
  legacy.clear_family();
  legacy.clear_n_kv_head();
  legacy.clear_head_dim();
  EXPECT_TRUE(CheckModelShape(legacy, c, "/m").ok());
  struct Case {
    const char* name;
    void (*mutate)(v1::ModelShape*);
    const char* says;
  };
  for (const Case& k : {
           Case{"family", [](v1::ModelShape* s) { s->set_family("llama"); }, "the job names llama"},
           Case{"kv heads", [](v1::ModelShape* s) { s->set_n_kv_head(1); }, "(1 kv heads"},
           Case{"head_dim", [](v1::ModelShape* s) { s->set_head_dim(3); }, "head_dim 3"},
           Case{"layers", [](v1::ModelShape* s) { s->set_n_layer(9); }, " 9x"},
           Case{"vocab", [](v1::ModelShape* s) { s->set_vocab_size(7); }, "vocab 7"},
       }) {
    v1::ModelShape s = ShapeOf(c);
    k.mutate(&s);
    absl::Status st = CheckModelShape(s, c, "/m");
    EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << k.name;
    EXPECT_TRUE(IsPermanent(st)) << k.name;
    EXPECT_NE(st.message().find("model /m is gpt2"), std::string::npos) << st;
    EXPECT_NE(st.message().find(k.says), std::string::npos) << k.name << ": " << st;
  }
}

TEST(ModelCheckTest, BosIdComesFromTheShape) {
  const engine::ModelConfig c = testing::TinyConfig();
  v1::ModelShape s = ShapeOf(c);
  s.set_bos_token_id(50256);
  EXPECT_EQ(*TaskBosId(s, c, 50256), 50256);
  s.set_bos_token_id(0);  // A gpt2 shape from a server older than families: <|endoftext|>.
  EXPECT_EQ(*TaskBosId(s, c, 50256), 50256);
  s.set_family("gpt_neox");  // Pythia's BOS is token 0.
  EXPECT_EQ(*TaskBosId(s, c, 50256), 0);
  s.set_bos_token_id(-1);
  absl::StatusOr<int> none = TaskBosId(s, c, 50256);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(IsPermanent(none.status()));
  EXPECT_EQ(*ModelBosId(c, 50256, "/m"), 50256);  // GPT-2 without bos_token_id: <|endoftext|>.
  EXPECT_EQ(ModelBosId(c, -1, "/m").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ablate::worker
