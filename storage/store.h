// Store: the durable job queue of ablate on one SQLite file (schema in storage/SCHEMA.md).
//
// It owns jobs (spec, dataset, state), their tasks (groups of masks leased to workers with a
// fencing token and an expiry), the per-mask results, and the registered workers. Every
// mutating call runs in one BEGIN IMMEDIATE transaction and returns only after COMMIT, so an
// acknowledged call survives kill -9 (WAL; synchronous=FULL by default also survives power
// loss). Ids in requests and responses are the names of storage/ids.h ("job-3").
//
// Errors (absl codes, messages name the request field): INVALID_ARGUMENT for bad specs and
// malformed ids or results, NOT_FOUND for unknown jobs, tasks, workers and datasets,
// FAILED_PRECONDITION for stale leases and queries on unfinished phases, ALREADY_EXISTS for
// a request_id reused with a different spec, RESOURCE_EXHAUSTED for a full queue or an
// oversized dataset, INTERNAL/UNAVAILABLE for database errors.
//
// Thread-safety: all methods are thread-safe (one connection behind a mutex). Other
// processes may read the file concurrently (WAL); writers wait up to busy_timeout_ms.
#ifndef ABLATE_STORAGE_STORE_H_
#define ABLATE_STORAGE_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "absl/status/status.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "proto/analysis/tables.h"
#include "storage/job_spec.h"
#include "storage/notifier.h"
#include "storage/sqlite.h"

namespace ablate::storage {

struct StoreOptions {
  int busy_timeout_ms = 10000;
  // PRAGMA synchronous: FULL fsyncs the WAL at every commit (acknowledged = on disk, even
  // across power loss); NORMAL survives process crashes (kill -9) but not power loss.
  bool synchronous_full = true;
  int64_t lease_ttl_ms = 30000;       // A lease not renewed for this long returns to the queue.
  int64_t heartbeat_interval_ms = 0;  // Told to workers; 0 = lease_ttl_ms / 4.
  int64_t max_pending_jobs = 10000;   // QUEUED + RUNNING jobs; more is RESOURCE_EXHAUSTED.
  // A worker whose task of a job fails (FailTask, not permanent, not a release) is not leased
  // that job's tasks for backoff_base_ms * 2^(failures - 1), at most backoff_max_ms; its next
  // successful CompleteTask for the job clears the count. Other jobs' tasks still go to it.
  // 0 = no backoff. Lease expiry (a killed or partitioned worker) does not count.
  int64_t backoff_base_ms = 30000;
  int64_t backoff_max_ms = 600000;
  SpecLimits limits;
  std::function<int64_t()> now_ms;  // Unix milliseconds; empty = the system clock.
};

struct SubmitOutcome {
  ablate::v1::Job job;
  bool created = false;  // False when the request_id matched an existing job.
};

struct ReclaimStats {
  int requeued = 0;     // Expired leases returned to the queue.
  int jobs_failed = 0;  // Jobs failed because a task ran out of attempts.
};

// The stored masks of one completed phase, in mask-index order.
struct PhaseData {
  ablate::v1::JobSpec spec;              // Without dataset text.
  std::vector<analysis::MaskNll> masks;  // masks[i] = mask index i.
  std::vector<int> order;                // Cumulative order (flat heads), when known.
};

// The stored results of a SWEEP_ATTRIBUTION job (Store::LoadAttribution).
struct AttributionData {
  ablate::v1::JobSpec spec;                  // Without dataset text.
  analysis::MaskNll clean;                   // The attribution phase's clean run.
  std::vector<double> estimates;             // est_h (NLL units), flat layer * n_head + head.
  std::map<int, analysis::MaskNll> exact;    // Verify-phase results stored so far, by mask
                                             // index (0 = baseline, 1 + flat head).
  std::string reference_job;                 // A finished exact individual/full job of the
                                             // same model, text, chunking, BOS and method;
  std::vector<analysis::MaskNll> reference;  // its individual phase. "" / empty = none.
};

class Store {
 public:
  // Opens or creates the database, sets WAL / synchronous / busy_timeout / foreign keys and
  // migrates the schema. Errors: FAILED_PRECONDITION for a database newer than this build.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& path,
                                                     StoreOptions options);
  ~Store();

  // ---- client side
  // Validates, stores the job and its first tasks. Idempotent on a non-empty request_id.
  absl::StatusOr<SubmitOutcome> SubmitJob(const ablate::v1::SubmitJobRequest& request);
  absl::StatusOr<ablate::v1::Job> GetJob(absl::string_view job_id);
  // Newest first; page_token is the opaque next_page_token of the previous page.
  absl::StatusOr<ablate::v1::ListJobsResponse> ListJobs(
      const ablate::v1::ListJobsRequest& request);
  // QUEUED/RUNNING -> CANCELLED (no more leases; heartbeats answer cancelled). Cancelling a
  // cancelled job is a no-op; a SUCCEEDED or FAILED job is FAILED_PRECONDITION.
  absl::StatusOr<ablate::v1::Job> CancelJob(absl::string_view job_id);
  absl::StatusOr<ablate::v1::ListWorkersResponse> ListWorkers();
  // All masks of `phase` (FAILED_PRECONDITION until every one is stored).
  absl::StatusOr<PhaseData> LoadPhase(absl::string_view job_id, ablate::v1::Phase phase);
  // A SWEEP_ATTRIBUTION job's estimates and verified heads so far; nullopt for other sweeps,
  // FAILED_PRECONDITION until the attribution phase is stored.
  absl::StatusOr<std::optional<AttributionData>> LoadAttribution(absl::string_view job_id);

  // ---- worker side
  // Registers a worker and hands it a fresh random secret (stored only as its SHA-256).
  // INVALID_ARGUMENT for unknown enums and oversized strings or lists.
  absl::StatusOr<ablate::v1::RegisterResponse> RegisterWorker(
      const ablate::v1::RegisterRequest& request);
  // OK when `secret` is the one `worker_id`'s Register returned; PERMISSION_DENIED when it
  // is not, NOT_FOUND for an unknown worker (or one registered before secrets: register
  // again). The server checks it before every worker call but Register.
  absl::Status CheckWorkerSecret(absl::string_view worker_id, absl::string_view secret);
  // Leases the best queued task this worker can run (priority desc, then job FIFO, then task
  // order), or has_task = false. Never blocks (the server long-polls with notifier()).
  absl::StatusOr<ablate::v1::LeaseTaskResponse> LeaseTask(absl::string_view worker_id);
  absl::StatusOr<ablate::v1::HeartbeatResponse> Heartbeat(
      const ablate::v1::HeartbeatRequest& request);
  // Accepted only from the lease holder with the current token. A repeat of an accepted
  // completion (same token) returns duplicate = true and changes nothing.
  absl::StatusOr<ablate::v1::CompleteTaskResponse> CompleteTask(
      const ablate::v1::CompleteTaskRequest& request);
  absl::Status FailTask(const ablate::v1::FailTaskRequest& request);
  absl::StatusOr<ablate::v1::Dataset> GetDataset(absl::string_view sha256);

  // ---- deletion (store_delete.cc)
  // Removes a finished job (SUCCEEDED, FAILED, CANCELLED) with every row that refers to
  // it, and its dataset when no other job uses it. FAILED_PRECONDITION for a queued or
  // running job, NOT_FOUND for an unknown one.
  absl::StatusOr<ablate::v1::DeleteJobResponse> DeleteJob(absl::string_view job_id);
  // Retention: deletes up to `max_jobs` jobs that finished before `finished_before_ms`
  // (oldest first); returns how many.
  absl::StatusOr<int> DeleteFinishedBefore(int64_t finished_before_ms, int max_jobs);
  // Artifact digests some job names (model artifacts) and stored dataset digests (a text
  // artifact's digest is its text's SHA-256): what artifact collection must keep.
  absl::StatusOr<absl::flat_hash_set<std::string>> ReferencedDigests();

  // ---- maintenance
  // Returns expired leases to the queue (or fails their job after max_attempts).
  absl::StatusOr<ReclaimStats> ReclaimExpiredLeases();
  // "ok" or the problems PRAGMA integrity_check reports.
  absl::StatusOr<std::string> IntegrityCheck();

  Notifier& notifier() { return notifier_; }
  const StoreOptions& options() const { return options_; }

 private:
  struct JobRow;
  struct TaskRow;
  struct Changes {
    std::vector<int64_t> jobs;
    bool tasks_available = false;
  };
  struct TaskWrite;  // store_internal.h

  Store(std::unique_ptr<Database> db, StoreOptions options);
  int64_t Now() const;
  void Publish(const Changes& changes);

  // Helpers below run with mu_ held, inside a transaction where they write.
  absl::StatusOr<JobRow> LoadJobLocked(int64_t job_id);
  absl::StatusOr<ablate::v1::Job> BuildJobLocked(const JobRow& row);
  absl::Status FillProgressLocked(const JobRow& row, ablate::v1::Job* job);
  absl::StatusOr<std::optional<JobRow>> FindByRequestIdLocked(const std::string& request_id);
  absl::StatusOr<int64_t> InsertJobLocked(const std::string& request_id,
                                          const ablate::v1::JobSpec& spec,
                                          const std::string& text);
  absl::Status InsertTasksLocked(int64_t job_id, ablate::v1::Phase phase, int first, int last,
                                 int per_task);
  absl::StatusOr<TaskRow> LoadTaskLocked(int64_t task_id);
  absl::StatusOr<TaskRow> CheckLeaseLocked(int64_t task_id, int64_t worker_id, int64_t token);
  absl::StatusOr<std::vector<int>> LoadOrderLocked(int64_t job_id);
  absl::StatusOr<int64_t> NextLeaseTokenLocked();
  // Deletes a finished job's rows; true when its dataset went too.
  absl::StatusOr<bool> DeleteJobLocked(int64_t job_id);
  absl::Status SetJobStateLocked(int64_t job_id, ablate::v1::JobState state,
                                 absl::string_view error);
  absl::Status ReturnTaskLocked(const TaskRow& task, absl::string_view error, bool count,
                                Changes* changes);
  absl::Status FailJobLocked(int64_t job_id, absl::string_view error);
  absl::Status InsertResultsLocked(const TaskRow& task,
                                   const ablate::v1::CompleteTaskRequest& request);
  absl::Status CheckResultsLocked(const TaskRow& task, const JobRow& job,
                                  const ablate::v1::CompleteTaskRequest& request);
  absl::Status FinishPhaseIfDoneLocked(const JobRow& job, ablate::v1::Phase phase,
                                       Changes* changes);
  absl::Status DeriveCumulativeLocked(const JobRow& job, Changes* changes);
  absl::StatusOr<std::vector<analysis::MaskNll>> LoadMasksLocked(int64_t job_id,
                                                                  ablate::v1::Phase phase,
                                                                  int64_t expected);
  // SWEEP_ATTRIBUTION (store_attribution.cc).
  absl::Status InsertEstimatesLocked(int64_t job_id, const ablate::v1::MaskResult& result);
  absl::StatusOr<std::vector<double>> LoadEstimatesLocked(int64_t job_id, int n_heads);
  // The verify_top_k heads with the largest estimated deltas, largest first.
  absl::StatusOr<std::vector<int>> VerifiedHeadsLocked(const JobRow& job,
                                                       const analysis::MaskNll& clean);
  absl::Status DeriveVerifyLocked(const JobRow& job, Changes* changes);
  absl::StatusOr<std::map<int, analysis::MaskNll>> LoadStoredMasksLocked(
      int64_t job_id, ablate::v1::Phase phase);
  absl::StatusOr<int64_t> FindReferenceLocked(const ablate::v1::JobSpec& spec);
  // The start of Heartbeat, CompleteTask and FailTask: ids parsed, mu_ locked, BEGIN
  // IMMEDIATE, expired leases reclaimed, the task loaded (NOT_FOUND if unknown).
  absl::StatusOr<TaskWrite> BeginTaskWrite(absl::string_view worker_id,
                                           absl::string_view task_id);
  // Records one more failure of `worker_id` on `job_id` and starts its backoff.
  absl::Status BackOffLocked(int64_t worker_id, int64_t job_id);
  absl::Status ClearBackoffLocked(int64_t worker_id, int64_t job_id);
  // The best queued task `worker_id` can run and is not backed off from at `now`.
  absl::StatusOr<std::optional<TaskRow>> PickTaskLocked(int64_t worker_id, int64_t now);
  // Whether a lease call must write: a task to hand out, an expired lease, a stale last_seen.
  absl::StatusOr<bool> LeaseNeedsWriteLocked(int64_t worker_id, int64_t now);
  absl::StatusOr<ablate::v1::Task> BuildTaskLocked(const TaskRow& task, const JobRow& job);
  absl::StatusOr<int> ReclaimLocked(Changes* changes);

  const StoreOptions options_;
  Notifier notifier_;
  std::mutex mu_;
  std::unique_ptr<Database> db_;  // Guarded by mu_.
};

}  // namespace ablate::storage

#endif  // ABLATE_STORAGE_STORE_H_
