// ablate dashboard: a single page over the server's JSON API (/api/...). No dependencies.
'use strict';

const POLL_MS = 1000;  // Live pages refresh at least this often (the issue asks for 2 s).

let pollTimer = null;
let pageToken = 0;  // Bumped on navigation; stale callbacks compare and stop.

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
  const ci = s.mean_delta_ci != null;
  const range = (v, f) => (v ? `${f(v[0])} .. ${f(v[1])}` : '');
  const count = (v) => String(v);
  const rows = [['heads', s.n_heads, ''],
    ['|dPPL| < 1%', s.under_1pct, range(s.under_1pct_ci, count)],
    ['|dPPL| < 10%', s.under_10pct, range(s.under_10pct_ci, count)],
    ['improved (dPPL < 0)', s.improved, range(s.improved_ci, count)],
    ['mean dPPL', pct(s.mean_delta), range(s.mean_delta_ci, pct)],
    ['median dPPL', pct(s.median_delta), range(s.median_delta_ci, pct)],
    ['mean |dPPL|', pct(s.mean_abs_delta), range(s.mean_abs_delta_ci, pct)],
    ['max dPPL', pct(s.max_delta) + ' (' + headName(s.max_head.layer, s.max_head.head) + ')',
     range(s.max_delta_ci, pct)],
    ['Zipf alpha', z.n_points ? fixed(z.alpha, 3) : '-', range(s.zipf_alpha_ci, (v) => fixed(v, 3))],
    ['Zipf C', z.n_points ? fixed(z.c, 3) : '-', ''],
    ['Zipf R^2', z.n_points ? fixed(z.r2, 3) + ` (${z.n_points} heads)` : '-', '']];
  if (s.n_significant != null) rows.push(['significant heads', s.n_significant, '']);
  if (!ci) return table(['statistic', 'value'], rows.map((r) => r.slice(0, 2)), [0, 1]);
  return table(['statistic', 'value', `${Math.round(100 * s.ci)}% interval`], rows, [0, 1, 1]);
}

function layerTable(layers) {
  const ci = layers.some((r) => r.mean_delta_ci != null);
  const range = (v) => (v ? `${pct(v[0])} .. ${pct(v[1])}` : '-');
  if (!ci) {
    return table(['layer', 'mean dPPL', 'max dPPL', 'max head'],
        layers.map((r) => [r.layer, pct(r.mean_delta), pct(r.max_delta), r.max_head]),
        [1, 1, 1, 1]);
  }
  return table(['layer', 'mean dPPL', 'interval', 'max dPPL', 'interval', 'max head'],
      layers.map((r) => [r.layer, pct(r.mean_delta), range(r.mean_delta_ci), pct(r.max_delta),
                         range(r.max_delta_ci), r.max_head]),
      [1, 1, 1, 1, 1, 1]);
}

// An attribution sweep: every head estimated, the top K verified exactly. Its tables need
// exact ablation of every head (10B statistics, 10C, 10D), so they are not shown.
async function attributionResults(q) {
  const [heads, all] = await Promise.all([api(q + '/heads?top=10'), api(q + '/heads?sort=layer')]);
  let agreement = `${heads.n_verified} verified by exact ablation`;
  if (heads.atp_spearman != null) {
    agreement += `; Spearman rho (estimate, exact) <b id="atp-spearman">` +
        `${fixed(heads.atp_spearman, 3)}</b>`;
  }
  if (heads.atp_recall != null) {
    agreement += `; recall of the true top ${heads.n_verified}: ${fixed(heads.atp_recall, 3)} ` +
        `(against <a href="#/job/${encodeURIComponent(heads.recall_reference_job)}">` +
        `${esc(heads.recall_reference_job)}</a>)`;
  }
  return '<h2>Attribution pre-ranking</h2><p>Baseline PPL ' +
      `<b>${fixed(heads.baseline_ppl, 3)}</b> (${heads.n_tokens_scored} tokens scored). Every ` +
      `head's dPPL estimated from one forward and one backward pass; ${agreement}. ` +
      'Top 10 heads by estimate:</p>' + headRows(heads.heads) +
      '<div class="figures"><div><h3>Estimate vs exact (verified heads)</h3>' +
      attributionScatterSvg(all.heads) + '</div><div><h3>Every head (estimate; exact where ' +
      'verified)</h3>' + heatmapSvg(all) + '</div></div>' +
      '<p class="note">Distribution statistics, the cumulative curve and the layer table need ' +
      'every head ablated exactly: submit an individual or full sweep of the same model and ' +
      'text (it also gives the recall above). <a href="#/definitions">Definitions</a></p>';
}

async function jobResults(id, job) {
  const q = '/api/jobs/' + encodeURIComponent(id);
  if (job.sweep === 'attribution') return attributionResults(q);
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
        '</div><div>' + layerTable(layers.layers) + '</div></div>');
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
          (job.state === 'succeeded' && (job.sweep === 'individual' || job.sweep === 'full')
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

async function comparePage(main, token0, params) {
  main.innerHTML = '<h1>Compare two jobs</h1><div class="controls">loading jobs...</div>' +
      '<div id="compare"></div>';
  let jobs;
  try { jobs = await api('/api/jobs?state=succeeded'); } catch (e) { return showError(main, e); }
  // Only jobs with every head ablated exactly can be compared head by head.
  jobs = jobs.filter((j) => j.sweep === 'individual' || j.sweep === 'full');
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
