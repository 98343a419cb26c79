#include "client/spec_yaml.h"

#include <yaml-cpp/yaml.h>

#include <set>

#include "absl/strings/str_cat.h"

namespace ablate::client {
namespace {

using nlohmann::json;

std::string Where(const std::string& path, const YAML::Mark& mark) {
  if (mark.is_null()) return path;
  return absl::StrCat(path, ":", mark.line + 1, ":", mark.column + 1);
}

absl::Status Error(const std::string& path, const YAML::Node& node, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(Where(path, node.Mark()), ": ", what));
}

// A value: scalars as strings, sequences as arrays `depth` levels deep at most.
absl::StatusOr<json> Value(const YAML::Node& node, const std::string& key,
                           const std::string& path, int depth) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return json(node.Scalar());
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return Error(path, node, absl::StrCat("'", key, "' has no value"));
    case YAML::NodeType::Map:
      return Error(path, node,
                   absl::StrCat("'", key, "' is a nested mapping; a spec is flat (one `key: "
                                          "value` per setting, see ablate submit --help)"));
    case YAML::NodeType::Sequence:
      break;
  }
  if (depth == 0) {
    return Error(path, node, absl::StrCat("'", key, "' nests lists too deeply"));
  }
  json out = json::array();
  for (const YAML::Node& item : node) {
    absl::StatusOr<json> v = Value(item, key, path, depth - 1);
    if (!v.ok()) return v.status();
    out.push_back(*std::move(v));
  }
  return out;
}

absl::StatusOr<json> Convert(const YAML::Node& root, const std::string& path) {
  if (root.IsNull()) return json::object();  // An empty file: no settings.
  if (!root.IsMap()) {
    return Error(path, root, "the spec must be a mapping of `key: value` lines");
  }
  json out = json::object();
  std::set<std::string> seen;
  for (const auto& entry : root) {
    if (!entry.first.IsScalar()) return Error(path, entry.first, "a key must be a plain name");
    const std::string key = entry.first.Scalar();
    if (!seen.insert(key).second) {
      return Error(path, entry.first, absl::StrCat("'", key, "' is given twice"));
    }
    absl::StatusOr<json> value = Value(entry.second, key, path, 2);
    if (!value.ok()) return value.status();
    out[key] = *std::move(value);
  }
  return out;
}

}  // namespace

absl::StatusOr<json> ParseYamlSpec(const std::string& text, const std::string& path) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(Where(path, e.mark), ": ", e.msg));
  }
  if (docs.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", docs.size(), " YAML documents; a spec is one"));
  }
  if (docs.empty()) return json::object();
  try {
    return Convert(docs[0], path);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(Where(path, e.mark), ": ", e.msg));
  }
}

}  // namespace ablate::client
