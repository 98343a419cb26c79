// Copyright: the ablate authors.
//
// End to end on loopback: an in-process server, two ablate-worker processes and a client
// stub run sweeps of a tiny GPT-2; the server's head table and curve equal the offline
// `eval` of the same inputs. Also: SIGTERM makes a busy worker finish its task and exit 0.
#include <signal.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/cluster.h"

namespace ablate::testing {
namespace {

namespace v1 = ::ablate::v1;
using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(EndToEnd, TwoWorkersRunFullAndCumulativeSweepsLikeOfflineEval) {
  const auto start = std::chrono::steady_clock::now();
  Cluster cluster(/*lease_ttl_ms=*/5000);
  ASSERT_TRUE(cluster.ok());
  auto w1 = cluster.Worker("w1");
  auto w2 = cluster.Worker("w2");

  v1::JobSpec full = MakeSpec(v1::SWEEP_FULL, v1::METHOD_ZERO_FOLDED, /*masks_per_task=*/3);
  v1::JobSpec cumulative = MakeSpec(v1::SWEEP_CUMULATIVE, v1::METHOD_MEAN, 4);
  cumulative.set_bos_per_chunk(true);
  for (int flat : {7, 0, 11, 3, 5, 9, 1, 10, 2, 6, 4, 8}) {
    v1::HeadRef* h = cumulative.add_cumulative_order();
    h->set_layer(flat / 4);
    h->set_head(flat % 4);
  }
  const v1::Job job1 = cluster.client.Submit(full, "e2e-full");
  const v1::Job job2 = cluster.client.Submit(cumulative, "e2e-cumulative");
  ASSERT_FALSE(job1.id().empty());
  ASSERT_FALSE(job2.id().empty());
  // Offline references while the workers run.
  const nlohmann::json offline_full = OfflineReference(full);
  const nlohmann::json offline_cumulative = OfflineReference(cumulative);

  v1::Job done1 = cluster.client.WaitDone(job1.id(), seconds(120));
  v1::Job done2 = cluster.client.WaitDone(job2.id(), seconds(120));
  ASSERT_EQ(done1.state(), v1::JOB_STATE_SUCCEEDED) << done1.error() << "\n" << w1->Log();
  ASSERT_EQ(done2.state(), v1::JOB_STATE_SUCCEEDED) << done2.error() << "\n" << w2->Log();
  EXPECT_EQ(done1.progress().masks_done(), 26);  // 13 individual + 13 curve points.
  EXPECT_EQ(done2.progress().masks_done(), 13);
  ExpectMatchesOffline(*cluster.client.stub, job1.id(), offline_full);
  ExpectMatchesOffline(*cluster.client.stub, job2.id(), offline_cumulative);

  // Both workers registered with their device, and between them did all the work.
  std::vector<v1::WorkerInfo> workers = cluster.client.Workers();
  ASSERT_EQ(workers.size(), 2u);
  int64_t masks = 0;
  for (const v1::WorkerInfo& w : workers) {
    EXPECT_EQ(w.device_kind(), v1::DEVICE_KIND_CPU);
    EXPECT_EQ(w.device(), "cpu");
    EXPECT_FALSE(w.version().empty());
    masks += w.masks_done();
  }
  EXPECT_EQ(masks, 25 + 13);  // The full job's k = 0 point is the baseline, not re-run.
  EXPECT_THAT(w1->Log() + w2->Log(), ::testing::HasSubstr("completed"));

  for (auto* w : {w1.get(), w2.get()}) {
    w->Signal(SIGTERM);
    EXPECT_EQ(w->Wait(seconds(20)), 0) << w->Log();
  }
  std::printf("[ e2e ] two jobs (39 masks) with 2 workers: %.1f s wall\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

TEST(EndToEnd, SigtermFinishesTheCurrentTaskThenExitsZero) {
  Cluster cluster(/*lease_ttl_ms=*/5000);
  ASSERT_TRUE(cluster.ok());
  // 6 masks per task at 250 ms each: a task takes about 1.5 s.
  auto slow = cluster.Worker("slow", {"--test-sleep-per-mask-ms", "250"});
  v1::JobSpec spec = MakeSpec(v1::SWEEP_INDIVIDUAL, v1::METHOD_ZERO, 6);
  const v1::Job job = cluster.client.Submit(spec);
  ASSERT_TRUE(WaitFor([&] { return cluster.client.Get(job.id()).progress().tasks_running() > 0; },
                      seconds(30)))
      << slow->Log();
  slow->Signal(SIGTERM);
  EXPECT_EQ(slow->Wait(seconds(20)), 0) << slow->Log();
  // It finished the task it held (6 masks) and took no other.
  EXPECT_EQ(cluster.client.Get(job.id()).progress().masks_done(), 6) << slow->Log();
  EXPECT_THAT(slow->Log(), ::testing::HasSubstr("completed"));
  // A second SIGTERM-free worker finishes the job; results equal the offline run.
  auto rest = cluster.Worker("rest");
  v1::Job done = cluster.client.WaitDone(job.id(), seconds(60));
  ASSERT_EQ(done.state(), v1::JOB_STATE_SUCCEEDED) << done.error();
  ExpectMatchesOffline(*cluster.client.stub, job.id(), OfflineReference(spec));
}

TEST(EndToEnd, SecondSigtermHandsTheTaskBack) {
  Cluster cluster(/*lease_ttl_ms=*/5000);
  ASSERT_TRUE(cluster.ok());
  auto slow = cluster.Worker("slow", {"--test-sleep-per-mask-ms", "1000"});
  const v1::Job job = cluster.client.Submit(MakeSpec(v1::SWEEP_INDIVIDUAL, v1::METHOD_ZERO, 13));
  ASSERT_TRUE(WaitFor([&] { return cluster.client.Get(job.id()).progress().tasks_running() > 0; },
                      seconds(30)));
  slow->Signal(SIGTERM);
  std::this_thread::sleep_for(milliseconds(300));
  slow->Signal(SIGTERM);
  EXPECT_EQ(slow->Wait(seconds(10)), 0) << slow->Log();
  EXPECT_THAT(slow->Log(), ::testing::HasSubstr("handed back"));
  // Released at once (no lease expiry wait) and without using up an attempt.
  v1::Job now = cluster.client.Get(job.id());
  EXPECT_EQ(now.progress().tasks_running(), 0);
  EXPECT_NE(now.state(), v1::JOB_STATE_FAILED) << now.error();
}

TEST(EndToEnd, WorkerTokenFromFileIsRequired) {
  Cluster cluster(/*lease_ttl_ms=*/5000, 3, /*worker_token=*/"s3cret-worker");
  ASSERT_TRUE(cluster.ok());
  WriteFileOrDie(cluster.dir.File("good.token"), "s3cret-worker\n");
  WriteFileOrDie(cluster.dir.File("bad.token"), "guess\n");
  auto bad = cluster.Worker("bad", {"--token-file", cluster.dir.File("bad.token")});
  EXPECT_EQ(bad->Wait(seconds(30)), 1) << bad->Log();
  EXPECT_THAT(bad->Log(), ::testing::HasSubstr("UNAUTHENTICATED"));
  auto missing = cluster.Worker("missing", {"--token-file", cluster.dir.File("none.token")});
  EXPECT_EQ(missing->Wait(seconds(30)), 1);
  EXPECT_THAT(missing->Log(), ::testing::HasSubstr("none.token"));

  auto good = cluster.Worker("good", {"--token-file", cluster.dir.File("good.token")});
  const v1::JobSpec spec = MakeSpec(v1::SWEEP_INDIVIDUAL, v1::METHOD_ZERO, 13);
  const v1::Job done = cluster.client.WaitDone(cluster.client.Submit(spec).id(), seconds(60));
  EXPECT_EQ(done.state(), v1::JOB_STATE_SUCCEEDED) << done.error() << good->Log();
}

}  // namespace
}  // namespace ablate::testing
