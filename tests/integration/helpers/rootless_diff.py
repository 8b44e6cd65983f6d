"""The differential test of test_fs_diff.py as a user: run by
test_rootless.py as `strata unshare python3 rootless_diff.py STRATA WORKDIR
WHAT`, so as root of the user's store namespace (with a mount namespace of
its own).  The same layers (user.overlay.opaque, no device node, no
trusted.* xattr: a user namespace can make neither) under the kernel's
overlayfs mounted with userxattr and under strata with -o userxattr; the
same operations on both.  Lower hard links are left out: in a user
namespace the kernel's overlayfs has no index (the upper cannot decode
file handles there, it falls back to index=off), so a copy-up breaks such
a link where strata's index keeps it (test_fs_diff.py checks that as root).
Prints JSON: {"diffs": [...], "trees": [...],
"stderr": "..."}."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fsops import BASE_LAYERS, Mount, diff_snapshots, make_layers, random_ops, snapshot  # noqa: E402
import test_fs_diff  # noqa: E402


def userns_layers(layers):
    out = []
    for entries in layers:
        keep = []
        for e in entries:
            if e[0] in ("chardev", "hardlink"):
                continue
            if e[0] == "file" and len(e) > 6:
                e = e[:6] + ({k: v for k, v in e[6].items() if not k.startswith("trusted.")},)
            keep.append(e)
        out.append(keep)
    return out


def main():
    strata, work, what = sys.argv[1:4]
    ops = random_ops(int(what[5:]), 150) if what.startswith("seed:") else test_fs_diff.SCENARIOS[what]
    layers = userns_layers(BASE_LAYERS)
    k = Mount("kernel", os.path.join(work, "k"),
              make_layers(os.path.join(work, "k-layers"), layers, opaque_xattr="user.overlay.opaque"),
              kernel_opts="userxattr")
    s = Mount("strata", os.path.join(work, "s"),
              make_layers(os.path.join(work, "s-layers"), layers, opaque_xattr="user.overlay.opaque"),
              strata, opts=["userxattr"])
    diffs = []
    try:
        for op in ops:
            a, b = test_fs_diff.run_op(k.mnt, op), test_fs_diff.run_op(s.mnt, op)
            if a != b and not test_fs_diff.better(op, a, b):
                diffs.append(f"{op!r:.200}: kernel {a!r} strata {b!r}")
        trees = diff_snapshots(snapshot(k.mnt), snapshot(s.mnt))
    finally:
        k.close()
        err = s.close()
    print(json.dumps({"diffs": diffs, "trees": trees, "stderr": err}))


if __name__ == "__main__":
    main()
