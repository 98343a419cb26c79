// Copyright: the ablate authors.
#include "storage/task_sizing.h"

#include <algorithm>
#include <cmath>

namespace ablate::storage {

MaskCost EstimateMaskCost(const ablate::v1::JobSpec& spec) {
  const ablate::v1::ModelShape& s = spec.model().shape();
  const double d = s.n_embd() > 0 ? s.n_embd() : 768;
  const double vocab = s.vocab_size() > 0 ? s.vocab_size() : 50257;
  const double layers = std::max(1, s.n_layer());
  const double t = std::max(2, spec.seq_len());
  const double tokens = static_cast<double>(std::max(1, spec.n_chunks())) * t;
  const double block = (24 * d * d + 4 * t * d) * tokens;
  const double head = 2 * d * vocab * tokens;
  MaskCost cost;
  cost.clean_flops = layers * block;
  cost.individual_flops = ((layers - 1) / 2 + 1) * block + head;
  cost.cumulative_flops = layers * block + head;
  return cost;
}

int ChooseMasksPerTask(const ablate::v1::JobSpec& spec, const TaskSizing& sizing) {
  const MaskCost cost = EstimateMaskCost(spec);
  const bool cumulative = spec.sweep() == ablate::v1::SWEEP_CUMULATIVE ||
                          spec.sweep() == ablate::v1::SWEEP_FULL;
  const double per_mask = cumulative ? cost.cumulative_flops : cost.individual_flops;
  const double budget = sizing.target_task_seconds * sizing.slowest_worker_gflops * 1e9;
  const double masks = std::floor((budget - cost.clean_flops) / per_mask);
  return static_cast<int>(std::clamp(masks, 1.0, static_cast<double>(std::max(1, sizing.max_masks_per_task))));
}

}  // namespace ablate::storage
