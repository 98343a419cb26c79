// Copyright: the ablate authors.
//
// `eval --sweep attribution [--verify-top K] [--reference FILE]`: every head's estimate
// against a direct Model::Attribute call, the verified heads against direct one-mask
// Evaluate calls, the agreement numbers recomputed here, reference checks and errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "tests/worker/worker_test_util.h"
#include "worker/chunks.h"
#include "worker/model_cache.h"
#include "worker/offline.h"

namespace ablate::worker {
namespace {

using ::ablate::testing::TempDir;
using nlohmann::json;

class OfflineAttributionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    auto sha = ablate::testing::WriteRandomModel(dir_->File("model"), 11);
    ASSERT_TRUE(sha.ok()) << sha.status();
    ablate::testing::WriteFileOrDie(dir_->File("text.txt"), ablate::testing::TestText());
    auto model = LoadModel(dir_->File("model"), *sha, engine::EngineOptions());
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = new std::shared_ptr<const LoadedModel>(*model);
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete model_;
  }

  static EvalOptions Options(SweepKind sweep, int k = 0) {
    EvalOptions o;
    o.model_dir = dir_->File("model");
    o.text_file = dir_->File("text.txt");
    o.n_chunks = 2;
    o.seq_len = 16;
    o.method = engine::Method::kZero;
    o.sweep = sweep;
    o.progress = false;
    o.masks_per_batch = 1;
    o.verify_top_k = k;
    return o;
  }

  static torch::Tensor Chunks() {
    auto chunks = MakeChunks((*model_)->tokenizer->Encode(ablate::testing::TestText()), 2, 16,
                             false, (*model_)->tokenizer->eot_id());
    EXPECT_TRUE(chunks.ok());
    return *chunks;
  }

  static TempDir* dir_;
  static std::shared_ptr<const LoadedModel>* model_;
};

TempDir* OfflineAttributionTest::dir_ = nullptr;
std::shared_ptr<const LoadedModel>* OfflineAttributionTest::model_ = nullptr;

TEST_F(OfflineAttributionTest, EstimatesEveryHeadAndVerifiesTheTopK) {
  auto out = RunEval(Options(SweepKind::kAttribution, 3));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)["sweep"], "attribution");
  const engine::Model& model = *(*model_)->engine;
  const int n = model.config().n_heads_total();
  auto want = model.Attribute(Chunks(), engine::Method::kZero);
  ASSERT_TRUE(want.ok()) << want.status();
  const json& heads = (*out)["heads"];
  ASSERT_EQ(static_cast<int>(heads.size()), n);
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return want->estimates[a] > want->estimates[b]; });
  const std::set<int> top(order.begin(), order.begin() + 3);
  std::vector<engine::HeadMask> masks = {{}};
  for (int h : order) masks.push_back({h});
  auto exact = model.Evaluate(Chunks(), masks, engine::Method::kZero);
  ASSERT_TRUE(exact.ok());
  const double base = std::exp((*exact)[0].nll_sum / (*exact)[0].n_tokens);
  // The verify phase evaluates one mask per call here: batching changes the last bits only.
  EXPECT_NEAR((*out)["baseline_ppl"].get<double>(), base, 1e-5 * base);
  for (int h = 0; h < n; ++h) {
    const json& row = heads[h];
    EXPECT_EQ(row["layer"].get<int>() * model.config().n_head + row["head"].get<int>(), h);
    const double atp = std::exp((want->clean.nll_sum + want->estimates[h]) / 30) /
                           std::exp(want->clean.nll_sum / 30) - 1;
    EXPECT_NEAR(row["atp_delta"].get<double>(), atp, 1e-12);
    EXPECT_EQ(row["verified"].get<bool>(), top.count(h) == 1) << h;
    if (!top.count(h)) {
      EXPECT_FALSE(row.contains("ppl"));
      continue;
    }
    const int i = 1 + static_cast<int>(std::find(order.begin(), order.end(), h) - order.begin());
    const double ppl = std::exp((*exact)[i].nll_sum / (*exact)[i].n_tokens);
    EXPECT_NEAR(row["ppl"].get<double>(), ppl, 1e-5 * ppl);
    EXPECT_NEAR(row["delta"].get<double>(), (ppl - base) / base, 1e-5);
  }
  const json& a = (*out)["attribution"];
  EXPECT_EQ(a["n_verified"], 3);
  EXPECT_EQ(a["verify_top_k"], 3);
  EXPECT_EQ(a["verified"].size(), 3u);
  EXPECT_TRUE(a["recall"].is_null());
  EXPECT_NEAR(a["clean_nll"].get<double>(), want->clean.nll_sum, 1e-9);
}

TEST_F(OfflineAttributionTest, RecallAgainstAReferenceOfTheSameRun) {
  auto individual = RunEval(Options(SweepKind::kIndividual));
  ASSERT_TRUE(individual.ok()) << individual.status();
  ASSERT_TRUE(WriteJsonFile(dir_->File("ref.json"), *individual).ok());
  EvalOptions o = Options(SweepKind::kAttribution, 4);
  o.reference_file = dir_->File("ref.json");
  auto out = RunEval(o);
  ASSERT_TRUE(out.ok()) << out.status();
  // The true top 4 by exact delta (ties by index), and how many of them were verified.
  std::vector<int> idx((*individual)["heads"].size());
  std::iota(idx.begin(), idx.end(), 0);
  auto delta = [&](int h) { return (*individual)["heads"][h]["delta"].get<double>(); };
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return delta(a) > delta(b); });
  int hits = 0;
  for (int i = 0; i < 4; ++i) hits += (*out)["heads"][idx[i]]["verified"].get<bool>();
  EXPECT_NEAR((*out)["attribution"]["recall"].get<double>(), hits / 4.0, 1e-12);
  EXPECT_EQ((*out)["attribution"]["reference"], dir_->File("ref.json"));

  // A reference of another run is refused, naming what differs.
  json other = *individual;
  other["method"] = "mean";
  ASSERT_TRUE(WriteJsonFile(dir_->File("other.json"), other).ok());
  o.reference_file = dir_->File("other.json");
  auto bad = RunEval(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("method"), std::string::npos) << bad.status();
}

TEST_F(OfflineAttributionTest, BadOptionsAreInvalidArgument) {
  EXPECT_EQ(RunEval(Options(SweepKind::kAttribution, 1000)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RunEval(Options(SweepKind::kIndividual, 2)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EvalOptions o = Options(SweepKind::kAttribution, 0);
  o.reference_file = dir_->File("ref.json");
  EXPECT_EQ(RunEval(o).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSweepKind("attribution").value(), SweepKind::kAttribution);
  EXPECT_EQ(SweepKindName(SweepKind::kAttribution), "attribution");
}

}  // namespace
}  // namespace ablate::worker
