#include "server/rpc.h"

#include <spdlog/spdlog.h>

namespace ablate::server {

void LogRpcFailure(absl::string_view method, const std::string& peer,
                   const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
      spdlog::warn("{} from {}: {}", std::string(method), peer, status.ToString());
      break;
    default:
      spdlog::debug("{} from {}: {}", std::string(method), peer, status.ToString());
  }
}

}  // namespace ablate::server
