// Copyright: the ablate authors.
//
// Internal to the checkpoint loader: the safetensors files of a checkpoint
// folder, either one model.safetensors or the shards that
// model.safetensors.index.json names (Hugging Face's sharded format:
// {"metadata": {...}, "weight_map": {tensor name: shard file name}}). When both
// exist, model.safetensors wins (as in transformers).
//
// Errors (each naming the file): neither file present (NotFound), index not
// JSON or without a "weight_map" object of strings, a shard name that is not a
// plain file name in the folder, a missing shard (NotFound), a tensor the index
// places in a shard that does not hold it, a tensor held by two shards, and
// every safetensors error (safetensors.h).
//
// Thread-safety: immutable after Open.
#ifndef ABLATE_WORKER_ENGINE_CHECKPOINT_FILES_H_
#define ABLATE_WORKER_ENGINE_CHECKPOINT_FILES_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/engine/safetensors.h"

namespace ablate::engine::internal {

inline constexpr char kSingleWeightsFile[] = "model.safetensors";
inline constexpr char kWeightsIndexFile[] = "model.safetensors.index.json";

// Where one tensor lives.
struct TensorRef {
  const SafetensorsReader* reader = nullptr;
  const SafetensorsEntry* entry = nullptr;
};

class CheckpointFiles {
 public:
  static absl::StatusOr<std::unique_ptr<CheckpointFiles>> Open(
      const std::string& dir);

  // Every tensor of every file, by its name in the file.
  const std::map<std::string, TensorRef>& tensors() const { return tensors_; }
  // "model.safetensors" or the index file: what messages about the whole
  // checkpoint name.
  const std::string& path() const { return path_; }

 private:
  CheckpointFiles() = default;
  absl::Status AddFile(const std::string& path);
  absl::Status OpenSharded(const std::string& dir, const std::string& index);

  std::string path_;
  std::vector<std::unique_ptr<SafetensorsReader>> readers_;
  std::map<std::string, TensorRef> tensors_;
};

}  // namespace ablate::engine::internal

#endif  // ABLATE_WORKER_ENGINE_CHECKPOINT_FILES_H_
