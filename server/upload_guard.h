// UploadGuard: bounds the Upload streams of ArtifactService (issue 10). At most
// `max_concurrent` run at once (one more is RESOURCE_EXHAUSTED before any byte is read), and
// CancelIdle() cancels those that received nothing for `idle_timeout` (their bytes are kept
// for resuming), so open-but-silent streams cannot pin threads and buffers.
//
// Thread-safety: thread-safe.
#ifndef ABLATE_SERVER_UPLOAD_GUARD_H_
#define ABLATE_SERVER_UPLOAD_GUARD_H_

#include <grpcpp/server_context.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ablate::server {

class UploadGuard {
 public:
  using Clock = std::chrono::steady_clock;

  // One admitted upload; Touch() after each message. Leaves the guard when destroyed.
  class Slot {
   public:
    ~Slot();
    void Touch();

   private:
    friend class UploadGuard;
    Slot(UploadGuard* guard, grpc::ServerContext* context) : guard_(guard), context_(context) {}
    UploadGuard* const guard_;
    grpc::ServerContext* const context_;
  };

  UploadGuard(int max_concurrent, std::chrono::milliseconds idle_timeout)
      : max_concurrent_(max_concurrent), idle_timeout_(idle_timeout) {}

  // A slot for the upload on `context`, or RESOURCE_EXHAUSTED when max_concurrent run.
  absl::StatusOr<std::unique_ptr<Slot>> Admit(grpc::ServerContext* context);
  // Cancels uploads idle since before now - idle_timeout; returns how many.
  int CancelIdle(Clock::time_point now = Clock::now());
  int active() const;

 private:
  const int max_concurrent_;
  const std::chrono::milliseconds idle_timeout_;
  mutable std::mutex mu_;
  std::map<grpc::ServerContext*, Clock::time_point> last_seen_;  // Guarded by mu_.
};

}  // namespace ablate::server

#endif  // ABLATE_SERVER_UPLOAD_GUARD_H_
