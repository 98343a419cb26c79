#include "storage/notifier.h"

namespace ablate::storage {

void Notifier::JobChanged(int64_t job_id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++job_versions_[job_id];
  }
  job_cv_.notify_all();
}

void Notifier::TasksAvailable() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++queue_generation_;
  }
  queue_cv_.notify_all();
}

uint64_t Notifier::JobVersion(int64_t job_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = job_versions_.find(job_id);
  return it == job_versions_.end() ? 0 : it->second;
}

uint64_t Notifier::QueueGeneration() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_generation_;
}

uint64_t Notifier::WaitJob(int64_t job_id, uint64_t seen, Clock::time_point deadline) const {
  std::unique_lock<std::mutex> lock(mu_);
  auto version = [&] {
    auto it = job_versions_.find(job_id);
    return it == job_versions_.end() ? uint64_t{0} : it->second;
  };
  job_cv_.wait_until(lock, deadline, [&] { return shutdown_ || version() != seen; });
  return version();
}

uint64_t Notifier::WaitQueue(uint64_t seen, Clock::time_point deadline) const {
  std::unique_lock<std::mutex> lock(mu_);
  queue_cv_.wait_until(lock, deadline,
                       [&] { return shutdown_ || queue_generation_ != seen; });
  return queue_generation_;
}

void Notifier::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    shutdown_ = true;
  }
  job_cv_.notify_all();
  queue_cv_.notify_all();
}

bool Notifier::IsShutdown() const {
  std::lock_guard<std::mutex> lock(mu_);
  return shutdown_;
}

}  // namespace ablate::storage
