#include "server/upload_guard.h"

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"

namespace ablate::server {

UploadGuard::Slot::~Slot() {
  std::lock_guard<std::mutex> lock(guard_->mu_);
  guard_->last_seen_.erase(context_);
}

void UploadGuard::Slot::Touch() {
  std::lock_guard<std::mutex> lock(guard_->mu_);
  guard_->last_seen_[context_] = Clock::now();
}

absl::StatusOr<std::unique_ptr<UploadGuard::Slot>> UploadGuard::Admit(
    grpc::ServerContext* context) {
  std::lock_guard<std::mutex> lock(mu_);
  if (static_cast<int>(last_seen_.size()) >= max_concurrent_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "upload: ", max_concurrent_, " uploads are running (the server's limit); retry later"));
  }
  last_seen_[context] = Clock::now();
  return std::unique_ptr<Slot>(new Slot(this, context));
}

int UploadGuard::CancelIdle(Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  int cancelled = 0;
  for (auto& [context, seen] : last_seen_) {
    if (now - seen < idle_timeout_) continue;
    spdlog::warn("upload from {} idle for {} ms: cancelled", context->peer(),
                 std::chrono::duration_cast<std::chrono::milliseconds>(now - seen).count());
    context->TryCancel();
    seen = now;  // Cancelled once; the handler ends and erases it.
    ++cancelled;
  }
  return cancelled;
}

int UploadGuard::active() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(last_seen_.size());
}

}  // namespace ablate::server
