// The derived cumulative phase of SWEEP_FULL, SWEEP_CUMULATIVE with a given order, and the
// query layer (storage/queries.h) over the stored results.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "proto/analysis/cumulative_order.h"
#include "storage/queries.h"
#include "storage/store.h"
#include "tests/storage/test_util.h"

namespace ablate::storage {
namespace {

namespace v1 = ::ablate::v1;
using ::ablate::testing::FakePpl;
using ::ablate::testing::FillFakeResults;
using ::ablate::testing::SmallSpec;
using ::ablate::testing::TempDir;

class CumulativeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions options;
    options.synchronous_full = false;
    auto store = Store::Open(dir_.File("queue.db"), options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    v1::RegisterRequest request;
    request.set_device_kind(v1::DEVICE_KIND_CPU);
    worker_ = store_->RegisterWorker(request)->worker_id();
  }

  v1::Job Submit(const v1::JobSpec& spec) {
    v1::SubmitJobRequest request;
    *request.mutable_spec() = spec;
    auto outcome = store_->SubmitJob(request);
    EXPECT_TRUE(outcome.ok()) << outcome.status();
    return outcome->job;
  }

  // Runs every leasable task; returns the tasks seen.
  std::vector<v1::Task> RunAll() {
    std::vector<v1::Task> tasks;
    while (true) {
      auto lease = store_->LeaseTask(worker_);
      EXPECT_TRUE(lease.ok()) << lease.status();
      if (!lease.ok() || !lease->has_task()) return tasks;
      tasks.push_back(lease->task());
      v1::CompleteTaskRequest complete;
      FillFakeResults(lease->task(), worker_, &complete);
      auto done = store_->CompleteTask(complete);
      EXPECT_TRUE(done.ok()) << done.status();
    }
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
  std::string worker_;
};

TEST_F(CumulativeTest, FullSweepDerivesOrderAndEnqueuesCumulativePhase) {
  const int n_layer = 2, n_head = 3, n = n_layer * n_head;
  v1::Job job = Submit(SmallSpec(n_layer, n_head, v1::SWEEP_FULL, 4));
  EXPECT_EQ(QueryCurve(*store_, job.id()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(QueryHeadTable(*store_, job.id()).status().code(),
            absl::StatusCode::kFailedPrecondition);

  std::vector<v1::Task> tasks = RunAll();
  v1::Job done = *store_->GetJob(job.id());
  EXPECT_EQ(done.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(done.progress().masks_done(), 2 * (n + 1));
  EXPECT_EQ(done.progress().masks_total(), 2 * (n + 1));
  EXPECT_EQ(done.progress().tasks_done(), done.progress().tasks_total());

  // The expected order, from the fake PPLs through the analysis library.
  std::vector<double> deltas;
  for (int i = 1; i <= n; ++i) deltas.push_back((FakePpl(v1::PHASE_INDIVIDUAL, i) - 20) / 20);
  std::vector<int> order = *analysis::CumulativeOrder(deltas, n_layer, n_head);
  int cumulative_masks = 0;
  for (const v1::Task& task : tasks) {
    for (const v1::MaskSpec& mask : task.masks()) {
      if (mask.phase() != v1::PHASE_CUMULATIVE) continue;
      ++cumulative_masks;
      ASSERT_GE(mask.index(), 1);  // k = 0 reuses the baseline.
      EXPECT_THAT(mask.heads(), ::testing::ElementsAreArray(order.begin(),
                                                            order.begin() + mask.index()));
    }
  }
  EXPECT_EQ(cumulative_masks, n);

  auto curve = QueryCurve(*store_, job.id());
  ASSERT_TRUE(curve.ok()) << curve.status();
  ASSERT_EQ(curve->points_size(), n + 1);
  EXPECT_NEAR(curve->baseline_ppl(), 20.0, 1e-9);
  EXPECT_FALSE(curve->points(0).has_head());
  for (int k = 1; k <= n; ++k) {
    const v1::CurvePoint& p = curve->points(k);
    EXPECT_EQ(p.removed(), k);
    EXPECT_NEAR(p.ppl(), FakePpl(v1::PHASE_CUMULATIVE, k), 1e-9);
    EXPECT_NEAR(p.ratio(), p.ppl() / 20.0, 1e-12);
    EXPECT_EQ(p.head().layer() * n_head + p.head().head(), order[k - 1]);
  }

  auto table = QueryHeadTable(*store_, job.id());
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ(table->rows_size(), n);
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(table->rows(i).layer(), i / n_head);
    EXPECT_EQ(table->rows(i).head(), i % n_head);
    EXPECT_NEAR(table->rows(i).delta(), deltas[i], 1e-12);
  }

  // Thresholds: ratio 1.12 allows PPL <= 22.4, i.e. k with 1 + 0.05 k <= 1.12 -> k = 2.
  v1::ThresholdsRequest thresholds;
  thresholds.set_job_id(job.id());
  thresholds.add_ratios(1.12);
  auto rows = QueryThresholds(*store_, thresholds);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->rows(0).max_heads(), 2);
  thresholds.set_ratios(0, 0.5);
  EXPECT_EQ(QueryThresholds(*store_, thresholds).status().code(),
            absl::StatusCode::kInvalidArgument);

  EXPECT_TRUE(QueryDistribution(*store_, job.id()).ok());
  auto layers = QueryLayers(*store_, job.id());
  ASSERT_TRUE(layers.ok());
  EXPECT_EQ(layers->rows_size(), n_layer);
  v1::CorrelationRequest correlation;
  correlation.set_job_id(job.id());
  correlation.add_series(1.0);
  EXPECT_EQ(QueryCorrelation(*store_, correlation).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(CumulativeTest, CumulativeSweepUsesTheGivenOrder) {
  v1::JobSpec spec = SmallSpec(2, 2, v1::SWEEP_CUMULATIVE, 2);
  v1::Job job = Submit(spec);
  std::vector<v1::Task> tasks = RunAll();
  EXPECT_EQ(store_->GetJob(job.id())->state(), v1::JOB_STATE_SUCCEEDED);
  // SmallSpec's order: layer 1 heads 0, 1, then layer 0 heads 0, 1 -> flat 2, 3, 0, 1.
  const std::vector<int> order = {2, 3, 0, 1};
  for (const v1::Task& task : tasks) {
    for (const v1::MaskSpec& mask : task.masks()) {
      EXPECT_EQ(mask.phase(), v1::PHASE_CUMULATIVE);
      EXPECT_THAT(mask.heads(),
                  ::testing::ElementsAreArray(order.begin(), order.begin() + mask.index()));
    }
  }
  EXPECT_TRUE(QueryCurve(*store_, job.id()).ok());
  EXPECT_EQ(QueryHeadTable(*store_, job.id()).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace ablate::storage
