// Copyright: the ablate authors.
//
// Measures masks/s of the individual sweep for a model shape on this machine, to size tasks
// (issue 5: each task should take seconds on the slowest worker). Random weights; the cost
// does not depend on the values. One mask per layer (each layer has the same number of heads)
// plus the baseline make the mix of the whole individual sweep: a mask whose first ablated
// layer is l runs layers l..L-1 and the LM head.
//
//   artifacts_task_sizing_bench [n_layer n_head n_embd n_positions vocab n_chunks seq_len reps]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "worker/engine/model.h"
#include "worker/engine/model_random.h"

namespace {

double CpuSeconds() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         1e-6 * (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

int Arg(int argc, char** argv, int i, int fallback) {
  return argc > i ? std::atoi(argv[i]) : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  namespace engine = ablate::engine;
  engine::ModelConfig config;
  config.n_layer = Arg(argc, argv, 1, 12);
  config.n_head = Arg(argc, argv, 2, 12);
  config.n_embd = Arg(argc, argv, 3, 768);
  config.n_positions = Arg(argc, argv, 4, 1024);
  config.vocab_size = Arg(argc, argv, 5, 50257);
  const int n_chunks = Arg(argc, argv, 6, 2);
  const int seq_len = Arg(argc, argv, 7, 1024);
  const int reps = Arg(argc, argv, 8, 1);
  engine::EngineOptions options;
  auto model = engine::Model::Create(engine::RandomWeights(config, 1), options);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
    return 1;
  }
  std::vector<engine::HeadMask> masks = {{}};
  for (int l = 0; l < config.n_layer; ++l) masks.push_back({l * config.n_head});
  torch::Tensor chunks = torch::randint(config.vocab_size, {n_chunks, seq_len}, torch::kInt64);
  double best = 1e30, best_cpu = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto start = std::chrono::steady_clock::now();
    const double cpu0 = CpuSeconds();
    auto result = (*model)->Evaluate(chunks, masks, engine::Method::kZero);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!result.ok()) {
      std::fprintf(stderr, "%s\n", result.status().ToString().c_str());
      return 1;
    }
    best = std::min(best, s);
    best_cpu = std::min(best_cpu, CpuSeconds() - cpu0);
  }
  // FLOPs of this evaluation under storage/task_sizing.h's model: a clean pass (L blocks),
  // mask l runs blocks l..L-1, every mask (and the baseline) runs the LM head.
  const double d = config.n_embd, t = seq_len, tokens = double{n_chunks} * seq_len;
  const double block = (24 * d * d + 4 * t * d) * tokens;
  const double head = 2 * d * config.vocab_size * tokens;
  const double L = config.n_layer;
  const double flops = L * block + (L * (L + 1) / 2) * block + masks.size() * head;
  const double per_mask = best / static_cast<double>(masks.size());
  std::printf("L=%d H=%d d=%d V=%d chunks=%dx%d threads=%d: %zu masks in %.3f s (cpu %.3f s)"
              " -> %.2f masks/s, %.3f s/mask; sweep of %d masks ~ %.1f s; model %.1f GFLOP,"
              " %.1f GFLOP/s wall, %.1f GFLOP/cpu-s\n",
              config.n_layer, config.n_head, config.n_embd, config.vocab_size, n_chunks, seq_len,
              engine::DefaultThreads(), masks.size(), best, best_cpu, 1.0 / per_mask, per_mask,
              1 + config.n_layer * config.n_head, per_mask * (1 + config.n_layer * config.n_head),
              flops / 1e9, flops / 1e9 / best, flops / 1e9 / best_cpu);
  return 0;
}
