// libFuzzer target: job spec validation (storage::NormalizeSpec, CheckInlineDataset) on an
// arbitrary binary SubmitJobRequest, then the task split of a spec it accepts.
#include "ablate/v1/ablate.pb.h"
#include "storage/job_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ablate::v1::SubmitJobRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  ablate::storage::SpecLimits limits;
  ablate::v1::JobSpec spec = request.spec();
  if (!spec.dataset().text().empty()) {
    (void)ablate::storage::CheckInlineDataset(spec.dataset(), limits);
  }
  const int64_t text_bytes = static_cast<int64_t>(spec.dataset().text().size());
  if (!ablate::storage::NormalizeSpec(limits, text_bytes, &spec).ok()) return 0;
  const int64_t masks = ablate::storage::MasksPerPhase(spec);
  auto tasks = ablate::storage::SplitIntoTasks(0, static_cast<int>(masks) - 1,
                                               spec.masks_per_task());
  if (static_cast<int64_t>(tasks.size()) > limits.max_tasks_per_job) __builtin_trap();
  return 0;
}
