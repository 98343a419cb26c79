// CompareJobs: two jobs' per-head tables side by side (delta and rank of each head in each,
// the rank shift) with the Pearson and Spearman correlation of their deltas over all heads.
//
// Errors: NOT_FOUND for an unknown job and FAILED_PRECONDITION for a job without a finished
// individual phase (each message names the job), INVALID_ARGUMENT when a job id is empty or
// the two models differ in shape (L x H). The correlation is left unset when it is undefined
// (fewer than 3 heads, or a job whose deltas are all equal).
//
// Thread-safety: as Store (thread-safe).
#ifndef ABLATE_STORAGE_COMPARE_H_
#define ABLATE_STORAGE_COMPARE_H_

#include "ablate/v1/ablate.pb.h"
#include "absl/status/statusor.h"
#include "storage/store.h"

namespace ablate::storage {

absl::StatusOr<ablate::v1::Comparison> QueryComparison(Store& store,
                                                       const ablate::v1::CompareRequest& request);

}  // namespace ablate::storage

#endif  // ABLATE_STORAGE_COMPARE_H_
