// The report's three SVG figures. Pure functions of the query results; thread-safe.
// Every figure has a title, axis titles, tick labels and (where colour carries a value) a
// colour scale. Element classes let tests count what was drawn: heatmap cells are
// class="cell", curve points class="point" (the zoom panel's "zoom-point"), layer bars
// class="bar" (mean, one per layer) and class="max-bar" (max, one per layer).
#ifndef ABLATE_CLIENT_FIGURES_H_
#define ABLATE_CLIENT_FIGURES_H_

#include <string>

#include "ablate/v1/ablate.pb.h"

namespace ablate::client {

// Layer x head heatmap of dPPL: diverging colours on a symmetric log scale (linear within
// +-1%), a legend bar with percent ticks, values printed in cells that are large enough.
std::string HeatmapSvg(const v1::HeadTable& table, const std::string& subtitle);

// PPL / baseline vs heads removed (log y) in two panels: every point, and a zoom on the
// region of the thresholds; each threshold ratio is a dashed line with its max-heads count as
// a vertical marker (class="threshold" once per ratio, in the zoom panel).
std::string CurveSvg(const v1::CumulativeCurve& curve, const v1::ThresholdTable& thresholds,
                     const std::string& subtitle);

// Per-layer mean dPPL as bars (values on top), and below, each layer's max dPPL as bars
// labelled with its head; each panel has its own scale.
std::string LayerBarsSvg(const v1::LayerTable& layers, const std::string& subtitle);

// SWEEP_ATTRIBUTION: estimated dPPL (y) vs exact dPPL (x), one class="point" per verified
// head, the identity line (class="identity"), the largest exact effects labelled, and the
// agreement (Spearman, recall) below (report_attribution.cc).
std::string AttributionScatterSvg(const v1::HeadTable& table, const std::string& subtitle);

}  // namespace ablate::client

#endif  // ABLATE_CLIENT_FIGURES_H_
