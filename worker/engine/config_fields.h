// Copyright: the ablate authors.
//
// Internal to config.cc and config_families.cc: typed reads of config.json
// fields that remember the first error (so a parser reads every field it needs
// and checks once), each error naming the source and the field.
//
// Thread-safety: one Fields per parse; not shared.
#ifndef ABLATE_WORKER_ENGINE_CONFIG_FIELDS_H_
#define ABLATE_WORKER_ENGINE_CONFIG_FIELDS_H_

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/engine/model_config.h"

namespace ablate::engine::internal {

using Json = nlohmann::json;

class Fields {
 public:
  Fields(const Json& j, std::string source)
      : j_(j), source_(std::move(source)) {}

  // The value under `key`, or nullptr when absent or null.
  const Json* Get(const std::string& key) const;

  // A positive integer; absent: an error if `required`, else *out unchanged.
  void PositiveInt(const std::string& key, bool required, int* out);
  // A finite number; absent: *out unchanged.
  void Number(const std::string& key, double* out);
  // A boolean; absent: *out unchanged.
  void Bool(const std::string& key, bool* out);
  // A string; absent: *out unchanged.
  void String(const std::string& key, std::string* out);
  // Error unless `key` is absent, null, or one of `accepted`; `why` ends the
  // message.
  void OneOf(const std::string& key, const std::vector<Json>& accepted,
             const std::string& why);
  // Records an error about `key` (the value is quoted when present).
  void Fail(const std::string& key, const std::string& why);

  bool ok() const { return status_.ok(); }
  const absl::Status& status() const { return status_; }
  const std::string& source() const { return source_; }

 private:
  const Json& j_;
  std::string source_;
  absl::Status status_;
};

// Errors on fields of other architectures that would change the numbers
// (alibi, logit soft-capping, QK norms, ...) when set.
void RejectForeignFeatures(Fields* f);

// The family's fields into *c (config.cc dispatches on model_type).
void ParseGpt2Fields(Fields* f, ModelConfig* c);
void ParseNeoxFields(Fields* f, ModelConfig* c);
void ParseLlamaFields(Fields* f, ModelConfig* c);  // llama, mistral, qwen2

}  // namespace ablate::engine::internal

#endif  // ABLATE_WORKER_ENGINE_CONFIG_FIELDS_H_
