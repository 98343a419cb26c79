// Copyright: the ablate authors.
#include "worker/task_control.h"

namespace ablate::worker {

const char* AbortReasonName(AbortReason reason) {
  switch (reason) {
    case AbortReason::kNone:
      return "none";
    case AbortReason::kCancelled:
      return "cancelled";
    case AbortReason::kLeaseLost:
      return "lease lost";
    case AbortReason::kShutdown:
      return "worker shutting down";
  }
  return "unknown";
}

void TaskControl::Abort(AbortReason reason) {
  AbortReason expected = AbortReason::kNone;
  reason_.compare_exchange_strong(expected, reason);
}

void TaskControl::SetShutdownDeadline(Clock::time_point deadline) {
  std::lock_guard<std::mutex> lock(mu_);
  has_deadline_ = true;
  deadline_ = deadline;
}

bool TaskControl::ShouldStop() {
  if (reason_.load() != AbortReason::kNone) return true;
  std::lock_guard<std::mutex> lock(mu_);
  if (has_deadline_ && Clock::now() >= deadline_) Abort(AbortReason::kShutdown);
  return reason_.load() != AbortReason::kNone;
}

}  // namespace ablate::worker
