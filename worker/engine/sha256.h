// Copyright: the ablate authors.
//
// SHA-256 (FIPS 180-4), so the engine can fingerprint checkpoints and texts
// with LibTorch and abseil alone (no OpenSSL in the engine-only build). The
// worker and the client use it to name model.safetensors and evaluation texts
// by content.
//
// Thread-safety: a Sha256 object is not thread-safe; the free functions are
// reentrant.
#ifndef ABLATE_WORKER_ENGINE_SHA256_H_
#define ABLATE_WORKER_ENGINE_SHA256_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ablate::engine {

// Incremental hasher: Update any number of times, then Finish once.
class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t size);
  void Update(absl::string_view data) { Update(data.data(), data.size()); }
  // The 32-byte digest. The object must not be used afterwards.
  std::array<uint8_t, 32> Finish();

 private:
  void Compress(const uint8_t* block);

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_;
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

// Lower-case hex of a digest.
std::string ToHex(const std::array<uint8_t, 32>& digest);

// Hex SHA-256 of a byte string.
std::string Sha256Hex(absl::string_view data);

// Hex SHA-256 of a file's contents, read in 1 MiB blocks. Errors name the file.
absl::StatusOr<std::string> Sha256File(const std::string& path);

}  // namespace ablate::engine

#endif  // ABLATE_WORKER_ENGINE_SHA256_H_
