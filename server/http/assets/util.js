// ablate dashboard: small helpers shared by figures.js and app.js.
'use strict';

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

function table(headers, rows, numeric = []) {
  const th = headers.map((h, i) => `<th class="${numeric[i] ? 'num' : ''}">${esc(h)}</th>`);
  const tr = rows.map((r) => '<tr>' + r.map((c, i) =>
      `<td class="${numeric[i] ? 'num' : ''}">${c}</td>`).join('') + '</tr>');
  return `<table><thead><tr>${th.join('')}</tr></thead><tbody>${tr.join('')}</tbody></table>`;
}

