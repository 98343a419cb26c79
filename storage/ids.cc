#include "storage/ids.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace ablate::storage {
namespace {

absl::StatusOr<int64_t> ParseId(absl::string_view text, absl::string_view prefix,
                                absl::string_view field) {
  if (text.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is empty"));
  absl::string_view digits = text;
  if (absl::StartsWith(digits, prefix)) digits.remove_prefix(prefix.size());
  int64_t id = 0;
  if (!absl::SimpleAtoi(digits, &id) || id <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " \"", text, "\" is not an id like \"", prefix, "12\""));
  }
  return id;
}

}  // namespace

std::string JobName(int64_t id) { return absl::StrCat("job-", id); }
std::string TaskName(int64_t id) { return absl::StrCat("task-", id); }
std::string WorkerName(int64_t id) { return absl::StrCat("worker-", id); }

absl::StatusOr<int64_t> ParseJobId(absl::string_view text, absl::string_view field) {
  return ParseId(text, "job-", field);
}
absl::StatusOr<int64_t> ParseTaskId(absl::string_view text, absl::string_view field) {
  return ParseId(text, "task-", field);
}
absl::StatusOr<int64_t> ParseWorkerId(absl::string_view text, absl::string_view field) {
  return ParseId(text, "worker-", field);
}

}  // namespace ablate::storage
