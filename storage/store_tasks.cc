// Store: the lease protocol (lease, heartbeat, complete, fail) and lease expiry.
#include <spdlog/spdlog.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "storage/ids.h"
#include "storage/schema.h"
#include "storage/secrets.h"
#include "storage/store.h"
#include "storage/store_internal.h"

namespace ablate::storage {

namespace v1 = ::ablate::v1;

namespace {

// workers.last_seen_ms is refreshed by a poll at most this often (an idle poll that finds
// nothing to do then needs no write transaction).
constexpr int64_t kLastSeenResolutionMs = 1000;

// The newest lines of a task's error log that fit kMaxTaskErrorsBytes (older attempts are
// dropped first, so the log cannot grow without bound over attempts).
std::string KeepLatestErrors(const std::string& errors) {
  if (errors.size() <= kMaxTaskErrorsBytes) return errors;
  size_t start = errors.size() - kMaxTaskErrorsBytes;
  size_t line = errors.find('\n', start);
  start = line == std::string::npos ? start : line + 1;
  return absl::StrCat("(earlier attempts cut)\n", errors.substr(start));
}

}  // namespace

absl::StatusOr<Store::TaskRow> Store::LoadTaskLocked(int64_t task_id) {
  ABLATE_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("SELECT id, job_id, phase, masks, state, attempts, COALESCE(worker_id, 0),"
                   " lease_token, lease_expires_ms, errors FROM tasks WHERE id = ?"));
  stmt.Bind(1, task_id);
  ABLATE_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) return absl::NotFoundError(absl::StrCat("task_id: no task ", TaskName(task_id)));
  TaskRow row;
  row.id = stmt.ColumnInt(0);
  row.job_id = stmt.ColumnInt(1);
  row.phase = static_cast<v1::Phase>(stmt.ColumnInt(2));
  ABLATE_ASSIGN_OR_RETURN(row.masks, ParseIndices(stmt.ColumnText(3)));
  row.state = static_cast<TaskState>(stmt.ColumnInt(4));
  row.attempts = static_cast<int>(stmt.ColumnInt(5));
  row.worker_id = stmt.ColumnInt(6);
  row.lease_token = stmt.ColumnInt(7);
  row.lease_expires_ms = stmt.ColumnInt(8);
  row.errors = stmt.ColumnText(9);
  return row;
}

absl::StatusOr<Store::TaskRow> Store::CheckLeaseLocked(int64_t task_id, int64_t worker_id,
                                                       int64_t token) {
  ABLATE_ASSIGN_OR_RETURN(TaskRow task, LoadTaskLocked(task_id));
  if (task.state != TaskState::kLeased || task.lease_token != token ||
      task.worker_id != worker_id) {
    return absl::FailedPreconditionError(absl::StrCat(
        "stale lease: ", TaskName(task_id), " is not leased to ", WorkerName(worker_id),
        " with lease_token ", token, " (the lease expired or was handed to another worker)"));
  }
  return task;
}

absl::Status Store::ReturnTaskLocked(const TaskRow& task, absl::string_view error, bool count,
                                     Changes* changes) {
  ABLATE_ASSIGN_OR_RETURN(JobRow job, LoadJobLocked(task.job_id));
  std::string errors = task.errors;
  if (count) {
    absl::StrAppend(&errors, "attempt ", task.attempts, " on ", WorkerName(task.worker_id), ": ",
                    Truncate(absl::StrReplaceAll(error, {{"\n", " "}}), kMaxErrorBytes), "\n");
    errors = KeepLatestErrors(errors);
  }
  changes->jobs.push_back(task.job_id);
  if (count && task.attempts >= job.spec.max_attempts()) {
    ABLATE_ASSIGN_OR_RETURN(
        Statement stmt,
        db_->Prepare("UPDATE tasks SET state = 4, errors = ?, finished_ms = ? WHERE id = ?"));
    stmt.BindAll(errors, Now(), task.id);
    ABLATE_RETURN_IF_ERROR(stmt.Run());
    std::string summary = Truncate(absl::StrCat(TaskName(task.id), " failed ", task.attempts,
                                                " times: ",
                                                absl::StrReplaceAll(errors, {{"\n", "; "}})),
                                   kMaxTaskErrorsBytes);
    while (!summary.empty() && (summary.back() == ' ' || summary.back() == ';')) {
      summary.pop_back();
    }
    return FailJobLocked(task.job_id, summary);
  }
  ABLATE_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("UPDATE tasks SET state = 1, worker_id = NULL, lease_expires_ms = 0,"
                   " errors = ?, attempts = attempts - ? WHERE id = ?"));
  stmt.BindAll(errors, count ? 0 : 1, task.id);
  ABLATE_RETURN_IF_ERROR(stmt.Run());
  changes->tasks_available = true;
  return absl::OkStatus();
}

absl::StatusOr<int> Store::ReclaimLocked(Changes* changes) {
  ABLATE_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("SELECT id FROM tasks WHERE state = 2 AND lease_expires_ms <= ?"));
  stmt.Bind(1, Now());
  std::vector<int64_t> expired;
  while (true) {
    ABLATE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    expired.push_back(stmt.ColumnInt(0));
  }
  for (int64_t id : expired) {
    ABLATE_ASSIGN_OR_RETURN(TaskRow task, LoadTaskLocked(id));
    spdlog::warn("{} of {}: lease {} of {} expired", TaskName(id), JobName(task.job_id),
                 task.lease_token, WorkerName(task.worker_id));
    ABLATE_RETURN_IF_ERROR(ReturnTaskLocked(
        task, absl::StrCat("lease expired (no heartbeat for ", options_.lease_ttl_ms, " ms)"),
        /*count=*/true, changes));
  }
  return static_cast<int>(expired.size());
}

absl::StatusOr<ReclaimStats> Store::ReclaimExpiredLeases() {
  std::lock_guard<std::mutex> lock(mu_);
  ABLATE_ASSIGN_OR_RETURN(
      Statement count,
      db_->Prepare("SELECT COUNT(*) FROM tasks WHERE state = 2 AND lease_expires_ms <= ?"));
  count.Bind(1, Now());
  ABLATE_ASSIGN_OR_RETURN(bool counted, count.Step());
  if (!counted || count.ColumnInt(0) == 0) return ReclaimStats{};  // No write lock needed.
  ABLATE_ASSIGN_OR_RETURN(int64_t failed_before,
                          db_->QueryInt("SELECT COUNT(*) FROM jobs WHERE state = 4"));
  ABLATE_ASSIGN_OR_RETURN(std::unique_ptr<WriteTransaction> txn,
                          WriteTransaction::Begin(db_.get()));
  Changes changes;
  ABLATE_ASSIGN_OR_RETURN(int requeued, ReclaimLocked(&changes));
  ABLATE_ASSIGN_OR_RETURN(int64_t failed_after,
                          db_->QueryInt("SELECT COUNT(*) FROM jobs WHERE state = 4"));
  ABLATE_RETURN_IF_ERROR(txn->Commit());
  Publish(changes);
  return ReclaimStats{requeued, static_cast<int>(failed_after - failed_before)};
}

absl::StatusOr<std::optional<Store::TaskRow>> Store::PickTaskLocked(int64_t worker_id,
                                                                   int64_t now) {
  ABLATE_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("SELECT t.id FROM tasks t JOIN jobs j ON j.id = t.job_id"
                   " JOIN workers w ON w.id = ?1"
                   " WHERE t.state = 1 AND j.state IN (1, 2)"
                   "  AND (j.device_kind = 0 OR j.device_kind = w.device_kind)"
                   "  AND (w.dtypes = '' OR instr(w.dtypes, ',' || j.dtype || ',') > 0)"
                   "  AND instr(w.model_families, ',' || j.model_family || ',') > 0"
                   "  AND NOT EXISTS (SELECT 1 FROM worker_job_backoff b WHERE"
                   "   b.worker_id = ?1 AND b.job_id = t.job_id AND b.until_ms > ?2)"
                   " ORDER BY j.priority DESC, t.job_id, t.id LIMIT 1"));
  stmt.BindAll(worker_id, now);
  ABLATE_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) return std::optional<TaskRow>();
  ABLATE_ASSIGN_OR_RETURN(TaskRow task, LoadTaskLocked(stmt.ColumnInt(0)));
  return std::optional<TaskRow>(std::move(task));
}

absl::StatusOr<bool> Store::LeaseNeedsWriteLocked(int64_t worker_id, int64_t now) {
  ABLATE_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("SELECT last_seen_ms, EXISTS (SELECT 1 FROM tasks WHERE state = 2"
                   " AND lease_expires_ms <= ?2) FROM workers WHERE id = ?1"));
  stmt.BindAll(worker_id, now);
  ABLATE_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) {
    return absl::NotFoundError(absl::StrCat("worker_id: ", WorkerName(worker_id),
                                            " is not registered (call Register again)"));
  }
  if (now - stmt.ColumnInt(0) >= kLastSeenResolutionMs || stmt.ColumnInt(1) != 0) return true;
  ABLATE_ASSIGN_OR_RETURN(std::optional<TaskRow> task, PickTaskLocked(worker_id, now));
  return task.has_value();
}

absl::StatusOr<v1::LeaseTaskResponse> Store::LeaseTask(absl::string_view worker_name) {
  ABLATE_ASSIGN_OR_RETURN(int64_t worker_id, ParseWorkerId(worker_name));
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = Now();
  ABLATE_ASSIGN_OR_RETURN(bool needs_write, LeaseNeedsWriteLocked(worker_id, now));
  if (!needs_write) return v1::LeaseTaskResponse();  // Idle poll: no commit, no fsync.
  ABLATE_ASSIGN_OR_RETURN(std::unique_ptr<WriteTransaction> txn,
                          WriteTransaction::Begin(db_.get()));
  ABLATE_ASSIGN_OR_RETURN(Statement seen,
                          db_->Prepare("UPDATE workers SET last_seen_ms = ?1 WHERE id = ?2"));
  seen.BindAll(now, worker_id);
  ABLATE_RETURN_IF_ERROR(seen.Run());
  if (db_->Changes() == 0) {
    return absl::NotFoundError(absl::StrCat("worker_id: ", WorkerName(worker_id),
                                            " is not registered (call Register again)"));
  }
  Changes changes;
  ABLATE_RETURN_IF_ERROR(ReclaimLocked(&changes).status());
  ABLATE_ASSIGN_OR_RETURN(std::optional<TaskRow> task, PickTaskLocked(worker_id, now));
  v1::LeaseTaskResponse response;
  if (task.has_value()) {
    ABLATE_ASSIGN_OR_RETURN(int64_t token, NextLeaseTokenLocked());
    while (token == task->lease_token) token = RandomLeaseToken();  // Fencing needs a new one.
    ABLATE_ASSIGN_OR_RETURN(
        Statement lease,
        db_->Prepare("UPDATE tasks SET state = 2, worker_id = ?, lease_token = ?,"
                     " lease_expires_ms = ?, attempts = attempts + 1, leased_ms = ?,"
                     " masks_done = 0 WHERE id = ?"));
    lease.BindAll(worker_id, token, now + options_.lease_ttl_ms, now, task->id);
    ABLATE_RETURN_IF_ERROR(lease.Run());
    ABLATE_ASSIGN_OR_RETURN(JobRow job, LoadJobLocked(task->job_id));
    if (job.state == v1::JOB_STATE_QUEUED) {
      ABLATE_RETURN_IF_ERROR(SetJobStateLocked(job.id, v1::JOB_STATE_RUNNING, ""));
    }
    ABLATE_ASSIGN_OR_RETURN(*task, LoadTaskLocked(task->id));
    ABLATE_ASSIGN_OR_RETURN(*response.mutable_task(), BuildTaskLocked(*task, job));
    changes.jobs.push_back(job.id);
  }
  ABLATE_RETURN_IF_ERROR(txn->Commit());
  if (task.has_value()) {
    spdlog::info("{} of {} leased to {} (attempt {}, token {}, {} masks)", TaskName(task->id),
                 JobName(task->job_id), WorkerName(worker_id), task->attempts,
                 task->lease_token, task->masks.size());
  }
  Publish(changes);
  return response;
}

absl::StatusOr<v1::Task> Store::BuildTaskLocked(const TaskRow& task, const JobRow& job) {
  v1::Task out;
  out.set_task_id(TaskName(task.id));
  out.set_job_id(JobName(job.id));
  out.set_lease_token(task.lease_token);
  *out.mutable_model() = job.spec.model();
  out.set_dataset_sha256(job.spec.dataset().sha256());
  out.set_n_chunks(job.spec.n_chunks());
  out.set_seq_len(job.spec.seq_len());
  out.set_method(job.spec.method());
  out.set_dtype(job.spec.dtype());
  out.set_bos_per_chunk(job.spec.bos_per_chunk());
  out.set_block_tokens(BlockTokensOf(job.spec));
  out.set_attempt(task.attempts);
  out.set_lease_expires_unix_ms(task.lease_expires_ms);
  std::vector<int> order;
  if (task.phase == v1::PHASE_CUMULATIVE) {
    ABLATE_ASSIGN_OR_RETURN(order, LoadOrderLocked(job.id));
  }
  for (int index : task.masks) {
    v1::MaskSpec* mask = out.add_masks();
    mask->set_phase(task.phase);
    mask->set_index(index);
    for (int head : task.phase == v1::PHASE_CUMULATIVE ? CumulativeMaskHeads(order, index)
                                                       : IndividualMaskHeads(index)) {
      mask->add_heads(head);
    }
  }
  return out;
}

absl::StatusOr<Store::TaskWrite> Store::BeginTaskWrite(absl::string_view worker_id,
                                                       absl::string_view task_id) {
  TaskWrite w;
  ABLATE_ASSIGN_OR_RETURN(w.worker_id, ParseWorkerId(worker_id));
  ABLATE_ASSIGN_OR_RETURN(int64_t task, ParseTaskId(task_id));
  w.lock = std::unique_lock<std::mutex>(mu_);
  ABLATE_ASSIGN_OR_RETURN(w.txn, WriteTransaction::Begin(db_.get()));
  ABLATE_RETURN_IF_ERROR(ReclaimLocked(&w.changes).status());
  ABLATE_ASSIGN_OR_RETURN(w.task, LoadTaskLocked(task));
  return w;
}

absl::StatusOr<v1::HeartbeatResponse> Store::Heartbeat(const v1::HeartbeatRequest& request) {
  ABLATE_ASSIGN_OR_RETURN(TaskWrite w, BeginTaskWrite(request.worker_id(), request.task_id()));
  const int64_t worker_id = w.worker_id, task_id = w.task.id;
  const TaskRow& task = w.task;
  ABLATE_ASSIGN_OR_RETURN(JobRow job, LoadJobLocked(task.job_id));
  const int64_t now = Now();
  ABLATE_ASSIGN_OR_RETURN(Statement seen,
                          db_->Prepare("UPDATE workers SET last_seen_ms = ?1 WHERE id = ?2"));
  seen.BindAll(now, worker_id);
  ABLATE_RETURN_IF_ERROR(seen.Run());
  v1::HeartbeatResponse response;
  if (!job.Active()) {
    response.set_cancelled(true);
  } else if (task.state != TaskState::kLeased || task.lease_token != request.lease_token() ||
             task.worker_id != worker_id) {
    response.set_lease_lost(true);
  } else {
    ABLATE_ASSIGN_OR_RETURN(
        Statement extend,
        db_->Prepare("UPDATE tasks SET lease_expires_ms = ?, masks_done = ? WHERE id = ?"));
    extend.BindAll(now + options_.lease_ttl_ms, request.masks_done(), task_id);
    ABLATE_RETURN_IF_ERROR(extend.Run());
    response.set_lease_expires_unix_ms(now + options_.lease_ttl_ms);
  }
  ABLATE_RETURN_IF_ERROR(w.txn->Commit());
  Publish(w.changes);
  return response;
}

absl::Status Store::FailTask(const v1::FailTaskRequest& request) {
  ABLATE_ASSIGN_OR_RETURN(TaskWrite w, BeginTaskWrite(request.worker_id(), request.task_id()));
  const int64_t worker_id = w.worker_id, task_id = w.task.id;
  TaskRow& task = w.task;
  Changes& changes = w.changes;
  ABLATE_ASSIGN_OR_RETURN(JobRow job, LoadJobLocked(task.job_id));
  if (job.Active()) {
    ABLATE_ASSIGN_OR_RETURN(task, CheckLeaseLocked(task_id, worker_id, request.lease_token()));
    if (request.release()) {
      spdlog::info("{} of {} released by {}", TaskName(task.id), JobName(job.id),
                   WorkerName(worker_id));
      ABLATE_RETURN_IF_ERROR(ReturnTaskLocked(task, "", /*count=*/false, &changes));
    } else if (request.permanent()) {
      ABLATE_ASSIGN_OR_RETURN(
          Statement stmt,
          db_->Prepare("UPDATE tasks SET state = 4, errors = ?, finished_ms = ?"
                       " WHERE id = ?"));
      const std::string error = Truncate(request.error(), kMaxErrorBytes);
      stmt.BindAll(KeepLatestErrors(absl::StrCat(task.errors, "attempt ", task.attempts, " on ",
                                                 WorkerName(worker_id), " (permanent): ",
                                                 error, "\n")),
                   Now(), task.id);
      ABLATE_RETURN_IF_ERROR(stmt.Run());
      ABLATE_RETURN_IF_ERROR(FailJobLocked(
          job.id, absl::StrCat(TaskName(task.id), " failed permanently on ",
                               WorkerName(worker_id), ": ", error)));
      changes.jobs.push_back(job.id);
    } else {
      spdlog::warn("{} of {} failed on {} (attempt {}): {}", TaskName(task.id),
                   JobName(job.id), WorkerName(worker_id), task.attempts,
                   Truncate(request.error(), kMaxErrorBytes));
      ABLATE_RETURN_IF_ERROR(ReturnTaskLocked(task, request.error(), /*count=*/true, &changes));
      ABLATE_RETURN_IF_ERROR(BackOffLocked(worker_id, job.id));
    }
  }  // A failure reported for a finished or cancelled job changes nothing.
  ABLATE_RETURN_IF_ERROR(w.txn->Commit());
  Publish(changes);
  return absl::OkStatus();
}

}  // namespace ablate::storage
