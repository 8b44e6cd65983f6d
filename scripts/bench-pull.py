#!/usr/bin/python3
"""Pull benchmarks: strata side by side with its peers, in one run.

    scripts/bench-pull.py [--quick] [--runs N] [--only NAMES] [--strata PATH]

Starts a loopback Distribution registry, builds the image corpus below with
umoci (cached in $STRATA_BENCH_DIR, default /var/tmp/strata-project-bench)
and pushes it with skopeo, then times with hyperfine, each command prepared
from empty target directories:

    strata pull                          `strata --root R pull REF`
    skopeo copy + umoci unpack           what a user without strata runs for a rootfs
    skopeo copy (download only)          the lower bound: fetch + sha256, no unpack

and prints a markdown table with each median and its ratio to the best peer.
Rows: pull-cold of each image; pull-warm-dedupe (a second tag whose layers
are all in the store already).  Speed is reported, never asserted."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from helpers import Dir, File, Hardlink, ImageBuilder, Opaque, Registry, Symlink, Whiteout, random_bytes  # noqa: E402

CACHE = os.environ.get("STRATA_BENCH_DIR", "/var/tmp/strata-project-bench")


def text_blob(n, seed):
    """Compressible, source-like text of @n bytes."""
    import random
    rnd = random.Random(seed)
    words = [b"function", b"return", b"const", b"value", b"module", b"export", b"require",
             b"this", b"that", b"if", b"else", b"for", b"while", b"{", b"}", b"(", b")", b";\n"]
    out = bytearray()
    while len(out) < n:
        out += rnd.choice(words) + b" "
    return bytes(out[:n])


def rootfs_layers():
    """A rootfs-like image: ~8,000 entries, mixed sizes, links; a second
    layer that changes, deletes and makes a directory opaque; a third with
    one big incompressible file."""
    import random
    rnd = random.Random(1)
    base = [Dir("usr"), Dir("usr/lib"), Dir("usr/share"), Dir("usr/bin"), Dir("etc"), Dir("etc/apt"),
            Dir("etc/apt/conf.d")]
    for d in range(60):
        base.append(Dir(f"usr/lib/pkg{d}"))
        base.append(Dir(f"usr/share/doc{d}"))
    sofiles = []
    for i in range(7000):
        size = int(min(2 << 20, rnd.lognormvariate(8.5, 1.6)))
        d = rnd.randrange(60)
        where = f"usr/lib/pkg{d}/f{i}.so" if i % 2 else f"usr/share/doc{d}/f{i}.txt"
        base.append(File(where, text_blob(size, i)))
        if i % 2:
            sofiles.append(where)
    for i in range(300):
        base.append(Symlink(f"usr/bin/l{i}", f"../lib/pkg{i % 60}/f{(i * 2) + 1}.so"))
    # a link to a file the layer has (pkg1/f1.so never existed: every pull failed)
    base.append(Hardlink("usr/bin/hard", sofiles[0]))
    base += [File("etc/passwd", b"root:x:0:0::/root:/bin/sh\n"), File("etc/apt/conf.d/a", b"a"),
             File("etc/apt/conf.d/b", b"b")]
    second = [Dir("etc"), File("etc/passwd", b"root:x:0:0::/root:/bin/bash\n"), Dir("etc/apt"),
              Dir("etc/apt/conf.d"), Opaque("etc/apt/conf.d"), File("etc/apt/conf.d/c", b"c"),
              Dir("usr"), Dir("usr/share"), Whiteout("usr/share/doc7")]
    for i in range(300):
        second.append(File(f"etc/new{i}", text_blob(4096, 10000 + i)))
    third = [Dir("opt"), File("opt/random-64M.bin", random_bytes(64 << 20, 3))]
    return [base, second, third]


def smallfiles_layers(scale):
    layers = []
    for li, count in enumerate((25000 // scale, 20000 // scale, 15000 // scale)):
        ents = [Dir("app"), Dir("app/node_modules")]
        for p in range(100):
            ents.append(Dir(f"app/node_modules/p{li}_{p}"))
        for i in range(count):
            ents.append(File(f"app/node_modules/p{li}_{i % 100}/m{i}.js", text_blob(1024 + (i * 37) % 7168, i + li * 100000)))
        layers.append(ents)
    return layers


def big_layers():
    return [[Dir("data"), File("data/a.bin", random_bytes(256 << 20, 7))],
            [Dir("data"), File("data/b.bin", random_bytes(256 << 20, 8))]]


def hyperfine(name, cmd, prepare, runs, out):
    j = os.path.join(out, name.replace(" ", "_").replace("/", "_") + ".json")
    if shutil.which("hyperfine"):
        subprocess.run(["hyperfine", "--style", "none", "--runs", str(runs), "--prepare", prepare,
                        "--export-json", j, cmd], check=True, stdout=subprocess.DEVNULL)
        r = json.load(open(j))["results"][0]
        return r["median"], r["min"], r["max"]
    import time
    times = []
    for _ in range(runs):
        subprocess.run(prepare, shell=True, check=True)
        t = time.monotonic()
        subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL)
        times.append(time.monotonic() - t)
    times.sort()
    return times[len(times) // 2], times[0], times[-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller images, fewer runs")
    ap.add_argument("--runs", type=int, default=0)
    ap.add_argument("--only", default="", help="comma-separated image names")
    ap.add_argument("--strata", default=os.path.join(REPO, "build", "strata"))
    ap.add_argument("--build-only", action="store_true",
                    help="build and push the corpus, time nothing (scripts/fresh-check.sh)")
    a = ap.parse_args()
    runs = a.runs or (3 if a.quick else 5)
    os.makedirs(CACHE, exist_ok=True)
    work = tempfile.mkdtemp(prefix="bench-pull-", dir=CACHE)
    reg = Registry(os.path.join(work, "registry"))
    reg.start()
    try:
        b = ImageBuilder(os.path.join(CACHE, "layouts"))
        print("building and pushing the corpus (cached after the first run)...", file=sys.stderr)
        images = {}
        wanted = set(filter(None, a.only.split(",")))
        specs = [("rootfs", rootfs_layers), ("smallfiles", lambda: smallfiles_layers(4 if a.quick else 1)),
                 ("big", big_layers)]
        for name, layers in specs:
            if wanted and name not in wanted:
                continue
            images[name] = b.build_image(reg, f"bench/{name}:latest", layers=layers(),
                                         config={"Cmd": ["/bin/sh"]})
        if "rootfs" in images:
            images["rootfs-alias"] = b.build_image(reg, "bench/rootfs:alias", layers=rootfs_layers(),
                                                   config={"Cmd": ["/bin/sh"], "Env": ["ALIAS=1"]})
        if a.build_only:
            for name, img in images.items():
                print(f"built {name}", file=sys.stderr)
            return
        rows = []
        d = os.path.join(work, "t")
        S, O, B = f"{d}/store", f"{d}/oci", f"{d}/bundle"
        skopeo = "skopeo --insecure-policy copy --quiet --src-tls-verify=false"
        for name, img in images.items():
            if name == "rootfs-alias":
                continue
            ref = f"{reg.host}/bench/{name}:latest"
            clean = f"rm -rf {d}; mkdir -p {d}; sync"
            bench = f"pull-cold {name}"
            rows.append((bench, "strata pull",
                         hyperfine(bench + " strata", f"{a.strata} --root {S} pull -q {ref}", clean, runs, work)))
            rows.append((bench, "skopeo copy + umoci unpack",
                         hyperfine(bench + " umoci", f"{skopeo} docker://{ref} oci:{O}:x && umoci unpack --image {O}:x {B}",
                                   clean, runs, work)))
            rows.append((bench, "skopeo copy (download only)",
                         hyperfine(bench + " skopeo", f"{skopeo} docker://{ref} oci:{O}:x", clean, runs, work)))
        if "rootfs-alias" in images:
            ref0 = f"{reg.host}/bench/rootfs:latest"
            ref = f"{reg.host}/bench/rootfs:alias"
            bench = "pull-warm-dedupe rootfs:alias after rootfs:latest"
            first_s = f"rm -rf {d}; mkdir -p {d}; {a.strata} --root {S} pull -q {ref0} >/dev/null; sync"
            first_o = f"rm -rf {d}; mkdir -p {d}; {skopeo} docker://{ref0} oci:{O}:x && umoci unpack --image {O}:x {B}0; sync"
            first_k = f"rm -rf {d}; mkdir -p {d}; {skopeo} docker://{ref0} oci:{O}:x; sync"
            rows.append((bench, "strata pull", hyperfine(bench + " strata", f"{a.strata} --root {S} pull -q {ref}",
                                                         first_s, runs, work)))
            rows.append((bench, "skopeo copy + umoci unpack",
                         hyperfine(bench + " umoci", f"{skopeo} docker://{ref} oci:{O}:y && umoci unpack --image {O}:y {B}",
                                   first_o, runs, work)))
            rows.append((bench, "skopeo copy (download only)",
                         hyperfine(bench + " skopeo", f"{skopeo} docker://{ref} oci:{O}:y", first_k, runs, work)))
        print("| benchmark | contender | median s | × best peer | min–max s |")
        print("|---|---|---:|---:|---:|")
        for bench in dict.fromkeys(r[0] for r in rows):
            best = min(m for (bb, c, (m, lo, hi)) in rows if bb == bench and not c.startswith("strata"))
            for bb, c, (m, lo, hi) in rows:
                if bb == bench:
                    print(f"| {bench} | {c} | {m:.3f} | {m / best:.2f}× | {lo:.3f}–{hi:.3f} |")
    finally:
        reg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
