// The dashboard in a real browser: Debian's chromium (headless) driven by puppeteer-core
// against a live ablate-server (run_browser_test.py starts it, with finished and running jobs).
// Checks what a person sees: the token prompt and a wrong token refused, the jobs table with
// live progress advancing, the job page's heatmap cells (value on hover), cumulative curve and
// threshold markers, layer bars, an attribution job's estimate-vs-exact scatter, the compare
// scatter, workers, definitions. Screenshots go to
// SCREENSHOT_DIR. Exit 0 = all checks passed.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const puppeteer = require('puppeteer-core');

const env = (name) => {
  if (!process.env[name]) throw new Error(`${name} is not set`);
  return process.env[name];
};
const URL = env('DASHBOARD_URL');
const TOKEN = env('CLIENT_TOKEN');
const FINISHED = env('FINISHED_JOB');
const OTHER = env('OTHER_JOB');
const RUNNING = env('RUNNING_JOB');
const ATTRIBUTION = env('ATTRIBUTION_JOB');
const SHOTS = process.env.SCREENSHOT_DIR || fs.mkdtempSync(path.join(os.tmpdir(), 'shots-'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

let failures = 0;
function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures++;
}

async function shot(page, name) {
  await page.screenshot({path: path.join(SHOTS, name), fullPage: true});
}

async function api(p) {
  const res = await fetch(URL + p, {headers: {Authorization: 'Bearer ' + TOKEN}});
  return res.json();
}

async function progressOf(page, id) {
  return page.evaluate((id) => {
    for (const tr of document.querySelectorAll('#jobs tbody tr')) {
      if (tr.querySelector('a') && tr.querySelector('a').textContent === id) {
        const m = tr.querySelector('.progress-text').textContent.match(/^(\d+) \/ (\d+)/);
        return m ? [Number(m[1]), Number(m[2])] : null;
      }
    }
    return null;
  }, id);
}

async function tokenAndJobs(page) {
  await page.goto(URL + '/#/jobs');
  await page.waitForSelector('#token-form:not([hidden])', {timeout: 10000});
  check(true, 'without a token the page asks for one');
  await page.type('#token-input', 'not-the-token');
  await page.click('#token-form button');
  await page.waitForFunction(() => document.querySelector('#token-message').textContent
      .includes('refused'), {timeout: 10000});
  const refused = await page.$eval('#token-message', (e) => e.textContent);
  check(/refused/.test(refused) && (await page.$('#jobs table')) === null,
        `a wrong token is refused and shows no jobs ("${refused.trim()}")`);
  await shot(page, 'token-refused.png');
  await page.type('#token-input', TOKEN);
  await page.click('#token-form button');
  await page.waitForSelector('#jobs table', {timeout: 10000});
  const first = await progressOf(page, RUNNING);
  check(first !== null, `the running job ${RUNNING} is listed: ${first && first.join('/')}`);
  // The worker's pace is not the dashboard's: wait (up to 30 s) until the API reports more
  // masks done, then the page must show them within 2 s, without reloading.
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const base = (await api(`/api/jobs/${RUNNING}`)).progress.masks_done;
  let changed = null;
  for (const t0 = Date.now(); Date.now() - t0 < 30000 && !changed; await sleep(100)) {
    const done = (await api(`/api/jobs/${RUNNING}`)).progress.masks_done;
    if (done > base) changed = {at: Date.now(), done};
  }
  let shown = null;
  while (changed && Date.now() - changed.at < 5000) {
    const p = await progressOf(page, RUNNING);
    if (p && p[0] >= changed.done) { shown = Date.now(); break; }
    await sleep(50);
  }
  const lag = changed && shown ? (shown - changed.at) / 1000 : null;
  check(lag !== null && lag <= 2,
        `live progress: the server reported ${changed ? changed.done : '?'} masks done, the page ` +
        `showed it ${lag === null ? 'never' : 'after ' + lag.toFixed(2) + ' s'} (limit 2 s)`);
  const states = await page.$$eval('#jobs .state', (els) => els.map((e) => e.textContent));
  check(states.includes('succeeded') && states.includes('running'),
        `jobs table shows states: ${states.join(', ')}`);
  await shot(page, 'jobs.png');
}

async function jobPage(page) {
  await page.goto(URL + '/#/job/' + FINISHED);
  await page.waitForSelector('svg.heatmap rect.cell', {timeout: 15000});
  const heads = await api(`/api/jobs/${FINISHED}/heads?sort=layer`);
  const cells = await page.$$('svg.heatmap rect.cell');
  check(cells.length === heads.n_layer * heads.n_head,
        `heatmap has ${cells.length} cells for ${heads.n_layer} x ${heads.n_head} heads`);
  const target = heads.heads.reduce((a, b) => (b.delta > a.delta ? b : a));
  const cell = await page.$(`svg.heatmap rect.cell[data-layer="${target.layer}"]` +
                            `[data-head="${target.head}"]`);
  await cell.hover();
  await page.waitForSelector('#tip:not([hidden])', {timeout: 5000});
  const tip = await page.$eval('#tip', (e) => e.textContent);
  const want = `L${target.layer}H${target.head}: PPL ${target.ppl.toFixed(2)}, dPPL ` +
      `${target.delta >= 0 ? '+' : ''}${(100 * target.delta).toFixed(2)}%`;
  check(tip.startsWith(want), `hovering the hottest cell shows "${tip}" (want "${want}")`);
  await page.screenshot({path: path.join(SHOTS, 'heatmap-hover.png')});
  const fills = await page.$$eval('svg.heatmap rect.cell', (els) =>
      new Set(els.map((e) => e.getAttribute('fill'))).size);
  check(fills > 4, `heatmap cells use ${fills} different colours`);
  const curve = await api(`/api/jobs/${FINISHED}/curve`);
  const points = await page.$$('svg.curve-figure circle.point');
  check(points.length > 0 && points.length <= curve.points.length,
        `cumulative curve drawn with ${points.length} of ${curve.points.length} points`);
  const polyline = await page.$eval('svg.curve-figure polyline.curve',
                                    (e) => e.getAttribute('points').trim().split(/\s+/).length);
  check(polyline === curve.points.length, `curve line has ${polyline} vertices`);
  const thr = await api(`/api/jobs/${FINISHED}/thresholds`);
  const markers = await page.$$('svg.curve-figure line.threshold');
  check(markers.length >= thr.rows.length, `${markers.length} threshold lines for ` +
        `${thr.rows.length} ratios (max heads ${thr.rows.map((r) => r.max_heads).join('/')})`);
  const stats = await api(`/api/jobs/${FINISHED}/stats`);
  const statsText = await page.$eval('#results', (e) => e.textContent);
  const meanCi = stats.mean_delta_ci.map((v) => `${v >= 0 ? '+' : ''}${(100 * v).toFixed(2)}%`);
  check(statsText.includes('95% interval') && statsText.includes(`${meanCi[0]} .. ${meanCi[1]}`),
        `10B and 10D show intervals (mean dPPL ${meanCi.join(' .. ')})`);
  const bars = await page.$$('svg.layer-bars rect.bar');
  check(bars.length === heads.n_layer, `layer bars: ${bars.length} mean bars`);
  const tables = await page.$$eval('#results h2', (els) => els.map((e) => e.textContent));
  check(['10A', '10B', '10C', '10D'].every((t) => tables.some((h) => h.startsWith(t))),
        `sections: ${tables.join(' | ')}`);
  await shot(page, 'job.png');
}

async function attributionPage(page) {
  await page.goto(URL + '/#/job/' + ATTRIBUTION);
  await page.waitForSelector('svg.scatter circle.atp-dot', {timeout: 15000});
  const heads = await api(`/api/jobs/${ATTRIBUTION}/heads?sort=layer`);
  const verified = heads.heads.filter((r) => r.verified);
  const dots = await page.$$('svg.scatter circle.atp-dot');
  check(dots.length === heads.n_verified && verified.length === heads.n_verified,
        `attribution: ${dots.length} scatter dots for ${heads.n_verified} verified heads`);
  check((await page.$('svg.scatter line.identity')) !== null, 'attribution scatter has the identity line');
  const rho = await page.$eval('#atp-spearman', (e) => e.textContent);
  check(rho === heads.atp_spearman.toFixed(3), `attribution agreement shown: Spearman ${rho}`);
  const cells = await page.$$('svg.heatmap rect.cell');
  check(cells.length === heads.n_layer * heads.n_head, `attribution heatmap: ${cells.length} cells`);
  const unverified = heads.heads.find((r) => !r.verified);
  const tip = await page.$eval(`svg.heatmap rect.cell[data-layer="${unverified.layer}"]` +
                               `[data-head="${unverified.head}"]`, (e) => e.getAttribute('data-tip'));
  check(/estimated dPPL .* \(not verified\)/.test(tip), `an unverified head's cell says "${tip}"`);
  const errors = await page.$$('#results .error');
  check(errors.length === 0, 'attribution page shows no error (no curve/layer calls)');
  await shot(page, 'attribution.png');
}

async function otherPages(page) {
  await page.goto(`${URL}/#/compare?a=${FINISHED}&b=${OTHER}`);
  await page.waitForSelector('svg.scatter circle.dot', {timeout: 15000});
  const dots = await page.$$('svg.scatter circle.dot');
  const cmp = await api(`/api/compare?a=${FINISHED}&b=${OTHER}`);
  const rho = await page.$eval('#spearman', (e) => e.textContent);
  check(dots.length === cmp.rows.length && rho === cmp.correlation.spearman_rho.toFixed(4),
        `compare: ${dots.length} dots, Spearman ${rho}`);
  await shot(page, 'compare.png');
  await page.goto(URL + '/#/workers');
  await page.waitForSelector('#workers table', {timeout: 10000});
  const rows = await page.$$('#workers tbody tr');
  check(rows.length >= 1, `workers page lists ${rows.length} worker(s)`);
  await shot(page, 'workers.png');
  await page.goto(URL + '/#/definitions');
  await page.waitForSelector('.definitions h1', {timeout: 10000});
  const text = await page.$eval('.definitions', (e) => e.textContent);
  check(/Perplexity/.test(text) && /Zipf fit/.test(text), 'definitions page renders the README section');
  await shot(page, 'definitions.png');
}

(async () => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ablate-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM, headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync',
           `--user-data-dir=${profile}`],
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({width: 1280, height: 900});
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await tokenAndJobs(page);
    await jobPage(page);
    await attributionPage(page);
    await otherPages(page);
    check(errors.length === 0, `no script errors${errors.length ? ': ' + errors.join('; ') : ''}`);
  } catch (e) {
    check(false, 'exception: ' + e.stack);
  } finally {
    await browser.close();
    fs.rmSync(profile, {recursive: true, force: true});
  }
  console.log(`screenshots in ${SHOTS}`);
  process.exit(failures ? 1 : 0);
})();
