// Copyright: the ablate authors.
//
// The worker's offline commands (no server): `eval` runs a sweep on this machine and returns
// the result as JSON; `tokenize` returns a text's token ids. main.cc turns flags into these
// options structs and writes the results.
//
// eval JSON (layers and heads from 0, delta a fraction):
//   {"baseline_ppl": x, "n_tokens_scored": n,
//    "heads": [{"layer": l, "head": h, "ppl": p, "delta": d}, ...],          // individual/full
//    "cumulative": [{"removed": k, "ppl": p, "head": [l, h] or null}, ...],  // cumulative/full
//    (attribution: "heads" with estimates and "attribution", see offline_attribution.h)
//    "model": {"path", "sha256" (weights digest), "family", "tokenizer" ("tokenizer.json" or
//              "vocab.json+merges.txt"), "n_layer", "n_head", "n_kv_head", "head_dim",
//              "n_embd", "n_positions", "vocab_size", "bos_token_id" (-1 = none)},
//    "seconds": s}
// Per-block NLL and paired block bootstrap intervals (worker/offline_intervals.h):
//   "block_tokens": [scored tokens of each block, chunk-major], "baseline_block_nll": [...],
//   each head and cumulative point "block_nll": [...]; unless --bootstrap -1, each head
//   "delta_ci": [lo, hi], "significant", "rank_ci": [lo, hi], each point "ratio_ci": [lo, hi],
//   "thresholds": [{"ratio", "max_heads", "ppl_at_max", "fraction", "max_heads_ci"}] (curve
//   sweeps), and "ci", "bootstrap", "seed".
// plus "method", "sweep", "n_chunks", "seq_len", "bos" (whether slot 0 of every chunk is the
// BOS), "bos_token_id" (the token put there, null without --bos), "masks_per_batch",
// "device", "dtype", "dataset_sha256".
// PPLs are computed exactly as the server computes them (proto/analysis/tables.h) from the
// engine's per-mask NLL sums; `heads` is empty for a cumulative-only sweep. In a full sweep
// the curve's k = 0 point is the measured baseline (not evaluated again), as on the server.
//
// Thread-safety: reentrant; each call loads its own model.
#ifndef ABLATE_WORKER_OFFLINE_H_
#define ABLATE_WORKER_OFFLINE_H_

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/engine/model.h"
#include "worker/engine/model_weights.h"

namespace ablate::worker {

// = ablate.v1.Sweep. kAttribution: offline_attribution.h.
enum class SweepKind { kIndividual = 1, kCumulative = 2, kFull = 3, kAttribution = 4 };

// individual|cumulative|full|attribution
absl::StatusOr<SweepKind> ParseSweepKind(const std::string& name);
std::string SweepKindName(SweepKind sweep);

struct EvalOptions {
  std::string model_dir;
  std::string text_file;
  std::string order_file;  // Cumulative order; required for (only allowed with) kCumulative.
  int n_chunks = 0;
  int seq_len = 0;
  engine::Method method = engine::Method::kZero;
  SweepKind sweep = SweepKind::kIndividual;
  // The model's BOS at the start of every chunk (model_check.h ModelBosId: config.json's
  // bos_token_id, else GPT-2's <|endoftext|>), for every family; off unless asked.
  bool bos = false;
  engine::EngineOptions engine;
  // Masks per engine call, grouped from the start of each phase as the server groups masks
  // into tasks (masks_per_task); 0 = a whole phase per call. The engine is exact to fp32
  // rounding, and rounding depends on the batch: the same grouping as a server job gives
  // bit-identical NLLs, another grouping agrees to ~1e-6 relative.
  int masks_per_batch = 0;
  bool progress = true;  // A progress line on stderr every few seconds.
  // Scored tokens per block: 1..seq_len-1, or 0 = min(64, seq_len - 1) (as the server).
  int block_tokens = 0;
  // Bootstrap (ablate.v1.Uncertainty's wire form): ci 0 = 0.95, bootstrap 0 = 10000 and
  // -1 = no intervals, seed 0 = analysis::kDefaultSeed.
  double ci = 0.95;
  int bootstrap = 10000;
  uint64_t seed = 0;
  // kAttribution only: heads to verify exactly (largest estimated delta first), and an
  // individual/full eval output of the same run for the recall of the true top K.
  int verify_top_k = 0;
  std::string reference_file;
};

// Runs the sweep and returns the JSON above. Errors name the flag or file at fault:
// unreadable text/order file, bad order, model errors, text too short (InvalidArgument).
absl::StatusOr<nlohmann::json> RunEval(const EvalOptions& options);

// Reads a cumulative order file: a JSON array of [layer, head] pairs or of flat indices, or
// an eval output object (its "cumulative" heads are used). Must name all L*H heads once.
absl::StatusOr<std::vector<int>> ReadOrderFile(const std::string& path,
                                               const engine::ModelConfig& config);

// The token ids of `text_file` under the tokenizer in `model_dir`.
absl::StatusOr<std::vector<int>> TokenizeFile(const std::string& model_dir,
                                              const std::string& text_file);

// Reads a whole file; errors name it.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Writes `json` (indented) to `path`, via a temporary file and rename.
absl::Status WriteJsonFile(const std::string& path, const nlohmann::json& json);

}  // namespace ablate::worker

#endif  // ABLATE_WORKER_OFFLINE_H_
