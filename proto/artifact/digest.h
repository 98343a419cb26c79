// Copyright: the ablate authors.
//
// SHA-256 digests of artifacts (OpenSSL libcrypto EVP), as lower-case hex: the names of
// content-addressed blobs (proto ArtifactService). Streaming, so multi-GiB checkpoints are
// hashed in bounded memory.
//
// Thread-safety: a Sha256Stream is not thread-safe; the free functions are reentrant.
#ifndef ABLATE_PROTO_ARTIFACT_DIGEST_H_
#define ABLATE_PROTO_ARTIFACT_DIGEST_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ablate::artifact {

// Incremental SHA-256: Update any number of times, then FinishHex once.
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;

  void Update(const void* data, size_t size);
  void Update(absl::string_view data) { Update(data.data(), data.size()); }
  // Lower-case hex of the digest of everything passed to Update. Call once.
  std::string FinishHex();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// Hex SHA-256 of a byte string.
std::string Sha256Hex(absl::string_view data);

// Hex SHA-256 of the first `limit` bytes of a file (all of it when limit < 0), read in 1 MiB
// blocks. Errors name the file; a file shorter than `limit` is DATA_LOSS.
absl::StatusOr<std::string> Sha256OfFile(const std::string& path, int64_t limit = -1);

// True when `digest` is exactly 64 lower-case hex digits (the only spelling artifacts use).
bool IsValidDigest(absl::string_view digest);

}  // namespace ablate::artifact

#endif  // ABLATE_PROTO_ARTIFACT_DIGEST_H_
