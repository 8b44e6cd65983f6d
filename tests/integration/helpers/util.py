"""Small shared pieces: free ports, polling, digests, compression."""
import gzip
import hashlib
import io
import os
import shutil
import socket
import subprocess
import time


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now.

    Another process may take it before we use it; starters retry on
    EADDRINUSE (see Registry.start)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout=10.0, interval=0.02, what="condition"):
    """Poll pred() until it returns a truthy value; return it.
    Raises TimeoutError naming @what after @timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def digest_of(data):
    """'sha256:<hex>' of bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def file_digest(path, bufsize=1 << 20):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(bufsize)
            if not b:
                break
            h.update(b)
    return "sha256:" + h.hexdigest()


def gzip_bytes(data, level=6):
    """Deterministic gzip (mtime 0), as registries usually see it."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=level, mtime=0) as g:
        g.write(data)
    return out.getvalue()


def zstd_bytes(data, level=3):
    """A zstd frame of @data: compressed by the zstd CLI when installed,
    else stored (zstd_stored_frame) -- Python 3.11 has no zstd module."""
    z = shutil.which("zstd")
    if not z:
        return zstd_stored_frame(data)
    return subprocess.run([z, "-q", "-c", f"-{level}"], input=data,
                          stdout=subprocess.PIPE, check=True).stdout


def zstd_stored_frame(data):
    """A valid zstd frame (RFC 8878) made of Raw blocks: no compression, but
    every zstd decoder must accept it.  Single segment, 8-byte content size,
    no checksum."""
    import struct
    out = [b"\x28\xb5\x2f\xfd", bytes([0xE0]), struct.pack("<Q", len(data))]
    maxb = 128 * 1024
    if not data:
        out.append((1).to_bytes(3, "little"))          # last, raw, size 0
    for off in range(0, len(data), maxb):
        chunk = data[off:off + maxb]
        last = 1 if off + maxb >= len(data) else 0
        out.append((last | (0 << 1) | (len(chunk) << 3)).to_bytes(3, "little"))
        out.append(chunk)
    return b"".join(out)


def kill_process(proc, timeout=5.0):
    """SIGTERM, wait, then SIGKILL a subprocess.Popen; never raises."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.terminate()
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    except OSError:
        pass


def host_arch():
    """The host's OCI architecture name (amd64, arm64, ...)."""
    m = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386",
            "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}.get(m, m)


def write_docker_config(home, auths, extra=None):
    """Write HOME/.docker/config.json with `auths` entries, as `docker login`
    does: @auths maps 'host:port' to (user, password).  @extra: more keys.
    Returns the file's path."""
    import base64
    import json
    d = os.path.join(str(home), ".docker")
    os.makedirs(d, exist_ok=True)
    cfg = {"auths": {h: {"auth": base64.b64encode(f"{u}:{p}".encode()).decode()}
                     for h, (u, p) in auths.items()}}
    cfg.update(extra or {})
    path = os.path.join(d, "config.json")
    with open(path, "w") as f:
        json.dump(cfg, f, indent=1)
    os.chmod(path, 0o600)
    return path


def one_line_failure(r, verb, *needles):
    """A failed strata run: non-zero exit, exactly one stderr line, starting
    "strata: VERB " and naming each of @needles.  Returns the line."""
    assert r.rc != 0, str(r)
    assert len(r.err_lines) == 1, str(r)
    line = r.err_lines[0]
    assert line.startswith(f"strata: {verb} "), line
    for n in needles:
        assert n in line, line
    return line
