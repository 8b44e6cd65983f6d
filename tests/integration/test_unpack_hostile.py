"""Hostile layers pushed as real image layers and pulled (issue 3).

Every blob of tests/hostile/gen.py becomes the single layer of an image on
the session registry.  A hostile one must make `strata pull` fail with one
line that names the problem, leave the store as it was (tmp/ aside) and
change nothing outside the store (a canary tree next to it, the entries'
absolute targets).  The valid ones (no end blocks, absolute names, files
over symlinks...) must pull.  The unit test tests/unit/test-unpack-hostile.c
runs the same blobs through unpack_layer_fd() directly."""
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from helpers import snapshot, snapshot_diff

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join(HERE, "..", "hostile", "gen.py")
# One directory for the whole module: the canary the blobs aim at must be
# an absolute path known when they are generated.
WORK = tempfile.mkdtemp(prefix="strata-hostile-pull-")
CANARY = os.path.join(WORK, "canary")
BLOBS = os.path.join(WORK, "blobs")


def _generate():
    os.makedirs(os.path.join(CANARY, "dir"), exist_ok=True)
    with open(os.path.join(CANARY, "file"), "w") as f:
        f.write("canary\n")
    subprocess.run([sys.executable, GEN, BLOBS, CANARY], check=True, stdout=subprocess.DEVNULL)
    cases = []
    with open(os.path.join(BLOBS, "cases.tsv")) as f:
        for line in f:
            name, fn, media, expect, max_bytes, flags, diff_id = line.rstrip("\n").split("\t")
            cases.append((name, fn, media, expect, int(max_bytes), flags, diff_id))
    return cases


CASES = _generate()


def teardown_module(module):
    shutil.rmtree(WORK, ignore_errors=True)


def _tree(root):
    """Everything under @root: path -> (mode, size, mtime, content)."""
    out = {}
    for dp, dns, fns in os.walk(root):
        for n in dns + fns:
            p = os.path.join(dp, n)
            st = os.lstat(p)
            data = None
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as f:
                    data = f.read()
            out[os.path.relpath(p, root)] = (st.st_mode, st.st_size, st.st_mtime_ns, st.st_nlink, data)
    return out


def _passwd():
    st = os.stat("/etc/passwd")
    return (st.st_ino, st.st_nlink, st.st_size, st.st_mtime_ns)


def test_enough_kinds():
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_pull_hostile_layer(case, session_registry, push_raw, strata, strata_env, store_root, busybox_image):
    name, fn, media, expect, max_bytes, flags, diff_id = case
    with open(os.path.join(BLOBS, fn), "rb") as f:
        blob = f.read()
    if diff_id == "-":
        diff_id = "sha256:" + "0" * 64
    img = push_raw(session_registry, f"hostile/{name}:1", layers=[(blob, media, diff_id)])
    # a store with something in it, so "as it was" means something
    strata("pull", busybox_image.ref).check()
    before = snapshot(store_root)
    canary_before, passwd_before = _tree(CANARY), _passwd()
    outside_before = sorted(os.listdir(os.path.dirname(store_root)))
    env = dict(strata_env)
    if max_bytes:
        env["STRATA_MAX_LAYER_BYTES"] = str(max_bytes)

    r = strata("pull", img.ref, env=env)

    assert _tree(CANARY) == canary_before, "the canary tree changed"
    assert _passwd() == passwd_before
    assert sorted(os.listdir(os.path.dirname(store_root))) == outside_before
    for dp, dns, fns in os.walk(store_root):
        assert not [n for n in dns + fns if n.startswith(".wh.") and "/tmp" not in dp], dp
    # as root a device node is fine: the refusal is for unprivileged users
    ok_expected = expect == "OK" or ("nonroot" in flags and os.geteuid() == 0)
    if ok_expected:
        assert r.rc == 0, r.err
        return
    assert r.rc != 0
    assert len(r.err_lines) == 1, r.err
    want = "config says" if expect == "DIFF_ID_MISMATCH" else expect
    assert want in r.err, r.err
    assert snapshot_diff(before, snapshot(store_root)) == []


def test_refusal_early_in_a_big_layer(session_registry, push_raw, strata, store_root):
    """The extractor stops at the first entry while the download still has
    tens of MiB to send: the pull fails promptly, nothing hangs."""
    import io
    import tarfile
    from helpers import random_bytes
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as t:
        ti = tarfile.TarInfo("../escape")
        ti.size = 1
        t.addfile(ti, io.BytesIO(b"x"))
        data = random_bytes(48 << 20, seed=3)
        ti = tarfile.TarInfo("big.bin")
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    img = push_raw(session_registry, "hostile/early-big:1", layers=[out.getvalue()])
    r = strata("pull", img.ref, timeout=60)
    assert r.rc != 0 and len(r.err_lines) == 1 and '".." component' in r.err, r.err
    assert not os.path.exists(os.path.join(store_root, "layers", img.diff_ids[0].split(":")[1]))


def _unpack_refused(strata, ref, tmp_path, want, env=None):
    dest = tmp_path / "rootfs"
    r = strata("unpack", ref, str(dest), env=env)
    assert r.rc != 0 and len(r.err_lines) == 1 and want in r.err, r.err
    assert not dest.exists()
    assert not [n for n in os.listdir(tmp_path) if ".strata-unpack-" in n]
    return r


def test_unpack_sparse_counts_declared_size(session_registry, push_raw, strata, strata_env, tmp_path):
    """`strata unpack` holds a sparse file's declared size (not the few KiB
    it carries) to STRATA_MAX_LAYER_BYTES, as the pull does (issue 15)."""
    sys.path.insert(0, os.path.dirname(GEN))
    from gen import T
    tar = T().sparse("disk.img", 2 << 30, [(1 << 20, b"d" * 8192)]).bytes()
    assert len(tar) <= 20 << 10
    img = push_raw(session_registry, "hostile/sparse-2g:1", layers=[tar])
    strata("pull", img.ref).check()                  # 64 GiB by default: fits
    env = dict(strata_env, STRATA_MAX_LAYER_BYTES="1G")
    _unpack_refused(strata, img.ref, tmp_path, "limit of 1073741824 bytes", env=env)
    ok = tmp_path / "ok"
    strata("unpack", img.ref, str(ok)).check()
    st = os.stat(ok / "disk.img")
    assert st.st_size == 2 << 30 and st.st_blocks * 512 < (1 << 20)


@pytest.mark.parametrize("name,want", [("uid-2p32", "uid 4294967296 does not fit"),
                                       ("dev-major-huge", "device major number 4294967297 does not fit")])
def test_unpack_numbers_refused(name, want, session_registry, push_raw, strata, store_root, tmp_path):
    """`strata unpack` refuses what the pull refuses: the pull never lets such
    a layer into the store, so the stored blob of a valid layer is replaced
    by the hostile one (a store tampered with on disk)."""
    case = [c for c in CASES if c[0] == name][0]
    with open(os.path.join(BLOBS, case[1]), "rb") as f:
        hostile = f.read()
    sys.path.insert(0, os.path.dirname(GEN))
    from gen import T
    img = push_raw(session_registry, f"hostile/tamper-{name}:1", layers=[T().file("f", b"x").bytes()],
                   compression=None)
    strata("pull", img.ref).check()
    digest = img.manifest["layers"][0]["digest"]
    blob = os.path.join(store_root, "blobs", "sha256", digest.split(":")[1])
    assert os.path.isfile(blob), blob
    os.chmod(blob, 0o644)
    with open(blob, "wb") as f:
        f.write(hostile)
    _unpack_refused(strata, img.ref, tmp_path, want)
