"""Metadata-only copy-up (fs/fs-internal.h, invariant 7): chmod, chown,
utimens and xattr changes of a lower regular file copy its metadata up, not
its data; the data is copied when it changes.  Checked on the upper layer
itself (allocated blocks, the trusted.overlay.metacopy mark) and through the
mount (content, st_ino), also across a remount."""
import errno
import os
import stat
import subprocess

import pytest

from fsops import Mount

pytestmark = pytest.mark.fuse

GIB = 1 << 30
MARK = "trusted.overlay.metacopy"


def make_lower(root):
    os.makedirs(os.path.join(root, "d"))
    with open(os.path.join(root, "d", "big"), "wb") as f:
        f.write(b"head" * 1024)
        f.seek(GIB // 2)
        f.write(b"middle")
        f.truncate(GIB)
    for name in ("small", "other", "gone", "moved", "linked", "trunc", "otrunc"):
        with open(os.path.join(root, "d", name), "wb") as f:
            f.write(b"data of " + name.encode())
        os.setxattr(os.path.join(root, "d", name), "user.foo", b"bar")


@pytest.fixture(params=["default", "no_open=0"])
def fs(request, tmp_path, strata_bin):
    lower = str(tmp_path / "lower")
    make_lower(lower)
    opts = () if request.param == "default" else (request.param,)
    box = {}

    def mount():
        box["m"] = Mount("strata", str(tmp_path / "s"), [lower], strata_bin, opts=opts)
        return box["m"]

    def remount():
        assert box["m"].close() == ""
        return mount()
    mount()
    yield box, lower, remount
    assert box["m"].close() == ""


def upper_stat(m, rel):
    return os.lstat(os.path.join(m.upper, rel))


def marked(m, rel):
    try:
        os.getxattr(os.path.join(m.upper, rel), MARK, follow_symlinks=False)
        return True
    except OSError:
        return False


def no_data(m, rel):
    """The upper file holds no data (only holes; its xattrs may take a block)."""
    fd = os.open(os.path.join(m.upper, rel), os.O_RDONLY)
    try:
        os.lseek(fd, 0, os.SEEK_DATA)
        return False
    except OSError as e:
        return e.errno == errno.ENXIO
    finally:
        os.close(fd)


def pread(path, off, n):
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(n)


def test_chmod_big_file_copies_no_data(fs):
    box, lower, remount = fs
    m = box["m"]
    p = os.path.join(m.mnt, "d", "big")
    ino = os.stat(p).st_ino
    os.chmod(p, 0o600)
    us = upper_stat(m, "d/big")
    assert us.st_size == GIB
    assert us.st_blocks < 64, f"{us.st_blocks} blocks allocated: the data was copied"
    assert marked(m, "d/big") and no_data(m, "d/big")
    assert os.getxattr(os.path.join(m.upper, "d/big"), MARK) == b""
    st = os.stat(p)
    assert (stat.S_IMODE(st.st_mode), st.st_size, st.st_ino) == (0o600, GIB, ino)
    assert pread(p, 0, 8) == b"headhead"
    assert pread(p, GIB // 2, 6) == b"middle"
    assert MARK not in os.listxattr(p)

    # still metadata only after a remount
    m = remount()
    assert os.stat(p).st_ino == ino
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    assert pread(p, GIB // 2, 6) == b"middle"
    assert upper_stat(m, "d/big").st_blocks < 64

    # one byte written: now the data is copied (holes stay holes)
    with open(p, "r+b") as f:
        f.seek(1)
        f.write(b"X")
    assert pread(p, 0, 8) == b"hXadhead"
    assert pread(p, GIB // 2, 6) == b"middle"
    assert not marked(m, "d/big")
    us = upper_stat(m, "d/big")
    assert 0 < us.st_blocks < 4096
    assert (os.stat(p).st_ino, stat.S_IMODE(os.stat(p).st_mode)) == (ino, 0o600)
    assert pread(os.path.join(lower, "d", "big"), 0, 8) == b"headhead"
    m = remount()
    assert pread(p, 0, 8) == b"hXadhead" and pread(p, GIB // 2, 6) == b"middle"


@pytest.mark.parametrize("change", ["chown", "utime", "setxattr", "removexattr"])
def test_metadata_changes(fs, change):
    box, lower, remount = fs
    m = box["m"]
    p = os.path.join(m.mnt, "d", "small")
    ino = os.stat(p).st_ino
    if change == "chown":
        os.chown(p, 1000, 100)
    elif change == "utime":
        os.utime(p, ns=(1_000_000_000_123_456_789, 1_000_000_000_123_456_789))
    elif change == "setxattr":
        os.setxattr(p, "user.new", b"1")
    else:
        os.removexattr(p, "user.foo")
    assert marked(m, "d/small")
    assert no_data(m, "d/small")
    for mm in (m, remount()):
        st = os.stat(p)
        assert st.st_ino == ino
        assert open(p, "rb").read() == b"data of small"
        if change == "chown":
            assert (st.st_uid, st.st_gid) == (1000, 100)
        elif change == "utime":
            assert st.st_mtime_ns == 1_000_000_000_123_456_789
        elif change == "setxattr":
            assert os.getxattr(p, "user.new") == b"1" and os.getxattr(p, "user.foo") == b"bar"
        else:
            assert "user.foo" not in os.listxattr(p)
    # appending completes the copy: data, metadata and number kept
    with open(p, "ab") as f:
        f.write(b"+")
    assert open(p, "rb").read() == b"data of small+"
    assert not marked(mm, "d/small")
    st = os.stat(p)
    assert st.st_ino == ino
    if change == "chown":
        assert (st.st_uid, st.st_gid) == (1000, 100)
    elif change == "setxattr":
        assert os.getxattr(p, "user.new") == b"1"
    elif change == "removexattr":
        assert "user.foo" not in os.listxattr(p)


def test_data_changes_after_metacopy(fs):
    box, lower, remount = fs
    m = box["m"]
    d = os.path.join(m.mnt, "d")
    for n in ("gone", "moved", "linked", "trunc", "otrunc", "other"):
        os.chmod(os.path.join(d, n), 0o640)
        assert marked(m, "d/" + n)
    m = remount()
    os.unlink(os.path.join(d, "gone"))
    assert not os.path.exists(os.path.join(d, "gone"))
    us = upper_stat(m, "d/gone")
    assert stat.S_ISCHR(us.st_mode) and us.st_rdev == 0, "a whiteout hides the lower file"
    os.rename(os.path.join(d, "moved"), os.path.join(d, "moved2"))
    assert open(os.path.join(d, "moved2"), "rb").read() == b"data of moved"
    os.link(os.path.join(d, "linked"), os.path.join(d, "linked2"))
    assert open(os.path.join(d, "linked2"), "rb").read() == b"data of linked"
    os.truncate(os.path.join(d, "trunc"), 4)
    assert open(os.path.join(d, "trunc"), "rb").read() == b"data"
    with open(os.path.join(d, "otrunc"), "wb") as f:
        f.write(b"new")
    assert open(os.path.join(d, "otrunc"), "rb").read() == b"new"
    # copy_file_range into a metacopy file
    with open(os.path.join(d, "small"), "rb") as fi, open(os.path.join(d, "other"), "r+b") as fo:
        assert os.copy_file_range(fi.fileno(), fo.fileno(), 4, 0, 8) == 4
    assert open(os.path.join(d, "other"), "rb").read() == b"data of datar"
    for n in ("moved2", "linked", "linked2", "trunc", "otrunc", "other"):
        assert not marked(m, "d/" + n), n
        assert stat.S_IMODE(os.stat(os.path.join(d, n)).st_mode) == 0o640
    for n in ("gone", "moved", "linked", "trunc", "otrunc", "other"):
        assert open(os.path.join(lower, "d", n), "rb").read() == b"data of " + n.encode()
    m = remount()
    assert open(os.path.join(d, "otrunc"), "rb").read() == b"new"
    assert sorted(os.listdir(d)) == ["big", "linked", "linked2", "moved2", "other", "otrunc", "small", "trunc"]


def test_mmap_write_after_metacopy(fs):
    import mmap
    box, lower, remount = fs
    m = box["m"]
    p = os.path.join(m.mnt, "d", "small")
    os.chmod(p, 0o644)
    assert marked(m, "d/small")
    with open(p, "r+b") as f:
        mm = mmap.mmap(f.fileno(), 0)
        mm[0:4] = b"DATA"
        mm.flush()
        mm.close()
    assert open(p, "rb").read() == b"DATA of small"
    assert not marked(m, "d/small")


def test_kernel_reads_metacopy_upper(fs, tmp_path):
    """The kernel's overlayfs (metacopy=on) reads strata's metadata-only copies."""
    box, lower, remount = fs
    m = box["m"]
    p = os.path.join(m.mnt, "d", "small")
    os.chown(p, 1000, 100)
    os.chmod(os.path.join(m.mnt, "d", "big"), 0o600)
    assert box["m"].close() == ""
    k = str(tmp_path / "k")
    os.makedirs(k + "/mnt")
    os.makedirs(k + "/work")
    o = f"lowerdir={lower},upperdir={m.upper},workdir={k}/work,metacopy=on"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", o, k + "/mnt"], check=True)
    try:
        st = os.stat(k + "/mnt/d/small")
        assert (st.st_uid, st.st_gid) == (1000, 100)
        assert open(k + "/mnt/d/small", "rb").read() == b"data of small"
        assert stat.S_IMODE(os.stat(k + "/mnt/d/big").st_mode) == 0o600
        assert pread(k + "/mnt/d/big", GIB // 2, 6) == b"middle"
    finally:
        subprocess.run(["umount", k + "/mnt"], check=True)


def test_reader_opened_before_copy_up_sees_writes(fs):
    """A file opened for reading while its data was below reads the copy
    once another handle wrote it (its pages dropped, so the read asks)."""
    box, lower, remount = fs
    p = os.path.join(box["m"].mnt, "d", "small")
    os.chmod(p, 0o644)
    r = os.open(p, os.O_RDONLY)
    try:
        assert os.pread(r, 4, 0) == b"data"
        with open(p, "r+b") as f:
            f.write(b"DATA")
        os.posix_fadvise(r, 0, 0, os.POSIX_FADV_DONTNEED)
        assert os.pread(r, 13, 0) == b"DATA of small"
    finally:
        os.close(r)
