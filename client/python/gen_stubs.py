#!/usr/bin/env python3
"""Generates the gRPC stubs of proto/ablate/v1/ablate.proto for the `ablate` package.

    python3 gen_stubs.py [--proto-root DIR] [--out DIR]

writes OUT/ablate/v1/ablate_pb2.py and ablate_pb2_grpc.py (OUT defaults to this folder, next
to the package; the package finds them in any sys.path entry). The stubs are generated, never
committed. It uses grpc_tools.protoc (pip's grpcio-tools) when that protoc understands proto3
`optional`, else the system's protoc with grpc_python_plugin (Debian: protobuf-compiler,
protobuf-compiler-grpc).
"""
import argparse
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PROTO_ROOT = os.path.normpath(os.path.join(HERE, "..", "..", "proto"))
PROTO = os.path.join("ablate", "v1", "ablate.proto")


def _grpc_tools(proto_root, out):
    try:
        from grpc_tools import protoc  # noqa: F401
    except ImportError:
        return False, "grpc_tools is not installed"
    cmd = [sys.executable, "-m", "grpc_tools.protoc", "-I", proto_root,
           "--python_out", out, "--grpc_python_out", out, PROTO]
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=proto_root)
    return run.returncode == 0, run.stderr.strip()


def _system_protoc(proto_root, out):
    protoc = shutil.which("protoc")
    plugin = shutil.which("grpc_python_plugin")
    if not protoc or not plugin:
        return False, "protoc or grpc_python_plugin not found"
    cmd = [protoc, "-I", proto_root, "--python_out", out, "--grpc_python_out", out,
           "--plugin=protoc-gen-grpc_python=" + plugin, PROTO]
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=proto_root)
    return run.returncode == 0, run.stderr.strip()


def generate(proto_root=DEFAULT_PROTO_ROOT, out=HERE):
    """Writes the stubs under `out`; raises RuntimeError saying why not."""
    out, proto_root = os.path.abspath(out), os.path.abspath(proto_root)
    if not os.path.exists(os.path.join(proto_root, PROTO)):
        raise RuntimeError("no %s under %s" % (PROTO, proto_root))
    os.makedirs(os.path.join(out, "ablate", "v1"), exist_ok=True)
    errors = []
    for generator in (_grpc_tools, _system_protoc):
        ok, err = generator(proto_root, out)
        if ok:
            return os.path.join(out, "ablate", "v1")
        errors.append("%s: %s" % (generator.__name__.strip("_"), err))
    raise RuntimeError("cannot generate the stubs:\n  " + "\n  ".join(errors))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proto-root", default=DEFAULT_PROTO_ROOT)
    parser.add_argument("--out", default=HERE)
    args = parser.parse_args()
    try:
        print(generate(args.proto_root, args.out))
    except RuntimeError as e:
        print("gen_stubs: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
