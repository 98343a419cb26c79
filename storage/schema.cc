#include "storage/schema.h"

#include <memory>

#include "absl/strings/str_cat.h"

namespace ablate::storage {
namespace {

// Migration i takes the schema from version i to i + 1. Append only; never edit one that
// has shipped. Enum columns hold ablate.v1 enum numbers (JobState, Phase, Method, ...).
constexpr const char* kMigrations[] = {
    // 0 -> 1: the initial schema.
    R"sql(
CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
INSERT INTO meta (key, value) VALUES ('next_lease_token', 1);

CREATE TABLE datasets (
  sha256 TEXT PRIMARY KEY,
  bytes INTEGER NOT NULL,
  text BLOB NOT NULL,
  name TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL
);

CREATE TABLE jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  request_id TEXT UNIQUE,
  name TEXT NOT NULL DEFAULT '',
  spec_json TEXT NOT NULL,
  spec_sha256 TEXT NOT NULL,
  dataset_sha256 TEXT NOT NULL REFERENCES datasets(sha256),
  model_path TEXT NOT NULL,
  model_sha256 TEXT NOT NULL,
  n_layer INTEGER NOT NULL,
  n_head INTEGER NOT NULL,
  n_chunks INTEGER NOT NULL,
  seq_len INTEGER NOT NULL,
  method INTEGER NOT NULL,
  sweep INTEGER NOT NULL,
  dtype INTEGER NOT NULL,
  device_kind INTEGER NOT NULL,
  masks_per_task INTEGER NOT NULL,
  max_attempts INTEGER NOT NULL,
  priority INTEGER NOT NULL,
  state INTEGER NOT NULL,
  error TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL,
  started_ms INTEGER NOT NULL DEFAULT 0,
  finished_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_by_state ON jobs (state, id);

CREATE TABLE job_order (
  job_id INTEGER NOT NULL REFERENCES jobs(id),
  position INTEGER NOT NULL,
  layer INTEGER NOT NULL,
  head INTEGER NOT NULL,
  PRIMARY KEY (job_id, position)
) WITHOUT ROWID;

CREATE TABLE workers (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  device_kind INTEGER NOT NULL,
  device TEXT NOT NULL,
  dtypes TEXT NOT NULL,
  memory_bytes INTEGER NOT NULL,
  model_paths TEXT NOT NULL,
  version TEXT NOT NULL,
  registered_ms INTEGER NOT NULL,
  last_seen_ms INTEGER NOT NULL,
  masks_done INTEGER NOT NULL DEFAULT 0,
  busy_seconds REAL NOT NULL DEFAULT 0
);

CREATE TABLE tasks (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id INTEGER NOT NULL REFERENCES jobs(id),
  phase INTEGER NOT NULL,
  masks TEXT NOT NULL,
  n_masks INTEGER NOT NULL,
  state INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  worker_id INTEGER REFERENCES workers(id),
  lease_token INTEGER NOT NULL DEFAULT 0,
  lease_expires_ms INTEGER NOT NULL DEFAULT 0,
  masks_done INTEGER NOT NULL DEFAULT 0,
  errors TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL,
  leased_ms INTEGER NOT NULL DEFAULT 0,
  finished_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tasks_by_state ON tasks (state, job_id, id);
CREATE INDEX tasks_by_job ON tasks (job_id, state);

CREATE TABLE results (
  job_id INTEGER NOT NULL REFERENCES jobs(id),
  phase INTEGER NOT NULL,
  mask_index INTEGER NOT NULL,
  nll_sum REAL NOT NULL,
  n_tokens INTEGER NOT NULL,
  ppl REAL NOT NULL,
  task_id INTEGER,
  lease_token INTEGER,
  worker_id INTEGER,
  device TEXT NOT NULL,
  dtype INTEGER NOT NULL,
  model_sha256 TEXT NOT NULL,
  dataset_sha256 TEXT NOT NULL,
  software_version TEXT NOT NULL,
  tokens_scored INTEGER NOT NULL,
  seconds REAL NOT NULL,
  created_ms INTEGER NOT NULL,
  PRIMARY KEY (job_id, phase, mask_index)
) WITHOUT ROWID;

CREATE VIEW head_results AS
SELECT r.job_id AS job_id,
       (r.mask_index - 1) / j.n_head AS layer,
       (r.mask_index - 1) % j.n_head AS head,
       r.nll_sum AS nll_sum,
       r.n_tokens AS n_tokens,
       r.ppl AS ppl,
       b.ppl AS baseline_ppl,
       (r.ppl - b.ppl) / b.ppl AS delta,
       r.worker_id AS worker_id,
       r.device AS device,
       r.dtype AS dtype
FROM results r
JOIN jobs j ON j.id = r.job_id
JOIN results b ON b.job_id = r.job_id AND b.phase = 1 AND b.mask_index = 0
WHERE r.phase = 1 AND r.mask_index > 0;

CREATE VIEW cumulative_curve AS
SELECT r.job_id AS job_id,
       r.mask_index AS removed,
       o.layer AS layer,
       o.head AS head,
       r.ppl AS ppl,
       r.ppl / b.ppl AS ratio
FROM results r
JOIN results b ON b.job_id = r.job_id AND b.phase = 2 AND b.mask_index = 0
LEFT JOIN job_order o ON o.job_id = r.job_id AND o.position = r.mask_index
WHERE r.phase = 2;

CREATE VIEW job_overview AS
SELECT j.id AS job_id,
       'job-' || j.id AS job,
       j.name AS name,
       CASE j.state WHEN 1 THEN 'QUEUED' WHEN 2 THEN 'RUNNING' WHEN 3 THEN 'SUCCEEDED'
                    WHEN 4 THEN 'FAILED' WHEN 5 THEN 'CANCELLED' ELSE 'UNKNOWN' END AS state,
       j.priority AS priority,
       j.n_layer AS n_layer,
       j.n_head AS n_head,
       (SELECT COUNT(*) FROM results r WHERE r.job_id = j.id) AS masks_done,
       (1 + j.n_layer * j.n_head) * (CASE j.sweep WHEN 3 THEN 2 ELSE 1 END) AS masks_total,
       j.created_ms AS created_ms,
       j.started_ms AS started_ms,
       j.finished_ms AS finished_ms,
       j.error AS error
FROM jobs j;
)sql",
    // 1 -> 2: per-(worker, job) backoff after failed tasks (Store::FailTask).
    R"sql(
CREATE TABLE worker_job_backoff (
  worker_id INTEGER NOT NULL REFERENCES workers (id) ON DELETE CASCADE,
  job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  failures INTEGER NOT NULL,
  until_ms INTEGER NOT NULL,
  PRIMARY KEY (worker_id, job_id)
) WITHOUT ROWID;
)sql",
    // 2 -> 3: per-block NLL (uncertainty). results.block_nll: the mask's block NLL sums as a
    // little-endian float64 array (NULL from workers without blocks); jobs.block_tokens:
    // scored tokens per block (0 for jobs submitted before this version: treated as 64).
    R"sql(
ALTER TABLE results ADD COLUMN block_nll BLOB;
ALTER TABLE jobs ADD COLUMN block_tokens INTEGER NOT NULL DEFAULT 0;
)sql",
    // 3 -> 4: model families. A job's family (ModelShape.family, "" = gpt2) and the families
    // a worker's engine runs (",gpt2,llama,"; workers older than families run gpt2 only); the
    // task picker leases a job's tasks only to workers listing its family.
    R"sql(
ALTER TABLE jobs ADD COLUMN model_family TEXT NOT NULL DEFAULT 'gpt2';
ALTER TABLE workers ADD COLUMN model_families TEXT NOT NULL DEFAULT ',gpt2,';
)sql",
    // 4 -> 5: attribution (SWEEP_ATTRIBUTION = 4, PHASE_ATTRIBUTION = 3): every head's
    // first-order estimate, one row per head; the clean run is results (phase 3, index 0).
    // job_overview counts an attribution job's masks (1, + baseline + verify_top_k).
    R"sql(
CREATE TABLE head_estimates (
  job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  head INTEGER NOT NULL,
  estimate REAL NOT NULL,
  PRIMARY KEY (job_id, head)
) WITHOUT ROWID;

CREATE VIEW attribution_heads AS
SELECT e.job_id AS job_id,
       e.head / j.n_head AS layer,
       e.head % j.n_head AS head,
       e.estimate AS estimate,
       c.n_tokens AS n_tokens,
       v.ppl AS ppl,
       (v.ppl - b.ppl) / b.ppl AS delta
FROM head_estimates e
JOIN jobs j ON j.id = e.job_id
JOIN results c ON c.job_id = e.job_id AND c.phase = 3 AND c.mask_index = 0
LEFT JOIN results v ON v.job_id = e.job_id AND v.phase = 1 AND v.mask_index = e.head + 1
LEFT JOIN results b ON b.job_id = e.job_id AND b.phase = 1 AND b.mask_index = 0;

DROP VIEW job_overview;
CREATE VIEW job_overview AS
SELECT j.id AS job_id,
       'job-' || j.id AS job,
       j.name AS name,
       CASE j.state WHEN 1 THEN 'QUEUED' WHEN 2 THEN 'RUNNING' WHEN 3 THEN 'SUCCEEDED'
                    WHEN 4 THEN 'FAILED' WHEN 5 THEN 'CANCELLED' ELSE 'UNKNOWN' END AS state,
       j.priority AS priority,
       j.n_layer AS n_layer,
       j.n_head AS n_head,
       (SELECT COUNT(*) FROM results r WHERE r.job_id = j.id) AS masks_done,
       CASE j.sweep
         WHEN 3 THEN 2 * (1 + j.n_layer * j.n_head)
         WHEN 4 THEN 1 + COALESCE(NULLIF(json_extract(j.spec_json, '$.verify_top_k'), 0) + 1, 0)
         ELSE 1 + j.n_layer * j.n_head END AS masks_total,
       j.created_ms AS created_ms,
       j.started_ms AS started_ms,
       j.finished_ms AS finished_ms,
       j.error AS error
FROM jobs j;
)sql",
    // 5 -> 6 (issue 10): each registration's secret, stored as its SHA-256 (worker calls
    // must carry the secret). Workers registered before have '' and must register again.
    R"sql(
ALTER TABLE workers ADD COLUMN secret_sha256 TEXT NOT NULL DEFAULT '';
)sql",
};

constexpr int kMigrationCount = sizeof(kMigrations) / sizeof(kMigrations[0]);
static_assert(kMigrationCount == kSchemaVersion, "one migration per schema version");

absl::Status ApplyMigration(Database* db, int from_version) {
  absl::StatusOr<std::unique_ptr<WriteTransaction>> txn = WriteTransaction::Begin(db);
  if (!txn.ok()) return txn.status();
  // Re-read inside the write lock: another process may have migrated meanwhile.
  absl::StatusOr<int64_t> version = db->QueryInt("PRAGMA user_version");
  if (!version.ok()) return version.status();
  if (*version != from_version) return absl::OkStatus();  // Rolled back; caller re-reads.
  absl::Status status = db->Exec(kMigrations[from_version]);
  if (!status.ok()) return status;
  status = db->Exec(absl::StrCat("PRAGMA user_version = ", from_version + 1));
  if (!status.ok()) return status;
  return (*txn)->Commit();
}

}  // namespace

absl::Status Migrate(Database* db) {
  while (true) {
    absl::StatusOr<int64_t> version = db->QueryInt("PRAGMA user_version");
    if (!version.ok()) return version.status();
    if (*version > kSchemaVersion) {
      return absl::FailedPreconditionError(absl::StrCat(
          "database schema version ", *version, " is newer than this server knows (",
          kSchemaVersion, "); use a newer ablate-server"));
    }
    if (*version == kSchemaVersion) return absl::OkStatus();
    if (*version < 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("database has an invalid schema version ", *version));
    }
    absl::Status status = ApplyMigration(db, static_cast<int>(*version));
    if (!status.ok()) return status;
  }
}

}  // namespace ablate::storage
