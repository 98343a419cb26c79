// Copyright: the ablate authors.
//
// The files of a Hugging Face checkpoint folder that ablate reads (and a model artifact
// carries), which of them hold the weights, and the weights digest that names a checkpoint
// in a job (ModelRef.sha256). Shared by the client (submit, upload), the worker (model
// fingerprint) and the archive format, so all three agree.
//
// Model files: config.json; the weights, either model.safetensors or the shards
// model-KKKKK-of-NNNNN.safetensors (five digits each, K = 1..N) with
// model.safetensors.index.json; the tokenizer files tokenizer.json, tokenizer_config.json,
// vocab.json, merges.txt. Anything else in the folder (pytorch_model.bin, README.md, ...) is
// not a model file.
//
// Weights digest (ModelRef.sha256), lower-case hex:
// - single file: SHA-256 of model.safetensors (what `sha256sum model.safetensors` prints);
// - sharded: SHA-256 of the text `sha256sum` prints for the shards in order K = 1..N and then
//   the index, i.e. of the lines "<hex sha256>  <name>\n", so in a C locale
//   `sha256sum model-*-of-*.safetensors model.safetensors.index.json | sha256sum`.
// Every byte of every weight file is read once; nothing is cached.
//
// Thread-safety: pure / reentrant functions.
#ifndef ABLATE_PROTO_ARTIFACT_CHECKPOINT_FILES_H_
#define ABLATE_PROTO_ARTIFACT_CHECKPOINT_FILES_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ablate::artifact {

inline constexpr char kConfigFileName[] = "config.json";
inline constexpr char kSingleWeightsName[] = "model.safetensors";
inline constexpr char kShardIndexName[] = "model.safetensors.index.json";

// True for a model file name (see above).
bool IsModelFileName(absl::string_view name);

// (K, N) of a shard name "model-KKKKK-of-NNNNN.safetensors" with 1 <= K <= N; nullopt for any
// other name.
std::optional<std::pair<int, int>> ParseShardName(absl::string_view name);

// The weight files among `names` (other names are ignored), in digest order: {"model.safetensors"}
// or the shards K = 1..N followed by the index. INVALID_ARGUMENT naming what is wrong: no
// weights, both model.safetensors and shards/index, shards without the index or the index
// without shards, shards that disagree on N, a shard missing.
absl::StatusOr<std::vector<std::string>> WeightFiles(const std::vector<std::string>& names);

// The model file names present in `dir` as regular files, sorted. NOT_FOUND if `dir` is not a
// folder.
absl::StatusOr<std::vector<std::string>> ModelFilesIn(const std::string& dir);

// The tokenizer a worker uses for the folder: "tokenizer.json" when the folder has one, else
// "vocab.json+merges.txt" (GPT-2 byte-level BPE).
std::string TokenizerKind(const std::string& dir);

// The weights digest of a checkpoint folder (see above). Errors: those of WeightFiles (naming
// the folder), unreadable files.
absl::StatusOr<std::string> WeightsDigest(const std::string& dir);

}  // namespace ablate::artifact

#endif  // ABLATE_PROTO_ARTIFACT_CHECKPOINT_FILES_H_
