// Copyright: the ablate authors.
//
// Heartbeater: while a task runs, a thread sends Heartbeat every `interval` (extending the
// lease and reporting masks done). A reply with `cancelled` or `lease_lost`, or a refusal
// (FAILED_PRECONDITION / NOT_FOUND: the lease is no longer ours), aborts the task through its
// TaskControl. Transient RPC errors are logged and retried at the next tick: the server may
// be restarting, and the lease may still be ours when it is back.
//
// Thread-safety: construct and destroy on one thread; the destructor stops and joins.
#ifndef ABLATE_WORKER_HEARTBEAT_H_
#define ABLATE_WORKER_HEARTBEAT_H_

#include <chrono>
#include <string>
#include <thread>

#include "ablate/v1/ablate.pb.h"
#include "worker/connection.h"
#include "worker/task_control.h"

namespace ablate::worker {

class Heartbeater {
 public:
  // `connection` and `control` must outlive this object.
  // `worker_secret` is the one Register returned (every heartbeat carries it).
  Heartbeater(const Connection& connection, std::string worker_id, std::string worker_secret,
              const ablate::v1::Task& task, std::chrono::milliseconds interval,
              TaskControl* control);
  ~Heartbeater();
  Heartbeater(const Heartbeater&) = delete;
  Heartbeater& operator=(const Heartbeater&) = delete;

  // Number of heartbeats the server answered (for tests and logs).
  int beats() const { return beats_.load(); }

 private:
  void Loop();
  void BeatOnce();

  const Connection& connection_;
  const std::string worker_id_;
  const std::string worker_secret_;
  const std::string task_id_;
  const std::string job_id_;
  const int64_t lease_token_;
  const std::chrono::milliseconds interval_;
  TaskControl* const control_;
  StopFlag stop_;
  std::atomic<int> beats_{0};
  std::thread thread_;
};

}  // namespace ablate::worker

#endif  // ABLATE_WORKER_HEARTBEAT_H_
