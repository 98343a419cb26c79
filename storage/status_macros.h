// Status propagation macros used across ablate's libraries (absl has no public ones).
#ifndef ABLATE_STORAGE_STATUS_MACROS_H_
#define ABLATE_STORAGE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Returns from the enclosing function when `expr` (an absl::Status) is not OK.
#define ABLATE_RETURN_IF_ERROR(expr)               \
  do {                                             \
    ::absl::Status ablate_status_ = (expr);        \
    if (!ablate_status_.ok()) return ablate_status_; \
  } while (0)

#define ABLATE_CONCAT_INNER_(a, b) a##b
#define ABLATE_CONCAT_(a, b) ABLATE_CONCAT_INNER_(a, b)
// Declares `lhs` from a StatusOr `expr`, or returns its error.
#define ABLATE_ASSIGN_OR_RETURN(lhs, expr) \
  ABLATE_ASSIGN_OR_RETURN_IMPL_(ABLATE_CONCAT_(ablate_or_, __LINE__), lhs, expr)
#define ABLATE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(*tmp)

#endif  // ABLATE_STORAGE_STATUS_MACROS_H_
