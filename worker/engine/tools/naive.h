// Copyright: the ablate authors.
//
// The benchmark's baseline: one plain full forward pass per mask (no batching
// of masks, no shared prefix, full [positions, vocab] log-softmax), built from
// the engine's own block functions so the comparison isolates what sharing and
// batching save.
//
// Thread-safety: a pure function of its arguments.
#ifndef ABLATE_WORKER_ENGINE_TOOLS_NAIVE_H_
#define ABLATE_WORKER_ENGINE_TOOLS_NAIVE_H_

#include <torch/torch.h>

#include <vector>

#include "worker/engine/model.h"
#include "worker/engine/model_forward.h"

namespace ablate::engine::bench {

// NLL sum of every mask under Method::kZero; chunks [N, T] on the model's
// device.
std::vector<double> NaiveZeroSweep(const internal::DeviceModel& m,
                                   const torch::Tensor& chunks,
                                   const std::vector<HeadMask>& masks);

}  // namespace ablate::engine::bench

#endif  // ABLATE_WORKER_ENGINE_TOOLS_NAIVE_H_
