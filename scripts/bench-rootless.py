#!/usr/bin/python3
"""Rootless benchmarks: strata as root, strata as a user (README "Rootless")
and Debian's podman in rootless mode, side by side in one run.

    scripts/bench-rootless.py [--quick] [--runs N] [--only rootless] [--strata PATH]

Starts a loopback Distribution registry with bench-pull.py's rootfs image
(~8,000 entries), makes a user with a subordinate range (removed at the
end), gives /dev/fuse the 0666 mode distributions ship (restored at the
end), and times with hyperfine, each run from an empty store:

    pull-cold               strata pull (root; user) and podman pull (user, rootless)
    mount+walk+umount       strata mount, find over every entry, umount (root; user);
                            podman unshare + podman image mount + find + image umount (user)
    run --rm true           strata run --rm of a busybox image's `true` (root; user: its user,
                            mount, pid, uts and ipc namespaces); podman run fails on this
                            machine (crun: cgroups in hybrid mode), so it has no row

Prints a markdown table: medians and the ratio to root's strata.  Speed is
reported, never asserted.  Needs root (it makes the user)."""
import argparse
import importlib.util
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from helpers import ImageBuilder, Registry  # noqa: E402

spec = importlib.util.spec_from_file_location("bench_pull", os.path.join(REPO, "scripts", "bench-pull.py"))
bench_pull = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_pull)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer runs")
    ap.add_argument("--runs", type=int, default=0)
    ap.add_argument("--strata", default=os.path.join(REPO, "build", "strata"))
    ap.add_argument("--only", default="", help="comma-separated names: runs only when one is rootless")
    a = ap.parse_args()
    if a.only and "rootless" not in a.only.split(","):
        return      # make bench BENCH_ARGS='--only rootfs': another script's names
    if os.geteuid() != 0:
        sys.exit("bench-rootless.py: needs root (it makes a user with a subordinate range)")
    runs = a.runs or (3 if a.quick else 5)
    os.makedirs(bench_pull.CACHE, exist_ok=True)
    work = tempfile.mkdtemp(prefix="bench-rootless-", dir="/tmp")
    os.chmod(work, 0o755)
    user = f"strb{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "-m", "-s", "/bin/sh", "-K", "SUB_UID_COUNT=65536", "-K", "SUB_GID_COUNT=65536",
                    user], check=True)
    pw = pwd.getpwnam(user)
    fuse_mode = stat.S_IMODE(os.stat("/dev/fuse").st_mode)
    os.chmod("/dev/fuse", 0o666)
    reg = Registry(os.path.join(work, "registry"))
    reg.start()
    as_user = f"setpriv --reuid {pw.pw_uid} --regid {pw.pw_gid} --init-groups env HOME={pw.pw_dir} " \
              f"XDG_RUNTIME_DIR=/tmp/run-{pw.pw_uid} "
    try:
        b = ImageBuilder(os.path.join(bench_pull.CACHE, "layouts"))
        print("building and pushing the rootfs image (cached after the first run)...", file=sys.stderr)
        b.build_image(reg, "bench/rootfs:latest", layers=bench_pull.rootfs_layers(), config={"Cmd": ["/bin/sh"]})
        ref = f"{reg.host}/bench/rootfs:latest"
        R, U = f"{work}/root", f"{work}/user"
        os.makedirs(U)
        os.chown(U, pw.pw_uid, pw.pw_gid)
        os.makedirs(f"/tmp/run-{pw.pw_uid}", mode=0o700, exist_ok=True)
        os.chown(f"/tmp/run-{pw.pw_uid}", pw.pw_uid, pw.pw_gid)
        S = a.strata
        podman = f"{as_user}podman --log-level=error"
        rows = []
        bench = "pull-cold rootfs"
        rows.append((bench, "strata, root", bench_pull.hyperfine(
            "rl pull root", f"{S} --root {R}/store pull -q {ref}", f"rm -rf {R}; mkdir -p {R}; sync", runs, work)))
        rows.append((bench, "strata, user", bench_pull.hyperfine(
            "rl pull user", f"{as_user}{S} --root {U}/store pull -q {ref}",
            f"{as_user}{S} unshare rm -rf {U}/store; sync", runs, work)))
        if shutil.which("podman"):
            rows.append((bench, "podman rootless", bench_pull.hyperfine(
                "rl pull podman", f"{podman} pull -q --tls-verify=false {ref}",
                f"{podman} rmi -a -f >/dev/null 2>&1; sync", runs, work)))
        bench = "mount+walk+umount rootfs"
        walk = "find {m} -printf x | wc -c >/dev/null"
        subprocess.run(f"{S} --root {R}/store pull -q {ref} >/dev/null; mkdir -p {R}/m", shell=True, check=True)
        subprocess.run(f"{as_user}{S} --root {U}/store pull -q {ref} >/dev/null; {as_user}mkdir -p {U}/m",
                       shell=True, check=True)
        rows.append((bench, "strata, root", bench_pull.hyperfine(
            "rl walk root", f"{S} --root {R}/store mount {ref} {R}/m && {walk.format(m=R + '/m')} && "
                            f"{S} --root {R}/store umount {R}/m", "sync", runs, work)))
        rows.append((bench, "strata, user", bench_pull.hyperfine(
            "rl walk user", f"{as_user}sh -c '{S} --root {U}/store mount {ref} {U}/m && {walk.format(m=U + '/m')} "
                            f"&& {S} --root {U}/store umount {U}/m'", "sync", runs, work)))
        if shutil.which("podman"):
            subprocess.run(f"{podman} pull -q --tls-verify=false {ref} >/dev/null", shell=True, check=True)
            rows.append((bench, "podman rootless", bench_pull.hyperfine(
                "rl walk podman", f"{podman} unshare sh -c 'm=$(podman image mount {ref}) && "
                                  f"{walk.format(m='$m')} && podman image umount {ref} >/dev/null'",
                "sync", runs, work)))
        bench = "run --rm busybox true"
        b.build_image(reg, "bench/busybox:latest", layers=[b.busybox_entries()], config={"Cmd": ["/bin/sh"]})
        bb = f"{reg.host}/bench/busybox:latest"
        subprocess.run(f"{S} --root {R}/store pull -q {bb} >/dev/null", shell=True, check=True)
        subprocess.run(f"{as_user}{S} --root {U}/store pull -q {bb} >/dev/null", shell=True, check=True)
        rows.append((bench, "strata, root", bench_pull.hyperfine(
            "rl run root", f"{S} --root {R}/store run --rm {bb} true", "sync", runs, work)))
        rows.append((bench, "strata, user", bench_pull.hyperfine(
            "rl run user", f"{as_user}{S} --root {U}/store run --rm {bb} true", "sync", runs, work)))
        print("| benchmark | contender | median s | × strata as root | min–max s |")
        print("|---|---|---:|---:|---:|")
        for bench in dict.fromkeys(r[0] for r in rows):
            base = next(m for (bb, c, (m, lo, hi)) in rows if bb == bench and c == "strata, root")
            for bb, c, (m, lo, hi) in rows:
                if bb == bench:
                    print(f"| {bench} | {c} | {m:.3f} | {m / base:.2f}× | {lo:.3f}–{hi:.3f} |")
    finally:
        reg.stop()
        subprocess.run(f"{as_user}podman system reset -f", shell=True, capture_output=True)
        subprocess.run(f"{as_user}{a.strata} unshare rm -rf {work}/user", shell=True, capture_output=True)
        os.chmod("/dev/fuse", fuse_mode)
        try:    # podman's rootless pause process, which keeps its namespace
            with open(f"/tmp/run-{pw.pw_uid}/libpod/tmp/pause.pid") as f:
                os.kill(int(f.read().strip()), 9)
        except (OSError, ValueError):
            pass
        subprocess.run(["pkill", "-KILL", "-u", str(pw.pw_uid)], capture_output=True)   # strata-pause
        subprocess.run(["userdel", "-r", "-f", user], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(f"/tmp/run-{pw.pw_uid}", ignore_errors=True)


if __name__ == "__main__":
    main()
