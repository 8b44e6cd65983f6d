"""strata mount / umount / diff at the command line (issue 15): relative
paths taken from the caller's working directory, a mount point that is
already one, what umount and diff say of a directory that is not a mount."""
import os
import subprocess

import pytest

from helpers.mounts import is_mounted, mount_entries
from helpers.store import mount_ids

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


def entries_at(path):
    return [e for e in mount_entries() if e[0] == os.path.realpath(path)]


@pytest.fixture
def tmpfs(tmp_path, mounts):
    """A directory with a tmpfs mounted on it (a mount that is not strata's)."""
    d = tmp_path / "tmpfs"
    d.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(d)], check=True)
    mounts.track(str(d))
    (d / "keep").write_text("mine")
    return d


def test_mount_over_a_mount_point_is_refused(strata, pulled_busybox, mountpoint, store_root):
    """A second union over the first would hide it silently: one line, exit
    1, nothing recorded; --stack asks for it."""
    strata("mount", pulled_busybox, mountpoint).check()
    before = mount_ids(store_root)
    r = strata("mount", pulled_busybox, mountpoint)
    assert r.rc == 1, r
    assert r.err_lines == [f"strata: mount {mountpoint}: already a mount point (fuse.strata): "
                           "unmount it first, or add --stack to mount over it"], r
    assert len(entries_at(mountpoint)) == 1
    assert mount_ids(store_root) == before
    with open(os.path.join(mountpoint, "below"), "w") as f:
        f.write("the first mount's writable layer")
    r = strata("mount", "--stack", pulled_busybox, mountpoint)
    assert r.rc == 0 and r.err == "", r
    assert len(entries_at(mountpoint)) == 2
    assert not os.path.exists(os.path.join(mountpoint, "below"))
    # umount takes the top one away, and its record: not the one below
    strata("umount", mountpoint).check()
    assert len(entries_at(mountpoint)) == 1 and mount_ids(store_root) == before
    with open(os.path.join(mountpoint, "below")) as f:
        assert f.read() == "the first mount's writable layer"
    strata("umount", mountpoint).check()
    assert not entries_at(mountpoint) and mount_ids(store_root) == []


def test_dirs_mount_over_a_tmpfs_is_refused(strata, tmp_path, tmpfs):
    make_dirs(tmp_path)
    r = strata("mount", "-o", "lowerdir=l0", "tmpfs", cwd=str(tmp_path))
    assert r.rc == 1 and r.err_lines == [
        "strata: mount tmpfs: already a mount point (tmpfs): unmount it first, or add --stack to mount over it"], r
    assert [e[1] for e in entries_at(tmpfs)] == ["tmpfs"]


def test_strata_overlayfs_stacks_like_fuse_overlayfs(strata_bin, tmp_path, tmpfs, mounts):
    """fuse-overlayfs's argv keeps fuse-overlayfs's behaviour: no refusal."""
    make_dirs(tmp_path)
    link = tmp_path / "strata-overlayfs"
    os.symlink(strata_bin, link)
    r = subprocess.run([str(link), "-o", f"lowerdir={tmp_path}/l0", str(tmpfs)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    assert [e[1] for e in entries_at(tmpfs)] == ["tmpfs", "fuse.strata"]
    subprocess.run(["umount", str(tmpfs)], check=True)


def test_umount_of_a_directory_not_mounted(strata, tmp_path):
    d = tmp_path / "plain"
    d.mkdir()
    r = strata("umount", d)
    assert r.rc == 1 and r.err_lines == [f"strata: umount {d}: not a strata mount"], r
    r = strata("umount", tmp_path / "missing")
    assert r.rc == 1 and r.err_lines == [f"strata: umount {tmp_path}/missing: No such file or directory"], r


def test_umount_leaves_other_mounts_alone(strata, tmpfs):
    """As root umount2() would take any mount away: strata's only."""
    r = strata("umount", tmpfs)
    assert r.rc == 1 and r.err_lines == [f"strata: umount {tmpfs}: not a strata mount (a tmpfs mount is there)"], r
    assert (tmpfs / "keep").read_text() == "mine"


def test_diff_of_a_plain_directory(strata, pulled_busybox, tmp_path, mounts):
    d = tmp_path / "plain"
    d.mkdir()
    r = strata("diff", d)
    assert r.rc == 1 and r.err_lines == [f"strata: diff {d}: neither a strata mount nor an image"], r
    make_dirs(tmp_path)
    mounts.track(str(tmp_path / "mnt"))
    strata("mount", "-o", f"lowerdir={tmp_path}/l0", tmp_path / "mnt").check()
    r = strata("diff", tmp_path / "mnt")
    assert r.rc == 1 and r.err_lines == [f"strata: diff {tmp_path}/mnt: a mount of directories, not of an image"], r
