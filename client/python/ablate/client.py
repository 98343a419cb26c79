"""Client: one connection to an ablate server's AblationService."""
import hashlib
import os
import secrets
import sys
import time

import grpc

from ablate import _artifact
from ablate import _convert as cv
from ablate import _model
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


MAX_INLINE_TEXT = 1 << 20  # Larger texts go up as text artifacts (as `ablate submit` does).


def _uncertainty(ci, bootstrap, seed):
    """pb.Uncertainty from the query keywords (None = the server's default)."""
    u = pb.Uncertainty()
    if ci is not None:
        u.ci = ci
    if bootstrap is not None:
        u.bootstrap = bootstrap
    if seed is not None:
        u.seed = seed
    return u


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
        self._artifacts = pb_grpc.ArtifactServiceStub(self._channel)
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
               max_attempts=0, bos_per_chunk=None, request_id=None, name="",
               dataset_name=None, cumulative_order=None, verify_top_k=0, block_tokens=0,
               upload=False, artifact_digest=None, wait=False, progress=True):
        """Submits a job as `ablate submit` does and returns its id (with wait=True, after
        watching it to the end).

        model: checkpoint folder (config.json, weights as model.safetensors or shards with
        their index, tokenizer files); text: text file (above 1 MiB it goes up as a text
        artifact); bos_per_chunk: None = the family's default (on for Llama and Mistral);
        sweep="attribution" with verify_top_k=K verifies the K largest estimates exactly;
        cumulative_order: [(layer, head), ...]; upload=True uploads the folder first (workers
        fetch it by digest; no shared file system needed), or artifact_digest names a model
        uploaded before (upload_model)."""
        if not model or not text:
            raise ValueError("submit needs model (a checkpoint folder) and text (a file)")
        shape = _model.read_shape(model)
        with open(text, "rb") as f:
            data = f.read()
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError("%s is not UTF-8 text (byte %d)" % (text, e.start)) from None
        spec = pb.JobSpec(
            n_chunks=n_chunks, seq_len=seq_len or min(1024, shape.n_positions),
            method=cv.parse_enum(cv.METHODS, "method", method),
            sweep=cv.parse_enum(cv.SWEEPS, "sweep", sweep),
            dtype=cv.parse_enum({k: v for k, v in cv.DTYPES.items() if k}, "dtype", dtype),
            device_kind=cv.parse_enum(cv.DEVICES, "device_kind", device_kind),
            priority=priority, masks_per_task=masks_per_task, max_attempts=max_attempts,
            bos_per_chunk=(_model.default_bos(shape) if bos_per_chunk is None
                           else bool(bos_per_chunk)),
            name=name, verify_top_k=verify_top_k, block_tokens=block_tokens)
        if spec.bos_per_chunk and shape.bos_token_id < 0:
            raise ValueError("bos_per_chunk: %s/config.json names no bos_token_id"
                             % model)
        spec.model.shape.CopyFrom(shape)
        spec.model.sha256 = _model.weights_digest(model)
        spec.model.tokenizer = _model.tokenizer_kind(model)
        if upload and not artifact_digest:
            artifact_digest = self.upload_model(model, progress=progress)
        if artifact_digest:
            spec.model.artifact_digest = artifact_digest
        else:
            spec.model.path = os.path.abspath(model)
        spec.dataset.sha256 = hashlib.sha256(data).hexdigest()
        if len(data) > MAX_INLINE_TEXT:
            spec.dataset.artifact_digest = self.upload_text(text, progress=progress)
        else:
            spec.dataset.text = data.decode("utf-8")
        spec.dataset.name = dataset_name or os.path.basename(text)
        for layer, head in cumulative_order or []:
            spec.cumulative_order.add(layer=layer, head=head)
        request = pb.SubmitJobRequest(spec=spec, request_id=request_id or secrets.token_hex(16))
        job = self._call("SubmitJob", request)
        if wait:
            self.watch(job.id, progress=progress)
        return job.id

    # ----- artifacts -----
    def upload_model(self, model, progress=False):
        """Uploads a checkpoint folder once (content-addressed, resumable; nothing is sent when
        the server has it) and returns its digest, the one `ablate upload DIR` prints."""
        return self._upload(_artifact.folder(model), model, progress)

    def upload_text(self, path, progress=False):
        """Uploads a text file as a text artifact; returns its digest (the text's SHA-256)."""
        return self._upload(_artifact.text_file(path), path, progress)

    def _upload(self, factory, what, progress):
        bar = _ByteBar(what, sys.stderr) if progress else None
        try:
            info, _ = _artifact.upload(self._artifacts, factory, self._metadata, self.timeout,
                                       progress=bar.update if bar else None)
        except _artifact.UploadError as e:
            raise AblateError(e.rpc, e.error) from None
        return info.digest

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
    # heads, curve, thresholds, stats and layers take the bootstrap settings: ci (interval level,
    # default 0.95), bootstrap (resamples, default 10000; -1 = no intervals), seed (default:
    # the documented one). See "Definitions" in the repository's README.

    def heads(self, job, ci=None, bootstrap=None, seed=None):
        """10A: one row per head (layer, head, ppl, delta; delta_lo/hi, significant,
        rank_lo/hi with per-block results; atp_delta, verified for attribution jobs);
        attrs: baseline_ppl, ci, bootstrap, seed, and atp_spearman / atp_recall."""
        return cv.heads_frame(self._call("GetHeadTable", pb.JobQuery(
            job_id=job, uncertainty=_uncertainty(ci, bootstrap, seed))))

    def curve(self, job, ci=None, bootstrap=None, seed=None):
        """10C: PPL with the first k heads of the cumulative order removed, k = 0..L*H
        (ratio_lo/hi: the bootstrap band)."""
        return cv.curve_frame(self._call("GetCumulativeCurve", pb.JobQuery(
            job_id=job, uncertainty=_uncertainty(ci, bootstrap, seed))))

    def thresholds(self, job, ratios=(1.1, 1.5, 2.0), ci=None, bootstrap=None, seed=None):
        """Max heads removable within each PPL ratio of the baseline (max_heads_lo/hi)."""
        request = pb.ThresholdsRequest(job_id=job, ratios=list(ratios),
                                       uncertainty=_uncertainty(ci, bootstrap, seed))
        return cv.thresholds_frame(self._call("GetThresholds", request))

    def stats(self, job, ci=None, bootstrap=None, seed=None):
        """10B: one row of distribution statistics and the Zipf fit (n_significant, and
        <statistic>_lo/_hi: the bootstrap interval of each)."""
        return cv.stats_frame(self._call("GetDistribution", pb.JobQuery(
            job_id=job, uncertainty=_uncertainty(ci, bootstrap, seed))))

    def layers(self, job, series=None, series_name="series", ci=None, bootstrap=None,
               seed=None):
        """10D: per-layer mean / max delta (mean_delta_lo/hi, max_delta_lo/hi). With `series`
        (one number per layer), adds a `series` column and the Pearson / Spearman correlation
        (with pearson_r_lo/hi, spearman_rho_lo/hi) in df.attrs['correlation']."""
        u = _uncertainty(ci, bootstrap, seed)
        df = cv.layers_frame(self._call("GetLayerTable", pb.JobQuery(job_id=job, uncertainty=u)))
        if series is not None:
            values = [float(v) for v in series]
            corr = self._call("GetCorrelation", pb.CorrelationRequest(
                job_id=job, series=values, series_name=series_name, uncertainty=u))
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


class _ByteBar:
    """Upload progress on stderr: one rewritten line on a terminal, else every 10%."""

    def __init__(self, what, file):
        self._what, self._file, self._shown = what, file, -1
        self._tty = hasattr(file, "isatty") and file.isatty()

    def update(self, done, total):
        pct = 100 * done // total if total else 100
        if not self._tty and pct // 10 == self._shown // 10 and pct < 100:
            return
        self._shown = pct
        line = "uploading %s: %d%% of %d bytes" % (self._what, pct, total)
        self._file.write(("\r" + line + ("\n" if done == total else "")) if self._tty
                         else line + "\n")
        self._file.flush()


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
