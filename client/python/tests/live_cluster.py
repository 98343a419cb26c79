"""A live ablate cluster for tests: the real ablate-server (with its dashboard) and real
ablate-worker processes on loopback, in a temp folder, stopped on exit.

Binaries come from ABLATE_SERVER_BIN / ABLATE_WORKER_BIN (CTest sets them); the model and
text are the project's demo checkpoint (deploy/demo).
"""
import os
import shutil
import signal
import subprocess
import tempfile
import time

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                     ".."))
DEMO_MODEL = os.path.join(REPO, "deploy", "demo", "model")
DEMO_TEXT = os.path.join(REPO, "deploy", "demo", "heldout.txt")


def _wait_file(path, proc, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                text = f.read().strip()
            if text:
                return text
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %s before writing %s" % (what, proc.returncode, path))
        time.sleep(0.05)
    raise RuntimeError("%s did not write %s within %ss" % (what, path, timeout))


class LiveCluster:
    """with LiveCluster(tokens=True) as c: c.address, c.http_url, c.client_token, c.worker()."""

    def __init__(self, tokens=True, http=True, tls=False):
        self.server_bin = os.environ.get("ABLATE_SERVER_BIN", "ablate-server")
        self.worker_bin = os.environ.get("ABLATE_WORKER_BIN", "ablate-worker")
        self.dir = tempfile.mkdtemp(prefix="ablate-live-")
        self.tokens, self.http, self.tls = tokens, http, tls
        self.client_token = "client-" + os.urandom(8).hex() if tokens else None
        self.worker_token = "worker-" + os.urandom(8).hex() if tokens else None
        self._procs = []

    def _file(self, name, text=None):
        path = os.path.join(self.dir, name)
        if text is not None:
            with open(path, "w") as f:
                f.write(text + "\n")
        return path

    def _spawn(self, args, log):
        with open(self._file(log), "w") as out:  # The child keeps its own descriptor.
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        self._procs.append(proc)
        return proc

    def start(self):
        args = [self.server_bin, "--listen", "127.0.0.1:0", "--db", self._file("queue.db"),
                "--port-file", self._file("port"), "--lease-ttl-ms", "5000"]
        if self.tokens:
            args += ["--client-token-file", self._file("client.token", self.client_token),
                     "--worker-token-file", self._file("worker.token", self.worker_token)]
        if self.http:
            args += ["--http-listen", "127.0.0.1:0", "--http-port-file", self._file("http_port")]
        if self.tls:
            self.ca_file = self._self_signed()
            args += ["--tls-cert", self.ca_file, "--tls-key", self._file("key.pem")]
        self.server = self._spawn(args, "server.log")
        self.port = int(_wait_file(self._file("port"), self.server, "ablate-server"))
        self.address = "127.0.0.1:%d" % self.port
        if self.http:
            self.http_port = int(_wait_file(self._file("http_port"), self.server,
                                            "ablate-server"))
            self.http_url = "%s://127.0.0.1:%d" % ("https" if self.tls else "http",
                                                   self.http_port)
        return self

    def _self_signed(self):
        """A self-signed certificate for 127.0.0.1 / localhost (openssl CLI); its path."""
        cert, key = self._file("cert.pem"), self._file("key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", key,
                        "-out", cert], check=True, capture_output=True)
        return cert

    def worker(self, name="w", extra=()):
        """Starts an ablate-worker (CPU) against this server; returns its Popen."""
        args = [self.worker_bin, "--server", self.address, "--name", name,
                "--cache-dir", os.path.join(self.dir, "cache-" + name), "--lease-wait-ms", "500",
                # Workers read local checkpoints only under --model-root (issue 10).
                "--model-root", "/"]
        if self.tokens:
            args += ["--token-file", self._file("worker.token")]
        return self._spawn(args + list(extra), "worker-%s.log" % name)

    @staticmethod
    def stop_process(proc, timeout=10):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def log(self, name="server.log"):
        with open(self._file(name)) as f:
            return f.read()

    def stop(self):
        for proc in reversed(self._procs):
            self.stop_process(proc)
        if os.environ.get("ABLATE_KEEP_LIVE_DIR"):
            print("live cluster files kept in", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()
