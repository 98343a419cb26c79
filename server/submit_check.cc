#include "server/submit_check.h"

#include <nlohmann/json.hpp>

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "proto/artifact/model_archive.h"
#include "storage/sha256.h"
#include "storage/status_macros.h"

namespace ablate::server {
namespace {

namespace v1 = ::ablate::v1;

constexpr int64_t kMaxConfigBytes = int64_t{1} << 20;

// Bytes of config.json inside a stored model archive (members in archive order, each a
// 512-byte header then its data padded to 512).
absl::StatusOr<std::string> ReadConfig(const storage::ArtifactStore& store,
                                       const std::string& digest) {
  ABLATE_ASSIGN_OR_RETURN(std::unique_ptr<storage::ArtifactStore::Blob> blob,
                          store.OpenBlob(digest));
  int64_t offset = 0;
  for (const v1::ArtifactFile& file : blob->info().files()) {
    offset += artifact::kTarBlock;
    if (file.name() == "config.json") {
      if (file.size() > kMaxConfigBytes) {
        return absl::InvalidArgumentError(absl::StrCat(
            "spec.model.artifact_digest: config.json is ", file.size(), " bytes"));
      }
      std::string out, part;
      while (static_cast<int64_t>(out.size()) < file.size()) {
        ABLATE_RETURN_IF_ERROR(blob->Read(offset + static_cast<int64_t>(out.size()),
                                          static_cast<size_t>(file.size()) - out.size(), &part));
        if (part.empty()) return absl::DataLossError("model artifact ends inside config.json");
        out += part;
      }
      return out;
    }
    offset += (file.size() + artifact::kTarBlock - 1) / artifact::kTarBlock * artifact::kTarBlock;
  }
  return absl::InvalidArgumentError("spec.model.artifact_digest: the artifact has no config.json");
}

// The first of `keys` that config.json holds as an integer; -1 if none.
int64_t ConfigInt(const nlohmann::json& config, std::initializer_list<const char*> keys) {
  for (const char* key : keys) {
    auto it = config.find(key);
    if (it != config.end() && it->is_number_integer()) return it->get<int64_t>();
  }
  return -1;
}

}  // namespace

absl::Status CheckInlineText(const v1::Dataset& dataset, int64_t max_inline_bytes) {
  const int64_t bytes = static_cast<int64_t>(dataset.text().size());
  if (bytes <= max_inline_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "spec.dataset.text is ", bytes, " bytes inline, over the server's inline limit of ",
      max_inline_bytes, "; upload it as a text artifact (ablate upload FILE) and name it in "
      "spec.dataset.artifact_digest (ablate submit does this by itself)"));
}

absl::Status ResolveTextArtifact(const storage::ArtifactStore& store, int64_t max_dataset_bytes,
                                 v1::Dataset* dataset) {
  if (dataset->artifact_digest().empty()) return absl::OkStatus();
  const std::string digest = absl::AsciiStrToLower(dataset->artifact_digest());
  if (!dataset->text().empty()) {
    return absl::InvalidArgumentError(
        "spec.dataset.artifact_digest and spec.dataset.text are both set (give one)");
  }
  if (!dataset->sha256().empty() && absl::AsciiStrToLower(dataset->sha256()) != digest) {
    return absl::InvalidArgumentError(
        "spec.dataset.sha256 differs from spec.dataset.artifact_digest (a text artifact's "
        "digest is its text's SHA-256)");
  }
  absl::StatusOr<v1::ArtifactInfo> info = store.Stat(digest);
  if (!info.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "spec.dataset.artifact_digest: ", info.status().message(), " (upload the text first)"));
  }
  if (info->kind() != v1::ARTIFACT_KIND_TEXT) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec.dataset.artifact_digest: artifact ", digest, " is not a text"));
  }
  if (info->size() > max_dataset_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "spec.dataset.artifact_digest: the text is ", info->size(),
        " bytes, over the server's dataset limit of ", max_dataset_bytes));
  }
  ABLATE_ASSIGN_OR_RETURN(std::unique_ptr<storage::ArtifactStore::Blob> blob,
                          store.OpenBlob(digest));
  std::string text, part;
  while (static_cast<int64_t>(text.size()) < blob->size()) {
    ABLATE_RETURN_IF_ERROR(blob->Read(static_cast<int64_t>(text.size()), size_t{1} << 20, &part));
    if (part.empty()) return absl::DataLossError("text artifact shorter than its size");
    text += part;
  }
  dataset->set_text(std::move(text));
  dataset->set_sha256(digest);
  dataset->set_artifact_digest(digest);
  return absl::OkStatus();
}

absl::Status CheckShapeAgainstArtifact(const storage::ArtifactStore& store,
                                       const v1::ModelRef& model) {
  if (model.artifact_digest().empty()) return absl::OkStatus();
  ABLATE_ASSIGN_OR_RETURN(std::string bytes,
                          ReadConfig(store, absl::AsciiStrToLower(model.artifact_digest())));
  const nlohmann::json config = nlohmann::json::parse(bytes, nullptr, false);
  if (!config.is_object()) {
    return absl::InvalidArgumentError(
        "spec.model.artifact_digest: the artifact's config.json is not a JSON object");
  }
  const v1::ModelShape& shape = model.shape();
  const struct {
    const char* field;
    int64_t want;
    int64_t have;
    bool required;
  } kChecks[] = {
      {"n_layer", shape.n_layer(), ConfigInt(config, {"n_layer", "num_hidden_layers"}), true},
      {"n_head", shape.n_head(), ConfigInt(config, {"n_head", "num_attention_heads"}), true},
      {"n_embd", shape.n_embd(), ConfigInt(config, {"n_embd", "hidden_size"}), false},
      {"n_positions", shape.n_positions(),
       ConfigInt(config, {"n_positions", "max_position_embeddings"}), false},
      {"vocab_size", shape.vocab_size(), ConfigInt(config, {"vocab_size"}), false}};
  for (const auto& c : kChecks) {
    if (c.have < 0 && !c.required) continue;
    if ((c.required || c.want != 0) && c.want != c.have) {
      return absl::InvalidArgumentError(absl::StrCat(
          "spec.model.shape.", c.field, " is ", c.want, " but the artifact's config.json says ",
          c.have < 0 ? std::string("nothing") : absl::StrCat(c.have)));
    }
  }
  return absl::OkStatus();
}

}  // namespace ablate::server
