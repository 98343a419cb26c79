// Copyright: the ablate authors.
//
// ArtifactStore: content-addressed blobs on the server's disk (proto ArtifactService). A blob
// is named by the hex SHA-256 of its bytes and becomes visible only after the bytes were
// received in full, fsynced and verified against that digest, so a stored blob is never
// partial or wrong.
//
// Layout under `root`:
//   LOCK                       flock'ed by the one process that has the store open
//   sha256/ab/abcdef...        verified blobs (ab = the digest's first two hex digits)
//   sha256/ab/abcdef....info   its ArtifactInfo (binary proto), written before the blob
//   partial/abcdef....partial  bytes of an unfinished upload, kept for resuming
//   partial/abcdef....header   its UploadHeader (binary proto)
//
// Uploads: BeginUpload starts or resumes the upload of a digest; a second BeginUpload of the
// same digest takes over (the first writer's next call is ABORTED), so a client that lost its
// connection can resume before the server noticed. After a crash the partial file keeps what
// reached the disk; if it is corrupt, Finish reports DATA_LOSS and the client starts over.
// Partial uploads untouched for `partial_ttl` are deleted at Open and by
// CollectStalePartials (the server calls it periodically).
//
// Limits: an artifact above max_artifact_bytes, or one that would take the store above
// max_total_bytes (stored blobs + declared sizes of partial uploads), is RESOURCE_EXHAUSTED.
//
// Thread-safety: all methods are thread-safe. One Upload object is used by one thread.
#ifndef ABLATE_STORAGE_ARTIFACT_STORE_H_
#define ABLATE_STORAGE_ARTIFACT_STORE_H_

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ablate::storage {

struct ArtifactStoreOptions {
  std::string root;                                  // Created if missing.
  int64_t max_artifact_bytes = int64_t{16} << 30;    // One artifact.
  int64_t max_total_bytes = int64_t{64} << 30;       // 0 = no limit.
  // Partial uploads untouched this long are dropped (at Open and by CollectStalePartials).
  absl::Duration partial_ttl = absl::Hours(6);
  // Uploads (and, through the server, submits) are RESOURCE_EXHAUSTED while fewer bytes
  // than this would stay free on root's file system. 0 = no check.
  int64_t min_free_bytes = int64_t{1} << 30;
};

class ArtifactStore {
 public:
  class Upload;
  class Blob;

  // Creates the folders, takes the lock (FAILED_PRECONDITION if another process holds it),
  // drops stale partial uploads and sums the stored sizes.
  static absl::StatusOr<std::unique_ptr<ArtifactStore>> Open(ArtifactStoreOptions options);
  ~ArtifactStore();

  // The stored artifact; NOT_FOUND if it is not (yet) stored, INVALID_ARGUMENT for a malformed
  // digest.
  absl::StatusOr<ablate::v1::ArtifactInfo> Stat(absl::string_view digest) const;

  // Where an upload of `digest` stands (complete, or bytes held for resuming).
  absl::StatusOr<ablate::v1::UploadStatus> GetUploadStatus(absl::string_view digest);

  // Starts or resumes (takes over) the upload `header` describes. ALREADY_EXISTS when the
  // artifact is stored; INVALID_ARGUMENT for a bad header (digest, kind, model files that do
  // not add up to total_size); RESOURCE_EXHAUSTED over a limit.
  absl::StatusOr<std::unique_ptr<Upload>> BeginUpload(const ablate::v1::UploadHeader& header);

  // A stored blob for reading; NOT_FOUND if absent.
  absl::StatusOr<std::unique_ptr<Blob>> OpenBlob(absl::string_view digest) const;

  // Bytes of stored blobs (not counting partial uploads).
  int64_t stored_bytes() const;

  // ---- collection (artifact_gc.cc)
  // Drops partial uploads untouched for partial_ttl; returns how many.
  int CollectStalePartials();
  // Every stored artifact.
  absl::StatusOr<std::vector<ablate::v1::ArtifactInfo>> List() const;
  // Removes a stored artifact (NOT_FOUND if absent). Readers that opened it keep reading.
  absl::Status Delete(absl::string_view digest);
  // RESOURCE_EXHAUSTED when writing `incoming_bytes` would leave less than min_free_bytes
  // free on root's file system.
  absl::Status CheckFreeSpace(int64_t incoming_bytes) const;

 private:
  friend class Upload;
  struct Partial;
  explicit ArtifactStore(ArtifactStoreOptions options);
  absl::Status Init();
  std::string BlobPath(absl::string_view digest) const;
  std::string PartialPath(absl::string_view digest, absl::string_view ext) const;
  absl::Status CheckCapacity(const ablate::v1::UploadHeader& header, int64_t already_reserved);
  // Verifies and publishes a fully received partial upload; called by Upload::Finish with
  // the Partial's mutex held.
  absl::StatusOr<ablate::v1::ArtifactInfo> Publish(Partial& partial, int fd);
  void DropPartial(Partial& partial);
  // Drops `partial` if still pending and its bytes were last written before `cutoff`.
  bool DropPartialIfOlder(Partial& partial, std::filesystem::file_time_type cutoff);

  const ArtifactStoreOptions options_;
  int lock_fd_ = -1;
  mutable std::mutex mu_;
  int64_t stored_bytes_ = 0;    // Guarded by mu_.
  int64_t reserved_bytes_ = 0;  // Declared sizes of partial uploads; guarded by mu_.
  absl::flat_hash_map<std::string, std::shared_ptr<Partial>> partials_;  // Guarded by mu_.
};

// One writer of one upload. Destroying it without Finish keeps the bytes for resuming.
class ArtifactStore::Upload {
 public:
  ~Upload();
  Upload(const Upload&) = delete;
  Upload& operator=(const Upload&) = delete;

  int64_t received() const;
  int64_t total_size() const { return total_size_; }

  // Writes bytes [offset, offset + data.size()). Bytes before received() are skipped (a
  // resend); offset > received() is FAILED_PRECONDITION naming the expected offset; bytes past
  // total_size are INVALID_ARGUMENT; a writer that was taken over is ABORTED.
  absl::Status Write(int64_t offset, absl::string_view data);

  // Once every byte arrived: fsync, verify the SHA-256 (DATA_LOSS on mismatch: the partial
  // bytes are dropped), check a model archive's members against the header, publish.
  // FAILED_PRECONDITION while bytes are missing.
  absl::StatusOr<ablate::v1::ArtifactInfo> Finish();

 private:
  friend class ArtifactStore;
  Upload(ArtifactStore* store, std::shared_ptr<Partial> partial, uint64_t generation, int fd,
         int64_t total_size);
  absl::Status CheckCurrent() const;  // Requires partial_->mu.

  ArtifactStore* const store_;
  const std::shared_ptr<Partial> partial_;
  const uint64_t generation_;
  int fd_;
  const int64_t total_size_;
};

// Random access to a stored blob. Not thread-safe; open one per reader.
class ArtifactStore::Blob {
 public:
  ~Blob();
  Blob(const Blob&) = delete;
  Blob& operator=(const Blob&) = delete;

  int64_t size() const { return size_; }
  const ablate::v1::ArtifactInfo& info() const { return info_; }
  // Reads up to `max` bytes at `offset` into `out` (resized); empty at the end.
  absl::Status Read(int64_t offset, size_t max, std::string* out);

 private:
  friend class ArtifactStore;
  Blob(int fd, ablate::v1::ArtifactInfo info);
  int fd_;
  int64_t size_;
  ablate::v1::ArtifactInfo info_;
};

}  // namespace ablate::storage

#endif  // ABLATE_STORAGE_ARTIFACT_STORE_H_
