#include "client/figures.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/format.h"
#include "client/svg.h"
#include "client/views.h"

namespace ablate::client {
namespace {

constexpr char kAxis[] = "#333333";
constexpr char kGrid[] = "#e3e3e3";
constexpr const char* kThresholdColors[] = {"#1b9e77", "#d95f02", "#7570b3", "#e7298a",
                                            "#66a61e", "#e6ab02"};
constexpr double kLinearWithin = 0.01;  // Heatmap scale is linear within +-1%.

void HeatmapLegend(Svg* svg, double x, double top, double h, double vmax) {
  std::string grad = "<defs><linearGradient id=\"dppl-scale\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">";
  for (int i = 0; i <= 20; ++i) {
    absl::StrAppend(&grad, "<stop offset=\"", Coord(i / 20.0), "\" stop-color=\"",
                    DivergingColor(-1.0 + i / 10.0), "\"/>");
  }
  svg->Raw(absl::StrCat(grad, "</linearGradient></defs>\n"));
  svg->Text(x + 9, top - 10, "dPPL", "middle", 12, {{"font-weight", "bold"}});
  svg->Rect(x, top, 18, h, {{"fill", "url(#dppl-scale)"}, {"stroke", kAxis}});
  std::vector<double> values = {0.0, vmax, -vmax};
  for (double v = kLinearWithin; v < vmax * 0.8; v *= 10) {
    values.push_back(v);
    values.push_back(-v);
  }
  for (double v : values) {
    const double y = top + (1.0 - (SymLog(v, vmax, kLinearWithin) + 1.0) / 2.0) * h;
    svg->Line(x + 18, y, x + 23, y, {{"stroke", kAxis}});
    svg->Text(x + 26, y + 4, v == 0 ? "0%" : SignedPercent(v, std::fabs(v) < 0.00995 ? 1 : 0),
              "start", 10);
  }
}

}  // namespace

std::string HeatmapSvg(const v1::HeadTable& table, const std::string& subtitle) {
  int n_layer = table.n_layer(), n_head = table.n_head();
  double vmax = kLinearWithin;
  for (const v1::HeadRow& r : table.rows()) {
    n_layer = std::max(n_layer, r.layer() + 1);
    n_head = std::max(n_head, r.head() + 1);
    if (std::isfinite(r.delta())) vmax = std::max(vmax, std::fabs(r.delta()));
  }
  n_layer = std::max(1, n_layer);
  n_head = std::max(1, n_head);
  const double cw = std::clamp(640.0 / n_head, 12.0, 56.0);
  const double ch = std::clamp(440.0 / n_layer, 10.0, 34.0);
  const double left = 80, top = 100, gw = cw * n_head, gh = ch * n_layer;
  const double legend_h = std::max(gh, 180.0);
  const bool intervals = table.rows_size() > 0 && table.rows(0).has_delta_lo();
  Svg svg(std::max(560.0, left + gw + 130), top + std::max(gh, legend_h) + (intervals ? 58 : 44));
  svg.Title("dPPL when each head is ablated alone", subtitle);
  for (int h = 0; h < n_head; ++h) {
    svg.Text(left + (h + 0.5) * cw, top - 8, absl::StrCat(h), "middle", 10);
  }
  svg.Text(left + gw / 2, top - 24, "head", "middle", 12);
  for (int l = 0; l < n_layer; ++l) {
    svg.Text(left - 8, top + (l + 0.5) * ch + 4, absl::StrCat(l), "end", 10);
  }
  svg.Text(left - 40, top + gh / 2, "layer", "middle", 12, {}, -90);
  const bool labels = cw >= 30 && ch >= 14;
  if (intervals) {  // Dots over cells whose interval includes 0.
    svg.Raw("<defs><pattern id=\"not-significant\" width=\"5\" height=\"5\" "
            "patternUnits=\"userSpaceOnUse\"><circle cx=\"2.5\" cy=\"2.5\" r=\"1\" "
            "fill=\"#222\" fill-opacity=\"0.55\"/></pattern></defs>\n");
  }
  for (const v1::HeadRow& r : table.rows()) {
    const std::string fill = DivergingColor(SymLog(r.delta(), vmax, kLinearWithin));
    const double x = left + r.head() * cw, y = top + r.layer() * ch;
    svg.Rect(x, y, cw, ch, {{"class", "cell"}, {"fill", fill}, {"stroke", "white"},
                            {"stroke-width", "0.5"}},
             absl::StrCat(HeadName(r.layer(), r.head()), ": PPL ", Fixed(r.ppl(), 2), ", dPPL ",
                          SignedPercent(r.delta(), 2),
                          r.has_delta_lo() ? absl::StrCat(" [", SignedPercent(r.delta_lo(), 2),
                                                          ", ", SignedPercent(r.delta_hi(), 2),
                                                          "]")
                                           : ""));
    if (intervals && !r.significant()) {
      svg.Rect(x, y, cw, ch, {{"class", "not-significant"}, {"fill", "url(#not-significant)"},
                              {"pointer-events", "none"}});
    }
    if (labels) {
      const double pct = 100 * r.delta();
      svg.Text(x + cw / 2, y + ch / 2 + 3.5, Fixed(pct, std::fabs(pct) >= 99.95 ? 0 : 1),
               "middle", std::min(10.0, ch * 0.6),
               {{"fill", IsDark(fill) ? "white" : "#222"}, {"pointer-events", "none"}});
    }
  }
  svg.Rect(left, top, gw, gh, {{"fill", "none"}, {"stroke", kAxis}});
  HeatmapLegend(&svg, left + gw + 30, top, legend_h, vmax);
  svg.Text(left, top + std::max(gh, legend_h) + 28,
           absl::StrCat("colour: symmetric log scale, linear within +-1%",
                        labels ? "; cell values: dPPL in %" : ""),
           "start", 10, {{"fill", "#555"}});
  if (intervals) {
    svg.Text(left, top + std::max(gh, legend_h) + 42,
             absl::StrCat("dotted: the head's ", ExactNumber(100 * table.ci()),
                          "% bootstrap interval of dPPL includes 0"),
             "start", 10, {{"fill", "#555"}});
  }
  return svg.Finish();
}

namespace {

// A plot area and its log-y / linear-x scales.
struct CurveFrame {
  double left, right, top, bottom;
  double x_max, y_lo, y_hi;
  double X(double k) const { return left + (right - left) * k / x_max; }
  double Y(double r) const {
    const double v = (std::log10(std::max(r, y_lo)) - std::log10(y_lo)) /
                     (std::log10(y_hi) - std::log10(y_lo));
    return bottom - (bottom - top) * std::min(v, 1.5);  // Beyond the top: clipped.
  }
};

void CurveAxes(Svg* svg, const CurveFrame& f, const std::string& title) {
  for (double t : LogTicks(f.y_lo, f.y_hi)) {
    svg->Line(f.left, f.Y(t), f.right, f.Y(t), {{"stroke", kGrid}});
    svg->Text(f.left - 8, f.Y(t) + 4, TickLabel(t), "end", 11);
  }
  for (double k : NiceTicks(0, f.x_max, 10)) {
    if (k != std::floor(k)) continue;
    svg->Line(f.X(k), f.bottom, f.X(k), f.bottom + 5, {{"stroke", kAxis}});
    svg->Text(f.X(k), f.bottom + 18, TickLabel(k), "middle", 11);
  }
  svg->Line(f.left, f.bottom, f.right, f.bottom, {{"stroke", kAxis}});
  svg->Line(f.left, f.top, f.left, f.bottom, {{"stroke", kAxis}});
  svg->Text(f.left + 6, f.top - 8, title, "start", 12, {{"font-weight", "bold"}});
  svg->Line(f.left, f.Y(1.0), f.right, f.Y(1.0), {{"stroke", "#888"}});
  svg->Text(f.left + 6, f.Y(1.0) - 6, "baseline", "start", 10, {{"fill", "#666"}});
}

// The curve inside `f`, clipped to it; circles of class `point_class` for visible points.
void CurveLine(Svg* svg, const CurveFrame& f, const v1::CumulativeCurve& curve,
               const std::string& clip_id, const std::string& point_class) {
  svg->Raw(absl::StrCat("<defs><clipPath id=\"", clip_id, "\"><rect x=\"", Coord(f.left),
                        "\" y=\"", Coord(f.top - 3), "\" width=\"", Coord(f.right - f.left + 3),
                        "\" height=\"", Coord(f.bottom - f.top + 3), "\"/></clipPath></defs>\n"));
  if (curve.points_size() > 0 && curve.points(0).has_ratio_lo()) {  // The bootstrap band.
    std::string upper, lower;
    for (const v1::CurvePoint& p : curve.points()) {
      if (p.removed() > f.x_max + 1) break;
      absl::StrAppend(&upper, " ", Coord(f.X(p.removed())), ",", Coord(f.Y(p.ratio_hi())));
      lower = absl::StrCat(" ", Coord(f.X(p.removed())), ",", Coord(f.Y(p.ratio_lo())), lower);
    }
    svg->Element("polygon", {{"class", point_class == "point" ? "band" : "zoom-band"},
                             {"points", upper + lower}, {"fill", "#1f4e9c"},
                             {"fill-opacity", "0.18"}, {"stroke", "none"},
                             {"clip-path", "url(#" + clip_id + ")"}});
  }
  std::string points;
  for (const v1::CurvePoint& p : curve.points()) {
    if (p.removed() > f.x_max + 1) break;
    absl::StrAppend(&points, points.empty() ? "" : " ", Coord(f.X(p.removed())), ",",
                    Coord(f.Y(p.ratio())));
  }
  svg->Element("polyline", {{"class", point_class == "point" ? "curve" : "zoom-curve"},
                            {"points", points}, {"fill", "none"}, {"stroke", "#1f4e9c"},
                            {"stroke-width", "1.8"}, {"clip-path", "url(#" + clip_id + ")"}});
  for (const v1::CurvePoint& p : curve.points()) {
    if (p.removed() > f.x_max || p.ratio() > f.y_hi) continue;
    const std::string head = p.has_head() ? HeadName(p.head().layer(), p.head().head()) : "none";
    svg->Element("circle", {{"class", point_class}, {"cx", Coord(f.X(p.removed()))},
                            {"cy", Coord(f.Y(p.ratio()))}, {"r", "2.2"}, {"fill", "#1f4e9c"}},
                 "", absl::StrCat(p.removed(), " removed (last ", head, "): PPL ",
                                  Fixed(p.ppl(), 2), ", ", Fixed(p.ratio(), 3), "x"));
  }
}

void ThresholdLines(Svg* svg, const CurveFrame& f, const v1::ThresholdTable& thresholds,
                    bool labels) {
  for (int i = 0; i < thresholds.rows_size(); ++i) {
    const v1::ThresholdRow& t = thresholds.rows(i);
    const std::string color = kThresholdColors[i % 6];
    svg->Line(f.left, f.Y(t.ratio()), f.right, f.Y(t.ratio()),
              {{"class", labels ? "threshold" : "threshold-full"}, {"stroke", color},
               {"stroke-dasharray", "6 4"}});
    if (t.max_heads() > f.x_max) continue;
    svg->Line(f.X(t.max_heads()), f.bottom, f.X(t.max_heads()), f.Y(t.ratio()),
              {{"stroke", color}, {"stroke-dasharray", "2 3"}});
    if (labels) {
      // Below the curve: at k = max_heads the curve sits near the threshold line.
      svg->Text(f.X(t.max_heads()) + 4, f.bottom - 6 - 14 * (i % 3), absl::StrCat(t.max_heads()),
                "start", 11, {{"fill", color}, {"font-weight", "bold"}});
    }
  }
}

}  // namespace

std::string CurveSvg(const v1::CumulativeCurve& curve, const v1::ThresholdTable& thresholds,
                     const std::string& subtitle) {
  Svg svg(900, 840);
  svg.Title("Cumulative ablation: PPL vs heads removed", subtitle);
  int n = 1, k_max = 0;
  double lo = 1.0, hi = 1.0, t_hi = 1.0;
  for (const v1::CurvePoint& p : curve.points()) {
    n = std::max(n, p.removed());
    if (p.ratio() > 0 && std::isfinite(p.ratio())) {
      lo = std::min(lo, p.ratio());
      hi = std::max(hi, p.ratio());
    }
  }
  for (const v1::ThresholdRow& t : thresholds.rows()) {
    t_hi = std::max(t_hi, t.ratio());
    k_max = std::max(k_max, t.max_heads());
  }
  // The zoom ends a little after the curve leaves its top (or at the last step).
  int k_exit = n;
  for (const v1::CurvePoint& p : curve.points()) {
    if (p.ratio() > t_hi * 1.15) {
      k_exit = p.removed();
      break;
    }
  }
  const double y_hi = std::max(hi, t_hi) * 1.08;
  if (k_exit == n) {  // The whole curve is in the threshold region: one panel.
    const CurveFrame only{90, 860, 90, 760, static_cast<double>(n), lo / 1.03, y_hi};
    CurveAxes(&svg, only, "All heads");
    ThresholdLines(&svg, only, thresholds, true);
    CurveLine(&svg, only, curve, "clip-full", "point");
  } else {
    const CurveFrame full{90, 860, 90, 400, static_cast<double>(n), lo / 1.03, y_hi};
    CurveAxes(&svg, full, "All heads");
    ThresholdLines(&svg, full, thresholds, false);
    CurveLine(&svg, full, curve, "clip-full", "point");
    const double zoom_x =
        std::min<double>(n, std::max({10.0, k_max + 3.0, std::ceil(k_exit * 1.15)}));
    const CurveFrame zoom{90, 860, 480, 760, zoom_x, lo / 1.01, t_hi * 1.15};
    CurveAxes(&svg, zoom, absl::StrCat("Zoom: first ", zoom_x, " heads, PPL up to ",
                                       TickLabel(t_hi * 1.15), "x baseline"));
    ThresholdLines(&svg, zoom, thresholds, true);
    CurveLine(&svg, zoom, curve, "clip-zoom", "zoom-point");
  }
  svg.Text(475, 800, "heads removed (least important first)", "middle", 13);
  svg.Text(28, 425, "PPL / baseline PPL (log scale)", "middle", 13, {}, -90);
  for (int i = 0; i < thresholds.rows_size(); ++i) {
    const v1::ThresholdRow& t = thresholds.rows(i);
    const std::string color = kThresholdColors[i % 6];
    const double x = 90 + 260 * (i % 3), y = 822 + 16 * (i / 3);
    svg.Line(x, y - 4, x + 24, y - 4, {{"stroke", color}, {"stroke-dasharray", "6 4"},
                                       {"stroke-width", "2"}});
    svg.Text(x + 30, y,
             absl::StrCat("PPL <= ", TickLabel(t.ratio()), "x: ", t.max_heads(), " heads",
                          t.has_max_heads_lo()  // The interval replaces the percentage.
                              ? absl::StrCat(" [", t.max_heads_lo(), ", ", t.max_heads_hi(), "]")
                              : absl::StrCat(" (", Fixed(100 * t.fraction(), 1), "%)")),
             "start", 12);
  }
  if (curve.ci() > 0) {
    svg.Text(860, 80, absl::StrCat("shaded: ", ExactNumber(100 * curve.ci()),
                                    "% bootstrap band (order fixed)"),
             "end", 11, {{"fill", "#555"}});
  }
  return svg.Finish();
}

namespace {

// One panel of bars (values in percent) with their own linear axis.
void BarPanel(Svg* svg, double left, double right, double top, double bottom,
              const std::vector<double>& pct, const std::vector<std::string>& labels,
              const std::vector<std::string>& tips, const std::string& cls,
              const std::string& color, const std::string& title) {
  double lo = 0, hi = 0;
  for (double v : pct) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (hi == lo) hi = lo + 1;
  // Room beyond the longest bars for their value labels (below negative bars too, so a label
  // never sits on the layer numbers under the panel).
  const double pad = (hi - lo) * 0.12;
  const std::vector<double> ticks = NiceTicks(lo < 0 ? lo - pad : lo, hi + pad, 5);
  lo = std::min(lo < 0 ? lo - pad : lo, ticks.front());
  hi = std::max(hi + pad, ticks.back());
  auto Y = [&](double v) { return bottom - (bottom - top) * (v - lo) / (hi - lo); };
  for (double t : ticks) {
    svg->Line(left, Y(t), right, Y(t), {{"stroke", t == 0 ? kAxis : kGrid}});
    svg->Text(left - 8, Y(t) + 4, absl::StrCat(TickLabel(t), "%"), "end", 11);
  }
  svg->Line(left, top, left, bottom, {{"stroke", kAxis}});
  svg->Line(left, Y(0), right, Y(0), {{"stroke", kAxis}});
  svg->Text(left + 6, top - 8, title, "start", 12, {{"font-weight", "bold"}});
  const double slot = (right - left) / std::max<size_t>(1, pct.size());
  for (size_t i = 0; i < pct.size(); ++i) {
    const double cx = left + (i + 0.5) * slot, bw = slot * 0.6;
    svg->Rect(cx - bw / 2, std::min(Y(pct[i]), Y(0)), bw, std::fabs(Y(pct[i]) - Y(0)),
              {{"class", cls}, {"fill", pct[i] < 0 ? "#67a9cf" : color}}, tips[i]);
    const double ly = pct[i] < 0 ? Y(pct[i]) + 12 : Y(pct[i]) - 4;
    svg->Text(cx, ly, labels[i], "middle", slot < 40 ? 8 : 10, {{"fill", "#333"}});
    svg->Text(cx, bottom + 16, absl::StrCat(i), "middle", 11);
  }
}

// Decimals for bar labels: two significant digits for the panel's largest |value| (1 to 3
// decimals), so small effects read "+0.15%" rather than "+0.2%" / "+0.0%".
int LabelDecimals(const v1::LayerTable& layers, bool max_panel) {
  double largest = 0;
  for (const v1::LayerRow& r : layers.rows()) {
    largest = std::max(largest, std::fabs(100 * (max_panel ? r.max_delta() : r.mean_delta())));
  }
  if (!(largest > 0) || !std::isfinite(largest)) return 1;
  return std::clamp(1 - static_cast<int>(std::floor(std::log10(largest))), 1, 3);
}

}  // namespace

std::string LayerBarsSvg(const v1::LayerTable& layers, const std::string& subtitle) {
  const int n = std::max(1, layers.rows_size());
  Svg svg(std::max(680.0, 130.0 + 56.0 * n), 720);
  svg.Title("Per-layer importance (heads ablated one at a time)", subtitle);
  std::vector<double> mean, max;
  std::vector<std::string> mean_labels, max_labels, tips;
  const int mean_decimals = LabelDecimals(layers, false);
  const int max_decimals = LabelDecimals(layers, true);
  for (const v1::LayerRow& r : layers.rows()) {
    mean.push_back(100 * r.mean_delta());
    max.push_back(100 * r.max_delta());
    mean_labels.push_back(SignedPercent(r.mean_delta(), mean_decimals));
    max_labels.push_back(n <= 8 ? absl::StrCat("H", r.max_head(), " (",
                                               SignedPercent(r.max_delta(), max_decimals), ")")
                                : absl::StrCat("H", r.max_head()));
    tips.push_back(absl::StrCat("layer ", r.layer(), ": mean ", SignedPercent(r.mean_delta(), 2),
                                ", max ", SignedPercent(r.max_delta(), 2), " (head ",
                                r.max_head(), ")"));
  }
  const double L = 80, R = svg.width() - 30;
  BarPanel(&svg, L, R, 90, 340, mean, mean_labels, tips, "bar", "#4c72b0",
           "Mean dPPL over the layer's heads");
  BarPanel(&svg, L, R, 410, 650, max, max_labels, tips, "max-bar", "#dd8452",
           "Max dPPL in the layer (label: that head)");
  svg.Text((L + R) / 2, 690, "layer", "middle", 13);
  svg.Text(26, 370, "dPPL (%)", "middle", 13, {}, -90);
  return svg.Finish();
}

}  // namespace ablate::client
