"""strata mount / umount / diff at the command line (issue 15): relative
paths taken from the caller's working directory, a mount point that is
already one, what umount and diff say of a directory that is not a mount."""
import os
import subprocess

import pytest

from helpers.mounts import is_mounted, mount_entries

pytestmark = pytest.mark.fuse


def make_dirs(tmp_path):
    for d in ("l0", "l1", "u", "w", "mnt"):
        (tmp_path / d).mkdir()
    (tmp_path / "l0" / "top").write_text("from l0")
    (tmp_path / "l1" / "bottom").write_text("from l1")
    (tmp_path / "l1" / "top").write_text("hidden by l0")


def check_union(tmp_path):
    mnt = tmp_path / "mnt"
    assert is_mounted(str(mnt))
    assert (mnt / "top").read_text() == "from l0"
    assert (mnt / "bottom").read_text() == "from l1"
    (mnt / "new").write_text("written")
    assert (tmp_path / "u" / "new").read_text() == "written"
    # the options are recorded absolute: nothing depends on the daemon's cwd
    src = [e for e in mount_entries() if e[0] == str(mnt)]
    assert src and src[-1][1] == "fuse.strata", src


def test_relative_dirs_mount(strata, tmp_path, mounts):
    """strata mount -o lowerdir=l0:l1,upperdir=u,workdir=w mnt, run in the
    directory that holds them: the paths are the caller's, as for the
    kernel's overlayfs and fuse-overlayfs."""
    make_dirs(tmp_path)
    mounts.track(str(tmp_path / "mnt"))
    r = strata("mount", "-o", "lowerdir=l0:l1,upperdir=u,workdir=w", "mnt", cwd=str(tmp_path))
    assert r.rc == 0 and r.err == "", r
    check_union(tmp_path)
    strata("umount", "mnt", cwd=str(tmp_path)).check()
    assert not is_mounted(str(tmp_path / "mnt"))


def test_relative_dirs_strata_overlayfs(strata_bin, tmp_path, mounts):
    """The same through the strata-overlayfs link, fuse-overlayfs's argv."""
    make_dirs(tmp_path)
    link = tmp_path / "strata-overlayfs"
    os.symlink(strata_bin, link)
    mounts.track(str(tmp_path / "mnt"))
    r = subprocess.run(["./strata-overlayfs", "-o", "lowerdir=l0:l1,upperdir=u,workdir=w", "mnt"],
                       cwd=str(tmp_path), capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    check_union(tmp_path)


def test_relative_missing_layer_names_it(strata, tmp_path):
    make_dirs(tmp_path)
    r = strata("mount", "-o", "lowerdir=l0:nope", "mnt", cwd=str(tmp_path))
    assert r.rc == 1 and r.err_lines == ["strata: lowerdir nope: No such file or directory"], r
    r = strata("mount", "-o", "lowerdir=l0", "nope", cwd=str(tmp_path))
    assert r.rc == 1 and r.err_lines == ["strata: mount point nope: No such file or directory"], r
