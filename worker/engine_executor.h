// Copyright: the ablate authors.
//
// EngineExecutor: the real TaskExecutor. For a task it
//   1. gets the model from its ModelCache (digest verified before first use),
//   2. gets the dataset text by SHA-256 (fetched from the server once, digest verified, cached),
//   3. tokenizes (cached per model and dataset) and cuts the chunks (chunks.h),
//   4. evaluates the task's masks with engine::Model::Evaluate, in batches of
//      `masks_per_batch` so a cancel or lost lease stops it between batches; a
//      PHASE_ATTRIBUTION task (one mask, index 0) runs engine::Model::Attribute instead and
//      returns the clean run with every head's estimate (MaskResult.head_estimates).
// A model named by artifact_digest instead of a path is fetched into the ArtifactCache first
// (ModelRef.sha256, if set, is still checked against its weights digest).
// The checkpoint must be the model the task's ModelShape describes (family and shape,
// model_check.h); with bos_per_chunk, slot 0 of every chunk is the shape's bos_token_id.
// Errors a retry cannot fix (digest mismatch, bad checkpoint, model family or shape not the
// one the job names, no BOS known, text too short, head index out of range) carry
// MarkPermanent.
// Errors about the model go back to the server (and every client) naming only the job's
// own input (spec.model.path or spec.model.artifact_digest), never the worker's folders or
// the digests of what it found there; the details go to the worker's log. A path outside
// model_roots is refused before anything is read (not permanent: another worker may allow
// it).
//
// Thread-safety: Execute from one thread at a time.
#ifndef ABLATE_WORKER_ENGINE_EXECUTOR_H_
#define ABLATE_WORKER_ENGINE_EXECUTOR_H_

#include <list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "worker/artifact_cache.h"
#include "worker/engine/model.h"
#include "worker/model_cache.h"
#include "worker/task_executor.h"

namespace ablate::worker {

struct ExecutorOptions {
  engine::EngineOptions engine;  // device, threads, batch limits; dtype comes from each task.
  int max_cached_models = 2;
  int max_cached_datasets = 4;
  // Where models named by artifact digest (ModelRef.artifact_digest) come from; null = such
  // tasks fail (non-permanently: another worker may have a cache).
  std::shared_ptr<ArtifactCache> artifacts;
  // Issue 10: folders under which a task's ModelRef.path may be read (canonical, symlinks
  // resolved). Empty = none: only models fetched by artifact digest. A model given by
  // digest is always fetched, whatever its path says.
  std::vector<std::string> model_roots;
  // Masks per Evaluate call: the granularity of cancellation. 0 = a whole task at once
  // (fastest for the `mean` method, which recomputes the clean means per call).
  int masks_per_batch = 0;
  // Test hooks. Sleep this long per mask after each batch (interruptible by ShouldStop; the
  // batching, and so the numbers, stay those of a normal run).
  int test_sleep_per_mask_ms = 0;
  // Fail every task with a non-permanent error (a poison worker).
  bool test_fail_tasks = false;
};

class EngineExecutor : public TaskExecutor {
 public:
  explicit EngineExecutor(ExecutorOptions options);

  absl::StatusOr<TaskOutput> Execute(const ablate::v1::Task& task,
                                     const DatasetFetcher& fetch_dataset,
                                     TaskControl* control) override;

 private:
  using Tokens = std::vector<int>;
  absl::StatusOr<std::shared_ptr<const std::string>> GetDataset(const std::string& sha256,
                                                                const DatasetFetcher& fetch);
  absl::StatusOr<std::shared_ptr<const Tokens>> GetTokens(const LoadedModel& model,
                                                          const std::string& dataset_sha256,
                                                          const DatasetFetcher& fetch);
  struct Prepared;
  absl::StatusOr<Prepared> Prepare(const ablate::v1::Task& task, const DatasetFetcher& fetch);
  absl::StatusOr<std::vector<engine::MaskNll>> EvaluateMasks(
      const LoadedModel& model, const torch::Tensor& chunks,
      const std::vector<engine::HeadMask>& masks, engine::Method method, int64_t block_tokens,
      TaskControl* control);

  const ExecutorOptions options_;
  ModelCache models_;
  std::list<std::pair<std::string, std::shared_ptr<const std::string>>> datasets_;  // MRU first
  std::list<std::pair<std::string, std::shared_ptr<const Tokens>>> tokens_;        // MRU first
};

// Task.masks -> engine masks. Errors (permanent): a head index outside [0, n_layer * n_head),
// a head listed twice, or a PHASE_ATTRIBUTION mask that is not the task's only mask (index 0,
// no heads).
absl::StatusOr<std::vector<engine::HeadMask>> TaskMasks(const ablate::v1::Task& task,
                                                        const engine::ModelConfig& config);

}  // namespace ablate::worker

#endif  // ABLATE_WORKER_ENGINE_EXECUTOR_H_
