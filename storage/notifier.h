// Change notifications from the Store to long-polling RPCs: a version per job (bumped on
// every committed change to the job, its tasks or its results) and a queue generation
// (bumped whenever a task may have become leasable). Waiters read a version, look at the
// database, and wait for the version to move; this cannot miss a change committed between
// the read and the wait.
//
// Thread-safety: all methods are thread-safe.
#ifndef ABLATE_STORAGE_NOTIFIER_H_
#define ABLATE_STORAGE_NOTIFIER_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <unordered_map>

namespace ablate::storage {

class Notifier {
 public:
  using Clock = std::chrono::steady_clock;

  void JobChanged(int64_t job_id);
  void TasksAvailable();

  uint64_t JobVersion(int64_t job_id) const;
  uint64_t QueueGeneration() const;

  // Block until the version differs from `seen`, `deadline` passes or Shutdown() is called;
  // return the current version.
  uint64_t WaitJob(int64_t job_id, uint64_t seen, Clock::time_point deadline) const;
  uint64_t WaitQueue(uint64_t seen, Clock::time_point deadline) const;

  // Wakes every waiter; later waits return at once. Irreversible.
  void Shutdown();
  bool IsShutdown() const;

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable job_cv_;
  mutable std::condition_variable queue_cv_;
  std::unordered_map<int64_t, uint64_t> job_versions_;
  uint64_t queue_generation_ = 0;
  bool shutdown_ = false;
};

}  // namespace ablate::storage

#endif  // ABLATE_STORAGE_NOTIFIER_H_
