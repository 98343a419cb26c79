// The stored form of a mask's per-block NLL (results.block_nll, storage/SCHEMA.md): the
// values as consecutive IEEE-754 float64 in little-endian byte order, 8 bytes per block, on
// every host. Pure functions; thread-safe.
#ifndef ABLATE_STORAGE_BLOCKS_H_
#define ABLATE_STORAGE_BLOCKS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace ablate::storage {

std::string EncodeBlocks(absl::Span<const double> blocks);

// Errors: DATA_LOSS when the size is not a multiple of 8.
absl::StatusOr<std::vector<double>> DecodeBlocks(absl::string_view bytes);

}  // namespace ablate::storage

#endif  // ABLATE_STORAGE_BLOCKS_H_
