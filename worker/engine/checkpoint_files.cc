// Copyright: the ablate authors.
#include "worker/engine/checkpoint_files.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace ablate::engine::internal {
namespace {

using Json = nlohmann::json;

// A shard must be a plain file name inside the folder.
bool PlainFileName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find('/') == std::string::npos &&
         name.find('\\') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

absl::StatusOr<Json> ReadIndex(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(path + ": cannot open");
  std::stringstream text;
  text << in.rdbuf();
  Json j;
  try {
    j = Json::parse(text.str());
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": bad JSON: ", e.what()));
  }
  if (!j.is_object() || !j.contains("weight_map") ||
      !j["weight_map"].is_object() || j["weight_map"].empty()) {
    return absl::InvalidArgumentError(
        path + ": needs a non-empty \"weight_map\" object");
  }
  for (const auto& [name, file] : j["weight_map"].items()) {
    if (!file.is_string() || !PlainFileName(file.get<std::string>())) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": tensor '", name, "' maps to ", file.dump(),
                       ", not a file name in the checkpoint folder"));
    }
  }
  return j;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CheckpointFiles>> CheckpointFiles::Open(
    const std::string& dir) {
  std::unique_ptr<CheckpointFiles> files(new CheckpointFiles);
  const std::string single = (std::filesystem::path(dir) / kSingleWeightsFile);
  const std::string index = (std::filesystem::path(dir) / kWeightsIndexFile);
  std::error_code ec;
  const bool sharded = !std::filesystem::exists(single, ec) &&
                       std::filesystem::exists(index, ec);
  files->path_ = sharded ? index : single;
  absl::Status s =
      sharded ? files->OpenSharded(dir, index) : files->AddFile(single);
  if (!s.ok()) {
    if (!sharded && s.code() == absl::StatusCode::kNotFound) {
      return absl::NotFoundError(absl::StrCat(
          s.message(), " (and there is no ", kWeightsIndexFile, ")"));
    }
    return s;
  }
  return files;
}

absl::Status CheckpointFiles::AddFile(const std::string& path) {
  absl::StatusOr<std::unique_ptr<SafetensorsReader>> reader =
      SafetensorsReader::Open(path);
  if (!reader.ok()) return reader.status();
  for (const auto& [name, entry] : (*reader)->entries()) {
    auto [it, inserted] = tensors_.emplace(name, TensorRef{reader->get(), &entry});
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", name, "' is in both ",
                       it->second.reader->path(), " and ", path));
    }
  }
  readers_.push_back(*std::move(reader));
  return absl::OkStatus();
}

absl::Status CheckpointFiles::OpenSharded(const std::string& dir,
                                          const std::string& index) {
  absl::StatusOr<Json> j = ReadIndex(index);
  if (!j.ok()) return j.status();
  std::set<std::string> shards;
  for (const auto& [name, file] : (*j)["weight_map"].items())
    shards.insert(file.get<std::string>());
  for (const std::string& shard : shards) {
    const std::string path = std::filesystem::path(dir) / shard;
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      return absl::NotFoundError(absl::StrCat(
          index, ": shard ", shard, " is missing from the folder"));
    }
    absl::Status s = AddFile(path);
    if (!s.ok()) return s;
  }
  for (const auto& [name, file] : (*j)["weight_map"].items()) {
    auto it = tensors_.find(name);
    const std::string want =
        (std::filesystem::path(dir) / file.get<std::string>()).string();
    if (it == tensors_.end() || it->second.reader->path() != want) {
      return absl::InvalidArgumentError(
          absl::StrCat(index, ": tensor '", name, "' is listed in ",
                       file.get<std::string>(), " but that shard does not hold it"));
    }
  }
  return absl::OkStatus();
}

}  // namespace ablate::engine::internal
