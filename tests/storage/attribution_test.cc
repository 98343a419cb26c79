// SWEEP_ATTRIBUTION in the store: one attribution task, estimates stored, the verify phase
// derived from them (baseline + top K heads as PHASE_INDIVIDUAL masks), the head table with
// estimates, exact verified heads, Spearman and the recall against an exact job of the same
// run; validation of verify_top_k and of head_estimates; the schema's views.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <set>

#include "storage/queries.h"
#include "storage/store.h"
#include "tests/storage/test_util.h"

namespace ablate::storage {
namespace {

namespace v1 = ::ablate::v1;
using ::ablate::testing::FakePpl;
using ::ablate::testing::FillFakeResults;
using ::ablate::testing::SmallSpec;
using ::ablate::testing::SmallSpecTokens;
using ::ablate::testing::TempDir;

// Estimates (NLL units) of the 2 x 3 model: top 3 by value are heads 2, 3, 5.
const double kEstimates[] = {0.5, -1.0, 3.0, 2.0, 0.0, 1.0};

v1::JobSpec AttributionSpec(int k) {
  v1::JobSpec spec = SmallSpec(2, 3, v1::SWEEP_ATTRIBUTION, 4);
  spec.set_verify_top_k(k);
  return spec;
}

class AttributionStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions options;
    options.synchronous_full = false;
    auto store = Store::Open(dir_.File("queue.db"), options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    worker_ = store_->RegisterWorker(v1::RegisterRequest())->worker_id();
  }

  absl::StatusOr<v1::Job> Submit(const v1::JobSpec& spec) {
    v1::SubmitJobRequest request;
    *request.mutable_spec() = spec;
    auto outcome = store_->SubmitJob(request);
    if (!outcome.ok()) return outcome.status();
    return outcome->job;
  }

  // Runs every leasable task (estimates added to attribution results); returns the tasks.
  std::vector<v1::Task> RunAll() {
    std::vector<v1::Task> tasks;
    while (true) {
      auto lease = store_->LeaseTask(worker_);
      EXPECT_TRUE(lease.ok()) << lease.status();
      if (!lease.ok() || !lease->has_task()) return tasks;
      tasks.push_back(lease->task());
      v1::CompleteTaskRequest complete;
      FillFakeResults(lease->task(), worker_, &complete);
      for (v1::MaskResult& r : *complete.mutable_results()) {
        if (r.phase() != v1::PHASE_ATTRIBUTION) continue;
        for (double e : kEstimates) r.add_head_estimates(e);
      }
      auto done = store_->CompleteTask(complete);
      EXPECT_TRUE(done.ok()) << done.status();
    }
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
  std::string worker_;
};

TEST_F(AttributionStoreTest, AttributionThenVerifyTopK) {
  auto job = Submit(AttributionSpec(3));
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->progress().masks_total(), 1 + 1 + 3);
  EXPECT_EQ(QueryHeadTable(*store_, job->id()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  const std::vector<v1::Task> tasks = RunAll();
  ASSERT_EQ(tasks.size(), 2u);
  ASSERT_EQ(tasks[0].masks_size(), 1);
  EXPECT_EQ(tasks[0].masks(0).phase(), v1::PHASE_ATTRIBUTION);
  EXPECT_EQ(tasks[0].masks(0).index(), 0);
  EXPECT_EQ(tasks[0].masks(0).heads_size(), 0);
  std::vector<int> verify;
  for (const v1::MaskSpec& m : tasks[1].masks()) {
    EXPECT_EQ(m.phase(), v1::PHASE_INDIVIDUAL);
    verify.push_back(m.index());
  }
  EXPECT_EQ(verify, (std::vector<int>{0, 3, 4, 6}));  // baseline, heads 2, 3, 5

  v1::Job done = *store_->GetJob(job->id());
  EXPECT_EQ(done.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(done.progress().masks_done(), 5);
  EXPECT_EQ(done.progress().tasks_done(), done.progress().tasks_total());
  auto table = QueryHeadTable(*store_, job->id());
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ(table->rows_size(), 6);
  EXPECT_EQ(table->n_verified(), 3);
  const double n = static_cast<double>(SmallSpecTokens());
  EXPECT_NEAR(table->baseline_ppl(), 20.0, 1e-9);
  std::vector<double> est, exact;
  for (int h = 0; h < 6; ++h) {
    const v1::HeadRow& r = table->rows(h);
    EXPECT_EQ(r.layer() * 3 + r.head(), h);
    ASSERT_TRUE(r.has_atp_delta());
    EXPECT_NEAR(r.atp_delta(), std::exp((20 * n + kEstimates[h]) / n) / std::exp(20.0) - 1,
                1e-12);
    const bool verified = h == 2 || h == 3 || h == 5;
    EXPECT_EQ(r.exact(), verified) << h;
    if (!verified) continue;
    const double ppl = FakePpl(v1::PHASE_INDIVIDUAL, h + 1);
    EXPECT_NEAR(r.ppl(), ppl, 1e-9);
    EXPECT_NEAR(r.delta(), ppl / 20.0 - 1, 1e-12);
  }
  // Estimates rank 2 > 3 > 5; fake exact deltas: head 2 +10%, head 3 +15%, head 5 0%:
  // ranks (3, 2, 1) vs (2, 3, 1) -> rho = 1 - 6 * 2 / (3 * 8) = 0.5.
  ASSERT_TRUE(table->has_atp_spearman());
  EXPECT_NEAR(table->atp_spearman(), 0.5, 1e-12);
  EXPECT_FALSE(table->has_atp_recall());
  EXPECT_EQ(QueryCurve(*store_, job->id()).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(AttributionStoreTest, RecallAgainstAFinishedExactJobOfTheSameRun) {
  v1::JobSpec other_bos = SmallSpec(2, 3, v1::SWEEP_INDIVIDUAL, 4);
  other_bos.set_bos_per_chunk(true);
  ASSERT_TRUE(Submit(other_bos).ok());
  RunAll();
  auto att = Submit(AttributionSpec(3));
  ASSERT_TRUE(att.ok());
  RunAll();
  EXPECT_FALSE(QueryHeadTable(*store_, att->id())->has_atp_recall());  // BOS differs
  auto exact = Submit(SmallSpec(2, 3, v1::SWEEP_INDIVIDUAL, 4));
  ASSERT_TRUE(exact.ok());
  RunAll();
  auto table = QueryHeadTable(*store_, att->id());
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_TRUE(table->has_atp_recall());
  EXPECT_EQ(table->recall_reference_job(), exact->id());
  // Fake exact deltas of heads 0..5 (mask h + 1): 0, +5, +10, +15, -5, 0 %.
  // True top 3: heads 3, 2, 1; verified 2, 3, 5: two of three.
  EXPECT_NEAR(table->atp_recall(), 2.0 / 3.0, 1e-12);
  auto plain = QueryHeadTable(*store_, exact->id());
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->rows(0).exact());
  EXPECT_FALSE(plain->rows(0).has_atp_delta());
}

TEST_F(AttributionStoreTest, NoVerificationWithKZero) {
  auto job = Submit(AttributionSpec(0));
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->progress().masks_total(), 1);
  EXPECT_EQ(RunAll().size(), 1u);
  EXPECT_EQ(store_->GetJob(job->id())->state(), v1::JOB_STATE_SUCCEEDED);
  auto table = QueryHeadTable(*store_, job->id());
  ASSERT_TRUE(table.ok());
  EXPECT_EQ(table->n_verified(), 0);
  EXPECT_FALSE(table->has_atp_spearman());
}

TEST_F(AttributionStoreTest, VerifyTopKIsValidated) {
  EXPECT_EQ(Submit(AttributionSpec(7)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Submit(AttributionSpec(-1)).status().code(), absl::StatusCode::kInvalidArgument);
  v1::JobSpec individual = SmallSpec(2, 3, v1::SWEEP_INDIVIDUAL, 4);
  individual.set_verify_top_k(2);
  auto bad = Submit(individual);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("verify_top_k"), std::string::npos);
  EXPECT_TRUE(Submit(AttributionSpec(6)).ok());
}

TEST_F(AttributionStoreTest, HeadEstimatesAreChecked) {
  ASSERT_TRUE(Submit(AttributionSpec(2)).ok());
  auto lease = store_->LeaseTask(worker_);
  ASSERT_TRUE(lease.ok() && lease->has_task());
  v1::CompleteTaskRequest complete;
  FillFakeResults(lease->task(), worker_, &complete);
  EXPECT_EQ(store_->CompleteTask(complete).status().code(), absl::StatusCode::kInvalidArgument);
  for (int h = 0; h < 5; ++h) complete.mutable_results(0)->add_head_estimates(1.0);
  EXPECT_EQ(store_->CompleteTask(complete).status().code(), absl::StatusCode::kInvalidArgument);
  complete.mutable_results(0)->add_head_estimates(NAN);
  EXPECT_EQ(store_->CompleteTask(complete).status().code(), absl::StatusCode::kInvalidArgument);
  complete.mutable_results(0)->set_head_estimates(5, 2.0);
  EXPECT_TRUE(store_->CompleteTask(complete).ok());
  // The verify phase's results must not carry estimates.
  lease = store_->LeaseTask(worker_);
  ASSERT_TRUE(lease.ok() && lease->has_task());
  v1::CompleteTaskRequest verify;
  FillFakeResults(lease->task(), worker_, &verify);
  verify.mutable_results(0)->add_head_estimates(1.0);
  EXPECT_EQ(store_->CompleteTask(verify).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(AttributionStoreTest, ViewsShowEstimatesAndMasksTotal) {
  auto job = Submit(AttributionSpec(3));
  ASSERT_TRUE(job.ok());
  RunAll();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(dir_.File("queue.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
            SQLITE_OK);
  auto one = [&](const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    double v = NAN;
    if (stmt != nullptr && sqlite3_step(stmt) == SQLITE_ROW) v = sqlite3_column_double(stmt, 0);
    sqlite3_finalize(stmt);
    return v;
  };
  EXPECT_EQ(one("SELECT COUNT(*) FROM attribution_heads"), 6);
  EXPECT_EQ(one("SELECT COUNT(*) FROM attribution_heads WHERE delta IS NOT NULL"), 3);
  EXPECT_EQ(one("SELECT estimate FROM attribution_heads WHERE layer = 0 AND head = 2"), 3.0);
  EXPECT_EQ(one("SELECT masks_total FROM job_overview"), 5);
  EXPECT_EQ(one("SELECT masks_done FROM job_overview"), 5);
  sqlite3_close(db);
}

}  // namespace
}  // namespace ablate::storage
