// Copyright: the ablate authors.
#include "worker/engine/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error \
    "safetensors data is little-endian; this reader assumes a little-endian host"
#endif

namespace ablate::engine {
namespace {

using Json = nlohmann::json;

// The reference implementation refuses headers above 100 MB; so do we.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

std::string Where(const std::string& path, const std::string& tensor) {
  return absl::StrCat(path, ": tensor '", tensor, "'");
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// Reads one non-negative integer from a JSON number; false if it is anything
// else.
bool GetU64(const Json& v, uint64_t* out) {
  if (!v.is_number_unsigned()) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0) return false;
  }
  *out = v.get<uint64_t>();
  return true;
}

absl::StatusOr<std::vector<int64_t>> ParseShape(const Json& v,
                                                const std::string& where) {
  if (!v.is_array())
    return absl::InvalidArgumentError(where + ": \"shape\" is not an array");
  std::vector<int64_t> shape;
  for (const Json& d : v) {
    uint64_t n = 0;
    if (!GetU64(d, &n) || n > static_cast<uint64_t>(INT64_MAX)) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": shape ", v.dump(), " has an entry that is not a size"));
    }
    shape.push_back(static_cast<int64_t>(n));
  }
  return shape;
}

absl::StatusOr<SafetensorsEntry> ParseEntry(const std::string& path,
                                            const std::string& name,
                                            const Json& v, uint64_t data_size) {
  const std::string where = Where(path, name);
  if (!v.is_object())
    return absl::InvalidArgumentError(where + ": entry is not an object");
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!v.contains(key)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": entry has no \"", key, "\""));
    }
  }
  SafetensorsEntry e;
  e.name = name;
  if (!v["dtype"].is_string())
    return absl::InvalidArgumentError(where + ": dtype not a string");
  e.dtype = v["dtype"].get<std::string>();
  const int elem = SafetensorsDtypeSize(e.dtype);
  if (elem == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": unknown dtype '", e.dtype, "'"));
  }
  absl::StatusOr<std::vector<int64_t>> shape = ParseShape(v["shape"], where);
  if (!shape.ok()) return shape.status();
  e.shape = *std::move(shape);
  const Json& off = v["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !GetU64(off[0], &e.begin) ||
      !GetU64(off[1], &e.end) || e.begin > e.end) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": data_offsets ", off.dump(), " is not a range [begin, end)"));
  }
  if (e.end > data_size) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": data_offsets [", e.begin, ", ", e.end,
                     ") run past the end of the data (", data_size,
                     " bytes): the file is truncated or the header is wrong"));
  }
  uint64_t bytes = static_cast<uint64_t>(elem);
  for (int64_t d : e.shape) {
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes))
      bytes = UINT64_MAX;
  }
  if (bytes != e.end - e.begin) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": data_offsets [", e.begin, ", ", e.end, ") hold ",
                     e.end - e.begin, " bytes but dtype ", e.dtype,
                     " and shape ", ShapeString(e.shape), " need ", bytes));
  }
  return e;
}

absl::Status CheckOverlaps(
    const std::string& path,
    const std::map<std::string, SafetensorsEntry>& entries) {
  std::vector<const SafetensorsEntry*> sorted;
  for (const auto& [name, e] : entries) {
    if (e.end > e.begin) sorted.push_back(&e);
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const auto* a, const auto* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < sorted.size(); ++i) {
    if (sorted[i]->begin < sorted[i - 1]->end) {
      return absl::InvalidArgumentError(
          absl::StrCat(Where(path, sorted[i]->name),
                       ": data_offsets overlap those of tensor '",
                       sorted[i - 1]->name, "'"));
    }
  }
  return absl::OkStatus();
}

absl::Status ParseMetadata(const std::string& path, const Json& v,
                           std::map<std::string, std::string>* out) {
  if (!v.is_object())
    return absl::InvalidArgumentError(path + ": __metadata__ is not an object");
  for (const auto& [key, value] : v.items()) {
    if (!value.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": __metadata__ value of '", key, "' is not a string"));
    }
    (*out)[key] = value.get<std::string>();
  }
  return absl::OkStatus();
}

absl::StatusOr<torch::ScalarType> TorchTypeOf(const std::string& dtype) {
  if (dtype == "F32") return torch::kFloat;
  if (dtype == "F16") return torch::kHalf;
  if (dtype == "BF16") return torch::kBFloat16;
  if (dtype == "F64") return torch::kDouble;
  return absl::InvalidArgumentError("dtype " + dtype +
                                    " is not supported (F32, F16, BF16, F64)");
}

}  // namespace

int SafetensorsDtypeSize(const std::string& dtype) {
  static const std::map<std::string, int>* sizes =
      new std::map<std::string, int>{
          {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1},
          {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
          {"U32", 4},  {"F32", 4}, {"F64", 8}, {"I64", 8},     {"U64", 8}};
  auto it = sizes->find(dtype);
  return it == sizes->end() ? 0 : it->second;
}

absl::StatusOr<std::unique_ptr<SafetensorsReader>> SafetensorsReader::Open(
    const std::string& path) {
  std::unique_ptr<SafetensorsReader> r(new SafetensorsReader());
  r->path_ = path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const std::string msg =
        absl::StrCat(path, ": cannot open: ", std::strerror(errno));
    return errno == ENOENT ? absl::NotFoundError(msg)
                           : absl::PermissionDeniedError(msg);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(path + ": not a regular file");
  }
  r->file_size_ = static_cast<uint64_t>(st.st_size);
  if (r->file_size_ < 8) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": truncated: ", r->file_size_,
                     " bytes, but the 8-byte header length is missing"));
  }
  void* m = ::mmap(nullptr, r->file_size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) {
    return absl::InternalError(
        absl::StrCat(path, ": mmap failed: ", std::strerror(errno)));
  }
  r->map_ = static_cast<const uint8_t*>(m);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | r->map_[i];
  if (n > r->file_size_ - 8) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": header length ", n, " is larger than the rest of the file (",
        r->file_size_ - 8, " bytes): truncated or not a safetensors file"));
  }
  if (n > kMaxHeaderBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": header length ", n, " exceeds 100 MB"));
  }
  r->data_ = r->map_ + 8 + n;
  r->data_size_ = r->file_size_ - 8 - n;
  Json header;
  try {
    header = Json::parse(r->map_ + 8, r->map_ + 8 + n);
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": bad header JSON: ", e.what()));
  }
  if (!header.is_object()) {
    return absl::InvalidArgumentError(path +
                                      ": bad header JSON: not an object");
  }
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      absl::Status s = ParseMetadata(path, value, &r->metadata_);
      if (!s.ok()) return s;
      continue;
    }
    absl::StatusOr<SafetensorsEntry> e =
        ParseEntry(path, name, value, r->data_size_);
    if (!e.ok()) return e.status();
    r->entries_[name] = *std::move(e);
  }
  absl::Status s = CheckOverlaps(path, r->entries_);
  if (!s.ok()) return s;
  return r;
}

SafetensorsReader::~SafetensorsReader() {
  if (map_ != nullptr) ::munmap(const_cast<uint8_t*>(map_), file_size_);
}

const SafetensorsEntry* SafetensorsReader::Find(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

absl::StatusOr<torch::Tensor> SafetensorsReader::ReadFloat32(
    const SafetensorsEntry& e) const {
  absl::StatusOr<torch::ScalarType> type = TorchTypeOf(e.dtype);
  if (!type.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(path_, e.name), ": ", type.status().message()));
  }
  try {
    torch::Tensor raw =
        torch::empty(e.shape, torch::TensorOptions().dtype(*type));
    const uint64_t bytes = e.end - e.begin;
    if (bytes > 0) std::memcpy(raw.data_ptr(), data_ + e.begin, bytes);
    return *type == torch::kFloat ? raw : raw.to(torch::kFloat);
  } catch (
      const std::exception& ex) {  // c10::Error derives from std::exception.
    return absl::InternalError(
        absl::StrCat(Where(path_, e.name), ": ", ex.what()));
  }
}

namespace {

absl::StatusOr<Json> BuildHeader(
    const std::vector<NamedTensor>& tensors, const char* dtype, int elem,
    const std::map<std::string, std::string>& metadata) {
  Json header = Json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const NamedTensor& t : tensors) {
    if (t.name.empty() || t.name == "__metadata__" || header.contains(t.name)) {
      return absl::InvalidArgumentError("bad or duplicate tensor name '" +
                                        t.name + "'");
    }
    if (!t.tensor.defined() || !t.tensor.is_floating_point()) {
      return absl::InvalidArgumentError("tensor '" + t.name +
                                        "' is undefined or not floating");
    }
    const uint64_t bytes = static_cast<uint64_t>(t.tensor.numel()) * elem;
    header[t.name] = {{"dtype", dtype},
                      {"shape", t.tensor.sizes().vec()},
                      {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  return header;
}

absl::Status WriteAll(std::FILE* f, const std::string& header,
                      const std::vector<NamedTensor>& tensors,
                      torch::ScalarType dtype) {
  uint8_t len[8];
  for (int i = 0; i < 8; ++i)
    len[i] = static_cast<uint8_t>(header.size() >> (8 * i));
  if (std::fwrite(len, 1, 8, f) != 8 ||
      std::fwrite(header.data(), 1, header.size(), f) != header.size()) {
    return absl::InternalError(std::string("write failed: ") +
                               std::strerror(errno));
  }
  for (const NamedTensor& t : tensors) {
    torch::Tensor c = t.tensor.detach().to(torch::kCPU).to(dtype).contiguous();
    const size_t bytes = c.numel() * c.element_size();
    if (bytes > 0 && std::fwrite(c.data_ptr(), 1, bytes, f) != bytes) {
      return absl::InternalError("write failed for tensor '" + t.name +
                                 "': " + std::strerror(errno));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteSafetensors(
    const std::string& path, const std::vector<NamedTensor>& tensors,
    torch::ScalarType dtype,
    const std::map<std::string, std::string>& metadata) {
  const char* name = dtype == torch::kFloat      ? "F32"
                     : dtype == torch::kHalf     ? "F16"
                     : dtype == torch::kBFloat16 ? "BF16"
                                                 : nullptr;
  if (name == nullptr) {
    return absl::InvalidArgumentError(path +
                                      ": can only write F32, F16 or BF16");
  }
  const std::string tmp = path + ".partial";
  absl::Status status;
  try {
    absl::StatusOr<Json> header =
        BuildHeader(tensors, name, SafetensorsDtypeSize(name), metadata);
    if (!header.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": ", header.status().message()));
    }
    std::string text = header->dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (f == nullptr) {
      return absl::InternalError(
          absl::StrCat(tmp, ": cannot create: ", std::strerror(errno)));
    }
    status = WriteAll(f, text, tensors, dtype);
    if (std::fclose(f) != 0 && status.ok()) {
      status = absl::InternalError(std::string("close failed: ") +
                                   std::strerror(errno));
    }
  } catch (const std::exception&
               ex) {  // torch (c10::Error) or JSON (non-UTF-8 name).
    status = absl::InternalError(ex.what());
  }
  if (status.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
    status = absl::InternalError(std::string("rename failed: ") +
                                 std::strerror(errno));
  }
  if (!status.ok()) {
    std::remove(tmp.c_str());
    return absl::Status(status.code(),
                        absl::StrCat(path, ": ", status.message()));
  }
  return absl::OkStatus();
}

}  // namespace ablate::engine
