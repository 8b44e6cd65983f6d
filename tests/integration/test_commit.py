"""strata commit: a mount's writable layer (overlayfs form) becomes an OCI
layer and a new image in the store: whiteouts, opaque dirs, a renamed lower
dir, a metacopy file, hard links (also lower ones only half linked up),
xattrs; the new image mounts without extraction, can be committed from
again; the same change gives the same diff_id, and with SOURCE_DATE_EPOCH
the same image; the config carries -c changes and a history entry."""
import hashlib
import io
import json
import os
import stat
import subprocess
import tarfile

import pytest

from helpers import Dir, File, Hardlink, Symlink, gzip_bytes  # noqa: F401

pytestmark = pytest.mark.fuse

# a v2 file capability: cap_net_bind_service (10) permitted + effective
CAP = bytes.fromhex("01000002" "00040000" "00000000" "00000000" "00000000")


def tree(root):
    """{path: (type, mode, uid, gid, size, sha256|target|rdev, xattrs)} of
    everything under @root, and the hard link groups (sets of paths)."""
    out, inodes = {}, {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            xa = {}
            if not stat.S_ISLNK(st.st_mode):
                for k in os.listxattr(p, follow_symlinks=False):
                    if k.startswith("trusted.overlay.") or k.startswith("user.overlay."):
                        continue
                    xa[k] = os.getxattr(p, k, follow_symlinks=False)
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    what = hashlib.sha256(f.read()).hexdigest()
                if st.st_nlink > 1:
                    inodes.setdefault(st.st_ino, set()).add(rel)
            elif stat.S_ISLNK(st.st_mode):
                what = os.readlink(p)
            elif stat.S_ISDIR(st.st_mode):
                what = None
            else:
                what = st.st_rdev
            size = st.st_size if stat.S_ISREG(st.st_mode) else 0
            out[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, size, what,
                        tuple(sorted(xa.items())))
    links = sorted(sorted(g) for g in inodes.values() if len(g) > 1)
    return out, links


def diff_trees(a, b):
    lines = []
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            lines.append(f"{k}: {a.get(k)} != {b.get(k)}")
    return lines


BASE = [
    [Dir("etc"), File("etc/a", b"gone soon\n"), File("etc/meta", b"metadata only\n" * 100, mode=0o644),
     Dir("old"), File("old/x", b"x\n"), Dir("old/sub"), File("old/sub/y", b"y\n", uid=7, gid=8),
     Dir("opq"), File("opq/keep1", b"1\n"), File("opq/keep2", b"2\n"),
     File("hl1", b"linked\n"), Hardlink("hl2", "hl1"), Hardlink("etc/hl3", "hl1"),
     Symlink("lnk", "etc/meta")],
    [File("etc/b", b"second layer\n", mode=0o600, uid=1000, gid=1000)],
]


@pytest.fixture
def base_image(build_image, session_registry, strata):
    img = build_image(session_registry, "test/commitbase:1", layers=BASE,
                      config={"Env": ["PATH=/bin", "A=1"], "Cmd": ["/bin/sh"], "WorkingDir": "/"})
    strata("pull", img.ref).check()
    return img.ref


def change(mnt):
    """Every kind of change the writable layer can hold."""
    os.unlink(f"{mnt}/etc/a")                                  # whiteout
    os.chmod(f"{mnt}/etc/meta", 0o600)                         # metacopy
    os.chown(f"{mnt}/etc/meta", 5, 6)
    os.rename(f"{mnt}/old", f"{mnt}/new")                      # renamed lower dir
    for n in os.listdir(f"{mnt}/opq"):                         # opaque dir
        os.unlink(f"{mnt}/opq/{n}")
    os.rmdir(f"{mnt}/opq")
    os.mkdir(f"{mnt}/opq", 0o750)
    with open(f"{mnt}/opq/fresh", "w") as f:
        f.write("fresh\n")
    with open(f"{mnt}/hl1", "a") as f:                         # lower hard link, copied up once
        f.write("more\n")
    with open(f"{mnt}/added", "wb") as f:                      # xattrs
        f.write(b"\x00" * 5000 + b"data")
    os.setxattr(f"{mnt}/added", "user.note", b"hello")
    os.setxattr(f"{mnt}/added", "security.capability", CAP)
    os.link(f"{mnt}/added", f"{mnt}/etc/added-link")           # upper hard link
    os.symlink("../added", f"{mnt}/etc/sym")
    os.mkfifo(f"{mnt}/etc/fifo", 0o600)
    os.makedirs(f"{mnt}/deep/er/est", 0o711)


def layer_members(store_root, image_id):
    """The tar members of the top layer of @image_id, from its stored blob."""
    from helpers.store import snapshot  # noqa: F401
    with open(os.path.join(store_root, "images.json")) as f:
        rec = json.load(f)["images"][image_id]
    top = rec["layers"][-1]
    with open(os.path.join(store_root, "blobs", "sha256", top["digest"][7:]), "rb") as f:
        blob = f.read()
    assert hashlib.sha256(blob).hexdigest() == top["digest"][7:]
    if blob[:4] == b"\x28\xb5\x2f\xfd":
        blob = subprocess.run(["zstd", "-dc"], input=blob, stdout=subprocess.PIPE, check=True).stdout
    t = tarfile.open(fileobj=io.BytesIO(blob), mode="r:*")
    return top, t.getmembers(), t


def test_commit_every_change(strata, base_image, tmp_path, mounts, store_root):
    m1 = mounts.track(str(tmp_path / "m1"))
    os.mkdir(m1)
    strata("mount", base_image, m1).check()
    change(m1)
    before, links_before = tree(m1)
    r = strata("commit", "-m", "every change", "-a", "Tester <t@example.com>", m1, "test/committed:1").check()
    image_id = r.out.strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71, r.out

    # the mount goes on as it was
    assert tree(m1) == (before, links_before)

    # the layer tar says it in OCI words
    top, members, t = layer_members(store_root, image_id)
    names = {m.name.rstrip("/"): m for m in members}
    assert "etc/.wh.a" in names and names["etc/.wh.a"].size == 0
    assert ".wh.old" in names
    assert "new/sub/y" in names and names["new/sub/y"].uid == 7   # the whole renamed tree
    assert "new/x" in names
    assert "opq/.wh..wh..opq" in names and "opq/fresh" in names
    assert "opq/keep1" not in names
    meta = names["etc/meta"]
    assert meta.isfile() and meta.size == len(b"metadata only\n" * 100) and meta.mode == 0o600
    assert t.extractfile(meta).read() == b"metadata only\n" * 100      # data from the lower layer
    assert names["added"].pax_headers.get("SCHILY.xattr.user.note") == "hello"
    assert "SCHILY.xattr.security.capability" in names["added"].pax_headers
    assert names["etc/added-link"].islnk() and names["etc/added-link"].linkname == "added"
    # the three names of the lower hard link: one file, two links to it
    hl = [names[n] for n in ("etc/hl3", "hl1", "hl2")]
    assert hl[0].isfile() and t.extractfile(hl[0]).read() == b"linked\nmore\n"
    assert hl[1].islnk() and hl[1].linkname == "etc/hl3" and hl[2].islnk()
    assert not any("overlay" in k for m in members for k in m.pax_headers), \
        [m.pax_headers for m in members if m.pax_headers]
    # sorted by the names in the layer (a whiteout where its name sorts), a directory first
    def key(n):
        parts = n.rstrip("/").split("/")
        if parts[-1] == ".wh..wh..opq":
            parts[-1] = ""
        elif parts[-1].startswith(".wh."):
            parts[-1] = parts[-1][4:]
        return parts
    order = [m.name for m in members]
    assert order == sorted(order, key=key), order

    # the new image: in the store at once, mounted without extraction, the same tree
    m2 = mounts.track(str(tmp_path / "m2"))
    os.mkdir(m2)
    strata("mount", "test/committed:1", m2).check()
    after, links_after = tree(m2)
    assert diff_trees(before, after) == []
    assert links_after == links_before
    layer_dir = os.path.join(store_root, "layers", top["diff_id"][7:], "diff")
    assert os.path.isdir(layer_dir)
    assert not any(k.startswith("trusted.overlay.strata") or k == "trusted.overlay.metacopy"
                   for d, _, fs in os.walk(layer_dir) for n in fs
                   for k in os.listxattr(os.path.join(d, n), follow_symlinks=False))

    # config: the parent's plus the layer, the history entry, the author
    cfg = json.loads(strata("inspect", "test/committed:1").check().out)[0]
    assert cfg["Author"] == "Tester <t@example.com>" or cfg.get("author") == "Tester <t@example.com>" \
        or "Tester" in json.dumps(cfg)
    with open(os.path.join(store_root, "blobs", "sha256", image_id[7:])) as f:
        conf = json.load(f)
    assert conf["rootfs"]["diff_ids"][-1] == top["diff_id"] and len(conf["rootfs"]["diff_ids"]) == 3
    assert conf["config"]["Env"] == ["PATH=/bin", "A=1"]
    assert conf["history"][-1]["comment"] == "every change"
    assert conf["author"] == "Tester <t@example.com>"

    # committed from again: a mount of the new image, one more change
    with open(f"{m2}/etc/b", "a") as f:
        f.write("again\n")
    r = strata("commit", m2, "test/committed:2").check()
    m3 = mounts.track(str(tmp_path / "m3"))
    os.mkdir(m3)
    strata("mount", "test/committed:2", m3).check()
    assert diff_trees(tree(m2)[0], tree(m3)[0]) == []


def test_commit_changes_and_determinism(strata, base_image, tmp_path, mounts, store_root, strata_env):
    m1 = mounts.track(str(tmp_path / "m1"))
    os.mkdir(m1)
    strata("mount", base_image, m1).check()
    change(m1)
    env = dict(strata_env, SOURCE_DATE_EPOCH="1700000000")
    args = ["-c", "ENV B=2 A=3", "-c", 'CMD ["/bin/echo", "hi"]', "-c", "EXPOSE 8080/udp 80",
            "-c", "LABEL x=y 'long key'=\"a b\"", "-c", "USER 1000:1000", "-c", "WORKDIR /srv",
            "-c", "VOLUME /data", "-c", "STOPSIGNAL SIGINT", "-c", "ENTRYPOINT /bin/sh"]
    id1 = strata("commit", *args, m1, "test/det:1", env=env).check().out.strip()
    id2 = strata("commit", *args, m1, "test/det:2", env=env).check().out.strip()
    assert id1 == id2      # the same change, clamped times: the same image
    top1, members, _ = layer_members(store_root, id1)
    assert all(m.mtime <= 1700000000 for m in members)
    # the stored layer directory says what the tar says
    ldir = os.path.join(store_root, "layers", top1["diff_id"][7:], "diff")
    assert all(os.lstat(os.path.join(d, n)).st_mtime <= 1700000000
               for d, ds, fs in os.walk(ldir) for n in ds + fs)
    with open(os.path.join(store_root, "blobs", "sha256", id1[7:])) as f:
        conf = json.load(f)
    c = conf["config"]
    assert c["Env"] == ["PATH=/bin", "A=3", "B=2"]
    assert c["Cmd"] == ["/bin/echo", "hi"] and c["Entrypoint"] == ["/bin/sh", "-c", "/bin/sh"]
    assert c["ExposedPorts"] == {"8080/udp": {}, "80/tcp": {}}
    assert c["Labels"] == {"x": "y", "long key": "a b"}
    assert c["User"] == "1000:1000" and c["WorkingDir"] == "/srv" and c["StopSignal"] == "SIGINT"
    assert c["Volumes"] == {"/data": {}}
    assert conf["created"] == "2023-11-14T22:13:20Z"
    # without the clamp too, the same tree gives the same tar, and with zstd the same blob
    id3 = strata("commit", "--compress", "zstd", "--format", "oci", m1).check().out.strip()
    top3, _, _ = layer_members(store_root, id3)
    id4 = strata("commit", "--compress", "zstd", "--format", "oci", m1).check().out.strip()
    top4, _, _ = layer_members(store_root, id4)
    assert top4["diff_id"] == top3["diff_id"] and top4["digest"] == top3["digest"]
    assert top3["media_type"] == "application/vnd.oci.image.layer.v1.tar+zstd"


def test_commit_refusals(strata, base_image, tmp_path, mounts, store_root):
    from helpers import snapshot
    m1 = mounts.track(str(tmp_path / "m1"))
    os.mkdir(m1)
    strata("mount", base_image, m1).check()
    before = snapshot(store_root, ignore=("tmp/", "lock", "mounts/"))
    r = strata("commit", "-c", "RUN rm -rf /", m1)
    assert r.rc != 0 and r.err.count("\n") == 1 and "RUN" in r.err, r
    r = strata("commit", "/nonexistent")
    assert r.rc != 0 and "no such mount" in r.err, r
    r = strata("commit", "--compress", "zstd", "--format", "docker", m1)
    assert r.rc != 0 and "docker" in r.err, r
    r = strata("commit", m1, "Bad:Name")
    assert r.rc != 0, r
    assert snapshot(store_root, ignore=("tmp/", "lock", "mounts/")) == before


def test_commit_kept_run(strata, busybox_image, store_root):
    strata("pull", busybox_image.ref).check()
    r = strata("run", busybox_image.ref, "sh", "-c", "echo hi > /etc/motd; hostname").check()
    rid = r.out.strip()
    r = strata("commit", rid, "test/fromrun:1").check()
    with open(os.path.join(store_root, "blobs", "sha256", r.out.strip()[7:])) as f:
        conf = json.load(f)
    assert conf["history"][-1]["created_by"] == "sh -c echo hi > /etc/motd; hostname"
    _, members, t = layer_members(store_root, r.out.strip())
    names = [m.name for m in members]
    assert "etc/motd" in names
    # the run's bind mount points are the run's, not the image's
    assert "etc/hostname" not in names and "etc/resolv.conf" not in names, names


def test_commit_while_writing(strata, base_image, tmp_path, mounts, store_root):
    """COMMIT 1: a writer appends line i to a, then line i to b, while the
    mount is committed.  The copy is made with the daemon paused, so the
    committed a and b are of one moment: b has as many lines as a or one
    less (without the pause b, copied after a and a big file between them,
    runs ahead).  The writer goes on, lines are never cut, the mount works."""
    import subprocess as sp
    import time
    m1 = mounts.track(str(tmp_path / "m1"))
    os.mkdir(m1)
    strata("mount", base_image, m1).check()
    with open(f"{m1}/ab-big", "wb") as f:       # sorted between a and b: the copy takes a while
        f.write(os.urandom(64 << 20))
    script = ("import sys\n"
              "a = open(sys.argv[1] + '/a', 'w'); b = open(sys.argv[1] + '/b', 'w')\n"
              "i = 0\n"
              "while True:\n"
              "    line = 'line %08d ' % i + 'x' * 100 + '\\n'\n"
              "    a.write(line); a.flush(); b.write(line); b.flush(); i += 1\n")
    w = sp.Popen(["/usr/bin/python3", "-c", script, m1])
    try:
        time.sleep(0.5)
        ids = [strata("commit", m1).check().out.strip() for _ in range(3)]
        assert w.poll() is None          # the writer was paused, not stopped
    finally:
        w.kill()
        w.wait()
    for image_id in ids:
        _, members, t = layer_members(store_root, image_id)
        count = {}
        for name in ("a", "b"):
            data = t.extractfile(next(m for m in members if m.name == name)).read()
            lines = data.split(b"\n")
            assert lines[-1] == b"" and all(len(x) == 114 for x in lines[:-1]), data[-300:]
            assert [int(x.split()[1]) for x in lines[:-1]] == list(range(len(lines) - 1))
            count[name] = len(lines) - 1
        assert count["a"] - count["b"] in (0, 1), count
    with open(f"{m1}/after", "w") as f:
        f.write("still writable\n")
