// Bounded load: 20 concurrent clients submit and watch 200 small SWEEP_FULL jobs while 4 fake
// workers lease and complete their tasks, on the production durability setting
// (synchronous=FULL). Checks: no RPC error, every job SUCCEEDED, exactly one result per mask,
// values as reported. Prints submit and lease latency percentiles. Stops by itself: every
// call and stream has a deadline, and the test gives up after kBudget.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdio>
#include <cstdlib>
#include <future>

#include "tests/server/server_test_util.h"

namespace ablate::server {
namespace {

namespace v1 = ::ablate::v1;
using ::ablate::testing::Ctx;
using ::ablate::testing::FakeWorker;
using ::ablate::testing::Percentile;
using ::ablate::testing::SmallSpec;
using ::ablate::testing::TestServer;

constexpr int kClients = 20;
constexpr int kJobsPerClient = 10;
constexpr int kWorkers = 4;
constexpr auto kBudget = std::chrono::seconds(120);

struct ClientStats {
  std::vector<double> submit_ms;
  int errors = 0;
  int succeeded = 0;
};

// Submits its jobs one after another and watches each to the end.
ClientStats RunClient(TestServer& ts, int client) {
  ClientStats stats;
  const auto give_up = std::chrono::steady_clock::now() + kBudget;
  for (int j = 0; j < kJobsPerClient && std::chrono::steady_clock::now() < give_up; ++j) {
    v1::SubmitJobRequest request;
    request.set_request_id("load-" + std::to_string(client) + "-" + std::to_string(j));
    *request.mutable_spec() = SmallSpec(2, 2, v1::SWEEP_FULL, 2);
    request.mutable_spec()->set_priority(j % 3);
    v1::Job job;
    const auto start = std::chrono::steady_clock::now();
    grpc::Status status = ts.client->SubmitJob(Ctx().get(), request, &job);
    stats.submit_ms.push_back(std::chrono::duration<double, std::milli>(
                                  std::chrono::steady_clock::now() - start).count());
    if (!status.ok()) {
      ++stats.errors;
      continue;
    }
    v1::WatchJobRequest watch;
    watch.set_job_id(job.id());
    auto context = Ctx("", std::chrono::duration_cast<std::chrono::milliseconds>(
                               give_up - std::chrono::steady_clock::now()));
    auto reader = ts.client->WatchJob(context.get(), watch);
    v1::JobEvent event;
    v1::JobEvent last;
    while (reader->Read(&event)) last = event;
    if (!reader->Finish().ok()) ++stats.errors;
    if (last.kind() == v1::JobEvent::KIND_FINISHED &&
        last.job().state() == v1::JOB_STATE_SUCCEEDED) {
      ++stats.succeeded;
    }
  }
  return stats;
}

int64_t QueryInt(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr);
  int64_t value = -1;
  if (stmt != nullptr && sqlite3_step(stmt) == SQLITE_ROW) value = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return value;
}

TEST(LoadTest, TwentyClientsTwoHundredJobsFourWorkers) {
  // ABLATE_LOAD_SYNC=normal measures synchronous=NORMAL for comparison.
  const char* sync = std::getenv("ABLATE_LOAD_SYNC");
  const bool normal = sync != nullptr && std::string(sync) == "normal";
  std::printf("load: synchronous=%s\n", normal ? "NORMAL" : "FULL");
  TestServer ts(ServerOptions(), /*fast_sync=*/normal);
  ASSERT_TRUE(ts.status.ok()) << ts.status;
  std::vector<std::unique_ptr<FakeWorker>> workers;
  for (int i = 0; i < kWorkers; ++i) {
    workers.push_back(std::make_unique<FakeWorker>(ts.channel, FakeWorker::Options()));
    workers.back()->Start();
  }
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::future<ClientStats>> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.push_back(std::async(std::launch::async, [&ts, c] { return RunClient(ts, c); }));
  }
  std::vector<double> submit_ms, lease_ms;
  int errors = 0, succeeded = 0;
  for (auto& client : clients) {
    ClientStats stats = client.get();
    submit_ms.insert(submit_ms.end(), stats.submit_ms.begin(), stats.submit_ms.end());
    errors += stats.errors;
    succeeded += stats.succeeded;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  int worker_errors = 0, tasks = 0;
  for (auto& worker : workers) {
    worker->Stop();
    worker_errors += worker->errors();
    tasks += worker->tasks_done();
    std::vector<double> ms = worker->lease_latencies_ms();
    lease_ms.insert(lease_ms.end(), ms.begin(), ms.end());
  }
  std::printf(
      "load: %d clients, %d jobs, %d workers, %d tasks in %.2f s (%.0f tasks/s)\n"
      "load: submit latency ms p50 %.2f p99 %.2f max %.2f (n=%zu)\n"
      "load: lease latency ms (calls that got a task) p50 %.2f p99 %.2f max %.2f (n=%zu)\n",
      kClients, kClients * kJobsPerClient, kWorkers, tasks, seconds, tasks / seconds,
      Percentile(submit_ms, 50), Percentile(submit_ms, 99), Percentile(submit_ms, 100),
      submit_ms.size(), Percentile(lease_ms, 50), Percentile(lease_ms, 99),
      Percentile(lease_ms, 100), lease_ms.size());
  EXPECT_EQ(errors, 0);
  EXPECT_EQ(worker_errors, 0);
  EXPECT_EQ(succeeded, kClients * kJobsPerClient);
  // 200 jobs x 5 tasks (individual: 5 masks in 3 tasks; cumulative k = 1..4 in 2 tasks).
  EXPECT_EQ(tasks, kClients * kJobsPerClient * 5);
  const std::string db = ts.dir.File("queue.db");
  // 10 masks per job, each stored once (k = 0 is the copied baseline).
  EXPECT_EQ(QueryInt(db, "SELECT COUNT(*) FROM results"), kClients * kJobsPerClient * 10);
  EXPECT_EQ(QueryInt(db, "SELECT COUNT(*) FROM (SELECT DISTINCT job_id, phase, mask_index"
                         " FROM results)"),
            kClients * kJobsPerClient * 10);
  EXPECT_EQ(QueryInt(db, "SELECT COUNT(*) FROM jobs WHERE state = 3"), kClients * kJobsPerClient);
  EXPECT_EQ(QueryInt(db, "SELECT COUNT(*) FROM head_results WHERE abs(ppl - 20 * (1 + "
                         "((layer * 2 + head + 1) % 5 - 1) / 20.0)) > 1e-9"),
            0);
}

}  // namespace
}  // namespace ablate::server
