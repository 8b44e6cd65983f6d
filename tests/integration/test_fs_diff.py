"""Differential tests of the union filesystem: the same scripted operations
on a strata mount and on a kernel overlayfs mount over copies of the same
layer directories.  Every operation's result (or errno) must match, and so
must the whole visible tree at the end; strata's daemon must print nothing.

Where strata answers differently on purpose, the case says why."""
import os
import subprocess

import pytest

from fsops import (BASE_LAYERS, NAMES, Mount, build_deep, copy_layers, deep_parts, diff_snapshots,
                   make_layers, run_deep,
                   random_ops, run_op, snapshot)

pytestmark = pytest.mark.fuse


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    base = tmp_path_factory.mktemp("layers")
    return {"overlay": make_layers(str(base / "ovl")), "oci": make_layers(str(base / "oci"), oci=True)}


# Where strata's answer is better than the kernel's (the kernel's overlayfs
# as mounted here: redirect_dir=off, index=on, metacopy=off):
def better(op, kernel, strata):
    name = op[0]
    # renaming a directory with lower parts works: overlayfs without
    # redirect_dir answers EXDEV (mv falls back to copy and delete, so the
    # trees still agree; the "mv lower dirs" scenario checks that)
    if name == "rename" and kernel == "E:EXDEV" and strata is True:
        return True
    # copy-up keeps holes: overlayfs here allocates the whole 8 MiB file
    if name == "blocks" and (kernel, strata) == (False, True):
        return True
    return False


class Pair:
    """A kernel overlay mount and a strata mount over copies of the layers."""

    def __init__(self, tmp, template, strata_bin, strata_form="overlay", opts=()):
        self.tmp, self.strata_bin, self.opts = tmp, strata_bin, opts
        # "build": layers too deep for cp -a, built afresh for each mount
        copy = template.get("build") or (lambda dst: copy_layers(template[strata_form], dst))
        self.klowers = (template.get("build") or (lambda dst: copy_layers(template["overlay"], dst)))(
            os.path.join(tmp, "k-layers"))
        self.slowers = copy(os.path.join(tmp, "s-layers"))
        self.k = Mount("kernel", os.path.join(tmp, "k"), self.klowers)
        self.s = Mount("strata", os.path.join(tmp, "s"), self.slowers, strata_bin, opts=opts)
        self.log = []

    def op(self, op):
        a = run_op(self.k.mnt, op)
        b = run_op(self.s.mnt, op)
        self.log.append((op, a, b))
        return a, b

    def run(self, ops):
        diffs = []
        for op in ops:
            a, b = self.op(op)
            if a != b and not better(op, a, b):
                diffs.append(f"{op!r:.200}: kernel {a!r} strata {b!r}")
        return diffs

    def trees(self):
        return diff_snapshots(snapshot(self.k.mnt), snapshot(self.s.mnt))

    def remount_strata(self):
        err = self.s.close()
        assert err == "", f"strata daemon stderr:\n{err}"
        self.s = Mount("strata", self.s.ws, self.slowers, self.strata_bin, opts=self.opts)

    def close(self):
        self.k.close()
        return self.s.close()


@pytest.fixture
def pair(tmp_path, template, strata_bin):
    pairs = []

    def make(template=template, **kw):
        p = Pair(str(tmp_path), template, strata_bin, **kw)
        pairs.append(p)
        return p
    yield make
    for p in pairs:
        err = p.close()
        assert err == "", f"strata daemon stderr:\n{err}"


def check(p, ops, remount=False):
    diffs = p.run(ops)
    assert not diffs, "operations differ:\n" + "\n".join(diffs)
    t = p.trees()
    assert not t, "trees differ:\n" + "\n".join(t)
    if remount:
        p.remount_strata()
        t = p.trees()
        assert not t, "trees differ after remounting strata:\n" + "\n".join(t)


DIRS = {"usr/share/doc/a", "newdir", "merged", "merged/sub", "merged/emptydir", "opaque-target",
        "file-to-dir", "lowerdir", "lowerdir/d", "empty-lower"}

# One operation over every name of the tree (40 names each).
PER_NAME = {
    "stat": lambda n: [("stat", n)],
    "read": lambda n: [("read", n)],
    "listdir": lambda n: [("listdir", n), ("dtypes", n)],
    "readlink": lambda n: [("readlink", n)],
    "write": lambda n: [("write", n, b"new data " + n.encode()), ("stat", n), ("read", n)],
    "append": lambda n: [("append", n, b"+"), ("stat", n), ("read", n)],
    "pwrite": lambda n: [("pwrite", n, 3, b"PW"), ("read", n)],
    "truncate": lambda n: [("truncate", n, 3), ("read", n), ("truncate", n, 9000), ("read", n)],
    "chmod": lambda n: [("chmod", n, 0o700), ("stat", n), ("read", n)],
    "chown": lambda n: [("chown", n, 1000, 100), ("stat", n)],
    "utime": lambda n: [("utime", n, 1_000_000_000_123_456_789)],
    "setxattr": lambda n: [("setxattr", n, "user.x", b"1"), ("getxattr", n, "user.x"), ("listxattr", n)],
    "trusted-xattr": lambda n: [("setxattr", n, "trusted.y", b"2"), ("listxattr", n)],
    "removexattr": lambda n: [("removexattr", n, "user.foo"), ("listxattr", n)],
    "unlink": lambda n: [("unlink", n), ("stat", n), ("listdir", os.path.dirname(n) or ".")],
    "rmdir": lambda n: [("rmdir", n), ("stat", n)],
    # mv: directories with lower parts rename in strata, the kernel's EXDEV makes mv copy
    "rename-new": lambda n: [("mv", n, "renamed"), ("stat", "renamed"), ("stat", n)],
    "rename-back": lambda n: [("mv", n, "tmpname"), ("mv", "tmpname", n), ("stat", n)],
    "rename-file": lambda n: [("rename", n, "f-renamed") if n not in DIRS else ("stat", n), ("stat", n)],
    "link": lambda n: [("link", n, "linked"), ("stat", "linked"), ("stat", n)],
    "excl": lambda n: [("excl", n), ("stat", n)],
    "mkdir": lambda n: [("mkdir", n, 0o750), ("stat", n), ("listdir", n)],
    "symlink": lambda n: [("symlink", "somewhere", n), ("readlink", n)],
    "unlink-recreate": lambda n: [("unlink", n), ("write", n, b"again"), ("read", n), ("stat", n)],
    "rmdir-mkdir": lambda n: [("rmdir", n), ("mkdir", n), ("listdir", n)],
    "ino-chmod": lambda n: [("ino_stable", n, ("chmod", n, 0o711))],
    "ino-append": lambda n: [("ino_stable", n, ("append", n, b"x"))],
    "ino-rename": lambda n: [("ino_stable", n, ("rename", n, n))],
}


@pytest.mark.parametrize("kind", sorted(PER_NAME))
def test_every_name(pair, kind):
    p = pair()
    ops = []
    for n in NAMES:
        ops += PER_NAME[kind](n)
    check(p, ops)


SCENARIOS = {
    "copy-up keeps mode owner xattrs": [
        ("append", "etc/shadow", b"x"), ("stat", "etc/shadow"), ("listxattr", "xattr-file"),
        ("append", "xattr-file", b"y"), ("listxattr", "xattr-file"), ("getxattr", "xattr-file", "user.foo"),
        ("getxattr", "xattr-file", "trusted.t"), ("chmod", "owned", 0o640), ("stat", "owned")],
    "whiteout then recreate": [
        ("unlink", "etc/issue"), ("stat", "etc/issue"), ("listdir", "etc"), ("write", "etc/issue", b"new"),
        ("read", "etc/issue"), ("listdir", "etc"), ("unlink", "etc/issue"), ("listdir", "etc")],
    "rmdir lower then mkdir is opaque": [
        ("unlink", "lowerdir/d/g"), ("rmdir", "lowerdir/d"), ("listdir", "lowerdir"), ("mkdir", "lowerdir/d"),
        ("listdir", "lowerdir/d"), ("stat", "lowerdir/d"), ("write", "lowerdir/d/new", b"n"),
        ("listdir", "lowerdir/d")],
    "rmdir not empty": [("rmdir", "merged"), ("rmdir", "merged/sub"), ("rmdir", "merged/emptydir"),
                        ("listdir", "merged"), ("rmdir", "empty-lower"), ("rmdir", "etc/passwd")],
    "opaque dir": [("listdir", "opaque-target"), ("stat", "opaque-target/old1"), ("stat", "opaque-target/sub"),
                   ("write", "opaque-target/old1", b"o"), ("listdir", "opaque-target")],
    "whiteout dir": [("listdir", "usr/share/doc"), ("stat", "usr/share/doc/a"), ("mkdir", "usr/share/doc/a"),
                     ("listdir", "usr/share/doc/a"), ("stat", "usr/share/doc/a/README")],
    "type changes between layers": [("stat", "dir-to-file"), ("read", "dir-to-file"), ("stat", "dir-to-file/inner"),
                                    ("listdir", "file-to-dir"), ("read", "file-to-dir/child")],
    "merged dir": [("listdir", "merged"), ("stat", "merged/gone-in-l1"), ("listdir", "merged/sub"),
                   ("stat", "merged"), ("stat", "merged/sub"), ("write", "merged/sub/new", b"n"),
                   ("listdir", "merged/sub"), ("stat", "merged/sub")],
    "rename files": [
        ("rename", "etc/group", "etc/group2"), ("read", "etc/group2"), ("stat", "etc/group"),
        ("rename", "etc/issue", "etc/passwd"), ("read", "etc/passwd"), ("listdir", "etc"),
        ("write", "u1", b"u1"), ("write", "u2", b"u2"), ("rename", "u1", "u2"), ("read", "u2"),
        ("rename", "top-only", "etc/motd"), ("read", "etc/motd"), ("listdir", "etc"),
        ("rename", "usr/bin/tool", "merged/tool"), ("listdir", "usr/bin"), ("listdir", "merged")],
    "rename across dirs and back": [
        ("rename", "merged/from-l3", "lowerdir/x"), ("rename", "lowerdir/x", "merged/from-l3"),
        ("read", "merged/from-l3"), ("listdir", "lowerdir"), ("listdir", "merged")],
    "rename upper dirs": [
        ("mkdir", "nd"), ("write", "nd/f", b"f"), ("mkdir", "nd/sub"), ("rename", "nd", "nd2"),
        ("listdir", "nd2"), ("rename", "nd2", "empty-lower"), ("listdir", "empty-lower"),
        ("stat", "empty-lower"), ("mkdir", "nd3"), ("rename", "nd3", "usr/share/doc/a"),
        ("listdir", "usr/share/doc/a"), ("listdir", "usr/share/doc")],
    "rename dir over non-empty": [("mkdir", "nd"), ("rename", "nd", "merged"), ("rename", "nd", "lowerdir"),
                                  ("rename", "nd", "etc/passwd"), ("rename", "etc/passwd", "nd")],
    "mv lower dirs": [
        ("mv", "lowerdir", "lowerdir2"), ("mv", "merged", "m2"), ("mv", "newdir", "newdir2"),
        ("listdir", "newdir2"), ("listdir", "m2"), ("listdir", "m2/sub"), ("stat", "merged"),
        ("mkdir", "merged"), ("listdir", "merged"), ("mv", "m2/sub", "lowerdir2/d/sub"),
        ("listdir", "lowerdir2/d"), ("mv", "usr/share", "share"), ("listdir", "share/doc"),
        ("mv", "opaque-target", "m2/ot"), ("listdir", "m2/ot"), ("mv", "lowerdir2", "empty-lower")],
    "rename noreplace and exchange": [
        ("rename_noreplace", "etc/group", "etc/passwd"), ("rename_noreplace", "etc/group", "g3"),
        ("write", "x1", b"1"), ("write", "x2", b"2"), ("rename_exchange", "x1", "x2"), ("read", "x1"),
        ("rename_exchange", "etc/passwd", "etc/issue"), ("read", "etc/passwd"), ("read", "etc/issue")],
    # lower hard links stay one file after copy-up (the kernel with index=on)
    "lower hard links": [("stat", "hl1"), ("stat", "hl2"), ("hardlink_see", "hl1", "hl2", b"more"),
                         ("stat", "hl1"), ("stat", "hl2")],
    "lower hard link: open name sees the other's write": [
        ("hardlink_open_see", "hl2", "hl1", b"+appended"), ("read", "hl2"), ("stat", "hl2")],
    "lower hard link: unlink, link, rename": [
        ("append", "hl1", b"x"), ("read", "hl2"), ("unlink", "hl2"), ("stat", "hl1"), ("link", "hl1", "hl3"),
        ("stat", "hl3"), ("read", "hl3"), ("rename", "hl3", "etc/hl3"), ("append", "etc/hl3", b"y"),
        ("read", "hl1"), ("stat", "hl1"), ("unlink", "hl1"), ("stat", "etc/hl3")],
    "lower hard link: metadata": [
        ("chmod", "hl2", 0o600), ("stat", "hl1"), ("chown", "hl1", 1000, 1000), ("stat", "hl2"),
        ("setxattr", "hl1", "user.q", b"1"), ("listxattr", "hl2"), ("utime", "hl2", 1_000_000_000_000_000_000),
        ("stat", "hl1"), ("read", "hl1")],
    "lower hard link: unlink before copy-up": [
        ("unlink", "hl2"), ("stat", "hl1"), ("append", "hl1", b"x"), ("stat", "hl1"), ("link", "hl1", "hl2"),
        ("stat", "hl2"), ("read", "hl2")],
    "lower hard link: truncate and rename over": [
        ("truncate", "hl2", 3), ("read", "hl1"), ("stat", "hl1"), ("write", "n", b"n"), ("rename", "n", "hl1"),
        ("stat", "hl2"), ("read", "hl1"), ("rename", "hl2", "hl1"), ("stat", "hl1")],
    "new hard links": [("write", "h1", b"h"), ("link", "h1", "h2"), ("hardlink_see", "h1", "h2", b"x"),
                       ("hardlink_open_see", "h2", "h1", b"o"),
                       ("unlink", "h1"), ("stat", "h2"), ("link", "etc/group", "g-link"), ("stat", "g-link"),
                       ("link", "g-link", "etc/motd"), ("stat", "etc/motd"), ("link", "merged", "ml")],
    "symlinks": [("readlink", "docs"), ("follow", "docs"), ("listdir", "docs"), ("readlink", "usr/lib/libx.so"),
                 ("follow", "usr/lib/libx.so"), ("symlink", "/etc/passwd", "abs"), ("readlink", "abs"),
                 ("chown", "docs", 1000, 1000), ("stat", "docs"), ("setxattr", "docs", "trusted.s", b"1"),
                 ("rename", "docs", "docs2"), ("readlink", "docs2")],
    "sparse copy-up": [("chmod", "sparse", 0o600), ("blocks", "sparse"), ("read", "sparse"),
                       ("append", "sparse", b"end"), ("blocks", "sparse"), ("read", "sparse")],
    "own xattrs hidden": [
        ("listxattr", "opaque-target"), ("getxattr", "opaque-target", "trusted.overlay.opaque"),
        ("setxattr", "top-only", "trusted.overlay.x", b"1"), ("removexattr", "opaque-target", "trusted.overlay.opaque"),
        ("listxattr", "."), ("mkdir", "usr/share/doc/a"), ("listxattr", "usr/share/doc/a")],
    "special files": [("mknod_whiteout", "wh"), ("mkfifo", "ff"), ("stat", "ff"), ("stat", "fifo"),
                      ("stat", "null"), ("mknod_null", "null2"), ("stat", "null2"), ("chmod", "fifo", 0o600)],
    "append mmap unlinked": [
        ("append", "etc/passwd", b"extra\n"), ("read", "etc/passwd"), ("mmap_write", "etc/group", b"ROOT"),
        ("read", "etc/group"), ("open_unlink_write", "fresh", b"data"), ("open_unlink_write", "etc/issue", b"d"),
        ("stat", "etc/issue"), ("listdir", "etc")],
    "locks fsync statfs seekdir": [("locks", "etc/passwd"), ("locks", "top-only"), ("fsync", "etc/passwd"),
                                   ("append", "top-only", b"x"), ("fsync", "top-only"), ("statfs",),
                                   ("seekdir", "merged"), ("seekdir", "etc"), ("seekdir", "usr/share/doc")],
    "truncate lower": [("truncate", "var/lib/data/db", 0), ("read", "var/lib/data/db"),
                       ("truncate", "var/lib/data/db", 100000), ("stat", "var/lib/data/db")],
    "excl": [("excl", "etc/passwd"), ("excl", "etc/motd"), ("read", "etc/motd"), ("excl", "usr/share/doc/a")],
    "setuid": [("stat", "usr/bin/suid"), ("append", "usr/bin/suid", b"x"), ("stat", "usr/bin/suid"),
               ("chown", "usr/bin/suid", 1000, 1000), ("stat", "usr/bin/suid")],
    "deep copy-up": [("write", "merged/sub/l2", b"deep"), ("listdir", "merged/sub"), ("stat", "merged"),
                     ("stat", "merged/sub"), ("write", "lowerdir/d/g", b"g2"), ("listdir", "lowerdir/d"),
                     ("ino_stable", "lowerdir/d", ("write", "lowerdir/d/h", b"h")),
                     ("ino_stable", "usr", ("write", "usr/x", b"x"))],
    "whiteout-only dir removal": [
        ("unlink", "merged/sub/l2"), ("unlink", "merged/sub/l3"), ("listdir", "merged/sub"), ("rmdir", "merged/sub"),
        ("listdir", "merged"), ("mkdir", "merged/sub"), ("listdir", "merged/sub"), ("rmdir", "merged/sub"),
        ("stat", "merged/sub")],
    "remove a whole merged tree": [
        ("unlink", "merged/from-l1"), ("unlink", "merged/from-l2"), ("unlink", "merged/from-l3"),
        ("unlink", "merged/sub/l2"), ("unlink", "merged/sub/l3"), ("rmdir", "merged/sub"),
        ("rmdir", "merged/emptydir"), ("rmdir", "merged"), ("stat", "merged"), ("mkdir", "merged"),
        ("listdir", "merged")],
    "setgid dir": [("mkdir", "sg"), ("chown", "sg", 0, 100), ("chmod", "sg", 0o2775), ("write", "sg/f", b"f"),
                   ("stat", "sg/f"), ("mkdir", "sg/d"), ("stat", "sg/d"), ("chown", "lowerdir", 0, 100),
                   ("chmod", "lowerdir", 0o2755), ("mkdir", "lowerdir/sd"), ("stat", "lowerdir/sd"),
                   ("symlink", "t", "sg/l"), ("stat", "sg/l"), ("mkfifo", "sg/p"), ("stat", "sg/p")],
    "access": [("access", "etc/shadow", os.R_OK), ("access", "usr/bin/tool", os.X_OK),
               ("access", "etc/passwd", os.W_OK), ("access", "nothing", os.F_OK)],
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario(pair, name):
    check(pair(), SCENARIOS[name], remount=True)


def test_caller_umask(pair):
    """Only the caller's umask narrows a new entry's mode (the kernel applied
    it before the request came), not the daemon's too: mounted with umask
    022, a process with umask 0 makes 0620, 0777, 0666 and 0666, as on the
    kernel's overlayfs."""
    old = os.umask(0o022)
    try:
        p = pair()
    finally:
        os.umask(old)
    check(p, [("umask0_create", "top"), ("umask0_create", "merged/m"), ("umask0_create", "lowerdir/d/l"),
              ("umask0_create", "etc/motd")])


DEPTH = 20     # 20 names of 250 characters: 5,020 bytes below the root, past PATH_MAX
DEEP_TOP = [("file", "a", b"top a"), ("whiteout", "gone")]
DEEP_BOTTOM = [("file", "a", b"low a"), ("file", "b", b"low b"), ("file", "gone", b"x"),
               ("file", "hl1", b"hl"), ("hardlink", "hl2", "hl1"), ("symlink", "sl", "b"),
               ("file", "xf", b"x", 0o644, 0, 0, {"user.k": b"v"})]


def build_deep_layers(base):
    layers = [os.path.join(base, "L0"), os.path.join(base, "L1")]
    build_deep(layers[0], DEPTH, DEEP_TOP)
    build_deep(layers[1], DEPTH, DEEP_BOTTOM)
    return layers


@pytest.fixture
def deep_template():
    return {"build": build_deep_layers}


@pytest.mark.parametrize("level", [17, DEPTH])
def test_deep(pair, deep_template, level):
    """Past PATH_MAX below the root (bug: ENAMETOOLONG once an entry's path
    below the layer root was longer than PATH_MAX): lookups, listings,
    copy-up, metacopy, whiteouts, the index of hard links, renames and
    pjdfstest's walk of relative mkdirs work at any depth, as on the
    kernel's overlayfs, also after a remount."""
    p = pair(template=deep_template)
    parts = deep_parts(DEPTH)[:level]
    ops = [("read", "a"), ("read", "b"), ("stat", "gone"), ("listdir", "."), ("readlink", "sl"),
           ("getxattr", "xf", "user.k"), ("append", "b", b"+"), ("read", "b"), ("chmod", "xf", 0o600),
           ("setxattr", "xf", "user.n", b"1"), ("listxattr", "xf"), ("unlink", "a"), ("stat", "a"),
           ("append", "hl2", b"more"), ("read", "hl1"), ("stat", "hl1"), ("link", "hl1", "hl3"),
           ("unlink", "hl2"), ("stat", "hl3"), ("rename", "b", "b2"), ("mkdir", "newd"),
           ("rename", "newd", "newd2"), ("symlink", "x", "sl2"), ("write", "newf", b"new"),
           ("deep_mkdir", "newd2", 20), ("listdir", "."), ("dtypes", ".")]
    if level < DEPTH:   # a merged directory with lower parts below it
        ops += [("mv", deep_parts(DEPTH)[level], "moved"), ("listdir", "."), ("read", "moved/" + DEEP_TOP[0][1])]
    diffs = []
    for op in ops:
        a, b = run_deep(p.k.mnt, parts, op), run_deep(p.s.mnt, parts, op)
        if a != b:
            diffs.append(f"{op!r:.200}: kernel {a!r} strata {b!r}")
    assert not diffs, "operations differ at depth:\n" + "\n".join(diffs)
    t = p.trees()
    assert not t, "trees differ:\n" + "\n".join(t)
    p.remount_strata()
    t = p.trees()
    assert not t, "trees differ after remounting strata:\n" + "\n".join(t)


@pytest.mark.parametrize("how", ["user_append", "user_truncate", "user_open_trunc"])
def test_setid_cleared(pair, how):
    """A write or truncate by a user without CAP_FSETID clears the set-id
    bits as the kernel does (strata clears them itself: HANDLE_KILLPRIV);
    root's keep them; set-group-ID without group execute goes only for a
    writer outside the file's group."""
    p = pair()
    arg = {"user_append": b"u", "user_truncate": 2, "user_open_trunc": None}[how]
    user = (how, "f") if arg is None else (how, "f", arg)
    ops = []
    for mode in (0o6777, 0o4666, 0o2666, 0o2676):
        for f in ("new-a", "usr/bin/suid"):
            u = tuple(f if x == "f" else x for x in user)
            ops += [("write", f, b"data") if f == "new-a" else ("stat", f), ("chmod", f, mode), ("append", f, b"r"),
                    ("stat", f), u, ("stat", f), ("read", f)]
    ops += [("chown", "owned", 1000, 1000), ("chmod", "owned", 0o2676), ("user_append", "owned", b"g"),
            ("stat", "owned")]
    check(p, ops)


def test_rename_lower_dir(pair):
    """rename(2) of directories with lower parts succeeds (the kernel's
    EXDEV is the difference accepted above); the result is what mv's copy
    gives on the kernel, also after a remount and under the kernel itself."""
    p = pair()
    for a, b in [("lowerdir", "ld2"), ("merged", "ld2/m"), ("usr/share/doc", "docs2"), ("opaque-target", "o2")]:
        ka = run_op(p.k.mnt, ("mv", a, b))
        sa = run_op(p.s.mnt, ("rename", a, b))
        assert (ka, sa) == (0, True), (a, b, ka, sa)
    t = p.trees()
    assert not t, "trees differ:\n" + "\n".join(t)
    p.remount_strata()
    t = p.trees()
    assert not t, "trees differ after remount:\n" + "\n".join(t)


def test_lower_hard_link_after_remount(pair):
    """A name of a lower hard link that was never looked up before a remount
    still sees the data written through another name (the index lives in the
    work dir)."""
    p = pair()
    assert p.op(("append", "hl1", b" and more")) == (9, 9)
    p.remount_strata()
    for op in [("read", "hl2"), ("stat", "hl2"), ("append", "hl2", b"!"), ("read", "hl1"), ("stat", "hl1")]:
        a, b = p.op(op)
        assert a == b, (op, a, b)
    t = p.trees()
    assert not t, "trees differ:\n" + "\n".join(t)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_random_sequence(pair, seed):
    check(pair(), random_ops(seed, 150), remount=True)


@pytest.mark.parametrize("name", ["whiteout dir", "opaque dir", "rmdir lower then mkdir is opaque",
                                  "merged dir", "remove a whole merged tree"])
def test_oci_whiteouts(pair, name):
    """Lower layers in OCI form (.wh.NAME, .wh..wh..opq) read like the
    overlayfs form that the kernel gets."""
    check(pair(strata_form="oci"), SCENARIOS[name] + [("listdir", "etc"), ("listdir", "usr/share/doc")])


def test_oci_random(pair):
    check(pair(strata_form="oci"), random_ops(11, 150))


def test_writable_layer_is_overlayfs_format(pair, tmp_path):
    """The upper dir strata wrote mounts with the kernel's overlayfs and
    shows the same tree."""
    p = pair()
    check(p, random_ops(21, 120) + SCENARIOS["whiteout then recreate"] + SCENARIOS["rename upper dirs"])
    p.s.close()
    k2 = Mount("kernel", str(tmp_path / "k2"), p.slowers)
    try:
        # the kernel over strata's upper: same view as strata gave
        # (metacopy=on: a chmod/chown/xattr change of a lower file leaves a
        # metadata-only copy, which the kernel otherwise refuses with EPERM)
        subprocess.run(["umount", k2.mnt], check=True)
        o = f"lowerdir={':'.join(p.slowers)},upperdir={p.s.upper},workdir={k2.work},metacopy=on"
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o", o, k2.mnt], check=True)
        ka, kb = snapshot(p.k.mnt), snapshot(k2.mnt)
        # a lower hard link that strata copied up is one file linked from
        # strata's index (workdir/strata-index, which this kernel mount does
        # not read: its own index is keyed by file handles): the kernel counts
        # the index's name in st_nlink, strata does not
        for path, v in kb.items():
            up = os.path.join(p.s.upper, path)
            if path in ka and os.path.isfile(up) and os.path.exists(up) and \
                    "trusted.overlay.strata.nlink" in os.listxattr(up, follow_symlinks=False):
                kb[path] = v[:8] + (v[8] - 1,) + v[9:]
        t = diff_snapshots(ka, kb)
        assert not t, "kernel over strata's upper differs:\n" + "\n".join(t)
    finally:
        k2.close()
    p.s = Mount("strata", p.s.ws, p.slowers, p.strata_bin)


def test_read_only(tmp_path, template, strata_bin):
    lowers = copy_layers(template["overlay"], str(tmp_path / "l"))
    m = Mount("strata", str(tmp_path / "s"), lowers, strata_bin, upper=False)
    try:
        assert run_op(m.mnt, ("write", "etc/passwd", b"x")) == "E:EROFS"
        assert run_op(m.mnt, ("mkdir", "d")) == "E:EROFS"
        assert run_op(m.mnt, ("unlink", "etc/passwd")) == "E:EROFS"
        assert run_op(m.mnt, ("chmod", "etc/passwd", 0o600)) == "E:EROFS"
        assert run_op(m.mnt, ("read", "etc/passwd")) == run_op(os.path.join(lowers[0]), ("read", "etc/passwd"))
        assert "new1" in run_op(m.mnt, ("listdir", "opaque-target"))
    finally:
        assert m.close() == ""
    assert sorted(BASE_LAYERS[0]) is not None
