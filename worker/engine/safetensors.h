// Copyright: the ablate authors.
//
// Reading and writing the safetensors format: an 8-byte little-endian header
// length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end)}}
// (offsets count from the end of the header; an optional "__metadata__" object
// of strings; trailing spaces allowed), then the raw little-endian tensor data.
//
// SafetensorsReader memory-maps the file and validates the whole header when it
// opens, so a tensor is read with exactly one copy (F32) or one copy plus one
// conversion (F16, BF16, F64). Every error is an absl::Status whose message
// names the file and, where there is one, the tensor. Nothing here throws or
// aborts.
//
// Thread-safety: a SafetensorsReader is immutable after Open; const methods may
// be called from several threads. WriteSafetensors is reentrant (distinct
// paths).
#ifndef ABLATE_WORKER_ENGINE_SAFETENSORS_H_
#define ABLATE_WORKER_ENGINE_SAFETENSORS_H_

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ablate::engine {

// One tensor as the header declares it. The header is validated: dtype is one
// the format defines, end - begin == numel * element size, the range lies
// inside the data section and no two tensors overlap.
struct SafetensorsEntry {
  std::string name;
  std::string dtype;           // As written: "F32", "F16", "BF16", "I64", ...
  std::vector<int64_t> shape;  // Empty for a scalar.
  uint64_t begin = 0;          // Byte range [begin, end) in the data section.
  uint64_t end = 0;
};

class SafetensorsReader {
 public:
  // Maps and validates `path`. Errors (all naming the file): missing or
  // unreadable file, shorter than 8 bytes, header length larger than the file,
  // header not a JSON object, malformed entry, unknown dtype, offsets out of
  // range, size inconsistent with dtype * shape, overlapping tensors.
  static absl::StatusOr<std::unique_ptr<SafetensorsReader>> Open(
      const std::string& path);

  ~SafetensorsReader();
  SafetensorsReader(const SafetensorsReader&) = delete;
  SafetensorsReader& operator=(const SafetensorsReader&) = delete;

  const std::string& path() const { return path_; }
  const std::map<std::string, std::string>& metadata() const {
    return metadata_;
  }
  const std::map<std::string, SafetensorsEntry>& entries() const {
    return entries_;
  }

  // The entry called `name`, or nullptr.
  const SafetensorsEntry* Find(const std::string& name) const;

  // Copies the tensor into a new contiguous float32 CPU tensor of its declared
  // shape. Accepts F32, F16, BF16 and F64; any other dtype is an error naming
  // the tensor.
  absl::StatusOr<torch::Tensor> ReadFloat32(
      const SafetensorsEntry& entry) const;

 private:
  SafetensorsReader() = default;

  std::string path_;
  const uint8_t* map_ = nullptr;  // Whole file, read-only.
  uint64_t file_size_ = 0;
  const uint8_t* data_ = nullptr;  // Start of the data section.
  uint64_t data_size_ = 0;
  std::map<std::string, std::string> metadata_;
  std::map<std::string, SafetensorsEntry> entries_;
};

// Bytes per element of a safetensors dtype name; 0 if the format does not
// define it.
int SafetensorsDtypeSize(const std::string& dtype);

struct NamedTensor {
  std::string name;
  torch::Tensor
      tensor;  // Any floating dtype, any device; written converted to `dtype`.
};

// Writes `tensors` in the given order to `path` as `dtype` (torch::kFloat,
// kHalf or kBFloat16), with the header padded by spaces to a multiple of 8
// bytes. The file is written to a temporary name beside `path` and renamed, so
// readers never see a partial file. Errors: duplicate or empty names,
// non-floating tensors, unsupported dtype, I/O failure.
absl::Status WriteSafetensors(
    const std::string& path, const std::vector<NamedTensor>& tensors,
    torch::ScalarType dtype,
    const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace ablate::engine

#endif  // ABLATE_WORKER_ENGINE_SAFETENSORS_H_
