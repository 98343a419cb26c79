// Spec files in YAML (yaml-cpp): a flat mapping of setting -> value, turned into the JSON
// object the spec reader (spec.h) assigns from. Scalars become JSON strings (the reader
// converts them to the field's type); a sequence becomes an array (only cumulative_order
// takes one). Thread-safe.
#ifndef ABLATE_CLIENT_SPEC_YAML_H_
#define ABLATE_CLIENT_SPEC_YAML_H_

#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace ablate::client {

// Errors (InvalidArgument, naming `path` and the line): YAML syntax, more than one document,
// a top level that is not a mapping, a key that is not a plain scalar, a duplicate key, a key
// without a value, a nested mapping (nothing in a spec nests), a sequence nested deeper than
// cumulative_order's [[L, H], ...].
absl::StatusOr<nlohmann::json> ParseYamlSpec(const std::string& text, const std::string& path);

}  // namespace ablate::client

#endif  // ABLATE_CLIENT_SPEC_YAML_H_
