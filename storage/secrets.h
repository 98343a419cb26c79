// Unguessable values for the lease protocol (issue 10): lease tokens and worker secrets come
// from the kernel's CSPRNG (getrandom), so holding one lease or one worker's secret tells
// nothing about another's.
//
// Thread-safety: reentrant.
#ifndef ABLATE_STORAGE_SECRETS_H_
#define ABLATE_STORAGE_SECRETS_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace ablate::storage {

// A uniformly random positive int64 (63 random bits; never 0).
int64_t RandomLeaseToken();

// 32 random bytes as 64 lower-case hex digits.
std::string RandomSecretHex();

// Compares in time independent of where the strings differ.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

}  // namespace ablate::storage

#endif  // ABLATE_STORAGE_SECRETS_H_
