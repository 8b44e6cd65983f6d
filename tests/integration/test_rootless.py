"""Rootless strata: a normal user (created here, with a subordinate id range
as podman needs) pulls, looks into its store's user namespace and mounts,
with the image's owners kept (util/userns.h, README "Rootless")."""
import os
import pwd
import shutil
import stat
import subprocess
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

    def _sub(self, path):
        with open(path) as f:
            for line in f:
                n, s, c = line.strip().split(":")
                if n == self.name:
                    return int(s), int(c)
        return None

    def env(self, **extra):
        e = {"HOME": self.home, "USER": self.name, "LOGNAME": self.name,
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
        subprocess.run(["userdel", "-r", "-f", self.name], capture_output=True)


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


@pytest.fixture
def as_user(rootless_user, strata_bin):
    d = _workdir(rootless_user)
    yield As(rootless_user, strata_bin, os.path.join(d, "store"))
    # the store holds files of the user's range: remove them from its namespace
    rootless_user.run([strata_bin, "unshare", "rm", "-rf", d])
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def as_single(single_user, strata_bin):
    d = _workdir(single_user)
    yield As(single_user, strata_bin, os.path.join(d, "store"))
    shutil.rmtree(d, ignore_errors=True)


def owners_layers(image_builder):
    bb = image_builder.busybox_entries()
    owned = [Dir("srv", 0o755), Dir("srv/www", 0o750, uid=33, gid=33),
             File("srv/www/index.html", b"hello\n", 0o640, uid=33, gid=33),
             File("srv/nobody", b"n\n", 0o600, uid=65534, gid=65534),
             File("bin/suid", b"#!/bin/sh\nid\n", 0o4755),
             File("bin/sgid", b"#!/bin/sh\nid\n", 0o2755, gid=33),
             Symlink("srv/link", "www/index.html", uid=33, gid=33),
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
    wh = _find(as_user.root, "gone/a")
    st = os.lstat(wh)
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
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
