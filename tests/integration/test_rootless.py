"""Rootless strata: a normal user (created here, with a subordinate id range
as podman needs) pulls, looks into its store's user namespace and mounts,
with the image's owners kept (util/userns.h, README "Rootless")."""
import os
import pwd
import shutil
import stat
import subprocess
import time
import uuid

import pytest

from helpers.images import Dir, File, Opaque, Symlink, Whiteout

RANGE = 65536


def _userns_off():
    """None when an unprivileged user namespace can be made here, else why not."""
    p = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
                        "unshare", "--user", "true"], capture_output=True, text=True)
    return None if p.returncode == 0 else f"user namespaces are off here: {p.stderr.strip()}"


class User:
    """A user made for the tests: run(argv) as it, with its own HOME."""

    def __init__(self, name, subids):
        self.name = name
        subprocess.run(["useradd", "-m", "-s", "/bin/sh", "-K", f"SUB_UID_COUNT={RANGE if subids else 0}",
                        "-K", f"SUB_GID_COUNT={RANGE if subids else 0}", name], check=True)
        pw = pwd.getpwnam(name)
        self.uid, self.gid, self.home = pw.pw_uid, pw.pw_gid, pw.pw_dir
        self.subuid = self._sub("/etc/subuid") if subids else None
        self.subgid = self._sub("/etc/subgid") if subids else None
        if subids:
            assert self.subuid and self.subuid[1] >= RANGE, "useradd wrote no subordinate uid range"
        # what pam_systemd gives a user's session: strata keeps its pause
        # process's pid there (test_pause_process_*)
        self.runtime_dir = f"/tmp/strata-rt-{name}"
        os.mkdir(self.runtime_dir, 0o700)
        os.chown(self.runtime_dir, self.uid, self.gid)

    def _sub(self, path):
        with open(path) as f:
            for line in f:
                n, s, c = line.strip().split(":")
                if n == self.name:
                    return int(s), int(c)
        return None

    def env(self, **extra):
        e = {"HOME": self.home, "USER": self.name, "LOGNAME": self.name, "XDG_RUNTIME_DIR": self.runtime_dir,
             "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}
        e.update(extra)
        return e

    def run(self, argv, timeout=120, input=None, cwd=None, env=None):
        p = subprocess.run(["setpriv", "--reuid", str(self.uid), "--regid", str(self.gid), "--init-groups",
                            "--"] + [str(a) for a in argv],
                           input=input, capture_output=True, text=True, timeout=timeout,
                           env=env or self.env(), cwd=cwd or self.home)
        return p

    def host_uid(self, inside):
        """Where an id of the user namespace lands on the host."""
        return self.uid if inside == 0 else self.subuid[0] + inside - 1

    def host_gid(self, inside):
        return self.gid if inside == 0 else self.subgid[0] + inside - 1

    def remove(self):
        subprocess.run(["pkill", "-KILL", "-u", str(self.uid)], capture_output=True)   # its pause process
        subprocess.run(["userdel", "-r", "-f", self.name], capture_output=True)
        shutil.rmtree(self.runtime_dir, ignore_errors=True)


def _made_user(prefix, subids):
    why = _userns_off()
    if why:
        pytest.skip(why)
    u = User(f"{prefix}{uuid.uuid4().hex[:8]}", subids=subids)
    yield u
    u.remove()


@pytest.fixture(scope="module")
def rootless_user():
    """A user with a subordinate range of 65536 ids (useradd's default)."""
    yield from _made_user("strl", True)


# two ranges (the second larger than 65536), far above useradd's
RANGES = [(500000000, 100), (600000000, 100000)]


@pytest.fixture(scope="module")
def ranges_user():
    """A user with two subordinate ranges in /etc/subuid and /etc/subgid."""
    for u in _made_user("strr", False):
        for start, count in RANGES:
            spec = f"{start}-{start + count - 1}"
            subprocess.run(["usermod", "--add-subuids", spec, "--add-subgids", spec, u.name], check=True)
        yield u


@pytest.fixture(scope="module")
def single_user():
    """A user with no subordinate range."""
    yield from _made_user("strs", False)


class As:
    """strata as @user with --root in a directory the user owns."""

    def __init__(self, user, strata_bin, root):
        self.user, self.bin, self.root = user, strata_bin, root

    def __call__(self, *args, root=True, **kw):
        argv = [self.bin] + (["--root", self.root] if root else []) + list(args)
        return self.user.run(argv, **kw)


def _workdir(user):
    d = f"/tmp/strata-rootless-{uuid.uuid4().hex[:8]}"
    os.mkdir(d, 0o755)
    os.chown(d, user.uid, user.gid)
    return d


def _as(user, strata_bin, ranged=True):
    d = _workdir(user)
    yield As(user, strata_bin, os.path.join(d, "store"))
    if ranged:
        # the store holds files of the user's range: remove them from its namespace
        user.run([strata_bin, "unshare", "rm", "-rf", d])
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def as_user(rootless_user, strata_bin):
    yield from _as(rootless_user, strata_bin)


@pytest.fixture
def as_ranges(ranges_user, strata_bin):
    yield from _as(ranges_user, strata_bin)


@pytest.fixture
def as_single(single_user, strata_bin):
    yield from _as(single_user, strata_bin, ranged=False)


def suid_program():
    """A static program printing its real and effective uid, for a setuid bit to show."""
    d = f"/tmp/strata-suid-{os.getpid()}"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/ids.c", "w") as f:
        f.write('#include <stdio.h>\n#include <unistd.h>\n'
                'int main(void) { printf("%d %d\\n", (int)getuid(), (int)geteuid()); return 0; }\n')
    subprocess.run(["cc", "-static", "-O2", "-o", f"{d}/ids", f"{d}/ids.c"], check=True)
    with open(f"{d}/ids", "rb") as f:
        data = f.read()
    shutil.rmtree(d)
    return data


def owners_layers(image_builder):
    bb = image_builder.busybox_entries()
    owned = [Dir("srv", 0o755), Dir("srv/www", 0o750, uid=33, gid=33),
             File("srv/www/index.html", b"hello\n", 0o640, uid=33, gid=33),
             File("srv/nobody", b"n\n", 0o600, uid=65534, gid=65534),
             File("bin/suid", b"#!/bin/sh\nid\n", 0o4755),
             File("bin/sgid", b"#!/bin/sh\nid\n", 0o2755, gid=33),
             Symlink("srv/link", "www/index.html", uid=33, gid=33),
             File("bin/ids", suid_program(), 0o4755),
             Dir("gone"), File("gone/a", b"a"), Dir("opq"), File("opq/old", b"old")]
    top = [Whiteout("gone/a"), Opaque("opq"), File("opq/new", b"new", uid=65534, gid=65534)]
    return [bb + owned, top]


@pytest.fixture(scope="module")
def owners_image(image_builder, session_registry):
    return image_builder.push_raw(session_registry, "test/rootless-owners:1", layers=owners_layers(image_builder))


def _layer_dirs(root):
    base = os.path.join(root, "layers")
    return [os.path.join(base, d, "diff") for d in sorted(os.listdir(base)) if not d.startswith(".")]


def _find(root, rel):
    for d in _layer_dirs(root):
        p = os.path.join(d, rel)
        if os.path.lexists(p):
            return p
    raise AssertionError(f"{rel} in no layer of {root}")


def test_pull_keeps_owners_in_the_users_range(as_user, owners_image):
    u = as_user.user
    p = as_user("pull", "-q", owners_image.ref)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    # in the store's namespace: the image's own ids
    www = _find(as_user.root, "srv/www")
    p = as_user("unshare", "ls", "-ln", os.path.dirname(www), root=False)
    assert p.returncode == 0, p.stderr
    cols = {l.split(" -> ")[0].split()[-1]: l.split() for l in p.stdout.splitlines()[1:]}
    assert cols["www"][2:4] == ["33", "33"] and cols["www"][0] == "drwxr-x---", p.stdout
    assert cols["nobody"][2:4] == ["65534", "65534"] and cols["nobody"][0] == "-rw-------", p.stdout
    assert cols["link"][2:4] == ["33", "33"], p.stdout
    p = as_user("unshare", "stat", "-c", "%u:%g %A", _find(as_user.root, "bin/suid"),
                _find(as_user.root, "bin/sgid"), _find(as_user.root, "bin/busybox"), root=False)
    assert p.stdout.splitlines() == ["0:0 -rwsr-xr-x", "0:33 -rwxr-sr-x", "0:0 -rwxr-xr-x"], p.stdout
    # on the host: the same files belong to the user and its subordinate range
    st = os.lstat(www)
    assert (st.st_uid, st.st_gid) == (u.host_uid(33), u.host_gid(33))
    st = os.lstat(_find(as_user.root, "srv/nobody"))
    assert (st.st_uid, st.st_gid) == (u.host_uid(65534), u.host_gid(65534))
    st = os.lstat(_find(as_user.root, "bin/suid"))
    assert (st.st_uid, st.st_gid) == (u.uid, u.gid) and st.st_mode & 0o7777 == 0o4755
    # overlayfs's format, with the userxattr names (no trusted.* as a user)
    whs = [os.lstat(os.path.join(d, "gone/a")) for d in _layer_dirs(as_user.root)
           if os.path.lexists(os.path.join(d, "gone/a"))]
    assert sorted(stat.S_ISCHR(st.st_mode) and st.st_rdev == 0 for st in whs) == [False, True]
    opq = [os.path.join(d, "opq") for d in _layer_dirs(as_user.root) if os.path.exists(os.path.join(d, "opq/new"))]
    assert len(opq) == 1
    assert os.getxattr(opq[0], "user.overlay.opaque") == b"y"
    assert "trusted.overlay.opaque" not in os.listxattr(opq[0])
    # the listing verbs work in the namespace too
    p = as_user("ls", "-l", owners_image.ref, "/srv")
    assert p.returncode == 0, p.stderr
    assert any("33" in l and "www" in l for l in p.stdout.splitlines()), p.stdout


def test_default_store_is_xdg_data_home(as_user, owners_image):
    u = as_user.user
    xdg = os.path.join(os.path.dirname(as_user.root), "xdg")
    p = u.run([as_user.bin, "pull", "-q", owners_image.ref], env=u.env(XDG_DATA_HOME=xdg))
    assert p.returncode == 0, p.stderr
    assert os.path.isdir(os.path.join(xdg, "strata", "layers"))
    p = u.run([as_user.bin, "images", "-q"], env=u.env(XDG_DATA_HOME=xdg))
    assert p.returncode == 0 and len(p.stdout.split()) == 1, p


def test_id_outside_the_range_is_refused(as_user, image_builder, session_registry):
    img = image_builder.push_raw(session_registry, "test/rootless-hostile:1",
                                 layers=[[Dir("etc"), File("etc/evil", b"x", 0o4755, uid=70000, gid=0)]])
    p = as_user("pull", img.ref)
    assert p.returncode != 0
    assert "entry \"etc/evil\": uid 70000 is outside the ids this user's namespace maps (0..65536)" \
        in p.stderr.splitlines()[-1], p.stderr
    assert _layer_dirs(as_user.root) == []
    # the highest id of the range is fine
    img = image_builder.push_raw(session_registry, "test/rootless-edge:1",
                                 layers=[[Dir("etc"), File("etc/top", b"x", 0o644, uid=65536, gid=65536)]])
    p = as_user("pull", img.ref)
    assert p.returncode == 0, p.stderr
    st = os.lstat(_find(as_user.root, "etc/top"))
    assert st.st_uid == as_user.user.host_uid(65536)


def test_device_node_is_refused_in_one_line(as_user, image_builder, session_registry):
    from helpers.images import CharDev
    img = image_builder.push_raw(session_registry, "test/rootless-dev:1",
                                 layers=[[Dir("dev"), CharDev("dev/null", 1, 3)]])
    p = as_user("pull", img.ref)
    assert p.returncode != 0
    assert p.stderr.splitlines()[-1].endswith(
        "entry \"dev/null\": character device 1:3: device nodes need root (a rootless store cannot hold them)"), p.stderr


def test_no_subordinate_range_keeps_owners_in_an_xattr(as_single, owners_image):
    u = as_single.user
    p = as_single("pull", "-q", owners_image.ref)
    assert p.returncode == 0, p.stderr
    assert p.stderr.splitlines() == [
        f"strata: no subordinate id range for {u.name} (none in /etc/subuid for {u.name}): one id only; "
        "the image's owners are kept in the user.containers.override_stat xattr "
        "(add a range: usermod --add-subuids/--add-subgids)"], p.stderr
    www = _find(as_single.root, "srv/www")
    st = os.lstat(www)
    assert (st.st_uid, st.st_gid) == (u.uid, u.gid)
    assert os.getxattr(www, "user.containers.override_stat") == b"33:33:0750:dir"
    assert os.getxattr(_find(as_single.root, "srv/nobody"), "user.containers.override_stat") == \
        b"65534:65534:0600:file"
    assert os.getxattr(_find(as_single.root, "bin/suid"), "user.containers.override_stat") == b"0:0:04755:file"
    assert "user.containers.override_stat" not in os.listxattr(_find(as_single.root, "bin/busybox"))


def test_unshare_is_for_users(strata):
    r = strata("unshare", "true")
    assert r.rc == 1 and r.err_lines == [
        "strata: unshare: only for a user who is not root (root's store needs no user namespace)"], r


@pytest.fixture(scope="module")
def dev_fuse_for_users():
    """/dev/fuse as distributions ship it (0666: fusermount3 opens it as the
    user); this machine has it 0600.  Restored afterwards."""
    if not os.path.exists("/dev/fuse"):
        pytest.skip("/dev/fuse is missing (no FUSE in this container/VM)")
    old = stat.S_IMODE(os.stat("/dev/fuse").st_mode)
    os.chmod("/dev/fuse", 0o666)
    yield
    os.chmod("/dev/fuse", old)


@pytest.fixture
def user_mount(as_user, owners_image, dev_fuse_for_users):
    """The owners image pulled and mounted by the user at HOME-side MNT."""
    p = as_user("pull", "-q", owners_image.ref)
    assert p.returncode == 0, p.stderr
    mnt = os.path.join(os.path.dirname(as_user.root), "mnt")
    as_user.user.run(["mkdir", mnt])
    p = as_user("mount", owners_image.ref, mnt)
    assert p.returncode == 0, p.stderr
    yield mnt
    as_user("umount", mnt)
    subprocess.run(["umount", "-l", mnt], capture_output=True)


def _sh(as_user, script, unshare=False):
    argv = ([as_user.bin, "unshare"] if unshare else []) + ["sh", "-ec", script]
    p = as_user.user.run(argv)
    assert p.returncode == 0, f"{script}\n{p.stderr}"
    return p.stdout


def test_mount_by_a_user_shows_the_owners_mapped(as_user, user_mount):
    u = as_user.user
    mnt = user_mount
    with open("/proc/self/mountinfo") as f:
        line = next(l for l in f if f" {mnt} " in l)
    assert " - fuse.strata " in line and f"user_id={u.uid}," in line, line
    # the user's alone: not even root of the host gets in (no allow_other)
    with pytest.raises(PermissionError):
        os.listdir(mnt)
    out = _sh(as_user, f"stat -c '%u:%g %a %n' {mnt}/srv/www {mnt}/srv/nobody {mnt}/bin/suid")
    assert out.splitlines() == [f"{u.host_uid(33)}:{u.host_gid(33)} 750 {mnt}/srv/www",
                                f"{u.host_uid(65534)}:{u.host_gid(65534)} 600 {mnt}/srv/nobody",
                                f"{u.uid}:{u.gid} 4755 {mnt}/bin/suid"], out
    # in the store's namespace the image's own ids
    out = _sh(as_user, f"stat -c '%u:%g %n' {mnt}/srv/www {mnt}/srv/nobody {mnt}/bin/sgid", unshare=True)
    assert out.splitlines() == [f"33:33 {mnt}/srv/www", f"65534:65534 {mnt}/srv/nobody", f"0:33 {mnt}/bin/sgid"]


def test_mount_by_a_user_writes(as_user, user_mount):
    u, mnt = as_user.user, user_mount
    _sh(as_user, f"""cd {mnt}
        echo new > newfile
        echo more >> etc/passwd
        mv etc/os-release etc/renamed
        ln etc/renamed etc/hardlink
        rm bin/sgid
        mkdir newdir
        rm -r opq && mkdir opq && echo again > opq/file""")
    out = _sh(as_user, f"""cd {mnt}
        tail -n 1 etc/passwd
        ls etc/os-release 2>&1 || true
        stat -c '%h %n' etc/renamed
        ls opq""")
    assert out.splitlines() == ["more", "ls: cannot access 'etc/os-release': No such file or directory",
                                "2 etc/renamed", "file"], out
    # root of the namespace changes what belongs to the image's users
    _sh(as_user, f"""cd {mnt}
        echo hi >> srv/www/index.html
        chown 33:33 newfile
        rm srv/nobody""", unshare=True)
    out = _sh(as_user, f"stat -c '%u:%g' {mnt}/newfile")
    assert out == f"{u.host_uid(33)}:{u.host_gid(33)}\n"
    p = as_user("diff", mnt)
    assert p.returncode == 0, p.stderr
    # (the opaque opq: hides the image's opq/new, read from user.overlay.opaque)
    assert p.stdout.splitlines() == ["C /bin", "D /bin/sgid", "C /etc", "A /etc/hardlink", "D /etc/os-release",
                                     "C /etc/passwd", "A /etc/renamed", "A /newdir", "A /newfile", "C /opq",
                                     "D /opq/new", "A /opq/file", "C /srv", "D /srv/nobody", "C /srv/www",
                                     "C /srv/www/index.html"], p.stdout
    # the writable layer: overlayfs's format with the userxattr names, the
    # image's ids inside the namespace
    upper = next(os.path.join(as_user.root, "mounts", d, "upper") for d in os.listdir(os.path.join(as_user.root, "mounts")))
    out = _sh(as_user, f"cd {upper}; stat -c '%F %t:%T %u:%g %n' bin/sgid srv/www/index.html newfile; "
                       f"getfattr --only-values -n user.overlay.opaque opq; echo", unshare=True)
    assert out.splitlines() == ["character special file 0:0 0:0 bin/sgid",
                                "regular file 0:0 33:33 srv/www/index.html",
                                "regular file 0:0 33:33 newfile", "y"], out
    p = as_user("umount", mnt)
    assert p.returncode == 0, p.stderr
    assert os.listdir(os.path.join(as_user.root, "mounts")) == []


def test_umount_by_a_user_drops_the_writable_layer(as_user, user_mount, owners_image):
    """umount removes a writable layer of the user's own directories itself,
    and one with a directory the user cannot write (chmod 500 in the mount;
    test_mount_by_a_user_writes: one of id 33) in the store's namespace."""
    mnt = user_mount
    mounts = os.path.join(as_user.root, "mounts")
    for chmod in ("", "chmod 500 newdir"):
        if chmod:
            p = as_user("mount", owners_image.ref, mnt)
            assert p.returncode == 0, p.stderr
        _sh(as_user, f"""cd {mnt}
            mkdir -p newdir/deeper && echo x > newdir/deeper/f
            echo more >> etc/passwd
            {chmod}""")
        assert len(os.listdir(mounts)) == 1
        p = as_user("umount", mnt)
        assert p.returncode == 0, p.stderr
        assert os.listdir(mounts) == [], chmod
        assert not [n for n in os.listdir(os.path.join(as_user.root, "tmp")) if n.startswith("gone-mount-")]


def _ns_of(as_user, env=None):
    p = as_user("unshare", "readlink", "/proc/self/ns/user", env=env)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def _pause_pid(user):
    with open(os.path.join(user.runtime_dir, "strata-pause.pid")) as f:
        return int(f.read().split()[0])


def test_pause_process_keeps_one_namespace(as_user):
    """The first command leaves strata-pause in the namespace it made; the
    next ones join it (no newuidmap); once it is gone, the next command
    makes a namespace (and a pause process) anew."""
    u = as_user.user
    first = _ns_of(as_user)
    pid = _pause_pid(u)
    with open(f"/proc/{pid}/comm") as f:
        assert f.read().strip() == "strata-pause"
    assert os.stat(f"/proc/{pid}").st_uid == u.uid
    assert os.readlink(f"/proc/{pid}/ns/user") == first
    assert os.readlink(f"/proc/{pid}/ns/mnt") == os.readlink("/proc/self/ns/mnt"), "it holds no mount namespace of its own"
    # joining it: the same namespace, and no id mapper runs (a broken one first in PATH is never called)
    fake = os.path.join(os.path.dirname(as_user.root), "bin")
    os.makedirs(fake, exist_ok=True)
    for prog in ("newuidmap", "newgidmap"):
        with open(os.path.join(fake, prog), "w") as f:
            f.write("#!/bin/sh\nexit 1\n")
        os.chmod(os.path.join(fake, prog), 0o755)
    assert _ns_of(as_user, env=u.env(PATH=f"{fake}:/usr/bin:/bin")) == first
    p = as_user("unshare", "sh", "-c", "id -u; cat /proc/self/uid_map")
    assert p.returncode == 0 and p.stdout.split()[:4] == ["0", "0", str(u.uid), "1"], p.stdout
    os.kill(pid, 9)
    for _ in range(200):
        if not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split(") ")[1][0] == "Z":
            break
        time.sleep(0.01)
    # (not compared with the first: once the killed one is reaped, its
    # namespace's number may be given to the new one)
    second = _ns_of(as_user)
    new = _pause_pid(u)
    assert new != pid and os.readlink(f"/proc/{new}/ns/user") == second
    assert _ns_of(as_user) == second


def test_pause_process_with_other_maps_is_not_joined(as_user):
    """A pid file that names a process of the user in a namespace with other
    maps (a stale pause process; here `unshare -U -r`, the user alone) is
    not joined: that process is killed and a namespace made anew."""
    u = as_user.user
    p = subprocess.Popen(["setpriv", "--reuid", str(u.uid), "--regid", str(u.gid), "--init-groups", "--",
                          "unshare", "-U", "-r", "sleep", "60"], stdout=subprocess.DEVNULL)
    try:
        for _ in range(200):
            kids = subprocess.run(["pgrep", "-u", str(u.uid), "-x", "sleep"], capture_output=True, text=True)
            if kids.stdout.split():
                break
            time.sleep(0.01)
        other = int(kids.stdout.split()[0])
        start = open(f"/proc/{other}/stat").read().rsplit(") ", 1)[1].split()[19]
        other_ns = os.readlink(f"/proc/{other}/ns/user")
        with open(os.path.join(u.runtime_dir, "strata-pause.pid"), "w") as f:
            f.write(f"{other} {start}\n")
        mine = _ns_of(as_user)
        assert mine != other_ns
        p.wait(timeout=10)
        assert p.returncode == -9, "the stale pause process was killed"
        assert _pause_pid(u) != other
        assert _ns_of(as_user) == mine
    finally:
        p.kill()


def test_no_pause_process_without_a_private_runtime_dir(as_user):
    """XDG_RUNTIME_DIR missing, or not the user's own 0700 directory: each
    command makes its namespace (and leaves nothing behind)."""
    u = as_user.user
    shared = os.path.join(os.path.dirname(as_user.root), "rt")
    os.mkdir(shared, 0o755)
    os.chown(shared, u.uid, u.gid)
    no_dir = u.env()
    del no_dir["XDG_RUNTIME_DIR"]
    for env in (u.env(XDG_RUNTIME_DIR=shared), no_dir):
        # a command still in its namespace, and another one beside it
        bg = subprocess.Popen(["setpriv", "--reuid", str(u.uid), "--regid", str(u.gid), "--init-groups", "--",
                               as_user.bin, "--root", as_user.root, "unshare", "sh", "-c",
                               "readlink /proc/self/ns/user; exec sleep 60"],
                              stdout=subprocess.PIPE, text=True, env=env, cwd=u.home)
        try:
            first = bg.stdout.readline().strip()
            assert first.startswith("user:[")
            assert _ns_of(as_user, env=env) != first
        finally:
            bg.kill()
            bg.wait()
    assert os.listdir(shared) == []


@pytest.mark.parametrize("broken", ["newuidmap", "newgidmap"])
def test_a_failing_id_mapper_is_one_line(as_user, broken):
    """newuidmap and newgidmap run side by side: either one failing is said
    in one line (its own message above it)."""
    fake = os.path.join(os.path.dirname(as_user.root), "bin")    # where the user can reach it
    os.mkdir(fake, 0o755)
    with open(os.path.join(fake, broken), "w") as f:
        f.write(f"#!/bin/sh\necho '{broken}: refused by the test' >&2\nexit 1\n")
    os.chmod(os.path.join(fake, broken), 0o755)
    env = as_user.user.env(PATH=f"{fake}:/usr/sbin:/usr/bin:/sbin:/bin")
    del env["XDG_RUNTIME_DIR"]      # a namespace made anew, not the pause process's
    p = as_user("unshare", "true", env=env)
    assert p.returncode != 0
    lines = p.stderr.splitlines()
    assert lines[0] == f"{broken}: refused by the test", p.stderr
    assert len(lines) == 2 and lines[1].startswith("strata: ") and "map ids 0-65536 of the user namespace" in lines[1] \
        and f"{broken} " in lines[1] and "failed" in lines[1], p.stderr


def test_run_by_a_user(as_user, owners_image, dev_fuse_for_users):
    u = as_user.user
    p = as_user("run", "--rm", owners_image.ref, "sh", "-c",
                "id -u; cat /proc/self/uid_map; stat -c '%u:%g %a %n' /srv/www /srv/nobody /bin/ids; "
                "echo $$; hostname; echo written > /srv/www/new; stat -c '%u:%g' /srv/www/new")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "0"
    assert [l.split() for l in lines[1:3]] == [["0", str(u.uid), "1"], ["1", str(u.subuid[0]), str(RANGE)]]
    assert lines[3:6] == ["33:33 750 /srv/www", "65534:65534 600 /srv/nobody", "0:0 4755 /bin/ids"], p.stdout
    assert lines[6] == "1", "the command is pid 1 of its own pid namespace"
    assert len(lines[7]) == 12
    assert lines[8] == "0:0"
    # a setuid program works: nobody runs it as root (root of the namespace)
    p = as_user("run", "--rm", "-u", "nobody", owners_image.ref, "/bin/ids")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "65534 0\n"
    # and the container's root is the user outside: a file the host's root owns stays closed
    p = as_user("run", "--rm", "-v", "/etc/shadow:/shadow:ro", owners_image.ref, "cat", "/shadow")
    assert p.returncode == 1 and "Permission denied" in p.stderr, p


def test_run_privileged_needs_root(as_user, owners_image):
    p = as_user("run", "--rm", "--privileged", owners_image.ref, "true")
    assert p.returncode == 125
    assert p.stderr.splitlines() == [f"strata: run {owners_image.ref}: --privileged needs root: a user's container "
                                     "has the user's privileges only (its root is the user outside)"]


def test_commit_by_a_user(as_user, user_mount):
    mnt = user_mount
    _sh(as_user, f"cd {mnt}; echo c > committed; chown 33:33 committed; chmod 4750 committed; "
                 f"rm -r opq; mkdir opq; rm srv/nobody", unshare=True)
    p = as_user("commit", mnt, "mine:1")
    assert p.returncode == 0, p.stderr
    p = as_user("run", "--rm", "mine:1", "sh", "-c", "stat -c '%u:%g %a' /committed; ls -A /opq; ls /srv")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["33:33 4750", "link", "www"], p.stdout
    # the layer commit made carries the owners in its tar
    p = as_user("save", "-o", os.path.join(os.path.dirname(as_user.root), "mine.tar"), "mine:1")
    assert p.returncode == 0, p.stderr
    import tarfile
    with tarfile.open(os.path.join(os.path.dirname(as_user.root), "mine.tar")) as t:
        names = [m.name for m in t.getmembers() if m.name.endswith((".tar", ".tar.gz")) or "blobs/" in m.name]
        found = None
        for n in names:
            f = t.extractfile(n)
            if f is None:
                continue
            data = f.read()
            try:
                import gzip
                import io
                inner = tarfile.open(fileobj=io.BytesIO(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data))
                m = next((m for m in inner.getmembers() if m.name in ("committed", "./committed")), None)
            except (tarfile.TarError, OSError, EOFError):
                continue
            if m:
                found = (m.uid, m.gid, m.mode & 0o7777)
        assert found == (33, 33, 0o4750)


def test_info_says_rootless_and_the_ranges(as_user, as_single, strata):
    u = as_user.user
    p = as_user("info")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    i = lines.index("Rootless: true (the store's user namespace; overlay xattrs user.overlay.*)")
    s, c = u.subuid
    assert lines[i + 1:i + 3] == [f" UID Map: 0-0 -> {u.uid}-{u.uid}, 1-{c} -> {s}-{s + c - 1} (from /etc/subuid)",
                                  f" GID Map: 0-0 -> {u.gid}-{u.gid}, 1-{c} -> {u.subgid[0]}-{u.subgid[0] + c - 1}"
                                  " (from /etc/subgid)"], p.stdout
    p = as_user("info", "--format", "{{.IDMaps.UIDMap}} {{.IDMaps.Rootless}}")
    assert p.stdout == f"0:{u.uid}:1:1:{s}:{c} true\n", p
    p = as_single("info")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    i = lines.index("Rootless: true (the store's user namespace; overlay xattrs user.overlay.*)")
    n = as_single.user.name
    assert lines[i + 1:i + 4] == [
        f" UID Map: 0-0 -> {as_single.user.uid}-{as_single.user.uid} (from none in /etc/subuid for {n})",
        f" GID Map: 0-0 -> {as_single.user.gid}-{as_single.user.gid} (from none in /etc/subgid for {n})",
        " Owners: in the user.containers.override_stat xattr (one id mapped)"], p.stdout
    r = strata("info").check()
    assert "Rootless: false (root: the host's ids; overlay xattrs trusted.overlay.*)" in r.lines


def _build_context(who, containerfile):
    """A build context the user owns, holding @containerfile's lines."""
    ctx = os.path.join(os.path.dirname(who.root), "ctx")
    who.user.run(["mkdir", ctx])
    who.user.run(["sh", "-c", 'printf "%s\\n" "$@" > ' + f"{ctx}/Containerfile", "sh"] + containerfile)
    return ctx


def test_build_by_a_user(as_user, owners_image, dev_fuse_for_users):
    ctx = _build_context(as_user, [f"FROM {owners_image.ref}",
                                   "RUN echo built > /built && chown 65534:33 /built && chmod 2640 /built"])
    p = as_user("build", "-q", "-t", "built:1", ctx)
    assert p.returncode == 0, p.stderr
    p = as_user("run", "--rm", "built:1", "stat", "-c", "%u:%g %a", "/built", "/srv/www")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["65534:33 2640", "33:33 750"]


def test_no_subordinate_range_mount_and_commit_keep_the_owners(as_single, owners_image, dev_fuse_for_users):
    """One id: the mount shows the files as the user's (nothing else can be
    shown), and a commit writes the owners the xattr kept into its tar."""
    u = as_single.user
    assert as_single("pull", "-q", owners_image.ref).returncode == 0
    mnt = os.path.join(os.path.dirname(as_single.root), "mnt")
    u.run(["mkdir", mnt])
    p = as_single("mount", owners_image.ref, mnt)
    assert p.returncode == 0, p.stderr
    try:
        p = u.run(["sh", "-ec", f"echo more >> {mnt}/srv/www/index.html; stat -c '%u:%g %a' {mnt}/srv/www/index.html; "
                                f"chmod 604 {mnt}/srv/www/index.html; stat -c '%u:%g %a' {mnt}/srv/www/index.html"])
        assert p.returncode == 0, p.stderr
        assert p.stdout.splitlines() == [f"{u.uid}:{u.gid} 640", f"{u.uid}:{u.gid} 604"]
        p = as_single("commit", mnt, "single:1")
        assert p.returncode == 0, p.stderr
    finally:
        as_single("umount", mnt)
        subprocess.run(["umount", "-l", mnt], capture_output=True)
    out = os.path.join(os.path.dirname(as_single.root), "single.tar")
    p = as_single("save", "-o", out, "single:1")
    assert p.returncode == 0, p.stderr
    import tarfile
    with tarfile.open(out) as t:
        layers = [m for m in t.getmembers() if m.name.endswith(".tar")]
        seen = []
        for m in layers:
            with tarfile.open(fileobj=t.extractfile(m)) as inner:
                seen += [(x.size, x.uid, x.gid, x.mode & 0o7777) for x in inner.getmembers()
                         if x.name == "srv/www/index.html"]
    assert sorted(seen) == [(6, 33, 33, 0o640), (11, 33, 33, 0o604)], seen


import json  # noqa: E402

import test_fs_diff  # noqa: E402

DIFF_HELPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers", "rootless_diff.py")


@pytest.mark.parametrize("what", sorted(test_fs_diff.SCENARIOS) + ["seed:1", "seed:2", "seed:3"])
def test_differential_against_the_kernels_userxattr_overlay(as_user, dev_fuse_for_users, what):
    """test_fs_diff.py's scenarios as a user, in the store's namespace: strata
    -o userxattr against the kernel's overlayfs mounted with userxattr there."""
    work = os.path.join(os.path.dirname(as_user.root), "diff")
    as_user.user.run(["mkdir", work])
    p = as_user("unshare", "/usr/bin/python3", DIFF_HELPER, as_user.bin, work, what, root=False,
                env=as_user.user.env(PYTHONDONTWRITEBYTECODE="1"))
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["stderr"] == "", "strata daemon stderr:\n" + r["stderr"]
    assert not r["diffs"], "operations differ:\n" + "\n".join(r["diffs"])
    assert not r["trees"], "trees differ:\n" + "\n".join(r["trees"])


@pytest.mark.parametrize("opt", ["uidmapping=0:1000", "gidmapping=0:1000:0", "uidmapping=a:b:c",
                                 "uidmapping=0:1000:1:", "gidmapping="])
def test_bad_id_mapping_is_a_usage_error(strata, tmp_path, opt):
    (tmp_path / "l").mkdir()
    (tmp_path / "m").mkdir()
    r = strata("mount", "-o", f"lowerdir={tmp_path}/l,{opt}", tmp_path / "m")
    assert r.rc == 2 and r.err_lines == [
        f"strata mount: {opt}: not IN:OUT:COUNT[:IN:OUT:COUNT...] (see 'strata mount --help')"], r


def test_uidmapping_as_root_shows_the_ids_mapped(strata, tmp_path, mountpoint):
    """fuse-overlayfs's semantics, for root too (podman passes them): an id
    on disk is shown through the map, one outside it as 65534."""
    low = tmp_path / "l"
    low.mkdir()
    for name, uid in (("a", 0), ("b", 1), ("c", 5000)):
        (low / name).write_text(name)
        os.chown(low / name, uid, uid)
    r = strata("mount", "-o", f"lowerdir={low},uidmapping=0:1000:1:1:100000:100,gidmapping=0:2000:10", mountpoint)
    assert r.rc == 0, r
    got = [(os.lstat(os.path.join(mountpoint, n)).st_uid, os.lstat(os.path.join(mountpoint, n)).st_gid)
           for n in ("a", "b", "c")]
    assert got == [(1000, 2000), (100000, 2001), (65534, 65534)]
    strata("umount", mountpoint).check()


def test_push_by_a_user_keeps_the_owners(as_user, user_mount, session_registry, strata, store_root):
    """A user's commit pushed, then pulled by root: root's store has the owners."""
    _sh(as_user, f"cd {user_mount}; echo p > pushed; chown 33:65534 pushed; chmod 2755 pushed", unshare=True)
    assert as_user("commit", user_mount, "pushme:1").returncode == 0
    dest = f"{session_registry.host}/test/rootless-pushed:1"
    p = as_user("push", "-q", "pushme:1", dest)
    assert p.returncode == 0, p.stderr
    strata("pull", "-q", dest).check()
    found = [os.lstat(os.path.join(store_root, "layers", d, "diff", "pushed"))
             for d in os.listdir(os.path.join(store_root, "layers"))
             if os.path.lexists(os.path.join(store_root, "layers", d, "diff", "pushed"))]
    assert [(st.st_uid, st.st_gid, st.st_mode & 0o7777) for st in found] == [(33, 65534, 0o2755)]


def test_save_and_load_by_a_user(as_user, owners_image):
    assert as_user("pull", "-q", owners_image.ref).returncode == 0
    tar = os.path.join(os.path.dirname(as_user.root), "owners.tar")
    p = as_user("save", "-o", tar, owners_image.ref)
    assert p.returncode == 0, p.stderr
    assert as_user("rmi", owners_image.ref).returncode == 0
    assert _layer_dirs(as_user.root) == []
    p = as_user("load", "-q", "-i", tar)
    assert p.returncode == 0, p.stderr
    st = os.lstat(_find(as_user.root, "srv/www"))
    assert (st.st_uid, st.st_gid) == (as_user.user.host_uid(33), as_user.user.host_gid(33))


def test_run_without_a_subordinate_range(as_single, owners_image, dev_fuse_for_users):
    """One id: the one-line warning, then a container whose root is the
    user; the owners the xattr keeps show as 0 (no other id exists there)."""
    u = as_single.user
    assert as_single("pull", "-q", owners_image.ref).returncode == 0
    p = as_single("run", "--rm", owners_image.ref, "sh", "-c",
                  "id -u; cat /proc/self/uid_map; stat -c '%u:%g %a %n' /srv/www /srv/nobody /bin/ids; "
                  "cat /srv/www/index.html; echo written > /srv/www/new; stat -c '%u:%g' /srv/www/new; echo $$")
    assert p.returncode == 0, p.stderr
    assert p.stderr.splitlines() == [
        f"strata: no subordinate id range for {u.name} (none in /etc/subuid for {u.name}): one id only; "
        "the image's owners are kept in the user.containers.override_stat xattr "
        "(add a range: usermod --add-subuids/--add-subgids)"], p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "0"
    assert lines[1].split() == ["0", str(u.uid), "1"]
    assert lines[2:5] == ["0:0 750 /srv/www", "0:0 600 /srv/nobody", "0:0 4755 /bin/ids"], p.stdout
    assert lines[5:] == ["hello", "0:0", "1"], p.stdout
    # no other id exists there: -u with one is one line
    p = as_single("run", "--rm", "-u", "nobody", owners_image.ref, "id")
    assert p.returncode == 125
    assert p.stderr.splitlines()[1:] == [
        f"strata: run {owners_image.ref}: user nobody: uid 65534 is not mapped in this user's namespace "
        "(it maps 0 only: no subordinate range in /etc/subuid)"], p.stderr
    p = as_single("run", "--rm", "-u", "0:33", owners_image.ref, "id")
    assert p.returncode == 125
    assert p.stderr.splitlines()[1:] == [
        f"strata: run {owners_image.ref}: user 0:33: gid 33 is not mapped in this user's namespace "
        "(it maps 0 only: no subordinate range in /etc/subuid)"], p.stderr


def test_build_without_a_subordinate_range(as_single, owners_image, dev_fuse_for_users):
    ctx = _build_context(as_single, [f"FROM {owners_image.ref}",
                                     "RUN echo built > /built && cat /srv/www/index.html >> /built && chmod 4750 /built"])
    p = as_single("build", "-q", "-t", "built:1", ctx)
    assert p.returncode == 0, p.stderr
    p = as_single("run", "--rm", "built:1", "sh", "-c", "stat -c '%u:%g %a' /built; cat /built")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["0:0 4750", "built", "hello"]


def _user_tree(user, base, layers):
    """Layer dirs @layers ({name: [(path, data or None for a dir)]}) below
    @base, the user's; returns their paths, top first."""
    out = []
    for name, entries in layers:
        d = os.path.join(base, name)
        os.makedirs(d)
        for rel, data in entries:
            p = os.path.join(d, rel)
            if data is None:
                os.makedirs(p, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(p), exist_ok=True)
                with open(p, "wb") as f:
                    f.write(data)
        out.append(d)
    subprocess.run(["chown", "-R", f"{user.uid}:{user.gid}", base], check=True)
    return out


def test_root_reads_an_upper_the_kernel_wrote_with_userxattr(as_user, tmp_path, mounts):
    """The kernel's overlayfs with userxattr, in the user's namespace, writes
    an upper dir in the user.overlay.* form (an opaque directory, whiteouts,
    a directory renamed by copy, copy-ups); root's strata (trusted.overlay.*
    its own form) reads that form too: its tree is the kernel's."""
    from fsops import Mount, diff_snapshots, snapshot
    u = as_user.user
    base = os.path.join(os.path.dirname(as_user.root), "kx")
    os.mkdir(base)
    os.chown(base, u.uid, u.gid)
    lowers = _user_tree(u, os.path.join(base, "layers"), [
        ("L0", [("d", None), ("d/c", b"c\n"), ("top", b"top\n")]),
        ("L1", [("d", None), ("d/a", b"a\n"), ("d/b", b"b\n"), ("keep", None), ("keep/x", b"x\n"),
                ("mv-src", None), ("mv-src/f", b"f\n"), ("file1", b"1\n"), ("gone", b"g\n")])])
    for d in ("upper", "work", "mnt"):
        u.run(["mkdir", os.path.join(base, d)])
    o = f"userxattr,lowerdir={':'.join(lowers)},upperdir={base}/upper,workdir={base}/work"
    _sh(as_user, f"""mount -t overlay -o {o} overlay {base}/mnt
        cd {base}/mnt
        rm -r d; mkdir d; echo new > d/n
        mv file1 file1-moved; rm gone; mv mv-src mv-dst
        echo more >> keep/x; chmod 600 top; setfattr -n user.k -v v top; ln -s top sym
        cd /; umount {base}/mnt""", unshare=True)
    up = os.path.join(base, "upper")
    assert os.getxattr(os.path.join(up, "d"), "user.overlay.opaque") == b"y"
    assert "trusted.overlay.opaque" not in os.listxattr(os.path.join(up, "d"))
    layers = [up] + lowers
    k = os.path.join(str(tmp_path), "k")
    os.mkdir(k)
    subprocess.run(["mount", "-t", "overlay", "-o", f"ro,userxattr,lowerdir={':'.join(layers)}", "overlay", k],
                   check=True)
    mounts.track(k)
    try:
        s = Mount("strata", os.path.join(str(tmp_path), "s"), layers, as_user.bin,
                  upper=False)
        try:
            got, want = snapshot(s.mnt), snapshot(k)
        finally:
            err = s.close()
    finally:
        subprocess.run(["umount", k], check=True)
    assert err == ""
    assert not diff_snapshots(want, got), "\n".join(diff_snapshots(want, got))
    assert sorted(want) == ["d", "d/n", "file1-moved", "keep", "keep/x", "mv-dst", "mv-dst/f", "sym", "top"]
    assert want["top"][7] == {"user.k": b"v"} and want["top"][1] == 0o600


def test_root_reads_a_users_writable_layer(as_user, user_mount, tmp_path):
    """A user's mount writes user.overlay.* (a chmod of an image file is a
    metacopy: the upper file has no data, user.overlay.metacopy says where
    it is); root's strata over that upper dir reads the mark, the data and
    the opaque directory as the user's mount showed them."""
    from fsops import Mount
    mnt = user_mount
    _sh(as_user, f"cd {mnt}; chmod 600 etc/os-release; rm -r opq; mkdir opq; echo again > opq/file")
    with open(os.path.join(_find(as_user.root, "etc/os-release")), "rb") as f:
        data = f.read()
    live = next(os.path.join(as_user.root, "mounts", d, "upper") for d in os.listdir(os.path.join(as_user.root, "mounts")))
    os.mkdir(tmp_path / "s")
    upper = str(tmp_path / "s" / "upper")
    subprocess.run(["cp", "-a", live, upper], check=True)      # umount removes it
    assert as_user("umount", mnt).returncode == 0
    assert "user.overlay.metacopy" in os.listxattr(os.path.join(upper, "etc/os-release"))
    with open(os.path.join(upper, "etc/os-release"), "rb") as f:
        assert f.read() == bytes(len(data)) and data.strip(b"\0"), "a metacopy file has a size, no data"
    lower = os.path.dirname(os.path.dirname(_find(as_user.root, "etc/os-release")))
    s = Mount("strata", str(tmp_path / "s"), [lower], as_user.bin)         # upperdir=s/upper
    try:
        p = os.path.join(s.mnt, "etc/os-release")
        got = (open(p, "rb").read(), stat.S_IMODE(os.lstat(p).st_mode), sorted(os.listdir(os.path.join(s.mnt, "opq"))),
               [x for x in os.listxattr(p, follow_symlinks=False) if "overlay" in x])
        with open(p, "ab") as f:        # the data comes up; the user's mark goes
            f.write(b"+")
    finally:
        err = s.close()
    assert err == ""
    assert got == (data, 0o600, ["file"], [])
    with open(os.path.join(upper, "etc/os-release"), "rb") as f:
        assert f.read() == data + b"+"
    assert [x for x in os.listxattr(os.path.join(upper, "etc/os-release")) if "metacopy" in x] == []


def test_detached_container_by_a_user(as_user, owners_image, dev_fuse_for_users):
    """run -d, ps, exec, logs, stop, start, rm as a user."""
    p = as_user("run", "-d", "--name", "bg", owners_image.ref, "sh", "-c",
                "echo started; trap 'echo bye; exit 0' TERM; while :; do sleep 0.1; done")
    assert p.returncode == 0, p.stderr
    cid = p.stdout.strip()
    assert len(cid) == 12, p.stdout
    p = as_user("ps", "--format", "{{.Names}} {{.Status}}")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("bg Up"), p.stdout
    p = as_user("exec", "bg", "sh", "-c", "id -u; stat -c '%u:%g' /srv/www; cat /proc/1/cmdline | tr '\\0' ' '")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[:2] == ["0", "33:33"], p.stdout
    p = as_user("exec", "-u", "nobody", "bg", "id", "-u")
    assert (p.returncode, p.stdout) == (0, "65534\n"), p
    p = as_user("logs", "bg")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[0] == "started", p.stdout
    p = as_user("stop", "bg")
    assert p.returncode == 0, p.stderr
    p = as_user("logs", "bg")
    assert p.stdout.splitlines() == ["started", "bye"], p.stdout
    p = as_user("ps", "-a", "--format", "{{.Names}} {{.Status}}")
    assert p.stdout.startswith("bg Exited (0)"), p.stdout
    p = as_user("start", "bg")
    assert p.returncode == 0, p.stderr
    p = as_user("rm", "-f", "bg")
    assert p.returncode == 0, p.stderr
    p = as_user("ps", "-a", "-q")
    assert (p.returncode, p.stdout) == (0, ""), p
    assert os.listdir(os.path.join(as_user.root, "mounts")) == []


def test_several_subordinate_ranges_are_all_used(as_ranges, owners_image, image_builder, session_registry,
                                                 dev_fuse_for_users):
    """Every /etc/subuid line of the user, one after the other (podman's way):
    ids 1..100 are the first range, 101..100100 the second."""
    u = as_ranges.user
    (s1, c1), (s2, c2) = RANGES
    p = as_ranges("info")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    i = lines.index("Rootless: true (the store's user namespace; overlay xattrs user.overlay.*)")
    assert lines[i + 1:i + 3] == [
        f" UID Map: 0-0 -> {u.uid}-{u.uid}, 1-{c1} -> {s1}-{s1 + c1 - 1}, {c1 + 1}-{c1 + c2} -> {s2}-{s2 + c2 - 1}"
        " (from /etc/subuid, 2 ranges)",
        f" GID Map: 0-0 -> {u.gid}-{u.gid}, 1-{c1} -> {s1}-{s1 + c1 - 1}, {c1 + 1}-{c1 + c2} -> {s2}-{s2 + c2 - 1}"
        " (from /etc/subgid, 2 ranges)"], p.stdout
    p = as_ranges("info", "--format", "{{.IDMaps.UIDMap}}")
    assert p.stdout == f"0:{u.uid}:1:1:{s1}:{c1}:{c1 + 1}:{s2}:{c2}\n", p
    img = image_builder.push_raw(session_registry, "test/rootless-high:1",
                                 layers=[[Dir("etc"), File("etc/high", b"x", 0o644, uid=70000, gid=100100),
                                          File("etc/over", b"x", 0o644, uid=100101, gid=0)]])
    p = as_ranges("pull", "-q", img.ref)
    assert p.returncode != 0
    assert "entry \"etc/over\": uid 100101 is outside the ids this user's namespace maps (0..100100)" \
        in p.stderr.splitlines()[-1], p.stderr
    p = as_ranges("pull", "-q", owners_image.ref)
    assert p.returncode == 0, p.stderr
    st = os.lstat(_find(as_ranges.root, "srv/www"))
    assert (st.st_uid, st.st_gid) == (s1 + 32, s1 + 32)
    st = os.lstat(_find(as_ranges.root, "srv/nobody"))
    assert (st.st_uid, st.st_gid) == (s2 + 65534 - c1 - 1, s2 + 65534 - c1 - 1)
    p = as_ranges("run", "--rm", "-u", "nobody", owners_image.ref, "sh", "-c",
                  "id -u; cat /proc/self/uid_map; stat -c '%u:%g' /srv/www /srv/nobody")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "65534"
    assert [l.split() for l in lines[1:4]] == [["0", str(u.uid), "1"], ["1", str(s1), str(c1)],
                                               [str(c1 + 1), str(s2), str(c2)]], p.stdout
    assert lines[4:] == ["33:33", "65534:65534"], p.stdout
    mnt = os.path.join(os.path.dirname(as_ranges.root), "mnt")
    u.run(["mkdir", mnt])
    p = as_ranges("mount", owners_image.ref, mnt)
    assert p.returncode == 0, p.stderr
    try:
        p = u.run(["stat", "-c", "%u:%g", f"{mnt}/srv/www", f"{mnt}/srv/nobody", f"{mnt}/bin/suid"])
        assert p.stdout.splitlines() == [f"{s1 + 32}:{s1 + 32}", f"{s2 + 65433}:{s2 + 65433}", f"{u.uid}:{u.gid}"], p
    finally:
        as_ranges("umount", mnt)
        subprocess.run(["umount", "-l", mnt], capture_output=True)
