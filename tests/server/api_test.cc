// The gRPC API end to end with fake workers: a full sweep through WatchJob and the query
// RPCs, fencing over the wire, cancel, health, reflection, and a shutdown that does not hang
// on open streams and long polls.
#include <gmock/gmock.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include <future>

#include "tests/server/server_test_util.h"

namespace ablate::server {
namespace {

namespace v1 = ::ablate::v1;
using ::ablate::testing::Ctx;
using ::ablate::testing::FakeWorker;
using ::ablate::testing::SmallSpec;
using ::ablate::testing::TestServer;
using ::testing::HasSubstr;

v1::Job SubmitOrDie(TestServer& ts, const v1::JobSpec& spec) {
  v1::SubmitJobRequest request;
  *request.mutable_spec() = spec;
  v1::Job job;
  grpc::Status status = ts.client->SubmitJob(Ctx().get(), request, &job);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return job;
}

std::vector<v1::JobEvent> WatchAll(TestServer& ts, const std::string& job_id) {
  v1::WatchJobRequest request;
  request.set_job_id(job_id);
  auto context = Ctx("", std::chrono::seconds(30));
  auto reader = ts.client->WatchJob(context.get(), request);
  std::vector<v1::JobEvent> events;
  v1::JobEvent event;
  while (reader->Read(&event)) events.push_back(event);
  grpc::Status status = reader->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  return events;
}

TEST(ApiTest, FullSweepThroughWatchAndQueries) {
  TestServer ts;
  ASSERT_TRUE(ts.status.ok()) << ts.status;
  v1::Job job = SubmitOrDie(ts, SmallSpec(3, 2, v1::SWEEP_FULL, 2));
  EXPECT_THAT(job.id(), HasSubstr("job-"));
  auto watch = std::async(std::launch::async, [&] { return WatchAll(ts, job.id()); });
  FakeWorker a(ts.channel, {}), b(ts.channel, {});
  a.Start();
  b.Start();
  std::vector<v1::JobEvent> events = watch.get();
  a.Stop();
  b.Stop();
  EXPECT_EQ(a.errors() + b.errors(), 0);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.front().kind(), v1::JobEvent::KIND_SNAPSHOT);
  EXPECT_EQ(events.back().kind(), v1::JobEvent::KIND_FINISHED);
  EXPECT_EQ(events.back().job().state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(events.back().job().progress().masks_done(), 14);
  int phases = 0;
  for (const v1::JobEvent& e : events) phases += e.kind() == v1::JobEvent::KIND_PHASE;
  EXPECT_EQ(phases, 1);

  v1::JobQuery query;
  query.set_job_id(job.id());
  v1::HeadTable table;
  ASSERT_TRUE(ts.client->GetHeadTable(Ctx().get(), query, &table).ok());
  EXPECT_EQ(table.rows_size(), 6);
  EXPECT_NEAR(table.baseline_ppl(), 20.0, 1e-9);
  v1::CumulativeCurve curve;
  ASSERT_TRUE(ts.client->GetCumulativeCurve(Ctx().get(), query, &curve).ok());
  EXPECT_EQ(curve.points_size(), 7);
  v1::ThresholdsRequest thresholds;
  thresholds.set_job_id(job.id());
  v1::ThresholdTable rows;
  ASSERT_TRUE(ts.client->GetThresholds(Ctx().get(), thresholds, &rows).ok());
  EXPECT_EQ(rows.rows_size(), 3);  // The default ratios.
  v1::DistributionStats stats;
  ASSERT_TRUE(ts.client->GetDistribution(Ctx().get(), query, &stats).ok());
  EXPECT_EQ(stats.n_heads(), 6);
  v1::LayerTable layers;
  ASSERT_TRUE(ts.client->GetLayerTable(Ctx().get(), query, &layers).ok());
  EXPECT_EQ(layers.rows_size(), 3);
  v1::CorrelationRequest correlation;
  correlation.set_job_id(job.id());
  for (double v : {1.0, 3.0, 2.0}) correlation.add_series(v);
  v1::Correlation r;
  grpc::Status status = ts.client->GetCorrelation(Ctx().get(), correlation, &r);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(r.n(), 3);
  v1::ListWorkersResponse workers;
  ASSERT_TRUE(ts.client->ListWorkers(Ctx().get(), v1::ListWorkersRequest(), &workers).ok());
  EXPECT_EQ(workers.workers_size(), 2);
}

TEST(ApiTest, FencingOverTheWire) {
  TestServer ts;
  ASSERT_TRUE(ts.status.ok()) << ts.status;
  SubmitOrDie(ts, SmallSpec(1, 1, v1::SWEEP_INDIVIDUAL, 2));
  v1::RegisterResponse reg;
  ASSERT_TRUE(ts.worker->Register(Ctx().get(), v1::RegisterRequest(), &reg).ok());
  EXPECT_GT(reg.lease_ttl_ms(), reg.heartbeat_interval_ms());
  v1::LeaseTaskRequest lease;
  lease.set_worker_id(reg.worker_id());
  lease.set_worker_secret(reg.worker_secret());
  v1::LeaseTaskResponse leased;
  ASSERT_TRUE(ts.worker->LeaseTask(Ctx().get(), lease, &leased).ok());
  ASSERT_TRUE(leased.has_task());
  v1::CompleteTaskRequest complete;
  ::ablate::testing::FillFakeResults(leased.task(), reg.worker_id(), &complete);
  complete.set_worker_secret(reg.worker_secret());
  complete.set_lease_token(leased.task().lease_token() - 1);
  v1::CompleteTaskResponse done;
  EXPECT_EQ(ts.worker->CompleteTask(Ctx().get(), complete, &done).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  complete.set_lease_token(leased.task().lease_token());
  ASSERT_TRUE(ts.worker->CompleteTask(Ctx().get(), complete, &done).ok());
  EXPECT_FALSE(done.duplicate());
  ASSERT_TRUE(ts.worker->CompleteTask(Ctx().get(), complete, &done).ok());
  EXPECT_TRUE(done.duplicate());
  v1::GetDatasetRequest dataset_request;
  dataset_request.set_sha256(leased.task().dataset_sha256());
  dataset_request.set_worker_id(reg.worker_id());
  dataset_request.set_worker_secret(reg.worker_secret());
  v1::Dataset dataset;
  ASSERT_TRUE(ts.worker->GetDataset(Ctx().get(), dataset_request, &dataset).ok());
  EXPECT_EQ(dataset.text(), std::string(64, 'x'));
}

TEST(ApiTest, CancelMidJobEndsWatchAndTellsWorker) {
  TestServer ts;
  ASSERT_TRUE(ts.status.ok()) << ts.status;
  v1::Job job = SubmitOrDie(ts, SmallSpec(2, 2, v1::SWEEP_INDIVIDUAL, 1));
  v1::RegisterResponse reg;
  ASSERT_TRUE(ts.worker->Register(Ctx().get(), v1::RegisterRequest(), &reg).ok());
  v1::LeaseTaskRequest lease;
  lease.set_worker_id(reg.worker_id());
  lease.set_worker_secret(reg.worker_secret());
  v1::LeaseTaskResponse leased;
  ASSERT_TRUE(ts.worker->LeaseTask(Ctx().get(), lease, &leased).ok());
  auto watch = std::async(std::launch::async, [&] { return WatchAll(ts, job.id()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  v1::CancelJobRequest cancel;
  cancel.set_job_id(job.id());
  v1::Job cancelled;
  ASSERT_TRUE(ts.client->CancelJob(Ctx().get(), cancel, &cancelled).ok());
  std::vector<v1::JobEvent> events = watch.get();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().kind(), v1::JobEvent::KIND_FINISHED);
  EXPECT_EQ(events.back().job().state(), v1::JOB_STATE_CANCELLED);
  v1::HeartbeatRequest beat;
  beat.set_worker_id(reg.worker_id());
  beat.set_worker_secret(reg.worker_secret());
  beat.set_task_id(leased.task().task_id());
  beat.set_lease_token(leased.task().lease_token());
  v1::HeartbeatResponse answer;
  ASSERT_TRUE(ts.worker->Heartbeat(Ctx().get(), beat, &answer).ok());
  EXPECT_TRUE(answer.cancelled());
  lease.set_wait_ms(0);
  ASSERT_TRUE(ts.worker->LeaseTask(Ctx().get(), lease, &leased).ok());
  EXPECT_FALSE(leased.has_task());
}

TEST(ApiTest, LongPollWakesOnSubmit) {
  TestServer ts;
  ASSERT_TRUE(ts.status.ok()) << ts.status;
  v1::RegisterResponse reg;
  ASSERT_TRUE(ts.worker->Register(Ctx().get(), v1::RegisterRequest(), &reg).ok());
  auto poll = std::async(std::launch::async, [&] {
    v1::LeaseTaskRequest lease;
    lease.set_worker_id(reg.worker_id());
    lease.set_worker_secret(reg.worker_secret());
    lease.set_wait_ms(10000);
    v1::LeaseTaskResponse leased;
    const auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(ts.worker->LeaseTask(Ctx().get(), lease, &leased).ok());
    EXPECT_TRUE(leased.has_task());
    return std::chrono::steady_clock::now() - start;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  SubmitOrDie(ts, SmallSpec(1, 1, v1::SWEEP_INDIVIDUAL));
  auto waited = poll.get();
  EXPECT_GE(waited, std::chrono::milliseconds(250));
  EXPECT_LT(waited, std::chrono::seconds(3));
}

TEST(ApiTest, ShutdownDoesNotHangOnStreamsAndLongPolls) {
  TestServer ts;
  ASSERT_TRUE(ts.status.ok()) << ts.status;
  v1::JobSpec spec = SmallSpec(1, 1, v1::SWEEP_INDIVIDUAL);
  spec.set_device_kind(v1::DEVICE_KIND_CUDA);  // The CPU worker below gets nothing.
  v1::Job job = SubmitOrDie(ts, spec);
  auto watch = std::async(std::launch::async, [&] {
    v1::WatchJobRequest request;
    request.set_job_id(job.id());
    auto context = Ctx("", std::chrono::seconds(60));
    auto reader = ts.client->WatchJob(context.get(), request);
    v1::JobEvent event;
    int events = 0;
    while (reader->Read(&event)) ++events;
    EXPECT_EQ(events, 1);  // The snapshot.
    return reader->Finish().error_code();
  });
  v1::RegisterRequest cpu;
  cpu.set_device_kind(v1::DEVICE_KIND_CPU);
  v1::RegisterResponse reg;
  ASSERT_TRUE(ts.worker->Register(Ctx().get(), cpu, &reg).ok());
  auto poll = std::async(std::launch::async, [&] {
    v1::LeaseTaskRequest lease;
    lease.set_worker_id(reg.worker_id());
    lease.set_worker_secret(reg.worker_secret());
    lease.set_wait_ms(15000);
    v1::LeaseTaskResponse leased;
    grpc::Status status =
        ts.worker->LeaseTask(Ctx("", std::chrono::seconds(60)).get(), lease, &leased);
    return status.ok() && !leased.has_task();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto start = std::chrono::steady_clock::now();
  ts.server->Shutdown();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_TRUE(poll.get());
  EXPECT_EQ(watch.get(), grpc::StatusCode::UNAVAILABLE);
}

// grpc.health.v1.Health/Check with an empty request answers SERVING (field 1 = 1).
TEST(ApiTest, HealthAndReflection) {
  TestServer ts;
  ASSERT_TRUE(ts.status.ok()) << ts.status;
  grpc::GenericStub stub(ts.channel);
  grpc::ByteBuffer request, response;
  grpc::Slice empty("");
  request = grpc::ByteBuffer(&empty, 1);
  std::promise<grpc::Status> done;
  auto context = Ctx();
  stub.UnaryCall(context.get(), "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                 &response, [&](grpc::Status s) { done.set_value(s); });
  ASSERT_TRUE(done.get_future().get().ok());
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));

  // ServerReflectionInfo(list_services = "") lists our services (bidi stream).
  grpc::CompletionQueue cq;
  auto rctx = Ctx();
  auto call = stub.PrepareCall(rctx.get(),
                               "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                               &cq);
  void* tag = nullptr;
  bool ok = false;
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  grpc::Slice list(std::string("\x3a\x00", 2));
  call->Write(grpc::ByteBuffer(&list, 1), reinterpret_cast<void*>(2));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  grpc::ByteBuffer answer;
  call->Read(&answer, reinterpret_cast<void*>(3));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  call->WritesDone(reinterpret_cast<void*>(4));
  cq.Next(&tag, &ok);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  cq.Next(&tag, &ok);
  slices.clear();
  ASSERT_TRUE(answer.Dump(&slices).ok());
  bytes.clear();
  for (const grpc::Slice& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_THAT(bytes, HasSubstr("ablate.v1.AblationService"));
  EXPECT_THAT(bytes, HasSubstr("ablate.v1.WorkerService"));
}

}  // namespace
}  // namespace ablate::server
