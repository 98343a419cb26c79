// Nothing acknowledged is lost when the server is killed with SIGKILL mid-job: runs the
// ablate-server binary as a child process, submits jobs and completes tasks against it from
// several threads, kills it while traffic flows, checks the database (integrity_check, every
// acknowledged job and result present), restarts it on the same file, lets the jobs finish,
// and stops it with SIGTERM (exit 0).
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <set>
#include <thread>

#include "tests/server/server_test_util.h"

namespace ablate::server {
namespace {

namespace v1 = ::ablate::v1;
using ::ablate::testing::Ctx;
using ::ablate::testing::FakeWorker;
using ::ablate::testing::FillFakeResults;
using ::ablate::testing::SmallSpec;
using ::ablate::testing::TempDir;

// One ablate-server child process.
class ChildServer {
 public:
  ChildServer(const TempDir& dir, const std::string& name) : dir_(dir) {
    const std::string port_file = dir.File(name + ".port");
    std::vector<std::string> args = {ABLATE_SERVER_BIN, "--listen", "127.0.0.1:0",
                                     "--db", dir.File("queue.db"), "--port-file", port_file,
                                     "--lease-ttl-ms", "1000", "--log-level", "warn"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int log = open(dir.File(name + ".log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(log, 1);
      dup2(log, 2);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(log);
    for (int i = 0; i < 200 && port_ == 0; ++i) {  // Up to 10 s for the port file.
      std::ifstream in(port_file);
      if (!(in >> port_)) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (port_ != 0) {
      channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port_),
                                     grpc::InsecureChannelCredentials());
    }
  }
  ~ChildServer() {
    if (pid_ > 0) Kill(SIGKILL);
  }

  // Sends `signal` and reaps the child; returns its wait status.
  int Kill(int signal) {
    kill(pid_, signal);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

  int port() const { return port_; }
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }

 private:
  const TempDir& dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
};

struct Acknowledged {
  std::mutex mu;
  std::map<std::string, std::string> jobs;       // request_id -> job id.
  std::vector<std::pair<std::string, int>> results;  // (task id, masks) completed.
};

// Submits jobs with fresh request ids until stopped.
void Submitter(std::shared_ptr<grpc::Channel> channel, std::atomic<bool>* stop,
               Acknowledged* ack) {
  auto stub = v1::AblationService::NewStub(channel);
  for (int i = 0; !*stop; ++i) {
    v1::SubmitJobRequest request;
    request.set_request_id("durable-" + std::to_string(i));
    *request.mutable_spec() = SmallSpec(2, 2, v1::SWEEP_FULL, 1);
    v1::Job job;
    if (stub->SubmitJob(Ctx("", std::chrono::seconds(5)).get(), request, &job).ok()) {
      std::lock_guard<std::mutex> lock(ack->mu);
      ack->jobs[request.request_id()] = job.id();
    }
  }
}

// Leases and completes tasks until stopped, recording acknowledged completions.
void Worker(std::shared_ptr<grpc::Channel> channel, std::atomic<bool>* stop, Acknowledged* ack) {
  auto stub = v1::WorkerService::NewStub(channel);
  v1::RegisterResponse reg;
  if (!stub->Register(Ctx().get(), v1::RegisterRequest(), &reg).ok()) return;
  while (!*stop) {
    v1::LeaseTaskRequest lease;
    lease.set_worker_id(reg.worker_id());
    lease.set_worker_secret(reg.worker_secret());
    lease.set_wait_ms(100);
    v1::LeaseTaskResponse leased;
    if (!stub->LeaseTask(Ctx("", std::chrono::seconds(5)).get(), lease, &leased).ok()) return;
    if (!leased.has_task()) continue;
    v1::CompleteTaskRequest complete;
    FillFakeResults(leased.task(), reg.worker_id(), &complete);
    complete.set_worker_secret(reg.worker_secret());
    v1::CompleteTaskResponse done;
    if (!stub->CompleteTask(Ctx("", std::chrono::seconds(5)).get(), complete, &done).ok()) return;
    std::lock_guard<std::mutex> lock(ack->mu);
    ack->results.emplace_back(leased.task().task_id(), leased.task().masks_size());
  }
}

int64_t QueryInt(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  int64_t value = -1;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    value = sqlite3_column_int64(stmt, 0);
  }
  sqlite3_finalize(stmt);
  return value;
}

std::string QueryText(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  std::string value;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    value = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  return value;
}

TEST(DurabilityTest, KillNineMidJobLosesNothingAcknowledged) {
  TempDir dir;
  Acknowledged ack;
  {
    ChildServer first(dir, "first");
    ASSERT_GT(first.port(), 0) << "ablate-server did not start";
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    threads.emplace_back(Submitter, first.channel(), &stop, &ack);
    for (int i = 0; i < 3; ++i) threads.emplace_back(Worker, first.channel(), &stop, &ack);
    for (int i = 0; i < 200; ++i) {  // Until enough traffic was acknowledged (<= 10 s).
      {
        std::lock_guard<std::mutex> lock(ack.mu);
        if (ack.jobs.size() >= 10 && ack.results.size() >= 30) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const int status = first.Kill(SIGKILL);  // While submits and completions are in flight.
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    stop = true;
    for (std::thread& t : threads) t.join();
  }
  ASSERT_GE(ack.jobs.size(), 10u);
  ASSERT_GE(ack.results.size(), 30u);

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir.File("queue.db").c_str(), &db), SQLITE_OK);
  EXPECT_EQ(QueryText(db, "PRAGMA integrity_check"), "ok");
  for (const auto& [request_id, job_id] : ack.jobs) {
    EXPECT_EQ(QueryText(db, "SELECT 'job-' || id FROM jobs WHERE request_id = '" + request_id +
                                "'"),
              job_id);
  }
  for (const auto& [task_id, masks] : ack.results) {
    EXPECT_EQ(QueryInt(db, "SELECT COUNT(*) FROM results WHERE task_id = " + task_id.substr(5)),
              masks)
        << task_id;
    EXPECT_EQ(QueryInt(db, "SELECT state FROM tasks WHERE id = " + task_id.substr(5)), 3);
  }
  sqlite3_close(db);

  ChildServer second(dir, "second");
  ASSERT_GT(second.port(), 0) << "ablate-server did not restart";
  auto client = v1::AblationService::NewStub(second.channel());
  // Retrying an acknowledged submit after the crash answers with the same job.
  for (const auto& [request_id, job_id] : ack.jobs) {
    v1::SubmitJobRequest retry;
    retry.set_request_id(request_id);
    *retry.mutable_spec() = SmallSpec(2, 2, v1::SWEEP_FULL, 1);
    v1::Job job;
    ASSERT_TRUE(client->SubmitJob(Ctx().get(), retry, &job).ok());
    EXPECT_EQ(job.id(), job_id);
  }
  FakeWorker a(second.channel(), {}), b(second.channel(), {});
  a.Start();
  b.Start();
  // Every job finishes (leases held by the killed run expire after the TTL and re-run).
  bool all_done = false;
  for (int i = 0; i < 300 && !all_done; ++i) {  // Up to 30 s.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    v1::ListJobsRequest list;
    list.set_page_size(1000);
    v1::ListJobsResponse jobs;
    if (!client->ListJobs(Ctx().get(), list, &jobs).ok()) continue;
    all_done = true;
    for (const v1::Job& job : jobs.jobs()) {
      all_done = all_done && job.state() == v1::JOB_STATE_SUCCEEDED &&
                 job.progress().masks_done() == job.progress().masks_total();
    }
  }
  a.Stop();
  b.Stop();
  EXPECT_TRUE(all_done);
  const int status = second.Kill(SIGTERM);  // Drains and exits 0.
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;

  ASSERT_EQ(sqlite3_open(dir.File("queue.db").c_str(), &db), SQLITE_OK);
  EXPECT_EQ(QueryText(db, "PRAGMA integrity_check"), "ok");
  EXPECT_EQ(QueryInt(db, "SELECT COUNT(*) FROM results"),
            QueryInt(db, "SELECT COUNT(*) * 10 FROM jobs"));
  sqlite3_close(db);
}

}  // namespace
}  // namespace ablate::server
