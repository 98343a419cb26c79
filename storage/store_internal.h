// Private pieces shared by the store_*.cc files: the row structs, the macros that
// propagate errors, and the JSON form of stored specs. Not part of the storage API.
#ifndef ABLATE_STORAGE_STORE_INTERNAL_H_
#define ABLATE_STORAGE_STORE_INTERNAL_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/schema.h"
#include "storage/status_macros.h"
#include "storage/store.h"

namespace ablate::storage {

struct Store::JobRow {
  int64_t id = 0;
  std::string request_id;
  ablate::v1::JobSpec spec;  // Normalized; dataset.text empty, dataset.sha256 set.
  ablate::v1::JobState state = ablate::v1::JOB_STATE_UNSPECIFIED;
  std::string error;
  int64_t created_ms = 0;
  int64_t started_ms = 0;
  int64_t finished_ms = 0;
  int64_t dataset_bytes = 0;

  bool Active() const {
    return state == ablate::v1::JOB_STATE_QUEUED || state == ablate::v1::JOB_STATE_RUNNING;
  }
};

struct Store::TaskRow {
  int64_t id = 0;
  int64_t job_id = 0;
  ablate::v1::Phase phase = ablate::v1::PHASE_UNSPECIFIED;
  std::vector<int> masks;
  TaskState state = TaskState::kQueued;
  int attempts = 0;
  int64_t worker_id = 0;  // 0 = none.
  int64_t lease_token = 0;
  int64_t lease_expires_ms = 0;
  std::string errors;
};

// What every write on one leased task starts with (see Store::BeginTaskWrite).
struct Store::TaskWrite {
  int64_t worker_id = 0;
  std::unique_lock<std::mutex> lock;      // mu_, held until the write is published.
  std::unique_ptr<WriteTransaction> txn;  // BEGIN IMMEDIATE.
  Changes changes;                        // Expired leases reclaimed so far, and more.
  TaskRow task;
};

// MaskResult.head_estimates: L*H finite values in a PHASE_ATTRIBUTION result, none
// elsewhere. `field` names the result in errors (store_attribution.cc).
absl::Status CheckHeadEstimates(const ablate::v1::JobSpec& spec, ablate::v1::Phase phase,
                                const ablate::v1::MaskResult& result, absl::string_view field);

// Spec <-> the JSON stored in jobs.spec_json (proto field names, enum names).
absl::StatusOr<std::string> SpecToJson(const ablate::v1::JobSpec& spec);
absl::StatusOr<ablate::v1::JobSpec> SpecFromJson(const std::string& json);

}  // namespace ablate::storage

#endif  // ABLATE_STORAGE_STORE_INTERNAL_H_
