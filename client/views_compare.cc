// Views of a Comparison (CompareJobs): sorting, table, JSON (declared in views.h).
#include <algorithm>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "client/views.h"

namespace ablate::client {

absl::StatusOr<CompareSort> ParseCompareSort(const std::string& name) {
  if (name == "shift") return CompareSort::kShift;
  if (name == "a") return CompareSort::kA;
  if (name == "b") return CompareSort::kB;
  if (name == "layer") return CompareSort::kLayer;
  return absl::InvalidArgumentError(
      absl::StrCat("--sort must be shift, a, b or layer; got '", name, "'"));
}

std::vector<v1::CompareRow> SortComparison(const v1::Comparison& cmp, CompareSort sort,
                                           int top) {
  std::vector<v1::CompareRow> rows(cmp.rows().begin(), cmp.rows().end());
  auto key = [sort](const v1::CompareRow& r) -> int {
    switch (sort) {
      case CompareSort::kShift:
        return -std::abs(r.rank_shift());
      case CompareSort::kA:
        return r.rank_a();
      case CompareSort::kB:
        return r.rank_b();
      case CompareSort::kLayer:
        return 0;
    }
    return 0;
  };
  std::stable_sort(rows.begin(), rows.end(), [&](const v1::CompareRow& x,
                                                 const v1::CompareRow& y) {
    return key(x) < key(y);
  });
  if (top > 0 && static_cast<int>(rows.size()) > top) rows.resize(top);
  return rows;
}

Table CompareTable(const std::vector<v1::CompareRow>& rows) {
  Table t;
  t.keys = {"layer", "head", "delta_a", "delta_b", "rank_a", "rank_b", "rank_shift"};
  t.titles = {"layer", "head", "dPPL A", "dPPL B", "rank A", "rank B", "rank shift"};
  for (const v1::CompareRow& r : rows) {
    Cell shift = IntCell(r.rank_shift());
    if (r.rank_shift() > 0) shift.text = absl::StrCat("+", r.rank_shift());
    t.AddRow({IntCell(r.layer()), IntCell(r.head()), PercentCell(r.delta_a(), 2),
              PercentCell(r.delta_b(), 2), IntCell(r.rank_a()), IntCell(r.rank_b()), shift});
  }
  return t;
}

nlohmann::json ComparisonJson(const v1::Comparison& cmp,
                              const std::vector<v1::CompareRow>& rows) {
  nlohmann::json list = nlohmann::json::array();
  for (const v1::CompareRow& r : rows) {
    list.push_back({{"layer", r.layer()}, {"head", r.head()}, {"delta_a", r.delta_a()},
                    {"delta_b", r.delta_b()}, {"rank_a", r.rank_a()}, {"rank_b", r.rank_b()},
                    {"rank_shift", r.rank_shift()}});
  }
  return {{"job_a", cmp.job_a()},
          {"job_b", cmp.job_b()},
          {"n_layer", cmp.n_layer()},
          {"n_head", cmp.n_head()},
          {"rows", std::move(list)},
          {"correlation", cmp.has_correlation() ? CorrelationJson(cmp.correlation())
                                                : nlohmann::json(nullptr)}};
}

}  // namespace ablate::client
