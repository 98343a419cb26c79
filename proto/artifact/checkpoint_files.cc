// Copyright: the ablate authors.
#include "proto/artifact/checkpoint_files.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "proto/artifact/digest.h"

namespace ablate::artifact {
namespace {

constexpr const char* kFixedNames[] = {kConfigFileName,  kSingleWeightsName, kShardIndexName,
                                       "tokenizer.json", "tokenizer_config.json",
                                       "vocab.json",     "merges.txt"};

// Five decimal digits as an int, or -1.
int FiveDigits(absl::string_view s) {
  if (s.size() != 5) return -1;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return -1;
  }
  int v = 0;
  return absl::SimpleAtoi(s, &v) ? v : -1;
}

}  // namespace

std::optional<std::pair<int, int>> ParseShardName(absl::string_view name) {
  // "model-" 5 "-of-" 5 ".safetensors"
  constexpr absl::string_view kPrefix = "model-", kMid = "-of-", kSuffix = ".safetensors";
  if (name.size() != kPrefix.size() + 5 + kMid.size() + 5 + kSuffix.size() ||
      !absl::StartsWith(name, kPrefix) || !absl::EndsWith(name, kSuffix) ||
      name.substr(kPrefix.size() + 5, kMid.size()) != kMid) {
    return std::nullopt;
  }
  const int k = FiveDigits(name.substr(kPrefix.size(), 5));
  const int n = FiveDigits(name.substr(kPrefix.size() + 5 + kMid.size(), 5));
  if (k < 1 || n < k) return std::nullopt;
  return std::make_pair(k, n);
}

bool IsModelFileName(absl::string_view name) {
  for (const char* fixed : kFixedNames) {
    if (name == fixed) return true;
  }
  return ParseShardName(name).has_value();
}

absl::StatusOr<std::vector<std::string>> WeightFiles(const std::vector<std::string>& names) {
  bool single = false, index = false;
  std::map<int, std::string> shards;  // K -> name.
  std::set<int> totals;
  for (const std::string& name : names) {
    single |= name == kSingleWeightsName;
    index |= name == kShardIndexName;
    if (auto kn = ParseShardName(name)) {
      shards[kn->first] = name;
      totals.insert(kn->second);
    }
  }
  if (single && (index || !shards.empty())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "has both ", kSingleWeightsName, " and sharded weights (", kShardIndexName,
        " / model-KKKKK-of-NNNNN.safetensors); keep one form"));
  }
  if (single) return std::vector<std::string>{kSingleWeightsName};
  if (!index && shards.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("has no weights (", kSingleWeightsName,
                                                   ", or shards with ", kShardIndexName, ")"));
  }
  if (!index) {
    return absl::InvalidArgumentError(absl::StrCat("has weight shards but no ", kShardIndexName));
  }
  if (shards.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "has ", kShardIndexName, " but no shards model-KKKKK-of-NNNNN.safetensors"));
  }
  if (totals.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "has shards of different totals (-of-", absl::StrJoin(totals, ", -of-"), ")"));
  }
  const int n = *totals.begin();
  std::vector<std::string> out;
  for (int k = 1; k <= n; ++k) {
    auto it = shards.find(k);
    if (it == shards.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "is missing shard ", k, " of ", n, " (model-", absl::Dec(k, absl::kZeroPad5), "-of-",
          absl::Dec(n, absl::kZeroPad5), ".safetensors)"));
    }
    out.push_back(it->second);
  }
  out.push_back(kShardIndexName);
  return out;
}

absl::StatusOr<std::vector<std::string>> ModelFilesIn(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat(dir, " is not a folder"));
  }
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (IsModelFileName(name) && entry.is_regular_file(ec)) names.push_back(name);
  }
  if (ec) return absl::UnavailableError(absl::StrCat("cannot list ", dir, ": ", ec.message()));
  std::sort(names.begin(), names.end());
  return names;
}

std::string TokenizerKind(const std::string& dir) {
  std::error_code ec;
  return std::filesystem::is_regular_file(std::filesystem::path(dir) / "tokenizer.json", ec)
             ? "tokenizer.json"
             : "vocab.json+merges.txt";
}

absl::StatusOr<std::string> WeightsDigest(const std::string& dir) {
  absl::StatusOr<std::vector<std::string>> names = ModelFilesIn(dir);
  if (!names.ok()) return names.status();
  absl::StatusOr<std::vector<std::string>> weights = WeightFiles(*names);
  if (!weights.ok()) {
    return absl::Status(weights.status().code(),
                        absl::StrCat(dir, " ", weights.status().message()));
  }
  if (weights->size() == 1) return Sha256OfFile(absl::StrCat(dir, "/", weights->front()));
  std::string listing;  // sha256sum's output for the weight files.
  for (const std::string& name : *weights) {
    absl::StatusOr<std::string> sha = Sha256OfFile(absl::StrCat(dir, "/", name));
    if (!sha.ok()) return sha.status();
    absl::StrAppend(&listing, *sha, "  ", name, "\n");
  }
  return Sha256Hex(listing);
}

}  // namespace ablate::artifact
