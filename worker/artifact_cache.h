// Copyright: the ablate authors.
//
// ArtifactCache: the worker's local copies of content-addressed artifacts (models uploaded
// with `ablate upload`), fetched from the server on first use, verified, bounded in size.
//
// Layout under `root` (may be shared by the worker processes of one machine):
//   LOCK                    flock'ed around every lookup, download and eviction
//   tmp/<digest>.fetch      a download in progress; a broken one resumes from its size
//   tmp/<digest>.unpack/    an entry being installed
//   entries/<digest>/       a verified entry: a model's unpacked checkpoint folder
//                           (config.json, model.safetensors, ...), or `data` for a text
//   entries/<digest>.meta   written after the entry is complete: kind, size and each file's
//                           size, mtime and inode at verification; its mtime is the last use
//   entries/<digest>.pin    flock(LOCK_SH) by every live Handle; eviction skips pinned entries
//
// Integrity: a download is used only after its SHA-256 matched the digest. An entry is
// re-hashed (the model folder re-archived, proto/artifact/model_archive.h) the first time a process
// uses it when verify_on_first_use is set, and whenever its files' size, mtime or inode differ
// from the meta, or its folder holds other files; a mismatch drops the entry and fetches it
// again. Entries without a meta (a crash mid-install) are never used.
//
// Size bound: before a download, least recently used unpinned entries are evicted until the
// entries plus downloads in progress plus the new artifact fit in max_bytes (installing a model
// briefly needs its size twice: archive and folder). An artifact that cannot fit is
// RESOURCE_EXHAUSTED.
//
// Thread-safety: thread-safe; Acquire calls are serialized (in-process mutex + LOCK), so a
// long download delays other lookups. Handles may be released from any thread.
#ifndef ABLATE_WORKER_ARTIFACT_CACHE_H_
#define ABLATE_WORKER_ARTIFACT_CACHE_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "worker/artifact_source.h"

namespace ablate::worker {

struct ArtifactCacheOptions {
  std::string root;                               // Created if missing.
  int64_t max_bytes = int64_t{50} << 30;
  int fetch_attempts = 5;                         // Per Acquire, for transient errors.
  absl::Duration retry_backoff = absl::Milliseconds(200);  // Doubled per retry, up to 5 s.
  bool verify_on_first_use = true;
};

struct ArtifactCacheStats {
  int64_t hits = 0;                // Acquire served from a verified entry.
  int64_t fetches = 0;             // Downloads completed and verified.
  int64_t fetched_bytes = 0;       // Bytes received from the source.
  int64_t resumed_fetches = 0;     // Fetch calls that continued a partial download.
  int64_t corrupt = 0;             // Entries or downloads that failed verification.
  int64_t evictions = 0;
  int64_t full_verifications = 0;  // Entries re-hashed.
};

class ArtifactCache {
 public:
  // A verified entry, pinned (not evicted) while the Handle lives.
  class Handle {
   public:
    ~Handle();
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    // Model: the checkpoint folder. Text: the file.
    const std::string& path() const { return path_; }
    const ablate::v1::ArtifactInfo& info() const { return info_; }

   private:
    friend class ArtifactCache;
    Handle(std::string path, ablate::v1::ArtifactInfo info, int pin_fd)
        : path_(std::move(path)), info_(std::move(info)), pin_fd_(pin_fd) {}
    const std::string path_;
    const ablate::v1::ArtifactInfo info_;
    const int pin_fd_;
  };

  static absl::StatusOr<std::unique_ptr<ArtifactCache>> Open(ArtifactCacheOptions options,
                                                             std::unique_ptr<ArtifactSource> source);
  ~ArtifactCache();

  // The verified local copy of `digest`, fetched if missing or corrupt. INVALID_ARGUMENT for a
  // malformed digest; NOT_FOUND if the server lacks it; RESOURCE_EXHAUSTED if it cannot fit;
  // DATA_LOSS if every download failed verification; transport errors after the retries.
  absl::StatusOr<std::unique_ptr<Handle>> Acquire(const std::string& digest);

  // Bytes held by entries and downloads in progress.
  int64_t UsedBytes() const;
  ArtifactCacheStats stats() const;
  // Where Acquire keeps `digest` (for tests and operators).
  std::string EntryDir(const std::string& digest) const;

 private:
  struct Meta;
  class Locked;
  ArtifactCache(ArtifactCacheOptions options, std::unique_ptr<ArtifactSource> source);
  absl::Status Init();
  absl::StatusOr<Meta> CheckEntry(const std::string& digest);
  absl::Status VerifyContent(const std::string& digest, const Meta& meta);
  absl::StatusOr<ablate::v1::ArtifactInfo> Download(const std::string& digest);
  absl::Status DownloadOnce(const std::string& digest, int fd, int64_t* offset,
                            ablate::v1::ArtifactInfo* info);
  absl::Status Install(const std::string& digest, const ablate::v1::ArtifactInfo& info);
  absl::Status EnsureRoom(int64_t need, const std::string& digest);
  void RemoveEntry(const std::string& digest);
  std::string Path(const std::string& rel) const { return options_.root + "/" + rel; }

  const ArtifactCacheOptions options_;
  const std::unique_ptr<ArtifactSource> source_;
  int lock_fd_ = -1;
  mutable std::mutex mu_;
  std::set<std::string> verified_;  // Entries this process hashed; guarded by mu_.
  ArtifactCacheStats stats_;        // Guarded by mu_.
};

// The checkpoint folder a task's model names: model.path() as given when there is no
// artifact_digest, else the cache's verified copy, pinned while `pin` lives (keep it until the
// weights are loaded). A model artifact that turns out to be a text is INVALID_ARGUMENT;
// without a cache, a digest is FAILED_PRECONDITION. Codes that cannot heal by retrying
// elsewhere: INVALID_ARGUMENT and NOT_FOUND (the server does not have the artifact).
struct ResolvedModel {
  std::string dir;
  std::unique_ptr<ArtifactCache::Handle> pin;
};
absl::StatusOr<ResolvedModel> ResolveModel(ArtifactCache* cache,
                                           const ablate::v1::ModelRef& model);

}  // namespace ablate::worker

#endif  // ABLATE_WORKER_ARTIFACT_CACHE_H_
