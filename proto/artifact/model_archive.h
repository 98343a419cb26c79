// Copyright: the ablate authors.
//
// Model artifacts: a checkpoint folder as one deterministic POSIX ustar archive, so one
// SHA-256 names the whole folder and the digest can be recomputed from the unpacked files.
//
// Format (the persistent contract, also described in proto/ablate/v1/ablate.proto):
// - Members: the model files of the folder (proto/artifact/checkpoint_files.h): config.json and
//   the weights (model.safetensors, or model-KKKKK-of-NNNNN.safetensors K = 1..N with
//   model.safetensors.index.json) required; tokenizer.json, tokenizer_config.json, vocab.json,
//   merges.txt if present; nothing else. Sorted by name (bytewise). Plain file names, no
//   directories.
// - Each member: a 512-byte ustar header (mode 0000644, uid/gid 0, mtime 0, typeflag '0',
//   magic "ustar\0" version "00", empty link/user/group names and prefix, size in 11 octal
//   digits, or GNU base-256 from 8 GiB on, checksum "%06o\0 "), then the file's bytes, then
//   zeros up to a multiple of 512.
// - Two zero blocks end the archive; there is nothing after them.
// Readers accept exactly this form (an archive that is not canonical is rejected), which
// rules out path traversal, links, duplicates and trailing data.
//
// Thread-safety: FolderArchive is not thread-safe (one reader at a time); the free functions
// are reentrant.
#ifndef ABLATE_PROTO_ARTIFACT_MODEL_ARCHIVE_H_
#define ABLATE_PROTO_ARTIFACT_MODEL_ARCHIVE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ablate::artifact {

inline constexpr int64_t kTarBlock = 512;

struct ArchiveMember {
  std::string name;
  int64_t size = 0;
  bool operator==(const ArchiveMember& o) const { return name == o.name && size == o.size; }
};

// Checks names (model files, each once, config.json and a complete set of weights) and sizes (>= 0) and returns the
// members in archive (name) order. INVALID_ARGUMENT names the offending file.
absl::StatusOr<std::vector<ArchiveMember>> CanonicalMembers(std::vector<ArchiveMember> members);

// Size in bytes of the archive of these (canonical) members.
int64_t ArchiveSize(const std::vector<ArchiveMember>& members);

// The archive of a folder's files, produced on demand at any offset without writing it.
class FolderArchive {
 public:
  // The model files present in `dir` (regular files; config.json and weights required). NOT_FOUND / INVALID_ARGUMENT name the folder and file.
  static absl::StatusOr<std::unique_ptr<FolderArchive>> Open(const std::string& dir);
  // Exactly `members` of `dir`, whose sizes must match (re-verifying an unpacked folder).
  static absl::StatusOr<std::unique_ptr<FolderArchive>> OpenMembers(
      const std::string& dir, std::vector<ArchiveMember> members);
  ~FolderArchive();

  int64_t size() const { return size_; }
  const std::vector<ArchiveMember>& members() const { return members_; }

  // Copies archive bytes [offset, offset + n) to `out`; requires offset + n <= size().
  // A file that changed size since Open is DATA_LOSS.
  absl::Status Read(int64_t offset, size_t n, char* out);

  // Hex SHA-256 of the whole archive (reads every file once).
  absl::StatusOr<std::string> Digest();

 private:
  struct Part;
  FolderArchive(std::string dir, std::vector<ArchiveMember> members);
  absl::Status OpenFiles();

  std::string dir_;
  std::vector<ArchiveMember> members_;
  std::vector<Part> parts_;
  int64_t size_ = 0;
};

// Reads and checks the headers of an archive file (strict, see above) without extracting.
absl::StatusOr<std::vector<ArchiveMember>> ReadArchiveMembers(const std::string& archive_path);

// Extracts an archive file into `dir`, which is created and must not exist; every file is
// fsynced. On error `dir` may hold a partial extraction (the caller removes it).
absl::StatusOr<std::vector<ArchiveMember>> UnpackArchive(const std::string& archive_path,
                                                         const std::string& dir);

}  // namespace ablate::artifact

#endif  // ABLATE_PROTO_ARTIFACT_MODEL_ARCHIVE_H_
