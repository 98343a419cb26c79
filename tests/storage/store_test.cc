// Queue semantics of storage::Store: idempotent submit, expansion, leases with fencing,
// expiry, attempts, cancel, priorities, device matching and the derived cumulative phase.
#include "storage/store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <set>

#include "tests/storage/test_util.h"

namespace ablate::storage {
namespace {

namespace v1 = ::ablate::v1;
using ::ablate::testing::FakeClock;
using ::ablate::testing::FillFakeResults;
using ::ablate::testing::SmallSpec;
using ::ablate::testing::TempDir;
using ::testing::HasSubstr;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions options;
    options.lease_ttl_ms = 1000;
    options.now_ms = clock_.AsFunction();
    options.synchronous_full = false;  // Durability is the server tests' business.
    auto store = Store::Open(dir_.File("queue.db"), options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  std::string Register(v1::DeviceKind kind = v1::DEVICE_KIND_CPU) {
    v1::RegisterRequest request;
    request.set_name("test");
    request.set_device_kind(kind);
    auto response = store_->RegisterWorker(request);
    EXPECT_TRUE(response.ok()) << response.status();
    return response->worker_id();
  }

  v1::Job Submit(const v1::JobSpec& spec, const std::string& request_id = "") {
    v1::SubmitJobRequest request;
    request.set_request_id(request_id);
    *request.mutable_spec() = spec;
    auto outcome = store_->SubmitJob(request);
    EXPECT_TRUE(outcome.ok()) << outcome.status();
    return outcome.ok() ? outcome->job : v1::Job();
  }

  std::optional<v1::Task> Lease(const std::string& worker) {
    auto response = store_->LeaseTask(worker);
    EXPECT_TRUE(response.ok()) << response.status();
    if (!response.ok() || !response->has_task()) return std::nullopt;
    return response->task();
  }

  absl::StatusOr<v1::CompleteTaskResponse> Complete(const v1::Task& task,
                                                    const std::string& worker) {
    v1::CompleteTaskRequest request;
    FillFakeResults(task, worker, &request);
    return store_->CompleteTask(request);
  }

  // Leases and completes tasks until none is left for `worker`; returns how many.
  int Drain(const std::string& worker) {
    int n = 0;
    while (std::optional<v1::Task> task = Lease(worker)) {
      EXPECT_TRUE(Complete(*task, worker).ok());
      ++n;
    }
    return n;
  }

  v1::JobState State(const std::string& job_id) { return store_->GetJob(job_id)->state(); }

  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, SubmitIsIdempotentOnRequestId) {
  v1::Job first = Submit(SmallSpec(2, 2, v1::SWEEP_INDIVIDUAL), "req-1");
  v1::SubmitJobRequest again;
  again.set_request_id("req-1");
  *again.mutable_spec() = SmallSpec(2, 2, v1::SWEEP_INDIVIDUAL);
  auto second = store_->SubmitJob(again);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(second->created);
  EXPECT_EQ(second->job.id(), first.id());
  EXPECT_EQ(second->job.request_id(), "req-1");

  again.mutable_spec()->set_n_chunks(3);
  auto conflict = store_->SubmitJob(again);
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kAlreadyExists);

  v1::Job other = Submit(SmallSpec(2, 2, v1::SWEEP_INDIVIDUAL));
  EXPECT_NE(other.id(), first.id());
  auto list = store_->ListJobs(v1::ListJobsRequest());
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->jobs_size(), 2);
}

TEST_F(StoreTest, ExpansionCounts) {
  v1::Job individual = Submit(SmallSpec(2, 3, v1::SWEEP_INDIVIDUAL, /*masks_per_task=*/3));
  EXPECT_EQ(individual.state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(individual.progress().masks_total(), 7);
  EXPECT_EQ(individual.progress().tasks_total(), 3);  // 3 + 3 + 1 masks.
  EXPECT_EQ(individual.spec().dtype(), v1::DTYPE_FP32);  // Normalized default.
  EXPECT_TRUE(individual.spec().dataset().text().empty());
  EXPECT_EQ(individual.spec().dataset().sha256().size(), 64u);

  v1::Job full = Submit(SmallSpec(2, 3, v1::SWEEP_FULL, 3));
  EXPECT_EQ(full.progress().masks_total(), 14);
  EXPECT_EQ(full.progress().tasks_total(), 3 + 2);  // Cumulative k = 1..6 in tasks of 3.

  // masks_per_task 0: sized by cost; a tiny model fits one task per phase.
  v1::Job sized = Submit(SmallSpec(2, 3, v1::SWEEP_INDIVIDUAL, 0));
  EXPECT_GE(sized.spec().masks_per_task(), 7);
  EXPECT_EQ(sized.progress().tasks_total(), 1);

  v1::Job cumulative = Submit(SmallSpec(2, 3, v1::SWEEP_CUMULATIVE, 7));
  EXPECT_EQ(cumulative.progress().masks_total(), 7);
  EXPECT_EQ(cumulative.progress().tasks_total(), 1);

  const std::string worker = Register();
  std::set<std::pair<int, int>> masks;
  int tasks = 0;
  while (std::optional<v1::Task> task = Lease(worker)) {
    if (task->job_id() != individual.id()) break;
    ++tasks;
    for (const v1::MaskSpec& m : task->masks()) {
      masks.insert({m.phase(), m.index()});
      if (m.index() == 0) EXPECT_EQ(m.heads_size(), 0);
      if (m.index() > 0) EXPECT_THAT(m.heads(), ::testing::ElementsAre(m.index() - 1));
    }
    ASSERT_TRUE(Complete(*task, worker).ok());
  }
  EXPECT_EQ(tasks, 3);
  EXPECT_EQ(masks.size(), 7u);
  EXPECT_EQ(State(individual.id()), v1::JOB_STATE_SUCCEEDED);
}

TEST_F(StoreTest, LeaseCompleteFencingDuplicateAndStale) {
  v1::Job job = Submit(SmallSpec(1, 1, v1::SWEEP_INDIVIDUAL, 2));
  const std::string a = Register();
  const std::string b = Register();
  std::optional<v1::Task> task = Lease(a);
  ASSERT_TRUE(task.has_value());
  EXPECT_EQ(task->attempt(), 1);
  EXPECT_EQ(State(job.id()), v1::JOB_STATE_RUNNING);
  EXPECT_FALSE(Lease(b).has_value());  // The only task is leased.

  v1::CompleteTaskRequest stale;
  FillFakeResults(*task, a, &stale);
  stale.set_lease_token(task->lease_token() + 100);
  EXPECT_EQ(store_->CompleteTask(stale).status().code(),
            absl::StatusCode::kFailedPrecondition);
  v1::CompleteTaskRequest wrong_worker;
  FillFakeResults(*task, b, &wrong_worker);
  EXPECT_EQ(store_->CompleteTask(wrong_worker).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->GetJob(job.id())->progress().masks_done(), 0);

  auto done = Complete(*task, a);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_FALSE(done->duplicate());
  auto again = Complete(*task, a);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->duplicate());
  v1::Job finished = *store_->GetJob(job.id());
  EXPECT_EQ(finished.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(finished.progress().masks_done(), 2);
  EXPECT_NEAR(finished.baseline_ppl(), 20.0, 1e-9);
  EXPECT_EQ(finished.n_tokens_scored(), ::ablate::testing::SmallSpecTokens());
}

TEST_F(StoreTest, ExpiredLeaseIsReleasedAndLateResultRefused) {
  v1::Job job = Submit(SmallSpec(1, 1, v1::SWEEP_INDIVIDUAL, 2));
  const std::string slow = Register();
  const std::string fast = Register();
  std::optional<v1::Task> first = Lease(slow);
  ASSERT_TRUE(first.has_value());
  clock_.Advance(500);
  v1::HeartbeatRequest beat;
  beat.set_worker_id(slow);
  beat.set_task_id(first->task_id());
  beat.set_lease_token(first->lease_token());
  auto renewed = store_->Heartbeat(beat);
  ASSERT_TRUE(renewed.ok());
  EXPECT_FALSE(renewed->lease_lost());
  EXPECT_EQ(renewed->lease_expires_unix_ms(), clock_.Now() + 1000);
  clock_.Advance(999);
  EXPECT_FALSE(Lease(fast).has_value());  // Renewed: still held.
  clock_.Advance(2);
  std::optional<v1::Task> second = Lease(fast);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->task_id(), first->task_id());
  EXPECT_NE(second->lease_token(), first->lease_token());  // Random per lease (issue 10).
  EXPECT_EQ(second->attempt(), 2);

  EXPECT_TRUE(store_->Heartbeat(beat)->lease_lost());
  EXPECT_EQ(Complete(*first, slow).status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(Complete(*second, fast).ok());
  EXPECT_EQ(State(job.id()), v1::JOB_STATE_SUCCEEDED);
}

TEST_F(StoreTest, ReclaimReturnsExpiredLeasesToQueue) {
  Submit(SmallSpec(1, 1, v1::SWEEP_INDIVIDUAL, 2));
  const std::string worker = Register();
  ASSERT_TRUE(Lease(worker).has_value());
  EXPECT_EQ(store_->ReclaimExpiredLeases()->requeued, 0);
  clock_.Advance(1001);
  auto stats = store_->ReclaimExpiredLeases();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->requeued, 1);
  EXPECT_EQ(stats->jobs_failed, 0);
  EXPECT_TRUE(Lease(worker).has_value());
}

TEST_F(StoreTest, MaxAttemptsFailsJobWhileAnotherCompletes) {
  v1::JobSpec poison_spec = SmallSpec(1, 1, v1::SWEEP_INDIVIDUAL, 2);
  poison_spec.set_max_attempts(3);
  poison_spec.set_priority(1);  // Leased first.
  v1::Job poison = Submit(poison_spec);
  v1::Job good = Submit(SmallSpec(1, 2, v1::SWEEP_INDIVIDUAL, 2));
  const std::string worker = Register();
  for (int attempt = 1; attempt <= 3; ++attempt) {
    std::optional<v1::Task> task = Lease(worker);
    ASSERT_TRUE(task.has_value());
    ASSERT_EQ(task->job_id(), poison.id());
    EXPECT_EQ(task->attempt(), attempt);
    v1::FailTaskRequest fail;
    fail.set_worker_id(worker);
    fail.set_task_id(task->task_id());
    fail.set_lease_token(task->lease_token());
    fail.set_error("boom " + std::to_string(attempt));
    ASSERT_TRUE(store_->FailTask(fail).ok());
    clock_.Advance(StoreOptions().backoff_max_ms);  // Past this worker's backoff from the job.
  }
  v1::Job failed = *store_->GetJob(poison.id());
  EXPECT_EQ(failed.state(), v1::JOB_STATE_FAILED);
  EXPECT_THAT(failed.error(), HasSubstr("failed 3 times"));
  EXPECT_THAT(failed.error(), HasSubstr("boom 1"));
  EXPECT_THAT(failed.error(), HasSubstr("boom 3"));
  EXPECT_EQ(Drain(worker), 2);
  EXPECT_EQ(State(good.id()), v1::JOB_STATE_SUCCEEDED);
}

TEST_F(StoreTest, ExpiryCountsAsAnAttempt) {
  v1::JobSpec spec = SmallSpec(1, 1, v1::SWEEP_INDIVIDUAL, 2);
  spec.set_max_attempts(2);
  v1::Job job = Submit(spec);
  const std::string worker = Register();
  ASSERT_TRUE(Lease(worker).has_value());
  clock_.Advance(1001);
  ASSERT_TRUE(Lease(worker).has_value());
  clock_.Advance(1001);
  auto stats = store_->ReclaimExpiredLeases();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->jobs_failed, 1);
  v1::Job failed = *store_->GetJob(job.id());
  EXPECT_EQ(failed.state(), v1::JOB_STATE_FAILED);
  EXPECT_THAT(failed.error(), HasSubstr("lease expired"));
}

TEST_F(StoreTest, PermanentFailureFailsJobAtOnce) {
  v1::Job job = Submit(SmallSpec(2, 2, v1::SWEEP_FULL, 2));
  const std::string worker = Register();
  std::optional<v1::Task> task = Lease(worker);
  ASSERT_TRUE(task.has_value());
  v1::FailTaskRequest fail;
  fail.set_worker_id(worker);
  fail.set_task_id(task->task_id());
  fail.set_lease_token(task->lease_token());
  fail.set_error("text too short: 10 tokens");
  fail.set_permanent(true);
  ASSERT_TRUE(store_->FailTask(fail).ok());
  v1::Job failed = *store_->GetJob(job.id());
  EXPECT_EQ(failed.state(), v1::JOB_STATE_FAILED);
  EXPECT_THAT(failed.error(), HasSubstr("text too short"));
  EXPECT_GT(failed.finished_unix_ms(), 0);
  EXPECT_FALSE(Lease(worker).has_value());
}

TEST_F(StoreTest, ReleaseDoesNotCountAnAttempt) {
  v1::JobSpec spec = SmallSpec(1, 1, v1::SWEEP_INDIVIDUAL, 2);
  spec.set_max_attempts(1);
  v1::Job job = Submit(spec);
  const std::string worker = Register();
  for (int i = 0; i < 3; ++i) {
    std::optional<v1::Task> task = Lease(worker);
    ASSERT_TRUE(task.has_value());
    EXPECT_EQ(task->attempt(), 1);
    v1::FailTaskRequest release;
    release.set_worker_id(worker);
    release.set_task_id(task->task_id());
    release.set_lease_token(task->lease_token());
    release.set_release(true);
    ASSERT_TRUE(store_->FailTask(release).ok());
  }
  EXPECT_EQ(Drain(worker), 1);
  EXPECT_EQ(State(job.id()), v1::JOB_STATE_SUCCEEDED);
}

TEST_F(StoreTest, CancelStopsLeasesAndTellsHeartbeats) {
  v1::Job job = Submit(SmallSpec(2, 2, v1::SWEEP_INDIVIDUAL, 1));
  const std::string worker = Register();
  std::optional<v1::Task> task = Lease(worker);
  ASSERT_TRUE(task.has_value());
  auto cancelled = store_->CancelJob(job.id());
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state(), v1::JOB_STATE_CANCELLED);
  EXPECT_FALSE(Lease(worker).has_value());
  v1::HeartbeatRequest beat;
  beat.set_worker_id(worker);
  beat.set_task_id(task->task_id());
  beat.set_lease_token(task->lease_token());
  EXPECT_TRUE(store_->Heartbeat(beat)->cancelled());
  EXPECT_EQ(Complete(*task, worker).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(store_->CancelJob(job.id()).ok());  // Idempotent.

  v1::Job done = Submit(SmallSpec(1, 1, v1::SWEEP_INDIVIDUAL, 2));
  EXPECT_EQ(Drain(worker), 1);
  EXPECT_EQ(store_->CancelJob(done.id()).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->CancelJob("job-999").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(StoreTest, PrioritiesThenFifo) {
  v1::JobSpec low = SmallSpec(1, 1, v1::SWEEP_INDIVIDUAL, 2);
  v1::JobSpec high = low;
  high.set_priority(5);
  v1::Job a = Submit(low);
  v1::Job b = Submit(high);
  v1::Job c = Submit(high);
  v1::Job d = Submit(low);
  const std::string worker = Register();
  std::vector<std::string> order;
  while (std::optional<v1::Task> task = Lease(worker)) {
    order.push_back(task->job_id());
    ASSERT_TRUE(Complete(*task, worker).ok());
  }
  EXPECT_THAT(order, ::testing::ElementsAre(b.id(), c.id(), a.id(), d.id()));
}

TEST_F(StoreTest, DeviceKindRequirementIsHonoured) {
  v1::JobSpec spec = SmallSpec(1, 1, v1::SWEEP_INDIVIDUAL, 2);
  spec.set_device_kind(v1::DEVICE_KIND_CUDA);
  v1::Job job = Submit(spec);
  const std::string cpu = Register(v1::DEVICE_KIND_CPU);
  const std::string cuda = Register(v1::DEVICE_KIND_CUDA);
  EXPECT_FALSE(Lease(cpu).has_value());
  std::optional<v1::Task> task = Lease(cuda);
  ASSERT_TRUE(task.has_value());
  EXPECT_EQ(task->job_id(), job.id());
  EXPECT_EQ(store_->LeaseTask("worker-77").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(StoreTest, ResultsAreValidated) {
  Submit(SmallSpec(1, 1, v1::SWEEP_INDIVIDUAL, 2));
  const std::string worker = Register();
  std::optional<v1::Task> task = Lease(worker);
  ASSERT_TRUE(task.has_value());
  auto expect_invalid = [&](const std::function<void(v1::CompleteTaskRequest*)>& mutate,
                            const std::string& field) {
    v1::CompleteTaskRequest request;
    FillFakeResults(*task, worker, &request);
    mutate(&request);
    absl::Status status = store_->CompleteTask(request).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << field;
    EXPECT_THAT(std::string(status.message()), HasSubstr(field));
  };
  expect_invalid([](auto* r) { r->mutable_results()->RemoveLast(); }, "results");
  expect_invalid([](auto* r) { r->mutable_results(1)->set_index(0); }, "results[1]");
  expect_invalid([](auto* r) { r->mutable_results(0)->set_n_tokens(3); }, "results[0].n_tokens");
  expect_invalid([](auto* r) { r->mutable_results(0)->set_nll_sum(NAN); }, "results[0].nll_sum");
  expect_invalid([](auto* r) { r->mutable_meta()->set_model_sha256("ff"); }, "meta.model_sha256");
  expect_invalid([](auto* r) { r->mutable_meta()->clear_dataset_sha256(); },
                 "meta.dataset_sha256");
  EXPECT_TRUE(Complete(*task, worker).ok());  // Nothing above was stored.
}

}  // namespace
}  // namespace ablate::storage
