// The attribution report (SWEEP_ATTRIBUTION jobs): the scatter of estimated vs exact dPPL of
// the verified heads, the agreement, and every head's estimate (declared in report.h and
// figures.h).
#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/figures.h"
#include "client/format.h"
#include "client/report.h"
#include "client/svg.h"
#include "client/views.h"

namespace ablate::client {
namespace {

constexpr char kAxis[] = "#333333";
constexpr char kGrid[] = "#e3e3e3";

// The square plot area, one linear scale (fraction) for both axes.
struct ScatterFrame {
  double left, top, size, lo, hi;
  double X(double v) const { return left + size * (v - lo) / (hi - lo); }
  double Y(double v) const { return top + size * (1.0 - (v - lo) / (hi - lo)); }
};

void ScatterAxes(Svg* svg, const ScatterFrame& f) {
  const double bottom = f.top + f.size, right = f.left + f.size;
  for (double t : NiceTicks(f.lo, f.hi, 6)) {
    svg->Line(f.X(t), f.top, f.X(t), bottom, {{"stroke", t == 0 ? "#bbb" : kGrid}});
    svg->Line(f.left, f.Y(t), right, f.Y(t), {{"stroke", t == 0 ? "#bbb" : kGrid}});
    svg->Text(f.X(t), bottom + 18, SignedPercent(t, 1), "middle", 11);
    svg->Text(f.left - 8, f.Y(t) + 4, SignedPercent(t, 1), "end", 11);
  }
  svg->Rect(f.left, f.top, f.size, f.size, {{"fill", "none"}, {"stroke", kAxis}});
  svg->Line(f.X(f.lo), f.Y(f.lo), f.X(f.hi), f.Y(f.hi),
            {{"class", "identity"}, {"stroke", "#888"}, {"stroke-dasharray", "6 4"}});
  svg->Text(f.X(f.hi) - 6, f.Y(f.hi) + 16, "estimate = exact", "end", 11, {{"fill", "#666"}});
  svg->Text(f.left + f.size / 2, bottom + 42, "exact dPPL (head ablated alone)", "middle", 12);
  svg->Text(f.left - 62, f.top + f.size / 2, "estimated dPPL (attribution patching)", "middle",
            12, {}, -90);
}

std::string AgreementText(const v1::HeadTable& t) {
  std::string s = absl::StrCat(t.n_verified(), " verified heads");
  if (t.has_atp_spearman()) absl::StrAppend(&s, "; Spearman rho = ", Fixed(t.atp_spearman(), 3));
  if (t.has_atp_recall()) {
    absl::StrAppend(&s, "; recall of the true top ", t.n_verified(), " = ",
                    Fixed(t.atp_recall(), 3), " (", t.recall_reference_job(), ")");
  }
  return s;
}

}  // namespace

std::string AttributionScatterSvg(const v1::HeadTable& table, const std::string& subtitle) {
  std::vector<v1::HeadRow> rows;
  double lo = 0, hi = 0;
  for (const v1::HeadRow& r : table.rows()) {
    if (!r.exact() || !std::isfinite(r.delta()) || !std::isfinite(r.atp_delta())) continue;
    rows.push_back(r);
    lo = std::min({lo, r.delta(), r.atp_delta()});
    hi = std::max({hi, r.delta(), r.atp_delta()});
  }
  const double pad = std::max(1e-4, 0.06 * (hi - lo));
  ScatterFrame f{100, 90, 420, lo - pad, hi + pad};
  Svg svg(560, 600);
  svg.Title("Attribution estimate vs exact ablation", subtitle);
  ScatterAxes(&svg, f);
  std::vector<v1::HeadRow> by_effect = rows;
  std::stable_sort(by_effect.begin(), by_effect.end(),
                   [](const v1::HeadRow& a, const v1::HeadRow& b) { return a.delta() > b.delta(); });
  for (size_t i = 0; i < by_effect.size(); ++i) {
    const v1::HeadRow& r = by_effect[i];
    const std::string name = HeadName(r.layer(), r.head());
    svg.Element("circle",
                {{"class", "point"}, {"cx", Coord(f.X(r.delta()))}, {"cy", Coord(f.Y(r.atp_delta()))},
                 {"r", "4"}, {"fill", "#d95f02"}, {"fill-opacity", "0.75"}, {"stroke", "#7a3500"}},
                "",
                absl::StrCat(name, ": exact ", SignedPercent(r.delta(), 2), ", estimate ",
                             SignedPercent(r.atp_delta(), 2)));
    if (i < 5) {  // the largest exact effects, labelled
      svg.Text(f.X(r.delta()) + 6, f.Y(r.atp_delta()) - 6, name, "start", 10, {{"fill", "#444"}});
    }
  }
  svg.Text(f.left, f.top + f.size + 70,
           rows.empty() ? "no verified heads yet" : AgreementText(table), "start", 11,
           {{"fill", "#555"}});
  return svg.Finish();
}

std::string AttributionReportMarkdown(const ReportData& d) {
  const v1::HeadTable& t = d.heads;
  std::string md = absl::StrCat(
      "# Attribution pre-ranking: ", d.job.spec().name().empty() ? d.job.id() : d.job.spec().name(),
      "\n\nMethod ", MethodName(d.job.spec().method()), "; baseline PPL ", Fixed(t.baseline_ppl(), 3),
      " (", t.n_tokens_scored(), " tokens scored); ", t.n_layer(), " layers x ", t.n_head(),
      " heads. Every head's dPPL is estimated to first order from one forward and one backward "
      "pass (attribution patching); the ",
      d.job.spec().verify_top_k(), " heads with the largest estimates are then ablated exactly.\n\n",
      "Agreement: ", AgreementText(t), ".\n\n![estimate vs exact](scatter.svg)\n\n",
      "## Heads by estimated dPPL (top 20)\n\n",
      RenderMarkdown(HeadsTable(SortHeads(t, HeadSort::kDelta, 20))),
      "\nAll heads: heads.csv.\n");
  return md;
}

std::vector<std::pair<std::string, std::string>> AttributionReportFiles(const ReportData& d,
                                                                        const std::string& sub) {
  return {{"report.md", AttributionReportMarkdown(d)},
          {"scatter.svg", AttributionScatterSvg(d.heads, sub)},
          {"heads.csv", RenderCsv(HeadsTable(SortHeads(d.heads, HeadSort::kLayer, 0)))}};
}

}  // namespace ablate::client
