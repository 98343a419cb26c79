// Copyright: the ablate authors.
//
// LoadModel: a checkpoint folder made ready to evaluate: its weights digest (SHA-256 of
// model.safetensors, or of the shards' sha256sum listing; proto/artifact/checkpoint_files.h;
// checked against the expected digest when one is given), config + weights, tokenizer, and
// the engine on the requested device and dtype. ModelCache keeps a few of them, keyed by
// (folder, SHA-256, device, dtype), so a worker loads each model once.
//
// The digest is computed from the file before the weights are read; a file replaced between
// the two reads is not detected (the folder is expected to be immutable while in use).
//
// Thread-safety: LoadModel is reentrant. ModelCache is thread-safe (one mutex; a load holds it).
#ifndef ABLATE_WORKER_MODEL_CACHE_H_
#define ABLATE_WORKER_MODEL_CACHE_H_

#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "worker/engine/model.h"
#include "worker/engine/model_weights.h"
#include "worker/engine/text_tokenizer.h"

namespace ablate::worker {

// What identifies the model a result came from.
struct ModelFingerprint {
  std::string path;    // The folder as given.
  std::string sha256;     // Weights digest (proto/artifact/checkpoint_files.h).
  std::string tokenizer;  // "tokenizer.json" or "vocab.json+merges.txt" (TokenizerKind).
  engine::ModelConfig config;
};

struct LoadedModel {
  ModelFingerprint fingerprint;
  std::unique_ptr<engine::Model> engine;
  std::unique_ptr<engine::TextTokenizer> tokenizer;  // tokenizer.json, else vocab.json + merges.txt
};

// Errors: missing folder or file (NotFound, not permanent: another worker may see the path);
// digest mismatch and every checkpoint / tokenizer defect once the digest matched carry
// MarkPermanent (the bytes the job names cannot be evaluated anywhere); engine errors
// (device unavailable, dtype unsupported) are not permanent.
absl::StatusOr<std::shared_ptr<const LoadedModel>> LoadModel(
    const std::string& dir, const std::string& expected_sha256,
    const engine::EngineOptions& options);

class ModelCache {
 public:
  explicit ModelCache(int capacity) : capacity_(capacity < 1 ? 1 : capacity) {}

  // The cached model for the key, or LoadModel's result (cached when OK). With an empty
  // expected digest the folder is re-hashed on every call (nothing to key it by).
  absl::StatusOr<std::shared_ptr<const LoadedModel>> Get(const std::string& dir,
                                                         const std::string& expected_sha256,
                                                         const engine::EngineOptions& options);

 private:
  using Entry = std::pair<std::string, std::shared_ptr<const LoadedModel>>;
  const int capacity_;
  std::mutex mu_;
  std::list<Entry> entries_;  // Most recently used first.
};

}  // namespace ablate::worker

#endif  // ABLATE_WORKER_MODEL_CACHE_H_
