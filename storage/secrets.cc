#include "storage/secrets.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/escaping.h"

namespace ablate::storage {
namespace {

void FillRandom(void* out, size_t n) {
  auto* bytes = static_cast<unsigned char*>(out);
  while (n > 0) {
    const ssize_t got = getrandom(bytes, n, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      std::abort();  // No kernel randomness: nothing safe to hand out.
    }
    bytes += got;
    n -= static_cast<size_t>(got);
  }
}

}  // namespace

int64_t RandomLeaseToken() {
  uint64_t value = 0;
  do {
    FillRandom(&value, sizeof(value));
    value >>= 1;
  } while (value == 0);
  return static_cast<int64_t>(value);
}

std::string RandomSecretHex() {
  char bytes[32];
  FillRandom(bytes, sizeof(bytes));
  return absl::BytesToHexString(absl::string_view(bytes, sizeof(bytes)));
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace ablate::storage
