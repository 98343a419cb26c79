// Store: SWEEP_ATTRIBUTION jobs. The attribution phase (one PHASE_ATTRIBUTION task, mask
// index 0) stores the clean run in `results` (phase 3, index 0) and every head's estimate in
// `head_estimates`; when it completes, the verify phase is enqueued as PHASE_INDIVIDUAL masks:
// the baseline (index 0, evaluated again so that exact deltas are computed exactly as in an
// individual sweep) and index 1 + flat head for the verify_top_k heads with the largest
// estimated deltas.
#include <spdlog/spdlog.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "proto/analysis/attribution.h"
#include "storage/ids.h"
#include "storage/store.h"
#include "storage/store_internal.h"

namespace ablate::storage {

namespace v1 = ::ablate::v1;

absl::Status CheckHeadEstimates(const v1::JobSpec& spec, v1::Phase phase,
                                const v1::MaskResult& result, absl::string_view field) {
  const int n = spec.model().shape().n_layer() * spec.model().shape().n_head();
  if (phase != v1::PHASE_ATTRIBUTION) {
    if (result.head_estimates_size() == 0) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".head_estimates must be empty outside PHASE_ATTRIBUTION"));
  }
  if (result.head_estimates_size() != n) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".head_estimates has ",
                                                   result.head_estimates_size(),
                                                   " entries; the model has ", n, " heads"));
  }
  for (int h = 0; h < n; ++h) {
    if (!std::isfinite(result.head_estimates(h))) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".head_estimates[", h, "] is not finite"));
    }
  }
  return absl::OkStatus();
}

absl::Status Store::InsertEstimatesLocked(int64_t job_id, const v1::MaskResult& result) {
  ABLATE_ASSIGN_OR_RETURN(Statement stmt,
                          db_->Prepare("INSERT INTO head_estimates (job_id, head, estimate)"
                                       " VALUES (?, ?, ?)"));
  for (int h = 0; h < result.head_estimates_size(); ++h) {
    stmt.BindAll(job_id, h, result.head_estimates(h));
    ABLATE_RETURN_IF_ERROR(stmt.Run());
    stmt.Reset();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<double>> Store::LoadEstimatesLocked(int64_t job_id, int n_heads) {
  ABLATE_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("SELECT head, estimate FROM head_estimates WHERE job_id = ? ORDER BY head"));
  stmt.Bind(1, job_id);
  std::vector<double> out;
  while (true) {
    ABLATE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    if (stmt.ColumnInt(0) != static_cast<int64_t>(out.size())) break;
    out.push_back(stmt.ColumnDouble(1));
  }
  if (static_cast<int>(out.size()) != n_heads) {
    return absl::FailedPreconditionError(
        absl::StrCat(JobName(job_id), ": the attribution phase is not complete"));
  }
  return out;
}

absl::StatusOr<std::vector<int>> Store::VerifiedHeadsLocked(const JobRow& job,
                                                            const analysis::MaskNll& clean) {
  const v1::ModelShape& shape = job.spec.model().shape();
  ABLATE_ASSIGN_OR_RETURN(std::vector<double> estimates,
                          LoadEstimatesLocked(job.id, shape.n_layer() * shape.n_head()));
  ABLATE_ASSIGN_OR_RETURN(std::vector<double> atp,
                          analysis::AtpDeltas(estimates, clean.n_tokens));
  return analysis::TopK(atp, job.spec.verify_top_k());
}

absl::Status Store::DeriveVerifyLocked(const JobRow& job, Changes* changes) {
  ABLATE_ASSIGN_OR_RETURN(std::vector<analysis::MaskNll> clean,
                          LoadMasksLocked(job.id, v1::PHASE_ATTRIBUTION, 1));
  absl::StatusOr<std::vector<int>> heads = VerifiedHeadsLocked(job, clean[0]);
  if (!heads.ok()) {
    return FailJobLocked(job.id, absl::StrCat("cannot choose the heads to verify: ",
                                              heads.status().message()));
  }
  std::vector<int> masks = {0};  // the baseline, then 1 + flat head
  for (int head : *heads) masks.push_back(1 + head);
  ABLATE_ASSIGN_OR_RETURN(
      Statement stmt, db_->Prepare("INSERT INTO tasks (job_id, phase, masks, n_masks, state,"
                                   " created_ms) VALUES (?, ?, ?, ?, 1, ?)"));
  const int per_task = std::max(1, job.spec.masks_per_task());
  for (size_t begin = 0; begin < masks.size(); begin += per_task) {
    const std::vector<int> part(masks.begin() + begin,
                                masks.begin() + std::min(masks.size(), begin + per_task));
    stmt.BindAll(job.id, static_cast<int>(v1::PHASE_INDIVIDUAL), JoinIndices(part),
                 static_cast<int>(part.size()), Now());
    ABLATE_RETURN_IF_ERROR(stmt.Run());
    stmt.Reset();
  }
  spdlog::info("{}: attribution done; verifying the top {} heads", JobName(job.id),
               heads->size());
  changes->tasks_available = true;
  return absl::OkStatus();
}

absl::StatusOr<std::map<int, analysis::MaskNll>> Store::LoadStoredMasksLocked(
    int64_t job_id, v1::Phase phase) {
  ABLATE_ASSIGN_OR_RETURN(
      Statement stmt, db_->Prepare("SELECT mask_index, nll_sum, n_tokens FROM results"
                                   " WHERE job_id = ? AND phase = ?"));
  stmt.BindAll(job_id, static_cast<int>(phase));
  std::map<int, analysis::MaskNll> out;
  while (true) {
    ABLATE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    out[static_cast<int>(stmt.ColumnInt(0))] = {stmt.ColumnDouble(1), stmt.ColumnInt(2)};
  }
  return out;
}

// The newest finished exact individual or full sweep of the same model, text, chunking, BOS
// and method as `spec`, or 0.
absl::StatusOr<int64_t> Store::FindReferenceLocked(const v1::JobSpec& spec) {
  ABLATE_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("SELECT id FROM jobs WHERE state = 3 AND sweep IN (1, 3) AND"
                   " model_sha256 = ? AND dataset_sha256 = ? AND n_chunks = ? AND seq_len = ?"
                   " AND method = ? AND n_layer = ? AND n_head = ? ORDER BY id DESC"));
  stmt.BindAll(spec.model().sha256(), spec.dataset().sha256(), spec.n_chunks(), spec.seq_len(),
               static_cast<int>(spec.method()), spec.model().shape().n_layer(),
               spec.model().shape().n_head());
  std::vector<int64_t> ids;
  while (true) {
    ABLATE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    ids.push_back(stmt.ColumnInt(0));
  }
  for (int64_t id : ids) {  // bos_per_chunk lives only in the stored spec
    ABLATE_ASSIGN_OR_RETURN(JobRow job, LoadJobLocked(id));
    if (job.spec.bos_per_chunk() == spec.bos_per_chunk()) return id;
  }
  return 0;
}

absl::StatusOr<std::optional<AttributionData>> Store::LoadAttribution(
    absl::string_view job_name) {
  ABLATE_ASSIGN_OR_RETURN(int64_t job_id, ParseJobId(job_name));
  std::lock_guard<std::mutex> lock(mu_);
  ABLATE_ASSIGN_OR_RETURN(JobRow job, LoadJobLocked(job_id));
  if (job.spec.sweep() != v1::SWEEP_ATTRIBUTION) return std::nullopt;
  AttributionData data;
  data.spec = job.spec;
  ABLATE_ASSIGN_OR_RETURN(std::vector<analysis::MaskNll> clean,
                          LoadMasksLocked(job_id, v1::PHASE_ATTRIBUTION, 1));
  data.clean = clean[0];
  const v1::ModelShape& shape = job.spec.model().shape();
  ABLATE_ASSIGN_OR_RETURN(data.estimates,
                          LoadEstimatesLocked(job_id, shape.n_layer() * shape.n_head()));
  ABLATE_ASSIGN_OR_RETURN(data.exact, LoadStoredMasksLocked(job_id, v1::PHASE_INDIVIDUAL));
  ABLATE_ASSIGN_OR_RETURN(int64_t ref, FindReferenceLocked(job.spec));
  if (ref != 0) {
    data.reference_job = JobName(ref);
    ABLATE_ASSIGN_OR_RETURN(data.reference,
                            LoadMasksLocked(ref, v1::PHASE_INDIVIDUAL, MasksPerPhase(job.spec)));
  }
  return data;
}

}  // namespace ablate::storage
