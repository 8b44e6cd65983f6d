"""The store's hardening (issue 15): a read-only store, leftovers of
interrupted pulls, `system df/prune/check`, and the store invariants of
store/store.h that rmi, umount and run keep (the numbers cited are those)."""
import fcntl
import json
import os
import re
import signal
import subprocess
import time

import pytest

from helpers import Dir, File, is_mounted

LAYERS = [
    [Dir("etc"), File("etc/motd", b"hello\n"), Dir("app"), File("app/a", b"a" * 5000)],
    [Dir("etc"), File("etc/new", b"new\n")],
    [Dir("app"), File("app/b", b"b" * 3000)],
]


@pytest.fixture
def image(registry, build_image):
    return build_image(registry, "test/store:1", layers=LAYERS, config={"Cmd": ["/bin/sh"]},
                       history=["ADD base", "RUN etc", "RUN app"])


def layer_dirs(root):
    d = os.path.join(root, "layers")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def blobs(root):
    d = os.path.join(root, "blobs", "sha256")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def mount_records(root):
    d = os.path.join(root, "mounts")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


# ------------------------------------------------------------ read-only store

@pytest.fixture
def ro_store(tmp_path, store_root):
    """A bind mount of the store remounted read-only; unmounted at teardown."""
    ro = tmp_path / "ro-store"
    ro.mkdir()
    def make():
        subprocess.run(["mount", "--bind", store_root, str(ro)], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], check=True)
        return str(ro)
    yield make
    while is_mounted(str(ro)):
        subprocess.run(["umount", "-l", str(ro)], check=False)


def test_read_only_store_reads(strata, image, ro_store, tmp_path, mountpoint):
    strata("pull", image.ref).check()
    ro = ro_store()
    r = strata("images", root=ro).check()
    assert image.config_digest[7:19] in r.out
    assert json.loads(strata("inspect", image.ref, root=ro).check().out)
    assert "RUN app" in strata("history", "--no-trunc", image.ref, root=ro).check().out
    assert strata("layers", image.ref, root=ro).check().out
    assert "motd" in strata("ls", "-R", image.ref, root=ro).check().out
    assert "wins: layer 2" in strata("which", image.ref, "/app/b", root=ro).check().out
    assert "/app/b" in strata("diff", image.ref, root=ro).check().out
    assert ro in strata("info", root=ro).check().out
    out = tmp_path / "flat"
    strata("unpack", image.ref, out, root=ro).check()
    assert (out / "etc/new").read_bytes() == b"new\n"
    # mount -r: served without a mount record (nowhere to write one)
    strata("mount", "-r", image.ref, mountpoint, root=ro).check()
    assert open(os.path.join(mountpoint, "app/b"), "rb").read() == b"b" * 3000
    assert mount_records(ro) == []
    strata("umount", mountpoint, root=ro).check()
    assert not is_mounted(mountpoint)


def test_read_only_store_refuses_writes_in_one_line(strata, image, ro_store, mountpoint):
    strata("pull", image.ref).check()
    ro = ro_store()
    for args in (["tag", image.ref, "x/y:2"], ["rmi", image.ref], ["pull", image.ref],
                 ["mount", image.ref, mountpoint], ["run", "--rm", image.ref, "true"],
                 ):
        r = strata(*args, root=ro)
        assert r.rc != 0, args
        assert len(r.err_lines) == 1 and f"store {ro} is read-only" in r.err, (args, r.err)
    assert not is_mounted(mountpoint)


def test_read_only_store_df_and_check(strata, image, ro_store):
    strata("pull", image.ref).check()
    ro = ro_store()
    r = strata("system", "df", root=ro).check()
    assert r.lines[1].split()[:3] == ["Images", "1", "0"]
    assert strata("system", "check", root=ro).check().out == "No problems found\n"
    r = strata("system", "prune", "-f", root=ro)
    assert r.rc == 1 and len(r.err_lines) == 1 and f"store {ro} is read-only" in r.err


# ------------------------------------------------- invariant (6): who holds a layer

@pytest.mark.fuse
def test_rmi_f_of_a_mounted_image_keeps_it_whole_and_umount_lets_it_go(strata, image, store_root, mountpoint,
                                                                        tmp_path):
    strata("pull", image.ref).check()
    strata("mount", image.ref, mountpoint).check()
    strata("rmi", "-f", image.ref).check()
    # invariant (6): the mount record holds the layers and their blobs
    assert len(layer_dirs(store_root)) == 3
    assert open(os.path.join(mountpoint, "app/b"), "rb").read() == b"b" * 3000
    # a pull meanwhile finds the layers present, and they are whole: unpack works
    strata("pull", image.ref).check()
    strata("unpack", image.ref, tmp_path / "flat").check()
    assert (tmp_path / "flat/app/b").read_bytes() == b"b" * 3000
    strata("rmi", "-f", image.ref).check()
    strata("umount", mountpoint).check()
    # the last user went: nothing is left behind
    assert layer_dirs(store_root) == [] and blobs(store_root) == []
    assert re.search(r"Layers: 0 ", strata("info").check().out)
    assert strata("system", "check").check().out == "No problems found\n"
    # and a pull fetches everything again
    r = strata("pull", image.ref).check()
    assert "Already exists" not in r.out
    strata("unpack", image.ref, tmp_path / "flat2").check()


@pytest.mark.fuse
def test_umount_of_the_last_user_of_a_removed_image_removes_its_layers(strata, image, store_root, mountpoint):
    strata("pull", image.ref).check()
    strata("mount", image.ref, mountpoint).check()
    strata("rmi", "-f", image.ref).check()
    strata("umount", mountpoint).check()
    assert layer_dirs(store_root) == [] and blobs(store_root) == []
    assert re.search(r"Images: 0 .*\n Layers: 0 ", strata("info").check().out)


@pytest.fixture
def kept_run(strata, busybox_image, store_root):
    strata("pull", busybox_image.ref).check()
    strata("run", busybox_image.ref, "sh", "-c", "echo new > /etc/added").check()
    cid = mount_records(store_root)[0]
    return busybox_image.ref, os.path.join(store_root, "mounts", cid, "rootfs")


@pytest.mark.fuse
def test_rmi_of_an_image_a_kept_run_uses_needs_force(strata, kept_run, store_root):
    ref, rootfs = kept_run
    r = strata("rmi", ref)
    assert r.rc == 1 and len(r.err_lines) == 1, r
    assert "(must force)" in r.err and rootfs in r.err
    assert strata("images", "-q").check().out.strip()      # nothing changed
    strata("rmi", "-f", ref).check()
    assert strata("images", "-q").check().out == ""
    # the kept run still has its layers: diff works
    d = strata("diff", rootfs).check()
    assert "A /etc/added" in d.lines
    strata("umount", rootfs).check()
    assert layer_dirs(store_root) == [] and blobs(store_root) == [] and mount_records(store_root) == []


def drop_image_record(store_root, image):
    """Make the state the issue found: the record and blobs gone, the layers left."""
    p = os.path.join(store_root, "images.json")
    j = json.load(open(p))
    j["images"].pop(image.config_digest)
    j["names"] = {k: v for k, v in j["names"].items() if v != image.config_digest}
    json.dump(j, open(p, "w"))
    for b in blobs(store_root):
        os.unlink(os.path.join(store_root, "blobs", "sha256", b))


def test_check_repairs_layers_nothing_uses(strata, image, store_root, tmp_path):
    strata("pull", image.ref).check()
    drop_image_record(store_root, image)
    r = strata("system", "check")
    assert r.rc == 1
    assert sum("no image and no mount uses it" in l for l in r.lines) == 3, r
    assert r.lines[-1] == "3 problems found; 'strata system check --repair' repairs them"
    r = strata("system", "check", "--repair").check()
    assert r.lines[-1] == "3 problems found, repaired"
    assert layer_dirs(store_root) == []
    assert strata("system", "check").check().out == "No problems found\n"
    r = strata("pull", image.ref).check()
    assert "Already exists" not in r.out
    strata("unpack", image.ref, tmp_path / "flat").check()


def test_check_repairs_an_image_whose_blob_is_missing(strata, image, store_root, tmp_path):
    # the state `pull` left after the sequence: a record whose layer blob is gone
    strata("pull", image.ref).check()
    os.unlink(os.path.join(store_root, "blobs", "sha256", image.layers[1].digest[7:]))
    r = strata("system", "check")
    assert r.rc == 1 and f"the blob of layer 1 ({image.layers[1].digest}) is missing" in r.out, r
    n = r.lines[-1].split()[0]                 # with what deleting the image frees: the same count
    r = strata("system", "check", "--repair").check()
    assert r.lines[-1] == f"{n} problems found, repaired"
    assert f"  repaired: deleted image {image.config_digest}" in r.lines
    assert strata("images", "-q").check().out == ""
    r = strata("pull", image.ref).check()
    assert "Already exists" not in r.out
    strata("unpack", image.ref, tmp_path / "flat").check()
    assert strata("system", "check").check().out == "No problems found\n"


# ------------------------------------------------------------ leftovers, df, prune

def fake_partial(store_root, n, age=0, content=None):
    """tmp/<hex>.partial of @n bytes, its mtime @age seconds ago -> its path."""
    hx = os.urandom(32).hex()
    p = os.path.join(store_root, "tmp", hx + ".partial")
    with open(p, "wb") as f:
        f.write(content or os.urandom(n))
    if age:
        t = time.time() - age
        os.utime(p, (t, t))
    return p


def hold(partial):
    """Take the partial's blob lock as a live pull does -> the open file (close to let go)."""
    f = open(partial[:-len(".partial")] + ".lock", "a")
    fcntl.flock(f, fcntl.LOCK_EX)
    return f


def test_stale_downloads_are_reclaimed_fresh_and_held_ones_stay(strata, image, store_root):
    strata("pull", image.ref).check()
    day = 24 * 3600
    stale = fake_partial(store_root, 4096, age=2 * day)
    fresh = fake_partial(store_root, 4096, age=60)                # the next pull resumes it
    held = fake_partial(store_root, 4096, age=2 * day)
    with hold(held):
        strata("images").check()                                  # any command reclaims
        assert not os.path.exists(stale) and not os.path.exists(stale[:-8] + ".lock")
        assert os.path.exists(fresh) and os.path.exists(held)


def test_a_fresh_partial_is_kept_for_the_next_pull_to_resume(strata, image, store_root):
    # a pull cut midway leaves a .partial that the next pull resumes (invariant (5))...
    strata("pull", image.ref).check()
    layer = image.layers[0]
    blob = open(os.path.join(store_root, "blobs", "sha256", layer.digest[7:]), "rb").read()
    strata("rmi", image.ref).check()
    part = os.path.join(store_root, "tmp", layer.digest[7:] + ".partial")
    with open(part, "wb") as f:
        f.write(blob[:len(blob) // 2])
    strata("images").check()
    assert os.path.exists(part)                                  # fresh: kept to resume
    r = strata("--debug", "pull", image.ref).check()
    assert f"blob {layer.digest}: resuming at byte {len(blob) // 2}" in r.err
    assert not os.path.exists(part)


def df_rows(strata, **kw):
    r = strata("system", "df", **kw).check()
    assert r.lines[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    return {l.split()[0]: l.split()[1:] for l in r.lines[1:]}


def test_df_and_prune(strata, image, store_root):
    strata("pull", image.ref).check()
    rows = df_rows(strata)
    assert rows["Images"][:2] == ["1", "0"] and rows["Images"][-1] == "(100%)"
    assert rows["Layers"][:2] == ["3", "3"] and rows["Layers"][3] == "0B"
    assert rows["Blobs"][:2] == ["5", "5"]
    assert rows["Mounts"] == ["0", "0", "0B", "0B"]
    assert rows["Leftovers"] == ["0", "0", "0B", "0B"]
    left = fake_partial(store_root, 2000, age=60)
    held = fake_partial(store_root, 3000, age=60)
    with hold(held):
        rows = df_rows(strata)
        assert rows["Leftovers"] == ["2", "1", "5kB", "2kB", "(40%)"]
        # nothing tagged goes without -a; the download nobody holds does
        r = strata("system", "prune", "-f").check()
        assert r.out == f"Deleted Leftovers:\ntmp/{os.path.basename(left)}\n\nTotal reclaimed space: 2kB\n"
        assert os.path.exists(held) and not os.path.exists(left)
    # the prompt: anything but y leaves everything
    r = strata("system", "prune", "-a", input="n\n").check()
    assert r.out.startswith("WARNING! This will remove:\n")
    assert "all images without at least one mount using them" in r.out
    assert r.out.endswith("Are you sure you want to continue? [y/N] ")
    assert len(layer_dirs(store_root)) == 3
    r = strata("system", "prune", "-a", input="y\n").check()
    out = r.out.split("[y/N] ", 1)[1]
    assert "Deleted Images:\n" in out
    assert f"untagged: {image.ref}\n" in out
    assert f"deleted: {image.config_digest}\n" in out
    for l in image.layers:
        assert f"deleted: {l.diff_id}\n" in out
    assert f"tmp/{os.path.basename(held)}" in out               # nobody holds it now
    assert re.search(r"\nTotal reclaimed space: \d+(\.\d+)?kB\n$", out), out
    assert layer_dirs(store_root) == [] and blobs(store_root) == []
    assert strata("system", "prune", "-f").check().out == "Total reclaimed space: 0B\n"


def test_prune_takes_dangling_images_and_finished_runs(strata, registry, build_image, busybox_image, store_root):
    old = build_image(registry, "test/dangle:1", layers=[[File("a", b"old")]])
    strata("pull", old.ref).check()
    new = build_image(registry, "test/dangle:1", layers=[[File("a", b"new")]])
    strata("pull", new.ref).check()          # the tag moves: the old image keeps only its digest name
    strata("pull", busybox_image.ref).check()
    strata("run", busybox_image.ref, "true").check()
    cid = mount_records(store_root)[0]
    r = strata("system", "prune", "-f").check()
    assert r.lines[:2] == ["Deleted Mounts:", cid]
    assert "Deleted Images:" in r.lines
    assert f"deleted: {old.config_digest}" in r.lines
    assert f"deleted: {old.layers[0].diff_id}" in r.lines
    assert f"deleted: {new.config_digest}" not in r.lines
    assert mount_records(store_root) == []
    ids = strata("images", "-q", "--no-trunc").check().lines
    assert sorted(ids) == sorted([new.config_digest, busybox_image.config_digest])


def test_prune_never_takes_a_live_pulls_download_but_takes_it_after_ctrl_c(strata, strata_popen, registry,
                                                                          build_image, make_proxy, store_root):
    from helpers import wait_until
    from helpers.images import random_bytes
    img = build_image(registry, "test/big:1", layers=[[File("big", random_bytes(12_000_000, seed=15))]])
    px = make_proxy(registry)
    px.throttle(512 << 10)                     # 24 s for the layer: the test ends it long before
    part = os.path.join(store_root, "tmp", img.layers[0].digest[7:] + ".partial")
    p = strata_popen("pull", f"{px.host}/test/big:1")
    wait_until(lambda: os.path.exists(part) and os.path.getsize(part) > 0, timeout=30, what="a download under way")
    r = strata("system", "prune", "-f").check()
    assert "Leftovers" not in r.out and os.path.exists(part)     # the pull holds it
    total, active = df_rows(strata)["Leftovers"][:2]
    assert total == active != "0"                                # the download, its extraction dir
    p.send_signal(signal.SIGINT)                                 # Ctrl-C
    p.wait(timeout=30)
    assert p.returncode != 0 and os.path.exists(part)            # kept for a resume...
    assert df_rows(strata)["Leftovers"][:2] == ["1", "0"]
    r = strata("system", "prune", "-f").check()                  # ...until pruned
    assert f"Deleted Leftovers:\ntmp/{os.path.basename(part)}\n" in r.out
    assert not os.path.exists(part)


def test_while_a_pull_adds_files_rmi_and_prune_leave_unlisted_layers(strata, image, store_root):
    # invariant (4): a pull holds tmp/gc.lock shared until its record lists
    # what it added (or found present); nothing unlisted is taken meanwhile
    strata("pull", image.ref).check()
    with open(os.path.join(store_root, "tmp", "gc.lock"), "a") as pull:
        fcntl.flock(pull, fcntl.LOCK_SH)
        r = strata("rmi", image.ref).check()
        assert f"Deleted: {image.config_digest}" in r.lines
        assert not any(l.diff_id in r.out for l in image.layers)
        assert len(layer_dirs(store_root)) == 3
        r = strata("system", "prune", "-f").check()
        assert "Deleted Images" not in r.out and len(layer_dirs(store_root)) == 3
    r = strata("system", "prune", "-f").check()
    for l in image.layers:
        assert f"deleted: {l.diff_id}" in r.lines
    assert layer_dirs(store_root) == [] and blobs(store_root) == []


@pytest.mark.fuse
def test_df_verbose_lists_images_mounts_and_leftovers(strata, registry, build_image, store_root, mountpoint):
    base = [[File("base", b"z" * 20000)]]
    a = build_image(registry, "test/va:1", layers=base + [[File("a", b"a" * 1000)]])
    b = build_image(registry, "test/vb:1", layers=base)
    strata("pull", a.ref).check()
    strata("pull", b.ref).check()
    strata("mount", a.ref, mountpoint).check()
    left = fake_partial(store_root, 1500, age=60)
    r = strata("system", "df", "-v").check()
    sections = r.out.split("\n\n")
    assert sections[0] == "Images space usage:"
    head, *rows = sections[1].splitlines()
    assert head.split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "SIZE", "SHARED", "SIZE", "UNIQUE", "SIZE", "MOUNTS"]
    rows = {x.split()[0]: x.split() for x in rows}
    ra, rb = rows[f"{registry.host}/test/va"], rows[f"{registry.host}/test/vb"]
    assert ra[1] == "1" and ra[2] == a.config_digest[7:19] and ra[-1] == "1"
    assert rb[2] == b.config_digest[7:19] and rb[-1] == "0"
    assert ra[4] == rb[4] != "0B"                   # the shared base layer, counted for both
    assert sections[2] == "Mounts space usage:"
    m = sections[3].splitlines()[1].split()
    assert m[1] == a.config_digest[7:19] and m[2] == os.path.realpath(mountpoint) and m[-1] == "live"
    assert sections[4] == "Leftovers space usage:"
    assert sections[5].splitlines()[1].split() == [f"tmp/{os.path.basename(left)}", "1.5kB", "reclaimable"]


@pytest.mark.fuse
def test_check_repairs_a_dangling_name_and_a_mount_record_missing_a_layer(strata, kept_run, store_root, image):
    ref, rootfs = kept_run
    strata("pull", image.ref).check()
    p = os.path.join(store_root, "images.json")
    j = json.load(open(p))
    j["names"]["example.com/gone:1"] = "sha256:" + "0" * 64
    json.dump(j, open(p, "w"))
    rec = json.load(open(os.path.join(os.path.dirname(rootfs), "mount.json")))
    gone = rec["layers"][0]
    strata("rmi", "-f", ref).check()
    subprocess.run(["rm", "-rf", os.path.join(store_root, "layers", gone[7:])], check=True)
    r = strata("system", "check")
    assert r.rc == 1
    assert f"name example.com/gone:1: points to no image (sha256:{'0' * 64})" in r.lines
    assert f"mount {rec['id']} ({rootfs}): layer 0 ({gone}) is missing" in r.lines
    r = strata("system", "check", "--repair").check()
    assert "  repaired: untagged example.com/gone:1" in r.lines
    assert f"  repaired: removed mount record {rec['id']}" in r.lines
    assert mount_records(store_root) == []
    assert strata("system", "check").check().out == "No problems found\n"
    assert strata("images", "-q", "--no-trunc").check().lines == [image.config_digest]
