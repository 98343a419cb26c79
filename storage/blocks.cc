#include "storage/blocks.h"

#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace ablate::storage {

std::string EncodeBlocks(absl::Span<const double> blocks) {
  std::string out(blocks.size() * 8, '\0');
  for (size_t i = 0; i < blocks.size(); ++i) {
    uint64_t bits;
    std::memcpy(&bits, &blocks[i], 8);
    for (int b = 0; b < 8; ++b) out[i * 8 + b] = static_cast<char>((bits >> (8 * b)) & 0xff);
  }
  return out;
}

absl::StatusOr<std::vector<double>> DecodeBlocks(absl::string_view bytes) {
  if (bytes.size() % 8 != 0) {
    return absl::DataLossError(
        absl::StrCat("stored block_nll has ", bytes.size(), " bytes, not a multiple of 8"));
  }
  std::vector<double> out(bytes.size() / 8);
  for (size_t i = 0; i < out.size(); ++i) {
    uint64_t bits = 0;
    for (int b = 0; b < 8; ++b) {
      bits |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i * 8 + b])) << (8 * b);
    }
    std::memcpy(&out[i], &bits, 8);
  }
  return out;
}

}  // namespace ablate::storage
