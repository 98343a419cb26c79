"""Proto messages -> dicts and DataFrames with the field names of the CLI's --format json."""
import pandas as pd

from ablate.v1 import ablate_pb2 as pb

_STATES = {pb.JOB_STATE_QUEUED: "queued", pb.JOB_STATE_RUNNING: "running",
           pb.JOB_STATE_SUCCEEDED: "succeeded", pb.JOB_STATE_FAILED: "failed",
           pb.JOB_STATE_CANCELLED: "cancelled"}
_METHODS = {pb.METHOD_ZERO: "zero", pb.METHOD_ZERO_FOLDED: "zero_folded",
            pb.METHOD_MEAN: "mean"}
_SWEEPS = {pb.SWEEP_INDIVIDUAL: "individual", pb.SWEEP_CUMULATIVE: "cumulative",
           pb.SWEEP_FULL: "full"}
_DTYPES = {pb.DTYPE_UNSPECIFIED: "fp32", pb.DTYPE_FP32: "fp32", pb.DTYPE_BF16: "bf16",
           pb.DTYPE_FP16: "fp16"}
_DEVICES = {pb.DEVICE_KIND_ANY: "any", pb.DEVICE_KIND_CPU: "cpu", pb.DEVICE_KIND_CUDA: "cuda",
            pb.DEVICE_KIND_MPS: "mps"}
if hasattr(pb, "SWEEP_ATTRIBUTION"):
    _SWEEPS[pb.SWEEP_ATTRIBUTION] = "attribution"


def _name(table, value):
    return table.get(value, "unknown(%d)" % value)


def parse_enum(table, field, name):
    for value, n in table.items():
        if n == name:
            return value
    raise ValueError("%s must be one of %s; got %r"
                     % (field, ", ".join(sorted(set(table.values()))), name))


def state_value(name):
    return parse_enum(_STATES, "state", name)


def job_dict(job):
    """As `ablate status --format json`."""
    s, p = job.spec, job.progress
    return {
        "id": job.id, "name": s.name, "state": _name(_STATES, job.state), "error": job.error,
        "request_id": job.request_id,
        "model": {"path": s.model.path, "sha256": s.model.sha256,
                  "n_layer": s.model.shape.n_layer, "n_head": s.model.shape.n_head},
        "dataset": {"name": s.dataset.name, "sha256": s.dataset.sha256,
                    "bytes": job.dataset_bytes},
        "n_chunks": s.n_chunks, "seq_len": s.seq_len, "method": _name(_METHODS, s.method),
        "sweep": _name(_SWEEPS, s.sweep), "dtype": _name(_DTYPES, s.dtype),
        "device_kind": _name(_DEVICES, s.device_kind), "priority": s.priority,
        "progress": {"masks_done": p.masks_done, "masks_total": p.masks_total,
                     "tasks_done": p.tasks_done, "tasks_total": p.tasks_total,
                     "tasks_running": p.tasks_running, "workers_busy": p.workers_busy,
                     "masks_per_second": p.masks_per_second},
        "baseline_ppl": job.baseline_ppl, "n_tokens_scored": job.n_tokens_scored,
        "created_unix_ms": job.created_unix_ms, "started_unix_ms": job.started_unix_ms,
        "finished_unix_ms": job.finished_unix_ms,
    }


def _optional(msg, field):
    return getattr(msg, field) if msg.HasField(field) else None


def _has(msg, field):
    return field in msg.DESCRIPTOR.fields_by_name


def heads_frame(table):
    """One row per head in (layer, head) order: layer, head, ppl, delta, and when the server
    filled them the interval (delta_lo, delta_hi, significant, rank_lo, rank_hi), the
    per-block NLL (block_nll; attrs block_tokens, baseline_block_nll) and the attribution
    estimate (atp_delta, verified; ppl and delta None for heads not verified)."""
    rows = []
    for r in table.rows:
        row = {"layer": r.layer, "head": r.head, "ppl": r.ppl, "delta": r.delta}
        if _has(r, "delta_lo") and r.HasField("delta_lo"):
            row.update(delta_lo=r.delta_lo, delta_hi=_optional(r, "delta_hi"),
                       significant=r.significant, rank_lo=r.rank_lo, rank_hi=r.rank_hi)
        if _has(r, "block_nll") and len(r.block_nll):
            row["block_nll"] = list(r.block_nll)
        if _has(r, "atp_delta") and r.HasField("atp_delta"):
            # As the CLI's JSON: ppl and delta only for heads verified by exact ablation.
            row.update(atp_delta=r.atp_delta, verified=r.exact)
            if not r.exact:
                row.update(ppl=None, delta=None)
        rows.append(row)
    df = pd.DataFrame(rows, columns=None if rows else ["layer", "head", "ppl", "delta"])
    df.attrs.update(baseline_ppl=table.baseline_ppl, n_tokens_scored=table.n_tokens_scored,
                    n_layer=table.n_layer, n_head=table.n_head)
    if _has(table, "block_tokens"):
        df.attrs.update(block_tokens=list(table.block_tokens),
                        baseline_block_nll=list(table.baseline_block_nll))
    if _has(table, "ci"):
        df.attrs.update(ci=table.ci, bootstrap=table.bootstrap, seed=table.seed,
                        n_verified=table.n_verified,
                        atp_spearman=_optional(table, "atp_spearman"),
                        atp_recall=_optional(table, "atp_recall"),
                        recall_reference_job=table.recall_reference_job or None)
    return df


def curve_frame(curve):
    rows = []
    for p in curve.points:
        row = {"removed": p.removed, "ppl": p.ppl, "ratio": p.ratio,
               "layer": p.head.layer if p.HasField("head") else None,
               "head": p.head.head if p.HasField("head") else None}
        if _has(p, "ratio_lo") and p.HasField("ratio_lo"):
            row.update(ratio_lo=p.ratio_lo, ratio_hi=_optional(p, "ratio_hi"))
        if _has(p, "block_nll") and len(p.block_nll):
            row["block_nll"] = list(p.block_nll)
        rows.append(row)
    df = pd.DataFrame(rows)
    df.attrs["baseline_ppl"] = curve.baseline_ppl
    if _has(curve, "block_tokens"):
        df.attrs.update(block_tokens=list(curve.block_tokens), ci=curve.ci,
                        bootstrap=curve.bootstrap, seed=curve.seed)
    return df


def thresholds_frame(table):
    rows = []
    for t in table.rows:
        row = {"ratio": t.ratio, "max_heads": t.max_heads, "ppl_at_max": t.ppl_at_max,
               "fraction": t.fraction}
        if _has(t, "max_heads_lo") and t.HasField("max_heads_lo"):
            row.update(max_heads_lo=t.max_heads_lo, max_heads_hi=_optional(t, "max_heads_hi"))
        rows.append(row)
    df = pd.DataFrame(rows)
    df.attrs["baseline_ppl"] = table.baseline_ppl
    return df


def stats_frame(s):
    """One row: the fields of `ablate stats --format json`, zipf flattened (zipf_alpha...)."""
    row = {"n_heads": s.n_heads, "under_1pct": s.under_1pct, "under_10pct": s.under_10pct,
           "improved": s.improved, "mean_delta": s.mean_delta, "median_delta": s.median_delta,
           "mean_abs_delta": s.mean_abs_delta, "max_delta": s.max_delta,
           "max_layer": s.max_head.layer, "max_head": s.max_head.head,
           "zipf_alpha": s.zipf.alpha, "zipf_c": s.zipf.c, "zipf_r2": s.zipf.r2,
           "zipf_n_points": s.zipf.n_points}
    if _has(s, "n_significant") and s.HasField("n_significant"):
        row["n_significant"] = s.n_significant
    for name in ("under_1pct", "under_10pct", "improved", "mean_delta", "median_delta",
                 "mean_abs_delta", "max_delta", "zipf_alpha"):
        _interval(s, name + "_ci", name, row)
    df = pd.DataFrame([row])
    if _has(s, "bootstrap") and s.bootstrap:
        df.attrs.update(ci=s.ci, bootstrap=s.bootstrap, seed=s.seed)
    return df


def _interval(msg, field, prefix, row):
    """row[prefix_lo], row[prefix_hi] from the Interval `field` when the server set it."""
    if _has(msg, field) and msg.HasField(field):
        value = getattr(msg, field)
        row[prefix + "_lo"], row[prefix + "_hi"] = value.lo, value.hi


def correlation_dict(c):
    out = {"series_name": c.series_name, "n": c.n, "pearson_r": c.pearson_r,
           "pearson_p": c.pearson_p, "spearman_rho": c.spearman_rho,
           "spearman_p": c.spearman_p}
    _interval(c, "pearson_r_ci", "pearson_r", out)
    _interval(c, "spearman_rho_ci", "spearman_rho", out)
    return out


def layers_frame(layers):
    rows = []
    for r in layers.rows:
        row = {"layer": r.layer, "mean_delta": r.mean_delta, "max_delta": r.max_delta,
               "max_head": r.max_head}
        _interval(r, "mean_delta_ci", "mean_delta", row)
        _interval(r, "max_delta_ci", "max_delta", row)
        rows.append(row)
    df = pd.DataFrame(rows)
    if _has(layers, "ci") and layers.ci:
        df.attrs.update(ci=layers.ci, bootstrap=layers.bootstrap, seed=layers.seed)
    return df


def compare_frame(cmp):
    df = pd.DataFrame([{"layer": r.layer, "head": r.head, "delta_a": r.delta_a,
                        "delta_b": r.delta_b, "rank_a": r.rank_a, "rank_b": r.rank_b,
                        "rank_shift": r.rank_shift} for r in cmp.rows])
    df.attrs.update(job_a=cmp.job_a, job_b=cmp.job_b, n_layer=cmp.n_layer, n_head=cmp.n_head,
                    correlation=correlation_dict(cmp.correlation)
                    if cmp.HasField("correlation") else None)
    return df


def workers_frame(resp):
    rows = []
    for w in resp.workers:
        rate = w.masks_per_second if w.masks_done > 0 and w.masks_per_second > 0 else None
        rows.append({"worker_id": w.worker_id, "name": w.name,
                     "device_kind": _name(_DEVICES, w.device_kind), "device": w.device,
                     "dtypes": [_name(_DTYPES, d) for d in w.dtypes],
                     "memory_bytes": w.memory_bytes, "state": w.state,
                     "last_seen_unix_ms": w.last_seen_unix_ms, "masks_done": w.masks_done,
                     "masks_per_second": rate, "version": w.version,
                     "current_task_id": w.current_task_id,
                     "jobs_backed_off": w.jobs_backed_off})
    return pd.DataFrame(rows, columns=None if rows else ["worker_id", "name", "state"])


METHODS, SWEEPS, DTYPES, DEVICES = _METHODS, _SWEEPS, _DTYPES, _DEVICES
