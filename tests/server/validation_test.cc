// Bad input over gRPC: a table of malformed specs, each with its status code and the field
// its message must name; resource limits; unknown ids; queries on unfinished phases.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <iostream>

#include "storage/sha256.h"
#include "tests/server/server_test_util.h"

namespace ablate::server {
namespace {

namespace v1 = ::ablate::v1;
using ::ablate::testing::Ctx;
using ::ablate::testing::SmallSpec;
using ::ablate::testing::TestServer;
using ::testing::HasSubstr;

struct BadSpec {
  const char* name;
  std::function<void(v1::SubmitJobRequest*)> mutate;
  grpc::StatusCode code;
  const char* field;  // Must appear in the message.
};

void SetOrder(v1::JobSpec* spec, std::vector<std::pair<int, int>> heads) {
  spec->clear_cumulative_order();
  for (auto [layer, head] : heads) {
    v1::HeadRef* ref = spec->add_cumulative_order();
    ref->set_layer(layer);
    ref->set_head(head);
  }
}

const std::vector<BadSpec>& BadSpecs() {
  using R = v1::SubmitJobRequest;
  constexpr auto kInvalid = grpc::StatusCode::INVALID_ARGUMENT;
  static const std::vector<BadSpec> kTable = {
      {"no model path", [](R* r) { r->mutable_spec()->mutable_model()->clear_path(); },
       kInvalid, "spec.model.path"},
      {"no model digest", [](R* r) { r->mutable_spec()->mutable_model()->clear_sha256(); },
       kInvalid, "spec.model.sha256"},
      {"model digest not hex",
       [](R* r) { r->mutable_spec()->mutable_model()->set_sha256(std::string(64, 'z')); },
       kInvalid, "spec.model.sha256"},
      {"no n_layer",
       [](R* r) { r->mutable_spec()->mutable_model()->mutable_shape()->clear_n_layer(); },
       kInvalid, "spec.model.shape.n_layer"},
      {"no n_head",
       [](R* r) { r->mutable_spec()->mutable_model()->mutable_shape()->clear_n_head(); },
       kInvalid, "spec.model.shape.n_head"},
      {"no n_positions",
       [](R* r) { r->mutable_spec()->mutable_model()->mutable_shape()->clear_n_positions(); },
       kInvalid, "spec.model.shape.n_positions"},
      {"n_chunks 0", [](R* r) { r->mutable_spec()->set_n_chunks(0); }, kInvalid, "spec.n_chunks"},
      {"n_chunks negative", [](R* r) { r->mutable_spec()->set_n_chunks(-3); }, kInvalid,
       "spec.n_chunks"},
      {"seq_len 1", [](R* r) { r->mutable_spec()->set_seq_len(1); }, kInvalid, "spec.seq_len"},
      {"seq_len above context", [](R* r) { r->mutable_spec()->set_seq_len(65); }, kInvalid,
       "n_positions"},
      {"method unset", [](R* r) { r->mutable_spec()->clear_method(); }, kInvalid, "spec.method"},
      {"method unknown", [](R* r) { r->mutable_spec()->set_method(static_cast<v1::Method>(42)); },
       kInvalid, "spec.method"},
      {"sweep unset", [](R* r) { r->mutable_spec()->clear_sweep(); }, kInvalid, "spec.sweep"},
      {"sweep unknown", [](R* r) { r->mutable_spec()->set_sweep(static_cast<v1::Sweep>(9)); },
       kInvalid, "spec.sweep"},
      {"dtype unknown", [](R* r) { r->mutable_spec()->set_dtype(static_cast<v1::DType>(17)); },
       kInvalid, "spec.dtype"},
      {"device kind unknown",
       [](R* r) { r->mutable_spec()->set_device_kind(static_cast<v1::DeviceKind>(8)); },
       kInvalid, "spec.device_kind"},
      {"masks_per_task negative", [](R* r) { r->mutable_spec()->set_masks_per_task(-1); },
       kInvalid, "spec.masks_per_task"},
      {"masks_per_task too large", [](R* r) { r->mutable_spec()->set_masks_per_task(5000); },
       kInvalid, "spec.masks_per_task"},
      {"max_attempts too large", [](R* r) { r->mutable_spec()->set_max_attempts(1000); },
       kInvalid, "spec.max_attempts"},
      {"text too short for the tokens",
       [](R* r) {
         r->mutable_spec()->set_n_chunks(5);
         r->mutable_spec()->set_seq_len(16);
       },
       kInvalid, "spec.dataset.text"},
      {"no text", [](R* r) { r->mutable_spec()->mutable_dataset()->clear_text(); }, kInvalid,
       "spec.dataset.text"},
      {"unknown stored dataset",
       [](R* r) {
         r->mutable_spec()->mutable_dataset()->clear_text();
         r->mutable_spec()->mutable_dataset()->set_sha256(std::string(64, 'b'));
       },
       kInvalid, "spec.dataset.text"},
      {"dataset digest not hex",
       [](R* r) { r->mutable_spec()->mutable_dataset()->set_sha256("abc"); }, kInvalid,
       "spec.dataset.sha256"},
      {"dataset digest mismatch",
       [](R* r) { r->mutable_spec()->mutable_dataset()->set_sha256(std::string(64, 'c')); },
       kInvalid, "spec.dataset.sha256"},
      {"cumulative without order",
       [](R* r) {
         r->mutable_spec()->set_sweep(v1::SWEEP_CUMULATIVE);
         r->mutable_spec()->clear_cumulative_order();
       },
       kInvalid, "spec.cumulative_order"},
      {"order repeats a head",
       [](R* r) {
         r->mutable_spec()->set_sweep(v1::SWEEP_CUMULATIVE);
         SetOrder(r->mutable_spec(), {{0, 0}, {0, 1}, {1, 0}, {0, 1}});
       },
       kInvalid, "spec.cumulative_order"},
      {"order names a head outside the model",
       [](R* r) {
         r->mutable_spec()->set_sweep(v1::SWEEP_CUMULATIVE);
         SetOrder(r->mutable_spec(), {{0, 0}, {0, 1}, {1, 0}, {2, 1}});
       },
       kInvalid, "spec.cumulative_order"},
      {"order on an individual sweep",
       [](R* r) { SetOrder(r->mutable_spec(), {{0, 0}, {0, 1}, {1, 0}, {1, 1}}); }, kInvalid,
       "spec.cumulative_order"},
      {"request_id too long", [](R* r) { r->set_request_id(std::string(300, 'r')); }, kInvalid,
       "request_id"},
      {"model artifact not uploaded",
       [](R* r) { r->mutable_spec()->mutable_model()->set_artifact_digest(std::string(64, 'd')); },
       grpc::StatusCode::FAILED_PRECONDITION, "spec.model.artifact_digest"},
      {"dataset over the limit",
       [](R* r) { r->mutable_spec()->mutable_dataset()->set_text(std::string(5000, 'y')); },
       grpc::StatusCode::RESOURCE_EXHAUSTED, "spec.dataset.text"},
  };
  return kTable;
}

TEST(ValidationTest, MalformedSpecsGetCodeAndField) {
  server::ServerOptions options;
  options.store.limits.max_dataset_bytes = 4096;
  TestServer ts(options);
  ASSERT_TRUE(ts.status.ok()) << ts.status;
  for (const BadSpec& bad : BadSpecs()) {
    v1::SubmitJobRequest request;
    *request.mutable_spec() = SmallSpec(2, 2, v1::SWEEP_INDIVIDUAL);
    bad.mutate(&request);
    v1::Job job;
    grpc::Status status = ts.client->SubmitJob(Ctx().get(), request, &job);
    std::cout << "  " << bad.name << " -> " << status.error_code() << " "
              << status.error_message() << "\n";
    EXPECT_EQ(status.error_code(), bad.code) << bad.name << ": " << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(bad.field)) << bad.name;
  }
  v1::ListJobsResponse list;
  ASSERT_TRUE(ts.client->ListJobs(Ctx().get(), v1::ListJobsRequest(), &list).ok());
  EXPECT_EQ(list.jobs_size(), 0);  // Nothing malformed was stored.
}

TEST(ValidationTest, StoredDatasetCanBeReusedByDigest) {
  TestServer ts;
  ASSERT_TRUE(ts.status.ok()) << ts.status;
  v1::SubmitJobRequest request;
  *request.mutable_spec() = SmallSpec(1, 1, v1::SWEEP_INDIVIDUAL);
  v1::Job first;
  ASSERT_TRUE(ts.client->SubmitJob(Ctx().get(), request, &first).ok());
  request.mutable_spec()->mutable_dataset()->clear_text();
  request.mutable_spec()->mutable_dataset()->set_sha256(first.spec().dataset().sha256());
  v1::Job second;
  grpc::Status status = ts.client->SubmitJob(Ctx().get(), request, &second);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(second.dataset_bytes(), 64);
  EXPECT_EQ(second.spec().dataset().sha256(), storage::Sha256Hex(std::string(64, 'x')));
}

TEST(ValidationTest, QueueFullAndMessageTooLarge) {
  server::ServerOptions options;
  options.store.max_pending_jobs = 2;
  options.transport.max_receive_message_bytes = 16 * 1024;
  TestServer ts(options);
  ASSERT_TRUE(ts.status.ok()) << ts.status;
  v1::SubmitJobRequest request;
  *request.mutable_spec() = SmallSpec(1, 1, v1::SWEEP_INDIVIDUAL);
  v1::Job job;
  ASSERT_TRUE(ts.client->SubmitJob(Ctx().get(), request, &job).ok());
  request.set_request_id("second");
  ASSERT_TRUE(ts.client->SubmitJob(Ctx().get(), request, &job).ok());
  request.set_request_id("third");
  grpc::Status full = ts.client->SubmitJob(Ctx().get(), request, &job);
  EXPECT_EQ(full.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(full.error_message(), HasSubstr("queue full"));
  request.set_request_id("second");  // A retry of an accepted submit still answers.
  EXPECT_TRUE(ts.client->SubmitJob(Ctx().get(), request, &job).ok());

  request.mutable_spec()->mutable_dataset()->set_text(std::string(64 * 1024, 'z'));
  EXPECT_EQ(ts.client->SubmitJob(Ctx().get(), request, &job).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST(ValidationTest, UnknownIdsAndUnfinishedPhases) {
  TestServer ts;
  ASSERT_TRUE(ts.status.ok()) << ts.status;
  v1::GetJobRequest get;
  v1::Job job;
  get.set_job_id("job-42");
  EXPECT_EQ(ts.client->GetJob(Ctx().get(), get, &job).error_code(),
            grpc::StatusCode::NOT_FOUND);
  get.set_job_id("banana");
  grpc::Status malformed = ts.client->GetJob(Ctx().get(), get, &job);
  EXPECT_EQ(malformed.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(malformed.error_message(), HasSubstr("job_id"));
  v1::CancelJobRequest cancel;
  cancel.set_job_id("job-42");
  EXPECT_EQ(ts.client->CancelJob(Ctx().get(), cancel, &job).error_code(),
            grpc::StatusCode::NOT_FOUND);
  v1::JobQuery query;
  query.set_job_id("job-42");
  v1::HeadTable table;
  EXPECT_EQ(ts.client->GetHeadTable(Ctx().get(), query, &table).error_code(),
            grpc::StatusCode::NOT_FOUND);

  v1::SubmitJobRequest request;
  *request.mutable_spec() = SmallSpec(1, 2, v1::SWEEP_INDIVIDUAL);
  ASSERT_TRUE(ts.client->SubmitJob(Ctx().get(), request, &job).ok());
  query.set_job_id(job.id());
  grpc::Status unfinished = ts.client->GetHeadTable(Ctx().get(), query, &table);
  EXPECT_EQ(unfinished.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(unfinished.error_message(), HasSubstr("not complete"));
  v1::CumulativeCurve curve;
  grpc::Status no_phase = ts.client->GetCumulativeCurve(Ctx().get(), query, &curve);
  EXPECT_EQ(no_phase.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(no_phase.error_message(), HasSubstr("no cumulative phase"));
  v1::ListJobsRequest list;
  list.set_page_token("x");
  v1::ListJobsResponse jobs;
  EXPECT_EQ(ts.client->ListJobs(Ctx().get(), list, &jobs).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::LeaseTaskRequest lease;
  lease.set_worker_id("worker-5");
  v1::LeaseTaskResponse leased;
  EXPECT_EQ(ts.worker->LeaseTask(Ctx().get(), lease, &leased).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST(ValidationTest, ListJobsPagesAndFilters) {
  TestServer ts;
  ASSERT_TRUE(ts.status.ok()) << ts.status;
  for (int i = 0; i < 5; ++i) {
    v1::SubmitJobRequest request;
    *request.mutable_spec() = SmallSpec(1, 1, v1::SWEEP_INDIVIDUAL);
    v1::Job job;
    ASSERT_TRUE(ts.client->SubmitJob(Ctx().get(), request, &job).ok());
    if (i == 2) {
      v1::CancelJobRequest cancel;
      cancel.set_job_id(job.id());
      ASSERT_TRUE(ts.client->CancelJob(Ctx().get(), cancel, &job).ok());
    }
  }
  v1::ListJobsRequest list;
  list.set_page_size(2);
  std::vector<std::string> ids;
  do {
    v1::ListJobsResponse page;
    ASSERT_TRUE(ts.client->ListJobs(Ctx().get(), list, &page).ok());
    for (const v1::Job& job : page.jobs()) ids.push_back(job.id());
    list.set_page_token(page.next_page_token());
  } while (!list.page_token().empty());
  EXPECT_THAT(ids, ::testing::ElementsAre("job-5", "job-4", "job-3", "job-2", "job-1"));
  list.Clear();
  list.set_state(v1::JOB_STATE_CANCELLED);
  v1::ListJobsResponse cancelled;
  ASSERT_TRUE(ts.client->ListJobs(Ctx().get(), list, &cancelled).ok());
  ASSERT_EQ(cancelled.jobs_size(), 1);
  EXPECT_EQ(cancelled.jobs(0).id(), "job-3");
}

}  // namespace
}  // namespace ablate::server
