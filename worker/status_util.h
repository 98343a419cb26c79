// Copyright: the ablate authors.
//
// The worker's one translation point between grpc::Status (the RPC edge) and absl::Status
// (everything inside), plus the "permanent" mark a task error carries to FailTask.
//
// Thread-safety: free functions on values; safe from any thread.
#ifndef ABLATE_WORKER_STATUS_UTIL_H_
#define ABLATE_WORKER_STATUS_UTIL_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace ablate::worker {

// Same code and message (proto/grpc_status.h, the project's one translation helper).
absl::Status FromGrpc(const grpc::Status& status);

// True for codes that mean "try again later": UNAVAILABLE, DEADLINE_EXCEEDED,
// RESOURCE_EXHAUSTED, ABORTED, CANCELLED, UNKNOWN (a broken connection surfaces as UNKNOWN
// on some transports).
bool IsTransient(const absl::Status& status);

// A task error marked permanent fails the whole job at once (FailTaskRequest.permanent):
// the model or input can never work (SHA-256 mismatch, text too short, bad checkpoint).
absl::Status MarkPermanent(absl::Status status);
bool IsPermanent(const absl::Status& status);

}  // namespace ablate::worker

#endif  // ABLATE_WORKER_STATUS_UTIL_H_
