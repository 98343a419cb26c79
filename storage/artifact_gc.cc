// ArtifactStore: collection (issue 10): stale partial uploads, unreferenced artifacts, and
// the free-space check that refuses new bytes before the disk is full.
#include <sys/statvfs.h>

#include <chrono>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "proto/artifact/digest.h"
#include "storage/artifact_store.h"

namespace ablate::storage {
namespace fs = std::filesystem;


int ArtifactStore::CollectStalePartials() {
  const auto cutoff = fs::file_time_type::clock::now() -
                      std::chrono::seconds(absl::ToInt64Seconds(options_.partial_ttl));
  std::vector<std::shared_ptr<Partial>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [digest, partial] : partials_) all.push_back(partial);
  }
  int dropped = 0;
  for (const std::shared_ptr<Partial>& partial : all) {
    if (!DropPartialIfOlder(*partial, cutoff)) continue;
    ++dropped;
  }
  return dropped;
}

absl::StatusOr<std::vector<ablate::v1::ArtifactInfo>> ArtifactStore::List() const {
  std::vector<ablate::v1::ArtifactInfo> out;
  std::error_code ec;
  for (const auto& dir : fs::directory_iterator(options_.root + "/sha256", ec)) {
    for (const auto& entry : fs::directory_iterator(dir.path(), ec)) {
      const std::string name = entry.path().filename().string();
      if (!artifact::IsValidDigest(name)) continue;
      absl::StatusOr<ablate::v1::ArtifactInfo> info = Stat(name);
      if (info.ok()) out.push_back(*std::move(info));
    }
  }
  if (ec) return absl::InternalError(absl::StrCat("list ", options_.root, ": ", ec.message()));
  return out;
}

absl::Status ArtifactStore::Delete(absl::string_view digest) {
  absl::StatusOr<ablate::v1::ArtifactInfo> info = Stat(digest);
  if (!info.ok()) return info.status();
  const std::string path = BlobPath(digest);
  std::error_code ec;
  // The blob first: without it Stat says NOT_FOUND, whatever happens to the .info after.
  if (!fs::remove(path, ec) || ec) {
    return absl::InternalError(absl::StrCat("remove ", path, ": ", ec.message()));
  }
  fs::remove(path + ".info", ec);
  std::lock_guard<std::mutex> lock(mu_);
  stored_bytes_ -= info->size();
  return absl::OkStatus();
}

absl::Status ArtifactStore::CheckFreeSpace(int64_t incoming_bytes) const {
  if (options_.min_free_bytes <= 0) return absl::OkStatus();
  struct statvfs vfs;
  if (::statvfs(options_.root.c_str(), &vfs) != 0) return absl::OkStatus();
  const int64_t free_bytes = static_cast<int64_t>(vfs.f_bavail) * vfs.f_frsize;
  if (free_bytes - incoming_bytes >= options_.min_free_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "disk nearly full: ", free_bytes, " bytes free under ", options_.root, ", the server keeps ",
      options_.min_free_bytes, " free (new jobs and uploads are refused; running jobs go on)"));
}

}  // namespace ablate::storage
