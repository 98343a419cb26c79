// Issue 10, disk: deleting finished jobs (every row that refers to them, the dataset when
// unused), retention by finish time, the digests artifact collection must keep, and the
// artifact store's collection of stale partial uploads and unreferenced artifacts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>

#include "storage/artifact_store.h"
#include "storage/sha256.h"
#include "storage/store.h"
#include "tests/storage/test_util.h"

namespace ablate::storage {
namespace {

namespace v1 = ::ablate::v1;
using ::ablate::testing::FakeClock;
using ::ablate::testing::FillFakeResults;
using ::ablate::testing::SmallSpec;
using ::ablate::testing::TempDir;

int64_t Count(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr);
  int64_t n = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return n;
}

class DeleteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions options;
    options.now_ms = clock_.AsFunction();
    options.synchronous_full = false;
    options.backoff_base_ms = 0;
    store_ = *Store::Open(dir_.File("q.db"), options);
    worker_ = store_->RegisterWorker(v1::RegisterRequest())->worker_id();
  }

  // Submits and runs a job to the end (FULL: individual, cumulative order, results).
  std::string RunJob(const std::string& text) {
    v1::SubmitJobRequest submit;
    *submit.mutable_spec() = SmallSpec(1, 2, v1::SWEEP_FULL, 2);
    submit.mutable_spec()->mutable_dataset()->set_text(text);
    const std::string id = store_->SubmitJob(submit)->job.id();
    for (auto lease = store_->LeaseTask(worker_); lease.ok() && lease->has_task();
         lease = store_->LeaseTask(worker_)) {
      v1::CompleteTaskRequest complete;
      FillFakeResults(lease->task(), worker_, &complete);
      EXPECT_TRUE(store_->CompleteTask(complete).ok());
    }
    EXPECT_EQ(store_->GetJob(id)->state(), v1::JOB_STATE_SUCCEEDED);
    return id;
  }

  int64_t Rows(const std::string& table) {
    return Count(dir_.File("q.db"), "SELECT COUNT(*) FROM " + table);
  }

  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<Store> store_;
  std::string worker_;
};

TEST_F(DeleteTest, DeletesEveryRowOfAFinishedJobAndItsUnusedDataset) {
  const std::string shared(64, 's');
  const std::string a = RunJob(shared);
  const std::string b = RunJob(shared);
  ASSERT_GT(Rows("results"), 0);
  auto first = store_->DeleteJob(a);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->dataset_deleted());  // Job b still uses it.
  EXPECT_EQ(store_->GetJob(a).status().code(), absl::StatusCode::kNotFound);
  auto second = store_->DeleteJob(b);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->dataset_deleted());
  for (const char* table : {"jobs", "tasks", "results", "job_order", "datasets"}) {
    EXPECT_EQ(Rows(table), 0) << table;
  }
  EXPECT_EQ(store_->DeleteJob(a).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(DeleteTest, QueuedJobsAreNotDeleted) {
  v1::SubmitJobRequest submit;
  *submit.mutable_spec() = SmallSpec(1, 2, v1::SWEEP_INDIVIDUAL);
  const std::string id = store_->SubmitJob(submit)->job.id();
  EXPECT_EQ(store_->DeleteJob(id).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(*store_->DeleteFinishedBefore(clock_.Now() + 1000000, 10), 0);
  EXPECT_TRUE(store_->GetJob(id).ok());
}

TEST_F(DeleteTest, RetentionDeletesJobsThatFinishedBeforeTheCutoff) {
  const std::string old_job = RunJob(std::string(64, 'o'));
  clock_.Advance(3600 * 1000);
  const std::string new_job = RunJob(std::string(64, 'n'));
  EXPECT_EQ(*store_->DeleteFinishedBefore(clock_.Now() - 1000, 10), 1);
  EXPECT_EQ(store_->GetJob(old_job).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store_->GetJob(new_job).ok());
  auto kept = store_->ReferencedDigests();
  ASSERT_TRUE(kept.ok());
  EXPECT_TRUE(kept->contains(Sha256Hex(std::string(64, 'n'))));
  EXPECT_FALSE(kept->contains(Sha256Hex(std::string(64, 'o'))));
}

TEST(ArtifactCollectionTest, StalePartialsAndDeletedArtifacts) {
  TempDir dir;
  ArtifactStoreOptions options;
  options.root = dir.File("artifacts");
  options.partial_ttl = absl::Hours(6);
  auto store = ArtifactStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  const std::string text = "some text";
  v1::UploadHeader header;
  header.set_kind(v1::ARTIFACT_KIND_TEXT);
  header.set_digest(Sha256Hex(text));
  header.set_total_size(static_cast<int64_t>(text.size()));
  {
    auto upload = (*store)->BeginUpload(header);
    ASSERT_TRUE(upload.ok()) << upload.status();
    ASSERT_TRUE((*upload)->Write(0, text.substr(0, 4)).ok());
  }
  EXPECT_EQ((*store)->CollectStalePartials(), 0);  // Fresh.
  const std::string partial = options.root + "/partial/" + header.digest() + ".partial";
  std::filesystem::last_write_time(
      partial, std::filesystem::file_time_type::clock::now() - std::chrono::hours(7));
  EXPECT_EQ((*store)->CollectStalePartials(), 1);
  EXPECT_EQ((*store)->GetUploadStatus(header.digest())->received_bytes(), 0);
  auto upload = (*store)->BeginUpload(header);
  ASSERT_TRUE(upload.ok());
  ASSERT_TRUE((*upload)->Write(0, text).ok());
  ASSERT_TRUE((*upload)->Finish().ok());
  ASSERT_EQ((*store)->List()->size(), 1u);
  EXPECT_TRUE((*store)->Delete(header.digest()).ok());
  EXPECT_EQ((*store)->Stat(header.digest()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ((*store)->stored_bytes(), 0);
  // A full disk refuses new bytes up front.
  ArtifactStoreOptions full = options;
  full.root = dir.File("full");
  full.min_free_bytes = int64_t{1} << 60;
  auto refusing = ArtifactStore::Open(full);
  ASSERT_TRUE(refusing.ok());
  EXPECT_EQ((*refusing)->BeginUpload(header).status().code(),
            absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace ablate::storage
