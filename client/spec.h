// Building a SubmitJobRequest from `ablate submit` flags and/or a spec file, with the model's
// shape from its config.json and the SHA-256 fingerprints of the checkpoint and the text.
// (ReadModelShape, DefaultBos: client/model_shape.h.)
//
// Spec files: JSON (an object) or YAML (read with yaml-cpp: comments, quotes, block and flow
// lists, multi-line strings), one flat mapping of settings; nested mappings, unknown keys,
// duplicate keys and values of the wrong type are errors naming the file and line. Keys, with
// `-` or `_`:
//   model, text, n_chunks, seq_len, method, sweep, dtype, priority, device_kind,
//   masks_per_task, request_id, name, dataset_name, bos_per_chunk, max_attempts, upload,
//   verify_top_k (attribution sweeps),
//   cumulative_order (list of "L.H" strings, or in JSON also [[layer, head], ...]).
// Relative `model` / `text` paths are taken relative to the spec file's folder. Flags given on
// the command line win over the file. Thread-compatible.
#ifndef ABLATE_CLIENT_SPEC_H_
#define ABLATE_CLIENT_SPEC_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "absl/status/statusor.h"
#include "client/model_shape.h"

namespace ablate::client {

struct SubmitOptions {
  std::optional<std::string> model;  // Checkpoint folder.
  std::optional<std::string> text;   // Text file.
  std::optional<int> n_chunks;       // Default 2.
  std::optional<int> seq_len;        // Default min(1024, n_positions).
  std::optional<std::string> method;       // Default zero.
  std::optional<std::string> sweep;        // Default full.
  std::optional<std::string> dtype;        // Default fp32.
  std::optional<std::string> device_kind;  // Default any.
  std::optional<int> priority;
  std::optional<int> masks_per_task;
  std::optional<int> max_attempts;
  std::optional<int> verify_top_k;  // SWEEP_ATTRIBUTION: heads verified exactly (default 0).
  std::optional<bool> bos_per_chunk;  // --bos / --no-bos; default DefaultBos(shape).
  // Upload the model folder as an artifact first and name it by digest (workers fetch it).
  std::optional<bool> upload;
  std::optional<std::string> request_id;  // Default: 32 random hex digits.
  std::optional<std::string> name;
  std::optional<std::string> dataset_name;  // Default: the text file's name.
  std::vector<std::pair<int, int>> cumulative_order;

  // Fills every field unset here from `other`.
  void FillFrom(const SubmitOptions& other);
};

// Parses a spec file (JSON or YAML). Errors (InvalidArgument): unreadable file,
// syntax, unknown key, wrong value type.
absl::StatusOr<SubmitOptions> LoadSpecFile(const std::string& path);

// "0.1, 3.2" or "[0.1, 3.2]" -> {(0,1), (3,2)}.
absl::StatusOr<std::vector<std::pair<int, int>>> ParseHeadList(const std::string& text);

// Lower-case hex SHA-256 (OpenSSL EVP).
absl::StatusOr<std::string> Sha256File(const std::string& path);
std::string Sha256Hex(const std::string& data);

// 32 random hex digits.
std::string RandomRequestId();

// The full request: model shape (client/model_shape.h), weights digest
// and tokenizer kind (proto/artifact/checkpoint_files.h), text inline with its hash, enums
// parsed, defaults (bos_per_chunk: DefaultBos of the shape).
// Errors: missing model or text, unreadable files, an unsupported model family, bad enum
// names, non-positive sizes, a BOS asked of a model without bos_token_id.
absl::StatusOr<v1::SubmitJobRequest> BuildSubmitRequest(const SubmitOptions& options);

}  // namespace ablate::client

#endif  // ABLATE_CLIENT_SPEC_H_
