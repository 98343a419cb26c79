// Per-block NLL and bootstrap intervals in the offline `eval` JSON (worker/offline.h): the
// same analysis calls (proto/analysis/bootstrap.h) the server's queries make, written as JSON.
//
// Thread-safety: pure functions over values.
#ifndef ABLATE_WORKER_OFFLINE_INTERVALS_H_
#define ABLATE_WORKER_OFFLINE_INTERVALS_H_

#include <nlohmann/json.hpp>

#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "proto/analysis/bootstrap.h"
#include "proto/analysis/tables.h"

namespace ablate::worker {

// "block_tokens" and "baseline_block_nll" on `out`; per head (out["heads"][i], flat order)
// "block_nll" and, with `options`, "delta_ci": [lo, hi], "significant", "rank_ci": [lo, hi].
// masks[0] = baseline, masks[1 + i] = head i.
absl::Status AddHeadIntervals(const std::vector<int64_t>& block_tokens,
                              const std::vector<analysis::MaskNll>& masks,
                              const std::optional<analysis::BootstrapOptions>& options,
                              nlohmann::json* out);

// Per cumulative point (out["cumulative"][k]) "block_nll" and, with `options`, "ratio_ci";
// "thresholds" (DefaultRatios) each with "max_heads_ci" when `options` is set. points[k] = the
// first k heads ablated; points[0] is the baseline of the band.
absl::Status AddCurveIntervals(const std::vector<int64_t>& block_tokens,
                               const std::vector<analysis::MaskNll>& points,
                               const std::optional<analysis::BootstrapOptions>& options,
                               nlohmann::json* out);

}  // namespace ablate::worker

#endif  // ABLATE_WORKER_OFFLINE_INTERVALS_H_
