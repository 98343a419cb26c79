// Views of query results: the proto messages of AblationService turned into Tables (for
// Markdown and CSV) and JSON values. Pure functions; thread-safe.
#ifndef ABLATE_CLIENT_VIEWS_H_
#define ABLATE_CLIENT_VIEWS_H_

#include <optional>
#include <string>
#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "absl/status/statusor.h"
#include "client/format.h"
#include "nlohmann/json.hpp"

namespace ablate::client {

// --sort of `ablate heads`: delta = most harmful first (descending signed delta), abs =
// descending |delta|, layer = (layer, head) order. Ties keep (layer, head) order.
enum class HeadSort { kDelta, kAbs, kLayer };
absl::StatusOr<HeadSort> ParseHeadSort(const std::string& name);

// "L3H7".
std::string HeadName(int layer, int head);

// Rows of `table` sorted by `sort`, the first `top` of them (top <= 0: all).
std::vector<v1::HeadRow> SortHeads(const v1::HeadTable& table, HeadSort sort, int top);
// Heads with delta < 0, ascending delta (most improving first).
std::vector<v1::HeadRow> NegativeHeads(const v1::HeadTable& table);

// Tables of rows with bootstrap intervals (HeadRow.delta_lo set, CurvePoint.ratio_lo,
// ThresholdRow.max_heads_lo) gain interval columns: bracketed in Markdown ("[+1.20%, +3.40%]"),
// two numbers in CSV (delta_lo, delta_hi, ...). `ci` (the level, 0 = unknown) titles them.
Table HeadsTable(const std::vector<v1::HeadRow>& rows, double ci = 0);
// Attribution rows (atp_delta set) get AttributionHeadsTable's columns instead.
// Estimated dPPL for every head, exact PPL / dPPL for the verified ones ("-" otherwise).
Table AttributionHeadsTable(const std::vector<v1::HeadRow>& rows);
// A SWEEP_ATTRIBUTION table (rows carry atp_delta); --sort ranks by the estimate there.
bool IsAttribution(const v1::HeadTable& table);
Table CurveTable(const v1::CumulativeCurve& curve, const std::vector<int>& only_k = {});
Table ThresholdsTable(const v1::ThresholdTable& thresholds, int n_heads_total);
Table StatsTable(const v1::DistributionStats& stats);
// With `series`, a column of the series values is added (same length as the layers).
Table LayersTable(const v1::LayerTable& layers, const std::vector<double>* series = nullptr,
                  const std::string& series_name = "");
Table CorrelationTable(const v1::Correlation& corr);
Table JobTable(const v1::Job& job);
Table JobsTable(const std::vector<v1::Job>& jobs);

nlohmann::json HeadRowsJson(const std::vector<v1::HeadRow>& rows);
nlohmann::json CurveJson(const v1::CumulativeCurve& curve);
nlohmann::json ThresholdsJson(const v1::ThresholdTable& thresholds);
nlohmann::json StatsJson(const v1::DistributionStats& stats);
nlohmann::json LayersJson(const v1::LayerTable& layers);
nlohmann::json CorrelationJson(const v1::Correlation& corr);
nlohmann::json JobJson(const v1::Job& job);
// `ablate heads --format json`: baseline, shape, the sorted (top) rows and the negative heads.
nlohmann::json HeadTableJson(const v1::HeadTable& table, HeadSort sort, int top);
// `ablate workers --format json`: one object per worker (masks_per_second null before its
// first completed task).
nlohmann::json WorkersJson(const v1::ListWorkersResponse& workers);

// --sort of `ablate compare`: shift = largest |rank_shift| first, a / b = by rank in that job,
// layer = (layer, head) order. Ties keep (layer, head) order.
enum class CompareSort { kShift, kA, kB, kLayer };
absl::StatusOr<CompareSort> ParseCompareSort(const std::string& name);
std::vector<v1::CompareRow> SortComparison(const v1::Comparison& cmp, CompareSort sort, int top);
Table CompareTable(const std::vector<v1::CompareRow>& rows);
// `ablate compare --format json`: the jobs, the shape, `rows` (as sorted) and the correlation
// (null when undefined).
nlohmann::json ComparisonJson(const v1::Comparison& cmp, const std::vector<v1::CompareRow>& rows);

// "4 layers x 8 heads (2 kv heads), head_dim 16, d_model 128, context 256, vocab 1000": the
// shape with n_kv_head and head_dim resolved (0 = n_head, n_embd / n_head).
std::string ShapeText(const v1::ModelShape& shape);
// Whether the job put a BOS in slot 0 of each chunk: "yes (token 1 in slot 0 of every chunk)"
// or "no".
std::string BosText(const v1::JobSpec& spec);
// The model of a job as JSON: path, artifact_digest, sha256, tokenizer, family and the shape
// (resolved as in ShapeText), bos_token_id.
nlohmann::json ModelJson(const v1::ModelRef& model);

// Lower-case names of enum values: "running", "zero_folded", "full", "fp32", "cuda".
std::string StateName(v1::JobState s);
std::string MethodName(v1::Method m);
std::string SweepName(v1::Sweep s);
std::string DTypeName(v1::DType d);
std::string DeviceKindName(v1::DeviceKind d);

// Inverse of the above for flags and spec files. Errors name the field and the choices.
absl::StatusOr<v1::JobState> ParseState(const std::string& name);
absl::StatusOr<v1::Method> ParseMethod(const std::string& name);
absl::StatusOr<v1::Sweep> ParseSweep(const std::string& name);
absl::StatusOr<v1::DType> ParseDType(const std::string& name);
absl::StatusOr<v1::DeviceKind> ParseDeviceKind(const std::string& name);

// Unix milliseconds as "2026-11-28 04:09:32 UTC"; "-" for 0.
std::string TimeString(int64_t unix_ms);

}  // namespace ablate::client

#endif  // ABLATE_CLIENT_VIEWS_H_
