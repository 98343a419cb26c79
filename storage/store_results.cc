// Store: accepting results (complete / fail), phase completion and the derived cumulative
// phase, and reading a phase's results back.
#include <spdlog/spdlog.h>

#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "proto/analysis/bootstrap.h"
#include "proto/analysis/cumulative_order.h"
#include "storage/blocks.h"
#include "storage/ids.h"
#include "storage/schema.h"
#include "storage/store.h"
#include "storage/store_internal.h"

namespace ablate::storage {

namespace v1 = ::ablate::v1;

namespace {

// A result's block_nll is optional (workers older than blocks send none); when present it has
// one entry per block of the job's chunking and sums to nll_sum (relative tolerance 1e-6).
absl::Status CheckBlockResult(const v1::JobSpec& spec, const v1::MaskResult& r,
                              const std::string& field) {
  if (r.block_nll_size() == 0) return absl::OkStatus();
  analysis::MaskNll mask{r.nll_sum(), r.n_tokens(),
                         std::vector<double>(r.block_nll().begin(), r.block_nll().end())};
  const absl::Status s = analysis::CheckBlocks(JobBlockSizes(spec), mask);
  if (s.ok()) return s;
  return absl::InvalidArgumentError(absl::StrCat(field, ".", s.message(), " (block_tokens ",
                                                 BlockTokensOf(spec), ")"));
}

}  // namespace

absl::StatusOr<v1::CompleteTaskResponse> Store::CompleteTask(
    const v1::CompleteTaskRequest& request) {
  ABLATE_ASSIGN_OR_RETURN(TaskWrite w, BeginTaskWrite(request.worker_id(), request.task_id()));
  const int64_t worker_id = w.worker_id, task_id = w.task.id;
  TaskRow& task = w.task;
  Changes& changes = w.changes;
  std::unique_ptr<WriteTransaction>& txn = w.txn;
  v1::CompleteTaskResponse response;
  if (task.state == TaskState::kDone && task.lease_token == request.lease_token() &&
      task.worker_id == worker_id) {
    response.set_duplicate(true);  // Already accepted under this lease: change nothing.
    ABLATE_RETURN_IF_ERROR(txn->Commit());
    Publish(changes);
    return response;
  }
  ABLATE_ASSIGN_OR_RETURN(JobRow job, LoadJobLocked(task.job_id));
  if (!job.Active()) {
    return absl::FailedPreconditionError(absl::StrCat(
        JobName(job.id), " is ", v1::JobState_Name(job.state), ": result not accepted"));
  }
  ABLATE_ASSIGN_OR_RETURN(task, CheckLeaseLocked(task_id, worker_id, request.lease_token()));
  ABLATE_RETURN_IF_ERROR(CheckResultsLocked(task, job, request));
  ABLATE_RETURN_IF_ERROR(InsertResultsLocked(task, request));
  const int64_t now = Now();
  ABLATE_ASSIGN_OR_RETURN(
      Statement done, db_->Prepare("UPDATE tasks SET state = 3, finished_ms = ?, masks_done = ?"
                                   " WHERE id = ?"));
  done.BindAll(now, static_cast<int>(task.masks.size()), task.id);
  ABLATE_RETURN_IF_ERROR(done.Run());
  ABLATE_ASSIGN_OR_RETURN(
      Statement worker,
      db_->Prepare("UPDATE workers SET masks_done = masks_done + ?, busy_seconds ="
                   " busy_seconds + ?, last_seen_ms = ? WHERE id = ?"));
  worker.BindAll(static_cast<int64_t>(task.masks.size()),
                 std::max(0.0, request.meta().seconds()), now, worker_id);
  ABLATE_RETURN_IF_ERROR(worker.Run());
  ABLATE_RETURN_IF_ERROR(ClearBackoffLocked(worker_id, job.id));
  changes.jobs.push_back(job.id);
  ABLATE_RETURN_IF_ERROR(FinishPhaseIfDoneLocked(job, task.phase, &changes));
  ABLATE_RETURN_IF_ERROR(txn->Commit());
  spdlog::info("{} of {} completed by {} ({} masks)", TaskName(task.id), JobName(job.id),
               WorkerName(worker_id), task.masks.size());
  Publish(changes);
  return response;
}

absl::Status Store::CheckResultsLocked(const TaskRow& task, const JobRow& job,
                                       const v1::CompleteTaskRequest& request) {
  const v1::ResultMeta& meta = request.meta();
  if (meta.model_sha256() != job.spec.model().sha256()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "meta.model_sha256 \"", meta.model_sha256(), "\" is not the job's model ",
        job.spec.model().sha256()));
  }
  if (meta.dataset_sha256() != job.spec.dataset().sha256()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "meta.dataset_sha256 \"", meta.dataset_sha256(), "\" is not the job's dataset ",
        job.spec.dataset().sha256()));
  }
  if (request.results_size() != static_cast<int>(task.masks.size())) {
    return absl::InvalidArgumentError(absl::StrCat("results has ", request.results_size(),
                                                   " entries; the task has ",
                                                   task.masks.size(), " masks"));
  }
  const std::set<int> expected(task.masks.begin(), task.masks.end());
  std::set<int> seen;
  const int64_t tokens = int64_t{job.spec.n_chunks()} * (job.spec.seq_len() - 1);
  for (int i = 0; i < request.results_size(); ++i) {
    const v1::MaskResult& r = request.results(i);
    const std::string field = absl::StrCat("results[", i, "]");
    if (r.phase() != task.phase || !expected.count(r.index()) || !seen.insert(r.index()).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, " (phase ", r.phase(), ", index ", r.index(), ") is not a mask of ",
          TaskName(task.id), " or appears twice"));
    }
    if (!std::isfinite(r.nll_sum()) || r.nll_sum() < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".nll_sum must be finite and >= 0, got ", r.nll_sum()));
    }
    if (r.n_tokens() != tokens) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".n_tokens is ", r.n_tokens(), "; n_chunks * (seq_len - 1) = ", tokens));
    }
    ABLATE_RETURN_IF_ERROR(CheckBlockResult(job.spec, r, field));
    ABLATE_RETURN_IF_ERROR(CheckHeadEstimates(job.spec, task.phase, r, field));
  }
  return absl::OkStatus();
}

absl::Status Store::InsertResultsLocked(const TaskRow& task,
                                        const v1::CompleteTaskRequest& request) {
  ABLATE_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("INSERT INTO results (job_id, phase, mask_index, nll_sum, n_tokens, ppl,"
                   " task_id, lease_token, worker_id, device, dtype, model_sha256,"
                   " dataset_sha256, software_version, tokens_scored, seconds, created_ms,"
                   " block_nll) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"));
  const v1::ResultMeta& meta = request.meta();
  const int64_t now = Now();
  for (const v1::MaskResult& r : request.results()) {
    ABLATE_ASSIGN_OR_RETURN(double ppl, analysis::Perplexity(r.nll_sum(), r.n_tokens()));
    stmt.BindAll(task.job_id, static_cast<int>(r.phase()), r.index(), r.nll_sum(), r.n_tokens(),
                 ppl, task.id, task.lease_token, task.worker_id, meta.device(),
                 static_cast<int>(meta.dtype()), meta.model_sha256(), meta.dataset_sha256(),
                 meta.software_version(), meta.tokens_scored(), meta.seconds(), now);
    if (r.block_nll_size() > 0) {
      stmt.BindBlob(18, EncodeBlocks(r.block_nll()));
    } else {
      stmt.BindNull(18);
    }
    ABLATE_RETURN_IF_ERROR(stmt.Run());
    stmt.Reset();
    if (r.head_estimates_size() > 0) {
      ABLATE_RETURN_IF_ERROR(InsertEstimatesLocked(task.job_id, r));
    }
  }
  return absl::OkStatus();
}

absl::Status Store::FinishPhaseIfDoneLocked(const JobRow& job, v1::Phase phase,
                                            Changes* changes) {
  ABLATE_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("SELECT COUNT(*) FROM tasks WHERE job_id = ? AND phase = ? AND state != 3"));
  stmt.BindAll(job.id, static_cast<int>(phase));
  ABLATE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row || stmt.ColumnInt(0) > 0) return absl::OkStatus();
  if (phase == v1::PHASE_INDIVIDUAL && job.spec.sweep() == v1::SWEEP_FULL) {
    return DeriveCumulativeLocked(job, changes);
  }
  if (phase == v1::PHASE_ATTRIBUTION && job.spec.verify_top_k() > 0) {
    return DeriveVerifyLocked(job, changes);
  }
  spdlog::info("{} succeeded", JobName(job.id));
  return SetJobStateLocked(job.id, v1::JOB_STATE_SUCCEEDED, "");
}

absl::Status Store::DeriveCumulativeLocked(const JobRow& job, Changes* changes) {
  const int n_layer = job.spec.model().shape().n_layer();
  const int n_head = job.spec.model().shape().n_head();
  const int64_t per_phase = MasksPerPhase(job.spec);
  ABLATE_ASSIGN_OR_RETURN(std::vector<analysis::MaskNll> masks,
                          LoadMasksLocked(job.id, v1::PHASE_INDIVIDUAL, per_phase));
  absl::StatusOr<std::vector<analysis::HeadResult>> table = analysis::BuildHeadTable(
      masks[0], absl::MakeConstSpan(masks).subspan(1), n_layer, n_head);
  std::vector<double> deltas;
  if (table.ok()) {
    for (const analysis::HeadResult& head : *table) deltas.push_back(head.delta);
  }
  absl::StatusOr<std::vector<int>> order =
      table.ok() ? analysis::CumulativeOrder(deltas, n_layer, n_head) : table.status();
  if (!order.ok()) {
    return FailJobLocked(job.id, absl::StrCat("cannot derive the cumulative order: ",
                                              order.status().message()));
  }
  ABLATE_ASSIGN_OR_RETURN(Statement insert,
                          db_->Prepare("INSERT INTO job_order (job_id, position, layer, head)"
                                       " VALUES (?, ?, ?, ?)"));
  for (size_t k = 0; k < order->size(); ++k) {
    insert.BindAll(job.id, static_cast<int64_t>(k + 1), (*order)[k] / n_head,
                   (*order)[k] % n_head);
    ABLATE_RETURN_IF_ERROR(insert.Run());
    insert.Reset();
  }
  // k = 0 removes nothing: it is the baseline, already measured.
  ABLATE_ASSIGN_OR_RETURN(
      Statement copy,
      db_->Prepare("INSERT INTO results SELECT job_id, 2, 0, nll_sum, n_tokens, ppl, NULL,"
                   " lease_token, worker_id, device, dtype, model_sha256, dataset_sha256,"
                   " software_version, tokens_scored, 0, created_ms, block_nll FROM results"
                   " WHERE job_id = ? AND phase = 1 AND mask_index = 0"));
  copy.Bind(1, job.id);
  ABLATE_RETURN_IF_ERROR(copy.Run());
  ABLATE_RETURN_IF_ERROR(InsertTasksLocked(job.id, v1::PHASE_CUMULATIVE, 1,
                                           static_cast<int>(per_phase) - 1,
                                           job.spec.masks_per_task()));
  spdlog::info("{}: individual phase done; cumulative order derived, phase enqueued",
               JobName(job.id));
  changes->tasks_available = true;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<analysis::MaskNll>> Store::LoadMasksLocked(int64_t job_id,
                                                                       v1::Phase phase,
                                                                       int64_t expected) {
  ABLATE_ASSIGN_OR_RETURN(
      Statement stmt, db_->Prepare("SELECT mask_index, nll_sum, n_tokens, block_nll FROM results"
                                   " WHERE job_id = ? AND phase = ? ORDER BY mask_index"));
  stmt.BindAll(job_id, static_cast<int>(phase));
  std::vector<analysis::MaskNll> masks;
  while (true) {
    ABLATE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    if (stmt.ColumnInt(0) != static_cast<int64_t>(masks.size())) break;  // A gap.
    analysis::MaskNll mask{stmt.ColumnDouble(1), stmt.ColumnInt(2), {}};
    if (!stmt.ColumnIsNull(3)) {
      ABLATE_ASSIGN_OR_RETURN(mask.block_nll, DecodeBlocks(stmt.ColumnText(3)));
    }
    masks.push_back(std::move(mask));
  }
  if (static_cast<int64_t>(masks.size()) < expected) {
    ABLATE_ASSIGN_OR_RETURN(
        Statement count,
        db_->Prepare("SELECT COUNT(*) FROM results WHERE job_id = ? AND phase = ?"));
    count.BindAll(job_id, static_cast<int>(phase));
    ABLATE_ASSIGN_OR_RETURN(bool ok, count.Step());
    return absl::FailedPreconditionError(absl::StrCat(
        JobName(job_id), ": the ",
        phase == v1::PHASE_INDIVIDUAL   ? "individual"
        : phase == v1::PHASE_CUMULATIVE ? "cumulative"
                                        : "attribution",
        " phase is not complete (", ok ? count.ColumnInt(0) : 0, " of ", expected,
        " masks stored)"));
  }
  return masks;
}

absl::StatusOr<std::vector<int>> Store::LoadOrderLocked(int64_t job_id) {
  ABLATE_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("SELECT o.layer * j.n_head + o.head FROM job_order o JOIN jobs j"
                   " ON j.id = o.job_id WHERE o.job_id = ? ORDER BY o.position"));
  stmt.Bind(1, job_id);
  std::vector<int> order;
  while (true) {
    ABLATE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    order.push_back(static_cast<int>(stmt.ColumnInt(0)));
  }
  return order;
}

absl::StatusOr<PhaseData> Store::LoadPhase(absl::string_view job_name, v1::Phase phase) {
  ABLATE_ASSIGN_OR_RETURN(int64_t job_id, ParseJobId(job_name));
  std::lock_guard<std::mutex> lock(mu_);
  ABLATE_ASSIGN_OR_RETURN(JobRow job, LoadJobLocked(job_id));
  const v1::Sweep sweep = job.spec.sweep();
  const bool has_phase =
      sweep == v1::SWEEP_FULL ||
      (phase == v1::PHASE_INDIVIDUAL ? sweep == v1::SWEEP_INDIVIDUAL
                                     : sweep == v1::SWEEP_CUMULATIVE);
  if (!has_phase) {
    return absl::FailedPreconditionError(absl::StrCat(
        JobName(job_id), " (", v1::Sweep_Name(sweep), ") has no ",
        phase == v1::PHASE_INDIVIDUAL ? "individual" : "cumulative", " phase"));
  }
  PhaseData data;
  data.spec = job.spec;
  ABLATE_ASSIGN_OR_RETURN(data.masks, LoadMasksLocked(job_id, phase, MasksPerPhase(job.spec)));
  if (phase == v1::PHASE_CUMULATIVE) {
    ABLATE_ASSIGN_OR_RETURN(data.order, LoadOrderLocked(job_id));
  }
  return data;
}

}  // namespace ablate::storage
