// External names of stored rows: "job-17", "task-4", "worker-2". The database keys are the
// integers; the API, logs and the CLI use the names. A bare number is accepted as well.
//
// Thread-safety: free functions; safe from any thread.
#ifndef ABLATE_STORAGE_IDS_H_
#define ABLATE_STORAGE_IDS_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace ablate::storage {

std::string JobName(int64_t id);
std::string TaskName(int64_t id);
std::string WorkerName(int64_t id);

// Parses "job-17" or "17" into 17. `field` names the request field in the error
// (INVALID_ARGUMENT for an empty or malformed id).
absl::StatusOr<int64_t> ParseJobId(absl::string_view text, absl::string_view field = "job_id");
absl::StatusOr<int64_t> ParseTaskId(absl::string_view text, absl::string_view field = "task_id");
absl::StatusOr<int64_t> ParseWorkerId(absl::string_view text,
                                      absl::string_view field = "worker_id");

}  // namespace ablate::storage

#endif  // ABLATE_STORAGE_IDS_H_
