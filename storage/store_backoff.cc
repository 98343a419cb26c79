// Store: per-(worker, job) backoff after failed tasks (StoreOptions::backoff_base_ms).
#include <spdlog/spdlog.h>

#include <algorithm>

#include "storage/ids.h"
#include "storage/store.h"
#include "storage/store_internal.h"

namespace ablate::storage {

absl::Status Store::BackOffLocked(int64_t worker_id, int64_t job_id) {
  if (options_.backoff_base_ms <= 0) return absl::OkStatus();
  ABLATE_ASSIGN_OR_RETURN(
      Statement read, db_->Prepare("SELECT failures FROM worker_job_backoff"
                                   " WHERE worker_id = ?1 AND job_id = ?2"));
  read.BindAll(worker_id, job_id);
  ABLATE_ASSIGN_OR_RETURN(bool found, read.Step());
  const int64_t failures = (found ? read.ColumnInt(0) : 0) + 1;
  // base * 2^(failures - 1), capped; doubled only while at most half the cap, so the doubling
  // cannot overflow whatever the options.
  const int64_t cap = std::max(options_.backoff_base_ms, options_.backoff_max_ms);
  int64_t delay = options_.backoff_base_ms;
  for (int64_t i = 1; i < failures && delay < cap; ++i) delay = delay > cap / 2 ? cap : 2 * delay;
  ABLATE_ASSIGN_OR_RETURN(
      Statement write,
      db_->Prepare("INSERT INTO worker_job_backoff (worker_id, job_id, failures, until_ms)"
                   " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (worker_id, job_id) DO UPDATE"
                   " SET failures = excluded.failures, until_ms = excluded.until_ms"));
  write.BindAll(worker_id, job_id, failures, Now() + delay);
  ABLATE_RETURN_IF_ERROR(write.Run());
  spdlog::info("{} backed off from {} for {} ms ({} failure{} in a row)", WorkerName(worker_id),
               JobName(job_id), delay, failures, failures == 1 ? "" : "s");
  return absl::OkStatus();
}

absl::Status Store::ClearBackoffLocked(int64_t worker_id, int64_t job_id) {
  ABLATE_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("DELETE FROM worker_job_backoff WHERE worker_id = ?1 AND job_id = ?2"));
  stmt.BindAll(worker_id, job_id);
  return stmt.Run();
}

}  // namespace ablate::storage
