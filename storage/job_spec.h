// Job specs: validation (every error names the offending field, e.g. "spec.seq_len"),
// normalization (defaults filled in, hex lowered) and expansion into masks and tasks.
//
// Mask numbering (ablate.proto, Phase): individual index 0 = baseline, 1 + l*H + h = head
// (l, h) alone; cumulative index k = the first k heads of the order, k = 0..L*H.
//
// Thread-safety: free functions on values; safe from any thread.
#ifndef ABLATE_STORAGE_JOB_SPEC_H_
#define ABLATE_STORAGE_JOB_SPEC_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"
#include "storage/task_sizing.h"
#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ablate::storage {

// Server-side bounds and defaults applied to specs.
struct SpecLimits {
  // Masks per task when a spec says 0; 0 here = sized by cost so a task takes about
  // task_sizing.target_task_seconds on the slowest worker (storage/task_sizing.h).
  int default_masks_per_task = 0;
  TaskSizing task_sizing;
  int max_masks_per_task = 1024;
  int default_max_attempts = 3;
  int max_max_attempts = 100;
  int64_t max_dataset_bytes = int64_t{32} << 20;  // RESOURCE_EXHAUSTED above this.
  int max_layers = 1024;
  int max_heads_per_layer = 1024;
  // Issue 10: a submit's cost is bounded. n_layer * n_head at most this (masks per phase =
  // 1 + that; GPT-2 XL has 1,200 heads), and at most max_tasks_per_job tasks per phase.
  int max_heads_total = 8192;
  int max_tasks_per_job = 4096;
  // Strings: name and dataset name, model path.
  int max_name_bytes = 256;
  int max_path_bytes = 4096;
  // Priorities must lie in min_priority..max_priority; those above max_client_priority are
  // reserved for the operator (the server lets only the operator token use them).
  int min_priority = -1000;
  int max_priority = 1000;
  int max_client_priority = 900;
};

// Longest error text kept per failure report, and per task (all attempts together; the
// oldest attempts are cut first). Longer texts are cut, never refused.
inline constexpr size_t kMaxErrorBytes = 1024;
inline constexpr size_t kMaxTaskErrorsBytes = 8192;

// `text` cut to at most `max` bytes on a UTF-8 boundary, with "..." marking the cut.
std::string Truncate(absl::string_view text, size_t max);

// Checks the inline dataset: size (RESOURCE_EXHAUSTED above the limit), the sha256 format,
// and that a given sha256 matches the text (INVALID_ARGUMENT, field spec.dataset.sha256).
// Returns the text's lowercase sha256. Precondition: dataset.text() is not empty.
absl::StatusOr<std::string> CheckInlineDataset(const ablate::v1::Dataset& dataset,
                                               const SpecLimits& limits);

// Validates everything but the dataset's bytes and fills defaults in `spec` (dtype FP32 when
// unspecified, masks_per_task and max_attempts when 0, block_tokens when 0 (BlockTokensOf;
// else it must be in 1..seq_len-1), hex digests lowered, model and dataset sha256 checked for
// format, the model family and its shape checked and normalized by NormalizeModelShape in
// storage/model_family.h). `text_bytes` is the dataset's length in bytes: each token is at
// least one byte, except the one space marker a sentencepiece-style tokenizer prepends, so
// fewer than n_chunks * seq_len - 1 bytes (less one per chunk with bos_per_chunk) can never
// give enough tokens. Errors: INVALID_ARGUMENT naming the field.
absl::Status NormalizeSpec(const SpecLimits& limits, int64_t text_bytes,
                           ablate::v1::JobSpec* spec);

// Scored tokens per block of the per-block NLL when a spec says 0 (JobSpec.block_tokens).
inline constexpr int kDefaultBlockTokens = 64;

// The spec's block_tokens, or for 0 (jobs stored before per-block NLL) the default:
// min(64, seq_len - 1), at least 1.
int BlockTokensOf(const ablate::v1::JobSpec& spec);

// Scored tokens of each block of the job's per-block NLL, chunk-major (analysis::BlockSizes).
std::vector<int64_t> JobBlockSizes(const ablate::v1::JobSpec& spec);

// 1 + n_layer * n_head: the masks of one phase.
int64_t MasksPerPhase(const ablate::v1::JobSpec& spec);

// All masks of the job: one phase, or two for SWEEP_FULL; SWEEP_ATTRIBUTION: the attribution
// mask plus, when verify_top_k > 0, the baseline and verify_top_k heads.
int64_t MasksTotal(const ablate::v1::JobSpec& spec);

// Splits mask indices first..last (inclusive) into consecutive groups of at most `per_task`.
std::vector<std::vector<int>> SplitIntoTasks(int first, int last, int per_task);

// "0,1,2" <-> {0, 1, 2}.
std::string JoinIndices(const std::vector<int>& indices);
absl::StatusOr<std::vector<int>> ParseIndices(absl::string_view text);

// Flat head indices ablated by a mask. `order` is the cumulative order in flat indices.
std::vector<int> IndividualMaskHeads(int index);
std::vector<int> CumulativeMaskHeads(const std::vector<int>& order, int k);

}  // namespace ablate::storage

#endif  // ABLATE_STORAGE_JOB_SPEC_H_
