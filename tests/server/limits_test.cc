// Issue 10, bounded requests: what one authenticated client may make the server do. Each
// test is a probe from the issue with the gRPC code it must get: shapes bounded and checked
// against the uploaded model, strings and priorities capped, inline texts small (large ones
// as text artifacts), job list pages under the message limit, finished jobs deletable, a
// full disk refused up front while the queue keeps serving, growing error texts cut.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "client/upload.h"
#include "storage/sha256.h"
#include "tests/server/server_test_util.h"

namespace ablate::server {
namespace {

namespace v1 = ::ablate::v1;
using ::ablate::testing::Ctx;
using ::ablate::testing::FakeWorker;
using ::ablate::testing::SmallSpec;
using ::ablate::testing::TestServer;
using ::testing::HasSubstr;

grpc::Status Submit(TestServer& ts, const v1::JobSpec& spec, v1::Job* job,
                    const std::string& token = "") {
  v1::SubmitJobRequest request;
  *request.mutable_spec() = spec;
  return ts.client->SubmitJob(Ctx(token).get(), request, job);
}

void ExpectCode(const grpc::Status& status, grpc::StatusCode code, const std::string& text) {
  EXPECT_EQ(status.error_code(), code) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr(text));
}

TEST(LimitsTest, SubmitCostIsBounded) {
  TestServer ts;
  ASSERT_TRUE(ts.status.ok()) << ts.status;
  v1::Job job;
  // The issue's probe: 1024 x 1024 heads inserted 1,048,577 task rows under the store lock.
  v1::JobSpec huge = SmallSpec(1024, 1024, v1::SWEEP_INDIVIDUAL, 1);
  ExpectCode(Submit(ts, huge, &job), grpc::StatusCode::INVALID_ARGUMENT, "spec.model.shape");
  // Within the head cap, but one mask per task would be too many tasks.
  v1::JobSpec many_tasks = SmallSpec(64, 128, v1::SWEEP_INDIVIDUAL, 0);
  many_tasks.set_masks_per_task(1);
  ExpectCode(Submit(ts, many_tasks, &job), grpc::StatusCode::INVALID_ARGUMENT,
             "spec.masks_per_task");
  v1::JobSpec named = SmallSpec(1, 1, v1::SWEEP_INDIVIDUAL);
  named.set_name(std::string(100000, 'n'));
  ExpectCode(Submit(ts, named, &job), grpc::StatusCode::INVALID_ARGUMENT, "spec.name");
  v1::JobSpec path = SmallSpec(1, 1, v1::SWEEP_INDIVIDUAL);
  path.mutable_model()->set_path(std::string(100000, 'p'));
  ExpectCode(Submit(ts, path, &job), grpc::StatusCode::INVALID_ARGUMENT, "spec.model.path");
  v1::RegisterRequest reg;
  reg.set_name(std::string(100000, 'w'));
  v1::RegisterResponse registered;
  ExpectCode(ts.worker->Register(Ctx().get(), reg, &registered),
             grpc::StatusCode::INVALID_ARGUMENT, "name");
}

TEST(LimitsTest, PrioritiesAreBoundedAndTheTopIsReserved) {
  ServerOptions options;
  options.client_token = "client";
  options.worker_token = "worker";
  options.operator_token = "operator";
  TestServer ts(options);
  ASSERT_TRUE(ts.status.ok()) << ts.status;
  v1::Job job;
  v1::JobSpec spec = SmallSpec(1, 1, v1::SWEEP_INDIVIDUAL);
  spec.set_priority(2000000000);
  ExpectCode(Submit(ts, spec, &job, "operator"), grpc::StatusCode::INVALID_ARGUMENT,
             "spec.priority");
  spec.set_priority(950);
  ExpectCode(Submit(ts, spec, &job, "client"), grpc::StatusCode::PERMISSION_DENIED,
             "reserved for the operator");
  EXPECT_TRUE(Submit(ts, spec, &job, "operator").ok());
  spec.set_priority(900);
  EXPECT_TRUE(Submit(ts, spec, &job, "client").ok());
}

TEST(LimitsTest, LargeTextsGoUpAsArtifacts) {
  TestServer ts;
  ASSERT_TRUE(ts.status.ok()) << ts.status;
  const std::string text(1536 * 1024, 'x');  // Over the 1 MiB inline limit.
  v1::JobSpec spec = SmallSpec(1, 2, v1::SWEEP_INDIVIDUAL);
  spec.mutable_dataset()->set_text(text);
  v1::Job job;
  ExpectCode(Submit(ts, spec, &job), grpc::StatusCode::RESOURCE_EXHAUSTED, "spec.dataset.text");
  // The way out: upload the text, name it in the spec.
  const std::string path = ts.dir.File("text.txt");
  std::ofstream(path, std::ios::binary) << text;
  auto stub = v1::ArtifactService::NewStub(ts.channel);
  absl::StatusOr<client::UploadResult> uploaded = client::UploadTextFile(stub.get(), path);
  ASSERT_TRUE(uploaded.ok()) << uploaded.status();
  spec.mutable_dataset()->clear_text();
  spec.mutable_dataset()->set_artifact_digest(uploaded->artifact.digest());
  ASSERT_TRUE(Submit(ts, spec, &job).ok());
  EXPECT_EQ(job.dataset_bytes(), static_cast<int64_t>(text.size()));
  EXPECT_EQ(job.spec().dataset().sha256(), storage::Sha256Hex(text));
  // Not stored: FAILED_PRECONDITION naming the field.
  spec.mutable_dataset()->set_artifact_digest(std::string(64, 'a'));
  ExpectCode(Submit(ts, spec, &job), grpc::StatusCode::FAILED_PRECONDITION,
             "spec.dataset.artifact_digest");
}

TEST(LimitsTest, ShapeIsCheckedAgainstTheUploadedModel) {
  TestServer ts;
  ASSERT_TRUE(ts.status.ok()) << ts.status;
  const std::string dir = ts.dir.File("model");
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/config.json") << R"({"n_layer": 2, "n_head": 3, "n_positions": 64})";
  std::ofstream(dir + "/model.safetensors") << "weights";
  auto stub = v1::ArtifactService::NewStub(ts.channel);
  absl::StatusOr<client::UploadResult> uploaded = client::UploadModelFolder(stub.get(), dir);
  ASSERT_TRUE(uploaded.ok()) << uploaded.status();
  v1::JobSpec spec = SmallSpec(64, 128, v1::SWEEP_INDIVIDUAL, 64);  // Claims 8,192 heads.
  spec.mutable_model()->clear_path();
  spec.mutable_model()->set_artifact_digest(uploaded->artifact.digest());
  v1::Job job;
  ExpectCode(Submit(ts, spec, &job), grpc::StatusCode::INVALID_ARGUMENT,
             "spec.model.shape.n_layer");
  *spec.mutable_model()->mutable_shape() = SmallSpec(2, 3, v1::SWEEP_INDIVIDUAL)
                                               .model().shape();
  EXPECT_TRUE(Submit(ts, spec, &job).ok());
}

TEST(LimitsTest, JobListPagesStayUnderTheMessageLimit) {
  TestServer ts;
  ASSERT_TRUE(ts.status.ok()) << ts.status;
  // Cumulative jobs over 8,192 heads carry their order: about 50 KB each.
  const int kJobs = 30;
  for (int i = 0; i < kJobs; ++i) {
    v1::Job job;
    ASSERT_TRUE(Submit(ts, SmallSpec(64, 128, v1::SWEEP_CUMULATIVE, 1024), &job).ok());
  }
  v1::ListJobsRequest request;
  request.set_page_size(1000);
  int seen = 0, pages = 0;
  do {
    v1::ListJobsResponse page;
    ASSERT_TRUE(ts.client->ListJobs(Ctx().get(), request, &page).ok());
    EXPECT_LE(page.ByteSizeLong(), size_t{1} << 20);
    seen += page.jobs_size();
    ++pages;
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty() && pages < 100);
  EXPECT_EQ(seen, kJobs);
  EXPECT_GT(pages, 1);
}

TEST(LimitsTest, DeleteJobRemovesAFinishedJob) {
  TestServer ts;
  ASSERT_TRUE(ts.status.ok()) << ts.status;
  v1::Job running, done;
  ASSERT_TRUE(Submit(ts, SmallSpec(1, 2, v1::SWEEP_INDIVIDUAL), &running).ok());
  v1::DeleteJobRequest del;
  del.set_job_id(running.id());
  v1::DeleteJobResponse deleted;
  ExpectCode(ts.client->DeleteJob(Ctx().get(), del, &deleted),
             grpc::StatusCode::FAILED_PRECONDITION, "cancel it");
  v1::CancelJobRequest cancel;
  cancel.set_job_id(running.id());
  ASSERT_TRUE(ts.client->CancelJob(Ctx().get(), cancel, &done).ok());
  ASSERT_TRUE(ts.client->DeleteJob(Ctx().get(), del, &deleted).ok());
  EXPECT_TRUE(deleted.dataset_deleted());
  v1::GetJobRequest get;
  get.set_job_id(running.id());
  EXPECT_EQ(ts.client->GetJob(Ctx().get(), get, &done).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ts.client->DeleteJob(Ctx().get(), del, &deleted).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST(LimitsTest, FullDiskRefusesNewWorkButTheQueueKeepsServing) {
  ServerOptions options;
  options.min_free_disk_bytes = 0;
  TestServer ts(options);
  ASSERT_TRUE(ts.status.ok()) << ts.status;
  v1::Job job;
  ASSERT_TRUE(Submit(ts, SmallSpec(1, 2, v1::SWEEP_INDIVIDUAL, 1), &job).ok());
  // Restart on the same files with an impossible free-space floor: the disk is "full".
  const std::string db = ts.dir.File("queue.db");
  ts.server->Shutdown();
  ts.server.reset();
  ServerOptions full;
  full.db_path = db;
  full.store.synchronous_full = false;
  full.min_free_disk_bytes = int64_t{1} << 60;
  auto server = Server::Start(full);
  ASSERT_TRUE(server.ok()) << server.status();
  auto channel = grpc::CreateChannel((*server)->dial_address(),
                                     grpc::InsecureChannelCredentials());
  auto client = v1::AblationService::NewStub(channel);
  v1::SubmitJobRequest request;
  *request.mutable_spec() = SmallSpec(1, 2, v1::SWEEP_INDIVIDUAL);
  v1::Job refused;
  ExpectCode(client->SubmitJob(Ctx().get(), request, &refused),
             grpc::StatusCode::RESOURCE_EXHAUSTED, "disk");
  const std::string path = ts.dir.File("t.txt");
  std::ofstream(path) << "some text";
  auto artifacts = v1::ArtifactService::NewStub(channel);
  client::UploadOptions once;
  once.max_attempts = 1;
  EXPECT_EQ(client::UploadTextFile(artifacts.get(), path, once).status().code(),
            absl::StatusCode::kResourceExhausted);
  // The job already queued still runs to the end.
  FakeWorker worker(channel, FakeWorker::Options());
  worker.Start();
  v1::GetJobRequest get;
  get.set_job_id(job.id());
  for (int i = 0; i < 200 && job.state() != v1::JOB_STATE_SUCCEEDED; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_TRUE(client->GetJob(Ctx().get(), get, &job).ok());
  }
  worker.Stop();
  EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED);
}

TEST(LimitsTest, ErrorTextsAreCutAsTheyAccumulate) {
  ServerOptions options;
  options.store.backoff_base_ms = 0;  // The same worker gets the task back at once.
  TestServer ts(options);
  ASSERT_TRUE(ts.status.ok()) << ts.status;
  v1::JobSpec spec = SmallSpec(1, 1, v1::SWEEP_INDIVIDUAL, 2);
  spec.set_max_attempts(20);
  v1::Job job;
  ASSERT_TRUE(Submit(ts, spec, &job).ok());
  v1::RegisterResponse reg;
  ASSERT_TRUE(ts.worker->Register(Ctx().get(), v1::RegisterRequest(), &reg).ok());
  for (int attempt = 0; attempt < 20; ++attempt) {
    v1::LeaseTaskRequest lease;
    lease.set_worker_id(reg.worker_id());
    lease.set_worker_secret(reg.worker_secret());
    v1::LeaseTaskResponse leased;
    ASSERT_TRUE(ts.worker->LeaseTask(Ctx().get(), lease, &leased).ok());
    ASSERT_TRUE(leased.has_task()) << attempt;
    v1::FailTaskRequest fail;
    fail.set_worker_id(reg.worker_id());
    fail.set_worker_secret(reg.worker_secret());
    fail.set_task_id(leased.task().task_id());
    fail.set_lease_token(leased.task().lease_token());
    fail.set_error(std::string(200000, 'e'));
    v1::FailTaskResponse failed;
    ASSERT_TRUE(ts.worker->FailTask(Ctx().get(), fail, &failed).ok());
    ts.server->store().ReclaimExpiredLeases().IgnoreError();
  }
  v1::GetJobRequest get;
  get.set_job_id(job.id());
  ASSERT_TRUE(ts.client->GetJob(Ctx().get(), get, &job).ok());
  EXPECT_EQ(job.state(), v1::JOB_STATE_FAILED);
  EXPECT_LE(job.error().size(), storage::kMaxTaskErrorsBytes);
  EXPECT_GT(job.error().size(), 100u);
}

}  // namespace
}  // namespace ablate::server
