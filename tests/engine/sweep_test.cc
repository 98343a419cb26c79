// Copyright: the ablate authors.
//
// Sweeps on the hand-built copy model (copy_model.h), whose per-head effects
// are known in closed form: layer 0 head 0 raises the PPL from
// CleanPplClosedForm to AblatedPplClosedForm, every other head changes nothing.
// Also MakeChunks.
#include "worker/engine/sweep.h"

#include <gtest/gtest.h>

#include <memory>
#include <utility>
#include <vector>

#include "tests/engine/copy_model.h"

namespace ablate::engine {
namespace {

using copy_model::AblatedPplClosedForm;
using copy_model::CleanPplClosedForm;

constexpr int kHeads = copy_model::kCopyLayers * copy_model::kCopyHeads;  // 8

std::unique_ptr<Model> CopyModel() {
  EngineOptions opt;
  opt.max_batch_rows = 8;
  auto model = Model::Create(copy_model::CopyModelWeights(), opt);
  EXPECT_TRUE(model.ok()) << model.status();
  return std::move(*model);
}

torch::Tensor Ids(std::vector<int64_t> ids) {
  return torch::tensor(ids, torch::kLong);
}

TEST(MakeChunks, CutsInOrderWithOrWithoutBos) {
  const std::vector<int> tokens = {1, 2, 3, 4, 5, 6, 7};
  auto plain = MakeChunks(tokens, 2, 3);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_TRUE(plain->equal(Ids({1, 2, 3, 4, 5, 6}).view({2, 3})));
  auto bos = MakeChunks(tokens, 3, 3, kEndOfText);
  ASSERT_TRUE(bos.ok()) << bos.status();
  const int64_t b = kEndOfText;
  EXPECT_TRUE(bos->equal(Ids({b, 1, 2, b, 3, 4, b, 5, 6}).view({3, 3})));
}

TEST(MakeChunks, TooFewTokensAndBadShapesAreErrors) {
  const std::vector<int> tokens(10, 1);
  absl::Status s = MakeChunks(tokens, 2, 6).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("text too short: 10 tokens"), std::string::npos) << s;
  EXPECT_NE(s.message().find("need 12"), std::string::npos) << s;
  EXPECT_FALSE(MakeChunks(tokens, 1, 5, -1).ok());  // BOS asked, none in the vocabulary
  EXPECT_TRUE(MakeChunks(tokens, 2, 6, kEndOfText).ok());  // 2 x 5 text tokens
  EXPECT_FALSE(MakeChunks(tokens, 0, 4).ok());
  EXPECT_FALSE(MakeChunks(tokens, 2, 1).ok());
}

TEST(Sweep, IndividualMatchesClosedForm) {
  auto model = CopyModel();
  const torch::Tensor chunks = copy_model::AlternatingChunks(2, 16);
  std::vector<std::pair<int64_t, int64_t>> calls;
  auto r = RunIndividual(
      *model, chunks, Method::kZero,
      [&](int64_t done, int64_t total) { calls.emplace_back(done, total); });
  ASSERT_TRUE(r.ok()) << r.status();
  const double clean = CleanPplClosedForm(16), ablated = AblatedPplClosedForm();
  EXPECT_NEAR(r->baseline_ppl / clean, 1.0, 1e-5);
  EXPECT_EQ(r->n_tokens_scored, 2 * 15);
  ASSERT_EQ(r->heads.size(), static_cast<size_t>(kHeads));
  EXPECT_NEAR(r->heads[0].delta, (ablated - clean) / clean, 1e-5);
  EXPECT_GT(r->heads[0].delta, 1.0);
  for (int i = 0; i < kHeads; ++i) {
    EXPECT_EQ(r->heads[i].layer, i / 4);
    EXPECT_EQ(r->heads[i].head, i % 4);
    if (i > 0) EXPECT_NEAR(r->heads[i].delta, 0.0, 1e-7) << i;
  }
  EXPECT_TRUE(r->cumulative.empty());
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls.back(),
            std::make_pair(int64_t{kHeads + 1}, int64_t{kHeads + 1}));
}

TEST(Sweep, CumulativeFollowsTheGivenOrder) {
  auto model = CopyModel();
  const torch::Tensor chunks = copy_model::AlternatingChunks(2, 16);
  const std::vector<int> order = {5, 0, 3};
  auto r = RunCumulative(*model, chunks, Method::kZeroFolded, order);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->cumulative.size(), 4u);
  const double clean = CleanPplClosedForm(16), ablated = AblatedPplClosedForm();
  const double want[] = {clean, clean, ablated, ablated};
  for (int k = 0; k < 4; ++k) {
    EXPECT_EQ(r->cumulative[k].removed, k);
    EXPECT_NEAR(r->cumulative[k].ppl / want[k], 1.0, 1e-5) << k;
  }
  EXPECT_FALSE(r->cumulative[0].head.has_value());
  EXPECT_EQ(r->cumulative[1].head, std::make_pair(1, 1));
  EXPECT_EQ(r->cumulative[2].head, std::make_pair(0, 0));
  EXPECT_TRUE(r->heads.empty());
  EXPECT_FALSE(
      RunCumulative(*model, chunks, Method::kZero, std::vector<int>{1, 1})
          .ok());
  EXPECT_FALSE(
      RunCumulative(*model, chunks, Method::kZero, std::vector<int>{8}).ok());
}

TEST(Sweep, FullRemovesTheCopyHeadLast) {
  auto model = CopyModel();
  const torch::Tensor chunks = copy_model::AlternatingChunks(3, 12);
  int64_t last_done = 0, last_total = 0;
  auto r =
      RunFull(*model, chunks, Method::kZero, [&](int64_t done, int64_t total) {
        EXPECT_GE(done, last_done);
        last_done = done;
        last_total = total;
      });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(last_done, 2 * (kHeads + 1));
  EXPECT_EQ(last_total, 2 * (kHeads + 1));
  ASSERT_EQ(r->heads.size(), static_cast<size_t>(kHeads));
  ASSERT_EQ(r->cumulative.size(), static_cast<size_t>(kHeads + 1));
  EXPECT_EQ(r->cumulative.back().head,
            std::make_pair(0, 0));  // the only head that hurts
  for (int k = 0; k < kHeads; ++k) {
    EXPECT_NEAR(r->cumulative[k].ppl / r->baseline_ppl, 1.0, 1e-7) << k;
  }
  EXPECT_NEAR(r->cumulative.back().ppl / AblatedPplClosedForm(), 1.0, 1e-5);
  EXPECT_GT(r->seconds, 0.0);
}

TEST(Sweep, EngineErrorsPropagate) {
  auto model = CopyModel();
  const torch::Tensor bad =
      torch::full({1, 8}, copy_model::kCopyVocab, torch::kLong);
  EXPECT_EQ(RunIndividual(*model, bad, Method::kMean).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(
      RunFull(*model, torch::zeros({1, 17}, torch::kLong), Method::kMean).ok());
}

}  // namespace
}  // namespace ablate::engine
