// Store: deleting finished jobs (DeleteJob, retention) and what they leave unreferenced
// (issue 10: nothing was ever deleted, on the same volume as the database).
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "storage/ids.h"
#include "storage/store.h"
#include "storage/store_internal.h"

namespace ablate::storage {

namespace v1 = ::ablate::v1;

absl::StatusOr<bool> Store::DeleteJobLocked(int64_t job_id) {
  ABLATE_ASSIGN_OR_RETURN(JobRow row, LoadJobLocked(job_id));
  if (row.Active()) {
    return absl::FailedPreconditionError(absl::StrCat(
        JobName(job_id), " is ", v1::JobState_Name(row.state), ": cancel it before deleting"));
  }
  // Every table whose job_id refers to jobs (also those later migrations add), so a new
  // table cannot keep rows of a deleted job, nor make the delete fail on its foreign key.
  ABLATE_ASSIGN_OR_RETURN(
      Statement tables,
      db_->Prepare("SELECT m.name FROM sqlite_master m, pragma_foreign_key_list(m.name) f"
                   " WHERE m.type = 'table' AND f.\"table\" = 'jobs' AND f.\"from\" = 'job_id'"));
  std::vector<std::string> children;
  while (true) {
    ABLATE_ASSIGN_OR_RETURN(bool found, tables.Step());
    if (!found) break;
    children.push_back(tables.ColumnText(0));
  }
  for (const std::string& table : children) {
    ABLATE_RETURN_IF_ERROR(
        db_->Exec(absl::StrCat("DELETE FROM \"", table, "\" WHERE job_id = ", job_id)));
  }
  ABLATE_RETURN_IF_ERROR(db_->Exec(absl::StrCat("DELETE FROM jobs WHERE id = ", job_id)));
  ABLATE_ASSIGN_OR_RETURN(
      Statement dataset,
      db_->Prepare("DELETE FROM datasets WHERE sha256 = ?1 AND NOT EXISTS"
                   " (SELECT 1 FROM jobs WHERE dataset_sha256 = ?1)"));
  dataset.Bind(1, row.spec.dataset().sha256());
  ABLATE_RETURN_IF_ERROR(dataset.Run());
  return db_->Changes() > 0;
}

absl::StatusOr<v1::DeleteJobResponse> Store::DeleteJob(absl::string_view job_id) {
  ABLATE_ASSIGN_OR_RETURN(int64_t id, ParseJobId(job_id));
  std::lock_guard<std::mutex> lock(mu_);
  ABLATE_ASSIGN_OR_RETURN(std::unique_ptr<WriteTransaction> txn,
                          WriteTransaction::Begin(db_.get()));
  ABLATE_ASSIGN_OR_RETURN(bool dataset_deleted, DeleteJobLocked(id));
  ABLATE_RETURN_IF_ERROR(txn->Commit());
  spdlog::info("{} deleted{}", JobName(id), dataset_deleted ? " with its dataset" : "");
  v1::DeleteJobResponse response;
  response.set_job_id(JobName(id));
  response.set_dataset_deleted(dataset_deleted);
  return response;
}

absl::StatusOr<int> Store::DeleteFinishedBefore(int64_t finished_before_ms, int max_jobs) {
  std::lock_guard<std::mutex> lock(mu_);
  ABLATE_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("SELECT id FROM jobs WHERE state IN (3, 4, 5) AND finished_ms > 0"
                   " AND finished_ms < ? ORDER BY id LIMIT ?"));
  stmt.BindAll(finished_before_ms, max_jobs);
  std::vector<int64_t> ids;
  while (true) {
    ABLATE_ASSIGN_OR_RETURN(bool found, stmt.Step());
    if (!found) break;
    ids.push_back(stmt.ColumnInt(0));
  }
  if (ids.empty()) return 0;
  ABLATE_ASSIGN_OR_RETURN(std::unique_ptr<WriteTransaction> txn,
                          WriteTransaction::Begin(db_.get()));
  for (int64_t id : ids) ABLATE_RETURN_IF_ERROR(DeleteJobLocked(id).status());
  ABLATE_RETURN_IF_ERROR(txn->Commit());
  spdlog::info("retention: deleted {} finished jobs", ids.size());
  return static_cast<int>(ids.size());
}

absl::StatusOr<absl::flat_hash_set<std::string>> Store::ReferencedDigests() {
  std::lock_guard<std::mutex> lock(mu_);
  ABLATE_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("SELECT json_extract(spec_json, '$.model.artifact_digest') FROM jobs"
                   " UNION SELECT sha256 FROM datasets"));
  absl::flat_hash_set<std::string> digests;
  while (true) {
    ABLATE_ASSIGN_OR_RETURN(bool found, stmt.Step());
    if (!found) break;
    if (!stmt.ColumnIsNull(0)) digests.insert(stmt.ColumnText(0));
  }
  return digests;
}

}  // namespace ablate::storage
