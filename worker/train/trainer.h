// Copyright: the ablate authors.
//
// Trains a small GPT-2 from scratch on a plain-text file with AdamW and writes
// a Hugging Face checkpoint folder (config.json, model.safetensors, vocab.json,
// merges.txt). Deterministic: the same options, LibTorch/OpenBLAS build and
// CPU family give the same bytes (fixed seed, no dropout, batches drawn from a
// seeded std::mt19937_64, LibTorch and OpenBLAS both pinned to `threads`
// threads, whose number changes the rounding of matmuls).
//
// After training, the held-out text is cut into chunks of seq_len tokens and
// scored three ways: the trained fp32 weights with the training forward, the
// saved checkpoint reloaded with LoadCheckpoint (so at the saved precision),
// and that checkpoint through the inference engine (Model::Evaluate, clean
// mask). The last two must agree to 1e-4 relative or Train fails: the
// trainer's model and the engine compute the same function.
//
// Thread-safety: Train sets LibTorch's global thread count; run one at a time.
#ifndef ABLATE_WORKER_TRAIN_TRAINER_H_
#define ABLATE_WORKER_TRAIN_TRAINER_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "worker/engine/model.h"
#include "worker/engine/model_weights.h"

namespace ablate::train {

struct TrainOptions {
  std::string train_text;     // Plain UTF-8 text to train on.
  std::string heldout_text;   // Plain UTF-8 text to report perplexity on.
  std::string tokenizer_dir;  // vocab.json + merges.txt (GPT-2's).
  std::string out_dir;        // Checkpoint folder to write.
  // Model shape; vocab_size is taken from the tokenizer.
  engine::ModelConfig model{/*n_layer=*/4, /*n_head=*/4, /*n_embd=*/64,
                           /*n_positions=*/256};
  int seq_len = 256;   // Tokens per training / evaluation chunk.
  int batch_size = 8;  // Chunks per step.
  int steps = 1000;
  int warmup_steps = 100;     // Linear warm-up, then cosine decay.
  double lr = 3e-3;           // Peak learning rate.
  double min_lr = 3e-4;       // Learning rate at the last step.
  double weight_decay = 0.1;  // On matrices and embeddings only.
  double beta1 = 0.9, beta2 = 0.95;
  double grad_clip = 1.0;  // Global L2 norm.
  uint64_t seed = 1234;
  int threads = 1;  // LibTorch and OpenBLAS threads (results depend on it).
  engine::DType save_dtype = engine::DType::kFloat16;
  int log_every = 50;  // Steps between progress lines; 0 = none.
  // Receives progress lines (stderr in the command).
  std::function<void(const std::string&)> log;
};

struct TrainReport {
  int64_t n_params = 0;
  int64_t train_tokens = 0;
  int64_t heldout_tokens_scored = 0;  // n_chunks * (seq_len - 1).
  int64_t heldout_chunks = 0;
  int steps = 0;
  double train_seconds = 0;       // The optimisation loop only.
  double final_train_loss = 0;    // Mean of the last log_every steps.
  double heldout_ppl_fp32 = 0;    // Trained weights before saving.
  double heldout_ppl_saved = 0;   // Reloaded checkpoint, training forward.
  double heldout_ppl_engine = 0;  // Reloaded checkpoint, inference engine.
  std::string safetensors_sha256;
};

absl::StatusOr<TrainReport> Train(const TrainOptions& options);

// The learning rate at `step` (0-based): linear warm-up to lr over
// warmup_steps, then cosine decay to min_lr at the last step.
double LearningRate(const TrainOptions& options, int step);

}  // namespace ablate::train

#endif  // ABLATE_WORKER_TRAIN_TRAINER_H_
