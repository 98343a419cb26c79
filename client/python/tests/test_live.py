"""The Python client and the dashboard's JSON API against a live cluster (the real
ablate-server and ablate-worker binaries, the demo model): two finished jobs (zero / full,
mean / individual), every query checked against values recomputed here from the head table and
curve, the HTTP API checked against the CLI's --format json, tokens refused."""
import http.client
import io
import fractions
import json
import math
import os
import shutil
import ssl
import struct
import subprocess
import sys
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from live_cluster import DEMO_MODEL, DEMO_TEXT, LiveCluster  # noqa: E402

import ablate  # noqa: E402
from ablate import _artifact, _model  # noqa: E402


class Bootstrap:
    """The paired block bootstrap as README's Definitions describe it, written here from that
    text alone: SplitMix64 from the seed, one stream, resample b draws its n block indices
    (x mod n after rejecting x < 2^64 mod n) after resample b - 1."""
    M = (1 << 64) - 1

    def __init__(self, n_blocks, resamples, seed):
        state, draws = seed, []
        threshold = (1 << 64) % n_blocks
        for _ in range(resamples):
            idx = []
            while len(idx) < n_blocks:
                state = (state + 0x9e3779b97f4a7c15) & self.M
                z = state
                z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & self.M
                z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & self.M
                x = z ^ (z >> 31)
                if x >= threshold:
                    idx.append(x % n_blocks)
            draws.append(idx)
        self.draws = draws

    def ppl(self, tokens, block_nll):
        """PPL of each resample."""
        out = []
        for idx in self.draws:
            out.append(math.exp(sum(block_nll[i] for i in idx) / sum(tokens[i] for i in idx)))
        return out

    @staticmethod
    def interval(values, level):
        # k = max(1, floor(B (1 - c) / 2)) in exact arithmetic on the decimal level
        # (in binary floating point 2000 * (1 - 0.9) / 2 is 99.99999999999997).
        k = max(1, math.floor(len(values) * (1 - fractions.Fraction(repr(level))) / 2))
        ordered = sorted(values)
        return ordered[k - 1], ordered[len(values) - k]


def write_sharded_copy(src, dst, n_shards=2):
    """The checkpoint `src` (one model.safetensors) as shards model-0000K-of-0000N plus the
    index, tensors dealt out in turn, written here independently of the project's code; the
    tokenizer files copied."""
    os.makedirs(dst)
    with open(os.path.join(src, "model.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    names = sorted(k for k in header if k != "__metadata__")
    weight_map = {}
    for k in range(n_shards):
        shard = "model-%05d-of-%05d.safetensors" % (k + 1, n_shards)
        out_header, blobs, pos = {}, [], 0
        for name in names[k::n_shards]:
            begin, end = header[name]["data_offsets"]
            out_header[name] = dict(header[name], data_offsets=[pos, pos + end - begin])
            blobs.append(data[begin:end])
            pos += end - begin
            weight_map[name] = shard
        raw = json.dumps(out_header).encode()
        raw += b" " * (-len(raw) % 8)
        with open(os.path.join(dst, shard), "wb") as f:
            f.write(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))
    with open(os.path.join(dst, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f)
    for name in ("config.json", "vocab.json", "merges.txt"):
        shutil.copy(os.path.join(src, name), dst)


class LiveTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = LiveCluster(tokens=True).__enter__()
        try:
            cls.worker = cls.cluster.worker("py")
            cls.client = ablate.Client(cls.cluster.address, token=cls.cluster.client_token)
            common = dict(model=DEMO_MODEL, text=DEMO_TEXT, n_chunks=2, seq_len=64,
                          device_kind="cpu")
            cls.zero = cls.client.submit(method="zero", sweep="full", name="zero",
                                         block_tokens=16, **common)
            cls.mean = cls.client.submit(method="mean", sweep="individual", name="mean",
                                         **common)
            cls.atp = cls.client.submit(method="zero", sweep="attribution", verify_top_k=4,
                                        name="attribution", **common)
            cls.progress = io.StringIO()
            for job in (cls.zero, cls.mean, cls.atp):
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

    def test_intervals_equal_an_independent_bootstrap(self):
        """Every interval the server computes (head dPPL, rank, curve band, thresholds) equals
        a bootstrap recomputed here from the per-block NLL it returns and the Definitions."""
        level, resamples, seed = 0.9, 2000, 12345
        heads = self.client.heads(self.zero, ci=level, bootstrap=resamples, seed=seed)
        tokens = heads.attrs["block_tokens"]
        self.assertEqual(tokens, [16, 16, 16, 15] * 2)  # 63 scored tokens a chunk, blocks of 16.
        self.assertEqual((heads.attrs["ci"], heads.attrs["bootstrap"], heads.attrs["seed"]),
                         (level, resamples, seed))
        base_blocks = heads.attrs["baseline_block_nll"]
        base = math.exp(sum(base_blocks) / sum(tokens))
        self.assertAlmostEqual(base, heads.attrs["baseline_ppl"], delta=1e-12 * base)
        boot = Bootstrap(len(tokens), resamples, seed)
        base_b = boot.ppl(tokens, base_blocks)
        deltas = []  # deltas[h][b]
        for row in heads.itertuples():
            self.assertAlmostEqual(sum(row.block_nll), math.log(row.ppl) * sum(tokens),
                                   delta=1e-9 * sum(row.block_nll))
            deltas.append([a / b - 1 for a, b in zip(boot.ppl(tokens, row.block_nll), base_b)])
        for h, row in enumerate(heads.itertuples()):
            lo, hi = Bootstrap.interval(deltas[h], level)
            self.assertAlmostEqual(row.delta_lo, lo, delta=1e-12)
            self.assertAlmostEqual(row.delta_hi, hi, delta=1e-12)
            self.assertEqual(row.significant, lo > 0 or hi < 0)
            ranks = [1 + sum(1 for g in range(len(deltas)) if deltas[g][b] > deltas[h][b]
                             or (deltas[g][b] == deltas[h][b] and g < h))
                     for b in range(resamples)]
            self.assertEqual((row.rank_lo, row.rank_hi), Bootstrap.interval(ranks, level))
        # 10B and 10D statistics and the correlation, recomputed on every resample.
        n_layer = heads.attrs["n_layer"]
        series = [4.0, 1.0, 3.0, 2.0]
        per_b = {k: [] for k in ("mean_delta", "median_delta", "mean_abs_delta", "max_delta",
                                 "under_1pct", "under_10pct", "improved")}
        layer_mean = [[] for _ in range(n_layer)]
        layer_max = [[] for _ in range(n_layer)]
        pearson = []
        for b in range(resamples):
            d = [deltas[h][b] for h in range(len(deltas))]
            s = sorted(d)
            n = len(d)
            per_b["mean_delta"].append(sum(d) / n)
            per_b["median_delta"].append((s[n // 2 - 1] + s[n // 2]) / 2)
            per_b["mean_abs_delta"].append(sum(abs(v) for v in d) / n)
            per_b["max_delta"].append(s[-1])
            per_b["under_1pct"].append(sum(abs(v) < 0.01 for v in d))
            per_b["under_10pct"].append(sum(abs(v) < 0.10 for v in d))
            per_b["improved"].append(sum(v < 0 for v in d))
            per_layer = [d[l * n // n_layer:(l + 1) * n // n_layer] for l in range(n_layer)]
            means = [sum(x) / len(x) for x in per_layer]
            for l in range(n_layer):
                layer_mean[l].append(means[l])
                layer_max[l].append(max(per_layer[l]))
            mx, my = sum(means) / n_layer, sum(series) / n_layer
            sxy = sum((a - mx) * (c - my) for a, c in zip(means, series))
            sxx = sum((a - mx) ** 2 for a in means)
            syy = sum((c - my) ** 2 for c in series)
            pearson.append(sxy / math.sqrt(sxx * syy))
        stats = self.client.stats(self.zero, ci=level, bootstrap=resamples, seed=seed).iloc[0]
        for name, values in per_b.items():
            lo, hi = Bootstrap.interval(values, level)
            self.assertAlmostEqual(stats[name + "_lo"], lo, delta=1e-12, msg=name)
            self.assertAlmostEqual(stats[name + "_hi"], hi, delta=1e-12, msg=name)
        self.assertLessEqual(stats.zipf_alpha_lo, stats.zipf_alpha_hi)
        layers = self.client.layers(self.zero, series=series, ci=level, bootstrap=resamples,
                                    seed=seed)
        for l in range(n_layer):
            self.assertAlmostEqual(layers.mean_delta_lo[l],
                                   Bootstrap.interval(layer_mean[l], level)[0], delta=1e-12)
            self.assertAlmostEqual(layers.mean_delta_hi[l],
                                   Bootstrap.interval(layer_mean[l], level)[1], delta=1e-12)
            self.assertAlmostEqual(layers.max_delta_hi[l],
                                   Bootstrap.interval(layer_max[l], level)[1], delta=1e-12)
        corr = layers.attrs["correlation"]
        lo, hi = Bootstrap.interval(pearson, level)
        self.assertAlmostEqual(corr["pearson_r_lo"], lo, delta=1e-9)
        self.assertAlmostEqual(corr["pearson_r_hi"], hi, delta=1e-9)
        self.assertLess(corr["pearson_r_lo"], corr["pearson_r"])

        default = self.client.heads(self.zero)
        self.assertEqual((default.attrs["ci"], default.attrs["bootstrap"]), (0.95, 10000))
        self.assertNotIn("delta_lo", self.client.heads(self.zero, bootstrap=-1).columns)

        curve = self.client.curve(self.zero, ci=level, bootstrap=resamples, seed=seed)
        ppl_b = [boot.ppl(tokens, blocks) for blocks in curve.block_nll]
        ratio_b = [[p / p0 for p, p0 in zip(point, ppl_b[0])] for point in ppl_b]
        for k, row in enumerate(curve.itertuples()):
            lo, hi = Bootstrap.interval(ratio_b[k], level)
            self.assertAlmostEqual(row.ratio_lo, lo, delta=1e-12, msg=k)
            self.assertAlmostEqual(row.ratio_hi, hi, delta=1e-12, msg=k)
        ratios = [1.01, 1.05, 1.2]
        thr = self.client.thresholds(self.zero, ratios, ci=level, bootstrap=resamples, seed=seed)
        for r, row in zip(ratios, thr.itertuples()):
            removable = []
            for b in range(resamples):
                k = 0
                while k + 1 < len(ratio_b) and ratio_b[k + 1][b] <= r:
                    k += 1
                removable.append(k)
            self.assertEqual((row.max_heads_lo, row.max_heads_hi),
                             Bootstrap.interval(removable, level), r)

    def test_attribution_job(self):
        """An attribution sweep through the service: every head estimated, the 4 largest
        estimates verified exactly (equal to the individual sweep's numbers), the agreement
        recomputed here, recall against the finished exact sweep of the same run."""
        atp, exact = self.client.heads(self.atp), self.client.heads(self.zero)
        self.assertEqual(len(atp), 16)
        self.assertFalse(atp.atp_delta.isna().any())
        order = sorted(range(16), key=lambda i: (-atp.atp_delta[i], i))
        verified = atp[atp.verified]
        self.assertEqual(sorted(verified.index), sorted(order[:4]))
        self.assertTrue(atp[~atp.verified].delta.isna().all())
        for i in verified.index:  # fp32 runs batched with other masks: ~4e-7 relative apart.
            self.assertAlmostEqual(atp.ppl[i], exact.ppl[i], delta=2e-6 * exact.ppl[i])
            self.assertAlmostEqual(atp.delta[i], exact.delta[i], delta=4e-6)
        self.assertEqual(atp.attrs["n_verified"], 4)
        self.assertAlmostEqual(atp.attrs["atp_spearman"],
                               verified.atp_delta.corr(verified.delta.astype(float),
                                                       method="spearman"), places=9)
        true_top = sorted(range(16), key=lambda i: (-exact.delta[i], i))[:4]
        self.assertEqual(atp.attrs["recall_reference_job"], self.zero)
        self.assertAlmostEqual(atp.attrs["atp_recall"],
                               len(set(true_top) & set(verified.index)) / 4, places=12)
        with self.assertRaises(ablate.AblateError) as e:
            self.client.curve(self.atp)
        self.assertEqual(e.exception.code.name, "FAILED_PRECONDITION")

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
        self.assertLessEqual({self.zero, self.mean, self.atp}, set(jobs.id))

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

    def cli(self, *args):
        token_file = os.path.join(self.cluster.dir, "client.token")
        run = subprocess.run([os.environ.get("ABLATE_CLI_BIN", "ablate"), "--server",
                              self.cluster.address, "--token-file", token_file, *args],
                             capture_output=True, text=True)
        self.assertEqual(run.returncode, 0, run.stderr)
        return run.stdout

    def test_upload_sharded_model_is_the_cli_job_and_runs(self):
        folder = os.path.join(self.cluster.dir, "sharded")
        write_sharded_copy(DEMO_MODEL, folder)
        digest = self.client.upload_model(folder)
        self.assertRegex(digest, "^[0-9a-f]{64}$")
        self.assertEqual(digest, _artifact.model_digest(folder))
        # The CLI packs the same bytes: the server already has them, nothing is sent again.
        out = self.cli("upload", folder)
        self.assertIn("artifact " + digest, out)
        self.assertIn("already on the server, nothing sent", out)
        # The same submit from the CLI and from Python is one job: under one request_id the
        # server refuses any difference in the whole spec (shape, weights digest of the shards,
        # tokenizer, BOS, artifact, text, ...).
        rid = "py-cli-" + os.urandom(6).hex()
        common = ["--text", DEMO_TEXT, "--n-chunks", "2", "--seq-len", "64", "--method", "zero",
                  "--sweep", "individual", "--device-kind", "cpu", "--request-id", rid]
        cli_job = self.cli("submit", "--model", folder, "--upload", *common).split()[-1]
        job = self.client.submit(model=folder, text=DEMO_TEXT, n_chunks=2, seq_len=64,
                                 method="zero", sweep="individual", device_kind="cpu",
                                 request_id=rid, upload=True, progress=False)
        self.assertEqual(job, cli_job)
        spec = self.client._call("GetJob", ablate.client.pb.GetJobRequest(job_id=job)).spec
        self.assertEqual(spec.model.path, "")  # Workers fetch it by digest.
        self.assertEqual(spec.model.artifact_digest, digest)
        listing = "".join("%s  %s\n" % (_model.sha256_file(os.path.join(folder, n)), n)
                          for n in ("model-00001-of-00002.safetensors",
                                    "model-00002-of-00002.safetensors",
                                    "model.safetensors.index.json"))
        self.assertEqual(spec.model.sha256,
                         __import__("hashlib").sha256(listing.encode()).hexdigest())
        self.client.watch(job, progress=False)
        # The same weights as the single-file demo model: the same numbers.
        got, want = self.client.heads(job), self.client.heads(self.zero)
        for a, b in zip(got.ppl, want.ppl):
            self.assertAlmostEqual(a, b, delta=1e-9 * b)
        # A different spec under the same request_id is refused, naming the job.
        with self.assertRaises(ablate.AblateError) as e:
            self.client.submit(model=folder, text=DEMO_TEXT, n_chunks=2, seq_len=64,
                               method="mean", sweep="individual", device_kind="cpu",
                               request_id=rid, upload=True, progress=False)
        self.assertEqual(e.exception.code.name, "ALREADY_EXISTS")

    def test_family_defaults_are_the_cli_ones(self):
        """For each family the Python submit makes the CLI's spec (shape fields, kv heads,
        head_dim, BOS default, tokenizer kind): one job under one request_id."""
        base = {"num_hidden_layers": 2, "num_attention_heads": 4, "hidden_size": 32,
                "max_position_embeddings": 128, "vocab_size": 1000}
        cases = [("llama", dict(num_key_value_heads=2, bos_token_id=1), True),
                 ("mistral", dict(num_key_value_heads=1, head_dim=16), False),  # No BOS id.
                 ("qwen2", dict(num_key_value_heads=2, bos_token_id=7), False),
                 ("gpt_neox", dict(bos_token_id=0), False)]
        for family, extra, bos in cases:
            folder = os.path.join(self.cluster.dir, "cfg-" + family)
            os.makedirs(folder)
            with open(os.path.join(folder, "config.json"), "w") as f:
                json.dump(dict(base, model_type=family, **extra), f)
            with open(os.path.join(folder, "model.safetensors"), "wb") as f:
                f.write(os.urandom(64))  # Never read: the job is cancelled unleased.
            with open(os.path.join(folder, "tokenizer.json"), "w") as f:
                f.write("{}")
            rid = "fam-" + family + os.urandom(4).hex()
            args = ["--text", DEMO_TEXT, "--n-chunks", "2", "--seq-len", "64",
                    "--device-kind", "cuda", "--request-id", rid]  # No CUDA worker here.
            cli_job = self.cli("submit", "--model", folder, *args).split()[-1]
            job = self.client.submit(model=folder, text=DEMO_TEXT, n_chunks=2, seq_len=64,
                                     device_kind="cuda", request_id=rid)
            self.assertEqual(job, cli_job, family)
            spec = self.client._call("GetJob", ablate.client.pb.GetJobRequest(job_id=job)).spec
            self.assertEqual(spec.bos_per_chunk, bos, family)
            self.assertEqual(spec.model.shape.family, family)
            self.assertEqual(spec.model.tokenizer, "tokenizer.json")
            self.client.cancel(job)
            if family == "mistral":
                with self.assertRaisesRegex(ValueError, "names no bos_token_id"):
                    self.client.submit(model=folder, text=DEMO_TEXT, bos_per_chunk=True)

    def test_large_text_goes_up_as_an_artifact(self):
        big = os.path.join(self.cluster.dir, "big.txt")
        with open(DEMO_TEXT) as f:
            text = f.read()
        with open(big, "w") as f:
            while f.tell() <= ablate.client.MAX_INLINE_TEXT:
                f.write(text)
        job = self.client.submit(model=DEMO_MODEL, text=big, n_chunks=1, seq_len=32,
                                 method="zero", sweep="individual", device_kind="cpu",
                                 progress=False)
        spec = self.client._call("GetJob", ablate.client.pb.GetJobRequest(job_id=job)).spec
        self.assertEqual(spec.dataset.artifact_digest, _model.sha256_file(big))
        self.assertEqual(spec.dataset.text, "")
        self.client.cancel(job)

    def test_model_folder_errors_are_named(self):
        folder = os.path.join(self.cluster.dir, "broken")
        write_sharded_copy(DEMO_MODEL, folder)
        os.remove(os.path.join(folder, "model-00002-of-00002.safetensors"))
        with self.assertRaisesRegex(ValueError, "missing shard 2 of 2"):
            self.client.submit(model=folder, text=DEMO_TEXT)
        with self.assertRaisesRegex(ValueError, "missing shard 2 of 2"):
            self.client.upload_model(folder)
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump({"model_type": "bert", "num_hidden_layers": 2}, f)
        with self.assertRaisesRegex(ValueError, "model_type 'bert' is not supported"):
            self.client.submit(model=folder, text=DEMO_TEXT)

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
                          ("/api/compare?a=%s&b=%s" % (z, self.mean), ["compare", z, self.mean]),
                          ("/api/jobs/%s/heads" % self.atp, ["heads", self.atp])]:
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
