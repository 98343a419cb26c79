// Copyright: the ablate authors.
#include "worker/device_info.h"

#include <torch/torch.h>
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace ablate::worker {
namespace {

int64_t HostMemoryBytes() {
  long pages = sysconf(_SC_PHYS_PAGES);
  long page_size = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page_size > 0 ? static_cast<int64_t>(pages) * page_size : 0;
}

// Total memory of CUDA device `index` via the driver API; 0 if unavailable.
int64_t CudaMemoryBytes(int index) {
  void* lib = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (lib == nullptr) return 0;
  using InitFn = int (*)(unsigned int);
  using GetFn = int (*)(int*, int);
  using MemFn = int (*)(size_t*, int);
  auto init = reinterpret_cast<InitFn>(dlsym(lib, "cuInit"));
  auto get = reinterpret_cast<GetFn>(dlsym(lib, "cuDeviceGet"));
  auto mem = reinterpret_cast<MemFn>(dlsym(lib, "cuDeviceTotalMem_v2"));
  int64_t bytes = 0;
  int dev = 0;
  size_t total = 0;
  if (init && get && mem && init(0) == 0 && get(&dev, index) == 0 && mem(&total, dev) == 0) {
    bytes = static_cast<int64_t>(total);
  }
  dlclose(lib);
  return bytes;
}

}  // namespace

absl::StatusOr<ablate::v1::DeviceKind> ParseDeviceKind(const std::string& device) {
  if (device == "cpu") return ablate::v1::DEVICE_KIND_CPU;
  if (device == "mps") return ablate::v1::DEVICE_KIND_MPS;
  if (device == "cuda") return ablate::v1::DEVICE_KIND_CUDA;
  int index = 0;
  if (absl::StartsWith(device, "cuda:") && absl::SimpleAtoi(device.substr(5), &index) &&
      index >= 0) {
    return ablate::v1::DEVICE_KIND_CUDA;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown device '", device, "' (expected cpu, cuda, cuda:N or mps)"));
}

absl::StatusOr<DeviceInfo> DescribeDevice(const std::string& device,
                                          ablate::v1::DType only_dtype) {
  absl::StatusOr<ablate::v1::DeviceKind> kind = ParseDeviceKind(device);
  if (!kind.ok()) return kind.status();
  DeviceInfo info;
  info.kind = *kind;
  info.device = device;
  if (*kind == ablate::v1::DEVICE_KIND_CPU) {
    info.dtypes = {ablate::v1::DTYPE_FP32};
    info.memory_bytes = HostMemoryBytes();
  } else {
    info.dtypes = {ablate::v1::DTYPE_FP32, ablate::v1::DTYPE_BF16, ablate::v1::DTYPE_FP16};
    int index = 0;
    if (absl::StartsWith(device, "cuda:")) (void)absl::SimpleAtoi(device.substr(5), &index);
    info.memory_bytes = *kind == ablate::v1::DEVICE_KIND_CUDA ? CudaMemoryBytes(index)
                                                              : HostMemoryBytes();
  }
  if (only_dtype != ablate::v1::DTYPE_UNSPECIFIED) {
    if (std::find(info.dtypes.begin(), info.dtypes.end(), only_dtype) == info.dtypes.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "device ", device, " cannot run dtype ", ablate::v1::DType_Name(only_dtype)));
    }
    info.dtypes = {only_dtype};
  }
  return info;
}

absl::Status CheckDeviceAvailable(const std::string& device) {
  absl::StatusOr<ablate::v1::DeviceKind> kind = ParseDeviceKind(device);
  if (!kind.ok()) return kind.status();
  if (*kind == ablate::v1::DEVICE_KIND_CUDA) {
    const int64_t count = torch::cuda::is_available() ? torch::cuda::device_count() : 0;
    int index = 0;
    if (absl::StartsWith(device, "cuda:")) (void)absl::SimpleAtoi(device.substr(5), &index);
    if (index >= count) {
      return absl::FailedPreconditionError(absl::StrCat(
          "device ", device, " is not available (this LibTorch sees ", count, " CUDA device",
          count == 1 ? "" : "s", ")"));
    }
  } else if (*kind == ablate::v1::DEVICE_KIND_MPS && !at::hasMPS()) {
    return absl::FailedPreconditionError("device mps is not available in this LibTorch build");
  }
  return absl::OkStatus();
}

}  // namespace ablate::worker
