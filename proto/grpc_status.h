// The one translation point between absl::Status (used everywhere inside ablate) and
// grpc::Status (used only at the RPC edge). Both use the canonical code numbers, so the
// translation keeps the code and the message.
//
// Thread-safety: free functions on values; safe from any thread.
#ifndef ABLATE_PROTO_GRPC_STATUS_H_
#define ABLATE_PROTO_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace ablate::proto {

// Same code and message; OK maps to OK.
grpc::Status ToGrpcStatus(const absl::Status& status);

// Same code and message; OK maps to OK.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace ablate::proto

#endif  // ABLATE_PROTO_GRPC_STATUS_H_
