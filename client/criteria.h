// Success criteria for `ablate report --criteria FILE`.
//
// The file is JSON: an array (or {"criteria": [...]}) of objects
//   {"metric": "max_heads@1.5", "op": ">=", "value": 25, "name": "optional label"}
// op is one of <, <=, >, >=, ==, !=. Metrics (fractions stay fractions: 5% is 0.05):
//   baseline_ppl, n_heads, under_1pct, under_10pct, improved, mean_delta, median_delta,
//   mean_abs_delta, max_delta, zipf_alpha, zipf_c, zipf_r2, zipf_n, final_ratio (PPL / baseline
//   with every head removed), max_heads@R, fraction@R, ppl_at_max@R (any ratio R >= 1),
//   pearson_r, pearson_p, spearman_rho, spearman_p (need --series), runtime_s,
//   masks_per_second.
// A criterion whose metric is not available for the job (no cumulative sweep, no series) is
// reported as not met. Pure functions; thread-safe.
#ifndef ABLATE_CLIENT_CRITERIA_H_
#define ABLATE_CLIENT_CRITERIA_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ablate::client {

struct Criterion {
  std::string name;  // Defaults to "<metric> <op> <value>".
  std::string metric;
  std::string op;
  double value = 0.0;
};

struct CriterionResult {
  Criterion criterion;
  std::optional<double> measured;  // Absent: metric not available for this job.
  bool met = false;
};

// Parses criteria JSON text. Errors (InvalidArgument): syntax, unknown metric or op,
// missing fields; `origin` (a path) prefixes messages.
absl::StatusOr<std::vector<Criterion>> ParseCriteria(const std::string& json_text,
                                                     const std::string& origin);
absl::StatusOr<std::vector<Criterion>> LoadCriteria(const std::string& path);

// The ratios R named by metrics of the form name@R, ascending and distinct.
std::vector<double> CriteriaRatios(const std::vector<Criterion>& criteria);

// Ratio suffix as metrics spell it: 1.5 -> "1.5", 2 -> "2".
std::string RatioKey(double ratio);

// Compares each criterion with metrics[criterion.metric] (metric@R keys spelled with
// RatioKey(R)).
std::vector<CriterionResult> EvaluateCriteria(const std::vector<Criterion>& criteria,
                                              const std::map<std::string, double>& metrics);

}  // namespace ablate::client

#endif  // ABLATE_CLIENT_CRITERIA_H_
