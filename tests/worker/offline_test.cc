// Copyright: the ablate authors.
//
// The offline `eval` / `tokenize` commands: JSON shape and values (cross-checked against
// direct Model::Evaluate calls, one mask per call), cumulative orders, errors, and the
// ablate-worker binary's exit codes.
#include "worker/offline.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "proto/analysis/bootstrap.h"
#include "tests/worker/worker_test_util.h"
#include "worker/chunks.h"
#include "worker/engine/checkpoint.h"
#include "worker/model_cache.h"
#include "worker/engine/tokenizer.h"

namespace ablate::worker {
namespace {

using ::ablate::testing::ChildProcess;
using ::ablate::testing::TempDir;
using ::testing::HasSubstr;
using nlohmann::json;

constexpr int kChunks = 2;
constexpr int kSeqLen = 16;

class OfflineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    auto sha = ablate::testing::WriteRandomModel(dir_->File("model"), 11);
    ASSERT_TRUE(sha.ok()) << sha.status();
    sha_ = new std::string(*sha);
    ablate::testing::WriteFileOrDie(dir_->File("text.txt"), ablate::testing::TestText());
    auto model = LoadModel(dir_->File("model"), *sha_, engine::EngineOptions());
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = new std::shared_ptr<const LoadedModel>(*model);
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete sha_;
    delete model_;
  }

  EvalOptions Options(SweepKind sweep, engine::Method method = engine::Method::kZero) const {
    EvalOptions o;
    o.model_dir = dir_->File("model");
    o.text_file = dir_->File("text.txt");
    o.n_chunks = kChunks;
    o.seq_len = kSeqLen;
    o.method = method;
    o.sweep = sweep;
    o.progress = false;
    o.masks_per_batch = 1;  // One mask per engine call: comparable bit for bit with DirectPpl.
    return o;
  }

  // PPL of one mask evaluated alone, by a direct engine call.
  double DirectPpl(const engine::HeadMask& mask, engine::Method method, bool bos = false) const {
    auto chunks = MakeChunks((*model_)->tokenizer->Encode(ablate::testing::TestText()), kChunks,
                             kSeqLen, bos, (*model_)->tokenizer->eot_id());
    EXPECT_TRUE(chunks.ok());
    std::vector<engine::HeadMask> masks = {mask};
    auto nll = (*model_)->engine->Evaluate(*chunks, masks, method);
    EXPECT_TRUE(nll.ok()) << nll.status();
    return std::exp((*nll)[0].nll_sum / (*nll)[0].n_tokens);
  }

  static TempDir* dir_;
  static std::string* sha_;
  static std::shared_ptr<const LoadedModel>* model_;
};

TempDir* OfflineTest::dir_ = nullptr;
std::string* OfflineTest::sha_ = nullptr;
std::shared_ptr<const LoadedModel>* OfflineTest::model_ = nullptr;

void ExpectRelNear(double a, double b, double rel) {
  EXPECT_LE(std::abs(a - b), rel * std::max(std::abs(a), std::abs(b))) << a << " vs " << b;
}

TEST_F(OfflineTest, IndividualJsonShapeAndValues) {
  auto out = RunEval(Options(SweepKind::kIndividual));
  ASSERT_TRUE(out.ok()) << out.status();
  const json& j = *out;
  EXPECT_FALSE(j.contains("cumulative"));
  EXPECT_EQ(j["n_tokens_scored"].get<int64_t>(), kChunks * (kSeqLen - 1));
  EXPECT_GE(j["seconds"].get<double>(), 0);
  const json& model = j["model"];
  EXPECT_EQ(model["sha256"], *sha_);
  EXPECT_EQ(model["path"], dir_->File("model"));
  EXPECT_EQ(model["n_layer"], 3);
  EXPECT_EQ(model["n_head"], 4);
  EXPECT_EQ(model["n_embd"], 16);
  EXPECT_EQ(model["n_positions"], 64);
  EXPECT_EQ(model["vocab_size"], 50257);
  const double base = j["baseline_ppl"].get<double>();
  ExpectRelNear(base, DirectPpl({}, engine::Method::kZero), 1e-12);
  ASSERT_EQ(j["heads"].size(), 12u);
  for (int i = 0; i < 12; ++i) {
    const json& row = j["heads"][i];
    EXPECT_EQ(row["layer"], i / 4);
    EXPECT_EQ(row["head"], i % 4);
    const double ppl = row["ppl"].get<double>();
    EXPECT_DOUBLE_EQ(row["delta"].get<double>(), (ppl - base) / base);
  }
  ExpectRelNear(j["heads"][5]["ppl"].get<double>(), DirectPpl({5}, engine::Method::kZero), 1e-12);
  ExpectRelNear(j["heads"][11]["ppl"].get<double>(), DirectPpl({11}, engine::Method::kZero),
                1e-12);
}

TEST_F(OfflineTest, BatchingChangesOnlyRounding) {
  EvalOptions o = Options(SweepKind::kFull, engine::Method::kZeroFolded);
  auto one = RunEval(o);
  o.masks_per_batch = 0;
  auto all = RunEval(o);
  o.masks_per_batch = 5;
  auto five = RunEval(o);
  ASSERT_TRUE(one.ok() && all.ok() && five.ok());
  for (const json* other : {&*all, &*five}) {
    ExpectRelNear((*one)["baseline_ppl"].get<double>(), (*other)["baseline_ppl"].get<double>(),
                  1e-5);
    for (int i = 0; i < 12; ++i) {
      ExpectRelNear((*one)["heads"][i]["ppl"].get<double>(),
                    (*other)["heads"][i]["ppl"].get<double>(), 1e-5);
      ExpectRelNear((*one)["cumulative"][i + 1]["ppl"].get<double>(),
                    (*other)["cumulative"][i + 1]["ppl"].get<double>(), 1e-5);
    }
  }
}

TEST_F(OfflineTest, HeadsMatter) {
  auto out = RunEval(Options(SweepKind::kIndividual, engine::Method::kMean));
  ASSERT_TRUE(out.ok()) << out.status();
  int changed = 0;
  for (const json& row : (*out)["heads"]) changed += std::abs(row["delta"].get<double>()) > 1e-6;
  EXPECT_GE(changed, 10);  // The random model is not degenerate: ablations move the PPL.
}

TEST_F(OfflineTest, CumulativeFollowsTheGivenOrder) {
  std::vector<int> order(12);
  std::iota(order.begin(), order.end(), 0);
  std::reverse(order.begin(), order.end());
  std::swap(order[3], order[7]);
  json file = json::array();
  for (int f : order) file.push_back({f / 4, f % 4});
  ablate::testing::WriteFileOrDie(dir_->File("order.json"), file.dump());
  EvalOptions o = Options(SweepKind::kCumulative, engine::Method::kZeroFolded);
  o.order_file = dir_->File("order.json");
  auto out = RunEval(o);
  ASSERT_TRUE(out.ok()) << out.status();
  const json& curve = (*out)["cumulative"];
  ASSERT_EQ(curve.size(), 13u);
  EXPECT_TRUE((*out)["heads"].empty());
  EXPECT_TRUE(curve[0]["head"].is_null());
  EXPECT_EQ(curve[0]["ppl"].get<double>(), (*out)["baseline_ppl"].get<double>());
  for (int k = 1; k <= 12; ++k) {
    EXPECT_EQ(curve[k]["removed"], k);
    EXPECT_EQ(curve[k]["head"], json::array({order[k - 1] / 4, order[k - 1] % 4}));
  }
  engine::HeadMask first3(order.begin(), order.begin() + 3);
  ExpectRelNear(curve[3]["ppl"].get<double>(), DirectPpl(first3, engine::Method::kZeroFolded),
                1e-12);
  ExpectRelNear(curve[12]["ppl"].get<double>(), DirectPpl(order, engine::Method::kZeroFolded),
                1e-12);
}

TEST_F(OfflineTest, FullDerivesTheOrderFromDeltas) {
  auto out = RunEval(Options(SweepKind::kFull));
  ASSERT_TRUE(out.ok()) << out.status();
  const json& heads = (*out)["heads"];
  const json& curve = (*out)["cumulative"];
  ASSERT_EQ(heads.size(), 12u);
  ASSERT_EQ(curve.size(), 13u);
  EXPECT_EQ(curve[0]["ppl"].get<double>(), (*out)["baseline_ppl"].get<double>());
  double previous = -1e300;
  for (int k = 1; k <= 12; ++k) {
    int flat = curve[k]["head"][0].get<int>() * 4 + curve[k]["head"][1].get<int>();
    double delta = heads[flat]["delta"].get<double>();
    EXPECT_GE(delta, previous);  // Ascending signed delta.
    previous = delta;
  }
  // The order file reader accepts an eval output and reproduces the same curve.
  ASSERT_TRUE(WriteJsonFile(dir_->File("full.json"), *out).ok());
  EvalOptions o = Options(SweepKind::kCumulative);
  o.order_file = dir_->File("full.json");
  auto again = RunEval(o);
  ASSERT_TRUE(again.ok()) << again.status();
  for (int k = 0; k <= 12; ++k) {
    ExpectRelNear((*again)["cumulative"][k]["ppl"].get<double>(), curve[k]["ppl"].get<double>(),
                  1e-9);
  }
}

// Blocks of 4 scored tokens (4, 4, 4, 3 per chunk of 16): every head's and point's blocks sum
// to its NLL, and the intervals are the analysis library's on exactly these blocks.
TEST_F(OfflineTest, FullSweepBlocksAndIntervals) {
  EvalOptions o = Options(SweepKind::kFull);
  o.block_tokens = 4;
  o.bootstrap = 2000;
  o.seed = 7;
  auto out = RunEval(o);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)["block_tokens"], json({4, 4, 4, 3, 4, 4, 4, 3}));
  EXPECT_EQ((*out)["bootstrap"].get<int>(), 2000);
  EXPECT_EQ((*out)["seed"].get<uint64_t>(), 7u);
  const int64_t n = kChunks * (kSeqLen - 1);
  auto mask = [&](const json& blocks) {
    analysis::MaskNll m{0, n, blocks.get<std::vector<double>>()};
    for (double b : m.block_nll) m.nll_sum += b;
    return m;
  };
  const analysis::MaskNll base = mask((*out)["baseline_block_nll"]);
  ExpectRelNear(std::exp(base.nll_sum / n), (*out)["baseline_ppl"].get<double>(), 1e-9);
  std::vector<analysis::MaskNll> heads;
  for (const json& h : (*out)["heads"]) {
    heads.push_back(mask(h["block_nll"]));
    ExpectRelNear(std::exp(heads.back().nll_sum / n), h["ppl"].get<double>(), 1e-9);
  }
  const std::vector<int64_t> sizes = {4, 4, 4, 3, 4, 4, 4, 3};
  auto want = analysis::HeadIntervals(sizes, base, heads, {0.95, 2000, 7});
  ASSERT_TRUE(want.ok());
  for (size_t i = 0; i < heads.size(); ++i) {
    const json& h = (*out)["heads"][i];
    EXPECT_EQ(h["delta_ci"], json({(*want)[i].delta_lo, (*want)[i].delta_hi}));
    EXPECT_EQ(h["rank_ci"], json({(*want)[i].rank_lo, (*want)[i].rank_hi}));
    EXPECT_EQ(h["significant"].get<bool>(), (*want)[i].significant);
    EXPECT_LT((*want)[i].delta_lo, (*want)[i].delta_hi);  // heads matter (HeadsMatter)
  }
  for (const json& p : (*out)["cumulative"]) {
    ASSERT_TRUE(p.contains("ratio_ci")) << p.dump();
    EXPECT_EQ(p["block_nll"].size(), 8u);
    EXPECT_LE(p["ratio_ci"][0].get<double>(), p["ratio_ci"][1].get<double>());
  }
  ASSERT_EQ((*out)["thresholds"].size(), 3u);
  for (const json& t : (*out)["thresholds"]) {
    EXPECT_LE(t["max_heads_ci"][0].get<int>(), t["max_heads_ci"][1].get<int>());
  }

  o.bootstrap = -1;
  o.sweep = SweepKind::kIndividual;
  out = RunEval(o);
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE((*out)["heads"][0].contains("delta_ci"));
  EXPECT_TRUE((*out)["heads"][0].contains("block_nll"));
  EXPECT_FALSE((*out).contains("ci"));
  o.block_tokens = 16;  // > seq_len - 1
  EXPECT_THAT(RunEval(o).status().message(), HasSubstr("--block"));
  o.block_tokens = 4;
  o.bootstrap = 10;
  o.ci = 1.5;
  EXPECT_THAT(RunEval(o).status().message(), HasSubstr("--ci"));
}

TEST_F(OfflineTest, BosKeepsTheTokenCount) {
  EvalOptions o = Options(SweepKind::kIndividual);
  o.bos = true;
  auto out = RunEval(o);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)["n_tokens_scored"].get<int64_t>(), kChunks * (kSeqLen - 1));
  ExpectRelNear((*out)["baseline_ppl"].get<double>(),
                DirectPpl({}, engine::Method::kZero, /*bos=*/true), 1e-12);
}

TEST_F(OfflineTest, Errors) {
  EvalOptions o = Options(SweepKind::kIndividual);
  o.n_chunks = 1000;
  auto too_short = RunEval(o);
  EXPECT_EQ(too_short.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(too_short.status().message(), HasSubstr("text too short"));

  o = Options(SweepKind::kIndividual);
  o.model_dir = dir_->File("missing");
  EXPECT_EQ(RunEval(o).status().code(), absl::StatusCode::kNotFound);

  o = Options(SweepKind::kCumulative);
  EXPECT_THAT(RunEval(o).status().message(), HasSubstr("--order"));

  ablate::testing::WriteFileOrDie(dir_->File("short_order.json"), "[[0, 1], [2, 3]]");
  o.order_file = dir_->File("short_order.json");
  auto bad_order = RunEval(o);
  EXPECT_EQ(bad_order.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_order.status().message(), HasSubstr("names 2 heads"));

  o.seq_len = 65;  // Above n_positions.
  o.order_file.clear();
  o.sweep = SweepKind::kIndividual;
  EXPECT_FALSE(RunEval(o).ok());
}

// Runs ablate-worker with `args`; returns (exit code, output).
std::pair<int, std::string> RunBinary(const TempDir& dir, std::vector<std::string> args) {
  args.insert(args.begin(), ABLATE_WORKER_BIN);
  static int n = 0;
  auto child = ChildProcess::Start(args, dir.File("bin" + std::to_string(n++) + ".log"));
  EXPECT_TRUE(child.ok());
  auto code = (*child)->Wait(std::chrono::seconds(60));
  EXPECT_TRUE(code.has_value());
  return {code.value_or(-1), (*child)->Log()};
}

TEST_F(OfflineTest, BinaryEvalAndTokenize) {
  TempDir work;
  auto [code, log] = RunBinary(
      work, {"eval", "--model", dir_->File("model"), "--text", dir_->File("text.txt"),
             "--n-chunks", "2", "--seq-len", "16", "--method", "zero", "--sweep", "individual", "--masks-per-batch", "1",
             "--out", work.File("out.json")});
  ASSERT_EQ(code, 0) << log;
  auto written = ReadFile(work.File("out.json"));
  ASSERT_TRUE(written.ok());
  json j = json::parse(*written);
  auto direct = RunEval(Options(SweepKind::kIndividual));
  ASSERT_TRUE(direct.ok());
  ExpectRelNear(j["baseline_ppl"].get<double>(), (*direct)["baseline_ppl"].get<double>(), 1e-12);
  EXPECT_EQ(j["heads"].size(), 12u);

  auto [tcode, ids] = RunBinary(work, {"tokenize", "--model", dir_->File("model"), "--text",
                                       dir_->File("text.txt")});
  ASSERT_EQ(tcode, 0) << ids;
  auto tokenizer = engine::Tokenizer::Load(dir_->File("model"));
  ASSERT_TRUE(tokenizer.ok());
  EXPECT_EQ(json::parse(ids).get<std::vector<int>>(),
            (*tokenizer)->Encode(ablate::testing::TestText()));
}

TEST_F(OfflineTest, BinaryErrorsAreOneLineWithExitCodes) {
  TempDir work;
  const std::vector<std::string> base = {"eval", "--model", dir_->File("model"), "--text",
                                         dir_->File("text.txt"), "--n-chunks", "2",
                                         "--seq-len", "16", "--sweep", "individual",
                                         "--out", work.File("o.json")};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return RunBinary(work, args);
  };
  auto [c1, l1] = with({"--method", "bogus"});
  EXPECT_EQ(c1, 2);
  EXPECT_THAT(l1, HasSubstr("unknown"));
  EXPECT_EQ(std::count(l1.begin(), l1.end(), '\n'), 1) << l1;
  auto [c2, l2] = RunBinary(work, {"eval", "--model", dir_->File("model")});
  EXPECT_EQ(c2, 2) << l2;
  std::vector<std::string> many = base;
  many[6] = "5000";
  many.insert(many.end(), {"--method", "zero"});
  auto [c3, l3] = RunBinary(work, many);
  EXPECT_EQ(c3, 2) << l3;  // Text too short: bad input.
  EXPECT_THAT(l3, HasSubstr("text too short"));
  std::vector<std::string> missing = base;
  missing[4] = work.File("nope.txt");
  missing.insert(missing.end(), {"--method", "zero"});
  auto [c4, l4] = RunBinary(work, missing);
  EXPECT_EQ(c4, 1) << l4;
  EXPECT_THAT(l4, HasSubstr("nope.txt"));
  auto [c5, l5] = RunBinary(work, {});
  EXPECT_EQ(c5, 2);
  EXPECT_THAT(l5, HasSubstr("--server"));
  auto [c6, l6] = with({"--method", "zero", "--device", "tpu"});
  EXPECT_EQ(c6, 2) << l6;
}

}  // namespace
}  // namespace ablate::worker
