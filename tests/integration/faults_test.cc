// Copyright: the ablate authors.
//
// Faults with real workers: a worker killed mid-task, a late result from an expired lease, a
// poison job next to a healthy one, a model whose SHA-256 does not match, and cancel mid-job.
#include <signal.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>

#include "tests/integration/cluster.h"

namespace ablate::testing {
namespace {

namespace v1 = ::ablate::v1;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

bool HasRunningTask(Client& client, const std::string& job_id) {
  return client.Get(job_id).progress().tasks_running() > 0;
}

TEST(Faults, WorkerKilledMidTaskIsReleasedAndTheJobMatchesACleanRun) {
  Cluster cluster(/*lease_ttl_ms=*/1500);
  ASSERT_TRUE(cluster.ok());
  auto doomed = cluster.Worker("doomed", {"--test-sleep-per-mask-ms", "500"});
  const v1::JobSpec spec = MakeSpec(v1::SWEEP_INDIVIDUAL, v1::METHOD_ZERO, 4);
  const v1::Job job = cluster.client.Submit(spec);
  ASSERT_TRUE(WaitFor([&] { return HasRunningTask(cluster.client, job.id()); }, seconds(30)));
  doomed->Signal(SIGKILL);
  EXPECT_EQ(doomed->Wait(seconds(10)), -SIGKILL);
  auto survivor = cluster.Worker("survivor");
  const v1::Job done = cluster.client.WaitDone(job.id(), seconds(60));
  ASSERT_EQ(done.state(), v1::JOB_STATE_SUCCEEDED) << done.error() << survivor->Log();
  // The killed worker's task came back after its lease expired, as a second attempt.
  EXPECT_TRUE(std::regex_search(survivor->Log(), std::regex("attempt 2"))) << survivor->Log();
  ExpectMatchesOffline(*cluster.client.stub, job.id(), OfflineReference(spec));
}

TEST(Faults, LateResultFromAnExpiredLeaseIsRefused) {
  Cluster cluster(/*lease_ttl_ms=*/800);
  ASSERT_TRUE(cluster.ok());
  // A slow worker that never heartbeats: 4 masks x 600 ms outlive the 800 ms lease.
  worker::ExecutorOptions slow_options;
  slow_options.test_sleep_per_mask_ms = 600;
  InProcessWorker slow(cluster.address, slow_options, /*heartbeat=*/false);
  const v1::JobSpec spec = MakeSpec(v1::SWEEP_INDIVIDUAL, v1::METHOD_ZERO, 4);
  const v1::Job job = cluster.client.Submit(spec);
  ASSERT_TRUE(WaitFor([&] { return slow.loop().stats().tasks_leased > 0; }, seconds(30)));
  auto fast = cluster.Worker("fast");
  ASSERT_TRUE(WaitFor([&] { return slow.loop().stats().results_refused > 0; }, seconds(30)))
      << fast->Log();
  slow.Stop();
  const v1::Job done = cluster.client.WaitDone(job.id(), seconds(60));
  ASSERT_EQ(done.state(), v1::JOB_STATE_SUCCEEDED) << done.error();
  // The refused result changed nothing: the stored results are those of a clean run.
  EXPECT_EQ(done.progress().masks_done(), 13);
  ExpectMatchesOffline(*cluster.client.stub, job.id(), OfflineReference(spec));
}

TEST(Faults, PoisonJobFailsAfterMaxAttemptsWhileAnotherJobCompletes) {
  Cluster cluster(/*lease_ttl_ms=*/5000);
  ASSERT_TRUE(cluster.ok());
  auto w1 = cluster.Worker("w1");
  auto w2 = cluster.Worker("w2");
  // Every task of this job fails (the folder does not exist on the workers): not permanent,
  // so each task is tried max_attempts times before the job fails.
  v1::JobSpec poison = MakeSpec(v1::SWEEP_INDIVIDUAL, v1::METHOD_ZERO, 13, /*max_attempts=*/2);
  poison.mutable_model()->set_path(cluster.dir.File("no-such-model"));
  poison.set_priority(1);  // Leased first.
  const v1::JobSpec good = MakeSpec(v1::SWEEP_INDIVIDUAL, v1::METHOD_ZERO, 5);
  const v1::Job bad_job = cluster.client.Submit(poison);
  const v1::Job good_job = cluster.client.Submit(good);
  const v1::Job bad_done = cluster.client.WaitDone(bad_job.id(), seconds(60));
  const v1::Job good_done = cluster.client.WaitDone(good_job.id(), seconds(60));
  EXPECT_EQ(bad_done.state(), v1::JOB_STATE_FAILED);
  EXPECT_THAT(bad_done.error(), HasSubstr("spec.model.path"));
  EXPECT_THAT(bad_done.error(), ::testing::Not(HasSubstr(cluster.dir.File(""))));
  EXPECT_THAT(bad_done.error(), HasSubstr("2"));  // Attempts.
  ASSERT_EQ(good_done.state(), v1::JOB_STATE_SUCCEEDED) << good_done.error();
  ExpectMatchesOffline(*cluster.client.stub, good_job.id(), OfflineReference(good));
}

TEST(Faults, ModelShaMismatchFailsTheJobAtOnce) {
  Cluster cluster(/*lease_ttl_ms=*/5000);
  ASSERT_TRUE(cluster.ok());
  auto w = cluster.Worker("w");
  v1::JobSpec spec = MakeSpec(v1::SWEEP_INDIVIDUAL, v1::METHOD_ZERO, 4, /*max_attempts=*/5);
  spec.mutable_model()->set_sha256(std::string(64, 'a'));
  const v1::Job job = cluster.client.Submit(spec);
  const v1::Job done = cluster.client.WaitDone(job.id(), seconds(60));
  EXPECT_EQ(done.state(), v1::JOB_STATE_FAILED);
  EXPECT_THAT(done.error(), HasSubstr("spec.model.path"));
  EXPECT_THAT(w->Log(), HasSubstr("(permanent)"));
  // Permanent: one attempt, not five.
  EXPECT_THAT(w->Log(), ::testing::Not(HasSubstr("attempt 2")));
}

TEST(Faults, TextTooShortFailsTheJobAtOnce) {
  Cluster cluster(/*lease_ttl_ms=*/5000);
  ASSERT_TRUE(cluster.ok());
  auto w = cluster.Worker("w");
  v1::JobSpec spec = MakeSpec(v1::SWEEP_INDIVIDUAL, v1::METHOD_ZERO, 4, /*max_attempts=*/5);
  // Enough bytes for the server's check (a byte per token), too few tokens for the model.
  spec.mutable_dataset()->set_text(std::string(40, 'a') + " " + std::string(40, 'b'));
  spec.set_n_chunks(2);
  spec.set_seq_len(16);
  const v1::Job job = cluster.client.Submit(spec);
  const v1::Job done = cluster.client.WaitDone(job.id(), seconds(60));
  EXPECT_EQ(done.state(), v1::JOB_STATE_FAILED);
  EXPECT_THAT(done.error(), HasSubstr("text too short"));
}

TEST(Faults, CancelMidJobStopsTheWorkerAtItsNextHeartbeat) {
  Cluster cluster(/*lease_ttl_ms=*/2000);  // Heartbeat 500 ms.
  ASSERT_TRUE(cluster.ok());
  worker::ExecutorOptions slow_options;
  slow_options.test_sleep_per_mask_ms = 1000;  // A 5-mask task would take 5 s.
  InProcessWorker slow(cluster.address, slow_options);
  const v1::Job job = cluster.client.Submit(MakeSpec(v1::SWEEP_INDIVIDUAL, v1::METHOD_ZERO, 5));
  ASSERT_TRUE(WaitFor([&] { return slow.loop().stats().tasks_leased > 0; }, seconds(30)));
  v1::CancelJobRequest cancel;
  cancel.set_job_id(job.id());
  v1::Job cancelled;
  grpc::ClientContext context;
  ASSERT_TRUE(cluster.client.stub->CancelJob(&context, cancel, &cancelled).ok());
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor([&] { return slow.loop().stats().tasks_dropped > 0; }, seconds(5)));
  const double seconds_to_drop =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(seconds_to_drop, 2.0);  // One heartbeat interval (0.5 s) plus slack.
  EXPECT_EQ(slow.loop().stats().tasks_completed, 0);
  EXPECT_EQ(cluster.client.Get(job.id()).state(), v1::JOB_STATE_CANCELLED);
  std::printf("[ cancel ] task dropped %.2f s after CancelJob\n", seconds_to_drop);
}

}  // namespace
}  // namespace ablate::testing
