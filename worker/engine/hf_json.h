// Internal to the engine: reading tokenizer.json fields with errors that name
// them, and building the pipeline pieces of hf_components.h from JSON.
#ifndef ABLATE_WORKER_ENGINE_HF_JSON_H_
#define ABLATE_WORKER_ENGINE_HF_JSON_H_

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "worker/engine/hf_components.h"

namespace ablate::engine {

using Json = nlohmann::json;

// The parsed file; NotFound if it does not exist.
absl::StatusOr<Json> ReadJson(const std::string& path);

// Errors about one field of the file.
class Fields {
 public:
  explicit Fields(std::string path) : path_(std::move(path)) {}
  absl::Status Error(const std::string& field, const std::string& what) const {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": ", field, ": ", what));
  }
  absl::Status Unsupported(const std::string& field, const Json& value) const {
    return Error(field, absl::StrCat(value.dump(), " is not supported"));
  }
  // A member that must be a string when present (default when absent/null).
  absl::StatusOr<std::string> String(const Json& obj, const std::string& field,
                                     const std::string& key, std::string def) const {
    if (!obj.contains(key) || obj[key].is_null()) return def;
    const Json& v = obj[key];
    if (!v.is_string()) return Error(absl::StrCat(field, ".", key), "must be a string");
    return v.get<std::string>();
  }
  absl::StatusOr<bool> Bool(const Json& obj, const std::string& field, const std::string& key,
                            bool def) const {
    if (!obj.contains(key) || obj[key].is_null()) return def;
    const Json& v = obj[key];
    if (!v.is_boolean()) return Error(absl::StrCat(field, ".", key), "must be true or false");
    return v.get<bool>();
  }
  absl::StatusOr<std::unique_ptr<HfRegex>> Pattern(const Json& obj,
                                                   const std::string& field) const {
    const std::string name = absl::StrCat(field, ".pattern");
    if (!obj.contains("pattern") || !obj["pattern"].is_object())
      return Error(name, "must be {\"Regex\": ...} or {\"String\": ...}");
    const Json& p = obj["pattern"];
    absl::StatusOr<std::unique_ptr<HfRegex>> re =
        absl::InvalidArgumentError("no pattern");
    if (p.contains("Regex") && p["Regex"].is_string()) {
      re = HfRegex::FromOniguruma(p["Regex"].get<std::string>());
    } else if (p.contains("String") && p["String"].is_string()) {
      re = HfRegex::FromLiteral(p["String"].get<std::string>());
    } else {
      return Error(name, "must be {\"Regex\": ...} or {\"String\": ...}");
    }
    if (!re.ok()) return Error(name, std::string(re.status().message()));
    return re;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Each null config gives nullptr; an unsupported type or option an error
// naming `field` (e.g. "normalizer.normalizers[1].type").
absl::StatusOr<std::unique_ptr<HfNormalizer>> BuildNormalizer(const Fields& f, const Json& n,
                                                             const std::string& field);
absl::StatusOr<std::unique_ptr<HfPreTokenizer>> BuildPreTokenizer(const Fields& f,
                                                                 const Json& p,
                                                                 const std::string& field);
absl::StatusOr<std::unique_ptr<HfDecoder>> BuildDecoder(const Fields& f, const Json& d,
                                                       const std::string& field);

}  // namespace ablate::engine

#endif  // ABLATE_WORKER_ENGINE_HF_JSON_H_
