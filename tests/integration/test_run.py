"""strata run: a command in new mount/pid/uts/ipc namespaces over a root
filesystem (SPEC "Commands", issue 6).

Two ways in: `run --rootfs DIR` (podman's option) over a busybox tree built
here, which needs no registry and no FUSE; and `run IMAGE` over a pulled and
mounted image (docker's way), which needs both."""
import fcntl
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import termios
import time

import pytest

from helpers.store import mount_ids

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="strata run needs root (namespaces, mounts)")


# ================================================================ helpers
@pytest.fixture(scope="session")
def rootfs_template(tmp_path_factory):
    """A busybox tree: static busybox, an applet symlink each, passwd with
    root and app (1000), group with wheel listing root."""
    bb = shutil.which("busybox")
    if not bb:
        pytest.skip("busybox not installed (apt-get install busybox-static)")
    root = tmp_path_factory.mktemp("rootfs-template") / "rootfs"
    for d in ("bin", "etc", "tmp", "root", "home/app"):
        (root / d).mkdir(parents=True)
    shutil.copy(bb, root / "bin" / "busybox")
    applets = subprocess.run([bb, "--list"], stdout=subprocess.PIPE, check=True, text=True).stdout.split()
    for a in applets:
        if a != "busybox":
            os.symlink("busybox", root / "bin" / a)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                         "app:x:1000:1001:app:/home/app:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\nwheel:x:10:root\napp:x:1001:\nstaff:x:50:app\n")
    (root / "etc" / "image-only").write_text("from the image\n")
    return root


@pytest.fixture
def rootfs(rootfs_template, tmp_path):
    """A fresh copy of the busybox tree for this test (runs may write to it)."""
    d = tmp_path / "rootfs"
    shutil.copytree(rootfs_template, d, symlinks=True)
    return d


@pytest.fixture
def run(strata, rootfs):
    """run(*CMD, opts=[...], **strata_kw): `strata run OPTS --rootfs ROOTFS CMD...`."""
    def go(*cmd, opts=(), **kw):
        return strata("run", *opts, "--rootfs", rootfs, *cmd, **kw)
    return go


def run_in_pty(argv, env, send=b"", timeout=30, winsize=(24, 80)):
    """Run @argv with a pty as its stdin/stdout/stderr; type @send once it
    has printed something; -> (output bytes, exit code)."""
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", winsize[0], winsize[1], 0, 0))
    out, sent, deadline = b"", False, time.time() + timeout
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            out += data
        if not sent and (out or time.time() > deadline - timeout + 2):
            os.write(fd, send)
            sent = True
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)
        pytest.fail(f"{argv}: no exit within {timeout}s; output so far {out!r}")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return out, os.waitstatus_to_exitcode(status)


def mountinfo(under):
    """The host's mount points below @under (other tests mount elsewhere at the same time)."""
    under = str(under).rstrip("/") + "/"
    with open("/proc/self/mountinfo") as f:
        return sorted(p for p in (line.split()[4] for line in f) if (p + "/").startswith(under))


# ======================================================= --rootfs DIR
def test_prints_a_line(run):
    r = run("echo", "hello from the sandbox").check()
    assert r.out == "hello from the sandbox\n"
    assert r.err == ""


@pytest.mark.parametrize("code", [0, 1, 3, 42, 127, 255])
def test_exit_status_is_the_commands(run, code):
    r = run("sh", "-c", f"echo before; exit {code}")
    assert r.rc == code, r
    assert r.out == "before\n"
    assert r.err == ""


def test_command_is_pid_1_of_its_own_pid_namespace(run):
    r = run("sh", "-c", "echo $$; ps -o pid,comm; true").check()
    lines = r.lines
    assert lines[0] == "1"
    pids = sorted(int(l.split()[0]) for l in lines[2:])
    # only the shell and ps: nothing of the host's
    assert pids[0] == 1 and len(pids) == 2, r.out


def test_proc_is_a_new_procfs(run):
    r = run("sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; ls /proc | grep -c '^[0-9]'").check()
    assert r.lines[0].strip() == "sh -c cat /proc/1/cmdline | tr '\\0' ' '; echo; ls /proc | grep -c '^[0-9]'"
    assert int(r.lines[1]) <= 4      # sh, cat/tr/ls/grep: the pipeline, no host process


def test_hostname_default_is_a_random_12_hex_id(run):
    a = run("hostname").check().out.strip()
    b = run("sh", "-c", "echo $HOSTNAME").check().out.strip()
    assert re.fullmatch(r"[0-9a-f]{12}", a), a
    assert re.fullmatch(r"[0-9a-f]{12}", b), b
    assert a != b                    # a new one per run
    assert os.uname().nodename not in (a, b)


def test_hostname_option(run):
    r = run("sh", "-c", "hostname; echo $HOSTNAME; cat /etc/hostname", opts=["--hostname", "box1"]).check()
    assert r.lines == ["box1", "box1", "box1"]
    assert os.uname().nodename != "box1"


def test_sees_only_the_rootfs(run, tmp_path):
    (tmp_path / "host-only-file").write_text("host\n")
    r = run("sh", "-c", f"ls /; cat /etc/image-only; test -e {tmp_path}/host-only-file && echo LEAK; "
                        "test -e /work && echo LEAK; true").check()
    assert "LEAK" not in r.out
    top = set(r.lines[:-1])
    assert top == {"bin", "dev", "etc", "home", "proc", "root", "sys", "tmp"}, r.out
    assert r.lines[-1] == "from the image"


def test_dev_is_minimal(run):
    r = run("sh", "-c", "ls /dev; echo x > /dev/null; head -c 3 /dev/zero | od -An -tx1; "
                        "head -c 8 /dev/urandom | wc -c; readlink /dev/fd; readlink /dev/ptmx; "
                        "touch /dev/shm/x && echo shm-ok").check()
    names = set(r.lines[0:r.lines.index(" 00 00 00")])
    for n in ("null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "ptmx",
              "fd", "stdin", "stdout", "stderr"):
        assert n in names, f"/dev/{n} missing: {sorted(names)}"
    assert not any(n.startswith(("sd", "vd", "nvme", "loop", "mem", "kmsg")) for n in names), names
    assert "8" in r.lines
    assert "/proc/self/fd" in r.lines and "pts/ptmx" in r.lines
    assert r.lines[-1] == "shm-ok"


def test_devpts_is_a_new_instance_and_sys_is_read_only(run):
    r = run("sh", "-c", "grep -E ' /dev/pts | /sys ' /proc/mounts; touch /sys/x 2>/dev/null || echo sys-ro")
    r.check()
    pts = next(l for l in r.lines if " /dev/pts " in l)
    assert "ptmxmode=666" in pts
    sys_line = next(l for l in r.lines if " /sys " in l)
    assert sys_line.split()[3].split(",")[0] == "ro"
    assert r.lines[-1] == "sys-ro"


def test_device_nodes_made_inside_cannot_be_opened(run, tmp_path):
    # CAP_MKNOD is kept (docker's default) but, without a device cgroup, the
    # rootfs, /dev and volumes are nodev: only the nodes strata binds in work
    (tmp_path / "vol").mkdir()
    r = run("sh", "-c", "mknod /tmp/disk b 8 0 && (head -c1 /tmp/disk >/dev/null 2>&1 || echo tmp-denied); "
                        "mknod /dev/mem2 c 1 1 && (head -c1 /dev/mem2 >/dev/null 2>&1 || echo dev-denied); "
                        "mknod /vol/zero c 1 5 && (head -c1 /vol/zero >/dev/null 2>&1 || echo vol-denied); "
                        "echo x > /dev/null && head -c 1 /dev/zero | wc -c; "
                        "grep ' / ' /proc/mounts | cut -d' ' -f4", opts=["-v", f"{tmp_path}/vol:/vol"]).check()
    assert r.lines[:4] == ["tmp-denied", "dev-denied", "vol-denied", "1"]
    flags = r.lines[4].split(",")
    assert "nodev" in flags and "nosuid" not in flags     # setuid binaries of the image work, as in docker


def test_read_only_rootfs(run):
    r = run("sh", "-c", "touch /x 2>/dev/null || echo ro; touch /tmp/y 2>/dev/null || echo tmp-ro; "
                        "touch /dev/shm/z && echo shm-rw; echo ok > /dev/null && echo dev-ok",
            opts=["--read-only"]).check()
    assert r.lines == ["ro", "tmp-ro", "shm-rw", "dev-ok"]


def test_host_resolv_conf_and_hosts_are_bound_in(run, rootfs):
    r = run("sh", "-c", "cat /etc/resolv.conf; echo ===; cat /etc/hosts; echo x >> /etc/hosts 2>/dev/null || echo ro")
    r.check()
    resolv, rest = r.out.split("===\n")
    if os.path.exists("/etc/resolv.conf"):
        assert resolv == open("/etc/resolv.conf").read()
    if os.path.exists("/etc/hosts"):
        assert rest.rsplit("ro\n", 1)[0] == open("/etc/hosts").read()
        assert r.lines[-1] == "ro"       # the host's file cannot be written from inside


def test_mounts_stay_inside(run, rootfs):
    assert mountinfo(rootfs) == []
    run("sh", "-c", "mount -t tmpfs none /tmp; true").check()
    assert mountinfo(rootfs) == []
    # the mountpoints were made in the tree, the mounts were not left there
    assert os.listdir(rootfs / "proc") == []
    assert os.listdir(rootfs / "dev") == []


def test_env(run):
    r = run("sh", "-c", "echo $FOO; echo $PATH; echo $HOME; echo $EMPTY.",
            opts=["-e", "FOO=bar baz", "-e", "EMPTY="]).check()
    assert r.lines == ["bar baz", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "/root", "."]
    r = run("sh", "-c", "echo $PATH; echo $HOME", opts=["-e", "PATH=/bin", "-e", "HOME=/tmp"]).check()
    assert r.lines == ["/bin", "/tmp"]


def test_env_passes_the_host_value_for_a_bare_name(run, strata_env):
    env = dict(strata_env, STRATA_TEST_VAR="from host")
    r = run("sh", "-c", "echo \"$STRATA_TEST_VAR|$UNSET_ONE\"", opts=["-e", "STRATA_TEST_VAR", "-e", "UNSET_ONE"],
            env=env).check()
    assert r.out == "from host|\n"


def test_env_file(run, strata_env, tmp_path):
    f = tmp_path / "env.list"
    f.write_text("# a comment\nA=1\n\n  B=two words\nFROM_HOST\nC=from file\n")
    r = run("sh", "-c", 'echo "$A|$B|$FROM_HOST|$C"', opts=["-e", "C=from -e", "--env-file", f],
            env=dict(strata_env, FROM_HOST="host value")).check()
    assert r.out == "1|two words|host value|from -e\n"      # -e wins over the file, like docker
    r = run("true", opts=["--env-file", tmp_path / "missing"])
    assert r.rc == 125
    assert len(r.err_lines) == 1 and "No such file or directory" in r.err


def test_command_is_found_in_the_images_path_not_the_hosts(run, rootfs):
    os.makedirs(rootfs / "opt" / "tools")
    (rootfs / "opt" / "tools" / "hello-tool").write_text("#!/bin/sh\necho tool ran\n")
    os.chmod(rootfs / "opt" / "tools" / "hello-tool", 0o755)
    assert run("hello-tool").rc == 127
    r = run("hello-tool", opts=["-e", "PATH=/opt/tools:/bin"]).check()
    assert r.out == "tool ran\n"


def test_workdir(run, rootfs):
    assert run("pwd", opts=["-w", "/tmp"]).check().out == "/tmp\n"
    assert run("pwd").check().out == "/\n"
    # a missing workdir is created, like docker
    assert run("pwd", opts=["--workdir", "/new/work/dir"]).check().out == "/new/work/dir\n"
    assert (rootfs / "new" / "work" / "dir").is_dir()


def test_relative_workdir_is_refused(run):
    r = run("pwd", opts=["-w", "tmp"])
    assert r.rc == 125
    assert len(r.err_lines) == 1 and "absolute path" in r.err


@pytest.mark.parametrize("user,expect", [
    ("1000", "1000 1001 1001 50"),           # gid from the rootfs's passwd, groups from its group file
    ("app", "1000 1001 1001 50"),
    ("1000:50", "1000 50 50"),               # an explicit group: no supplementary ones (runc's rule)
    ("app:wheel", "1000 10 10"),
    ("4242", "4242 0 0"),                    # unknown to passwd: gid 0, like docker
    ("0", "0 0 0 10"),
])
def test_user(run, user, expect):
    r = run("sh", "-c", "echo $(id -u) $(id -g) $(id -G)", opts=["-u", user]).check()
    assert r.out.split() == expect.split(), r.out


def test_group_add(run):
    r = run("sh", "-c", "id -G", opts=["-u", "1000:50", "--group-add", "wheel", "--group-add", "4321"]).check()
    assert sorted(r.out.split()) == ["10", "4321", "50"]
    r = run("true", opts=["--group-add", "nosuchgroup"])
    assert r.rc == 125
    assert r.err_lines[0].endswith("unable to find group nosuchgroup: no matching entries in group file")


def test_user_cannot_write_roots_files(run):
    r = run("sh", "-c", "echo x > /etc/passwd", opts=["-u", "1000"])
    assert r.rc != 0
    r = run("sh", "-c", "echo $HOME", opts=["-u", "app"]).check()
    assert r.out == "/home/app\n"


def test_unknown_user_is_one_line(run):
    r = run("id", opts=["-u", "nosuchuser"])
    assert r.rc == 125
    assert r.err_lines == ["strata: run %s: unable to find user nosuchuser: no matching entries in passwd file"
                           % r.err_lines[0].split()[2].rstrip(":")]
    assert r.out == ""


def test_command_not_found_is_127_and_one_line(run):
    r = run("no-such-command", "arg")
    assert r.rc == 127
    assert len(r.err_lines) == 1, r.err
    assert r.err_lines[0].startswith("strata: run ")
    assert r.err_lines[0].endswith('exec "no-such-command": executable file not found in $PATH')
    assert r.out == ""
    r = run("/no/such/file")
    assert r.rc == 127
    assert len(r.err_lines) == 1 and "No such file or directory" in r.err


def test_command_not_executable_is_126(run):
    r = run("/etc/passwd")
    assert r.rc == 126
    assert len(r.err_lines) == 1 and "Permission denied" in r.err


def test_setup_failure_is_125_and_one_line(strata, tmp_path):
    r = strata("run", "--rootfs", tmp_path / "missing", "sh")
    assert r.rc == 125
    assert len(r.err_lines) == 1 and "No such file or directory" in r.err


@pytest.mark.parametrize("argv", [["--no-such-option", "x"], [], ["--cap-add", "NOT_A_CAP", "x"],
                                  ["-v", "relative:/x", "x"], ["--env-file", "/nonexistent/env", "x"]],
                         ids=["bad-option", "no-image", "bad-cap", "bad-volume", "env-file"])
def test_every_error_of_strata_is_125(strata, argv):
    """docker run: 125 for its own errors, usage included (not 2 or 1)."""
    r = strata("run", *argv)
    assert r.rc == 125, r
    assert len(r.err_lines) == 1 and r.out == "", r


def test_missing_config_file_is_125(strata, tmp_path):
    r = strata("--config", tmp_path / "nope.json", "run", "x", "true")
    assert r.rc == 125, r
    assert r.err_lines == [f"strata: config: open {tmp_path}/nope.json: No such file or directory"], r


@pytest.mark.parametrize("how", ["image", "rootfs"])
def test_not_root_says_so_in_one_line(strata_bin, rootfs, strata_env, how):
    """As a user who is not root in a user namespace that maps it to no one
    (so strata cannot make the store's: a user outside one gets it, see
    test_rootless.py): one line saying what run needs, before anything is
    pulled or mounted (not libfuse's line and ours)."""
    what = "busybox" if how == "image" else str(rootfs)
    argv = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "unshare", "--user", strata_bin,
            "run"] + (["--rootfs"] if how == "rootfs" else []) + [what, "true"]
    p = subprocess.run(argv, env=strata_env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 125, p
    assert p.stderr.splitlines() == [f"strata: run {what}: strata run needs root (it makes namespaces and mounts): "
                                     "run it with sudo"], p.stderr
    assert p.stdout == ""


def test_stdin_is_dev_null_without_i(run):
    r = run("sh", "-c", "cat; echo done", input="should not be read\n").check()
    assert r.out == "done\n"
    r = run("sh", "-c", "cat; echo done", opts=["-i"], input="read me\n").check()
    assert r.out == "read me\ndone\n"


def test_signals_are_passed_on(strata_popen, rootfs):
    p = strata_popen("run", "--rootfs", rootfs, "sh", "-c",
                     "trap 'echo got TERM; exit 9' TERM; echo ready; while :; do sleep 0.1; done")
    assert p.stdout.readline() == "ready\n"
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=20)
    assert p.returncode == 9, err
    assert out == "got TERM\n"


def test_volumes(run, tmp_path, rootfs):
    host = tmp_path / "hostdir"
    host.mkdir()
    (host / "in").write_text("from the host\n")
    (tmp_path / "conf").write_text("conf\n")
    r = run("sh", "-c", "cat /data/in; echo out > /data/out; cat /etc/deep/conf; "
                        "echo x > /etc/deep/conf 2>/dev/null || echo ro; ls -d /made",
            opts=["-v", f"{host}:/data", "-v", f"{tmp_path}/conf:/etc/deep/conf:ro",
                  "--volume", f"{tmp_path}/made:/made:rw"]).check()
    assert r.lines == ["from the host", "conf", "ro", "/made"]
    assert (host / "out").read_text() == "out\n"
    assert (tmp_path / "made").is_dir()             # a missing host path becomes a directory, like docker
    assert (tmp_path / "conf").read_text() == "conf\n"
    assert (rootfs / "etc" / "deep" / "conf").is_file()   # the mount point, made in the tree


def test_tmpfs(run, rootfs):
    r = run("sh", "-c", "grep -E ' /(run|data/x|ro) ' /proc/mounts | cut -d' ' -f2,4; touch /ro/a 2>/dev/null || echo ro; "
                        "echo hi > /run/f && cat /run/f",
            opts=["--tmpfs", "/run", "--tmpfs", "/data/x:size=1m,exec,mode=700", "--tmpfs", "/ro:ro"]).check()
    mounts = dict(l.split() for l in r.lines[:3])
    assert mounts["/run"].split(",")[:4] == ["rw", "nosuid", "nodev", "noexec"]     # docker's defaults (+ nodev)
    assert "noexec" not in mounts["/data/x"] and "size=1024k" in mounts["/data/x"] and "mode=700" in mounts["/data/x"]
    assert mounts["/ro"].startswith("ro,")
    assert r.lines[3:] == ["ro", "hi"]
    assert not (rootfs / "run" / "f").exists()


@pytest.mark.parametrize("spec", ["relative:/x", "/abs", "/abs:rel", "/abs:/x:rx"])
def test_bad_volume_is_one_line(run, spec):
    r = run("true", opts=["-v", spec])
    assert r.rc == 125     # docker run's code for its own errors, usage too
    assert len(r.err_lines) == 1 and r.err_lines[0].startswith("strata run: ")


def test_killed_by_a_signal_is_128_plus_n(strata_popen, rootfs):
    from helpers import wait_until
    p = strata_popen("run", "--rootfs", rootfs, "sh", "-c", "echo up; exec sleep 301")
    assert p.stdout.readline() == "up\n"

    def sandbox_pid():
        with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
            kids = f.read().split()
        return int(kids[0]) if kids else None
    os.kill(wait_until(sandbox_pid, 10, what="the sandbox's pid"), signal.SIGKILL)
    p.communicate(timeout=20)
    assert p.returncode == 128 + signal.SIGKILL


def test_tty(strata_bin, store_root, strata_env, rootfs):
    argv = [strata_bin, "--root", store_root, "run", "-it", "--rootfs", str(rootfs), "sh"]
    out, rc = run_in_pty(argv, strata_env, send=b"tty; stty size; echo \"T=$TERM\"; ls -l /dev/console; exit 7\r",
                         winsize=(33, 101))
    text = out.decode(errors="replace")
    assert rc == 7, text
    assert "\n/dev/pts/0\r" in text            # a pty of the sandbox's own /dev/pts, like docker
    assert "33 101" in text
    assert "T=xterm" in text
    assert re.search(r"^c.* 136, +0 .*/dev/console\r$", text, re.M), text


def test_tty_window_size_follows(strata_bin, store_root, strata_env, rootfs):
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(strata_bin, [strata_bin, "--root", store_root, "run", "-it", "--rootfs", str(rootfs), "sh"],
                  strata_env)
    out = b""

    def read_until(needle, timeout=15):
        nonlocal out
        end = time.time() + timeout
        while needle not in out and time.time() < end:
            if select.select([fd], [], [], 0.2)[0]:
                out += os.read(fd, 65536)
        assert needle in out, out
    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 20, 70, 0, 0))
        os.write(fd, b"echo ready\r")
        read_until(b"ready\r\n")
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 51, 163, 0, 0))   # SIGWINCH to strata
        seen, end = len(out), time.time() + 15
        while b"51 163" not in out[seen:] and time.time() < end:   # relayed when strata gets to it
            os.write(fd, b"stty size\r")
            until = time.time() + 1
            while b"51 163" not in out[seen:] and time.time() < until:
                if select.select([fd], [], [], 0.1)[0]:
                    out += os.read(fd, 65536)
        assert b"51 163" in out[seen:], out
        os.write(fd, b"exit 0\r")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0


def test_root_keeps_dockers_default_capabilities_only(run):
    r = run("sh", "-c", "grep -E '^Cap(Eff|Bnd)' /proc/self/status; "
                        "echo 1 > /proc/sys/kernel/domainname 2>/dev/null || echo sys-ro; "
                        "mount -t tmpfs none /tmp 2>/dev/null || echo no-mount").check()
    assert r.lines == ["CapEff:\t00000000a80425fb", "CapBnd:\t00000000a80425fb", "sys-ro", "no-mount"]
    r = run("sh", "-c", "grep -E '^CapEff' /proc/self/status", opts=["-u", "1000"]).check()
    assert r.out == "CapEff:\t0000000000000000\n"


@pytest.mark.parametrize("opts,want", [
    (["--cap-add", "SYS_ADMIN"], 0xa80425fb | (1 << 21)),
    (["--cap-drop", "ALL"], 0),
    (["--cap-drop", "all", "--cap-add", "cap_chown"], 1),
    (["--cap-drop", "NET_RAW", "--cap-drop", "mknod"], 0xa80425fb & ~(1 << 13) & ~(1 << 27)),
])
def test_cap_add_and_drop(run, opts, want):
    r = run("sh", "-c", "grep '^CapEff' /proc/self/status", opts=opts).check()
    assert int(r.out.split()[1], 16) == want


def test_unknown_capability_is_one_line(run):
    r = run("true", opts=["--cap-add", "NOT_A_CAP"])
    assert r.rc == 125
    assert r.err_lines == ['strata run: unknown capability: "NOT_A_CAP" (see \'strata run --help\')']


def test_privileged_keeps_them(run):
    r = run("sh", "-c", "mount -t tmpfs none /tmp && echo mounted; grep ' /proc/sys ' /proc/mounts || echo rw",
            opts=["--privileged"]).check()
    assert r.lines == ["mounted", "rw"]


def test_tty_with_i_needs_a_terminal_on_stdin(run):
    r = run("sh", opts=["-it"], input="echo x\n")
    assert r.rc == 125
    assert r.err_lines == ["strata: run: the input device is not a TTY (drop -t to pipe into a command)"]
    assert r.out == ""


def test_tty_paste_is_not_lost(strata_bin, store_root, strata_env, rootfs):
    """200 kB typed at once: more than a pty takes; strata holds the rest."""
    n = 200000
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(strata_bin, [strata_bin, "--root", store_root, "run", "-it", "--rootfs", str(rootfs),
                               "sh", "-c", f"stty raw -echo; echo READY; head -c {n} | wc -c"], strata_env)
    data = (b"x" * 99 + b"\n") * (n // 100)
    out, sent, end = b"", 0, time.time() + 60
    try:
        while time.time() < end and not re.search(rb"READY\r\n\s*\d+\n", out):
            ready = b"READY" in out
            r, w, _ = select.select([fd], [fd] if ready and sent < len(data) else [], [], 0.1)
            if r:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            if w:
                sent += os.write(fd, data[sent:sent + 4096])
    finally:
        if time.time() >= end:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert out.split(b"READY")[1].split() == [str(n).encode()], out[-200:]
    assert os.waitstatus_to_exitcode(status) == 0


def test_tty_output_reader_gone_does_not_hang(strata_bin, store_root, strata_env, rootfs):
    m, s = pty.openpty()
    try:
        p = subprocess.Popen([strata_bin, "--root", store_root, "run", "-t", "--rootfs", str(rootfs), "sh", "-c",
                              "for i in $(seq 1 20000); do echo line $i; done; exit 6"],
                             stdin=s, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=strata_env)
        assert p.stdout.read(100).startswith(b"line 1")
        p.stdout.close()
        assert p.wait(timeout=60) == 6
    finally:
        os.close(m)
        os.close(s)


def test_without_t_the_callers_terminal_is_out_of_reach(strata_bin, store_root, strata_env, rootfs):
    # like docker: a session of its own, no controlling terminal
    argv = [strata_bin, "--root", store_root, "run", "--rootfs", str(rootfs),
            "sh", "-c", "echo leak > /dev/tty 2>/dev/null || echo no-tty"]
    out, rc = run_in_pty(argv, strata_env)
    assert rc == 0
    assert b"no-tty" in out and b"leak" not in out


def test_tty_without_i_runs_with_a_terminal(strata_bin, store_root, strata_env, rootfs):
    argv = [strata_bin, "--root", store_root, "run", "-t", "--rootfs", str(rootfs),
            "sh", "-c", "test -t 0 && test -t 1 && echo terminal; exit 3"]
    out, rc = run_in_pty(argv, strata_env)
    assert rc == 3
    assert re.search(rb"terminal\r+\n", out), out


def test_no_command_is_an_error(strata, rootfs):
    r = strata("run", "--rootfs", rootfs)
    assert r.rc == 125
    assert r.err_lines == [f"strata: run {rootfs}: no command specified"]


def test_run_help(strata):
    r = strata("run", "--help").check()
    for opt in ("-i", "-t", "--rm", "-e", "-w", "-u", "--name", "--hostname", "--entrypoint", "--rootfs"):
        assert opt in r.out


# ======================================================= run IMAGE


@pytest.mark.fuse
def test_image_prints_a_line_and_exits_with_its_status(strata, pulled_busybox, store_root):
    r = strata("run", "--rm", pulled_busybox, "sh", "-c", "echo hello from busybox; exit 5")
    assert r.rc == 5, r
    assert r.out == "hello from busybox\n"
    assert r.err == ""
    assert mountinfo(store_root) == []           # the union is unmounted after
    assert mount_ids(store_root) == []        # --rm: nothing kept


@pytest.mark.fuse
def test_image_pid_1_hostname_and_only_its_files(strata, pulled_busybox, tmp_path):
    (tmp_path / "host-only").write_text("x")
    r = strata("run", "--rm", pulled_busybox, "sh", "-c",
               f"echo $$; hostname; cat /etc/os-release; test -e {tmp_path}/host-only && echo LEAK; "
               "ps -o pid | tail -n +2 | wc -l").check()
    lines = r.lines
    assert lines[0] == "1"
    assert re.fullmatch(r"[0-9a-f]{12}", lines[1])
    assert 'NAME="strata test busybox"' in r.out
    assert "LEAK" not in r.out
    assert int(lines[-1]) <= 4


@pytest.mark.fuse
def test_image_default_command_is_its_cmd(strata, pulled_busybox):
    # Cmd ["/bin/sh"]; stdin kept with -i
    r = strata("run", "--rm", "-i", pulled_busybox, input="echo from stdin $PATH\n").check()
    assert r.out == "from stdin /usr/sbin:/usr/bin:/sbin:/bin\n"


@pytest.mark.fuse
def test_image_config_entrypoint_env_workdir_user(strata, image_builder, registry):
    img = image_builder.busybox(registry, "test/cfg:1", config={
        "Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo default $GREETING; pwd; id -u"],
        "Env": ["PATH=/bin:/usr/bin", "GREETING=hi"], "WorkingDir": "/srv/app", "User": "65534"})
    strata("pull", img.ref).check()
    r = strata("run", "--rm", img.ref).check()
    assert r.lines == ["default hi", "/srv/app", "65534"]
    # CMD replaces the image's Cmd, after its Entrypoint; -e overrides its Env
    r = strata("run", "--rm", "-e", "GREETING=yo", "-u", "0", "-w", "/", img.ref, "echo $GREETING; pwd; id -u").check()
    assert r.lines == ["yo", "/", "0"]
    # --entrypoint replaces the Entrypoint and drops the Cmd
    r = strata("run", "--rm", "--entrypoint", "/bin/echo", img.ref).check()
    assert r.out == "\n"
    r = strata("run", "--rm", "--entrypoint", "echo", img.ref, "a", "b").check()
    assert r.out == "a b\n"


@pytest.mark.fuse
def test_image_user_1000_can_work_in_the_mount(strata, pulled_busybox):
    r = strata("run", "--rm", "-u", "1000", "-w", "/tmp", pulled_busybox, "sh", "-c",
               "id -u; id -g; echo x > mine && ls -n mine; echo y > /etc/passwd || echo denied").check()
    lines = r.lines
    assert lines[0] == "1000" and lines[1] == "0"
    assert lines[2].split()[2:4] == ["1000", "0"]
    assert lines[-1] == "denied"


@pytest.mark.fuse
def test_image_writable_layer_kept_for_diff_unless_rm(strata, pulled_busybox, store_root):
    r = strata("run", pulled_busybox, "sh", "-c", "echo new > /etc/added; rm /etc/os-release; hostname").check()
    cid = r.out.strip()
    assert mount_ids(store_root) == [cid]
    rootfs = os.path.join(store_root, "mounts", cid, "rootfs")
    d = strata("diff", rootfs).check()
    assert "A /etc/added" in d.lines
    assert "D /etc/os-release" in d.lines
    u = strata("umount", rootfs)           # drops the kept layer (the union is long unmounted)
    assert u.rc == 0 and u.err == "", str(u)
    assert mount_ids(store_root) == []
    strata("run", "--rm", pulled_busybox, "touch", "/x").check()
    assert mount_ids(store_root) == []


@pytest.mark.fuse
def test_image_kill_9_leaves_no_mount_and_no_process(strata_popen, pulled_busybox, store_root):
    from helpers import wait_until
    p = strata_popen("run", "--rm", pulled_busybox, "sh", "-c", "echo up; exec sleep 377")
    assert p.stdout.readline() == "up\n"
    assert len(mountinfo(store_root)) == 1
    p.kill()
    p.wait()
    # the command dies with strata (PDEATHSIG), the daemon unmounts on its SIGTERM
    wait_until(lambda: mountinfo(store_root) == [], 10, what="the run's mount to go")
    out = subprocess.run(["pgrep", "-f", "^sleep 377$"], stdout=subprocess.PIPE, text=True).stdout
    assert out == ""


@pytest.mark.fuse
def test_image_is_pulled_when_missing(strata, busybox_image):
    r = strata("run", "--rm", busybox_image.ref, "echo", "pulled and ran").check()
    assert r.out == "pulled and ran\n"
    assert f"Unable to find image '{busybox_image.ref}' locally" in r.err


@pytest.mark.fuse
def test_image_pull_honours_the_environment(strata, strata_env, session_registry, busybox_image, make_proxy):
    """run's pull reads STRATA_RETRIES (and the timeouts) as `strata pull`
    does: with no retries one 503 ends it, by default it is retried."""
    px = make_proxy(session_registry)
    ref = busybox_image.ref.replace(session_registry.host, px.host)
    px.fail("/blobs/" + busybox_image.layers[0].digest, 503, times=1)
    r = strata("run", "--rm", ref, "true", env=dict(strata_env, STRATA_RETRIES="0"))
    assert r.rc == 125 and r.err_lines[-1].endswith(": injected"), r   # the 503's message
    px.fail("/blobs/" + busybox_image.layers[0].digest, 503, times=1)
    strata("run", "--rm", ref, "true").check()


@pytest.mark.fuse
def test_image_pulled_for_the_platform_asked(strata, multiplatform_index):
    # both platforms' images carry the host's busybox: only /etc/platform differs
    r = strata("run", "--rm", "--platform", "linux/arm64/v8", multiplatform_index.ref, "cat", "/etc/platform").check()
    assert r.out == "linux/arm64/v8\n"


def test_image_unknown_is_125_and_one_line(strata, registry):
    r = strata("run", "--rm", f"{registry.host}/no/such:image", "true")
    assert r.rc == 125
    assert r.err_lines[-1].startswith(f"strata: run {registry.host}/no/such:image: ")
    assert r.out == ""


@pytest.mark.fuse
def test_image_bad_command_is_127_one_line(strata, pulled_busybox, store_root):
    r = strata("run", "--rm", pulled_busybox, "no-such-command")
    assert r.rc == 127
    assert r.err_lines == [f'strata: run {pulled_busybox}: exec "no-such-command": executable file not found in $PATH']
    assert mount_ids(store_root) == []


@pytest.mark.fuse
def test_image_tty(strata_bin, store_root, strata_env, pulled_busybox):
    argv = [strata_bin, "--root", store_root, "run", "--rm", "-it", pulled_busybox]
    out, rc = run_in_pty(argv, strata_env, send=b"stty size; cat /etc/os-release; exit 4\r", winsize=(40, 120))
    text = out.decode(errors="replace")
    assert rc == 4, text
    assert "40 120" in text
    assert "strata test busybox" in text


BENCH = os.environ.get("STRATA_BENCH_CACHE", "/var/tmp/strata-bench")


@pytest.mark.fuse
@pytest.mark.slow
def test_image_bench_debian(strata, registry):
    """Issue 6's bar: the bench Debian image runs apt-get and shows its version."""
    layout = os.path.join(BENCH, "oci", "debian")
    if not os.path.isfile(os.path.join(layout, "index.json")):
        if os.environ.get("STRATA_TEST_BENCH") == "1":
            pytest.fail(f"STRATA_TEST_BENCH=1 but no bench layout at {layout}")
        pytest.skip(f"bench layouts not built ({layout}); run ../shared/bench/make-images.sh")
    ref = f"{registry.host}/bench/debian:bookworm"
    subprocess.run(["skopeo", "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false",
                    "--preserve-digests", f"oci:{layout}:bookworm", f"docker://{ref}"], check=True, timeout=300)
    strata("pull", ref, timeout=600).check()
    r = strata("run", "--rm", ref, "apt-get", "--version").check()
    assert r.lines[0].startswith("apt ")
    r = strata("run", "--rm", ref, "cat", "/etc/debian_version").check()
    assert re.fullmatch(r"\d+(\.\d+)*\n", r.out), r.out
    # its default command is bash: fed on stdin with -i
    r = strata("run", "--rm", "-i", "-u", "nobody", ref, input="id -un; echo $HOME; ls -d /usr/bin\n").check()
    assert r.lines == ["nobody", "/nonexistent", "/usr/bin"]
