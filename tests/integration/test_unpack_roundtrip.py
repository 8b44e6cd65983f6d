"""Round trip (issue 3): the tree strata's layer directories give when the
kernel's overlayfs stacks them equals the rootfs `umoci unpack` makes of the
same image: names, types, modes, owners, sizes, contents, symlink targets,
xattrs, device numbers.  Also `strata unpack` (flattened) against the same.

Always on: a small multi-layer image with whiteouts, an opaque directory,
devices, a sparse file, hard links, capabilities.  The bench images
(../shared/bench, built by its make-images.sh into $STRATA_BENCH_CACHE,
default /var/tmp/strata-bench) run only when their layouts are there or
STRATA_TEST_BENCH=1 (then a missing cache is a failure): umoci alone takes
about 10 s for bench/debian and 40 s for bench/smallfiles, so smallfiles
and big run only with STRATA_TEST_BENCH=1."""
import hashlib
import os
import stat
import subprocess

import pytest

from helpers import (BlockDev, CharDev, Dir, Fifo, File, Hardlink, Opaque, Symlink, Whiteout,
                     random_bytes)

CAP = "\x01\x00\x00\x02\x00\x04\x00\x00" + "\x00" * 12     # cap_net_bind_service+ep, v2
BENCH = os.environ.get("STRATA_BENCH_CACHE", "/var/tmp/strata-bench")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: overlay mounts, devices, owners")


def tree(root):
    """path -> attributes compared by the round trip."""
    out = {}
    for dp, dns, fns in os.walk(root):
        for n in dns + fns:
            p = os.path.join(dp, n)
            st = os.lstat(p)
            kind = stat.S_IFMT(st.st_mode)
            a = {"type": kind, "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}
            if stat.S_ISREG(kind):
                a["size"] = st.st_size
                with open(p, "rb") as f:
                    a["sha256"] = hashlib.file_digest(f, "sha256").hexdigest()
            elif stat.S_ISLNK(kind):
                a["target"] = os.readlink(p)
                a.pop("mode")
            elif stat.S_ISCHR(kind) or stat.S_ISBLK(kind):
                a["rdev"] = (os.major(st.st_rdev), os.minor(st.st_rdev))
            try:
                names = os.listxattr(p, follow_symlinks=False)
            except OSError:
                names = []
            a["xattrs"] = {x: os.getxattr(p, x, follow_symlinks=False) for x in sorted(names)
                           if not x.startswith("trusted.overlay.")}
            out[os.path.relpath(p, root)] = a
    return out


def compare(got, want):
    diffs = []
    for k in sorted(set(got) | set(want)):
        if k not in got:
            diffs.append(f"missing in strata: {k} {want[k]}")
        elif k not in want:
            diffs.append(f"extra in strata: {k} {got[k]}")
        elif got[k] != want[k]:
            diffs.append(f"differs: {k}: strata {got[k]} umoci {want[k]}")
    return diffs


def umoci_rootfs(layout, tag, dest):
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:{tag}", dest], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return os.path.join(dest, "rootfs")


def overlay(store_root, diff_ids, mnt, mounts, tmp_path):
    lowers = [os.path.join(store_root, "layers", d.split(":", 1)[1], "diff") for d in diff_ids]
    for lo in lowers:
        assert os.path.isdir(lo), lo
    if len(lowers) == 1:                       # overlayfs wants two lowers without an upper
        empty = tmp_path / "empty-lower"
        empty.mkdir()
        lowers.insert(0, str(empty))
    os.makedirs(mnt, exist_ok=True)
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    "ro,lowerdir=" + ":".join(reversed(lowers)), mnt], check=True)
    mounts.track(mnt)
    return lowers


def sparse_layer(tmp_path):
    """A GNU tar (PAX, sparse map) with a 64 MiB file holding 2 blocks of data."""
    src = tmp_path / "sparse-src"
    (src / "var/lib").mkdir(parents=True)
    with open(src / "var/lib/sparse.img", "wb") as f:
        f.write(b"head" * 1024)
        f.seek(32 << 20)
        f.write(b"mid!" * 1024)
        f.truncate(64 << 20)
    out = subprocess.run(["tar", "--numeric-owner", "--format=pax", "--sparse", "-C", str(src),
                          "-cf", "-", "var/lib/sparse.img"], check=True, stdout=subprocess.PIPE).stdout
    return out


def small_layers(tmp_path):
    l1 = [
        Dir("etc"), File("etc/passwd", b"root:x:0:0::/root:/bin/sh\n"), File("etc/motd", b"hi\n"),
        File("etc/shadow", b"root:*:1::::::\n", mode=0o640, gid=42),
        Dir("usr"), Dir("usr/bin"), Dir("usr/lib"),
        File("usr/bin/tool", b"\x7fELF tool", mode=0o755, xattrs={"security.capability": CAP}),
        Hardlink("usr/bin/tool2", "usr/bin/tool"),
        Symlink("usr/bin/link", "tool"), Symlink("usr/bin/abs", "/etc/passwd"),
        File("usr/bin/su", b"su", mode=0o4755), File("usr/bin/wall", b"wall", mode=0o2755, gid=5),
        Dir("tmp", mode=0o1777), Dir("run"), Fifo("run/fifo"),
        Dir("dev"), CharDev("dev/null", 1, 3), BlockDev("dev/loop0", 7, 0),
        Dir("home"), Dir("home/u", mode=0o700, uid=1000, gid=1000),
        File("home/u/.profile", b"export X=1\n", uid=1000, gid=1000, mode=0o600),
        Dir("var"), Dir("var/app", xattrs={"user.label": "app"}),
        Dir("opq"), File("opq/a", b"a"), Dir("opq/sub"), File("opq/sub/c", b"c"),
        Dir("del"), File("del/x", b"x"), Dir("del/deep"), File("del/deep/y", b"y"),
        File("big.bin", random_bytes(3 << 20, seed=7)),
    ]
    l2 = [
        Whiteout("etc/motd"), Whiteout("del"),
        File("etc/passwd", b"root:x:0:0::/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n"),
        File("etc/shadow", b"root:*:1::::::\n", mode=0o600, gid=42),     # mode alone changes
        Opaque("opq"), File("opq/new", b"new"),
        File("usr/bin/tool", b"\x7fELF tool v2", mode=0o755),               # tool2 keeps v1
        Dir("usr/lib/deep"), Dir("usr/lib/deep/er"), File("usr/lib/deep/er/lib.so", b"so"),
        Symlink("usr/bin/link", "tool2"),                                   # symlink replaced
    ]
    l3 = [
        Dir("del"), File("del/again", b"again"),                            # back after its whiteout
        Whiteout("opq/new"), File("opq/newer", b"newer"),
        Whiteout("usr/bin/abs"), Dir("usr/bin/abs"), File("usr/bin/abs/f", b"f"),   # symlink -> dir
        File("big.bin", b"small now"),
        Whiteout("home/u"), Dir("home/u", mode=0o750), File("home/u/new", b"n"),   # same layer: opaque
    ]
    return [l1, l2, l3]


def test_roundtrip_small_image(registry, build_image, strata, store_root, mounts, tmp_path):
    layers = small_layers(tmp_path)
    layers.insert(1, sparse_layer(tmp_path))
    img = build_image(registry, "rt/small:1", layers=layers)
    strata("pull", img.ref).check()
    mnt = str(tmp_path / "mnt")
    lowers = overlay(store_root, img.diff_ids, mnt, mounts, tmp_path)
    want = tree(umoci_rootfs(img.layout, "img", str(tmp_path / "bundle")))
    got = tree(mnt)
    assert compare(got, want) == []
    # spot checks that the comparison is not vacuous
    assert got["opq/newer"]["sha256"] == hashlib.sha256(b"newer").hexdigest()
    assert "opq/a" not in got and "del/x" not in got and "etc/motd" not in got
    assert got["usr/bin/tool2"]["xattrs"]["security.capability"] == CAP.encode()   # v1 via its link
    assert got["usr/bin/su"]["mode"] == 0o4755 and got["dev/null"]["rdev"] == (1, 3)
    # the layer dirs: overlayfs format, no .wh. names, the sparse file sparse
    l2 = lowers[-3] if len(lowers) >= 4 else None
    for lo in lowers:
        for dp, dns, fns in os.walk(lo):
            assert not [n for n in dns + fns if n.startswith(".wh.")], dp
    st = os.stat(os.path.join(store_root, "layers", img.diff_ids[1].split(":")[1], "diff/var/lib/sparse.img"))
    assert st.st_size == 64 << 20 and st.st_blocks * 512 < (1 << 20), "sparse file was filled"
    third = os.path.join(store_root, "layers", img.diff_ids[2].split(":")[1], "diff")
    assert stat.S_ISCHR(os.lstat(os.path.join(third, "etc/motd")).st_mode)
    assert os.getxattr(os.path.join(third, "opq"), "trusted.overlay.opaque") == b"y"
    assert l2 is None or os.path.isdir(l2)


def test_strata_unpack_flat(registry, build_image, strata, strata_verbs, tmp_path):
    if "unpack" not in strata_verbs:
        pytest.skip("strata unpack is not in this build yet")
    img = build_image(registry, "rt/small:1", layers=small_layers(tmp_path))
    strata("pull", img.ref).check()
    out = tmp_path / "flat"
    strata("unpack", img.ref, str(out)).check()
    want = tree(umoci_rootfs(img.layout, "img", str(tmp_path / "bundle")))
    assert compare(tree(str(out)), want) == []


def bench_layout(name):
    p = os.path.join(BENCH, "oci", name)
    if os.path.isfile(os.path.join(p, "index.json")):
        return p
    if os.environ.get("STRATA_TEST_BENCH") == "1":
        pytest.fail(f"STRATA_TEST_BENCH=1 but no bench layout at {p} (run ../shared/bench/make-images.sh)")
    pytest.skip(f"bench layouts not built ({p}); set STRATA_BENCH_CACHE or run ../shared/bench/make-images.sh")


@pytest.mark.parametrize("name,tag", [("busybox", "latest"), ("busybox", "quirk-notrailer"),
                                      ("debian", "bookworm"), ("smallfiles", "latest"), ("big", "latest")])
def test_roundtrip_bench_image(name, tag, registry, strata, store_root, mounts, tmp_path):
    if name in ("smallfiles", "big") and os.environ.get("STRATA_TEST_BENCH") != "1":
        pytest.skip(f"bench/{name} takes up to a minute (umoci unpack alone): STRATA_TEST_BENCH=1 runs it")
    layout = bench_layout(name)
    subprocess.run(["skopeo", "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false",
                    "--preserve-digests", f"oci:{layout}:{tag}", f"docker://{registry.host}/bench/{name}:{tag}"],
                   check=True, timeout=300)
    strata("pull", f"{registry.host}/bench/{name}:{tag}", timeout=600).check()
    import json
    with open(os.path.join(layout, "index.json")) as f:
        idx = json.load(f)
    man = [m for m in idx["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag][0]

    def blob(d):
        with open(os.path.join(layout, "blobs", "sha256", d.split(":")[1])) as f:
            return json.load(f)
    cfg = blob(blob(man["digest"])["config"]["digest"])
    mnt = str(tmp_path / "mnt")
    overlay(store_root, cfg["rootfs"]["diff_ids"], mnt, mounts, tmp_path)
    want = tree(umoci_rootfs(layout, tag, str(tmp_path / "bundle")))
    diffs = compare(tree(mnt), want)
    assert diffs == [], "\n".join(diffs[:30])


def test_strata_unpack_refuses_and_leaves_nothing(registry, build_image, strata, strata_verbs, tmp_path):
    if "unpack" not in strata_verbs:
        pytest.skip("strata unpack is not in this build yet")
    img = build_image(registry, "rt/tiny:1", layers=[[Dir("etc"), File("etc/hostname", b"tiny\n")]])
    strata("pull", img.ref).check()
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep").write_text("mine")
    r = strata("unpack", img.ref, str(full))
    assert r.rc != 0 and len(r.err_lines) == 1 and "not empty" in r.err, r.err
    assert os.listdir(full) == ["keep"]
    r = strata("unpack", "no/such:image", str(tmp_path / "x"))
    assert r.rc != 0 and len(r.err_lines) == 1 and not os.path.exists(tmp_path / "x")
    empty = tmp_path / "empty"
    empty.mkdir()
    strata("unpack", img.ref, str(empty)).check()       # an empty directory is fine
    assert (empty / "etc/hostname").read_bytes() == b"tiny\n"
    assert not [n for n in os.listdir(tmp_path) if ".strata-unpack-" in n]
