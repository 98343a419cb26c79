// Copyright: the ablate authors.
//
// The training model against independent computations: the sliced LM-head loss
// and its gradients against LibTorch's cross_entropy on full logits, the
// training forward against the inference engine (Model::Evaluate), the
// learning-rate schedule against its formula, and a tiny end-to-end training
// run (loss falls, checkpoint reloads, same bytes twice).
#include "worker/train/train_model.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "worker/engine/checkpoint.h"
#include "worker/engine/model.h"
#include "worker/train/trainer.h"

namespace ablate::train {
namespace {

engine::ModelConfig TinyConfig() {
  engine::ModelConfig c;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_embd = 16;
  c.n_positions = 48;
  c.vocab_size = 37;
  return c;
}

// Gives the LayerNorms and biases non-trivial values so every path matters.
void Perturb(engine::ModelWeights* w) {
  torch::NoGradGuard no_grad;
  for (torch::Tensor& p : Parameters(*w)) {
    if (p.dim() == 1) p.add_(torch::randn_like(p) * 0.3);
    if (p.dim() == 2) p.mul_(10);
  }
}

TEST(TrainModelTest, SlicedLossAndGradientsMatchCrossEntropy) {
  engine::ModelWeights w = InitWeights(TinyConfig(), 3);
  Perturb(&w);
  // 3 x 45 = 135 predicted tokens: three slices of the LM head.
  torch::Tensor ids = torch::randint(37, {3, 46}, torch::kLong);
  torch::Tensor loss = NextTokenLoss(w, ids);
  std::vector<torch::Tensor> params = Parameters(w);
  std::vector<torch::Tensor> grads = torch::autograd::grad({loss}, params);

  torch::Tensor logits = Forward(w, ids).slice(1, 0, 45);
  torch::Tensor ref = torch::nn::functional::cross_entropy(
      logits.reshape({-1, 37}), ids.slice(1, 1, 46).reshape({-1}));
  std::vector<torch::Tensor> ref_grads = torch::autograd::grad({ref}, params);
  EXPECT_NEAR(loss.item<double>(), ref.item<double>(), 1e-5);
  EXPECT_GT(ref.item<double>(), 1.0);
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_TRUE(torch::allclose(grads[i], ref_grads[i], 1e-4, 1e-6)) << i;
  }
}

TEST(TrainModelTest, ForwardMatchesInferenceEngine) {
  engine::ModelWeights w = InitWeights(TinyConfig(), 5);
  Perturb(&w);
  torch::Tensor chunks = torch::randint(37, {4, 48}, torch::kLong);
  const double ppl = Perplexity(w, chunks, /*batch=*/3);

  engine::ModelWeights plain = w;
  for (torch::Tensor* t :
       {&plain.wte, &plain.wpe, &plain.ln_f_weight, &plain.ln_f_bias}) {
    *t = t->detach().clone();
  }
  for (engine::BlockWeights& b : plain.blocks) {
    for (torch::Tensor* t :
         {&b.ln_1_weight, &b.ln_1_bias, &b.attn_c_attn_weight,
          &b.attn_c_attn_bias, &b.attn_c_proj_weight, &b.attn_c_proj_bias,
          &b.ln_2_weight, &b.ln_2_bias, &b.mlp_c_fc_weight, &b.mlp_c_fc_bias,
          &b.mlp_c_proj_weight, &b.mlp_c_proj_bias}) {
      *t = t->detach().clone();
    }
  }
  auto model = engine::Model::Create(plain, engine::EngineOptions{});
  ASSERT_TRUE(model.ok()) << model.status();
  auto nll =
      (*model)->Evaluate(chunks, {engine::HeadMask{}}, engine::Method::kZero);
  ASSERT_TRUE(nll.ok()) << nll.status();
  EXPECT_EQ((*nll)[0].n_tokens, 4 * 47);
  const double engine_ppl = std::exp((*nll)[0].nll_sum / (*nll)[0].n_tokens);
  EXPECT_NEAR(engine_ppl / ppl, 1.0, 1e-5) << ppl << " vs " << engine_ppl;
  EXPECT_GT(ppl, 2.0);
}

TEST(TrainModelTest, InitIsDeterministicAndGpt2Shaped) {
  engine::ModelWeights a = InitWeights(TinyConfig(), 9);
  engine::ModelWeights b = InitWeights(TinyConfig(), 9);
  engine::ModelWeights c = InitWeights(TinyConfig(), 10);
  EXPECT_TRUE(engine::ValidateModelWeights(a).ok());
  EXPECT_TRUE(torch::equal(a.wte, b.wte));
  EXPECT_FALSE(torch::equal(a.wte, c.wte));
  EXPECT_NEAR(a.wte.std().item<double>(), 0.02, 0.002);
  EXPECT_NEAR(a.blocks[0].mlp_c_proj_weight.std().item<double>(), 0.01, 0.001);
  EXPECT_TRUE(torch::equal(a.blocks[1].ln_2_weight, torch::ones({16})));
  EXPECT_EQ(Parameters(a).size(), 2u + 2 * 12 + 2);
}

TEST(TrainerTest, LearningRateSchedule) {
  TrainOptions o;
  o.steps = 101;
  o.warmup_steps = 10;
  o.lr = 1e-2;
  o.min_lr = 1e-3;
  EXPECT_DOUBLE_EQ(LearningRate(o, 0), 1e-3);
  EXPECT_DOUBLE_EQ(LearningRate(o, 9), 1e-2);
  EXPECT_DOUBLE_EQ(LearningRate(o, 10), 1e-2);
  // Halfway through the decay, cos = 0: the mean of lr and min_lr.
  EXPECT_NEAR(LearningRate(o, 10 + 45), 5.5e-3, 1e-12);
  EXPECT_NEAR(LearningRate(o, 100), 1e-3, 1e-12);
  for (int s = 10; s < 100; ++s)
    EXPECT_GE(LearningRate(o, s), LearningRate(o, s + 1));
}

class TrainRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "ablate_train_XXXXXX")
            .string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    std::ofstream train(dir_ + "/train.txt");
    for (int i = 0; i < 40; ++i) {
      train << "The cat sat on the mat. The dog sat on the log. A bird sang "
               "in the tree, and the sun rose over the hill.\n";
    }
    std::ofstream(dir_ + "/heldout.txt")
        << "The dog sat on the mat. The cat sat on the log. The sun rose "
           "over the tree, and a bird sang on the hill. The cat sat.\n";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  TrainOptions Options(const std::string& out) {
    TrainOptions o;
    o.train_text = dir_ + "/train.txt";
    o.heldout_text = dir_ + "/heldout.txt";
    o.tokenizer_dir = std::string(ABLATE_TEST_DATA_DIR) + "/gpt2-tokenizer";
    o.out_dir = dir_ + "/" + out;
    o.model = engine::ModelConfig{1, 2, 16, 16};
    o.seq_len = 16;
    o.batch_size = 4;
    o.steps = 40;
    o.warmup_steps = 5;
    o.lr = 1e-2;
    o.min_lr = 1e-3;
    o.threads = 1;
    o.log_every = 0;
    return o;
  }

  std::string dir_;
};

TEST_F(TrainRunTest, LearnsSavesAndIsDeterministic) {
  absl::StatusOr<TrainReport> a = Train(Options("a"));
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<TrainReport> b = Train(Options("b"));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->safetensors_sha256, b->safetensors_sha256);
  EXPECT_EQ(a->heldout_ppl_fp32, b->heldout_ppl_fp32);
  // From uniform (50257) to a text it has nearly seen: far below.
  EXPECT_LT(a->heldout_ppl_fp32, 200.0);
  EXPECT_NEAR(a->heldout_ppl_saved / a->heldout_ppl_fp32, 1.0, 1e-2);
  EXPECT_NEAR(a->heldout_ppl_engine / a->heldout_ppl_saved, 1.0, 1e-4);
  absl::StatusOr<engine::ModelWeights> w = engine::LoadCheckpoint(dir_ + "/a");
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->config.vocab_size, 50257);
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/a/vocab.json"));
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/a/merges.txt"));
}

TEST_F(TrainRunTest, BadOptions) {
  TrainOptions o = Options("c");
  o.seq_len = 17;  // > n_positions
  EXPECT_FALSE(Train(o).ok());
  o = Options("c");
  o.train_text = dir_ + "/missing.txt";
  absl::StatusOr<TrainReport> r = Train(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("missing.txt"), std::string::npos);
  o = Options("c");
  o.model.n_head = 3;
  EXPECT_FALSE(Train(o).ok());
}

}  // namespace
}  // namespace ablate::train
