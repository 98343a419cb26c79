// The report's figures: well-formed XML, the expected number of cells / points / bars, and
// the scales behind them.
#include "client/figures.h"

#include <cmath>

#include "client/svg.h"
#include "gtest/gtest.h"
#include "tests/client/xml_check.h"

namespace ablate::client {
namespace {

using testing::Count;
using testing::XmllintProblem;
using testing::XmlProblem;

v1::HeadTable Heads(int layers, int heads) {
  v1::HeadTable t;
  t.set_n_layer(layers);
  t.set_n_head(heads);
  t.set_baseline_ppl(20);
  for (int l = 0; l < layers; ++l) {
    for (int h = 0; h < heads; ++h) {
      v1::HeadRow* r = t.add_rows();
      r->set_layer(l);
      r->set_head(h);
      r->set_delta(((l * heads + h) % 7 - 2) * 0.03 * (l + 1));
      r->set_ppl(20 * (1 + r->delta()));
    }
  }
  return t;
}

void ExpectWellFormed(const std::string& svg) {
  EXPECT_EQ(XmlProblem(svg), "");
  EXPECT_EQ(XmllintProblem(svg), "");
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("class=\"title\""), std::string::npos);
}

TEST(XmlCheckTest, CatchesBrokenXml) {
  EXPECT_EQ(XmlProblem("<a><b x=\"1\"/>t &amp; u</a>"), "");
  EXPECT_NE(XmlProblem("<a><b></a>"), "");
  EXPECT_NE(XmlProblem("<a x=1/>"), "");
  EXPECT_NE(XmlProblem("<a>&nbsp;</a>"), "");
  EXPECT_NE(XmlProblem("<a/><b/>"), "");
  EXPECT_NE(XmlProblem("<a>1 < 2</a>"), "");
}

TEST(HeatmapTest, OneCellPerHeadWithLegend) {
  const std::string svg = HeatmapSvg(Heads(12, 12), "GPT-2 small <test> & co");
  ExpectWellFormed(svg);
  EXPECT_EQ(Count(svg, "class=\"cell\""), 144);
  EXPECT_NE(svg.find("dppl-scale"), std::string::npos);
  EXPECT_NE(svg.find("&lt;test&gt; &amp; co"), std::string::npos);
  EXPECT_NE(svg.find(">layer</text>"), std::string::npos);
  EXPECT_NE(svg.find(">head</text>"), std::string::npos);
}

TEST(HeatmapTest, SmallAndLargeModels) {
  for (auto [l, h] : {std::pair{1, 1}, std::pair{3, 4}, std::pair{48, 25}}) {
    const std::string svg = HeatmapSvg(Heads(l, h), "");
    ExpectWellFormed(svg);
    EXPECT_EQ(Count(svg, "class=\"cell\""), l * h) << l << "x" << h;
  }
}

TEST(CurveTest, OnePointPerStepAndThresholdLines) {
  v1::CumulativeCurve curve;
  curve.set_baseline_ppl(20);
  for (int k = 0; k <= 144; ++k) {
    v1::CurvePoint* p = curve.add_points();
    p->set_removed(k);
    p->set_ratio(k < 5 ? 0.99 : std::exp(k / 20.0));
    p->set_ppl(20 * p->ratio());
    if (k > 0) p->mutable_head()->set_layer(k % 12);
  }
  v1::ThresholdTable thresholds;
  for (auto [r, k] : {std::pair{1.1, 10}, std::pair{1.5, 25}, std::pair{2.0, 35}}) {
    v1::ThresholdRow* row = thresholds.add_rows();
    row->set_ratio(r);
    row->set_max_heads(k);
    row->set_fraction(k / 144.0);
  }
  const std::string svg = CurveSvg(curve, thresholds, "");
  ExpectWellFormed(svg);
  EXPECT_EQ(Count(svg, "class=\"point\""), 145);
  // The zoom panel shows points up to 1.15 x the largest threshold ratio (2.3): exp(k/20) <=
  // 2.3 for k <= 16, so k = 0..16.
  EXPECT_EQ(Count(svg, "class=\"zoom-point\""), 17);
  EXPECT_EQ(Count(svg, "class=\"curve\""), 1);
  EXPECT_EQ(Count(svg, "class=\"threshold\""), 3);
  EXPECT_NE(svg.find("log scale"), std::string::npos);
  EXPECT_NE(svg.find("25 heads"), std::string::npos);
}

TEST(CurveTest, OnePanelWhenTheCurveStaysLow) {
  v1::CumulativeCurve curve;
  for (int k = 0; k <= 12; ++k) {
    v1::CurvePoint* p = curve.add_points();
    p->set_removed(k);
    p->set_ratio(1.0 + 0.04 * k);  // Ends at 1.48 < 1.15 x 2.
  }
  v1::ThresholdTable thresholds;
  for (auto [r, k] : {std::pair{1.1, 2}, std::pair{2.0, 12}}) {
    v1::ThresholdRow* row = thresholds.add_rows();
    row->set_ratio(r);
    row->set_max_heads(k);
  }
  const std::string svg = CurveSvg(curve, thresholds, "");
  ExpectWellFormed(svg);
  EXPECT_EQ(Count(svg, "class=\"point\""), 13);
  EXPECT_EQ(Count(svg, "class=\"zoom-point\""), 0);
  EXPECT_EQ(Count(svg, "class=\"threshold\""), 2);
}

TEST(LayerBarsTest, MeanAndMaxBarPerLayer) {
  v1::LayerTable layers;
  for (int l = 0; l < 12; ++l) {
    v1::LayerRow* r = layers.add_rows();
    r->set_layer(l);
    r->set_mean_delta(l == 3 ? -0.01 : 0.02 * l);
    r->set_max_delta(0.1 * l);
    r->set_max_head(l % 5);
  }
  const std::string svg = LayerBarsSvg(layers, "");
  ExpectWellFormed(svg);
  EXPECT_EQ(Count(svg, "class=\"bar\""), 12);
  EXPECT_EQ(Count(svg, "class=\"max-bar\""), 12);
  EXPECT_NE(svg.find(">H4</text>"), std::string::npos);  // Layer 9: head 9 % 5.
  EXPECT_NE(svg.find(">dPPL (%)</text>"), std::string::npos);
}

// Small effects keep two significant digits, and a label under the most negative bar stays
// clear of the layer numbers under the panel (both seen in the demo model's first report).
TEST(LayerBarsTest, SmallEffectsLabelledReadably) {
  v1::LayerTable layers;
  const double means[] = {0.0015, -0.0001, 0.0004, -0.0009};
  for (int l = 0; l < 4; ++l) {
    v1::LayerRow* r = layers.add_rows();
    r->set_layer(l);
    r->set_mean_delta(means[l]);
    r->set_max_delta(0.0048 / (l + 1));
    r->set_max_head(3);
  }
  const std::string svg = LayerBarsSvg(layers, "");
  ExpectWellFormed(svg);
  EXPECT_NE(svg.find(">+0.15%</text>"), std::string::npos);
  EXPECT_NE(svg.find(">-0.01%</text>"), std::string::npos);
  EXPECT_NE(svg.find(">H3 (+0.48%)</text>"), std::string::npos);
  const auto y_of = [&](const std::string& text) {
    const size_t end = svg.find(">" + text + "</text>");
    const size_t y = svg.rfind(" y=\"", end);
    return std::stod(svg.substr(y + 4));
  };
  const size_t first_panel_end = svg.find("Max dPPL in the layer");
  const size_t layer3 = svg.rfind(">3</text>", first_panel_end);
  const size_t layer3_y = svg.rfind(" y=\"", layer3);
  EXPECT_LT(y_of("-0.09%") + 10, std::stod(svg.substr(layer3_y + 4)));
}

TEST(ScalesTest, TicksAndColours) {
  EXPECT_EQ(NiceTicks(0, 10, 5), (std::vector<double>{0, 2, 4, 6, 8, 10}));
  EXPECT_EQ(NiceTicks(-3, 7, 5), (std::vector<double>{-2, 0, 2, 4, 6}));
  EXPECT_EQ(LogTicks(0.9, 120), (std::vector<double>{1, 2, 5, 10, 20, 50, 100}));
  EXPECT_EQ(LogTicks(0.9, 2e5), (std::vector<double>{1, 10, 100, 1000, 10000, 100000}));
  EXPECT_EQ(TickLabel(10000), "10000");
  EXPECT_EQ(TickLabel(1.5), "1.5");
  const std::vector<double> narrow = LogTicks(0.97, 1.3);
  EXPECT_EQ(narrow.front(), 1.0);
  EXPECT_NEAR(narrow.back(), 1.3, 1e-12);
  EXPECT_EQ(DivergingColor(0), "#f7f7f7");
  EXPECT_EQ(DivergingColor(1), "#b2182b");
  EXPECT_EQ(DivergingColor(-1), "#2166ac");
  EXPECT_TRUE(IsDark(DivergingColor(1)));
  EXPECT_FALSE(IsDark(DivergingColor(0.1)));
  EXPECT_DOUBLE_EQ(SymLog(0.5, 0.5, 0.01), 1.0);
  EXPECT_DOUBLE_EQ(SymLog(-0.5, 0.5, 0.01), -1.0);
  EXPECT_NEAR(SymLog(0.01, 1.0, 0.01), std::log(2.0) / std::log(101.0), 1e-15);
  EXPECT_EQ(Coord(1.005), "1");
  EXPECT_EQ(Coord(12.5), "12.5");
  EXPECT_EQ(XmlEscape("a<b&'\""), "a&lt;b&amp;&apos;&quot;");
}

}  // namespace
}  // namespace ablate::client

namespace ablate::client {
namespace {

// An attribution table: every head estimated, the first `verified` (by estimate) exact.
v1::HeadTable AttributionHeads(int verified) {
  v1::HeadTable t = Heads(3, 4);
  int n = 0;
  for (v1::HeadRow& r : *t.mutable_rows()) {
    r.set_atp_delta(r.delta() * 0.8 + 0.001);
    r.set_exact(n++ < verified);
    if (!r.exact()) {
      r.set_ppl(0);
      r.set_delta(0);
    }
  }
  t.set_n_verified(verified);
  t.set_atp_spearman(0.871);
  return t;
}

// The number attribute `name` of the element that contains position `at`.
double Attr(const std::string& svg, size_t at, const std::string& name) {
  const size_t element = svg.rfind('<', at);
  const size_t start = svg.find(" " + name + "=\"", element) + name.size() + 3;
  return std::stod(svg.substr(start, svg.find('"', start) - start));
}

// cx + cy of the i-th element with class="point".
double PointSum(const std::string& svg, int i) {
  size_t at = 0;
  for (int k = 0; k <= i; ++k) at = svg.find("class=\"point\"", at + 1);
  return Attr(svg, at, "cx") + Attr(svg, at, "cy");
}

TEST(AttributionScatterTest, OnePointPerVerifiedHeadAndTheIdentityLine) {
  const std::string svg = AttributionScatterSvg(AttributionHeads(5), "demo <model>");
  ExpectWellFormed(svg);
  EXPECT_EQ(Count(svg, "class=\"point\""), 5);
  EXPECT_EQ(Count(svg, "class=\"identity\""), 1);
  EXPECT_NE(svg.find("5 verified heads; Spearman rho = 0.871"), std::string::npos);
  EXPECT_NE(svg.find(">exact dPPL (head ablated alone)</text>"), std::string::npos);
  EXPECT_NE(svg.find("demo &lt;model&gt;"), std::string::npos);
  EXPECT_EQ(Count(AttributionScatterSvg(AttributionHeads(0), ""), "class=\"point\""), 0);
  EXPECT_NE(AttributionScatterSvg(AttributionHeads(0), "").find("no verified heads yet"),
            std::string::npos);
}

TEST(AttributionScatterTest, AnExactEstimateLiesOnTheIdentityLine) {
  v1::HeadTable t = AttributionHeads(2);
  t.mutable_rows(0)->set_delta(0.05);
  t.mutable_rows(0)->set_atp_delta(0.05);  // On the line.
  t.mutable_rows(1)->set_delta(-0.02);
  t.mutable_rows(1)->set_atp_delta(0.04);  // Above it: the estimate overshoots.
  const std::string svg = AttributionScatterSvg(t, "");
  // Both axes share one scale and y grows downwards, so x + y is the same at every point of
  // the identity line, and smaller above it. Points come largest exact effect first.
  const size_t line = svg.find("class=\"identity\"");
  ASSERT_NE(line, std::string::npos);
  const double on_line = Attr(svg, line, "x1") + Attr(svg, line, "y1");
  EXPECT_NEAR(Attr(svg, line, "x2") + Attr(svg, line, "y2"), on_line, 0.05);
  EXPECT_NEAR(PointSum(svg, 0), on_line, 0.05);
  EXPECT_LT(PointSum(svg, 1), on_line - 50);  // the overshooting estimate sits above it
}

}  // namespace
}  // namespace ablate::client
