// Copyright: the ablate authors.
#include "worker/status_util.h"

#include <string>

#include "absl/strings/cord.h"
#include "proto/grpc_status.h"

namespace ablate::worker {
namespace {
constexpr char kPermanentUrl[] = "type.ablate.dev/permanent";
}  // namespace

absl::Status FromGrpc(const grpc::Status& status) {
  return ablate::proto::FromGrpcStatus(status);
}

bool IsTransient(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kUnknown:
      return true;
    default:
      return false;
  }
}

absl::Status MarkPermanent(absl::Status status) {
  if (!status.ok()) status.SetPayload(kPermanentUrl, absl::Cord("1"));
  return status;
}

bool IsPermanent(const absl::Status& status) {
  return !status.ok() && status.GetPayload(kPermanentUrl).has_value();
}

}  // namespace ablate::worker
