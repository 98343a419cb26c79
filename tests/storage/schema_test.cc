// Schema versioning, durability across reopen, and the SQL views dashboards read.
#include "storage/schema.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <memory>

#include "storage/queries.h"
#include "storage/store.h"
#include "tests/storage/test_util.h"

namespace ablate::storage {
namespace {

namespace v1 = ::ablate::v1;
using ::ablate::testing::FillFakeResults;
using ::ablate::testing::SmallSpec;
using ::ablate::testing::TempDir;
using ::testing::HasSubstr;

// Runs `sql` on a separate raw connection and returns the first column of each row.
std::vector<std::string> RawQuery(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  std::vector<std::string> rows;
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  while (stmt != nullptr && sqlite3_step(stmt) == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(stmt, 0);
    rows.push_back(text != nullptr ? reinterpret_cast<const char*>(text) : "");
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return rows;
}

TEST(SchemaTest, FreshDatabaseIsMigratedToCurrentVersion) {
  TempDir dir;
  auto store = Store::Open(dir.File("q.db"), StoreOptions());
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_THAT(RawQuery(dir.File("q.db"), "PRAGMA user_version"),
              ::testing::ElementsAre(std::to_string(kSchemaVersion)));
  EXPECT_THAT(RawQuery(dir.File("q.db"), "PRAGMA journal_mode"), ::testing::ElementsAre("wal"));
  EXPECT_EQ(*(*store)->IntegrityCheck(), "ok");
}

TEST(SchemaTest, RefusesNewerDatabase) {
  TempDir dir;
  { ASSERT_TRUE(Store::Open(dir.File("q.db"), StoreOptions()).ok()); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir.File("q.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto store = Store::Open(dir.File("q.db"), StoreOptions());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("99"));
}

// A version-1 database (the first shipped schema: everything but worker_job_backoff) holding a
// worker and a half-done job is migrated to version 2 on open; the worker, the job, its stored
// results and its queued task are kept, and the job can be finished.
TEST(SchemaTest, MigratesAVersionOneDatabaseKeepingItsData) {
  TempDir dir;
  const std::string path = dir.File("q.db");
  std::string job_id, worker;
  {
    auto store = Store::Open(path, StoreOptions());
    ASSERT_TRUE(store.ok());
    v1::SubmitJobRequest submit;
    *submit.mutable_spec() = SmallSpec(1, 2, v1::SWEEP_INDIVIDUAL, 2);  // 3 masks, 2 tasks.
    job_id = (*store)->SubmitJob(submit)->job.id();
    worker = (*store)->RegisterWorker(v1::RegisterRequest())->worker_id();
    auto lease = (*store)->LeaseTask(worker);
    ASSERT_TRUE(lease.ok() && lease->has_task());
    v1::CompleteTaskRequest complete;
    FillFakeResults(lease->task(), worker, &complete);
    ASSERT_TRUE((*store)->CompleteTask(complete).ok());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  // Back to version 1: undo the later migrations (v6: worker secrets, v5: attribution,
  // v4: model families, v3: per-block NLL, v2: backoff).
  ASSERT_EQ(sqlite3_exec(db,
                         "ALTER TABLE jobs DROP COLUMN model_family;"
                         " ALTER TABLE workers DROP COLUMN model_families;"
                         " DROP TABLE worker_job_backoff; ALTER TABLE results DROP COLUMN"
                         " block_nll; ALTER TABLE jobs DROP COLUMN block_tokens;"
                         " DROP VIEW attribution_heads; DROP TABLE head_estimates;"
                         " ALTER TABLE workers DROP COLUMN secret_sha256;"
                         " PRAGMA user_version = 1",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto store = Store::Open(path, StoreOptions());
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_THAT(RawQuery(path, "PRAGMA user_version"),
              ::testing::ElementsAre(std::to_string(kSchemaVersion)));
  // v4: jobs and workers from before families are gpt2.
  EXPECT_THAT(RawQuery(path, "SELECT model_family FROM jobs"), ::testing::ElementsAre("gpt2"));
  EXPECT_THAT(RawQuery(path, "SELECT model_families FROM workers"),
              ::testing::ElementsAre(",gpt2,"));
  // A worker registered before secrets existed must register again (issue 10).
  EXPECT_EQ((*store)->CheckWorkerSecret(worker, "").code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(RawQuery(path, "SELECT COUNT(*) FROM worker_job_backoff"),
              ::testing::ElementsAre("0"));
  auto job = (*store)->GetJob(job_id);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(job->progress().masks_done(), 2);
  auto lease = (*store)->LeaseTask(worker);  // The worker registered before the migration.
  ASSERT_TRUE(lease.ok()) << lease.status();
  ASSERT_TRUE(lease->has_task());
  EXPECT_EQ(lease->task().job_id(), job_id);
  v1::CompleteTaskRequest complete;
  FillFakeResults(lease->task(), worker, &complete);
  ASSERT_TRUE((*store)->CompleteTask(complete).ok());
  job = (*store)->GetJob(job_id);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(job->progress().masks_done(), 3);
}

// A version-2 database (before per-block NLL) with a half-done full sweep whose results have
// no blocks: after the migration its next task asks for the default blocks, the job finishes,
// old results read back without blocks and the queries answer without intervals.
TEST(SchemaTest, MigratesAVersionTwoDatabaseToBlocks) {
  TempDir dir;
  const std::string path = dir.File("q.db");
  std::string job_id, worker;
  {
    auto store = Store::Open(path, StoreOptions());
    ASSERT_TRUE(store.ok());
    v1::SubmitJobRequest submit;
    *submit.mutable_spec() = SmallSpec(1, 2, v1::SWEEP_FULL, 2);
    job_id = (*store)->SubmitJob(submit)->job.id();
    worker = (*store)->RegisterWorker(v1::RegisterRequest())->worker_id();
    auto lease = (*store)->LeaseTask(worker);
    ASSERT_TRUE(lease.ok() && lease->has_task());
    v1::CompleteTaskRequest complete;
    FillFakeResults(lease->task(), worker, &complete);
    ASSERT_TRUE((*store)->CompleteTask(complete).ok());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "ALTER TABLE results DROP COLUMN block_nll; ALTER TABLE jobs DROP"
                         " COLUMN block_tokens; ALTER TABLE jobs DROP COLUMN model_family;"
                         " ALTER TABLE workers DROP COLUMN model_families;"
                         " DROP VIEW attribution_heads; DROP TABLE head_estimates;"
                         " ALTER TABLE workers DROP COLUMN secret_sha256;"
                         " PRAGMA user_version = 2",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto store = Store::Open(path, StoreOptions());
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_THAT(RawQuery(path, "PRAGMA user_version"),
              ::testing::ElementsAre(std::to_string(kSchemaVersion)));
  EXPECT_THAT(RawQuery(path, "SELECT COUNT(*) FROM results WHERE block_nll IS NULL"),
              ::testing::ElementsAre("2"));
  while (true) {
    auto lease = (*store)->LeaseTask(worker);
    ASSERT_TRUE(lease.ok()) << lease.status();
    if (!lease->has_task()) break;
    EXPECT_EQ(lease->task().block_tokens(), 7);
    v1::CompleteTaskRequest complete;
    FillFakeResults(lease->task(), worker, &complete);
    for (v1::MaskResult& r : *complete.mutable_results()) {  // one block per chunk
      r.add_block_nll(r.nll_sum() / 2);
      r.add_block_nll(r.nll_sum() / 2);
    }
    ASSERT_TRUE((*store)->CompleteTask(complete).ok());
  }
  EXPECT_EQ((*store)->GetJob(job_id)->state(), v1::JOB_STATE_SUCCEEDED);
  auto table = QueryHeadTable(**store, job_id);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->rows_size(), 2);
  EXPECT_FALSE(table->rows(0).has_delta_lo());  // the baseline has no blocks
}

TEST(SchemaTest, DataSurvivesReopenAndViewsAreReadableWhileOpen) {
  TempDir dir;
  const std::string path = dir.File("q.db");
  std::string job_id;
  {
    auto store = Store::Open(path, StoreOptions());
    ASSERT_TRUE(store.ok());
    v1::SubmitJobRequest submit;
    *submit.mutable_spec() = SmallSpec(2, 2, v1::SWEEP_FULL, 10);
    submit.set_request_id("r");
    job_id = (*store)->SubmitJob(submit)->job.id();
    v1::RegisterRequest reg;
    const std::string worker = (*store)->RegisterWorker(reg)->worker_id();
    while (true) {
      auto lease = (*store)->LeaseTask(worker);
      ASSERT_TRUE(lease.ok());
      if (!lease->has_task()) break;
      v1::CompleteTaskRequest complete;
      FillFakeResults(lease->task(), worker, &complete);
      ASSERT_TRUE((*store)->CompleteTask(complete).ok());
    }
    // A second connection (a dashboard) reads the views while the store is open.
    EXPECT_THAT(RawQuery(path, "SELECT COUNT(*) FROM head_results WHERE job_id = 1"),
                ::testing::ElementsAre("4"));
    EXPECT_THAT(RawQuery(path, "SELECT COUNT(*) FROM cumulative_curve WHERE job_id = 1"),
                ::testing::ElementsAre("5"));
    EXPECT_THAT(RawQuery(path, "SELECT state FROM job_overview"),
                ::testing::ElementsAre("SUCCEEDED"));
  }
  auto reopened = Store::Open(path, StoreOptions());
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  auto job = (*reopened)->GetJob(job_id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(job->progress().masks_done(), 10);
  EXPECT_THAT(RawQuery(path, "SELECT printf('%.6f', delta) FROM head_results ORDER BY layer, head"),
              ::testing::ElementsAre("0.000000", "0.050000", "0.100000", "0.150000"));
  EXPECT_THAT(RawQuery(path, "SELECT layer || '.' || head FROM cumulative_curve"
                             " WHERE removed = 1"),
              ::testing::ElementsAre("0.0"));
}

}  // namespace
}  // namespace ablate::storage
