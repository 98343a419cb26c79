// Copyright: the ablate authors.
//
// Named model shapes for ablate-bench and tests (random weights): the config
// of a published checkpoint, without its weights.
//   gpt2-small     GPT-2 124M: 12 x 12 x 768, vocab 50257
//   pythia-160m    GPT-NeoX: 12 x 12 x 768, ff 3072, rotary 16 of 64, parallel
//                  residual, untied, vocab 50304
//   pythia-410m    GPT-NeoX: 24 x 16 x 1024, ff 4096, otherwise as 160m
//   smollm-135m    Llama: 30 x 9 (3 kv) x 576, ff 1536, tied, vocab 49152
//   tinyllama-1.1b Llama: 22 x 32 (4 kv) x 2048, ff 5632, untied, vocab 32000
//   llama-3.2-1b   Llama: 16 x 32 (8 kv) x 2048, ff 8192, llama3 rope, tied,
//                  vocab 128256
//   qwen2-0.5b     Qwen2: 24 x 14 (2 kv) x 896, ff 4864, q/k/v biases, tied,
//                  vocab 151936
//   mistral-tiny   Mistral: 4 x 8 (2 kv) x 256, ff 512, sliding window 64,
//                  vocab 32000 (a small stand-in: 7B does not fit here)
//
// Thread-safety: pure functions.
#ifndef ABLATE_WORKER_ENGINE_TOOLS_SHAPES_H_
#define ABLATE_WORKER_ENGINE_TOOLS_SHAPES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/engine/model_config.h"

namespace ablate::engine::bench {

// The config of a named shape; InvalidArgument listing the names otherwise.
absl::StatusOr<ModelConfig> ShapeConfig(const std::string& name);

// Every shape name, in the order above.
std::vector<std::string> ShapeNames();

}  // namespace ablate::engine::bench

#endif  // ABLATE_WORKER_ENGINE_TOOLS_SHAPES_H_
