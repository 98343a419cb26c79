// Bootstrap intervals in the client's views and figures: bracketed columns in Markdown, two
// numbers in CSV, fields in JSON, dotted non-significant heatmap cells, the curve band; and
// the plain tables unchanged when a reply has no intervals.
#include <string>

#include "client/figures.h"
#include "client/format.h"
#include "client/views.h"
#include "gtest/gtest.h"
#include "tests/client/xml_check.h"

namespace ablate::client {
namespace {

using testing::Count;
using testing::XmlProblem;

v1::HeadTable Heads(bool intervals) {
  v1::HeadTable t;
  t.set_n_layer(2);
  t.set_n_head(2);
  t.set_baseline_ppl(20);
  const double delta[] = {0.05, 0.002, -0.01, 0.2};
  for (int i = 0; i < 4; ++i) {
    v1::HeadRow* r = t.add_rows();
    r->set_layer(i / 2);
    r->set_head(i % 2);
    r->set_delta(delta[i]);
    r->set_ppl(20 * (1 + delta[i]));
    if (!intervals) continue;
    r->set_delta_lo(delta[i] - 0.004);
    r->set_delta_hi(delta[i] + 0.004);
    r->set_significant(r->delta_lo() > 0 || r->delta_hi() < 0);
    r->set_rank_lo(i == 3 ? 1 : 2);
    r->set_rank_hi(i == 3 ? 1 : 4);
  }
  if (intervals) {
    t.set_ci(0.95);
    t.set_bootstrap(10000);
    t.set_seed(7);
  }
  return t;
}

TEST(IntervalViewsTest, HeadsTableBracketsInMarkdownBoundsInCsv) {
  const v1::HeadTable t = Heads(true);
  const std::vector<v1::HeadRow> rows = SortHeads(t, HeadSort::kDelta, 0);
  const std::string md = RenderMarkdown(HeadsTable(rows, t.ci()));
  EXPECT_NE(md.find("dPPL 95% CI"), std::string::npos) << md;
  EXPECT_NE(md.find("[+19.60%, +20.40%]"), std::string::npos) << md;
  EXPECT_NE(md.find("[1, 1]"), std::string::npos);
  EXPECT_EQ(md.find("delta_lo"), std::string::npos);  // CSV-only columns stay out
  const std::string csv = RenderCsv(HeadsTable(rows, t.ci()));
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "rank,layer,head,ppl,delta,delta_lo,delta_hi,significant,rank_lo,rank_hi");
  EXPECT_NE(csv.find(",0.196,"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",true,1,1"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",false,2,4"), std::string::npos) << csv;
  const nlohmann::json j = HeadRowsJson(rows);
  EXPECT_EQ(j[0]["delta_ci"], nlohmann::json({0.2 - 0.004, 0.2 + 0.004}));
  EXPECT_EQ(j[0]["rank_ci"], nlohmann::json({1, 1}));
  EXPECT_EQ(j[0]["significant"], true);
  EXPECT_EQ(j[2]["significant"], false);  // +0.2% [-0.2%, +0.6%]
}

TEST(IntervalViewsTest, NoIntervalsNoNewColumns) {
  const v1::HeadTable t = Heads(false);
  const std::string csv = RenderCsv(HeadsTable(SortHeads(t, HeadSort::kLayer, 0), t.ci()));
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "rank,layer,head,ppl,delta");
  EXPECT_FALSE(HeadRowsJson({t.rows(0)})[0].contains("delta_ci"));
}

v1::CumulativeCurve Curve() {
  v1::CumulativeCurve c;
  c.set_baseline_ppl(20);
  c.set_ci(0.9);
  c.set_bootstrap(500);
  c.set_seed(3);
  const double ratio[] = {1.0, 1.02, 1.08, 1.3, 1.9};
  for (int k = 0; k < 5; ++k) {
    v1::CurvePoint* p = c.add_points();
    p->set_removed(k);
    p->set_ratio(ratio[k]);
    p->set_ppl(20 * ratio[k]);
    p->set_ratio_lo(ratio[k] * (1 - 0.01 * k));
    p->set_ratio_hi(ratio[k] * (1 + 0.01 * k));
    if (k > 0) p->mutable_head()->set_layer(k - 1);
  }
  return c;
}

TEST(IntervalViewsTest, CurveAndThresholds) {
  const v1::CumulativeCurve c = Curve();
  const std::string md = RenderMarkdown(CurveTable(c));
  EXPECT_NE(md.find("x baseline 90% CI"), std::string::npos) << md;
  EXPECT_NE(md.find("[1.261, 1.339]"), std::string::npos) << md;
  EXPECT_NE(RenderCsv(CurveTable(c)).find("ratio_lo,ratio_hi"), std::string::npos);
  const nlohmann::json j = CurveJson(c);
  EXPECT_EQ(j["points"][3]["ratio_ci"].size(), 2u);
  EXPECT_EQ(j["bootstrap"], 500);

  v1::ThresholdTable t;
  t.set_ci(0.9);
  v1::ThresholdRow* r = t.add_rows();
  r->set_ratio(1.1);
  r->set_max_heads(2);
  r->set_fraction(0.5);
  r->set_max_heads_lo(1);
  r->set_max_heads_hi(2);
  EXPECT_NE(RenderMarkdown(ThresholdsTable(t, 4)).find("[1, 2]"), std::string::npos);
  EXPECT_NE(RenderCsv(ThresholdsTable(t, 4)).find("max_heads_lo,max_heads_hi"),
            std::string::npos);
  EXPECT_EQ(ThresholdsJson(t)["rows"][0]["max_heads_ci"], nlohmann::json({1, 2}));

  v1::DistributionStats s;
  s.set_n_heads(4);
  s.set_n_significant(3);
  s.set_ci(0.95);
  EXPECT_NE(RenderMarkdown(StatsTable(s)).find("3 (75.0%), 95% CI excludes 0"),
            std::string::npos);
  EXPECT_EQ(StatsJson(s)["n_significant"], 3);
}

TEST(IntervalFiguresTest, DottedCellsAndBand) {
  const std::string heat = HeatmapSvg(Heads(true), "test");
  EXPECT_EQ(XmlProblem(heat), "");
  EXPECT_EQ(Count(heat, "class=\"not-significant\""), 1);  // only L0H1's includes 0
  EXPECT_NE(heat.find("interval of dPPL includes 0"), std::string::npos);
  EXPECT_EQ(Count(HeatmapSvg(Heads(false), "test"), "class=\"not-significant\""), 0);

  v1::ThresholdTable t;
  v1::ThresholdRow* r = t.add_rows();
  r->set_ratio(1.1);
  r->set_max_heads(2);
  r->set_max_heads_lo(1);
  r->set_max_heads_hi(3);
  const std::string curve = CurveSvg(Curve(), t, "test");
  EXPECT_EQ(XmlProblem(curve), "");
  EXPECT_GE(Count(curve, "class=\"band\""), 1);
  EXPECT_NE(curve.find("2 heads [1, 3]"), std::string::npos);
  EXPECT_NE(curve.find("90% bootstrap band"), std::string::npos);
}

}  // namespace
}  // namespace ablate::client
