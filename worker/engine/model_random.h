// Copyright: the ablate authors.
//
// Random GPT-2 weights for tests and benchmarks (no real checkpoint is
// reachable here). Matrices and embeddings are N(0, weight_std^2); biases N(0,
// bias_std^2); LayerNorm weights 1 + N(0, ln_std^2) and LayerNorm biases N(0,
// ln_std^2). Deterministic in `seed`.
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
