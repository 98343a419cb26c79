"""Client: one connection to an ablate server's AblationService."""
import hashlib
import json
import os
import secrets
import sys
import time

import grpc

from ablate import _convert as cv
from ablate.v1 import ablate_pb2 as pb
from ablate.v1 import ablate_pb2_grpc as pb_grpc

_TERMINAL = {pb.JOB_STATE_SUCCEEDED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED}


class AblateError(RuntimeError):
    """A call the server refused or could not answer; `code` is the grpc.StatusCode."""

    def __init__(self, rpc, error):
        self.code = error.code() if hasattr(error, "code") else None
        details = error.details() if hasattr(error, "details") else str(error)
        name = self.code.name if self.code is not None else "ERROR"
        super().__init__("%s: %s: %s" % (rpc, name, details))


def _read_shape(model_dir):
    """ModelShape from config.json (GPT-2 names, or the Hugging Face generic ones)."""
    path = os.path.join(model_dir, "config.json")
    with open(path) as f:
        cfg = json.load(f)

    def field(*names):
        for n in names:
            if isinstance(cfg.get(n), int):
                return cfg[n]
        return 0

    shape = pb.ModelShape(
        n_layer=field("n_layer", "num_hidden_layers"),
        n_head=field("n_head", "num_attention_heads"),
        n_embd=field("n_embd", "hidden_size"),
        n_positions=field("n_positions", "max_position_embeddings"),
        vocab_size=field("vocab_size"))
    for name in ("n_layer", "n_head", "n_embd", "n_positions", "vocab_size"):
        if getattr(shape, name) <= 0:
            raise ValueError("%s: missing or bad %r" % (path, name))
    if cfg.get("model_type") and cfg.get("model_type") != "gpt2":
        shape.family = cfg["model_type"]
        shape.n_kv_head = field("num_key_value_heads")
        shape.head_dim = field("head_dim")
        shape.bos_token_id = cfg["bos_token_id"] if isinstance(cfg.get("bos_token_id"), int) else -1
    return shape


def _sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Client:
    """Client(address, token=None, tls=False, timeout=60).

    token: the client token (or token_file=PATH). tls: False, True (system roots) or the path
    of a PEM root CA file. Every method raises AblateError when the server refuses.
    """

    def __init__(self, address="127.0.0.1:50051", token=None, tls=False, timeout=60.0,
                 token_file=None):
        if token_file:
            with open(token_file) as f:
                token = f.readline().strip()
        self._metadata = (("authorization", "Bearer " + token),) if token else ()
        options = [("grpc.max_receive_message_length", -1)]
        if tls:
            root = None
            if isinstance(tls, str):
                with open(tls, "rb") as f:
                    root = f.read()
            creds = grpc.ssl_channel_credentials(root_certificates=root)
            self._channel = grpc.secure_channel(address, creds, options=options)
        else:
            self._channel = grpc.insecure_channel(address, options=options)
        self._stub = pb_grpc.AblationServiceStub(self._channel)
        self.timeout = timeout

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, rpc, request):
        try:
            return getattr(self._stub, rpc)(request, timeout=self.timeout,
                                            metadata=self._metadata)
        except grpc.RpcError as e:
            raise AblateError(rpc, e) from None

    # ----- jobs -----
    def submit(self, model=None, text=None, n_chunks=2, seq_len=None, method="zero",
               sweep="full", dtype="fp32", device_kind="any", priority=0, masks_per_task=0,
               max_attempts=0, bos_per_chunk=False, request_id=None, name="",
               dataset_name=None, cumulative_order=None, artifact_digest=None, wait=False,
               progress=True):
        """Submits a job as `ablate submit` does and returns its id (with wait=True, after
        watching it to the end). model: checkpoint folder (config.json, model.safetensors);
        text: text file; cumulative_order: [(layer, head), ...]; artifact_digest: a model
        uploaded with `ablate upload` (then `model` only supplies config.json)."""
        if not model or not text:
            raise ValueError("submit needs model (a checkpoint folder) and text (a file)")
        shape = _read_shape(model)
        with open(text, "rb") as f:
            data = f.read()
        spec = pb.JobSpec(
            n_chunks=n_chunks, seq_len=seq_len or min(1024, shape.n_positions),
            method=cv.parse_enum(cv.METHODS, "method", method),
            sweep=cv.parse_enum(cv.SWEEPS, "sweep", sweep),
            dtype=cv.parse_enum({k: v for k, v in cv.DTYPES.items() if k}, "dtype", dtype),
            device_kind=cv.parse_enum(cv.DEVICES, "device_kind", device_kind),
            priority=priority, masks_per_task=masks_per_task, max_attempts=max_attempts,
            bos_per_chunk=bos_per_chunk, name=name)
        spec.model.shape.CopyFrom(shape)
        spec.model.path = os.path.abspath(model)
        spec.model.sha256 = _sha256_file(os.path.join(model, "model.safetensors"))
        if artifact_digest:
            spec.model.artifact_digest = artifact_digest
        spec.dataset.text = data.decode("utf-8")
        spec.dataset.sha256 = hashlib.sha256(data).hexdigest()
        spec.dataset.name = dataset_name or os.path.basename(text)
        for layer, head in cumulative_order or []:
            spec.cumulative_order.add(layer=layer, head=head)
        request = pb.SubmitJobRequest(spec=spec, request_id=request_id or secrets.token_hex(16))
        job = self._call("SubmitJob", request)
        if wait:
            self.watch(job.id, progress=progress)
        return job.id

    def job(self, job):
        """The job as a dict (the fields of `ablate status --format json`)."""
        return cv.job_dict(self._call("GetJob", pb.GetJobRequest(job_id=job)))

    def jobs(self, state=None):
        """Every job (all pages) as a DataFrame: id, name, state, method, sweep, progress."""
        request = pb.ListJobsRequest(page_size=200)
        if state:
            request.state = cv.state_value(state)
        out = []
        while True:
            page = self._call("ListJobs", request)
            out.extend(cv.job_dict(j) for j in page.jobs)
            if not page.next_page_token:
                break
            request.page_token = page.next_page_token
        import pandas as pd
        return pd.json_normalize(out) if out else pd.DataFrame(columns=["id", "state"])

    def cancel(self, job):
        return cv.job_dict(self._call("CancelJob", pb.CancelJobRequest(job_id=job)))

    def watch(self, job, progress=True, file=None):
        """Follows the job until it ends, with a progress bar (tqdm when installed, else a
        text bar on stderr); returns the final job dict. Raises AblateError if it failed or
        was cancelled."""
        bar = _ProgressBar(job, file or sys.stderr) if progress else None
        final = None
        try:
            stream = self._stub.WatchJob(pb.WatchJobRequest(job_id=job), metadata=self._metadata)
            for event in stream:
                if bar:
                    bar.update(event.job)
                if event.job.state in _TERMINAL:
                    final = event.job
                    stream.cancel()
                    break
        except grpc.RpcError as e:
            if final is None and e.code() != grpc.StatusCode.CANCELLED:
                raise AblateError("WatchJob", e) from None
        finally:
            if bar:
                bar.close()
        if final is None:
            final = self._call("GetJob", pb.GetJobRequest(job_id=job))
        result = cv.job_dict(final)
        if final.state != pb.JOB_STATE_SUCCEEDED:
            raise AblateError("WatchJob", RuntimeError(
                "job %s %s%s" % (job, result["state"],
                                 ": " + final.error if final.error else "")))
        return result

    # ----- results -----
    def heads(self, job):
        """10A: one row per head (layer, head, ppl, delta, ...); attrs: baseline_ppl."""
        return cv.heads_frame(self._call("GetHeadTable", pb.JobQuery(job_id=job)))

    def curve(self, job):
        """10C: PPL with the first k heads of the cumulative order removed, k = 0..L*H."""
        return cv.curve_frame(self._call("GetCumulativeCurve", pb.JobQuery(job_id=job)))

    def thresholds(self, job, ratios=(1.1, 1.5, 2.0)):
        """Max heads removable within each PPL ratio of the baseline."""
        request = pb.ThresholdsRequest(job_id=job, ratios=list(ratios))
        return cv.thresholds_frame(self._call("GetThresholds", request))

    def stats(self, job):
        """10B: one row of distribution statistics and the Zipf fit."""
        return cv.stats_frame(self._call("GetDistribution", pb.JobQuery(job_id=job)))

    def layers(self, job, series=None, series_name="series"):
        """10D: per-layer mean / max delta. With `series` (one number per layer), adds a
        `series` column and the Pearson / Spearman correlation in df.attrs['correlation']."""
        df = cv.layers_frame(self._call("GetLayerTable", pb.JobQuery(job_id=job)))
        if series is not None:
            values = [float(v) for v in series]
            corr = self._call("GetCorrelation", pb.CorrelationRequest(
                job_id=job, series=values, series_name=series_name))
            df["series"] = values
            df.attrs["correlation"] = cv.correlation_dict(corr)
        return df

    def compare(self, a, b):
        """Two jobs of the same shape head by head: delta_a, delta_b, rank_a, rank_b,
        rank_shift; df.attrs['correlation'] holds Pearson and Spearman."""
        return cv.compare_frame(self._call("CompareJobs", pb.CompareRequest(job_a=a, job_b=b)))

    def workers(self):
        """Registered workers: device, state, task, masks/s (None before a first task)."""
        return cv.workers_frame(self._call("ListWorkers", pb.ListWorkersRequest()))


class _ProgressBar:
    """tqdm when available, else one rewritten line on a terminal (plain lines otherwise)."""

    def __init__(self, job, file):
        self._job, self._file, self._bar, self._last = job, file, None, 0.0
        try:
            from tqdm.auto import tqdm
            self._bar = tqdm(total=0, desc=job, unit="mask", file=file)
        except ImportError:
            self._tty = hasattr(file, "isatty") and file.isatty()

    def update(self, job):
        p = job.progress
        if self._bar is not None:
            self._bar.total = p.masks_total
            self._bar.n = p.masks_done
            self._bar.set_postfix_str(cv._name(cv._STATES, job.state))
            self._bar.refresh()
            return
        now = time.monotonic()
        if not self._tty and now - self._last < 5 and job.state not in _TERMINAL:
            return
        self._last = now
        frac = p.masks_done / p.masks_total if p.masks_total else 0.0
        filled = int(30 * frac)
        line = "%s [%s%s] %d/%d %5.1f%% %s" % (
            self._job, "#" * filled, "." * (30 - filled), p.masks_done, p.masks_total,
            100 * frac, cv._name(cv._STATES, job.state))
        self._file.write(("\r" + line) if self._tty else line + "\n")
        self._file.flush()

    def close(self):
        if self._bar is not None:
            self._bar.close()
        elif self._tty:
            self._file.write("\n")
