"""strata mount IMAGE DIR / strata umount: the image's layers from the store
under a fresh writable layer (ROOT/mounts/<id>), --read-only, --upper,
several mounts at once, rmi refusing an image in use, a chroot into the
mount, cleaning up after a killed daemon."""
import json
import os
import signal
import subprocess
import time

import pytest

from helpers.mounts import is_mounted

pytestmark = pytest.mark.fuse


@pytest.fixture
def pulled(strata, busybox_image):
    strata("pull", busybox_image.ref).check()
    return busybox_image.ref


def mount_records(store_root):
    d = os.path.join(store_root, "mounts")
    out = []
    for i in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        p = os.path.join(d, i, "mount.json")
        if os.path.exists(p):
            with open(p) as f:
                out.append(json.load(f))
    return out


def test_mount_image(strata, pulled, mountpoint, store_root):
    r = strata("mount", pulled, mountpoint).check()
    assert r.out == "" and r.err == ""
    assert is_mounted(mountpoint)
    assert os.path.exists(os.path.join(mountpoint, "bin", "busybox"))
    with open(os.path.join(mountpoint, "etc", "os-release")) as f:
        assert f.read()
    # the writable layer takes changes; the store's layers do not change
    with open(os.path.join(mountpoint, "etc", "os-release"), "a") as f:
        f.write("X=1\n")
    os.unlink(os.path.join(mountpoint, "bin", "busybox"))
    recs = mount_records(store_root)
    assert len(recs) == 1 and recs[0].get("pid"), recs
    assert os.path.realpath(recs[0]["mountpoint"]) == os.path.realpath(mountpoint)
    rid = os.listdir(os.path.join(store_root, "mounts"))[0]
    upper = os.path.join(store_root, "mounts", rid, "upper")
    assert os.path.exists(os.path.join(upper, "etc", "os-release"))
    assert os.stat(os.path.join(upper, "bin", "busybox")).st_rdev == 0
    # a chroot into the mount runs the image's shell
    out = subprocess.run(["chroot", mountpoint, "/bin/sh", "-c", "echo ok; ls /bin | head -1"],
                         capture_output=True, text=True)
    assert out.returncode == 127 or "ok" in out.stdout   # busybox itself was just deleted
    # the image is in use: rmi refuses
    r = strata("rmi", pulled)
    assert r.rc != 0 and "mount" in r.err.lower(), r
    strata("umount", mountpoint).check()
    assert not is_mounted(mountpoint)
    assert not os.path.exists(os.path.join(store_root, "mounts", rid))
    strata("rmi", pulled).check()


def test_chroot_and_write(strata, pulled, mountpoint):
    strata("mount", pulled, mountpoint).check()
    out = subprocess.run(["chroot", mountpoint, "/bin/sh", "-c",
                          "echo hi > /tmp-file && cat /tmp-file && mkdir -p /opt/x && cp /bin/busybox /opt/x/busybox && /opt/x/busybox echo ran"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["hi", "ran"]


def test_read_only_and_upper(strata, pulled, tmp_path, mounts, store_root):
    ro = mounts.track(str(tmp_path / "ro"))
    os.makedirs(ro)
    strata("mount", "--read-only", pulled, ro).check()
    with pytest.raises(OSError) as e:
        open(os.path.join(ro, "newfile"), "w")
    assert e.value.errno == 30     # EROFS
    up = str(tmp_path / "keep")
    rw = mounts.track(str(tmp_path / "rw"))
    os.makedirs(rw)
    strata("mount", "--upper", up, pulled, rw).check()
    with open(os.path.join(rw, "kept"), "w") as f:
        f.write("still here")
    strata("umount", rw).check()
    strata("umount", ro).check()
    assert open(os.path.join(up, "kept")).read() == "still here"
    # resume it
    strata("mount", "--upper", up, pulled, rw).check()
    assert open(os.path.join(rw, "kept")).read() == "still here"
    strata("umount", rw).check()
    assert os.path.exists(os.path.join(up, "kept"))
    assert mount_records(store_root) == []


def test_upper_resumes_hard_links(strata, build_image, session_registry, tmp_path, mounts):
    """A hard link of an image layer stays one file after copy-up, also when
    an --upper dir is mounted again: its work dir (the index) is kept next
    to it, .NAME.strata-work."""
    from helpers import File, Hardlink
    img = build_image(session_registry, "fs/hardlinks:1",
                      layers=[[File("bin/tool", b"v1\n", mode=0o755), Hardlink("bin/tool-alias", "bin/tool")]])
    strata("pull", img.ref).check()
    up = str(tmp_path / "keep")
    rw = mounts.track(str(tmp_path / "rw"))
    os.makedirs(rw)
    strata("mount", "--upper", up, img.ref, rw).check()
    with open(os.path.join(rw, "bin", "tool"), "a") as f:
        f.write("v2\n")
    strata("umount", rw).check()
    assert os.path.isdir(str(tmp_path / ".keep.strata-work" / "strata-index"))
    strata("mount", "--upper", up, img.ref, rw).check()
    alias = os.path.join(rw, "bin", "tool-alias")
    assert open(alias).read() == "v1\nv2\n"
    st, st2 = os.stat(alias), os.stat(os.path.join(rw, "bin", "tool"))
    assert (st.st_ino, st.st_nlink) == (st2.st_ino, 2)
    strata("umount", rw).check()


def test_upper_work_dir_not_a_dir(strata, pulled, tmp_path, mounts, store_root):
    """--upper DIR whose kept work dir (.DIR.strata-work) is a file: one line,
    nothing mounted or recorded, the file left as it was."""
    (tmp_path / ".keep.strata-work").write_text("mine")
    rw = mounts.track(str(tmp_path / "rw"))
    os.makedirs(rw)
    r = strata("mount", "--upper", str(tmp_path / "keep"), pulled, rw)
    assert r.rc != 0 and len(r.err_lines) == 1, r
    assert ".keep.strata-work" in r.err_lines[0], r
    assert not is_mounted(rw)
    assert (tmp_path / ".keep.strata-work").read_text() == "mine"
    assert mount_records(store_root) == []


def test_several_mounts(strata, pulled, tmp_path, mounts):
    mps = []
    for i in range(3):
        d = mounts.track(str(tmp_path / f"m{i}"))
        os.makedirs(d)
        strata("mount", pulled, d).check()
        mps.append(d)
    for i, d in enumerate(mps):
        with open(os.path.join(d, "who"), "w") as f:
            f.write(str(i))
    for i, d in enumerate(mps):
        assert open(os.path.join(d, "who")).read() == str(i)
    for d in mps:
        strata("umount", d).check()


def test_umount_after_kill(strata, pulled, mountpoint, store_root):
    strata("mount", pulled, mountpoint).check()
    pid = mount_records(store_root)[0]["pid"]
    os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        try:
            os.kill(pid, 0)
            time.sleep(0.02)
        except ProcessLookupError:
            break
    with pytest.raises(OSError):
        os.listdir(mountpoint)
    strata("umount", mountpoint).check()
    assert not is_mounted(mountpoint)
    assert mount_records(store_root) == []


def test_bad_index_dir_is_one_line(strata, tmp_path, store_root):
    """A work dir whose strata-index (the index of copied-up hard links) is
    not a directory: one line naming it, no mount, nothing recorded, the
    file left as it was."""
    for d in ("l", "u", "w", "m"):
        (tmp_path / d).mkdir()
    (tmp_path / "w" / "strata-index").write_text("not a dir")
    r = strata("mount", "-o", f"lowerdir={tmp_path}/l,upperdir={tmp_path}/u,workdir={tmp_path}/w",
               str(tmp_path / "m"))
    assert r.rc != 0 and len(r.err_lines) == 1, r
    assert f"{tmp_path}/w: strata-index: Not a directory" in r.err_lines[0], r
    assert not is_mounted(str(tmp_path / "m"))
    assert (tmp_path / "w" / "strata-index").read_text() == "not a dir"
    assert mount_records(store_root) == []


def test_mount_errors(strata, pulled, tmp_path):
    r = strata("mount", "no/such:image", str(tmp_path))
    assert r.rc != 0 and len(r.err_lines) == 1, r
    r = strata("mount", pulled, str(tmp_path / "missing"))
    assert r.rc != 0 and len(r.err_lines) == 1, r
    r = strata("mount", "-o", "lowerdir=/nonexistent", str(tmp_path))
    assert r.rc != 0 and "nonexistent" in r.err, r


def test_strata_overlayfs_argv(strata_bin, tmp_path, mounts):
    """The strata-overlayfs link takes fuse-overlayfs's argv (as podman's
    mount_program): -o options, unknown ones warned about once."""
    link = tmp_path / "strata-overlayfs"
    os.symlink(strata_bin, link)
    for d in ("l", "u", "w", "m"):
        (tmp_path / d).mkdir()
    (tmp_path / "l" / "f").write_text("lower")
    m = mounts.track(str(tmp_path / "m"))
    r = subprocess.run([str(link), "-o", f"lowerdir={tmp_path}/l,upperdir={tmp_path}/u,workdir={tmp_path}/w",
                        "-o", "allow_other,default_permissions,fsname=x,squash_to_root,lazytime,nodev", m],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == "strata: unknown argument ignored: lazytime"
    assert open(os.path.join(m, "f")).read() == "lower"
    with open("/proc/self/mountinfo") as f:
        line = [l for l in f if f" {m} " in l][0]
    assert "allow_other" in line and "fuse.strata" in line
    subprocess.run(["umount", m], check=True)


@pytest.mark.fuse
@pytest.mark.parametrize("what", ["missing", "file"])
def test_bad_mount_point_is_one_line(strata, tmp_path, what):
    lower = tmp_path / "lower"
    lower.mkdir()
    mp = tmp_path / "mp"
    if what == "file":
        mp.write_text("x")
    r = strata("mount", "-o", f"lowerdir={lower}", str(mp))
    assert r.rc != 0
    assert len(r.err_lines) == 1 and r.err_lines[0].startswith(f"strata: mount point {mp}"), r.err


def test_relative_root(strata, busybox_image, tmp_path, mountpoint):
    """--root given relative: the daemon leaves the working directory, the
    store's paths must not depend on it."""
    rel = "relstore"
    strata("pull", busybox_image.ref, root=rel, cwd=str(tmp_path)).check()
    strata("mount", busybox_image.ref, mountpoint, root=rel, cwd=str(tmp_path)).check()
    assert os.path.exists(os.path.join(mountpoint, "bin", "busybox"))
    with open(os.path.join(mountpoint, "new"), "w") as f:
        f.write("x")
    strata("umount", mountpoint, root=rel, cwd=str(tmp_path)).check()
    assert not is_mounted(mountpoint)


def mount_type(mountpoint):
    with open("/proc/self/mounts") as f:
        for line in f:
            dev, mp, typ = line.split()[:3]
            if mp == os.path.realpath(mountpoint):
                return typ
    return None


def change_tree(root):
    """The same changes under either driver: a new file, a deleted one, an
    appended one, a new directory."""
    with open(os.path.join(root, "added"), "w") as f:
        f.write("new\n")
    os.unlink(os.path.join(root, "etc", "os-release"))
    with open(os.path.join(root, "etc", "passwd"), "a") as f:
        f.write("x:x:1:1::/:/bin/sh\n")
    os.mkdir(os.path.join(root, "newdir"))


@pytest.mark.parametrize("how", ["flag", "config"])
def test_kernel_driver_mount(strata, strata_env, pulled, tmp_path, mounts, store_root, how):
    """--driver kernel (or "mount-driver": "kernel" in the configuration)
    mounts the image's layers and writable layer with the kernel's
    overlayfs: the mount is recorded (rmi refuses the image), diff lists what
    it lists for the FUSE driver, umount drops it like a FUSE mount."""
    env = dict(strata_env)
    args = ["--driver", "kernel"]
    if how == "config":
        conf = tmp_path / "config.json"
        conf.write_text('{"mount-driver": "kernel"}')
        env["STRATA_CONFIG"] = str(conf)
        args = []
    diffs = {}
    for driver in ("fuse", "kernel"):
        mp = mounts.track(str(tmp_path / driver))
        os.makedirs(mp)
        if driver == "kernel":
            r = strata("mount", *args, pulled, mp, env=env).check()
        else:
            r = strata("mount", "--driver", "fuse", pulled, mp, env=env).check()
        assert r.out == "" and r.err == ""
        assert mount_type(mp) == ("overlay" if driver == "kernel" else "fuse.strata")
        change_tree(mp)
        recs = [m for m in mount_records(store_root) if os.path.realpath(m["mountpoint"]) == os.path.realpath(mp)]
        assert len(recs) == 1 and recs[0]["pid"] == (-1 if driver == "kernel" else recs[0]["pid"]) != 0
        diffs[driver] = sorted(strata("diff", mp, env=env).check().lines)
        r = strata("rmi", pulled)
        assert r.rc != 0 and "mount" in r.err.lower(), r
        strata("umount", mp, env=env).check()
        assert not is_mounted(mp)
    assert diffs["kernel"] == diffs["fuse"] and "A /added" in diffs["kernel"], diffs
    assert mount_records(store_root) == []
    strata("rmi", pulled).check()


def test_kernel_driver_upper_either_way(strata, pulled, tmp_path, mounts, store_root):
    """A kept --upper written through the kernel's overlayfs reads the same
    through the FUSE driver, and back."""
    up = str(tmp_path / "keep")
    mp = mounts.track(str(tmp_path / "mp"))
    os.makedirs(mp)
    strata("mount", "--driver", "kernel", "--upper", up, pulled, mp).check()
    change_tree(mp)
    with open(os.path.join(mp, "bin", "busybox"), "rb") as f:
        busybox = f.read()
    strata("umount", mp).check()
    strata("mount", "--driver", "fuse", "--upper", up, pulled, mp).check()
    assert open(os.path.join(mp, "added")).read() == "new\n"
    assert not os.path.exists(os.path.join(mp, "etc", "os-release"))
    assert open(os.path.join(mp, "etc", "passwd")).read().endswith("x:x:1:1::/:/bin/sh\n")
    assert os.path.isdir(os.path.join(mp, "newdir"))
    os.unlink(os.path.join(mp, "added"))
    strata("umount", mp).check()
    strata("mount", "--driver", "kernel", "--upper", up, pulled, mp).check()
    assert not os.path.exists(os.path.join(mp, "added"))
    assert os.path.isdir(os.path.join(mp, "newdir"))
    with open(os.path.join(mp, "bin", "busybox"), "rb") as f:
        assert f.read() == busybox
    strata("umount", mp).check()
    assert mount_records(store_root) == []


def test_kernel_driver_run(strata, pulled, store_root):
    """run --driver kernel: the command's root is the kernel's overlayfs;
    the kept writable layer diffs as with FUSE and umount drops it."""
    r = strata("run", "--driver", "kernel", pulled, "sh", "-c",
               "awk '$2 == \"/\" { print $3 }' /proc/mounts; echo new > /etc/added; rm /etc/os-release").check()
    assert r.lines[0] == "overlay", r
    (cid,) = os.listdir(os.path.join(store_root, "mounts"))
    rootfs = os.path.join(store_root, "mounts", cid, "rootfs")
    d = strata("diff", rootfs).check()
    assert "A /etc/added" in d.lines and "D /etc/os-release" in d.lines, d.lines
    strata("umount", rootfs).check()
    assert mount_records(store_root) == []
    r = strata("run", "--rm", "--driver", "bogus", pulled, "true")
    assert r.rc != 0 and "--driver bogus" in r.err and r.err.count("\n") == 1, r


def test_kernel_driver_read_only(strata, pulled, mountpoint, store_root):
    """--read-only with the kernel driver: no writable layer (the kernel's
    overlayfs wants two lower layers then: a one-layer image gets an empty
    second one), writes answer EROFS, umount drops the record."""
    strata("mount", "--driver", "kernel", "--read-only", pulled, mountpoint).check()
    assert mount_type(mountpoint) == "overlay"
    assert os.path.exists(os.path.join(mountpoint, "bin", "busybox"))
    with pytest.raises(OSError) as e:
        open(os.path.join(mountpoint, "newfile"), "w")
    assert e.value.errno == 30     # EROFS
    strata("umount", mountpoint).check()
    assert mount_records(store_root) == []
