// Store: opening, clock, notifications, job rows and the job state machine.
#include "storage/store.h"

#include <google/protobuf/util/json_util.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "storage/ids.h"
#include "storage/schema.h"
#include "storage/secrets.h"
#include "storage/store_internal.h"

namespace ablate::storage {

namespace v1 = ::ablate::v1;

absl::StatusOr<std::string> SpecToJson(const v1::JobSpec& spec) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(spec, &json, options);
  if (!status.ok()) return absl::InternalError(absl::StrCat("spec to JSON: ", status.ToString()));
  return json;
}

absl::StatusOr<v1::JobSpec> SpecFromJson(const std::string& json) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  v1::JobSpec spec;
  auto status = google::protobuf::util::JsonStringToMessage(json, &spec, options);
  if (!status.ok()) return absl::DataLossError(absl::StrCat("stored spec: ", status.ToString()));
  return spec;
}

namespace {

// Workers could not heartbeat while no server ran: give every live lease one more TTL from
// now, so a restart does not throw away the work in flight.
absl::Status ExtendLeasesAfterRestart(Database* db, const StoreOptions& options) {
  ABLATE_ASSIGN_OR_RETURN(std::unique_ptr<WriteTransaction> txn, WriteTransaction::Begin(db));
  ABLATE_ASSIGN_OR_RETURN(
      Statement stmt, db->Prepare("UPDATE tasks SET lease_expires_ms = max(lease_expires_ms, ?)"
                                  " WHERE state = 2"));
  const int64_t now = options.now_ms ? options.now_ms()
                                     : std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count();
  stmt.Bind(1, now + options.lease_ttl_ms);
  ABLATE_RETURN_IF_ERROR(stmt.Run());
  return txn->Commit();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& path,
                                                   StoreOptions options) {
  ABLATE_ASSIGN_OR_RETURN(std::unique_ptr<Database> db,
                          Database::Open(path, options.busy_timeout_ms));
  ABLATE_ASSIGN_OR_RETURN(std::string mode, db->QueryText("PRAGMA journal_mode = WAL"));
  if (mode != "wal") {
    return absl::FailedPreconditionError(
        absl::StrCat("sqlite: ", path, " cannot use WAL (journal_mode is ", mode, ")"));
  }
  ABLATE_RETURN_IF_ERROR(db->Exec(options.synchronous_full ? "PRAGMA synchronous = FULL"
                                                           : "PRAGMA synchronous = NORMAL"));
  ABLATE_RETURN_IF_ERROR(db->Exec("PRAGMA foreign_keys = ON"));
  ABLATE_RETURN_IF_ERROR(Migrate(db.get()));
  ABLATE_RETURN_IF_ERROR(ExtendLeasesAfterRestart(db.get(), options));
  if (options.heartbeat_interval_ms <= 0) {
    options.heartbeat_interval_ms = std::max<int64_t>(1, options.lease_ttl_ms / 4);
  }
  return std::unique_ptr<Store>(new Store(std::move(db), std::move(options)));
}

Store::Store(std::unique_ptr<Database> db, StoreOptions options)
    : options_(std::move(options)), db_(std::move(db)) {}

Store::~Store() { notifier_.Shutdown(); }

int64_t Store::Now() const {
  if (options_.now_ms) return options_.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void Store::Publish(const Changes& changes) {
  for (int64_t job : changes.jobs) notifier_.JobChanged(job);
  if (changes.tasks_available) notifier_.TasksAvailable();
}

absl::StatusOr<std::string> Store::IntegrityCheck() {
  std::lock_guard<std::mutex> lock(mu_);
  return db_->QueryText("PRAGMA integrity_check");
}

absl::StatusOr<Store::JobRow> Store::LoadJobLocked(int64_t job_id) {
  ABLATE_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("SELECT j.id, COALESCE(j.request_id, ''), j.spec_json, j.state, j.error, "
                   "j.created_ms, j.started_ms, j.finished_ms, d.bytes FROM jobs j "
                   "JOIN datasets d ON d.sha256 = j.dataset_sha256 WHERE j.id = ?"));
  stmt.Bind(1, job_id);
  ABLATE_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) return absl::NotFoundError(absl::StrCat("job_id: no job ", JobName(job_id)));
  JobRow row;
  row.id = stmt.ColumnInt(0);
  row.request_id = stmt.ColumnText(1);
  ABLATE_ASSIGN_OR_RETURN(row.spec, SpecFromJson(stmt.ColumnText(2)));
  row.state = static_cast<v1::JobState>(stmt.ColumnInt(3));
  row.error = stmt.ColumnText(4);
  row.created_ms = stmt.ColumnInt(5);
  row.started_ms = stmt.ColumnInt(6);
  row.finished_ms = stmt.ColumnInt(7);
  row.dataset_bytes = stmt.ColumnInt(8);
  return row;
}

absl::StatusOr<v1::Job> Store::BuildJobLocked(const JobRow& row) {
  v1::Job job;
  job.set_id(JobName(row.id));
  *job.mutable_spec() = row.spec;
  job.set_state(row.state);
  job.set_error(row.error);
  job.set_created_unix_ms(row.created_ms);
  job.set_started_unix_ms(row.started_ms);
  job.set_finished_unix_ms(row.finished_ms);
  job.set_dataset_bytes(row.dataset_bytes);
  job.set_request_id(row.request_id);
  ABLATE_RETURN_IF_ERROR(FillProgressLocked(row, &job));
  return job;
}

absl::Status Store::FillProgressLocked(const JobRow& row, v1::Job* job) {
  ABLATE_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare(
          "SELECT (SELECT COUNT(*) FROM results WHERE job_id = ?1),"
          " (SELECT COUNT(*) FROM tasks WHERE job_id = ?1 AND state = 3),"
          " (SELECT COUNT(*) FROM tasks WHERE job_id = ?1),"
          " (SELECT COUNT(*) FROM tasks WHERE job_id = ?1 AND state = 2),"
          " (SELECT COUNT(DISTINCT worker_id) FROM tasks WHERE job_id = ?1 AND state = 2),"
          " (SELECT COUNT(*) FROM job_order WHERE job_id = ?1),"
          " (SELECT nll_sum FROM results WHERE job_id = ?1 AND mask_index = 0"
          "    ORDER BY phase LIMIT 1),"
          " (SELECT n_tokens FROM results WHERE job_id = ?1 AND mask_index = 0"
          "    ORDER BY phase LIMIT 1)"));
  stmt.Bind(1, row.id);
  ABLATE_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) return absl::InternalError("progress query returned no row");
  v1::Progress* p = job->mutable_progress();
  p->set_masks_done(stmt.ColumnInt(0));
  p->set_masks_total(MasksTotal(row.spec));
  p->set_tasks_done(static_cast<int32_t>(stmt.ColumnInt(1)));
  int64_t tasks_total = stmt.ColumnInt(2);
  if (row.spec.sweep() == v1::SWEEP_FULL && stmt.ColumnInt(5) == 0) {
    // Cumulative tasks are counted before they exist: k = 1..L*H (k = 0 reuses the baseline).
    const int64_t per = row.spec.masks_per_task();
    tasks_total += (MasksPerPhase(row.spec) - 1 + per - 1) / per;
  }
  if (row.spec.sweep() == v1::SWEEP_ATTRIBUTION && row.spec.verify_top_k() > 0 &&
      tasks_total == 1) {
    // Verify tasks (baseline + top K) are counted before they exist.
    const int64_t per = row.spec.masks_per_task();
    tasks_total += (row.spec.verify_top_k() + 1 + per - 1) / per;
  }
  p->set_tasks_total(static_cast<int32_t>(tasks_total));
  p->set_tasks_running(static_cast<int32_t>(stmt.ColumnInt(3)));
  p->set_workers_busy(static_cast<int32_t>(stmt.ColumnInt(4)));
  const int64_t end_ms = row.finished_ms > 0 ? row.finished_ms : Now();
  if (row.started_ms > 0 && end_ms > row.started_ms) {
    p->set_masks_per_second(p->masks_done() * 1000.0 / (end_ms - row.started_ms));
  }
  if (!stmt.ColumnIsNull(6) && stmt.ColumnInt(7) > 0) {
    absl::StatusOr<double> ppl = analysis::Perplexity(stmt.ColumnDouble(6), stmt.ColumnInt(7));
    if (ppl.ok()) job->set_baseline_ppl(*ppl);
    job->set_n_tokens_scored(stmt.ColumnInt(7));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> Store::NextLeaseTokenLocked() {
  // Random per lease (issue 10): a worker token holder cannot guess another lease's token.
  // meta.next_lease_token is no longer used; LeaseTask never reuses a task's last token.
  return RandomLeaseToken();
}

absl::Status Store::SetJobStateLocked(int64_t job_id, v1::JobState state,
                                      absl::string_view error) {
  const bool final = state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_FAILED ||
                     state == v1::JOB_STATE_CANCELLED;
  ABLATE_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("UPDATE jobs SET state = ?1, error = ?2,"
                   " started_ms = CASE WHEN started_ms = 0 AND ?1 = 2 THEN ?3 ELSE started_ms END,"
                   " finished_ms = CASE WHEN ?4 THEN ?3 ELSE finished_ms END WHERE id = ?5"));
  stmt.BindAll(static_cast<int>(state), error, Now(), final ? 1 : 0, job_id);
  ABLATE_RETURN_IF_ERROR(stmt.Run());
  if (final) {
    // Unstarted and running tasks of a finished job are never handed out again.
    ABLATE_ASSIGN_OR_RETURN(
        Statement tasks,
        db_->Prepare("UPDATE tasks SET state = 5, finished_ms = ?1 "
                     "WHERE job_id = ?2 AND state IN (1, 2)"));
    tasks.BindAll(Now(), job_id);
    ABLATE_RETURN_IF_ERROR(tasks.Run());
  }
  return absl::OkStatus();
}

absl::Status Store::FailJobLocked(int64_t job_id, absl::string_view error) {
  spdlog::warn("{} failed: {}", JobName(job_id), std::string(error));
  return SetJobStateLocked(job_id, v1::JOB_STATE_FAILED, error);
}

}  // namespace ablate::storage
