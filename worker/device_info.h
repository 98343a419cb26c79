// Copyright: the ablate authors.
//
// What a worker tells the server about its device at Register: kind, the dtypes it can run
// and its memory. CUDA memory is read through the driver library (libcuda.so.1, loaded at
// run time), so this works with any LibTorch build; 0 when unknown.
//
// Thread-safety: free functions; safe from any thread.
#ifndef ABLATE_WORKER_DEVICE_INFO_H_
#define ABLATE_WORKER_DEVICE_INFO_H_

#include <cstdint>
#include <string>
#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "absl/status/statusor.h"

namespace ablate::worker {

struct DeviceInfo {
  ablate::v1::DeviceKind kind = ablate::v1::DEVICE_KIND_CPU;
  std::string device;                     // As given: "cpu", "cuda:0", "mps".
  std::vector<ablate::v1::DType> dtypes;  // What this device runs.
  int64_t memory_bytes = 0;
};

// "cpu" -> CPU; "cuda" / "cuda:N" -> CUDA; "mps" -> MPS. Errors: anything else.
absl::StatusOr<ablate::v1::DeviceKind> ParseDeviceKind(const std::string& device);

// Fills DeviceInfo for `device`. CPU runs fp32 only; GPUs run fp32, bf16 and fp16.
// `only_dtype` (DTYPE_UNSPECIFIED = no restriction) narrows the list to one dtype;
// error if the device cannot run it.
absl::StatusOr<DeviceInfo> DescribeDevice(const std::string& device,
                                          ablate::v1::DType only_dtype);

// OK if this process's LibTorch can run on `device` now (CUDA built in and a GPU visible,
// MPS built in); FailedPrecondition naming the device otherwise. A worker checks this at
// start instead of failing every task it leases.
absl::Status CheckDeviceAvailable(const std::string& device);

}  // namespace ablate::worker

#endif  // ABLATE_WORKER_DEVICE_INFO_H_
