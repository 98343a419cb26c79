"""The Python client and the dashboard's JSON API against a live cluster (the real
ablate-server and ablate-worker binaries, the demo model): two finished jobs (zero / full,
mean / individual), every query checked against values recomputed here from the head table and
curve, the HTTP API checked against the CLI's --format json, tokens refused."""
import http.client
import io
import json
import os
import shutil
import ssl
import subprocess
import sys
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from live_cluster import DEMO_MODEL, DEMO_TEXT, LiveCluster  # noqa: E402

import ablate  # noqa: E402


class LiveTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = LiveCluster(tokens=True).__enter__()
        try:
            cls.worker = cls.cluster.worker("py")
            cls.client = ablate.Client(cls.cluster.address, token=cls.cluster.client_token)
            common = dict(model=DEMO_MODEL, text=DEMO_TEXT, n_chunks=2, seq_len=64,
                          device_kind="cpu")
            cls.zero = cls.client.submit(method="zero", sweep="full", name="zero", **common)
            cls.mean = cls.client.submit(method="mean", sweep="individual", name="mean",
                                         **common)
            cls.progress = io.StringIO()
            for job in (cls.zero, cls.mean):
                cls.client.watch(job, file=cls.progress)
        except BaseException:
            cls.cluster.__exit__(None, None, None)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.cluster.__exit__(None, None, None)

    def test_watch_showed_progress(self):
        self.assertIn(self.zero, self.progress.getvalue())
        self.assertEqual(self.client.job(self.zero)["state"], "succeeded")

    def test_heads(self):
        df = self.client.heads(self.zero)
        self.assertEqual(len(df), 16)
        self.assertEqual(list(df.columns[:4]), ["layer", "head", "ppl", "delta"])
        base = df.attrs["baseline_ppl"]
        self.assertGreater(base, 1)
        for row in df.itertuples():
            self.assertAlmostEqual(row.delta, (row.ppl - base) / base, places=12)
        self.assertEqual(sorted(zip(df.layer, df["head"])),
                         [(l, h) for l in range(4) for h in range(4)])

    def test_curve_and_thresholds(self):
        curve = self.client.curve(self.zero)
        base = curve.attrs["baseline_ppl"]
        self.assertEqual(list(curve.removed), list(range(17)))
        self.assertTrue(curve.layer.isna().iloc[0])
        for row in curve.itertuples():
            self.assertAlmostEqual(row.ratio, row.ppl / base, places=12)
        ratios = [1.05, 1.5, 3.0]
        thr = self.client.thresholds(self.zero, ratios)
        self.assertEqual(list(thr.ratio), ratios)
        for r, got in zip(ratios, thr.max_heads):
            k = 0  # Largest k with every point 1..k within r * baseline.
            while k + 1 < len(curve) and curve.ppl[k + 1] <= r * base:
                k += 1
            self.assertEqual(got, k, r)

    def test_stats_and_layers(self):
        heads = self.client.heads(self.zero)
        stats = self.client.stats(self.zero).iloc[0]
        self.assertEqual(stats.n_heads, 16)
        self.assertAlmostEqual(stats.mean_delta, heads.delta.mean(), places=12)
        self.assertEqual(stats.improved, int((heads.delta < 0).sum()))
        self.assertAlmostEqual(stats.max_delta, heads.delta.max(), places=12)
        series = [4.0, 1.0, 3.0, 2.0]
        layers = self.client.layers(self.zero, series=series, series_name="probe")
        means = heads.groupby("layer").delta.mean()
        for row in layers.itertuples():
            self.assertAlmostEqual(row.mean_delta, means[row.layer], places=12)
        corr = layers.attrs["correlation"]
        self.assertEqual(corr["series_name"], "probe")
        self.assertAlmostEqual(corr["pearson_r"], layers.mean_delta.corr(layers.series),
                               places=9)
        self.assertAlmostEqual(corr["spearman_rho"],
                               layers.mean_delta.corr(layers.series, method="spearman"),
                               places=9)

    def test_compare(self):
        cmp = self.client.compare(self.zero, self.mean)
        a, b = self.client.heads(self.zero), self.client.heads(self.mean)
        self.assertEqual(len(cmp), 16)
        self.assertEqual(list(cmp.delta_a), list(a.delta))
        self.assertEqual(list(cmp.delta_b), list(b.delta))
        rank_a = a.delta.rank(ascending=False, method="first").astype(int)
        self.assertEqual(list(cmp.rank_a), list(rank_a))
        self.assertEqual(list(cmp.rank_shift), list(cmp.rank_b - cmp.rank_a))
        self.assertAlmostEqual(cmp.attrs["correlation"]["spearman_rho"],
                               a.delta.corr(b.delta, method="spearman"), places=9)

    def test_workers_and_jobs(self):
        workers = self.client.workers()
        self.assertEqual(list(workers.name), ["py"])
        self.assertGreater(workers.masks_done[0], 0)
        jobs = self.client.jobs(state="succeeded")
        self.assertEqual(set(jobs.id), {self.zero, self.mean})

    def test_errors(self):
        with self.assertRaises(ablate.AblateError) as e:
            self.client.heads("job-999")
        self.assertEqual(e.exception.code.name, "NOT_FOUND")
        with self.assertRaises(ablate.AblateError) as e:
            self.client.curve(self.mean)  # An individual sweep has no curve.
        self.assertEqual(e.exception.code.name, "FAILED_PRECONDITION")
        with ablate.Client(self.cluster.address, token="wrong") as bad:
            with self.assertRaises(ablate.AblateError) as e:
                bad.workers()
        self.assertEqual(e.exception.code.name, "UNAUTHENTICATED")
        with self.assertRaises(ValueError):
            self.client.submit(model=DEMO_MODEL, text=DEMO_TEXT, method="halve")

    def test_example_script(self):
        out_png = os.path.join(self.cluster.dir, "curve.png")
        series = os.path.join(self.cluster.dir, "series.txt")
        with open(series, "w") as f:
            f.write("1 2 3 5\n")
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples",
                              "study_tables.py")
        run = subprocess.run([sys.executable, script, self.zero, "--server",
                              self.cluster.address, "--token-file",
                              os.path.join(self.cluster.dir, "client.token"), "--series", series,
                              "--out", out_png], capture_output=True, text=True)
        self.assertEqual(run.returncode, 0, run.stderr)
        for section in ("10A.", "10B.", "10C.", "10D.", "Spearman rho", "figure:"):
            self.assertIn(section, run.stdout)
        with open(out_png, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")

    # ----- the dashboard's JSON API -----
    def http(self, path, token=None):
        req = urllib.request.Request(self.cluster.http_url + path)
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=30) as res:
                return res.status, json.loads(res.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def cli_json(self, *args):
        token_file = os.path.join(self.cluster.dir, "client.token")
        out = subprocess.run([os.environ.get("ABLATE_CLI_BIN", "ablate"), "--server",
                              self.cluster.address, "--token-file", token_file, *args,
                              "--format", "json"], capture_output=True, text=True, check=True)
        return json.loads(out.stdout)

    def test_http_api_equals_cli_json(self):
        token = self.cluster.client_token
        z = self.zero
        for path, cli in [("/api/jobs/%s/heads" % z, ["heads", z]),
                          ("/api/jobs/%s/heads?sort=abs&top=3" % z,
                           ["heads", z, "--sort", "abs", "--top", "3"]),
                          ("/api/jobs/%s/curve" % z, ["curve", z]),
                          ("/api/jobs/%s/thresholds?ratios=1.1,2" % z,
                           ["thresholds", z, "--ratios", "1.1,2"]),
                          ("/api/jobs/%s/stats" % z, ["stats", z]),
                          ("/api/jobs/%s/layers" % z, ["layers", z]),
                          ("/api/jobs/%s" % z, ["status", z]),
                          ("/api/compare?a=%s&b=%s" % (z, self.mean), ["compare", z, self.mean])]:
            status, body = self.http(path, token)
            self.assertEqual(status, 200, (path, body))
            self.assertEqual(body, self.cli_json(*cli), path)
        status, jobs = self.http("/api/jobs", token)
        self.assertEqual(jobs, self.cli_json("list"))
        status, workers = self.http("/api/workers", token)
        self.assertEqual([w["name"] for w in workers], ["py"])

    def test_http_auth_and_errors(self):
        status, body = self.http("/api/jobs")
        self.assertEqual((status, body["code"]), (401, "UNAUTHENTICATED"))
        status, body = self.http("/api/jobs", "wrong-token")
        self.assertEqual((status, body["code"]), (401, "UNAUTHENTICATED"))
        status, body = self.http("/api/jobs", self.cluster.worker_token)
        self.assertEqual((status, body["code"]), (403, "PERMISSION_DENIED"))
        token = self.cluster.client_token
        self.assertEqual(self.http("/api/jobs/job-999/heads", token)[0], 404)
        self.assertEqual(self.http("/api/jobs/%s/curve" % self.mean, token)[0], 409)
        status, body = self.http("/api/jobs/%s/heads?top=x" % self.zero, token)
        self.assertEqual(status, 400)
        self.assertIn("top", body["error"])
        self.assertEqual(self.http("/api/nothing", token)[0], 404)
        # The pages themselves carry no data and need no token.
        with urllib.request.urlopen(self.cluster.http_url + "/", timeout=10) as res:
            self.assertIn(b"ablate dashboard", res.read())
        with urllib.request.urlopen(self.cluster.http_url + "/definitions.md", timeout=10) as res:
            self.assertIn(b"## Definitions", res.read())


@unittest.skipUnless(shutil.which("openssl"), "needs the openssl command")
class TlsLiveTest(unittest.TestCase):
    """With a certificate the dashboard is HTTPS (the gRPC side TLS) with the same one."""

    def test_https_dashboard_and_tls_client(self):
        with LiveCluster(tokens=True, tls=True) as cluster:
            self.assertTrue(cluster.http_url.startswith("https://"))
            context = ssl.create_default_context(cafile=cluster.ca_file)
            req = urllib.request.Request(cluster.http_url + "/api/workers")
            req.add_header("Authorization", "Bearer " + cluster.client_token)
            with urllib.request.urlopen(req, timeout=30, context=context) as res:
                self.assertEqual(json.loads(res.read()), [])
            with self.assertRaises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(cluster.http_url + "/api/workers", timeout=30,
                                       context=context)
            self.assertEqual(e.exception.code, 401)
            with urllib.request.urlopen(cluster.http_url + "/", timeout=30,
                                        context=context) as res:
                self.assertIn(b"ablate dashboard", res.read())
            with self.assertRaises((OSError, http.client.HTTPException)):  # No plain HTTP.
                urllib.request.urlopen(cluster.http_url.replace("https", "http") + "/",
                                       timeout=10)
            with ablate.Client(cluster.address, token=cluster.client_token,
                               tls=cluster.ca_file) as client:
                self.assertEqual(len(client.workers()), 0)


if __name__ == "__main__":
    unittest.main()
