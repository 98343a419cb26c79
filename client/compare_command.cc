// ablate compare (declared in commands.h).
#include "absl/strings/str_cat.h"
#include "client/call.h"
#include "client/commands.h"

namespace ablate::client {

absl::Status RunCompare(const Session& s, const std::string& job_a, const std::string& job_b,
                        CompareSort sort, int top, Format format, const Output& out) {
  v1::CompareRequest req;
  req.set_job_a(job_a);
  req.set_job_b(job_b);
  v1::Comparison cmp;
  if (absl::Status st = Call(s, &Stub::CompareJobs, req, &cmp, "CompareJobs"); !st.ok()) {
    return st;
  }
  const std::vector<v1::CompareRow> rows = SortComparison(cmp, sort, top);
  switch (format) {
    case Format::kJson:
      *out.out << ComparisonJson(cmp, rows).dump(2) << "\n";
      return absl::OkStatus();
    case Format::kCsv:
      *out.out << RenderCsv(CompareTable(rows));
      return absl::OkStatus();
    case Format::kTable:
      break;
  }
  *out.out << "A = " << cmp.job_a() << ", B = " << cmp.job_b() << "; " << cmp.n_layer()
           << " layers x " << cmp.n_head() << " heads; rank 1 = largest dPPL\n\n";
  if (cmp.has_correlation()) {
    const v1::Correlation& c = cmp.correlation();
    *out.out << "Spearman rho " << Fixed(c.spearman_rho(), 4) << " (p " << ExactNumber(c.spearman_p())
             << "), Pearson r " << Fixed(c.pearson_r(), 4) << " (p " << ExactNumber(c.pearson_p())
             << ") over " << c.n() << " heads\n\n";
  } else {
    *out.out << "Correlation undefined (fewer than 3 heads, or all deltas equal)\n\n";
  }
  *out.out << RenderMarkdown(CompareTable(rows));
  return absl::OkStatus();
}

}  // namespace ablate::client
