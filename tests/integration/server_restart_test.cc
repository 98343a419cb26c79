// Copyright: the ablate authors.
//
// The ablate-server binary killed with SIGKILL mid-job while two ablate-worker processes run
// it, then restarted on the same database and port: every result stored before the kill is
// still there unchanged, the workers reconnect by themselves, the job completes with the
// offline numbers, and PRAGMA integrity_check is ok. Also checks what each stored result
// records (model and dataset digests, device, dtype, version).
#include <signal.h>
#include <sqlite3.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "tests/integration/cluster.h"

namespace ablate::testing {
namespace {

namespace v1 = ::ablate::v1;
using std::chrono::seconds;

// (phase, mask_index) -> nll_sum of every stored result, or {} if the database cannot be read.
std::map<std::pair<int, int>, double> StoredResults(const std::string& db_path) {
  std::map<std::pair<int, int>, double> out;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db, "SELECT phase, mask_index, nll_sum FROM results", -1, &stmt, nullptr);
    while (stmt != nullptr && sqlite3_step(stmt) == SQLITE_ROW) {
      out[{sqlite3_column_int(stmt, 0), sqlite3_column_int(stmt, 1)}] =
          sqlite3_column_double(stmt, 2);
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return out;
}

// The rows of `sql` (one column each, as text).
std::vector<std::string> Query(const std::string& db_path, const std::string& sql) {
  std::vector<std::string> rows;
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sql;
  while (stmt != nullptr && sqlite3_step(stmt) == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(stmt, 0);
    rows.emplace_back(text ? reinterpret_cast<const char*>(text) : "NULL");
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return rows;
}

// Starts ablate-server on `listen`; returns its port once the port file appears, or 0.
int StartServerProcess(const TempDir& dir, const std::string& listen,
                       std::unique_ptr<ChildProcess>* out) {
  const std::string port_file = dir.File("port");
  std::remove(port_file.c_str());
  auto child = ChildProcess::Start({ABLATE_SERVER_BIN, "--listen", listen, "--db",
                                    dir.File("queue.db"), "--port-file", port_file,
                                    "--lease-ttl-ms", "2000", "--max-lease-wait-ms", "1000"},
                                   dir.File("server.log"));
  if (!child.ok()) return 0;
  *out = std::move(*child);
  int port = 0;
  WaitFor(
      [&] {
        std::ifstream in(port_file);
        return static_cast<bool>(in >> port) && port > 0;
      },
      seconds(30));
  return port;
}

TEST(ServerRestart, KillNineMidJobLosesNothingAndTheJobCompletes) {
  TempDir dir;
  std::unique_ptr<ChildProcess> server;
  const int port = StartServerProcess(dir, "127.0.0.1:0", &server);
  ASSERT_GT(port, 0) << (server ? server->Log() : "");
  const std::string address = "127.0.0.1:" + std::to_string(port);
  auto w1 = StartWorker(address, "w1", dir, {"--test-sleep-per-mask-ms", "150"});
  auto w2 = StartWorker(address, "w2", dir, {"--test-sleep-per-mask-ms", "150"});
  Client client(address);
  const v1::JobSpec spec = MakeSpec(v1::SWEEP_FULL, v1::METHOD_ZERO, /*masks_per_task=*/2);
  const v1::Job job = client.Submit(spec, "restart-job");
  ASSERT_FALSE(job.id().empty());
  const nlohmann::json offline = OfflineReference(spec);
  ASSERT_TRUE(WaitFor([&] { return client.Get(job.id()).progress().masks_done() >= 6; },
                      seconds(60)));

  const auto before = StoredResults(dir.File("queue.db"));
  ASSERT_GE(before.size(), 6u);
  server->Signal(SIGKILL);
  ASSERT_EQ(server->Wait(seconds(10)), -SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // Workers see it gone.
  ASSERT_EQ(StartServerProcess(dir, address, &server), port) << server->Log();

  // Resubmitting with the same request id finds the job: nothing acknowledged was lost.
  EXPECT_EQ(client.Submit(spec, "restart-job").id(), job.id());
  const v1::Job done = client.WaitDone(job.id(), seconds(90));
  ASSERT_EQ(done.state(), v1::JOB_STATE_SUCCEEDED)
      << done.error() << "\n" << w1->Log() << w2->Log();
  ExpectMatchesOffline(*client.stub, job.id(), offline);
  server->Signal(SIGTERM);
  EXPECT_EQ(server->Wait(seconds(20)), 0) << server->Log();

  const auto after = StoredResults(dir.File("queue.db"));
  EXPECT_EQ(after.size(), 26u);  // 13 individual + 13 curve points, each once.
  for (const auto& [key, nll] : before) {
    ASSERT_TRUE(after.count(key)) << "lost result phase " << key.first << " mask " << key.second;
    EXPECT_EQ(after.at(key), nll);
  }
  EXPECT_EQ(Query(dir.File("queue.db"), "PRAGMA integrity_check"),
            std::vector<std::string>{"ok"});
  // What every result records.
  const std::string where = " FROM results WHERE mask_index > 0 OR phase = 1";
  EXPECT_EQ(Query(dir.File("queue.db"), "SELECT DISTINCT model_sha256" + where),
            std::vector<std::string>{SharedInputs().model_sha});
  EXPECT_EQ(Query(dir.File("queue.db"), "SELECT DISTINCT device || ' ' || dtype || ' ' ||"
                                        " software_version || ' ' || tokens_scored" + where),
            std::vector<std::string>{"cpu 1 " ABLATE_VERSION " 30"});
  EXPECT_EQ(Query(dir.File("queue.db"), "SELECT COUNT(DISTINCT dataset_sha256)" + where),
            std::vector<std::string>{"1"});
  for (auto* w : {w1.get(), w2.get()}) {
    EXPECT_TRUE(w->running()) << w->Log();
    EXPECT_THAT(w->Log(), ::testing::HasSubstr("retrying"));
  }
}

}  // namespace
}  // namespace ablate::testing
