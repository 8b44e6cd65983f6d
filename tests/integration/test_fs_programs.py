"""Real programs on a strata mount: SQLite (with and without the writeback
cache, on a database copied up from a lower layer), git, a C compile; many
processes at once; bounded daemon memory; the daemon under ASan+UBSan."""
import concurrent.futures
import os
import random
import shutil
import sqlite3
import subprocess
import time

import pytest

from fsops import BASE_LAYERS, Mount, build_layer, diff_snapshots, make_layers, snapshot

pytestmark = pytest.mark.fuse
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


@pytest.fixture
def strata_mount(tmp_path, strata_bin):
    made = []

    def make(layers=BASE_LAYERS, opts=(), binary=None, extra=None):
        lowers = make_layers(str(tmp_path / f"layers{len(made)}"), layers)
        if extra:
            extra(lowers)
        m = Mount("strata", str(tmp_path / f"ws{len(made)}"), lowers, binary or strata_bin, opts=opts)
        m.lowers = lowers
        made.append(m)
        return m
    yield make
    for m in made:
        err = m.close()
        assert err == "", f"strata daemon stderr:\n{err}"


def hammer_sqlite(path, rounds=200):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=DELETE")
    db.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT, n INTEGER)")
    rnd = random.Random(7)
    for i in range(rounds):
        db.execute("BEGIN")
        for _ in range(20):
            db.execute("INSERT INTO t (v, n) VALUES (?, ?)", ("x" * rnd.randint(1, 2000), i))
        db.execute("UPDATE t SET v = ? WHERE id % 7 = ?", ("updated" * 10, i % 7))
        db.execute("DELETE FROM t WHERE id % 11 = ?", (i % 11,))
        db.execute("COMMIT")
    db.execute("VACUUM")
    db.close()
    out = subprocess.run(["sqlite3", path, "PRAGMA integrity_check;"], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stdout + out.stderr
    return path


def seed_db(lowers):
    """A database in the bottom layer, so that the first write copies it up."""
    p = os.path.join(lowers[-1], "var/lib/app.db")
    os.makedirs(os.path.dirname(p), exist_ok=True)
    db = sqlite3.connect(p)
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, n INTEGER)")
    db.executemany("INSERT INTO t (v, n) VALUES (?, ?)", [("seed" * 50, i) for i in range(3000)])
    db.commit()
    db.close()


@pytest.mark.parametrize("opts", [(), ("writeback",), ("no_open=0",), ("no_open=0", "writeback")],
                         ids=["plain", "writeback", "handles", "handles+writeback"])
def test_sqlite(strata_mount, opts):
    m = strata_mount(opts=opts, extra=seed_db)
    hammer_sqlite(os.path.join(m.mnt, "new.db"))
    # fuse-overlayfs issue #475: copy-up plus writeback cache corrupted SQLite
    hammer_sqlite(os.path.join(m.mnt, "var/lib/app.db"))
    wal = sqlite3.connect(os.path.join(m.mnt, "wal.db"), isolation_level=None)
    wal.execute("PRAGMA journal_mode=WAL")        # shared writable mmap of the -shm file
    wal.execute("CREATE TABLE w (x)")
    for i in range(300):
        wal.execute("INSERT INTO w VALUES (?)", (i,))
    assert wal.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    wal.close()


def run(cmd, cwd, **kw):
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{cmd}: {r.stdout}{r.stderr}"
    return r.stdout


def test_git(strata_mount):
    m = strata_mount()
    repo = os.path.join(m.mnt, "merged", "repo")
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@e", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@e", HOME=m.ws)
    os.makedirs(repo)
    run(["git", "init", "-q"], repo, env=env)
    for i in range(30):
        with open(os.path.join(repo, f"f{i % 7}.txt"), "a") as f:
            f.write(f"line {i}\n" * 50)
        if i % 5 == 4:
            os.rename(os.path.join(repo, f"f{i % 7}.txt"), os.path.join(repo, f"g{i}.txt"))
        run(["git", "add", "-A"], repo, env=env)
        run(["git", "commit", "-q", "-m", f"c{i}"], repo, env=env)
    run(["git", "gc", "-q"], repo, env=env)
    run(["git", "fsck", "--full", "--strict"], repo, env=env)
    assert len(run(["git", "log", "--oneline"], repo, env=env).splitlines()) == 30


def test_c_compile(strata_mount):
    m = strata_mount()
    src = os.path.join(m.mnt, "usr/src/hello")
    os.makedirs(src)
    with open(os.path.join(src, "hello.c"), "w") as f:
        f.write('#include <stdio.h>\n#include "msg.h"\nint main(void){puts(MSG);return 0;}\n')
    with open(os.path.join(src, "msg.h"), "w") as f:
        f.write('#define MSG "hello from the union"\n')
    run(["gcc", "-O2", "-Wall", "-o", "hello", "hello.c"], src)
    run(["gcc", "-c", "-o", "hello.o", "hello.c"], src)
    run(["ar", "rcs", "libhello.a", "hello.o"], src)
    assert run([os.path.join(src, "hello")], src).strip() == "hello from the union"


@pytest.mark.parametrize("opts", [(), ("no_open=0",)], ids=["plain", "handles"])
def test_concurrency(strata_mount, opts):
    """Writers, readers and renamers at once: no error but the races' ENOENT,
    no crash, and the tree survives a remount unchanged."""
    m = strata_mount(opts=opts)
    root = m.mnt
    for d in ("c0", "c1", "c2"):
        os.makedirs(os.path.join(root, d))
    stop = time.time() + 4
    errors = []

    def writer(k):
        i = 0
        while time.time() < stop:
            p = os.path.join(root, f"c{i % 3}", f"w{k}-{i % 50}")
            try:
                with open(p, "ab") as f:
                    f.write(b"x" * 512)
                if i % 10 == 0:
                    os.unlink(p)
            except FileNotFoundError:
                pass
            except OSError as e:
                errors.append(repr(e))
            i += 1

    def reader(k):
        while time.time() < stop:
            for dirpath, dirs, files in os.walk(root):
                for n in files:
                    if n in ("fifo", "null"):
                        continue
                    try:
                        with open(os.path.join(dirpath, n), "rb") as f:
                            f.read()
                    except FileNotFoundError:
                        pass
                    except OSError as e:
                        errors.append(repr(e))

    def renamer(k):
        i = 0
        while time.time() < stop:
            try:
                os.rename(os.path.join(root, "etc/passwd" if i % 2 == 0 else f"c{k}/pw"),
                          os.path.join(root, f"c{k}/pw" if i % 2 == 0 else "etc/passwd"))
            except FileNotFoundError:
                pass
            except OSError as e:
                errors.append(repr(e))
            try:
                os.rename(os.path.join(root, f"c{k}"), os.path.join(root, f"c{k}"))
                os.makedirs(os.path.join(root, f"c{k}", "sub"), exist_ok=True)
                os.rename(os.path.join(root, f"c{k}", "sub"), os.path.join(root, f"c{(k + 1) % 3}", f"sub{k}-{i}"))
            except (FileNotFoundError, FileExistsError):
                pass
            except OSError as e:
                errors.append(repr(e))
            i += 1

    with concurrent.futures.ThreadPoolExecutor(12) as ex:
        futs = [ex.submit(writer, k) for k in range(4)] + [ex.submit(reader, k) for k in range(4)] + \
               [ex.submit(renamer, k) for k in range(3)]
        for f in futs:
            f.result()
    assert not errors, errors[:20]
    before = snapshot(root)
    err = m.close()
    assert err == ""
    m2 = Mount("strata", m.ws, m.lowers, m.proc.args[0])
    try:
        assert not diff_snapshots(before, snapshot(m2.mnt))
    finally:
        assert m2.close() == ""
    m.proc = None


# not with -o writeback: appends are placed by the kernel there, at the end
# its inode of that name knows (see fs/README.md); without handles (the
# default) each WRITE says O_APPEND and strata appends at the file's end
@pytest.mark.parametrize("opts", [(), ("no_open=0",)], ids=["plain", "handles"])
def test_hard_link_names_at_once(strata_mount, opts):
    """Eight names of one lower file, each appended to and read through by its
    own thread at once: the first writes race to copy it up, and every name
    still ends as the same file holding every write, also after a remount."""
    names = [f"hot{i}" for i in range(8)]
    layers = [[("file", "hot0", b"start\n")] + [("hardlink", n, "hot0") for n in names[1:]]]
    m = strata_mount(layers=layers, opts=opts)
    errors = []

    def worker(name):
        p = os.path.join(m.mnt, name)
        for _ in range(100):
            try:
                with open(p, "ab") as f:
                    f.write(name.encode()[-1:])
                with open(p, "rb") as f:
                    f.read()
            except OSError as e:
                errors.append(repr(e))

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        for f in [ex.submit(worker, n) for n in names]:
            f.result()
    assert not errors, errors[:20]

    def check(root):
        sts = [os.stat(os.path.join(root, n)) for n in names]
        datas = {open(os.path.join(root, n), "rb").read() for n in names}
        assert len(datas) == 1
        data = datas.pop()
        assert data.startswith(b"start\n") and len(data) == 6 + 800
        assert sorted(data[6:].decode()) == sorted("01234567" * 100)
        assert {(st.st_ino, st.st_nlink) for st in sts} == {(sts[0].st_ino, 8)}
    check(m.mnt)
    assert m.close() == ""
    m2 = Mount("strata", m.ws, m.lowers, m.proc.args[0], opts=opts)
    try:
        check(m2.mnt)
    finally:
        assert m2.close() == ""
    m.proc = None


def daemon_rss_kb(m):
    with open(f"/proc/{m.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_memory_bounded(strata_mount, monkeypatch):
    """Two finds over a 30,000-file tree, with the kernel's caches dropped in
    between: the daemon forgets what the kernel forgot."""
    # under ASan (STRATA_BIN=build-san/strata) freed memory would sit in the
    # quarantine and look like growth
    monkeypatch.setenv("ASAN_OPTIONS", "quarantine_size_mb=0:detect_leaks=1")
    def many(lowers):
        for i in range(300):
            d = os.path.join(lowers[-1], f"many/d{i}")
            os.makedirs(d)
            for j in range(100):
                open(os.path.join(d, f"f{j}"), "w").close()
    m = strata_mount(extra=many)
    subprocess.run(["find", m.mnt, "-printf", "%i %s\n"], stdout=subprocess.DEVNULL, check=True)
    first = daemon_rss_kb(m)
    for _ in range(2):
        subprocess.run(["sh", "-c", "sync; echo 2 > /proc/sys/vm/drop_caches"], check=True)
        subprocess.run(["find", m.mnt, "-printf", "%i %s\n"], stdout=subprocess.DEVNULL, check=True)
    last = daemon_rss_kb(m)
    assert last < first * 1.3 + 2048, f"daemon grew from {first} kB to {last} kB"


@pytest.fixture(scope="session")
def san_bin():
    """build-san/strata (ASan+UBSan), built when missing."""
    p = os.path.join(REPO, "build-san", "strata")
    r = subprocess.run(["make", "-s", "-j2", "SANITIZE=address,undefined", "build-san/strata"], cwd=REPO,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return p


def test_sanitized_daemon(tmp_path, san_bin, monkeypatch):
    """The differential random sequences, SQLite and parallel writers with the
    daemon built with ASan+UBSan: its stderr (any report) must stay empty."""
    from test_fs_diff import Pair, check, SCENARIOS, random_ops
    monkeypatch.setenv("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    tmpl = {"overlay": make_layers(str(tmp_path / "t")), "oci": make_layers(str(tmp_path / "o"), oci=True)}
    p = Pair(str(tmp_path / "p"), tmpl, san_bin)
    try:
        ops = random_ops(99, 200)
        for name in sorted(SCENARIOS):
            ops += SCENARIOS[name]
        check(p, ops, remount=True)
        hammer_sqlite(os.path.join(p.s.mnt, "san.db"), rounds=40)
    finally:
        err = p.close()
    assert err == "", f"sanitizer daemon stderr:\n{err}"


@pytest.mark.parametrize("opt,want", [("readdirplus=no", "READDIR "), ("readdirplus=yes", "READDIRPLUS "),
                                      ("readdirplus=auto", "READDIRPLUS ")])
def test_options_take_effect(tmp_path, strata_bin, opt, want):
    """The tuning options change what the kernel asks (libfuse's -d trace)."""
    for d in ("l/d", "u", "w", "m"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / "l/d/f").write_text("x")
    m = str(tmp_path / "m")
    log = open(tmp_path / "log", "w+")
    p = subprocess.Popen([strata_bin, "mount", "-d", "-o",
                          f"lowerdir={tmp_path}/l,upperdir={tmp_path}/u,workdir={tmp_path}/w,{opt},writeback", m],
                         stderr=log, stdout=subprocess.DEVNULL)
    try:
        for _ in range(500):
            if os.path.ismount(m):
                break
            time.sleep(0.01)
        os.listdir(os.path.join(m, "d"))
        with open(os.path.join(m, "d/f"), "a") as f:
            f.write("y")
    finally:
        subprocess.run(["umount", m])
        p.wait(timeout=20)
    trace = open(tmp_path / "log").read()
    ops = {l.split("opcode: ")[1].split(" ")[0] + " " for l in trace.splitlines() if "opcode: " in l}
    assert want in ops, sorted(ops)
    if opt != "readdirplus=auto":       # auto may use both
        other = "READDIRPLUS " if want == "READDIR " else "READDIR "
        assert other not in ops, sorted(ops)
    # writeback: the kernel agreed to the writeback cache (FUSE_WRITEBACK_CACHE, 1 << 16)
    flags = [int(l.split("flags=")[1], 16) for l in trace.splitlines() if l.strip().startswith("flags=")]
    assert flags and flags[-1] & (1 << 16), flags


def _inotify_opens(path):
    """An inotify descriptor reporting IN_OPEN of the directory @path."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(os.O_NONBLOCK)
    assert fd >= 0 and libc.inotify_add_watch(fd, path.encode(), 0x20) >= 0     # IN_OPEN
    return fd


def _opened_soon(fd):
    """Whether the inotify descriptor @fd reports an open within a second."""
    for _ in range(100):
        try:
            if os.read(fd, 4096):
                return True
        except BlockingIOError:
            pass
        time.sleep(0.01)
    return False


@pytest.mark.parametrize("opt,reads_ahead", [("prefetch=1", True), ("prefetch=0", False)])
def test_prefetch_reads_ahead(tmp_path, strata_bin, opt, reads_ahead):
    """Listing a directory makes the daemon read its lower subdirectories
    ahead of a walk (fs/prefetch.c), unless -o prefetch=0; nobody asked for
    the subdirectory here."""
    for d in ("l/top/sub", "u", "w", "m"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / "l/top/sub/f").write_text("x")
    fd = _inotify_opens(str(tmp_path / "l/top/sub"))
    m = Mount("strata", str(tmp_path / "s"), [str(tmp_path / "l")], strata_bin, opts=(opt,))
    try:
        os.listdir(os.path.join(m.mnt, "top"))
        assert _opened_soon(fd) == reads_ahead
    finally:
        os.close(fd)
        assert m.close() == ""


@pytest.mark.parametrize("opt,reads_ahead", [("prefetch=1", True), ("prefetch=0", False)])
def test_prefetch_reads_siblings(tmp_path, strata_bin, opt, reads_ahead):
    """The first file opened in a directory has the daemon open the
    directory's other small files to read their data ahead (fs/prefetch.c),
    unless -o prefetch=0; nobody opened the sibling here."""
    for d in ("l/top", "u", "w", "m"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / "l/top/a").write_text("a")
    (tmp_path / "l/top/b").write_text("b")
    fd = _inotify_opens(str(tmp_path / "l/top/b"))
    m = Mount("strata", str(tmp_path / "s"), [str(tmp_path / "l")], strata_bin, opts=(opt,))
    try:
        assert open(os.path.join(m.mnt, "top", "a")).read() == "a"
        assert _opened_soon(fd) == reads_ahead
    finally:
        os.close(fd)
        assert m.close() == ""


def test_listing_during_changes(strata_mount):
    """A listing read in pieces while names come and go: every name that
    stayed is seen exactly once (offsets are name hashes, valid in any
    listing of the directory)."""
    import ctypes

    def big(lowers):
        d = os.path.join(lowers[-1], "big")
        os.makedirs(d)
        for i in range(3000):
            open(os.path.join(d, f"lower-file-with-a-long-name-{i:05d}"), "w").close()
    m = strata_mount(extra=big)
    d = os.path.join(m.mnt, "big")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.opendir.restype = ctypes.c_void_p
    libc.readdir.restype = ctypes.c_void_p
    libc.readdir.argtypes = [ctypes.c_void_p]
    libc.closedir.argtypes = [ctypes.c_void_p]
    off = 19   # d_name in struct dirent64 on x86_64/aarch64
    dp = libc.opendir(d.encode())
    assert dp
    seen = []
    while len(seen) < 1000:
        e = libc.readdir(dp)
        assert e
        seen.append(ctypes.string_at(e + off).decode())
    removed = set()
    for i in range(0, 3000, 7):
        n = f"lower-file-with-a-long-name-{i:05d}"
        os.unlink(os.path.join(d, n))
        removed.add(n)
    for i in range(500):
        open(os.path.join(d, f"new-{i}"), "w").close()
    while True:
        e = libc.readdir(dp)
        if not e:
            break
        seen.append(ctypes.string_at(e + off).decode())
    libc.closedir(dp)
    stayed = {f"lower-file-with-a-long-name-{i:05d}" for i in range(3000)} - removed
    counts = {}
    for n in seen:
        counts[n] = counts.get(n, 0) + 1
    assert all(counts.get(n) == 1 for n in stayed), [n for n in stayed if counts.get(n) != 1][:10]
    assert max(counts.values()) == 1
