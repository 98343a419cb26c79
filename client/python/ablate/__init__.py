"""Python client of an ablate server: submit attention-head ablation jobs and read their
results as pandas DataFrames (see client/python/README.md).

    from ablate import Client
    c = Client("127.0.0.1:50051", token=None)
    job = c.submit(model="models/tiny", text="brown.txt", method="mean", sweep="full")
    c.watch(job)
    c.heads(job).sort_values("delta", ascending=False).head(10)

The gRPC stubs (ablate.v1) are generated from proto/ at install or build time
(gen_stubs.py), never committed.
"""
import pkgutil

# ablate.v1 (the generated stubs) may live in another sys.path entry than this package
# (e.g. a build folder): let the package span them.
__path__ = pkgutil.extend_path(__path__, __name__)

from ablate.client import AblateError, Client  # noqa: E402

__all__ = ["AblateError", "Client"]
