// Store: submitting, reading, listing and cancelling jobs.
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <spdlog/spdlog.h>

#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "storage/ids.h"
#include "storage/schema.h"
#include "storage/model_family.h"
#include "storage/sha256.h"
#include "storage/store.h"
#include "storage/store_internal.h"

namespace ablate::storage {

namespace v1 = ::ablate::v1;

namespace {

constexpr size_t kMaxRequestIdBytes = 256;
constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 1000;
// Serialized bytes of one ListJobs page at most (far under any message limit).
constexpr size_t kMaxListBytes = size_t{1} << 20;

std::string SpecFingerprint(const v1::JobSpec& spec) {
  std::string bytes;
  google::protobuf::io::StringOutputStream stream(&bytes);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  spec.SerializeToCodedStream(&coded);
  coded.Trim();
  return Sha256Hex(bytes);
}

}  // namespace

absl::StatusOr<SubmitOutcome> Store::SubmitJob(const v1::SubmitJobRequest& request) {
  if (request.request_id().size() > kMaxRequestIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("request_id is longer than ", kMaxRequestIdBytes, " bytes"));
  }
  v1::JobSpec spec = request.spec();
  const std::string text = spec.dataset().text();
  spec.mutable_dataset()->clear_text();
  int64_t text_bytes = static_cast<int64_t>(text.size());
  if (!text.empty()) {
    ABLATE_ASSIGN_OR_RETURN(std::string sha, CheckInlineDataset(request.spec().dataset(),
                                                                options_.limits));
    spec.mutable_dataset()->set_sha256(sha);
  } else if (spec.dataset().sha256().empty()) {
    return absl::InvalidArgumentError(
        "spec.dataset.text is empty (send the text, or the sha256 of a stored dataset)");
  }

  std::lock_guard<std::mutex> lock(mu_);
  if (text.empty()) {
    if (!IsSha256Hex(spec.dataset().sha256())) {
      return absl::InvalidArgumentError("spec.dataset.sha256 is not 64 hex digits");
    }
    ABLATE_ASSIGN_OR_RETURN(Statement find,
                            db_->Prepare("SELECT bytes FROM datasets WHERE sha256 = ?"));
    find.Bind(1, LowerHex(spec.dataset().sha256()));
    ABLATE_ASSIGN_OR_RETURN(bool found, find.Step());
    if (!found) {
      return absl::InvalidArgumentError(
          absl::StrCat("spec.dataset.text is empty and no stored dataset has sha256 ",
                       spec.dataset().sha256()));
    }
    text_bytes = find.ColumnInt(0);
  }
  ABLATE_RETURN_IF_ERROR(NormalizeSpec(options_.limits, text_bytes, &spec));

  ABLATE_ASSIGN_OR_RETURN(std::unique_ptr<WriteTransaction> txn,
                          WriteTransaction::Begin(db_.get()));
  if (!request.request_id().empty()) {
    ABLATE_ASSIGN_OR_RETURN(std::optional<JobRow> existing,
                            FindByRequestIdLocked(request.request_id()));
    if (existing.has_value()) {
      if (SpecFingerprint(existing->spec) != SpecFingerprint(spec)) {
        return absl::AlreadyExistsError(absl::StrCat(
            "request_id \"", request.request_id(), "\" was used for ", JobName(existing->id),
            " with a different spec"));
      }
      ABLATE_ASSIGN_OR_RETURN(v1::Job job, BuildJobLocked(*existing));
      return SubmitOutcome{std::move(job), false};
    }
  }
  ABLATE_ASSIGN_OR_RETURN(int64_t pending,
                          db_->QueryInt("SELECT COUNT(*) FROM jobs WHERE state IN (1, 2)"));
  if (pending >= options_.max_pending_jobs) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "queue full: ", pending, " jobs queued or running (limit ", options_.max_pending_jobs,
        ")"));
  }
  ABLATE_ASSIGN_OR_RETURN(int64_t job_id, InsertJobLocked(request.request_id(), spec, text));
  ABLATE_RETURN_IF_ERROR(txn->Commit());
  ABLATE_ASSIGN_OR_RETURN(JobRow row, LoadJobLocked(job_id));
  ABLATE_ASSIGN_OR_RETURN(v1::Job job, BuildJobLocked(row));
  spdlog::info("{} submitted: {} masks in {} tasks, priority {}", job.id(),
               job.progress().masks_total(), job.progress().tasks_total(), spec.priority());
  Publish(Changes{{job_id}, true});
  return SubmitOutcome{std::move(job), true};
}

absl::StatusOr<std::optional<Store::JobRow>> Store::FindByRequestIdLocked(
    const std::string& request_id) {
  ABLATE_ASSIGN_OR_RETURN(Statement stmt,
                          db_->Prepare("SELECT id FROM jobs WHERE request_id = ?"));
  stmt.Bind(1, request_id);
  ABLATE_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) return std::optional<JobRow>();
  ABLATE_ASSIGN_OR_RETURN(JobRow row, LoadJobLocked(stmt.ColumnInt(0)));
  return std::optional<JobRow>(std::move(row));
}

absl::StatusOr<int64_t> Store::InsertJobLocked(const std::string& request_id,
                                               const v1::JobSpec& spec,
                                               const std::string& text) {
  const int64_t now = Now();
  if (!text.empty()) {
    ABLATE_ASSIGN_OR_RETURN(
        Statement ds, db_->Prepare("INSERT OR IGNORE INTO datasets (sha256, bytes, text, name,"
                                   " created_ms) VALUES (?, ?, ?, ?, ?)"));
    ds.BindAll(spec.dataset().sha256(), static_cast<int64_t>(text.size()));
    ds.BindBlob(3, text).Bind(4, spec.dataset().name()).Bind(5, now);
    ABLATE_RETURN_IF_ERROR(ds.Run());
  }
  ABLATE_ASSIGN_OR_RETURN(std::string json, SpecToJson(spec));
  ABLATE_ASSIGN_OR_RETURN(
      Statement job,
      db_->Prepare("INSERT INTO jobs (request_id, name, spec_json, spec_sha256, dataset_sha256,"
                   " model_path, model_sha256, n_layer, n_head, n_chunks, seq_len, method, sweep,"
                   " dtype, device_kind, masks_per_task, max_attempts, priority, state,"
                   " created_ms, block_tokens) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"));
  if (request_id.empty()) {
    job.BindNull(1);
  } else {
    job.Bind(1, request_id);
  }
  job.Bind(2, spec.name()).Bind(3, json).Bind(4, SpecFingerprint(spec));
  job.Bind(5, spec.dataset().sha256()).Bind(6, spec.model().path());
  job.Bind(7, spec.model().sha256()).Bind(8, spec.model().shape().n_layer());
  job.Bind(9, spec.model().shape().n_head()).Bind(10, spec.n_chunks());
  job.Bind(11, spec.seq_len()).Bind(12, static_cast<int>(spec.method()));
  job.Bind(13, static_cast<int>(spec.sweep())).Bind(14, static_cast<int>(spec.dtype()));
  job.Bind(15, static_cast<int>(spec.device_kind())).Bind(16, spec.masks_per_task());
  job.Bind(17, spec.max_attempts()).Bind(18, spec.priority());
  job.Bind(19, static_cast<int>(v1::JOB_STATE_QUEUED)).Bind(20, now);
  job.Bind(21, spec.block_tokens());
  ABLATE_RETURN_IF_ERROR(job.Run());
  const int64_t job_id = db_->LastInsertRowId();
  ABLATE_ASSIGN_OR_RETURN(Statement family,
                          db_->Prepare("UPDATE jobs SET model_family = ? WHERE id = ?"));
  family.BindAll(ModelFamily(spec.model().shape()), job_id);
  ABLATE_RETURN_IF_ERROR(family.Run());
  const v1::Phase first_phase =
      spec.sweep() == v1::SWEEP_CUMULATIVE ? v1::PHASE_CUMULATIVE : v1::PHASE_INDIVIDUAL;
  if (spec.sweep() == v1::SWEEP_CUMULATIVE) {
    ABLATE_ASSIGN_OR_RETURN(Statement order,
                            db_->Prepare("INSERT INTO job_order (job_id, position, layer, head)"
                                         " VALUES (?, ?, ?, ?)"));
    for (int k = 0; k < spec.cumulative_order_size(); ++k) {
      const v1::HeadRef& ref = spec.cumulative_order(k);
      order.BindAll(job_id, k + 1, ref.layer(), ref.head());
      ABLATE_RETURN_IF_ERROR(order.Run());
      order.Reset();
    }
  }
  if (spec.sweep() == v1::SWEEP_ATTRIBUTION) {  // one task: the attribution pass
    ABLATE_RETURN_IF_ERROR(InsertTasksLocked(job_id, v1::PHASE_ATTRIBUTION, 0, 0, 1));
    return job_id;
  }
  ABLATE_RETURN_IF_ERROR(InsertTasksLocked(job_id, first_phase, 0,
                                           static_cast<int>(MasksPerPhase(spec)) - 1,
                                           spec.masks_per_task()));
  return job_id;
}

absl::Status Store::InsertTasksLocked(int64_t job_id, v1::Phase phase, int first, int last,
                                      int per_task) {
  ABLATE_ASSIGN_OR_RETURN(
      Statement stmt, db_->Prepare("INSERT INTO tasks (job_id, phase, masks, n_masks, state,"
                                   " created_ms) VALUES (?, ?, ?, ?, 1, ?)"));
  const int64_t now = Now();
  for (const std::vector<int>& masks : SplitIntoTasks(first, last, per_task)) {
    stmt.BindAll(job_id, static_cast<int>(phase), JoinIndices(masks),
                 static_cast<int>(masks.size()), now);
    ABLATE_RETURN_IF_ERROR(stmt.Run());
    stmt.Reset();
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Job> Store::GetJob(absl::string_view job_id) {
  ABLATE_ASSIGN_OR_RETURN(int64_t id, ParseJobId(job_id));
  std::lock_guard<std::mutex> lock(mu_);
  ABLATE_ASSIGN_OR_RETURN(JobRow row, LoadJobLocked(id));
  return BuildJobLocked(row);
}

absl::StatusOr<v1::ListJobsResponse> Store::ListJobs(const v1::ListJobsRequest& request) {
  if (!v1::JobState_IsValid(request.state())) {
    return absl::InvalidArgumentError(absl::StrCat("state ", request.state(), " is unknown"));
  }
  if (request.page_size() < 0 || request.page_size() > kMaxPageSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size must be in 0..", kMaxPageSize, ", got ", request.page_size()));
  }
  const int page_size = request.page_size() == 0 ? kDefaultPageSize : request.page_size();
  int64_t before = std::numeric_limits<int64_t>::max();
  if (!request.page_token().empty() &&
      (!absl::SimpleAtoi(request.page_token(), &before) || before <= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_token \"", request.page_token(), "\" is not a token from ListJobs"));
  }
  std::lock_guard<std::mutex> lock(mu_);
  ABLATE_ASSIGN_OR_RETURN(
      Statement stmt, db_->Prepare("SELECT id FROM jobs WHERE (?1 = 0 OR state = ?1) AND id < ?2"
                                   " ORDER BY id DESC LIMIT ?3"));
  stmt.BindAll(static_cast<int>(request.state()), before, page_size + 1);
  std::vector<int64_t> ids;
  while (true) {
    ABLATE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    ids.push_back(stmt.ColumnInt(0));
  }
  v1::ListJobsResponse response;
  size_t bytes = 0;
  for (size_t i = 0; i < ids.size() && static_cast<int>(i) < page_size; ++i) {
    ABLATE_ASSIGN_OR_RETURN(JobRow row, LoadJobLocked(ids[i]));
    ABLATE_ASSIGN_OR_RETURN(v1::Job job, BuildJobLocked(row));
    bytes += job.ByteSizeLong() + 8;
    // A page stays under kMaxListBytes whatever the jobs hold (one job always fits).
    if (response.jobs_size() > 0 && bytes > kMaxListBytes) {
      response.set_next_page_token(absl::StrCat(ids[i - 1]));
      return response;
    }
    *response.add_jobs() = std::move(job);
  }
  if (static_cast<int>(ids.size()) > page_size) {
    response.set_next_page_token(absl::StrCat(ids[page_size - 1]));
  }
  return response;
}

absl::StatusOr<v1::Job> Store::CancelJob(absl::string_view job_id) {
  ABLATE_ASSIGN_OR_RETURN(int64_t id, ParseJobId(job_id));
  std::lock_guard<std::mutex> lock(mu_);
  ABLATE_ASSIGN_OR_RETURN(std::unique_ptr<WriteTransaction> txn,
                          WriteTransaction::Begin(db_.get()));
  ABLATE_ASSIGN_OR_RETURN(JobRow row, LoadJobLocked(id));
  if (row.state == v1::JOB_STATE_SUCCEEDED || row.state == v1::JOB_STATE_FAILED) {
    return absl::FailedPreconditionError(absl::StrCat(
        JobName(id), " already finished (", v1::JobState_Name(row.state), ")"));
  }
  if (row.state != v1::JOB_STATE_CANCELLED) {
    ABLATE_RETURN_IF_ERROR(SetJobStateLocked(id, v1::JOB_STATE_CANCELLED, "cancelled"));
    ABLATE_RETURN_IF_ERROR(txn->Commit());
    spdlog::info("{} cancelled", JobName(id));
    Publish(Changes{{id}, false});
  }
  ABLATE_ASSIGN_OR_RETURN(JobRow updated, LoadJobLocked(id));
  return BuildJobLocked(updated);
}

}  // namespace ablate::storage
