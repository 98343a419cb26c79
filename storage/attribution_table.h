// The head table of a SWEEP_ATTRIBUTION job (GetHeadTable): every head's estimated delta,
// the exact ppl / delta of the verified heads, and the agreement of the two (DESIGN.md
// section 2; README "Definitions").
//
// Thread-safety: a pure function.
#ifndef ABLATE_STORAGE_ATTRIBUTION_TABLE_H_
#define ABLATE_STORAGE_ATTRIBUTION_TABLE_H_

#include "ablate/v1/ablate.pb.h"
#include "absl/status/statusor.h"
#include "storage/store.h"

namespace ablate::storage {

// Rows in (layer, head) order with atp_delta; verified heads (stored verify-phase results)
// also carry ppl, delta and exact = true. baseline_ppl is the verify phase's baseline once
// stored, else the attribution's clean run. atp_spearman over the verified heads (unset when
// undefined: fewer than 3 or a constant series); atp_recall when data.reference_job is set
// and verify_top_k > 0: of the reference's top verify_top_k heads by exact delta, the
// fraction chosen for verification. Errors: malformed stored numbers (analysis errors).
absl::StatusOr<ablate::v1::HeadTable> AttributionHeadTable(const AttributionData& data);

}  // namespace ablate::storage

#endif  // ABLATE_STORAGE_ATTRIBUTION_TABLE_H_
