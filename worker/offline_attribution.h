// Copyright: the ablate authors.
//
// `ablate-worker eval --sweep attribution [--verify-top K] [--reference FILE]`: every head's
// first-order estimate (engine Attribute, one forward + backward pass), then the exact
// individual ablation of the K heads with the largest estimated deltas (and the baseline,
// evaluated again so exact deltas are computed as in an individual sweep), and the agreement.
//
// JSON (added to offline.h's):
//   "heads": [{"layer", "head", "atp_delta", "estimate" (NLL units), "verified",
//              "ppl" and "delta" when verified}, ...]           every head, (layer, head) order
//   "baseline_ppl": the verify phase's baseline when K > 0, else the attribution's clean run
//   "attribution": {"clean_nll", "clean_ppl", "seconds", "verify_top_k", "n_verified",
//                   "verified": [[l, h], ...] (estimate order), "spearman" (or null),
//                   "recall" (or null), "reference" (path or null)}
// spearman: estimated vs exact delta over the verified heads; recall: of the reference's
// top-K heads by exact delta, the fraction verified here.
//
// Thread-safety: reentrant.
#ifndef ABLATE_WORKER_OFFLINE_ATTRIBUTION_H_
#define ABLATE_WORKER_OFFLINE_ATTRIBUTION_H_

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/analysis/tables.h"
#include "worker/engine/model.h"

namespace ablate::worker {

// Exact evaluation of masks, grouped and with progress as the caller's other phases.
using MaskEvaluator = std::function<absl::StatusOr<std::vector<analysis::MaskNll>>(
    const std::vector<engine::HeadMask>&)>;

struct AttributionSweepOptions {
  int verify_top_k = 0;        // 0..L*H
  std::string reference_file;  // An individual/full eval output of the same run; may be "".
};

// Runs the sweep on `model` and fills `out` (see above). `describe` is the run's own
// description (model sha256, dataset_sha256, n_chunks, seq_len, bos, method) that a
// reference file must match. Errors: K out of range, a reference of another run or without
// every head's exact delta, engine errors.
absl::Status RunAttributionSweep(const engine::Model& model, const torch::Tensor& chunks,
                                 engine::Method method, const AttributionSweepOptions& options,
                                 const MaskEvaluator& evaluate, const nlohmann::json& describe,
                                 nlohmann::json* out);

// The flat-order exact deltas of a reference eval output, after checking it describes the
// same run as `describe` (model sha256, dataset_sha256, n_chunks, seq_len, bos, method) and
// has all n_heads heads exactly. Errors name the file and the mismatch.
absl::StatusOr<std::vector<double>> ReadReferenceDeltas(const std::string& path,
                                                        const nlohmann::json& describe,
                                                        int n_heads);

}  // namespace ablate::worker

#endif  // ABLATE_WORKER_OFFLINE_ATTRIBUTION_H_
