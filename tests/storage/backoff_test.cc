// Backoff of a worker from a job whose tasks it keeps failing (StoreOptions::backoff_*):
// the worker gets other jobs' tasks meanwhile, the delay doubles up to the cap, a success
// clears it, other workers are unaffected, and max_attempts still ends a poison job.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>

#include "storage/store.h"
#include "tests/storage/test_util.h"

namespace ablate::storage {
namespace {

namespace v1 = ::ablate::v1;
using ::ablate::testing::FakeClock;
using ::ablate::testing::FillFakeResults;
using ::ablate::testing::SmallSpec;
using ::ablate::testing::TempDir;

constexpr int64_t kBase = 30000;
constexpr int64_t kMax = 100000;

class BackoffTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions options;
    options.lease_ttl_ms = 1'000'000;  // No expiry during these tests.
    options.backoff_base_ms = kBase;
    options.backoff_max_ms = kMax;
    options.now_ms = clock_.AsFunction();
    options.synchronous_full = false;
    auto store = Store::Open(dir_.File("queue.db"), options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  std::string Register() {
    v1::RegisterRequest request;
    request.set_name("test");
    request.set_device_kind(v1::DEVICE_KIND_CPU);
    return store_->RegisterWorker(request)->worker_id();
  }

  v1::Job Submit(int priority, int max_attempts = 10) {
    v1::SubmitJobRequest request;
    *request.mutable_spec() = SmallSpec(1, 4, v1::SWEEP_INDIVIDUAL, 1);
    request.mutable_spec()->set_priority(priority);
    request.mutable_spec()->set_max_attempts(max_attempts);
    return store_->SubmitJob(request)->job;
  }

  // The job id of the task `worker` leases now, or "" when it gets none.
  std::string LeaseJob(const std::string& worker) {
    auto response = store_->LeaseTask(worker);
    EXPECT_TRUE(response.ok()) << response.status();
    if (!response.ok() || !response->has_task()) return "";
    last_ = response->task();
    return last_.job_id();
  }

  void FailLast(const std::string& worker) {
    v1::FailTaskRequest fail;
    fail.set_worker_id(worker);
    fail.set_task_id(last_.task_id());
    fail.set_lease_token(last_.lease_token());
    fail.set_error("CUDA error: an illegal memory access");
    ASSERT_TRUE(store_->FailTask(fail).ok());
  }

  void CompleteLast(const std::string& worker) {
    v1::CompleteTaskRequest request;
    FillFakeResults(last_, worker, &request);
    ASSERT_TRUE(store_->CompleteTask(request).ok());
  }

  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<Store> store_;
  v1::Task last_;
};

TEST_F(BackoffTest, FailingWorkerGetsOtherJobsUntilItsBackoffEnds) {
  const v1::Job flaky = Submit(/*priority=*/1);
  const v1::Job other = Submit(/*priority=*/0);
  const std::string w = Register();
  ASSERT_EQ(LeaseJob(w), flaky.id());
  FailLast(w);
  ASSERT_EQ(LeaseJob(w), other.id());  // The higher-priority job is off limits for now.
  CompleteLast(w);
  clock_.Advance(kBase - 1);
  ASSERT_EQ(LeaseJob(w), other.id());
  CompleteLast(w);
  clock_.Advance(1);
  EXPECT_EQ(LeaseJob(w), flaky.id());  // Backoff over: priority order again.
}

TEST_F(BackoffTest, DelayDoublesUpToTheCapAndSuccessClearsIt) {
  const v1::Job flaky = Submit(/*priority=*/0);
  const std::string w = Register();
  const int64_t expected[] = {kBase, 2 * kBase, kMax, kMax};  // 30 s, 60 s, capped at 100 s.
  for (int64_t delay : expected) {
    ASSERT_EQ(LeaseJob(w), flaky.id());
    FailLast(w);
    clock_.Advance(delay - 1);
    EXPECT_EQ(LeaseJob(w), "") << "still backed off " << delay - 1 << " ms later";
    clock_.Advance(1);
  }
  ASSERT_EQ(LeaseJob(w), flaky.id());
  CompleteLast(w);  // Clears the count: the next failure waits the base delay again.
  ASSERT_EQ(LeaseJob(w), flaky.id());
  FailLast(w);
  clock_.Advance(kBase);
  EXPECT_EQ(LeaseJob(w), flaky.id());
}

TEST_F(BackoffTest, OtherWorkersAreUnaffected) {
  const v1::Job flaky = Submit(/*priority=*/0);
  const std::string bad = Register();
  const std::string good = Register();
  ASSERT_EQ(LeaseJob(bad), flaky.id());
  FailLast(bad);
  EXPECT_EQ(LeaseJob(bad), "");
  auto workers = store_->ListWorkers();
  ASSERT_TRUE(workers.ok());
  ASSERT_EQ(workers->workers_size(), 2);
  EXPECT_EQ(workers->workers(0).jobs_backed_off(), 1);  // `bad`, registered first.
  EXPECT_EQ(workers->workers(1).jobs_backed_off(), 0);
  EXPECT_EQ(LeaseJob(good), flaky.id());  // The failed task itself, back in the queue.
  EXPECT_EQ(last_.attempt(), 2);
}

TEST_F(BackoffTest, ReleaseAndLeaseExpiryDoNotBackOff) {
  const v1::Job job = Submit(/*priority=*/0);
  const std::string w = Register();
  ASSERT_EQ(LeaseJob(w), job.id());
  v1::FailTaskRequest release;
  release.set_worker_id(w);
  release.set_task_id(last_.task_id());
  release.set_lease_token(last_.lease_token());
  release.set_release(true);
  ASSERT_TRUE(store_->FailTask(release).ok());
  EXPECT_EQ(LeaseJob(w), job.id());
  clock_.Advance(1'000'001);  // The lease expires: a lost worker, not a failing one.
  EXPECT_EQ(LeaseJob(w), job.id());
}

TEST_F(BackoffTest, MaxAttemptsStillFailsAPoisonJob) {
  const v1::Job poison = Submit(/*priority=*/0, /*max_attempts=*/3);
  const std::string w = Register();
  for (int attempt = 1; attempt <= 3; ++attempt) {
    if (attempt > 1) clock_.Advance(kMax);
    ASSERT_EQ(LeaseJob(w), poison.id()) << "attempt " << attempt;
    FailLast(w);
  }
  EXPECT_EQ(store_->GetJob(poison.id())->state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(LeaseJob(w), "");
  EXPECT_EQ(store_->ListWorkers()->workers(0).jobs_backed_off(), 0);  // Still backed off, but the job ended.
}

TEST_F(BackoffTest, BackoffSurvivesReopen) {
  const v1::Job flaky = Submit(/*priority=*/0);
  const std::string w = Register();
  ASSERT_EQ(LeaseJob(w), flaky.id());
  FailLast(w);
  store_.reset();
  SetUp();
  EXPECT_EQ(LeaseJob(w), "");
  clock_.Advance(kBase);
  EXPECT_EQ(LeaseJob(w), flaky.id());
}

}  // namespace
}  // namespace ablate::storage
