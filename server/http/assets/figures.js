// ablate dashboard figures: SVG strings in the report's visual language (client/figures.cc):
// its diverging colour scale on a symmetric log, the log-scale cumulative curve with the
// threshold markers, the layer bars; plus the compare scatter. Uses util.js.
'use strict';

const THRESHOLD_COLORS = ['#1b9e77', '#d95f02', '#7570b3', '#e7298a', '#66a61e', '#e6ab02'];
const STOPS = [[33, 102, 172], [103, 169, 207], [247, 247, 247], [239, 138, 98], [178, 24, 43]];
const LINEAR_WITHIN = 0.01;
const AXIS = '#333333', GRID = '#e3e3e3', CURVE = '#1f4e9c';

function symlog(v, vmax, lin) {
  if (!(vmax > 0) || !isFinite(v)) return 0;
  const s = Math.log1p(Math.abs(v) / lin) / Math.log1p(vmax / lin);
  return Math.max(-1, Math.min(1, v < 0 ? -s : s));
}

function divergingColor(s) {
  s = Math.max(-1, Math.min(1, isFinite(s) ? s : 0));
  const pos = (s + 1) * 2, i = Math.min(3, Math.floor(pos)), f = pos - i;
  const a = STOPS[i], b = STOPS[i + 1];
  const mix = (x, y) => Math.round(x + (y - x) * f).toString(16).padStart(2, '0');
  return '#' + mix(a[0], b[0]) + mix(a[1], b[1]) + mix(a[2], b[2]);
}

function isDark(hex) {
  const v = parseInt(hex.slice(1), 16);
  return 0.299 * ((v >> 16) & 255) + 0.587 * ((v >> 8) & 255) + 0.114 * (v & 255) < 140;
}

function svgEl(w, h, body, cls) {
  return `<svg class="${cls}" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" ` +
      `xmlns="http://www.w3.org/2000/svg">${body}</svg>`;
}

function text(x, y, s, anchor = 'start', size = 11, extra = '') {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" text-anchor="${anchor}" ` +
      `font-size="${size}" ${extra}>${esc(s)}</text>`;
}

function line(x1, y1, x2, y2, attrs) {
  return `<line x1="${x1.toFixed(1)}" y1="${y1.toFixed(1)}" x2="${x2.toFixed(1)}" ` +
      `y2="${y2.toFixed(1)}" ${attrs}/>`;
}

function niceTicks(lo, hi, n) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    out.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  }
  return out;
}

function logTicks(lo, hi) {
  const out = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 1.5, 2, 3, 5, 7]) {
      const t = m * Math.pow(10, e);
      if (t >= lo && t <= hi) out.push(t);
    }
  }
  while (out.length > 10) out.splice(1, 1);
  return out;
}

function tickLabel(v) { return String(Number(v.toPrecision(6))); }

function heatmapSvg(t) {
  const nl = Math.max(1, t.n_layer), nh = Math.max(1, t.n_head);
  let vmax = LINEAR_WITHIN;
  // Attribution sweeps: heads not verified exactly have delta null; show their estimate.
  const value = (r) => (r.delta != null ? r.delta : r.atp_delta);
  for (const r of t.heads) if (value(r) != null && isFinite(value(r))) vmax = Math.max(vmax, Math.abs(value(r)));
  const cw = Math.max(12, Math.min(56, 640 / nh)), ch = Math.max(10, Math.min(34, 440 / nl));
  const left = 70, top = 50, gw = cw * nh, gh = ch * nl, legendH = Math.max(gh, 180);
  const labels = cw >= 30 && ch >= 14;
  let b = text(left + gw / 2, top - 28, 'head', 'middle', 12);
  for (let h = 0; h < nh; h++) b += text(left + (h + 0.5) * cw, top - 8, h, 'middle', 10);
  for (let l = 0; l < nl; l++) b += text(left - 8, top + (l + 0.5) * ch + 4, l, 'end', 10);
  b += text(left - 40, top + gh / 2, 'layer', 'middle', 12,
            `transform="rotate(-90 ${left - 40} ${top + gh / 2})"`);
  for (const r of t.heads) {
    const fill = divergingColor(value(r) == null ? 0 : symlog(value(r), vmax, LINEAR_WITHIN));
    const x = left + r.head * cw, y = top + r.layer * ch;
    let tip = r.delta != null
        ? `${headName(r.layer, r.head)}: PPL ${fixed(r.ppl, 2)}, dPPL ${pct(r.delta)}`
        : `${headName(r.layer, r.head)}: estimated dPPL ${pct(r.atp_delta)} (not verified)`;
    if (r.delta_ci) tip += ` [${pct(r.delta_ci[0])}, ${pct(r.delta_ci[1])}]`;
    b += `<rect class="cell" data-layer="${r.layer}" data-head="${r.head}" ` +
        `data-delta="${r.delta}" data-tip="${esc(tip)}" x="${x.toFixed(1)}" y="${y.toFixed(1)}" ` +
        `width="${cw.toFixed(1)}" height="${ch.toFixed(1)}" fill="${fill}" stroke="white" ` +
        `stroke-width="0.5"><title>${esc(tip)}</title></rect>`;
    if (r.significant) {  // The delta's interval excludes 0.
      b += `<circle class="significant" cx="${(x + cw - 4).toFixed(1)}" cy="${(y + 4).toFixed(1)}" ` +
          `r="1.8" fill="#222" pointer-events="none"/>`;
    }
    if (labels) {
      const p = 100 * (value(r) || 0);
      b += text(x + cw / 2, y + ch / 2 + 3.5, p.toFixed(Math.abs(p) >= 99.95 ? 0 : 1), 'middle',
                Math.min(10, ch * 0.6),
                `fill="${isDark(fill) ? 'white' : '#222'}" pointer-events="none"`);
    }
  }
  b += `<rect x="${left}" y="${top}" width="${gw}" height="${gh}" fill="none" stroke="${AXIS}"/>`;
  b += heatmapLegend(left + gw + 30, top, legendH, vmax);
  return svgEl(Math.max(480, left + gw + 120), top + legendH + 20, b, 'heatmap');
}

function heatmapLegend(x, top, h, vmax) {
  let grad = '<defs><linearGradient id="dppl-scale" x1="0" y1="1" x2="0" y2="0">';
  for (let i = 0; i <= 20; i++) {
    grad += `<stop offset="${i / 20}" stop-color="${divergingColor(-1 + i / 10)}"/>`;
  }
  let b = grad + '</linearGradient></defs>' +
      text(x + 9, top - 10, 'dPPL', 'middle', 12, 'font-weight="bold"') +
      `<rect x="${x}" y="${top}" width="18" height="${h}" fill="url(#dppl-scale)" ` +
      `stroke="${AXIS}"/>`;
  const values = [0, vmax, -vmax];
  for (let v = LINEAR_WITHIN; v < vmax * 0.8; v *= 10) values.push(v, -v);
  for (const v of values) {
    const y = top + (1 - (symlog(v, vmax, LINEAR_WITHIN) + 1) / 2) * h;
    b += line(x + 18, y, x + 23, y, `stroke="${AXIS}"`) +
        text(x + 26, y + 4, v === 0 ? '0%' : pct(v, Math.abs(v) < 0.00995 ? 1 : 0), 'start', 10);
  }
  return b;
}

// Cumulative curve (ratio on a log axis) with the threshold lines and max-heads markers;
// a zoom panel on the threshold region when the curve leaves it early, as in the report.
function curvePanel(curve, thr, f, title, cls) {
  const X = (k) => f.left + (f.right - f.left) * k / f.xMax;
  const Y = (r) => {
    const v = (Math.log10(Math.max(r, f.yLo)) - Math.log10(f.yLo)) /
        (Math.log10(f.yHi) - Math.log10(f.yLo));
    return f.bottom - (f.bottom - f.top) * Math.min(v, 1.5);
  };
  let b = '';
  for (const t of logTicks(f.yLo, f.yHi)) {
    b += line(f.left, Y(t), f.right, Y(t), `stroke="${GRID}"`) +
        text(f.left - 8, Y(t) + 4, tickLabel(t), 'end', 11);
  }
  for (const k of niceTicks(0, f.xMax, 10)) {
    if (k !== Math.floor(k)) continue;
    b += line(X(k), f.bottom, X(k), f.bottom + 5, `stroke="${AXIS}"`) +
        text(X(k), f.bottom + 18, tickLabel(k), 'middle', 11);
  }
  b += line(f.left, f.bottom, f.right, f.bottom, `stroke="${AXIS}"`) +
      line(f.left, f.top, f.left, f.bottom, `stroke="${AXIS}"`) +
      text(f.left + 6, f.top - 8, title, 'start', 12, 'font-weight="bold"') +
      line(f.left, Y(1), f.right, Y(1), 'stroke="#888"') +
      text(f.left + 6, Y(1) - 6, 'baseline', 'start', 10, 'fill="#666"');
  const clip = 'clip-' + cls;
  b += `<defs><clipPath id="${clip}"><rect x="${f.left}" y="${f.top - 3}" ` +
      `width="${f.right - f.left + 3}" height="${f.bottom - f.top + 3}"/></clipPath></defs>`;
  const pts = curve.points.filter((p) => p.removed <= f.xMax + 1);
  if (pts.every((p) => p.ratio_ci)) {
    const upper = pts.map((p) => `${X(p.removed).toFixed(1)},${Y(p.ratio_ci[1]).toFixed(1)}`);
    const lower = pts.slice().reverse().map(
        (p) => `${X(p.removed).toFixed(1)},${Y(p.ratio_ci[0]).toFixed(1)}`);
    b += `<polygon class="band" points="${upper.concat(lower).join(' ')}" fill="${CURVE}" ` +
        `fill-opacity="0.15" stroke="none" clip-path="url(#${clip})"/>`;
  }
  b += thresholdMarks(thr, f, X, Y, cls === 'zoom' || !f.zoomed);
  b += `<polyline class="${cls === 'zoom' ? 'zoom-curve' : 'curve'}" points="` +
      pts.map((p) => `${X(p.removed).toFixed(1)},${Y(p.ratio).toFixed(1)}`).join(' ') +
      `" fill="none" stroke="${CURVE}" stroke-width="1.8" clip-path="url(#${clip})"/>`;
  for (const p of pts) {
    if (p.removed > f.xMax || p.ratio > f.yHi) continue;
    const head = p.head ? headName(p.head.layer, p.head.head) : 'none';
    const tip = `${p.removed} removed (last ${head}): PPL ${fixed(p.ppl, 2)}, ` +
        `${fixed(p.ratio, 3)}x`;
    b += `<circle class="${cls === 'zoom' ? 'zoom-point' : 'point'}" cx="${X(p.removed).toFixed(1)}" ` +
        `cy="${Y(p.ratio).toFixed(1)}" r="2.4" fill="${CURVE}" data-tip="${esc(tip)}">` +
        `<title>${esc(tip)}</title></circle>`;
  }
  return b;
}

function thresholdMarks(thr, f, X, Y, labels) {
  let b = '';
  thr.rows.forEach((t, i) => {
    const color = THRESHOLD_COLORS[i % 6];
    b += line(f.left, Y(t.ratio), f.right, Y(t.ratio),
              `class="threshold" stroke="${color}" stroke-dasharray="6 4"`);
    if (t.max_heads > f.xMax) return;
    b += line(X(t.max_heads), f.bottom, X(t.max_heads), Y(t.ratio),
              `class="threshold-marker" stroke="${color}" stroke-dasharray="2 3"`);
    if (labels) {
      b += text(X(t.max_heads) + 4, f.bottom - 6 - 14 * (i % 3), t.max_heads, 'start', 11,
                `fill="${color}" font-weight="bold"`);
    }
  });
  return b;
}

function curveSvg(curve, thr) {
  let n = 1, kMax = 0, lo = 1, hi = 1, tHi = 1;
  for (const p of curve.points) {
    n = Math.max(n, p.removed);
    if (p.ratio > 0 && isFinite(p.ratio)) { lo = Math.min(lo, p.ratio); hi = Math.max(hi, p.ratio); }
  }
  for (const t of thr.rows) { tHi = Math.max(tHi, t.ratio); kMax = Math.max(kMax, t.max_heads); }
  let kExit = n;
  for (const p of curve.points) if (p.ratio > tHi * 1.15) { kExit = p.removed; break; }
  const yHi = Math.max(hi, tHi) * 1.08;
  let b = '', height;
  if (kExit === n) {
    b += curvePanel(curve, thr, {left: 80, right: 760, top: 30, bottom: 400, xMax: n,
                                 yLo: lo / 1.03, yHi, zoomed: false}, 'All heads', 'full');
    height = 470;
  } else {
    b += curvePanel(curve, thr, {left: 80, right: 760, top: 30, bottom: 260, xMax: n,
                                 yLo: lo / 1.03, yHi, zoomed: true}, 'All heads', 'full');
    const zx = Math.min(n, Math.max(10, kMax + 3, Math.ceil(kExit * 1.15)));
    b += curvePanel(curve, thr, {left: 80, right: 760, top: 320, bottom: 560, xMax: zx,
                                 yLo: lo / 1.01, yHi: tHi * 1.15, zoomed: true},
                    `Zoom: first ${zx} heads, PPL up to ${tickLabel(tHi * 1.15)}x baseline`,
                    'zoom');
    height = 630;
  }
  b += text(420, height - 32, 'heads removed (least important first)', 'middle', 12);
  b += text(22, (height - 60) / 2, 'PPL / baseline PPL (log scale)', 'middle', 12,
            `transform="rotate(-90 22 ${(height - 60) / 2})"`);
  thr.rows.forEach((t, i) => {
    const x = 80 + 230 * (i % 3), y = height - 16 + 14 * Math.floor(i / 3);
    b += line(x, y - 4, x + 22, y - 4,
              `stroke="${THRESHOLD_COLORS[i % 6]}" stroke-dasharray="6 4" stroke-width="2"`) +
        text(x + 28, y, `PPL <= ${tickLabel(t.ratio)}x: ${t.max_heads} heads ` +
             `(${fixed(100 * t.fraction, 1)}%)`, 'start', 11);
  });
  return svgEl(800, height + 14 * Math.floor((thr.rows.length - 1) / 3), b, 'curve-figure');
}

function barPanel(vals, title, color, cls, top, bottom, tips) {
  const left = 70, right = 760;
  let lo = Math.min(0, ...vals), hi = Math.max(0, ...vals);
  if (hi === lo) hi = lo + 1;
  const pad = (hi - lo) * 0.12;
  const ticks = niceTicks(lo < 0 ? lo - pad : lo, hi + pad, 5);
  lo = Math.min(lo < 0 ? lo - pad : lo, ticks[0]);
  hi = Math.max(hi + pad, ticks[ticks.length - 1]);
  const Y = (v) => bottom - (bottom - top) * (v - lo) / (hi - lo);
  let b = '';
  for (const t of ticks) {
    b += line(left, Y(t), right, Y(t), `stroke="${t === 0 ? AXIS : GRID}"`) +
        text(left - 8, Y(t) + 4, tickLabel(t) + '%', 'end', 11);
  }
  b += line(left, top, left, bottom, `stroke="${AXIS}"`) +
      text(left + 6, top - 8, title, 'start', 12, 'font-weight="bold"');
  const slot = (right - left) / Math.max(1, vals.length);
  vals.forEach((v, i) => {
    const cx = left + (i + 0.5) * slot, bw = slot * 0.6;
    b += `<rect class="${cls}" x="${(cx - bw / 2).toFixed(1)}" y="${Math.min(Y(v), Y(0)).toFixed(1)}" ` +
        `width="${bw.toFixed(1)}" height="${Math.abs(Y(v) - Y(0)).toFixed(1)}" ` +
        `fill="${v < 0 ? '#67a9cf' : color}" data-tip="${esc(tips[i])}"><title>${esc(tips[i])}` +
        `</title></rect>`;
    const label = (v >= 0 ? '+' : '') + Number(v.toPrecision(2)) + '%';
    b += text(cx, v < 0 ? Y(v) + 12 : Y(v) - 4, label, 'middle', slot < 40 ? 8 : 10,
              'fill="#333"') + text(cx, bottom + 16, i, 'middle', 11);
  });
  return b;
}

function layerBarsSvg(layers) {
  const tips = layers.map((r) => `layer ${r.layer}: mean ${pct(r.mean_delta)}, max ` +
      `${pct(r.max_delta)} (head ${r.max_head})`);
  let b = barPanel(layers.map((r) => 100 * r.mean_delta), 'Mean dPPL per layer', '#4c72b0',
                   'bar', 30, 230, tips);
  b += barPanel(layers.map((r) => 100 * r.max_delta), 'Max dPPL per layer', '#dd8452',
                'max-bar', 290, 490, tips);
  b += text(415, 530, 'layer', 'middle', 12);
  return svgEl(800, 545, b, 'layer-bars');
}

// ---------- scatters: compare, attribution ----------
// Paired dPPL values on symmetric log axes with the identity line (dashed): points are
// {x, y, tip}; each dot carries class `cls`.
function pairScatterSvg(points, xLabel, yLabel, cls, identityLabel) {
  const left = 70, right = 560, top = 20, bottom = 470;
  const xs = points.map((p) => p.x), ys = points.map((p) => p.y);
  const lo = Math.min(0, ...xs, ...ys), hi = Math.max(0, ...xs, ...ys);
  const vmax = Math.max(LINEAR_WITHIN, Math.abs(lo), Math.abs(hi));
  const X = (v) => left + (right - left) * (symlog(v, vmax, LINEAR_WITHIN) + 1) / 2;
  const Y = (v) => bottom - (bottom - top) * (symlog(v, vmax, LINEAR_WITHIN) + 1) / 2;
  let b = '';
  const ticks = [0, vmax, -vmax];
  for (let v = LINEAR_WITHIN; v < vmax * 0.8; v *= 10) ticks.push(v, -v);
  for (const t of ticks) {
    const label = t === 0 ? '0%' : pct(t, Math.abs(t) < 0.00995 ? 1 : 0);
    b += line(X(t), top, X(t), bottom, `stroke="${t === 0 ? '#888' : GRID}"`) +
        line(left, Y(t), right, Y(t), `stroke="${t === 0 ? '#888' : GRID}"`) +
        text(X(t), bottom + 16, label, 'middle', 10) + text(left - 6, Y(t) + 4, label, 'end', 10);
  }
  b += line(X(-vmax), Y(-vmax), X(vmax), Y(vmax),
            'class="identity" stroke="#bbb" stroke-dasharray="4 4"');
  if (identityLabel) b += text(X(vmax) - 6, Y(vmax) + 16, identityLabel, 'end', 11, 'fill="#666"');
  b += `<rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" ` +
      `fill="none" stroke="${AXIS}"/>`;
  for (const p of points) {
    b += `<circle class="${cls}" cx="${X(p.x).toFixed(1)}" cy="${Y(p.y).toFixed(1)}" ` +
        `r="3.5" fill="${CURVE}" fill-opacity="0.7" data-tip="${esc(p.tip)}"><title>` +
        `${esc(p.tip)}</title></circle>`;
  }
  b += text((left + right) / 2, bottom + 36, xLabel, 'middle', 12) +
      text(18, (top + bottom) / 2, yLabel, 'middle', 12,
           `transform="rotate(-90 18 ${(top + bottom) / 2})"`);
  return svgEl(600, 520, b, 'scatter');
}

function scatterSvg(cmp) {
  return pairScatterSvg(cmp.rows.map((r) => ({
    x: r.delta_a, y: r.delta_b,
    tip: `${headName(r.layer, r.head)}: A ${pct(r.delta_a)} (rank ${r.rank_a}), ` +
        `B ${pct(r.delta_b)} (rank ${r.rank_b}), shift ${r.rank_shift > 0 ? '+' : ''}${r.rank_shift}`,
  })), 'dPPL in A (symmetric log)', 'dPPL in B (symmetric log)', 'dot');
}

// Attribution: each verified head's estimate against its exact dPPL (the report's figure).
function attributionScatterSvg(heads) {
  return pairScatterSvg(heads.filter((r) => r.verified).map((r) => ({
    x: r.delta, y: r.atp_delta,
    tip: `${headName(r.layer, r.head)}: exact ${pct(r.delta)}, estimate ${pct(r.atp_delta)}`,
  })), 'exact dPPL (ablation; symmetric log)', 'estimated dPPL (attribution)', 'atp-dot',
  'estimate = exact');
}
