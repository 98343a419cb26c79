"""Uploading artifacts (the proto's ArtifactService), as `ablate upload` does.

A checkpoint folder goes up as the canonical model archive the proto describes (POSIX ustar:
the model files sorted by name, mode 0644, uid/gid 0, mtime 0, empty names, two zero blocks at
the end and nothing after them). The server accepts exactly that form, so this writer must give
the C++ client's bytes (proto/artifact/model_archive.h); the live tests compare the digests.
The archive is produced on the fly from the files, never written to disk.

The digest is computed first; GetUploadStatus then says what the server holds: nothing is sent
for a stored artifact, and an interrupted upload continues at the server's offset. Transient
errors are retried with backoff; DATA_LOSS (a file changed while uploading) hashes again.
"""
import hashlib
import os
import time

import grpc

from ablate import _model
from ablate.v1 import ablate_pb2 as pb

BLOCK = 512
CHUNK = 1 << 20
_OCTAL_LIMIT = 1 << 33
_TRANSIENT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
              grpc.StatusCode.ABORTED, grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN,
              grpc.StatusCode.INTERNAL}


def _padded(n):
    return (n + BLOCK - 1) // BLOCK * BLOCK


def tar_header(name, size):
    """The canonical 512-byte ustar header of one member."""
    raw = name.encode()
    if len(raw) > 100:
        raise ValueError("archive member name longer than 100 bytes: %r" % name)
    h = bytearray(BLOCK)
    h[0:len(raw)] = raw
    h[100:107] = b"0000644"
    h[108:115] = b"0000000"
    h[116:123] = b"0000000"
    if size < _OCTAL_LIMIT:
        h[124:135] = b"%011o" % size
    else:  # GNU base-256: high bit, then big-endian in the remaining 11 bytes.
        h[124] = 0x80
        h[125:136] = size.to_bytes(11, "big")
    h[136:147] = b"00000000000"
    h[156] = ord("0")
    h[257:263] = b"ustar\0"
    h[263:265] = b"00"
    h[148:156] = b" " * 8
    h[148:154] = b"%06o" % sum(h)
    h[154] = 0
    return bytes(h)


class _Folder:
    """The archive of a checkpoint folder's model files, read at any offset."""
    kind = pb.ARTIFACT_KIND_MODEL

    def __init__(self, model_dir):
        names = _model.model_files(model_dir)
        if _model.CONFIG not in names:
            raise ValueError("%s has no config.json" % model_dir)
        _model.weight_files(model_dir, names)  # Raises naming what is missing.
        self.parts = []  # (offset, header bytes, path, size)
        pos = 0
        for name in names:
            path = os.path.join(model_dir, name)
            size = os.path.getsize(path)
            self.parts.append((pos, tar_header(name, size), path, size, name))
            pos += BLOCK + _padded(size)
        self.size = pos + 2 * BLOCK

    def files(self):
        return [pb.ArtifactFile(name=p[4], size=p[3]) for p in self.parts]

    def read(self, offset, n):
        out = bytearray()
        end = offset + n
        for start, header, path, size, _ in self.parts:
            stop = start + BLOCK + _padded(size)
            if stop <= offset or start >= end:
                continue
            lo, hi = max(offset, start), min(end, stop)
            if lo < start + BLOCK:  # Header bytes.
                out += header[lo - start:min(hi, start + BLOCK) - start]
                lo = start + BLOCK
            data_lo, data_hi = lo - start - BLOCK, min(hi - start - BLOCK, size)
            if data_hi > data_lo:
                with open(path, "rb") as f:
                    f.seek(data_lo)
                    data = f.read(data_hi - data_lo)
                if len(data) != data_hi - data_lo or os.path.getsize(path) != size:
                    raise _Changed("%s changed size while uploading" % path)
                out += data
                lo = start + BLOCK + data_hi
            if hi > lo:  # Padding after the data.
                out += bytes(hi - lo)
        if end > self.size - 2 * BLOCK:  # The two closing zero blocks.
            out += bytes(end - max(offset, self.size - 2 * BLOCK))
        return bytes(out)


class _File:
    kind = pb.ARTIFACT_KIND_TEXT

    def __init__(self, path):
        if not os.path.isfile(path):
            raise ValueError("%s is not a regular file" % path)
        self.path, self.size = path, os.path.getsize(path)

    def files(self):
        return []

    def read(self, offset, n):
        with open(self.path, "rb") as f:
            f.seek(offset)
            data = f.read(n)
        if len(data) != n:
            raise _Changed("%s shrank while uploading" % self.path)
        return data


class _Changed(Exception):
    pass


def _digest(source):
    h = hashlib.sha256()
    for pos in range(0, source.size, CHUNK):
        h.update(source.read(pos, min(CHUNK, source.size - pos)))
    return h.hexdigest()


def model_digest(model_dir):
    """The digest `ablate upload DIR` would give the folder (no network)."""
    return _digest(_Folder(model_dir))


class UploadError(Exception):
    def __init__(self, rpc, error):
        self.rpc, self.error = rpc, error
        super().__init__(str(error))


def upload(stub, source_factory, metadata, timeout, max_attempts=8, progress=None):
    """Uploads one artifact; returns (pb.ArtifactInfo, bytes sent). source_factory() opens
    the bytes (again after DATA_LOSS). Raises UploadError for what retrying cannot fix."""
    source = source_factory()
    digest = _digest(source)
    backoff, sent, last = 0.25, 0, None
    for attempt in range(max(1, max_attempts)):
        if attempt:
            time.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
        ref = pb.ArtifactRef(digest=digest)
        try:
            status = stub.GetUploadStatus(ref, timeout=timeout, metadata=metadata)
            if status.complete:
                return stub.Stat(ref, timeout=timeout, metadata=metadata), sent
        except grpc.RpcError as e:
            last = UploadError("GetUploadStatus", e)
            if e.code() in _TRANSIENT:
                continue
            raise last from None
        offset = status.received_bytes if status.total_size == source.size else 0
        header = pb.UploadHeader(kind=source.kind, digest=digest, total_size=source.size,
                                 files=source.files())
        done, changed = [offset], []

        def requests():
            yield pb.UploadRequest(header=header)
            for pos in range(offset, source.size, CHUNK):
                n = min(CHUNK, source.size - pos)
                try:
                    data = source.read(pos, n)
                except _Changed as e:  # End the stream early; hash again below.
                    changed.append(e)
                    return
                yield pb.UploadRequest(chunk=pb.UploadChunk(offset=pos, data=data))
                done[0] = pos + n
                if progress:
                    progress(done[0], source.size)

        try:
            response = stub.Upload(requests(), metadata=metadata)
            error = None
        except grpc.RpcError as e:
            response, error = None, e
        sent += done[0] - offset
        if response is not None and response.complete:
            return response.artifact, sent
        if changed or (error is not None and error.code() == grpc.StatusCode.DATA_LOSS):
            last = UploadError("Upload", changed[0] if changed else error)
            source = source_factory()  # Changed files: hash them again.
            digest = _digest(source)
            continue
        if error is None:
            last = UploadError("Upload", RuntimeError("upload stream ended incomplete"))
            continue
        last = UploadError("Upload", error)
        if error.code() not in _TRANSIENT:
            raise last from None
    raise last


def folder(model_dir):
    return lambda: _Folder(model_dir)


def text_file(path):
    return lambda: _File(path)
