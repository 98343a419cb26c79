// Copyright: the ablate authors.
//
// TaskControl: the shared state of one running task between the thread that evaluates it,
// the heartbeat thread and the service loop: why (if at all) the work must stop, the
// shutdown deadline, and how many masks are done (reported in heartbeats).
//
// Thread-safety: every method is thread-safe.
#ifndef ABLATE_WORKER_TASK_CONTROL_H_
#define ABLATE_WORKER_TASK_CONTROL_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>

namespace ablate::worker {

enum class AbortReason {
  kNone = 0,
  kCancelled = 1,  // The job was cancelled: drop the task, report nothing.
  kLeaseLost = 2,  // The lease went to another worker: drop the task, report nothing.
  kShutdown = 3,   // This worker is stopping and the drain deadline passed: FailTask (retry).
};

const char* AbortReasonName(AbortReason reason);

class TaskControl {
 public:
  using Clock = std::chrono::steady_clock;

  // The first reason wins; later calls change nothing.
  void Abort(AbortReason reason);
  AbortReason reason() const { return reason_.load(); }

  // After `deadline` ShouldStop() aborts the task with kShutdown.
  void SetShutdownDeadline(Clock::time_point deadline);

  // Polled by the evaluating thread between batches of masks.
  bool ShouldStop();

  void AddMasksDone(int64_t n) { masks_done_ += n; }
  int64_t masks_done() const { return masks_done_.load(); }

 private:
  std::atomic<AbortReason> reason_{AbortReason::kNone};
  std::atomic<int64_t> masks_done_{0};
  std::mutex mu_;
  bool has_deadline_ = false;
  Clock::time_point deadline_;
};

}  // namespace ablate::worker

#endif  // ABLATE_WORKER_TASK_CONTROL_H_
