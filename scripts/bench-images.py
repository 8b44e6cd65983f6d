#!/usr/bin/python3
"""Image benchmarks: strata commit, push, save and load side by side with their peers.

    scripts/bench-images.py [--quick] [--runs N] [--only commit,push,save-load] [--strata PATH]

Starts two loopback Distribution registries (a source and a push target),
builds bench-pull.py's rootfs image (cached in $STRATA_BENCH_DIR, default
/var/tmp/strata-project-bench), pulls it into a strata store and into a
throwaway podman store (--root/--runroot under the work directory, the
system's storage untouched), then times with hyperfine:

    commit     a writable layer with N new small files (default 20,000) and
               one changed 64 MiB file of the image (1 MiB overwritten in its
               middle): `strata commit DIR NAME` over `strata mount IMAGE DIR`
               against `podman commit CTR NAME` over `podman create` +
               `podman mount CTR` (podman run fails here: crun, cgroups).  The
               same files are copied into both (cp -a), then sync, untimed.
               podman keeps the layer uncompressed; strata gzips it by
               default, so `strata commit --compress none` is timed too.
    push       the image to an empty registry (its storage removed before each
               run): `strata push` against `skopeo copy oci:LAYOUT docker://`
               and, as a reference for what the loopback registry takes,
               curl PUTting the same blobs (one POST + PUT each, in parallel).
    save/load  `strata save -o F` and `strata load -i F` into a fresh store
               against `podman save -o F` and `podman load -i F` after
               `podman rmi`; and their sum.

Contenders alternate run by run (A B, then B A), each run prepared from
fresh directories, so neither the order nor the machine's load at one moment
decides a row.  Prints a markdown table (median, ratio to the best peer,
min–max) and the load average at start and end.  Speed is reported, never
asserted."""
import argparse
import importlib.util
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from helpers import ImageBuilder, Registry, random_bytes  # noqa: E402

REFERENCE = " (reference, not a peer)"
CACHE = os.environ.get("STRATA_BENCH_DIR", "/var/tmp/strata-project-bench")


def bench_pull():
    """scripts/bench-pull.py as a module (its image corpus)."""
    spec = importlib.util.spec_from_file_location("bench_pull", os.path.join(REPO, "scripts", "bench-pull.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def sh(cmd):
    subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL)


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def time_once(name, cmd, prepare, cleanup, out):
    """One run of @cmd by hyperfine, after @prepare, before @cleanup: seconds."""
    j = os.path.join(out, "hf.json")
    argv = ["hyperfine", "--style", "none", "--runs", "1", "--export-json", j]
    if prepare:
        argv += ["--prepare", prepare]
    if cleanup:
        argv += ["--cleanup", cleanup]
    r = subprocess.run(argv + [cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{name}: hyperfine failed:\n{r.stderr[-3000:]}")
    return json.load(open(j))["results"][0]["times"][0]


def interleaved(bench, contenders, runs, out):
    """@contenders: [(name, cmd, prepare, cleanup)]; rows (bench, name, times)."""
    times = {c[0]: [] for c in contenders}
    for r in range(runs):
        for name, cmd, prep, clean in (contenders if r % 2 == 0 else contenders[::-1]):
            t = time_once(f"{bench} {name}", cmd, prep, clean, out)
            print(f"  {bench} | {name} | run {r + 1}: {t:.3f} s", file=sys.stderr)
            times[name].append(t)
    return [(bench, name, sorted(times[name])) for name, *_ in contenders]


def median(ts):
    ts = sorted(ts)
    n = len(ts)
    return ts[n // 2] if n % 2 else (ts[n // 2 - 1] + ts[n // 2]) / 2


def make_change(d, nfiles):
    """The change both commits get: @nfiles small files under app/bench-change/
    (source-like text, 256 B to 4 KiB) and 1 MiB of random bytes that overwrite
    the middle of the image's opt/random-64M.bin."""
    src = os.path.join(d, "files")
    if not os.path.exists(os.path.join(d, ".done")):
        shutil.rmtree(d, ignore_errors=True)
        rnd = random.Random(11)
        words = [b"static", b"int", b"return", b"struct", b"const", b"char", b"{", b"}", b";\n", b"if", b"(", b")"]
        for i in range(nfiles):
            p = os.path.join(src, "app", "bench-change", f"d{i % 200:03d}")
            os.makedirs(p, exist_ok=True)
            n = rnd.randrange(256, 4096)
            data = bytearray()
            while len(data) < n:
                data += rnd.choice(words) + b" "
            with open(os.path.join(p, f"f{i:05d}.c"), "wb") as f:
                f.write(bytes(data[:n]))
        with open(os.path.join(d, "patch.bin"), "wb") as f:
            f.write(random_bytes(1 << 20, 12))
        open(os.path.join(d, ".done"), "w").close()
    patch = os.path.join(d, "patch.bin")

    def write_into(mnt):
        return (f"cp -a {src}/. {mnt}/ && dd if={patch} of={mnt}/opt/random-64M.bin bs=1M seek=32 "
                f"conv=notrunc status=none && sync")
    return write_into


def curl_push_script(work, layout, tag, host, repo):
    """A shell script that uploads the image's blobs (POST + one PUT each, in
    parallel, like strata's -j 5) and its manifest with curl: what the bytes
    alone cost on this loopback."""
    idx = json.load(open(os.path.join(layout, "index.json")))
    desc = next(m for m in idx["manifests"]
                if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)
    blob = lambda dg: os.path.join(layout, "blobs", *dg.split(":"))  # noqa: E731
    man = json.load(open(blob(desc["digest"])))
    base = f"http://{host}/v2/{repo}"
    lines = ["#!/bin/bash", "set -e", "up() {",
             f"  loc=$(curl -sf -X POST -o /dev/null -w '%{{redirect_url}}%header{{location}}' {base}/blobs/uploads/)",
             f"  case $loc in http*) ;; *) loc=http://{host}$loc ;; esac",
             "  case $loc in *\\?*) sep='&' ;; *) sep='?' ;; esac",
             "  curl -sf -X PUT -H 'Expect:' -H 'Content-Type: application/octet-stream' -T \"$2\" "
             "\"$loc${sep}digest=$1\" -o /dev/null", "}"]
    for d in [man["config"]] + man["layers"]:
        lines.append(f"up {d['digest']} {blob(d['digest'])} &")
    lines += ["wait",
              f"curl -sf -X PUT -H 'Content-Type: {desc['mediaType']}' --data-binary @{blob(desc['digest'])} "
              f"{base}/manifests/latest -o /dev/null"]
    path = os.path.join(work, "curl-push.sh")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o755)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer runs")
    ap.add_argument("--runs", type=int, default=0)
    ap.add_argument("--only", default="", help="comma-separated: commit, push, save-load")
    ap.add_argument("--files", type=int, default=20000, help="new small files in the committed change")
    ap.add_argument("--strata", default=os.path.join(REPO, "build", "strata"))
    a = ap.parse_args()
    runs = a.runs or (3 if a.quick else 5)
    groups = {"commit", "push", "save-load"}
    wanted = (set(filter(None, a.only.split(","))) or groups) & groups
    if not wanted:      # make bench BENCH_ARGS='--only rootfs': another script's names
        print(f"bench-images.py: --only {a.only}: none of {', '.join(sorted(groups))}; nothing to time",
              file=sys.stderr)
        return
    if not shutil.which("hyperfine"):
        sys.exit("bench-images.py: hyperfine is missing (scripts/deps.sh)")
    os.makedirs(CACHE, exist_ok=True)
    load_start = uptime()
    work = tempfile.mkdtemp(prefix="bench-images-", dir=CACHE)
    src = Registry(os.path.join(work, "registry-src"))
    dst = Registry(os.path.join(work, "registry-dst"))
    S, S2 = f"{work}/store", f"{work}/store2"
    st, st2 = f"{a.strata} --root {S}", f"{a.strata} --root {S2}"
    runroot = tempfile.mkdtemp(prefix="bench-images-")   # podman: at most 50 characters
    pm = f"podman --root {work}/podman --runroot {runroot} --storage-driver overlay"
    mnt = f"{work}/mnt"
    rows = []
    try:
        src.start()
        dst.start()
        print("building and pushing the rootfs image (cached after the first run)...", file=sys.stderr)
        img = ImageBuilder(os.path.join(CACHE, "layouts")).build_image(
            src, "bench/rootfs:latest", layers=bench_pull().rootfs_layers(), config={"Cmd": ["/bin/sh"]})
        ref = img.ref
        sh(f"{st} pull -q {ref}")
        sh(f"{pm} pull -q --tls-verify=false {ref}")

        if "commit" in wanted:
            print(f"making the change ({a.files} files + 1 MiB into the 64 MiB file)...", file=sys.stderr)
            change = make_change(os.path.join(CACHE, f"commit-change-{a.files}"), a.files)
            bench = f"commit {a.files} new files + a changed 64 MiB file"
            prep = (f"{st} umount {mnt} >/dev/null 2>&1; rm -rf {mnt}; mkdir -p {mnt} && "
                    f"{st} mount {ref} {mnt} && {change(mnt)}")
            clean = f"{st} umount {mnt} && {st} rmi bench/committed:s >/dev/null"
            strata = ("strata commit", f"{st} commit {mnt} bench/committed:s", prep, clean)
            # podman keeps a committed layer uncompressed: the same work without gzip
            plain = ("strata commit --compress none", f"{st} commit --compress none {mnt} bench/committed:s",
                     prep, clean)
            podman = ("podman commit",
                      f"{pm} commit -q bc bench/committed:p",
                      f"{pm} rm -f bc >/dev/null 2>&1; {pm} create -q --name bc {ref} >/dev/null && "
                      f"M=$({pm} mount bc) && {change('$M')}",
                      f"{pm} rm -f bc >/dev/null && {pm} rmi -f bench/committed:p >/dev/null")
            rows += interleaved(bench, [strata, podman, plain], runs, work)

        if "push" in wanted:
            bench = "push rootfs (3 layers, 64 MiB random) to an empty registry"
            target = f"{dst.host}/bench/pushed:latest"
            reset = f"rm -rf {dst.storage}/docker; rm -f {S}/locations.json; sync"
            curl = curl_push_script(work, img.layout, "img", dst.host, "bench/pushed")
            # each run must leave the manifest and all the bytes (> 64 MiB) in the registry
            check = (f"curl -sf -o /dev/null -H 'Accept: application/vnd.oci.image.manifest.v1+json' "
                     f"{dst.url}/v2/bench/pushed/manifests/latest && "
                     f"du -sk {dst.storage} | awk '{{exit !($1 > 65536)}}'")
            rows += interleaved(bench, [
                ("strata push", f"{st} push -q {ref} {target}", reset, check),
                ("skopeo copy oci: → docker://",
                 f"skopeo --insecure-policy copy --quiet --dest-tls-verify=false --preserve-digests "
                 f"oci:{img.layout}:img docker://{target}", reset, check),
                ("curl PUT of the same blobs" + REFERENCE, curl, reset, check),
            ], runs, work)

        if "save-load" in wanted:
            fs, fp, ft = f"{work}/strata.tar", f"{work}/podman.tar", f"{work}/out.tar"
            sh(f"{st} save -o {fs} {ref}")
            sh(f"{pm} save -q -o {fp} {ref}")
            save = interleaved("save (docker-archive)", [
                ("strata save", f"{st} save -o {ft} {ref}", f"rm -f {ft}; sync", None),
                ("podman save", f"{pm} save -q -o {ft} {ref}", f"rm -f {ft}; sync", None),
            ], runs, work)
            load = interleaved("load into an empty store", [
                ("strata load", f"{st2} load -q -i {fs}", f"rm -rf {S2}; sync", None),
                ("podman load", f"{pm} load -q -i {fp}", f"{pm} rmi -f {ref} >/dev/null 2>&1; sync", None),
            ], runs, work)
            rows += save + load
            for (_, name, ts_save), (_, _, ts_load) in zip(save, load):
                verb = name.split()[0]
                rows.append(("save + load (sum of the two rows)", f"{verb} save + {verb} load",
                             sorted(x + y for x, y in zip(sorted(ts_save), sorted(ts_load)))))
    finally:
        subprocess.run(f"{a.strata} --root {S} umount {mnt}", shell=True, capture_output=True)
        subprocess.run(f"{pm} rm -f bc", shell=True, capture_output=True)
        subprocess.run(f"{pm} rmi -a -f", shell=True, capture_output=True)
        # containers/storage leaves its overlay directory bind-mounted
        for m in reversed(subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True,
                                         text=True).stdout.split()):
            if m.startswith(work + "/") or m.startswith(runroot + "/"):
                subprocess.run(["umount", m], capture_output=True)
        src.stop()
        dst.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(runroot, ignore_errors=True)

    print(f"load at start: {load_start}")
    print(f"load at end:   {uptime()}")
    print(f"{runs} runs each, contenders alternating; strata {a.strata}")
    print()
    print("| benchmark | contender | median s | × best peer | min–max s |")
    print("|---|---|---:|---:|---:|")
    for bench in dict.fromkeys(r[0] for r in rows):
        peers = [median(ts) for (b, c, ts) in rows
                 if b == bench and not c.startswith("strata") and not c.endswith(REFERENCE)]
        best = min(peers)
        for b, c, ts in rows:
            if b == bench:
                print(f"| {bench} | {c} | {median(ts):.3f} | {median(ts) / best:.2f}× | {ts[0]:.3f}–{ts[-1]:.3f} |")


if __name__ == "__main__":
    main()
