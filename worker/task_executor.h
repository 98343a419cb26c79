// Copyright: the ablate authors.
//
// TaskExecutor: turns one leased Task into per-mask NLL sums. The service loop (service.h)
// owns the RPCs; an executor owns models, datasets and the evaluation. EngineExecutor
// (engine_executor.h) is the real one; tests may substitute their own.
//
// Thread-safety: Execute is called from one thread at a time.
#ifndef ABLATE_WORKER_TASK_EXECUTOR_H_
#define ABLATE_WORKER_TASK_EXECUTOR_H_

#include <functional>
#include <string>
#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "absl/status/statusor.h"
#include "worker/task_control.h"

namespace ablate::worker {

struct TaskOutput {
  std::vector<ablate::v1::MaskResult> results;  // One per Task.masks entry, same order.
  ablate::v1::ResultMeta meta;
};

// Fetches a dataset's text by SHA-256 from the server (GetDataset). Not verified: the
// executor checks the digest itself.
using DatasetFetcher = std::function<absl::StatusOr<std::string>(const std::string& sha256)>;

class TaskExecutor {
 public:
  virtual ~TaskExecutor() = default;

  // Evaluates every mask of `task`. Polls control->ShouldStop() between batches and returns
  // kAborted as soon as it is true. Errors the job can never get past carry
  // MarkPermanent (status_util.h); others are worth another attempt.
  virtual absl::StatusOr<TaskOutput> Execute(const ablate::v1::Task& task,
                                             const DatasetFetcher& fetch_dataset,
                                             TaskControl* control) = 0;
};

}  // namespace ablate::worker

#endif  // ABLATE_WORKER_TASK_EXECUTOR_H_
