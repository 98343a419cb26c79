#include "client/criteria.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/format.h"
#include "client/rpc.h"
#include "nlohmann/json.hpp"

namespace ablate::client {
namespace {

using nlohmann::json;

const std::set<std::string>& PlainMetrics() {
  static const auto* kNames = new std::set<std::string>{
      "baseline_ppl", "n_heads",   "under_1pct",   "under_10pct", "improved",   "mean_delta",
      "median_delta", "max_delta", "mean_abs_delta", "zipf_alpha", "zipf_c",    "zipf_r2",
      "zipf_n",       "final_ratio", "pearson_r",  "pearson_p",   "spearman_rho", "spearman_p",
      "runtime_s",    "masks_per_second"};
  return *kNames;
}

const std::set<std::string>& RatioMetrics() {
  static const auto* kNames = new std::set<std::string>{"max_heads", "fraction", "ppl_at_max"};
  return *kNames;
}

// "max_heads@1.5" -> ("max_heads", 1.5); plain names -> (name, nullopt).
std::pair<std::string, std::optional<double>> SplitMetric(const std::string& metric) {
  const size_t at = metric.find('@');
  if (at == std::string::npos) return {metric, std::nullopt};
  double r = 0;
  if (!absl::SimpleAtod(metric.substr(at + 1), &r)) return {metric, std::nullopt};
  return {metric.substr(0, at), r};
}

absl::Status CheckMetric(const std::string& metric) {
  const auto [base, ratio] = SplitMetric(metric);
  if (ratio.has_value() ? RatioMetrics().count(base) && *ratio >= 1.0 && std::isfinite(*ratio)
                        : PlainMetrics().count(base)) {
    return absl::OkStatus();
  }
  std::vector<std::string> known(PlainMetrics().begin(), PlainMetrics().end());
  for (const std::string& m : RatioMetrics()) known.push_back(m + "@R");
  return absl::InvalidArgumentError(
      absl::StrCat("unknown metric '", metric, "' (known: ", absl::StrJoin(known, ", "), ")"));
}

bool Compare(double measured, const std::string& op, double target) {
  if (op == "<") return measured < target;
  if (op == "<=") return measured <= target;
  if (op == ">") return measured > target;
  if (op == ">=") return measured >= target;
  if (op == "==") return measured == target;
  return measured != target;
}

absl::StatusOr<Criterion> ParseOne(const json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("each criterion must be an object");
  Criterion c;
  if (!j.contains("metric") || !j["metric"].is_string()) {
    return absl::InvalidArgumentError("a criterion has no \"metric\" string");
  }
  c.metric = j["metric"];
  if (absl::Status s = CheckMetric(c.metric); !s.ok()) return s;
  c.op = j.value("op", std::string());
  static const std::set<std::string> kOps = {"<", "<=", ">", ">=", "==", "!="};
  if (!kOps.count(c.op)) {
    return absl::InvalidArgumentError(
        absl::StrCat("criterion ", c.metric, ": op must be one of < <= > >= == !="));
  }
  if (!j.contains("value") || !j["value"].is_number()) {
    return absl::InvalidArgumentError(absl::StrCat("criterion ", c.metric, ": no numeric value"));
  }
  c.value = j["value"];
  c.name = j.value("name", absl::StrCat(c.metric, " ", c.op, " ", ExactNumber(c.value)));
  return c;
}

}  // namespace

absl::StatusOr<std::vector<Criterion>> ParseCriteria(const std::string& json_text,
                                                     const std::string& origin) {
  json doc = json::parse(json_text, nullptr, /*allow_exceptions=*/false, /*comments=*/true);
  if (doc.is_object() && doc.contains("criteria")) doc = doc["criteria"];
  if (doc.is_discarded() || !doc.is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": criteria must be a JSON array of {metric, op, value}"));
  }
  std::vector<Criterion> out;
  for (const json& j : doc) {
    absl::StatusOr<Criterion> c = ParseOne(j);
    if (!c.ok()) return absl::InvalidArgumentError(absl::StrCat(origin, ": ", c.status().message()));
    out.push_back(*std::move(c));
  }
  return out;
}

absl::StatusOr<std::vector<Criterion>> LoadCriteria(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path, "criteria file");
  if (!text.ok()) return text.status();
  return ParseCriteria(*text, path);
}

std::vector<double> CriteriaRatios(const std::vector<Criterion>& criteria) {
  std::vector<double> out;
  for (const Criterion& c : criteria) {
    const auto [base, ratio] = SplitMetric(c.metric);
    if (ratio.has_value() && std::find(out.begin(), out.end(), *ratio) == out.end()) {
      out.push_back(*ratio);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string RatioKey(double ratio) { return ExactNumber(ratio); }

std::vector<CriterionResult> EvaluateCriteria(const std::vector<Criterion>& criteria,
                                              const std::map<std::string, double>& metrics) {
  std::vector<CriterionResult> out;
  for (const Criterion& c : criteria) {
    CriterionResult r{c, std::nullopt, false};
    const auto [base, ratio] = SplitMetric(c.metric);
    const std::string key = ratio.has_value() ? absl::StrCat(base, "@", RatioKey(*ratio)) : base;
    if (auto it = metrics.find(key); it != metrics.end()) {
      r.measured = it->second;
      r.met = Compare(it->second, c.op, c.value);
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace ablate::client
