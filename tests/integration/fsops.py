"""Helpers for the union filesystem tests (test_fs_*.py): building layer
directories, mounting strata and the kernel's overlayfs over copies of them,
running the same scripted operations on both, and snapshotting trees.

An operation is a tuple ("name", args...); run_op(root, op) performs it below
root and returns a comparable result: a value, or "E:<ERRNO>"."""
import ctypes
import errno
import fcntl
import hashlib
import mmap
import os
import random
import shutil
import stat
import subprocess
import time

from helpers.mounts import is_mounted, unmount

# ------------------------------------------------------------------ layers
# Entries: ("file", path, data, mode=0o644, uid=0, gid=0, xattrs={})
#          ("dir", path, mode=0o755, opaque=False) ("symlink", path, target)
#          ("hardlink", path, target) ("whiteout", path) ("fifo", path)
#          ("chardev", path, major, minor) ("sparse", path, size)


def build_layer(root, entries, oci=False, opaque_xattr="trusted.overlay.opaque"):
    """Write @entries below @root; whiteouts and opaque dirs in overlayfs
    form (@opaque_xattr: user.overlay.opaque for userxattr), or in OCI form
    (.wh.NAME, .wh..wh..opq) when @oci."""
    os.makedirs(root, exist_ok=True)
    for e in entries:
        kind, path = e[0], os.path.join(root, e[1])
        parent = os.path.dirname(path)
        os.makedirs(parent, exist_ok=True)
        if kind == "file":
            data = e[2] if len(e) > 2 else b""
            mode = e[3] if len(e) > 3 else 0o644
            uid, gid = (e[4], e[5]) if len(e) > 5 else (0, 0)
            with open(path, "wb") as f:
                f.write(data)
            os.chown(path, uid, gid)
            os.chmod(path, mode)
            for k, v in (e[6] if len(e) > 6 else {}).items():
                os.setxattr(path, k, v)
        elif kind == "dir":
            os.makedirs(path, exist_ok=True)
            os.chmod(path, e[2] if len(e) > 2 else 0o755)
            if len(e) > 3 and e[3]:
                if oci:
                    open(os.path.join(path, ".wh..wh..opq"), "w").close()
                else:
                    os.setxattr(path, opaque_xattr, b"y")
        elif kind == "symlink":
            os.symlink(e[2], path)
        elif kind == "hardlink":
            os.link(os.path.join(root, e[2]), path)
        elif kind == "whiteout":
            if oci:
                open(os.path.join(parent, ".wh." + os.path.basename(path)), "w").close()
            else:
                os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))
        elif kind == "fifo":
            os.mkfifo(path)
        elif kind == "chardev":
            os.mknod(path, stat.S_IFCHR | 0o644, os.makedev(e[2], e[3]))
        elif kind == "sparse":
            with open(path, "wb") as f:
                f.truncate(e[2])
                f.seek(e[2] // 2)
                f.write(b"middle")
        else:
            raise ValueError(kind)


# A three-layer tree exercising every merge rule (top layer first).
BASE_LAYERS = [
    [  # L1, top
        ("file", "etc/passwd", b"root:x:0:0::/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n"),
        ("dir", "newdir"), ("file", "newdir/n1", b"n1"), ("file", "newdir/n2", b"n2" * 100),
        ("file", "usr/share/doc/b/README2", b"b2"),
        ("symlink", "docs", "usr/share/doc"),
        ("file", "top-only", b"top"),
        ("dir", "merged"), ("file", "merged/from-l1", b"l1"),
        ("whiteout", "merged/gone-in-l1"),
    ],
    [  # L2
        ("whiteout", "etc/motd"),
        ("file", "etc/issue", b"Debian 12 (modified)\n"),
        ("whiteout", "usr/share/doc/a"),
        ("dir", "opaque-target", 0o755, True), ("file", "opaque-target/new1", b"new1"),
        ("file", "dir-to-file", b"now a file"),
        ("dir", "file-to-dir"), ("file", "file-to-dir/child", b"child"),
        ("file", "usr/bin/tool2", b"#!/bin/sh\necho tool2\n", 0o755),
        ("dir", "merged"), ("file", "merged/from-l2", b"l2"), ("file", "merged/gone-in-l1", b"x"),
        ("dir", "merged/sub"), ("file", "merged/sub/l2", b"sub2"),
    ],
    [  # L3, bottom
        ("file", "etc/passwd", b"root:x:0:0::/root:/bin/sh\n"),
        ("file", "etc/group", b"root:x:0:\n"),
        ("file", "etc/motd", b"hello\n"),
        ("file", "etc/issue", b"Debian 12\n"),
        ("file", "etc/shadow", b"root:*::\n", 0o640, 0, 42),
        ("file", "usr/bin/tool", b"#!/bin/sh\necho tool\n", 0o755),
        ("file", "usr/bin/suid", b"suid", 0o4755),
        ("file", "usr/share/doc/a/README", b"a"), ("file", "usr/share/doc/a/NEWS", b"news"),
        ("file", "usr/share/doc/b/README", b"b"),
        ("file", "usr/lib/libx.so.1", b"\x7fELF" + b"\0" * 100),
        ("symlink", "usr/lib/libx.so", "libx.so.1"),
        ("dir", "var/lib/data"), ("file", "var/lib/data/db", b"d" * 5000),
        ("dir", "opaque-target"), ("file", "opaque-target/old1", b"old1"),
        ("dir", "opaque-target/sub"), ("file", "opaque-target/sub/deep", b"deep"),
        ("file", "hl1", b"hardlinked data"), ("hardlink", "hl2", "hl1"),
        ("sparse", "sparse", 8 << 20),
        ("dir", "dir-to-file"), ("file", "dir-to-file/inner", b"inner"),
        ("file", "file-to-dir", b"was a file"),
        ("file", "xattr-file", b"x", 0o644, 0, 0, {"user.foo": b"bar", "trusted.t": b"tv"}),
        ("file", "owned", b"o", 0o600, 1000, 1000),
        ("fifo", "fifo"),
        ("chardev", "null", 1, 3),
        ("dir", "merged"), ("file", "merged/from-l3", b"l3"), ("dir", "merged/sub"),
        ("file", "merged/sub/l3", b"sub3"), ("dir", "merged/emptydir"),
        ("dir", "lowerdir"), ("file", "lowerdir/f", b"f"), ("dir", "lowerdir/d"), ("file", "lowerdir/d/g", b"g"),
        ("dir", "empty-lower"),
    ],
]

# Every path the scripted operations may name (for random sequences).
NAMES = ["etc/passwd", "etc/group", "etc/motd", "etc/issue", "etc/shadow", "usr/bin/tool",
         "usr/bin/tool2", "usr/share/doc/a", "usr/share/doc/b/README", "newdir/n1", "newdir",
         "top-only", "merged", "merged/from-l1", "merged/from-l2", "merged/from-l3", "merged/sub",
         "merged/sub/l2", "merged/emptydir", "opaque-target", "opaque-target/new1", "hl1", "hl2",
         "sparse", "dir-to-file", "file-to-dir", "file-to-dir/child", "xattr-file", "owned",
         "lowerdir", "lowerdir/f", "lowerdir/d", "empty-lower", "docs", "usr/lib/libx.so",
         "new-a", "new-b", "merged/new-c", "newdir/new-d", "lowerdir/new-e"]


def make_layers(base, layers=BASE_LAYERS, oci=False, opaque_xattr="trusted.overlay.opaque"):
    """Build the layers below @base/L0, L1, ...; returns their paths, top first."""
    paths = []
    for i, entries in enumerate(layers):
        p = os.path.join(base, f"L{i}")
        build_layer(p, entries, oci=oci, opaque_xattr=opaque_xattr)
        paths.append(p)
    return paths


# ------------------------------------------------------------------ mounts
class Mount:
    """A union mount over copies of some layer dirs: kind "kernel" (overlay)
    or "strata" (the binary in @strata_bin, in the foreground so that its
    stderr is ours to check)."""

    def __init__(self, kind, ws, lowers, strata_bin=None, upper=True, opts=(),
                 kernel_opts="redirect_dir=off,index=on,metacopy=off"):
        self.kind, self.ws = kind, ws
        self.mnt = os.path.join(ws, "mnt")
        self.upper = os.path.join(ws, "upper") if upper else None
        self.work = os.path.join(ws, "work")
        self.proc = None
        self.stderr_path = os.path.join(ws, "daemon.stderr")
        for d in (self.mnt, self.work) + ((self.upper,) if upper else ()):
            os.makedirs(d, exist_ok=True)
        lo = ":".join(lowers)
        if kind == "kernel":
            o = f"lowerdir={lo}"
            if upper:
                o += f",upperdir={self.upper},workdir={self.work},{kernel_opts}"
            subprocess.run(["mount", "-t", "overlay", "overlay", "-o", o, self.mnt], check=True)
        else:
            o = f"lowerdir={lo}"
            if upper:
                o += f",upperdir={self.upper},workdir={self.work}"
            # STRATA_FS_TEST_OPTS: run the whole suite with more -o options
            for x in list(opts) + [x for x in os.environ.get("STRATA_FS_TEST_OPTS", "").split(",") if x]:
                o += "," + x
            self.errf = open(self.stderr_path, "wb")
            self.proc = subprocess.Popen([strata_bin, "mount", "-f", "-o", o, self.mnt],
                                         stdout=subprocess.DEVNULL, stderr=self.errf)
            deadline = time.time() + 20
            while not is_mounted(self.mnt):
                if self.proc.poll() is not None or time.time() > deadline:
                    raise AssertionError(f"strata mount failed: {self.stderr()}")
                time.sleep(0.01)

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode(errors="replace")

    def close(self):
        """Unmount; for strata wait for the daemon and return its stderr."""
        if is_mounted(self.mnt):
            r = subprocess.run(["umount", self.mnt], stderr=subprocess.PIPE)
            if r.returncode != 0:
                unmount(self.mnt)
        if self.proc:
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.errf.close()
            return self.stderr()
        return ""


def copy_layers(src_paths, dst_base):
    """cp -a the layer dirs (hard links, xattrs and devices kept)."""
    os.makedirs(dst_base, exist_ok=True)
    out = []
    for p in src_paths:
        d = os.path.join(dst_base, os.path.basename(p))
        subprocess.run(["cp", "-a", p, d], check=True)
        out.append(d)
    return out


# ------------------------------------------------------------- operations
_libc = ctypes.CDLL(None, use_errno=True)
RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2
AT_FDCWD = -100


def renameat2(a, b, flags):
    if _libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def _stat_tuple(st):
    t = stat.S_IFMT(st.st_mode)
    size = st.st_size if not stat.S_ISDIR(st.st_mode) else None
    return (t, stat.S_IMODE(st.st_mode), size, st.st_nlink, st.st_uid, st.st_gid)


def _write(p, data, flags, off=None):
    fd = os.open(p, flags, 0o644)
    try:
        if off is None:
            os.write(fd, data)
        else:
            os.pwrite(fd, data, off)
    finally:
        os.close(fd)
    return len(data)


def _read(p):
    with open(p, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def _ino_stable(root, p, op):
    before = os.lstat(p).st_ino
    run_op(root, op)
    return os.lstat(p).st_ino == before


def _mmap_write(p, data):
    with open(p, "r+b") as f:
        m = mmap.mmap(f.fileno(), 0)
        m[:len(data)] = data
        m.flush()
        m.close()
    return _read(p)


def _open_unlink_write(p, data):
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.unlink(p)
        os.write(fd, data)
        os.fsync(fd)
        st = os.fstat(fd)
        os.lseek(fd, 0, 0)
        return (st.st_size, st.st_nlink, os.read(fd, 100))
    finally:
        os.close(fd)


def _locks(p):
    with open(p, "rb") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(f, fcntl.LOCK_UN)
        fcntl.lockf(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.lockf(f, fcntl.LOCK_UN)
    return True


def _hardlink_see(a, b, data):
    _write(a, data, os.O_WRONLY | os.O_APPEND)
    return (_read(a) == _read(b), os.lstat(a).st_nlink, os.lstat(b).st_nlink)


def _hardlink_open_see(a, b, data):
    """@a read through a descriptor opened before @b (another name of the
    same file) is written: the descriptor sees the new data."""
    fd = os.open(a, os.O_RDONLY)
    try:
        before = os.pread(fd, 1 << 16, 0)
        _write(b, data, os.O_WRONLY | os.O_APPEND)
        after = os.pread(fd, 1 << 16, 0)
        # the same size: nothing but the data tells the change
        _write(b, data.upper(), os.O_WRONLY, off=len(before))
        again = os.pread(fd, 1 << 16, 0)
        return (before + data == after, before + data.upper() == again, os.fstat(fd).st_size)
    finally:
        os.close(fd)


def _seek_listing(p):
    """Read a directory in two halves around a telldir/seekdir via os.scandir
    can't seek; use the raw getdents through libc."""
    d = _libc.opendir(p.encode())
    if not d:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    _libc.readdir.restype = ctypes.c_void_p
    _libc.telldir.restype = ctypes.c_long
    names1 = 0
    while _libc.readdir(ctypes.c_void_p(d)):
        names1 += 1
    _libc.rewinddir(ctypes.c_void_p(d))
    half, pos = names1 // 2, None
    for i in range(half):
        _libc.readdir(ctypes.c_void_p(d))
    pos = _libc.telldir(ctypes.c_void_p(d))
    rest1 = 0
    while _libc.readdir(ctypes.c_void_p(d)):
        rest1 += 1
    _libc.seekdir(ctypes.c_void_p(d), ctypes.c_long(pos))
    rest2 = 0
    while _libc.readdir(ctypes.c_void_p(d)):
        rest2 += 1
    _libc.closedir(ctypes.c_void_p(d))
    return (names1, rest1 == rest2)


def _umask0_create(p):
    """As a process with umask 0: a file 0620, a directory 0777, a fifo and a
    character device 0666; their modes as created."""
    old = os.umask(0)
    try:
        os.close(os.open(p + "-file", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o620))
        os.mkdir(p + "-dir", 0o777)
        os.mkfifo(p + "-fifo", 0o666)
        os.mknod(p + "-dev", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    finally:
        os.umask(old)
    return [oct(stat.S_IMODE(os.lstat(p + s).st_mode)) for s in ("-file", "-dir", "-fifo", "-dev")]


def _deep_mkdir(p, depth):
    """How many directories of 250-character names could be made one in the
    other, each by a relative mkdir from the one above; and back up."""
    made = 0
    os.chdir(p)
    try:
        for part in deep_parts(depth, "m" * 250):
            os.mkdir(part)
            os.chdir(part)
            made += 1
        with open("deepest", "w") as f:
            f.write("bottom")
    finally:
        os.chdir("/")
    return made


def _as_user(fn, uid=1000, gid=1000):
    """fn() in a child process as @uid/@gid without capabilities: its
    result, or "E:<ERRNO>"."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            res = repr(fn())
        except OSError as e:
            res = repr("E:" + errno.errorcode.get(e.errno, str(e.errno)))
        os.write(w, res.encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        out = f.read()
    os.waitpid(pid, 0)
    return eval(out)  # noqa: S307 - our own repr


def run_op(root, op):
    """Perform @op below @root; the result, or "E:<ERRNO>" on failure."""
    name, args = op[0], op[1:]
    P = lambda rel: os.path.join(root, rel)  # noqa: E731
    try:
        if name == "stat":
            return _stat_tuple(os.lstat(P(args[0])))
        if name == "follow":
            return _stat_tuple(os.stat(P(args[0])))
        if name == "read":
            return _read(P(args[0]))
        if name == "write":
            return _write(P(args[0]), args[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        if name == "append":
            return _write(P(args[0]), args[1], os.O_WRONLY | os.O_APPEND)
        if name == "pwrite":
            return _write(P(args[0]), args[2], os.O_WRONLY, args[1])
        if name == "excl":
            return _write(P(args[0]), b"excl", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        if name == "truncate":
            os.truncate(P(args[0]), args[1])
            return os.lstat(P(args[0])).st_size
        if name == "mkdir":
            os.mkdir(P(args[0]), args[1] if len(args) > 1 else 0o755)
            return True
        if name == "rmdir":
            os.rmdir(P(args[0]))
            return True
        if name == "unlink":
            os.unlink(P(args[0]))
            return True
        if name == "rename":
            os.rename(P(args[0]), P(args[1]))
            return True
        if name == "mv":        # mv(1): a rename, or copy and delete on EXDEV
            r = subprocess.run(["mv", "-T", P(args[0]), P(args[1])], capture_output=True)
            return r.returncode
        if name == "rename_noreplace":
            renameat2(P(args[0]), P(args[1]), RENAME_NOREPLACE)
            return True
        if name == "rename_exchange":
            renameat2(P(args[0]), P(args[1]), RENAME_EXCHANGE)
            return True
        if name == "link":
            os.link(P(args[0]), P(args[1]))
            return os.lstat(P(args[0])).st_nlink
        if name == "symlink":
            os.symlink(args[0], P(args[1]))
            return True
        if name == "readlink":
            return os.readlink(P(args[0]))
        if name == "chmod":
            os.chmod(P(args[0]), args[1])
            return stat.S_IMODE(os.lstat(P(args[0])).st_mode)
        if name == "chown":
            os.lchown(P(args[0]), args[1], args[2])
            st = os.lstat(P(args[0]))
            return (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))
        if name == "utime":
            os.utime(P(args[0]), ns=(args[1], args[1]), follow_symlinks=False)
            return os.lstat(P(args[0])).st_mtime_ns
        if name == "setxattr":
            os.setxattr(P(args[0]), args[1], args[2], follow_symlinks=False)
            return True
        if name == "getxattr":
            return os.getxattr(P(args[0]), args[1], follow_symlinks=False)
        if name == "listxattr":
            return sorted(os.listxattr(P(args[0]), follow_symlinks=False))
        if name == "removexattr":
            os.removexattr(P(args[0]), args[1], follow_symlinks=False)
            return True
        if name == "listdir":
            return sorted(os.listdir(P(args[0])))
        if name == "dtypes":
            return sorted((e.name, e.is_dir(follow_symlinks=False), e.is_symlink())
                          for e in os.scandir(P(args[0])))
        if name == "deep_mkdir":     # pjdfstest's */03.t: mkdir a long name, chdir into it, again
            return _deep_mkdir(P(args[0]), args[1])
        if name == "user_append":    # as uid 1000 without capabilities
            return _as_user(lambda: _write(P(args[0]), args[1], os.O_WRONLY | os.O_APPEND))
        if name == "user_truncate":
            return _as_user(lambda: os.truncate(P(args[0]), args[1]))
        if name == "user_open_trunc":
            return _as_user(lambda: os.close(os.open(P(args[0]), os.O_WRONLY | os.O_TRUNC)))
        if name == "umask0_create":
            return _umask0_create(P(args[0]))
        if name == "mkfifo":
            os.mkfifo(P(args[0]))
            return True
        if name == "mknod_whiteout":
            os.mknod(P(args[0]), stat.S_IFCHR | 0o644, os.makedev(0, 0))
            return True
        if name == "mknod_null":
            os.mknod(P(args[0]), stat.S_IFCHR | 0o644, os.makedev(1, 3))
            return True
        if name == "ino_stable":
            return _ino_stable(root, P(args[0]), args[1])
        if name == "mmap_write":
            return _mmap_write(P(args[0]), args[1])
        if name == "open_unlink_write":
            return _open_unlink_write(P(args[0]), args[1])
        if name == "locks":
            return _locks(P(args[0]))
        if name == "hardlink_open_see":
            return _hardlink_open_see(P(args[0]), P(args[1]), args[2])
        if name == "hardlink_see":
            return _hardlink_see(P(args[0]), P(args[1]), args[2])
        if name == "fsync":
            fd = os.open(P(args[0]), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            return True
        if name == "statfs":
            st = os.statvfs(root)
            return (st.f_bsize, st.f_blocks, st.f_namemax)
        if name == "seekdir":
            return _seek_listing(P(args[0]))
        if name == "access":
            return os.access(P(args[0]), args[1])
        if name == "blocks":     # sparse copy-up: allocation stays small
            return os.lstat(P(args[0])).st_blocks < 1024
        raise ValueError(name)
    except OSError as e:
        return "E:" + errno.errorcode.get(e.errno, str(e.errno))


# ------------------------------------------------------------ at depth
# Trees deeper than PATH_MAX: paths are walked one name at a time (chdir,
# *at calls), never passed whole.
DEEP_NAME = "d" * 250


def deep_parts(depth, name=DEEP_NAME):
    return [f"{i:02d}{name[2:]}" for i in range(depth)]


class cd_deep:
    """with cd_deep(root, parts): the working directory is root/parts...,
    reached one name at a time; back to / after."""

    def __init__(self, root, parts):
        self.root, self.parts = root, parts

    def __enter__(self):
        os.chdir(self.root)
        for p in self.parts:
            os.chdir(p)

    def __exit__(self, *exc):
        os.chdir("/")


def build_deep(root, depth, entries):
    """@entries (as build_layer's, paths relative) in every directory of a
    chain of @depth directories of 250-character names below @root."""
    os.makedirs(root, exist_ok=True)
    os.chdir(root)
    try:
        for part in deep_parts(depth):
            os.makedirs(part, exist_ok=True)
            os.chdir(part)
            build_layer(".", entries)
    finally:
        os.chdir("/")


def run_deep(root, parts, op):
    """run_op() in the directory @parts below @root."""
    with cd_deep(root, parts):
        return run_op(".", op)


# -------------------------------------------------------------- snapshots
def snapshot(root):
    """{path: (type, mode, uid, gid, size, content, link, xattrs, nlink)} of
    everything visible below @root (at any depth: fwalk opens each name
    relative to its directory's descriptor)."""
    out = {}
    for dirpath, dirnames, filenames, dfd in os.fwalk(root):
        dirnames.sort()
        for n in sorted(dirnames) + sorted(filenames):
            rel = os.path.relpath(os.path.join(dirpath, n), root)
            p = f"/proc/self/fd/{dfd}/{n}"
            st = os.lstat(n, dir_fd=dfd)
            t = stat.S_IFMT(st.st_mode)
            content = link = None
            if stat.S_ISREG(st.st_mode):
                content = _read(p)
            elif stat.S_ISLNK(st.st_mode):
                link = os.readlink(n, dir_fd=dfd)
            try:
                xs = {k: os.getxattr(p, k, follow_symlinks=False)
                      for k in sorted(os.listxattr(p, follow_symlinks=False))}
            except OSError:
                xs = "E"
            size = None if stat.S_ISDIR(st.st_mode) else st.st_size
            rdev = st.st_rdev if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else None
            out[rel] = (t, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, size, content, link, xs,
                        st.st_nlink, rdev)
    return out


def diff_snapshots(a, b):
    """Lines naming what differs between two snapshots (empty: identical)."""
    lines = []
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            lines.append(f"{k}: kernel {a.get(k)} strata {b.get(k)}")
    return lines


# -------------------------------------------------------------- sequences
def random_ops(seed, n):
    """@n operations over NAMES, reproducible from @seed."""
    rnd = random.Random(seed)
    ops = []
    extra = ["r1", "r2", "merged/r3", "lowerdir/d/r4", "newdir/r5"]
    names = NAMES + extra
    for _ in range(n):
        a, b = rnd.choice(names), rnd.choice(names)
        k = rnd.choice(["stat", "read", "write", "append", "truncate", "mkdir", "rmdir", "unlink",
                        "rename", "link", "symlink", "chmod", "chown", "setxattr", "removexattr",
                        "listdir", "getxattr", "pwrite", "excl", "listxattr", "rename"])
        if k in ("stat", "read", "rmdir", "unlink", "listdir", "listxattr", "excl"):
            ops.append((k, a))
        elif k in ("write", "append"):
            ops.append((k, a, rnd.randbytes(rnd.randint(0, 3000))))
        elif k == "pwrite":
            ops.append((k, a, rnd.randint(0, 5000), b"pw"))
        elif k == "truncate":
            ops.append((k, a, rnd.randint(0, 10000)))
        elif k == "mkdir":
            ops.append((k, a, 0o755))
        elif k == "rename":     # mv: see test_fs_diff.better()
            ops.append(("mv", a, b))
        elif k == "link":
            ops.append((k, a, b))
        elif k == "symlink":
            ops.append((k, "target-" + b, a))
        elif k == "chmod":
            ops.append((k, a, rnd.choice([0o600, 0o755, 0o4711, 0o1777])))
        elif k == "chown":
            ops.append((k, a, rnd.choice([0, 1000]), rnd.choice([0, 1000])))
        elif k == "setxattr":
            ops.append((k, a, rnd.choice(["user.a", "trusted.b"]), rnd.randbytes(8)))
        elif k in ("removexattr", "getxattr"):
            ops.append((k, a, rnd.choice(["user.a", "user.foo", "trusted.b"])))
    return ops


def wipe(path):
    shutil.rmtree(path, ignore_errors=True)


_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]


def resident(p, page=4096):
    """Whether the first page of @p is in the page cache (mincore through a
    mapping: sends no request and faults nothing in)."""
    fd = os.open(p, os.O_RDONLY)
    try:
        a = _libc.mmap(None, page, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        assert a not in (None, ctypes.c_void_p(-1).value), ctypes.get_errno()
        try:
            vec = ctypes.create_string_buffer(1)
            assert _libc.mincore(a, page, vec) == 0, ctypes.get_errno()
            return bool(vec.raw[0] & 1)
        finally:
            _libc.munmap(a, page)
    finally:
        os.close(fd)
