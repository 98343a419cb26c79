// Copyright: the ablate authors.
//
// Random weights of any supported family for tests and benchmarks (no real
// checkpoint is reachable here), with exactly the tensors the config implies
// (model_weights.h). Matrices and embeddings are N(0, weight_std^2); biases
// N(0, bias_std^2); norm weights 1 + N(0, ln_std^2) and LayerNorm biases N(0,
// ln_std^2). Deterministic in `seed`; GPT-2 draws in the same order as before
// families existed.
//
// Thread-safety: uses its own generator; safe to call from several threads.
#ifndef ABLATE_WORKER_ENGINE_MODEL_RANDOM_H_
#define ABLATE_WORKER_ENGINE_MODEL_RANDOM_H_

#include <cstdint>

#include "worker/engine/model_weights.h"

namespace ablate::engine {

struct RandomInit {
  double weight_std = 0.02;  // GPT-2's initializer range
  double bias_std = 0.0;
  double ln_std = 0.0;
};

ModelWeights RandomWeights(const ModelConfig& config, uint64_t seed,
                          const RandomInit& init = {});

}  // namespace ablate::engine

#endif  // ABLATE_WORKER_ENGINE_MODEL_RANDOM_H_
