// SHA-256 fingerprints as lowercase hex (OpenSSL libcrypto).
//
// Thread-safety: free functions; safe from any thread.
#ifndef ABLATE_STORAGE_SHA256_H_
#define ABLATE_STORAGE_SHA256_H_

#include <string>
#include "absl/strings/string_view.h"

namespace ablate::storage {

// Lowercase hex SHA-256 of `data` (64 characters).
std::string Sha256Hex(absl::string_view data);

// True when `text` is 64 hexadecimal digits (either case).
bool IsSha256Hex(absl::string_view text);

// `text` with A-F lowered (for comparing and storing digests).
std::string LowerHex(absl::string_view text);

}  // namespace ablate::storage

#endif  // ABLATE_STORAGE_SHA256_H_
