#!/usr/bin/python3
"""Build benchmark: strata build side by side with buildah bud, in one run.

    scripts/bench-build.py [--quick] [--runs N] [--files N] [--tar-files N] [--strata PATH]

Builds this Containerfile (issue 13) over bench/debian:bookworm, the
corpus image of ../shared/bench (make-images.sh, served by its registry.sh
on BENCH_BUILD_PORT, default 5620; what it starts it stops):

    FROM 127.0.0.1:PORT/bench/debian:bookworm
    COPY . /app/                      a context of N small files (10,000) and files.tar
    RUN mkdir /app/data && tar -xf /app/files.tar -C /app/data    (20,000 files)
    RUN chmod -R g+w /app             every file's mode changes: no data is written
    CMD ["/bin/bash"]

and times with hyperfine:

    cold     an empty build cache: `strata build --no-cache` against
             `buildah bud --layers --no-cache --isolation chroot` (overlay
             storage of its own under the work directory), each after the
             previous run's image and intermediate images were removed;
    cached   the same build again (every step from the cache): `strata build`
             against `buildah bud --layers`.

The base image is pulled into both stores before (not timed).  Contenders
alternate run by run; the context is made once (cached in
$STRATA_BENCH_DIR, default /var/tmp/strata-project-bench).  Then one more
strata build with --debug shows what the chmod -R step's writable layer
held: N metadata-only copies (metacopy), no file data.  Prints a markdown
table and the load average at start and end.  Speed is reported, never
asserted."""
import argparse
import importlib.util
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CACHE = os.environ.get("STRATA_BENCH_DIR", "/var/tmp/strata-project-bench")
SHARED = next((d for d in (os.path.join(REPO, "..", "shared", "bench"), "/work/shared/bench")
               if os.path.exists(os.path.join(d, "make-images.sh"))), None)


def bench_images():
    """scripts/bench-images.py as a module (its timing helpers)."""
    spec = importlib.util.spec_from_file_location("bench_images", os.path.join(REPO, "scripts", "bench-images.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def text(rnd, n):
    words = [b"static", b"int", b"return", b"struct", b"const", b"char", b"{", b"}", b";\n", b"if", b"(", b")"]
    out = bytearray()
    while len(out) < n:
        out += rnd.choice(words) + b" "
    return bytes(out[:n])


def make_context(d, nfiles, ntar, base):
    """@d: @nfiles small source files under src/ (100 directories), files.tar
    holding @ntar more, and the Containerfile."""
    if not os.path.exists(os.path.join(d, ".done")):
        shutil.rmtree(d, ignore_errors=True)
        rnd = random.Random(13)
        for i in range(nfiles):
            p = os.path.join(d, "src", f"d{i % 100:02d}")
            os.makedirs(p, exist_ok=True)
            with open(os.path.join(p, f"f{i:05d}.c"), "wb") as f:
                f.write(text(rnd, rnd.randrange(256, 4096)))
        with tarfile.open(os.path.join(d, "files.tar"), "w") as t:
            import io
            for i in range(ntar):
                data = text(rnd, rnd.randrange(256, 4096))
                ti = tarfile.TarInfo(f"pkg{i % 200:03d}/m{i:05d}.js")
                ti.size, ti.mode = len(data), 0o644
                t.addfile(ti, io.BytesIO(data))
        open(os.path.join(d, ".done"), "w").close()
    with open(os.path.join(d, "Containerfile"), "w") as f:
        f.write(f"FROM {base}\n"
                "COPY . /app/\n"
                "RUN mkdir /app/data && tar -xf /app/files.tar -C /app/data\n"
                "RUN chmod -R g+w /app\n"
                'CMD ["/bin/bash"]\n')
    return d


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer runs")
    ap.add_argument("--runs", type=int, default=0)
    ap.add_argument("--only", default="", help="build (other names: nothing to time here)")
    ap.add_argument("--files", type=int, default=10000, help="small files in the context")
    ap.add_argument("--tar-files", type=int, default=20000, help="files in the tarball a RUN extracts")
    ap.add_argument("--strata", default=os.path.join(REPO, "build", "strata"))
    a = ap.parse_args()
    runs = a.runs or (3 if a.quick else 5)
    if a.only and "build" not in a.only.split(","):
        print(f"bench-build.py: --only {a.only}: not build; nothing to time", file=sys.stderr)
        return
    for tool in ("hyperfine", "buildah"):
        if not shutil.which(tool):
            sys.exit(f"bench-build.py: {tool} is missing (scripts/deps.sh)")
    if not SHARED:
        sys.exit("bench-build.py: ../shared/bench (make-images.sh, registry.sh) is missing")
    bi = bench_images()
    os.makedirs(CACHE, exist_ok=True)
    load_start = bi.uptime()
    port = os.environ.get("BENCH_BUILD_PORT", "5620")
    reg = os.path.join(SHARED, "registry.sh")
    started = not subprocess.run([reg, "status", port], capture_output=True, text=True).stdout.startswith("running")
    work = tempfile.mkdtemp(prefix="bench-build-", dir=CACHE)
    runroot = tempfile.mkdtemp(prefix="bench-build-")   # containers/storage: a short path
    S = f"{work}/store"
    st = f"{a.strata} --root {S}"
    bh = (f"buildah --root {work}/buildah --runroot {runroot} --storage-driver overlay")
    base = f"127.0.0.1:{port}/bench/debian:bookworm"
    rows = []
    debug = ""
    try:
        if started:
            subprocess.run([reg, "start", port], check=True, stdout=subprocess.DEVNULL)
        print("building and pushing bench/debian:bookworm (cached after the first run)...", file=sys.stderr)
        subprocess.run([os.path.join(SHARED, "make-images.sh"), f"127.0.0.1:{port}"], check=True,
                       env=dict(os.environ, IMAGES="debian"), stdout=subprocess.DEVNULL)
        print(f"making the context ({a.files} files + a tarball of {a.tar_files})...", file=sys.stderr)
        ctx = make_context(os.path.join(CACHE, f"build-context-{a.files}-{a.tar_files}"), a.files, a.tar_files,
                           base)
        bi.sh(f"{st} pull -q {base}")
        bi.sh(f"{bh} pull -q --tls-verify=false {base}")
        bud = f"{bh} bud --isolation chroot --layers --tls-verify=false -q"
        # cold: what the previous run made goes first (the base image stays)
        s_clean = f"{st} rmi bench/built:s >/dev/null 2>&1; {st} system prune -f >/dev/null"
        b_clean = f"{bh} rmi -f bench/built:b >/dev/null 2>&1; {bh} rmi --prune >/dev/null 2>&1; true"
        rows += bi.interleaved("build cold (empty cache)", [
            ("strata build", f"{st} build -q --no-cache -t bench/built:s {ctx} >/dev/null", s_clean, None),
            ("buildah bud --layers", f"{bud} --no-cache -t bench/built:b {ctx} >/dev/null", b_clean, None),
        ], runs, work)
        # cached: the last cold run's cache stands
        rows += bi.interleaved("build again (every step cached)", [
            ("strata build", f"{st} build -q -t bench/built:s {ctx} >/dev/null", None, None),
            ("buildah bud --layers", f"{bud} -t bench/built:b {ctx} >/dev/null", None, None),
        ], runs, work)
        # what the chmod -R step's writable layer held
        out = subprocess.run(f"{a.strata} --debug --root {S} build --no-cache -t bench/built:s {ctx}", shell=True,
                             capture_output=True, text=True)
        steps = re.findall(r"build: the writable layer holds .*", out.stderr)
        debug = steps[-1] if steps else f"(no debug line: rc {out.returncode}: {out.stderr[-500:]})"
    finally:
        subprocess.run(f"{bh} rmi -a -f", shell=True, capture_output=True)
        for m in reversed(subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True,
                                         text=True).stdout.split()):
            if m.startswith(work + "/") or m.startswith(runroot + "/"):
                subprocess.run(["umount", m], capture_output=True)
        if started:
            subprocess.run([reg, "stop", port], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(runroot, ignore_errors=True)

    print(f"load at start: {load_start}")
    print(f"load at end:   {bi.uptime()}")
    print(f"{runs} runs each, contenders alternating; strata {a.strata}")
    print(f"the chmod -R step (strata --debug): {debug}")
    print()
    print("| benchmark | contender | median s | × buildah | min–max s |")
    print("|---|---|---:|---:|---:|")
    for bench in dict.fromkeys(r[0] for r in rows):
        peer = [bi.median(ts) for (b, c, ts) in rows if b == bench and c.startswith("buildah")][0]
        for b, c, ts in rows:
            if b == bench:
                print(f"| {bench} | {c} | {bi.median(ts):.3f} | {bi.median(ts) / peer:.2f}× | "
                      f"{ts[0]:.3f}–{ts[-1]:.3f} |")


if __name__ == "__main__":
    main()
