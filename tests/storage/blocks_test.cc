// Per-block NLL in the store: the blob encoding, JobSpec.block_tokens validation and
// Task.block_tokens, CompleteTask's block checks, results without blocks (old workers), and
// blocks and bootstrap intervals through the query layer.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "proto/analysis/bootstrap.h"
#include "storage/blocks.h"
#include "storage/queries.h"
#include "storage/store.h"
#include "tests/storage/test_util.h"

namespace ablate::storage {
namespace {

namespace v1 = ::ablate::v1;
using ::ablate::testing::FillFakeResults;
using ::ablate::testing::SmallSpec;
using ::ablate::testing::TempDir;

TEST(BlocksCodecTest, LittleEndianFloat64) {
  const std::string bytes = EncodeBlocks({1.0, -2.5});
  ASSERT_EQ(bytes.size(), 16u);
  // 1.0 = 0x3FF0000000000000, least significant byte first.
  EXPECT_EQ(bytes.substr(0, 8), std::string("\0\0\0\0\0\0\xf0\x3f", 8));
  EXPECT_EQ(bytes.substr(8, 8), std::string("\0\0\0\0\0\0\x04\xc0", 8));
  auto back = DecodeBlocks(bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_THAT(*back, ::testing::ElementsAre(1.0, -2.5));
  EXPECT_TRUE(DecodeBlocks("")->empty());
  EXPECT_EQ(DecodeBlocks("1234567").status().code(), absl::StatusCode::kDataLoss);
}

// Per-token NLL of mask `index` in block `b`: the fake PPL's log, plus a block-dependent
// wobble for heads so the bootstrap has something to resample.
double BlockNll(const v1::MaskSpec& mask, int b, int64_t tokens) {
  const double base = std::log(20.0);
  if (mask.index() == 0) return base * tokens;
  const double effect = mask.phase() == v1::PHASE_INDIVIDUAL ? 0.01 * (mask.index() % 5)
                                                             : 0.05 * mask.index();
  return (base + effect * (1.0 + 0.5 * ((b % 3) - 1))) * tokens;
}

// Results with blocks for every mask of `task` (nll_sum = the blocks' sum).
void FillBlockResults(const v1::Task& task, const std::string& worker,
                      v1::CompleteTaskRequest* request) {
  FillFakeResults(task, worker, request);
  const std::vector<int64_t> sizes =
      analysis::BlockSizes(task.n_chunks(), task.seq_len(), task.block_tokens());
  for (int i = 0; i < request->results_size(); ++i) {
    v1::MaskResult* r = request->mutable_results(i);
    double sum = 0;
    for (size_t b = 0; b < sizes.size(); ++b) {
      r->add_block_nll(BlockNll(task.masks(i), static_cast<int>(b), sizes[b]));
      sum += r->block_nll(static_cast<int>(b));
    }
    r->set_nll_sum(sum);
  }
}

class BlocksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions options;
    options.synchronous_full = false;
    auto store = Store::Open(dir_.File("queue.db"), options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    worker_ = store_->RegisterWorker(v1::RegisterRequest())->worker_id();
  }

  absl::StatusOr<v1::Job> Submit(v1::JobSpec spec) {
    v1::SubmitJobRequest request;
    *request.mutable_spec() = std::move(spec);
    auto outcome = store_->SubmitJob(request);
    if (!outcome.ok()) return outcome.status();
    return outcome->job;
  }

  // Completes every leasable task, with blocks unless `blocks` is false.
  void RunAll(bool blocks = true) {
    while (true) {
      auto lease = store_->LeaseTask(worker_);
      ASSERT_TRUE(lease.ok()) << lease.status();
      if (!lease->has_task()) return;
      v1::CompleteTaskRequest complete;
      if (blocks) {
        FillBlockResults(lease->task(), worker_, &complete);
      } else {
        FillFakeResults(lease->task(), worker_, &complete);
      }
      auto done = store_->CompleteTask(complete);
      ASSERT_TRUE(done.ok()) << done.status();
    }
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
  std::string worker_;
};

TEST_F(BlocksTest, BlockTokensDefaultAndBounds) {
  v1::JobSpec spec = SmallSpec(1, 2, v1::SWEEP_INDIVIDUAL);  // seq_len 8: 7 scored per chunk
  auto job = Submit(spec);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->spec().block_tokens(), 7);  // min(64, seq_len - 1)
  auto lease = store_->LeaseTask(worker_);
  ASSERT_TRUE(lease.ok() && lease->has_task());
  EXPECT_EQ(lease->task().block_tokens(), 7);
  spec.set_block_tokens(8);
  EXPECT_THAT(Submit(spec).status().message(), ::testing::HasSubstr("spec.block_tokens"));
  spec.set_block_tokens(-1);
  EXPECT_EQ(Submit(spec).status().code(), absl::StatusCode::kInvalidArgument);
  spec.set_block_tokens(3);
  spec.set_name("three");
  job = Submit(spec);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->spec().block_tokens(), 3);
}

TEST_F(BlocksTest, CompleteTaskChecksBlocks) {
  v1::JobSpec spec = SmallSpec(1, 2, v1::SWEEP_INDIVIDUAL, 4);
  spec.set_block_tokens(3);  // blocks of 3, 3, 1 per chunk: 6 blocks
  ASSERT_TRUE(Submit(spec).ok());
  auto lease = store_->LeaseTask(worker_);
  ASSERT_TRUE(lease.ok() && lease->has_task());
  EXPECT_EQ(lease->task().block_tokens(), 3);
  v1::CompleteTaskRequest good;
  FillBlockResults(lease->task(), worker_, &good);
  ASSERT_EQ(good.results(0).block_nll_size(), 6);

  v1::CompleteTaskRequest bad = good;
  bad.mutable_results(1)->set_block_nll(2, bad.results(1).block_nll(2) + 0.5);
  auto refused = store_->CompleteTask(bad);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), ::testing::HasSubstr("results[1].block_nll sums to"));

  bad = good;
  bad.mutable_results(0)->mutable_block_nll()->RemoveLast();
  refused = store_->CompleteTask(bad);
  EXPECT_THAT(refused.status().message(), ::testing::HasSubstr("expected 6"));

  ASSERT_TRUE(store_->CompleteTask(good).ok());
  auto phase = store_->LoadPhase(lease->task().job_id(), v1::PHASE_INDIVIDUAL);
  ASSERT_TRUE(phase.ok()) << phase.status();
  for (int i = 0; i < 3; ++i) {
    EXPECT_THAT(phase->masks[i].block_nll,
                ::testing::ElementsAreArray(good.results(i).block_nll().begin(),
                                            good.results(i).block_nll().end()));
  }
}

TEST_F(BlocksTest, QueriesReturnBlocksAndIntervals) {
  v1::JobSpec spec = SmallSpec(2, 3, v1::SWEEP_FULL, 4);
  spec.set_block_tokens(2);  // 2, 2, 2, 1 per chunk: 8 blocks
  auto job = Submit(spec);
  ASSERT_TRUE(job.ok());
  RunAll();
  auto table = QueryHeadTable(*store_, job->id());
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_THAT(table->block_tokens(), ::testing::ElementsAre(2, 2, 2, 1, 2, 2, 2, 1));
  EXPECT_EQ(table->baseline_block_nll_size(), 8);
  EXPECT_EQ(table->ci(), 0.95);
  EXPECT_EQ(table->bootstrap(), 10000);
  EXPECT_EQ(table->seed(), analysis::kDefaultSeed);
  for (const v1::HeadRow& row : table->rows()) {
    EXPECT_EQ(row.block_nll_size(), 8);
    ASSERT_TRUE(row.has_delta_lo() && row.has_delta_hi());
    EXPECT_LE(row.delta_lo(), row.delta() + 1e-12);
    EXPECT_GE(row.delta_hi(), row.delta() - 1e-12);
    EXPECT_GE(row.rank_lo(), 1);
    EXPECT_LE(row.rank_hi(), 6);
    EXPECT_EQ(row.significant(), row.delta_lo() > 0 || row.delta_hi() < 0);
  }
  // Mask index 5 (row 4): effect 0, exactly the baseline, never significant; index 4 (row 3):
  // +0.02 to +0.06 nats per token in every block.
  EXPECT_FALSE(table->rows(4).significant());
  EXPECT_TRUE(table->rows(3).significant());

  v1::Uncertainty none;
  none.set_bootstrap(-1);
  none.set_omit_blocks(true);
  auto bare = QueryHeadTable(*store_, job->id(), none);
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->block_tokens_size(), 0);
  EXPECT_FALSE(bare->rows(0).has_delta_lo());
  EXPECT_EQ(bare->ci(), 0.0);
  v1::Uncertainty bad;
  bad.set_ci(1.5);
  EXPECT_THAT(QueryHeadTable(*store_, job->id(), bad).status().message(),
              ::testing::HasSubstr("uncertainty"));

  auto curve = QueryCurve(*store_, job->id());
  ASSERT_TRUE(curve.ok()) << curve.status();
  EXPECT_EQ(curve->block_tokens_size(), 8);
  for (const v1::CurvePoint& p : curve->points()) {
    EXPECT_EQ(p.block_nll_size(), 8);
    ASSERT_TRUE(p.has_ratio_lo());
    EXPECT_LE(p.ratio_lo(), p.ratio() + 1e-12);
    EXPECT_GE(p.ratio_hi(), p.ratio() - 1e-12);
  }
  v1::ThresholdsRequest thresholds;
  thresholds.set_job_id(job->id());
  auto rows = QueryThresholds(*store_, thresholds);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->rows_size(), 3);
  for (const v1::ThresholdRow& r : rows->rows()) {
    ASSERT_TRUE(r.has_max_heads_lo());
    EXPECT_LE(r.max_heads_lo(), r.max_heads());
    EXPECT_GE(r.max_heads_hi(), r.max_heads());
  }
  auto stats = QueryDistribution(*store_, job->id());
  ASSERT_TRUE(stats.ok());
  ASSERT_TRUE(stats->has_n_significant());
  int significant = 0;
  for (const v1::HeadRow& row : table->rows()) significant += row.significant();
  EXPECT_EQ(stats->n_significant(), significant);
}

TEST_F(BlocksTest, ResultsWithoutBlocksHaveNoIntervals) {
  auto job = Submit(SmallSpec(1, 2, v1::SWEEP_FULL, 4));
  ASSERT_TRUE(job.ok());
  RunAll(/*blocks=*/false);
  auto table = QueryHeadTable(*store_, job->id());
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->block_tokens_size(), 0);
  EXPECT_FALSE(table->rows(0).has_delta_lo());
  EXPECT_EQ(table->ci(), 0.0);
  auto curve = QueryCurve(*store_, job->id());
  ASSERT_TRUE(curve.ok());
  EXPECT_FALSE(curve->points(1).has_ratio_lo());
  v1::ThresholdsRequest thresholds;
  thresholds.set_job_id(job->id());
  EXPECT_FALSE(QueryThresholds(*store_, thresholds)->rows(0).has_max_heads_lo());
  EXPECT_FALSE(QueryDistribution(*store_, job->id())->has_n_significant());
}

}  // namespace
}  // namespace ablate::storage
