#!/usr/bin/env python3
"""Browser test of the dashboard against a live cluster (real ablate-server and ablate-worker):
two finished jobs (zero and mean ablation, full sweeps of the demo model) and one running job
(a slowed worker), then dashboard_test.js drives headless chromium through the pages.

    ABLATE_SERVER_BIN=... ABLATE_WORKER_BIN=... python3 tests/browser/run_browser_test.py \
        [--screenshots DIR]

Exit 77 (CTest: skipped) when chromium or node is missing, or puppeteer-core is not installed
and `npm ci` cannot install it.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "client", "python"))
sys.path.insert(0, os.path.join(REPO, "client", "python", "tests"))
SKIP = 77


def ensure_tools():
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium")
    node = shutil.which("node")
    if not chromium or not node:
        print("skipped: chromium or node not installed (deploy/install-deps.sh)")
        sys.exit(SKIP)
    if not os.path.isdir(os.path.join(HERE, "node_modules", "puppeteer-core")):
        npm = shutil.which("npm")
        run = subprocess.run([npm or "npm", "ci", "--no-audit", "--no-fund"], cwd=HERE,
                             capture_output=True, text=True, timeout=300) if npm else None
        if run is None or run.returncode != 0:
            print("skipped: puppeteer-core missing and `npm ci` failed:",
                  run.stderr[-500:] if run else "no npm")
            sys.exit(SKIP)
    return chromium, node


def ensure_stubs():
    """Generates the Python stubs into a temp folder when no sys.path entry has them."""
    if any(os.path.exists(os.path.join(p, "ablate", "v1", "ablate_pb2.py")) for p in sys.path):
        return
    import gen_stubs
    out = tempfile.mkdtemp(prefix="ablate-stubs-")
    gen_stubs.generate(out=out)
    sys.path.insert(0, out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--screenshots", default=None)
    args = parser.parse_args()
    chromium, node = ensure_tools()
    ensure_stubs()
    import ablate
    from live_cluster import DEMO_MODEL, DEMO_TEXT, LiveCluster

    shots = args.screenshots or tempfile.mkdtemp(prefix="ablate-shots-")
    os.makedirs(shots, exist_ok=True)
    with LiveCluster(tokens=True) as cluster:
        client = ablate.Client(cluster.address, token=cluster.client_token)
        common = dict(model=DEMO_MODEL, text=DEMO_TEXT, n_chunks=2, seq_len=64,
                      device_kind="cpu", sweep="full")
        fast = cluster.worker("fast")
        zero = client.submit(method="zero", name="zero ablation", **common)
        mean = client.submit(method="mean", name="mean ablation", **common)
        atp = client.submit(method="zero", name="attribution", verify_top_k=5,
                            **dict(common, sweep="attribution"))
        for job in (zero, mean, atp):
            client.watch(job, progress=False)
        cluster.stop_process(fast)
        running = client.submit(method="zero_folded", name="still running", masks_per_task=1,
                                **common)
        cluster.worker("slow", ["--test-sleep-per-mask-ms", "400"])
        env = dict(os.environ, DASHBOARD_URL=cluster.http_url,
                   CLIENT_TOKEN=cluster.client_token, FINISHED_JOB=zero, OTHER_JOB=mean,
                   RUNNING_JOB=running, ATTRIBUTION_JOB=atp, SCREENSHOT_DIR=shots, CHROMIUM=chromium)
        run = subprocess.run([node, os.path.join(HERE, "dashboard_test.js")], env=env,
                             timeout=180)
        client.close()
        if run.returncode != 0:
            print(cluster.log()[-3000:])
        return run.returncode


if __name__ == "__main__":
    sys.exit(main())
