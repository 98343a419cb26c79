// Copyright: the ablate authors.
#include "worker/model_cache.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "proto/artifact/checkpoint_files.h"
#include "worker/engine/checkpoint.h"
#include "worker/status_util.h"

namespace ablate::worker {
namespace {

std::string CacheKey(const std::string& dir, const std::string& sha,
                     const engine::EngineOptions& options) {
  return absl::StrCat(dir, "|", sha, "|", options.device, "|",
                      engine::DTypeName(options.dtype));
}

// The folder's weights digest (proto/artifact/checkpoint_files.h), checked against `expected`
// when given. Weights missing or incomplete here are NOT_FOUND (not permanent: another
// worker may see the whole folder).
absl::StatusOr<std::string> CheckDigest(const std::string& dir, const std::string& expected) {
  absl::StatusOr<std::string> sha = artifact::WeightsDigest(dir);
  if (!sha.ok()) {
    if (sha.status().code() == absl::StatusCode::kInvalidArgument) {
      return absl::NotFoundError(sha.status().message());
    }
    return sha.status();
  }
  if (!expected.empty() && absl::AsciiStrToLower(expected) != *sha) {
    return MarkPermanent(absl::FailedPreconditionError(
        absl::StrCat("SHA-256 mismatch for the weights of ", dir, ": expected ", expected,
                     ", the folder has ", *sha)));
  }
  return *sha;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const LoadedModel>> LoadModel(
    const std::string& dir, const std::string& expected_sha256,
    const engine::EngineOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat("model folder ", dir, " does not exist"));
  }
  absl::StatusOr<std::string> sha = CheckDigest(dir, expected_sha256);
  if (!sha.ok()) return sha.status();
  absl::StatusOr<engine::ModelWeights> weights = engine::LoadCheckpoint(dir);
  if (!weights.ok()) return MarkPermanent(weights.status());
  absl::StatusOr<std::unique_ptr<engine::TextTokenizer>> tokenizer = engine::LoadTokenizer(dir);
  if (!tokenizer.ok()) return MarkPermanent(tokenizer.status());
  auto model = std::make_shared<LoadedModel>();
  model->fingerprint.path = dir;
  model->fingerprint.sha256 = *sha;
  model->fingerprint.tokenizer = artifact::TokenizerKind(dir);
  model->fingerprint.config = weights->config;
  absl::StatusOr<std::unique_ptr<engine::Model>> engine =
      engine::Model::Create(std::move(*weights), options);
  if (!engine.ok()) return engine.status();
  model->engine = std::move(*engine);
  model->tokenizer = std::move(*tokenizer);
  return std::shared_ptr<const LoadedModel>(std::move(model));
}

absl::StatusOr<std::shared_ptr<const LoadedModel>> ModelCache::Get(
    const std::string& dir, const std::string& expected_sha256,
    const engine::EngineOptions& options) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string key = CacheKey(dir, absl::AsciiStrToLower(expected_sha256), options);
  if (!expected_sha256.empty()) {
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->first != key) continue;
      entries_.splice(entries_.begin(), entries_, it);
      return entries_.front().second;
    }
  }
  spdlog::info("worker: loading model {} ({} {})", dir, options.device,
               engine::DTypeName(options.dtype));
  absl::StatusOr<std::shared_ptr<const LoadedModel>> model =
      LoadModel(dir, expected_sha256, options);
  if (!model.ok() || expected_sha256.empty()) return model;
  entries_.emplace_front(key, *model);
  while (static_cast<int>(entries_.size()) > capacity_) entries_.pop_back();
  return model;
}

}  // namespace ablate::worker
