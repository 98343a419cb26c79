// Copyright: the ablate authors.
//
// Worker churn with real ablate-worker processes: of three workers one is SIGKILLed mid-job
// and one joins late, and the job still equals a single-worker run bit for bit. And
// `ablate workers` (the client binary) against live workers: every worker with its state
// (idle / busy / lost) and, for one that completed tasks, a throughput above zero.
#include <signal.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tests/integration/cluster.h"

namespace ablate::testing {
namespace {

namespace v1 = ::ablate::v1;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The worker registered under `name`, if any.
std::optional<v1::WorkerInfo> FindWorker(Client& client, const std::string& name) {
  for (const v1::WorkerInfo& w : client.Workers()) {
    if (w.name() == name) return w;
  }
  return std::nullopt;
}

bool HasState(Client& client, const std::string& name, const std::string& state) {
  std::optional<v1::WorkerInfo> w = FindWorker(client, name);
  return w.has_value() && w->state() == state;
}

// After the churn job: `doomed` completed a task (and is lost once unseen for 3 TTLs), the
// survivors, the late joiner included, did the rest and poll idle, and each of the job's 25
// masks is counted once (the killed task only for its rerun).
void ExpectChurnAccounting(Client& client, const std::string& late_log) {
  std::map<std::string, v1::WorkerInfo> by_name;
  for (const v1::WorkerInfo& w : client.Workers()) by_name[w.name()] = w;
  ASSERT_EQ(by_name.size(), 3u);
  const int64_t doomed = by_name["doomed"].masks_done(), steady = by_name["steady"].masks_done(),
                late = by_name["late"].masks_done();
  EXPECT_GE(doomed, 2);
  EXPECT_GT(steady, 0);
  EXPECT_GT(late, 0) << late_log;
  EXPECT_EQ(doomed + steady + late, 25);
  EXPECT_TRUE(WaitFor([&] { return HasState(client, "doomed", "lost"); }, seconds(10)));
  EXPECT_TRUE(HasState(client, "steady", "idle"));
  EXPECT_TRUE(HasState(client, "late", "idle"));
  std::printf("[ churn ] masks done: doomed %lld, steady %lld, late %lld\n",
              static_cast<long long>(doomed), static_cast<long long>(steady),
              static_cast<long long>(late));
}

TEST(Churn, ThreeWorkersOneKilledOneLateEqualASingleWorkerRun) {
  const auto start = std::chrono::steady_clock::now();
  // Heartbeats every 250 ms; a worker unseen for 3 s (3 TTLs) is listed as lost.
  Cluster cluster(/*lease_ttl_ms=*/1000);
  ASSERT_TRUE(cluster.ok());
  // 2 masks per task: 7 individual + 6 cumulative tasks (25 masks; k = 0 is the baseline).
  // 300 ms per mask stretches the job to several seconds, so that the kill and the late join
  // land mid-job even when worker start-up is slow (2 s on a loaded machine).
  const v1::JobSpec spec = MakeSpec(v1::SWEEP_FULL, v1::METHOD_ZERO_FOLDED, 2);
  const json single = OfflineReference(spec);  // One process, the server's grouping.
  auto doomed = cluster.Worker("doomed", {"--test-sleep-per-mask-ms", "300"});
  auto steady = cluster.Worker("steady", {"--test-sleep-per-mask-ms", "300"});
  const v1::Job job = cluster.client.Submit(spec);
  ASSERT_FALSE(job.id().empty());

  // Kill `doomed` once it has completed a task and holds the next one.
  std::string held;
  ASSERT_TRUE(WaitFor(
      [&] {
        std::optional<v1::WorkerInfo> w = FindWorker(cluster.client, "doomed");
        if (!w || w->masks_done() < 2 || w->state() != "busy") return false;
        held = w->current_task_id();
        return true;
      },
      seconds(30), milliseconds(20)))
      << doomed->Log();
  doomed->Signal(SIGKILL);
  EXPECT_EQ(doomed->Wait(seconds(10)), -SIGKILL);
  EXPECT_EQ(cluster.client.Get(job.id()).state(), v1::JOB_STATE_RUNNING);
  auto late = cluster.Worker("late", {"--test-sleep-per-mask-ms", "300"});

  const v1::Job done = cluster.client.WaitDone(job.id(), seconds(60));
  ASSERT_EQ(done.state(), v1::JOB_STATE_SUCCEEDED) << done.error() << steady->Log() << late->Log();
  ExpectMatchesOffline(*cluster.client.stub, job.id(), single);
  // The held task came back after its lease expired and was run again by a survivor.
  EXPECT_THAT(steady->Log() + late->Log(), HasSubstr(held + ": leased (attempt 2"));

  ExpectChurnAccounting(cluster.client, late->Log());
  std::printf("[ churn ] %.1f s wall\n", SecondsSince(start));
}

// Rows of an aligned Markdown table, each as {column title: cell text}.
std::vector<std::map<std::string, std::string>> ParseMarkdown(const std::string& text) {
  std::vector<std::vector<std::string>> lines;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (!absl::ConsumePrefix(&line, "|") || !absl::ConsumeSuffix(&line, "|")) continue;
    std::vector<std::string> cells;
    for (absl::string_view cell : absl::StrSplit(line, '|')) {
      cells.emplace_back(absl::StripAsciiWhitespace(cell));
    }
    lines.push_back(cells);
  }
  std::vector<std::map<std::string, std::string>> rows;
  for (size_t i = 2; i < lines.size(); ++i) {  // Header, then the |---| rule.
    std::map<std::string, std::string> row;
    for (size_t c = 0; c < lines[i].size() && c < lines[0].size(); ++c) {
      row[lines[0][c]] = lines[i][c];
    }
    rows.push_back(row);
  }
  return rows;
}

// `ablate workers --format json` lists busy (holding `busy_task`), fast (13 masks done, idle)
// and gone (lost).
void ExpectJsonListing(const std::string& out, const std::string& busy_task) {
  const json list = json::parse(out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(list.is_array()) << out;
  std::map<std::string, json> by_name;
  for (const json& w : list) by_name[w.value("name", "")] = w;
  ASSERT_EQ(by_name.size(), 3u) << out;
  EXPECT_EQ(by_name["busy"]["state"], "busy") << out;
  EXPECT_EQ(by_name["busy"]["current_task_id"], busy_task) << out;
  EXPECT_EQ(by_name["busy"]["masks_done"], 0) << out;
  EXPECT_TRUE(by_name["busy"]["masks_per_second"].is_null()) << out;  // No task done: unknown.
  EXPECT_EQ(by_name["fast"]["state"], "idle") << out;
  EXPECT_EQ(by_name["fast"]["masks_done"], 13) << out;
  ASSERT_TRUE(by_name["fast"]["masks_per_second"].is_number()) << out;
  EXPECT_GT(by_name["fast"]["masks_per_second"].get<double>(), 0.0) << out;
  EXPECT_EQ(by_name["gone"]["state"], "lost") << out;
  for (const auto& [name, w] : by_name) {
    EXPECT_EQ(w["device"], "cpu") << name;
    EXPECT_EQ(w["device_kind"], "cpu") << name;
    EXPECT_GT(w.value("last_seen_unix_ms", int64_t{0}), 0) << name;
  }
}

// The same three workers in the default Markdown table.
void ExpectTableListing(const std::string& out, const std::string& busy_task) {
  std::map<std::string, std::map<std::string, std::string>> rows;
  for (auto& row : ParseMarkdown(out)) rows[row["name"]] = row;
  ASSERT_EQ(rows.size(), 3u) << out;
  EXPECT_EQ(rows["busy"]["state"], "busy") << out;
  EXPECT_EQ(rows["busy"]["task"], busy_task) << out;
  EXPECT_EQ(rows["busy"]["masks/s"], "-") << out;
  EXPECT_EQ(rows["fast"]["state"], "idle") << out;
  EXPECT_EQ(rows["fast"]["masks done"], "13") << out;
  double rate = 0;
  EXPECT_TRUE(absl::SimpleAtod(rows["fast"]["masks/s"], &rate)) << out;
  EXPECT_GT(rate, 0.0) << out;
  EXPECT_EQ(rows["gone"]["state"], "lost") << out;
  EXPECT_EQ(rows["gone"]["masks/s"], "-") << out;
}

TEST(WorkersCli, ListsEveryLiveWorkerWithStateAndThroughput) {
  const auto start = std::chrono::steady_clock::now();
  Cluster cluster(/*lease_ttl_ms=*/1000);  // Lost after 3 s unseen.
  ASSERT_TRUE(cluster.ok());
  // `busy` holds the single 13-mask task of a job for over a minute (5 s per mask).
  auto busy = cluster.Worker("busy", {"--test-sleep-per-mask-ms", "5000"});
  const v1::Job hold = cluster.client.Submit(MakeSpec(v1::SWEEP_INDIVIDUAL, v1::METHOD_ZERO, 13));
  ASSERT_TRUE(WaitFor([&] { return HasState(cluster.client, "busy", "busy"); }, seconds(30)))
      << busy->Log();
  // `fast` runs a whole job, then waits idle.
  auto fast = cluster.Worker("fast");
  const v1::Job job = cluster.client.Submit(MakeSpec(v1::SWEEP_INDIVIDUAL, v1::METHOD_ZERO, 4));
  const v1::Job done = cluster.client.WaitDone(job.id(), seconds(60));
  ASSERT_EQ(done.state(), v1::JOB_STATE_SUCCEEDED) << done.error() << fast->Log();
  // `gone` registers and is killed.
  auto gone = cluster.Worker("gone");
  ASSERT_TRUE(WaitFor([&] { return FindWorker(cluster.client, "gone").has_value(); }, seconds(30)));
  gone->Signal(SIGKILL);
  ASSERT_TRUE(WaitFor([&] { return HasState(cluster.client, "gone", "lost"); }, seconds(10)));

  const CliRun as_json =
      RunCli({"--server", cluster.address, "workers", "--format", "json"}, cluster.dir);
  ASSERT_EQ(as_json.code, 0) << as_json.err;
  const std::string busy_task = FindWorker(cluster.client, "busy")->current_task_id();
  ExpectJsonListing(as_json.out, busy_task);
  const CliRun table = RunCli({"--server", cluster.address, "workers"}, cluster.dir);
  ASSERT_EQ(table.code, 0) << table.err;
  ExpectTableListing(table.out, busy_task);
  std::printf("%s[ workers cli ] %.1f s wall\n", table.out.c_str(), SecondsSince(start));
}

}  // namespace
}  // namespace ablate::testing
