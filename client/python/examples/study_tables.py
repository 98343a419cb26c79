#!/usr/bin/env python3
"""Reproduces the study's tables (10A-10D) and its cumulative-curve figure from a finished
full-sweep job, with the Python client.

    python3 examples/study_tables.py --server 127.0.0.1:50051 [--token-file F] JOB \
        [--series layer_series.txt] [--out curve.png]
"""
import argparse

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ablate import Client  # noqa: E402


def pct(v):
    return "%+.2f%%" % (100 * v)


def interval(row, name, fmt=pct):
    """" [lo, hi]" of a statistic when the server computed its bootstrap interval."""
    lo, hi = row.get(name + "_lo"), row.get(name + "_hi")
    return "" if lo is None or lo != lo else " [%s, %s]" % (fmt(lo), fmt(hi))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("job")
    p.add_argument("--server", default="127.0.0.1:50051")
    p.add_argument("--token-file")
    p.add_argument("--series", help="one number per layer (e.g. probe accuracy)")
    p.add_argument("--out", default="cumulative_curve.png")
    a = p.parse_args()
    c = Client(a.server, token_file=a.token_file)

    heads = c.heads(a.job)
    base = heads.attrs["baseline_ppl"]
    print("Baseline PPL %.3f (%d tokens scored)\n" % (base, heads.attrs["n_tokens_scored"]))
    top = heads.sort_values("delta", ascending=False).head(10)
    print("10A. Top 10 heads (each ablated alone; intervals: %g%% paired block bootstrap)"
          % (100 * heads.attrs.get("ci", 0.95)))
    top = top.assign(dPPL=[pct(r["delta"]) + interval(r, "delta") for _, r in top.iterrows()])
    print(top[["layer", "head", "ppl", "dPPL"]].to_string(index=False))
    print("Negative heads: %d\n" % (heads.delta < 0).sum())

    s = c.stats(a.job).iloc[0]
    count = lambda v: "%d" % v  # noqa: E731
    print("10B. Distribution: %d heads, %d%s under 1%%, %d%s under 10%%, %d%s improved; "
          "mean %s%s, median %s%s, max %s%s (L%dH%d); Zipf alpha %.3f%s, C %.3f, R^2 %.3f\n"
          % (s.n_heads, s.under_1pct, interval(s, "under_1pct", count), s.under_10pct,
             interval(s, "under_10pct", count), s.improved, interval(s, "improved", count),
             pct(s.mean_delta), interval(s, "mean_delta"), pct(s.median_delta),
             interval(s, "median_delta"), pct(s.max_delta), interval(s, "max_delta"),
             s.max_layer, s.max_head, s.zipf_alpha,
             interval(s, "zipf_alpha", lambda v: "%.3f" % v), s.zipf_c, s.zipf_r2))

    curve = c.curve(a.job)
    thr = c.thresholds(a.job, [1.1, 1.5, 2.0])
    print("10C. Max heads removable")
    print(thr.assign(share=(100 * thr.fraction).round(1))[["ratio", "max_heads", "share",
                                                          "ppl_at_max"]].to_string(index=False))

    series = None
    if a.series:
        with open(a.series) as f:
            series = [float(x) for x in f.read().replace(",", " ").split()]
    layers = c.layers(a.job, series=series)
    print("\n10D. Per layer")
    shown = layers[["layer", "max_head"]].assign(
        mean=[pct(r["mean_delta"]) + interval(r, "mean_delta") for _, r in layers.iterrows()],
        max=[pct(r["max_delta"]) + interval(r, "max_delta") for _, r in layers.iterrows()])
    if series is not None:
        shown["series"] = layers.series
    print(shown.to_string(index=False))
    if series is not None:
        r = layers.attrs["correlation"]
        three = lambda v: "%.3f" % v  # noqa: E731
        print("Pearson r %.3f%s (p %.3g), Spearman rho %.3f%s (p %.3g)"
              % (r["pearson_r"], interval(r, "pearson_r", three), r["pearson_p"],
                 r["spearman_rho"], interval(r, "spearman_rho", three), r["spearman_p"]))

    fig, ax = plt.subplots(figsize=(8, 5))
    if "ratio_lo" in curve:  # The bootstrap band of every point.
        ax.fill_between(curve.removed, curve.ratio_lo, curve.ratio_hi, color="#1f4e9c",
                        alpha=0.15, lw=0, label="%g%% band" % (100 * curve.attrs.get("ci", 0.95)))
    ax.plot(curve.removed, curve.ratio, color="#1f4e9c", marker=".", lw=1.8)
    colors = ["#1b9e77", "#d95f02", "#7570b3"]
    for color, row in zip(colors, thr.itertuples()):
        ax.axhline(row.ratio, color=color, ls="--", lw=1,
                   label="PPL <= %gx: %d heads" % (row.ratio, row.max_heads))
        ax.axvline(row.max_heads, color=color, ls=":", lw=1)
    ax.set_yscale("log")
    plain = matplotlib.ticker.FuncFormatter(lambda v, _: "%g" % v)  # 1.2, not 1.2 x 10^0
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.set_xlabel("heads removed (least important first)")
    ax.set_ylabel("PPL / baseline PPL (log scale)")
    ax.set_title("Cumulative ablation: %s" % a.job)
    ax.legend()
    fig.tight_layout()
    fig.savefig(a.out, dpi=120)
    print("\nfigure: %s" % a.out)


if __name__ == "__main__":
    main()
