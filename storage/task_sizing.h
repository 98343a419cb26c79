// Copyright: the ablate authors.
//
// Task sizing: how many masks go into one task so that a task takes seconds, not minutes, on
// the slowest worker (issue 5: a lost worker then costs little, and late joiners get work).
//
// Cost model (DESIGN.md section 3), in FLOPs per token of the n_chunks * seq_len tokens:
//   block     = 24 d^2 (QKV, output, MLP matmuls) + 4 T d (attention scores and mixing)
//   LM head   = 2 d V
//   a task    = one clean pass (L blocks, shared by its masks) + per mask the blocks from its
//               first ablated layer up, plus the LM head.
// An individual-sweep mask runs (L - 1) / 2 + 1 blocks on average (its first ablated layer is
// uniform over the layers; the baseline runs none); a cumulative mask runs close to all L
// (the first heads of the order can sit anywhere), so it is costed at L.
// masks_per_task = floor((target_seconds * slowest_flops - clean) / per_mask), within
// [1, max_masks]; the worst phase of the job's sweep decides.
//
// The rate of the slowest worker is configuration. Measured with artifacts_task_sizing_bench
// on the project's 2-vCPU build machine (shared, load ~6): GPT-2 small shape, 2 x 128 tokens,
// 13 masks (baseline + one per layer) = 592 GFLOP in 25.1 s wall (12.7 CPU-s): 23.6 GFLOP/s
// wall, 46.6 GFLOP per CPU-second, 1.9 s per mask; so 30 GFLOP/s is the default (one slow
// CPU worker). A tiny 3x4, d=32 model is dominated by the 50257-wide LM head and per-op
// overhead (0.25 s per mask), far below any target. GPU workers are 100-1000x faster, so tasks
// sized for a CPU take milliseconds there, which only costs RPC round trips.
//
// Thread-safety: pure functions.
#ifndef ABLATE_STORAGE_TASK_SIZING_H_
#define ABLATE_STORAGE_TASK_SIZING_H_

#include "ablate/v1/ablate.pb.h"

namespace ablate::storage {

struct TaskSizing {
  double target_task_seconds = 10;
  double slowest_worker_gflops = 30;
  int max_masks_per_task = 256;
};

struct MaskCost {
  double clean_flops = 0;       // The clean pass of one task.
  double individual_flops = 0;  // One individual-sweep mask, on average.
  double cumulative_flops = 0;  // One cumulative mask (upper estimate).
};

// From the spec's model shape, n_chunks and seq_len (which must be valid).
MaskCost EstimateMaskCost(const ablate::v1::JobSpec& spec);

// Masks per task for `spec` under `sizing` (>= 1).
int ChooseMasksPerTask(const ablate::v1::JobSpec& spec, const TaskSizing& sizing);

}  // namespace ablate::storage

#endif  // ABLATE_STORAGE_TASK_SIZING_H_
