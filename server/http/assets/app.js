// ablate dashboard: a single page over the server's JSON API (/api/...). No dependencies.
'use strict';

const POLL_MS = 1000;  // Live pages refresh at least this often (the issue asks for 2 s).
const THRESHOLD_COLORS = ['#1b9e77', '#d95f02', '#7570b3', '#e7298a', '#66a61e', '#e6ab02'];
const STOPS = [[33, 102, 172], [103, 169, 207], [247, 247, 247], [239, 138, 98], [178, 24, 43]];
const LINEAR_WITHIN = 0.01;
const AXIS = '#333333', GRID = '#e3e3e3', CURVE = '#1f4e9c';

let pollTimer = null;
let pageToken = 0;  // Bumped on navigation; stale callbacks compare and stop.

// ---------- helpers ----------
function esc(s) {
  return String(s).replace(/[&<>"']/g,
      (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c]));
}
function fixed(v, d) { return v == null || !isFinite(v) ? '-' : Number(v).toFixed(d); }
function pct(v, d = 2) {
  if (v == null || !isFinite(v)) return '-';
  const s = (100 * v).toFixed(d);
  return (v >= 0 ? '+' : '') + s + '%';
}
function headName(l, h) { return 'L' + l + 'H' + h; }
function duration(s) {
  if (s == null || !isFinite(s) || s < 0) return '-';
  if (s < 60) return s.toFixed(1) + 's';
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = Math.floor(s % 60);
  const pad = (x) => String(x).padStart(2, '0');
  return h > 0 ? h + 'h' + pad(m) + 'm' + pad(r) + 's' : m + 'm' + pad(r) + 's';
}
function timeString(ms) {
  return ms > 0 ? new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : '-';
}
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
function table(headers, rows, numeric = []) {
  const th = headers.map((h, i) => `<th class="${numeric[i] ? 'num' : ''}">${esc(h)}</th>`);
  const tr = rows.map((r) => '<tr>' + r.map((c, i) =>
      `<td class="${numeric[i] ? 'num' : ''}">${c}</td>`).join('') + '</tr>');
  return `<table><thead><tr>${th.join('')}</tr></thead><tbody>${tr.join('')}</tbody></table>`;
}

// ---------- API and token ----------
class ApiError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error : 'HTTP ' + status);
    this.status = status;
    this.code = body && body.code;
  }
}
function token() { return sessionStorage.getItem('ablate-token') || ''; }

async function api(path) {
  const headers = {};
  if (token()) headers['Authorization'] = 'Bearer ' + token();
  const res = await fetch(path, {headers, cache: 'no-store'});
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  if (!res.ok) {
    const err = new ApiError(res.status, body);
    if (res.status === 401 || res.status === 403) askToken(err.message);
    throw err;
  }
  setStatus('updated ' + new Date().toLocaleTimeString());
  return body;
}
function askToken(message) {
  const form = document.getElementById('token-form');
  document.getElementById('token-message').textContent =
      (token() ? 'The token was refused: ' : 'This server needs the client token: ') + message;
  form.hidden = false;
  document.getElementById('token-input').focus();
}
function setStatus(s) { document.getElementById('status').textContent = s; }
function showError(el, err) {
  el.innerHTML = `<p class="error">${esc(err.message)}</p>`;
}

// ---------- tooltip ----------
function attachTips(root) {
  const tip = document.getElementById('tip');
  root.querySelectorAll('[data-tip]').forEach((el) => {
    el.addEventListener('mousemove', (e) => {
      tip.textContent = el.getAttribute('data-tip');
      tip.hidden = false;
      tip.style.left = (e.clientX + 14) + 'px';
      tip.style.top = (e.clientY + 14) + 'px';
    });
    el.addEventListener('mouseleave', () => { tip.hidden = true; });
  });
}

// ---------- jobs ----------
function progressCell(job) {
  const p = job.progress, total = Math.max(1, p.masks_total);
  const frac = Math.min(1, p.masks_done / total);
  return `<span class="pbar"><span style="width:${(100 * frac).toFixed(1)}%"></span></span>` +
      `<span class="progress-text">${p.masks_done} / ${p.masks_total} ` +
      `(${(100 * frac).toFixed(1)}%)</span>`;
}
function eta(job) {
  const p = job.progress;
  if (job.state !== 'running' || !(p.masks_per_second > 0)) return '-';
  return duration((p.masks_total - p.masks_done) / p.masks_per_second);
}
function stateBadge(s) { return `<span class="state state-${esc(s)}">${esc(s)}</span>`; }

function jobsTable(jobs) {
  const rows = jobs.map((j) => [
    `<a href="#/job/${encodeURIComponent(j.id)}">${esc(j.id)}</a>`, esc(j.name || ''),
    stateBadge(j.state), progressCell(j),
    j.progress.masks_per_second > 0 ? fixed(j.progress.masks_per_second, 2) : '-', eta(j),
    `<span title="${esc(j.model.path)}">` +
        esc(j.model.path.split('/').filter(Boolean).pop() || j.model.sha256.slice(0, 12)) +
        `</span> <span class="note">${j.model.n_layer}x${j.model.n_head}</span>`,
    esc(j.method), esc(j.sweep), esc(timeString(j.created_unix_ms))]);
  return table(['job', 'name', 'state', 'progress', 'masks/s', 'ETA', 'model', 'method',
                'sweep', 'created'], rows, [0, 0, 0, 0, 1, 1]);
}

async function jobsPage(main, token0) {
  main.innerHTML = '<h1>Jobs</h1><div id="jobs">loading...</div>' +
      '<p class="note">Refreshed every second while this page is open.</p>';
  const tick = async () => {
    if (token0 !== pageToken) return;
    const el = document.getElementById('jobs');
    try {
      const jobs = await api('/api/jobs');
      if (token0 !== pageToken) return;
      el.innerHTML = jobs.length ? jobsTable(jobs) : '<p>No jobs yet.</p>';
    } catch (e) { showError(el, e); }
    if (token0 === pageToken) pollTimer = setTimeout(tick, POLL_MS);
  };
  tick();
}

// ---------- job ----------
function setupTable(job) {
  const rows = [
    ['job', esc(job.id)], ['name', esc(job.name || '')], ['state', stateBadge(job.state)],
    ['model', esc(job.model.path) + ' <span class="note">sha256 ' +
        esc(job.model.sha256.slice(0, 16)) + '...</span>'],
    ['shape', `${job.model.n_layer} layers x ${job.model.n_head} heads`],
    ['dataset', esc(job.dataset.name) + ` (${job.dataset.bytes} bytes)`],
    ['chunks x seq_len', `${job.n_chunks} x ${job.seq_len}`],
    ['method', esc(job.method)], ['sweep', esc(job.sweep)], ['dtype', esc(job.dtype)],
    ['device kind', esc(job.device_kind)], ['progress', progressCell(job)],
    ['masks/s', fixed(job.progress.masks_per_second, 2)], ['ETA', eta(job)],
    ['baseline PPL', job.baseline_ppl > 0 ? fixed(job.baseline_ppl, 3) : '-'],
    ['tokens scored', job.n_tokens_scored || '-'],
    ['created', esc(timeString(job.created_unix_ms))],
    ['started', esc(timeString(job.started_unix_ms))],
    ['finished', esc(timeString(job.finished_unix_ms))]];
  if (job.error) rows.push(['error', `<span class="error">${esc(job.error)}</span>`]);
  return table(['', ''], rows);
}

// Intervals as the CLI's JSON has them: delta_ci, ratio_ci, max_heads_ci = [lo, hi].
function hasIntervals(rows) { return rows.some((r) => r.delta_ci != null); }
function hasAtp(rows) { return rows.some((r) => r.atp_delta != null); }
function headRows(rows) {
  const ci = hasIntervals(rows), atp = hasAtp(rows);
  const headers = ['rank', 'head', 'PPL', 'dPPL'];
  if (ci) headers.push('interval', 'significant');
  if (atp) headers.push('attribution dPPL', 'verified');
  const body = rows.map((r, i) => {
    const c = [i + 1, headName(r.layer, r.head), r.ppl > 0 ? fixed(r.ppl, 3) : '-', pct(r.delta)];
    if (ci) {
      c.push(r.delta_ci ? `${pct(r.delta_ci[0])} .. ${pct(r.delta_ci[1])}` : '-',
             r.significant ? '<span class="sig">yes</span>' : 'no');
    }
    if (atp) c.push(pct(r.atp_delta), r.verified ? 'yes' : 'no');  // CLI JSON names.
    return c;
  });
  return table(headers, body, [1, 0, 1, 1, 1, 0, 1, 0]);
}

function statsTable(s) {
  const z = s.zipf || {};
  const rows = [['heads', s.n_heads], ['|dPPL| < 1%', s.under_1pct],
    ['|dPPL| < 10%', s.under_10pct], ['improved (dPPL < 0)', s.improved],
    ['mean dPPL', pct(s.mean_delta)], ['median dPPL', pct(s.median_delta)],
    ['mean |dPPL|', pct(s.mean_abs_delta)],
    ['max dPPL', pct(s.max_delta) + ' (' + headName(s.max_head.layer, s.max_head.head) + ')'],
    ['Zipf alpha', z.n_points ? fixed(z.alpha, 3) : '-'],
    ['Zipf C', z.n_points ? fixed(z.c, 3) : '-'],
    ['Zipf R^2', z.n_points ? fixed(z.r2, 3) + ` (${z.n_points} heads)` : '-']];
  if (s.n_significant != null) rows.push(['significant heads', s.n_significant]);
  return table(['statistic', 'value'], rows, [0, 1]);
}

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
  b += text(420, height - 40, 'heads removed (least important first)', 'middle', 12);
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

async function jobResults(id, job) {
  const q = '/api/jobs/' + encodeURIComponent(id);
  const out = [];
  const individual = job.sweep !== 'cumulative';
  const cumulative = job.sweep === 'cumulative' || job.sweep === 'full';
  if (individual) {
    const [heads, all, stats, layers] = await Promise.all([
      api(q + '/heads?top=10'), api(q + '/heads?sort=layer'), api(q + '/stats'),
      api(q + '/layers')]);
    out.push(`<h2>10A. Each head ablated alone</h2><p>Baseline PPL ` +
        `<b>${fixed(heads.baseline_ppl, 3)}</b> (${heads.n_tokens_scored} tokens scored). ` +
        `Top 10 heads by dPPL:</p>` + headRows(heads.heads) +
        `<p>Negative heads (removing one alone lowers PPL): ${heads.negative_heads.length}</p>` +
        (heads.negative_heads.length ? headRows(heads.negative_heads) : ''));
    out.push('<h2>10B. Distribution of effects</h2><div class="figures">' +
        `<div>${heatmapSvg(all)}<p class="note">colour: symmetric log scale, linear within ` +
        '+-1%; hover a cell for its value' + (hasIntervals(all.heads)
            ? `; dot: the ${Math.round(100 * all.ci)}% interval of dPPL excludes 0` : '') +
        `</p></div><div>${statsTable(stats)}</div></div>`);
    out.push('<h2>10D. Layers</h2><div class="figures"><div>' + layerBarsSvg(layers.layers) +
        '</div><div>' + table(['layer', 'mean dPPL', 'max dPPL', 'max head'],
            layers.layers.map((r) => [r.layer, pct(r.mean_delta), pct(r.max_delta), r.max_head]),
            [1, 1, 1, 1]) + '</div></div>');
  }
  if (cumulative) {
    const [curve, thr] = await Promise.all([api(q + '/curve'), api(q + '/thresholds')]);
    const ci = thr.rows.some((t) => t.max_heads_ci);
    const rows = thr.rows.map((t) => {
      const r = [fixed(t.ratio, 2) + 'x', t.max_heads, fixed(100 * t.fraction, 1) + '%',
                 fixed(t.ppl_at_max, 3)];
      if (ci) r.push(t.max_heads_ci ? `${t.max_heads_ci[0]} .. ${t.max_heads_ci[1]}` : '-');
      return r;
    });
    const headers = ['PPL ratio', 'max heads removable', 'of all heads', 'PPL at max'];
    if (ci) headers.push('interval');
    const block = '<h2>10C. Cumulative ablation</h2>' + curveSvg(curve, thr) +
        table(headers, rows, [1, 1, 1, 1, 1]);
    out.splice(Math.min(2, out.length), 0, block);
  }
  return out.join('');
}

async function jobPage(main, token0, id) {
  main.innerHTML = `<h1>Job ${esc(id)}</h1><div id="setup">loading...</div><div id="results"></div>`;
  let shownResults = false;
  const tick = async () => {
    if (token0 !== pageToken) return;
    try {
      const job = await api('/api/jobs/' + encodeURIComponent(id));
      if (token0 !== pageToken) return;
      document.getElementById('setup').innerHTML = '<h2>Setup</h2>' + setupTable(job) +
          (job.state === 'succeeded' && job.sweep !== 'cumulative'
              ? `<p><a href="#/compare?a=${encodeURIComponent(id)}">Compare with another job</a>` +
                ' &middot; <a href="#/definitions">What these numbers mean</a></p>' : '');
      const finished = ['succeeded', 'failed', 'cancelled'].includes(job.state);
      if (job.state === 'succeeded' && !shownResults) {
        shownResults = true;
        const results = document.getElementById('results');
        results.innerHTML = await jobResults(id, job);
        attachTips(results);
      }
      if (!finished) pollTimer = setTimeout(tick, POLL_MS);
    } catch (e) {
      showError(document.getElementById(shownResults ? 'setup' : 'results'), e);
      if (!(e instanceof ApiError && (e.status === 404 || e.status === 401))) {
        pollTimer = setTimeout(tick, POLL_MS * 3);
      }
    }
  };
  tick();
}

// ---------- compare ----------
function scatterSvg(cmp) {
  const left = 70, right = 560, top = 20, bottom = 470;
  const xs = cmp.rows.map((r) => r.delta_a), ys = cmp.rows.map((r) => r.delta_b);
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
  b += line(X(-vmax), Y(-vmax), X(vmax), Y(vmax), 'stroke="#bbb" stroke-dasharray="4 4"');
  b += `<rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" ` +
      `fill="none" stroke="${AXIS}"/>`;
  for (const r of cmp.rows) {
    const tip = `${headName(r.layer, r.head)}: A ${pct(r.delta_a)} (rank ${r.rank_a}), ` +
        `B ${pct(r.delta_b)} (rank ${r.rank_b}), shift ${r.rank_shift > 0 ? '+' : ''}${r.rank_shift}`;
    b += `<circle class="dot" cx="${X(r.delta_a).toFixed(1)}" cy="${Y(r.delta_b).toFixed(1)}" ` +
        `r="3.5" fill="${CURVE}" fill-opacity="0.7" data-tip="${esc(tip)}"><title>${esc(tip)}` +
        `</title></circle>`;
  }
  b += text((left + right) / 2, bottom + 36, 'dPPL in A (symmetric log)', 'middle', 12) +
      text(18, (top + bottom) / 2, 'dPPL in B (symmetric log)', 'middle', 12,
           `transform="rotate(-90 18 ${(top + bottom) / 2})"`);
  return svgEl(600, 520, b, 'scatter');
}

async function comparePage(main, token0, params) {
  main.innerHTML = '<h1>Compare two jobs</h1><div class="controls">loading jobs...</div>' +
      '<div id="compare"></div>';
  let jobs;
  try { jobs = await api('/api/jobs?state=succeeded'); } catch (e) { return showError(main, e); }
  if (token0 !== pageToken) return;
  const a = params.get('a') || (jobs[1] ? jobs[1].id : ''), b = params.get('b') || (jobs[0] ? jobs[0].id : '');
  const options = (sel) => jobs.map((j) => `<option value="${esc(j.id)}" ${j.id === sel ? 'selected' : ''}>` +
      `${esc(j.id)} ${esc(j.name || '')} (${esc(j.method)}, ${j.model.n_layer}x${j.model.n_head})</option>`).join('');
  main.querySelector('.controls').innerHTML =
      `<label>A <select id="job-a">${options(a)}</select></label>` +
      `<label>B <select id="job-b">${options(b)}</select></label>` +
      '<button id="compare-go">Compare</button>';
  document.getElementById('compare-go').onclick = () => {
    location.hash = '#/compare?a=' + encodeURIComponent(document.getElementById('job-a').value) +
        '&b=' + encodeURIComponent(document.getElementById('job-b').value);
  };
  if (!a || !b) return;
  const el = document.getElementById('compare');
  try {
    const cmp = await api(`/api/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`);
    if (token0 !== pageToken) return;
    const c = cmp.correlation;
    const corr = c ? `Spearman rho <b id="spearman">${fixed(c.spearman_rho, 4)}</b> ` +
        `(p ${c.spearman_p.toPrecision(3)}), Pearson r ${fixed(c.pearson_r, 4)} ` +
        `(p ${c.pearson_p.toPrecision(3)}) over ${c.n} heads` : 'correlation undefined';
    const moved = cmp.rows.slice(0, 15).map((r) => [headName(r.layer, r.head), pct(r.delta_a),
        pct(r.delta_b), r.rank_a, r.rank_b, (r.rank_shift > 0 ? '+' : '') + r.rank_shift]);
    el.innerHTML = `<p>A = ${esc(cmp.job_a)}, B = ${esc(cmp.job_b)}; ${cmp.n_layer} layers x ` +
        `${cmp.n_head} heads. ${corr}.</p><div class="figures"><div>${scatterSvg(cmp)}</div>` +
        '<div><h2>Heads whose rank moved most</h2>' +
        table(['head', 'dPPL A', 'dPPL B', 'rank A', 'rank B', 'shift'], moved,
              [0, 1, 1, 1, 1, 1]) + '</div></div>';
    attachTips(el);
  } catch (e) { showError(el, e); }
}

// ---------- workers ----------
async function workersPage(main, token0) {
  main.innerHTML = '<h1>Workers</h1><div id="workers">loading...</div>' +
      '<p class="note">Refreshed every second while this page is open.</p>';
  const tick = async () => {
    if (token0 !== pageToken) return;
    const el = document.getElementById('workers');
    try {
      const workers = await api('/api/workers');
      if (token0 !== pageToken) return;
      el.innerHTML = workers.length ? table(
          ['worker', 'name', 'state', 'device', 'dtypes', 'task', 'masks done', 'masks/s',
           'backed off', 'last seen', 'version'],
          workers.map((w) => [esc(w.worker_id), esc(w.name), esc(w.state), esc(w.device),
                              esc(w.dtypes.join(',')), esc(w.current_task_id || '-'), w.masks_done,
                              w.masks_per_second == null ? '-' : fixed(w.masks_per_second, 2),
                              w.jobs_backed_off, esc(timeString(w.last_seen_unix_ms)),
                              esc(w.version)]),
          [0, 0, 0, 0, 0, 0, 1, 1, 1]) : '<p>No workers registered.</p>';
    } catch (e) { showError(el, e); }
    if (token0 === pageToken) pollTimer = setTimeout(tick, POLL_MS);
  };
  tick();
}

// ---------- definitions (the README's section, compiled into the server) ----------
// `code`, **bold** and *italic* (asterisks that open after a space and close before one, so
// `L*H` stays a product); code spans are left as written.
function inlineMarkdown(s) {
  return s.split('`').map((part, i) => {
    if (i % 2 === 1) return `<code>${esc(part)}</code>`;
    return esc(part).replace(/\*\*([^*]+)\*\*/g, '<b>$1</b>')
        .replace(/(^|[\s(])\*([^*\s](?:[^*]*[^*\s])?)\*(?=$|[\s.,;:)])/g, '$1<i>$2</i>');
  }).join('');
}
function markdown(md) {
  const out = [];
  for (const block of md.split(/\n\s*\n/)) {
    const lines = block.trim().split('\n');
    if (!lines[0]) continue;
    if (lines[0].startsWith('## ')) {
      out.push(`<h1>${inlineMarkdown(lines[0].slice(3))}</h1>`);
    } else if (lines[0].startsWith('- ')) {
      const items = [];
      for (const l of lines) {
        if (l.startsWith('- ')) items.push(l.slice(2)); else items[items.length - 1] += ' ' + l.trim();
      }
      out.push('<ul>' + items.map((i) => `<li>${inlineMarkdown(i)}</li>`).join('') + '</ul>');
    } else {
      out.push(`<p>${inlineMarkdown(lines.join(' '))}</p>`);
    }
  }
  return out.join('\n');
}
async function definitionsPage(main) {
  const res = await fetch('/definitions.md');
  main.innerHTML = `<div class="definitions">${markdown(await res.text())}</div>`;
}

// ---------- router ----------
function route() {
  pageToken++;
  clearTimeout(pollTimer);
  document.getElementById('tip').hidden = true;
  const main = document.getElementById('main');
  const hash = location.hash || '#/jobs';
  const [path, query] = hash.slice(1).split('?');
  const params = new URLSearchParams(query || '');
  const parts = path.split('/').filter(Boolean);
  const page = parts[0] || 'jobs';
  document.querySelectorAll('header nav a').forEach((a) =>
      a.classList.toggle('active', a.dataset.page === page || (page === 'job' && a.dataset.page === 'jobs')));
  if (page === 'job' && parts[1]) return jobPage(main, pageToken, decodeURIComponent(parts[1]));
  if (page === 'compare') return comparePage(main, pageToken, params);
  if (page === 'workers') return workersPage(main, pageToken);
  if (page === 'definitions') return definitionsPage(main);
  return jobsPage(main, pageToken);
}

document.getElementById('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  sessionStorage.setItem('ablate-token', document.getElementById('token-input').value.trim());
  document.getElementById('token-input').value = '';
  document.getElementById('token-form').hidden = true;
  route();
});
window.addEventListener('hashchange', route);
route();
