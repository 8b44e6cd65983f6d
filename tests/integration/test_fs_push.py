"""The sibling push (fs/push.c, FS invariant 10): the daemon stores small
lower files' data in the kernel's page cache ahead of the reads, and the
kernel overwrites whatever page it is told to store into, dirty or not.  A
write must never be lost to it: a page written through a mapping or the
writeback cache (neither sends a request to the daemon before writeback)
must never be overwritten by a store of the lower data."""
import mmap
import os
import threading
import time

import pytest

from fsops import Mount, resident

pytestmark = pytest.mark.fuse

PAGE = 4096
OLD = b"o" * PAGE
NEW = b"N" * PAGE


def push_settled(mnt, marker_dir):
    """Have the push thread (one, first come first served) reach @marker_dir
    and wait, up to 3 s, for it to store there: the directories queued before
    are done then.  Without a push nothing is ever stored; the wait only
    bounds how long the test looks."""
    with open(os.path.join(marker_dir, "a"), "rb") as f:
        f.read()
    deadline = time.time() + 3
    while time.time() < deadline and not resident(os.path.join(marker_dir, "b")):
        time.sleep(0.01)


@pytest.mark.parametrize("opts", [("writeback",)])
def test_writeback_page_not_overwritten(tmp_path, strata_bin, opts):
    """With the writeback cache a whole-page write(2) dirties the page with
    no request to the daemon at all; a first read of a sibling must not
    have the push store the lower data over it."""
    lower = tmp_path / "lower"
    for d in ("d", "marker"):
        os.makedirs(lower / d)
        (lower / d / "a").write_bytes(b"a" * 100)
        (lower / d / "b").write_bytes(OLD)
    m = Mount("strata", str(tmp_path / "s"), [str(lower)], strata_bin, opts=opts)
    try:
        d = os.path.join(m.mnt, "d")
        os.listdir(d)
        os.listdir(os.path.join(m.mnt, "marker"))       # the kernel knows the names
        fd = os.open(os.path.join(d, "b"), os.O_WRONLY)
        try:
            assert os.pwrite(fd, NEW, 0) == PAGE
            with open(os.path.join(d, "a"), "rb") as f:     # the first READ in d
                assert f.read() == b"a" * 100
            push_settled(m, os.path.join(m.mnt, "marker"))
            os.fsync(fd)
        finally:
            os.close(fd)
        with open(os.path.join(d, "b"), "rb") as f:
            assert f.read() == NEW
        with open(os.path.join(m.upper, "d", "b"), "rb") as f:
            assert f.read() == NEW
    finally:
        assert m.close() == ""


DIRS, FILES = 40, 24


def test_mmap_write_races_the_push(tmp_path, strata_bin):
    """The window push.c's header admitted: a first READ of a sibling, then a
    MAP_SHARED writable mapping of another file of the directory and a write
    through it, racing the thread that stores the directory's files.  Each
    directory is new to the daemon (a node is stored once); every write must
    be on disk afterwards.  With the push on a writable mount (the default
    before invariant 10) writes were lost in 6 runs of 7."""
    lower = tmp_path / "lower"
    for i in range(DIRS):
        os.makedirs(lower / f"d{i}")
        (lower / f"d{i}" / "a").write_bytes(b"a" * 100)
        for j in range(FILES):
            (lower / f"d{i}" / f"b{j}").write_bytes(OLD)
    m = Mount("strata", str(tmp_path / "s"), [str(lower)], strata_bin)
    try:
        for i in range(DIRS):
            d = os.path.join(m.mnt, f"d{i}")
            names = os.listdir(d)       # the kernel knows the names
            go = threading.Barrier(2)

            def first_read():
                go.wait()
                with open(os.path.join(d, "a"), "rb") as f:
                    f.read()

            t = threading.Thread(target=first_read)
            t.start()
            # in the order of the listing, which the push follows, so that
            # the writes chase the stores; written back only at the end
            maps = []
            fds = [os.open(os.path.join(d, x), os.O_RDWR) for x in names if x != "a"]
            go.wait()
            try:
                for fd in fds:
                    mm = mmap.mmap(fd, PAGE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
                    mm[0:PAGE] = NEW
                    maps.append(mm)
            finally:
                for mm in maps:
                    mm.flush()
                    mm.close()
                for fd in fds:
                    os.close(fd)
            t.join()
            assert len(names) == FILES + 1
        time.sleep(0.5)
        lost = []
        for i in range(DIRS):
            for j in range(FILES):
                with open(os.path.join(m.mnt, f"d{i}", f"b{j}"), "rb") as f:
                    if f.read() != NEW:
                        lost.append((i, j, "mount"))
                p = os.path.join(m.upper, f"d{i}", f"b{j}")
                if not os.path.exists(p) or open(p, "rb").read() != NEW:
                    lost.append((i, j, "upper"))
        assert lost == []
    finally:
        assert m.close() == ""


def test_writable_mount_stores_nothing(tmp_path, strata_bin):
    """On a writable mount the push is off (FS invariant
    10): a first read in a directory leaves its siblings out of the page
    cache, so they are read with READ as ever."""
    if "no_open=0" in os.environ.get("STRATA_FS_TEST_OPTS", "").split(","):
        pytest.skip("with handles each file's first OPEN stores its own data (invariant 10), "
                    "so looking at a sibling's pages stores them")
    lower = tmp_path / "lower"
    os.makedirs(lower / "d")
    (lower / "d" / "a").write_bytes(b"a" * 100)
    (lower / "d" / "b").write_bytes(OLD)
    m = Mount("strata", str(tmp_path / "s"), [str(lower)], strata_bin)
    try:
        d = os.path.join(m.mnt, "d")
        os.listdir(d)
        with open(os.path.join(d, "a"), "rb") as f:
            assert f.read() == b"a" * 100
        time.sleep(0.5)         # what a push would store is there by now
        assert not resident(os.path.join(d, "b"))
        with open(os.path.join(d, "b"), "rb") as f:
            assert f.read() == OLD
    finally:
        assert m.close() == ""
