"""The store's hardening (issue 15): a read-only store, leftovers of
interrupted pulls, `system df/prune/check`, and the store invariants of
store/store.h that rmi, umount and run keep (the numbers cited are those)."""
import json
import os
import subprocess

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
