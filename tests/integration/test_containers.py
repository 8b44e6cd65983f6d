"""Kept runs as containers, the rest of issue 16: run -d (detached, its
output in a log, its exit status recorded by the supervisor), logs, stop,
kill, wait, exec, rm -f, container prune, --network none / -p, ps
--filter ancestor=, --name unique under the store lock, umount of a running
run refused, the container aliases."""
import json
import os
import re
import subprocess
import threading

import pytest

from helpers import wait_until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="strata run needs root (namespaces, mounts)")


@pytest.fixture(autouse=True)
def no_run_left(strata):
    """Whatever a test leaves running is stopped and removed (rm -f)."""
    yield
    ids = strata("ps", "-a", "-q").lines
    if ids:
        strata("rm", "-f", *ids, timeout=60)


def ps_json(strata, *args):
    return [json.loads(l) for l in strata("ps", "-a", "--format", "json", *args).check().lines]


def fuse_mounts_under(root):
    with open("/proc/self/mountinfo") as f:
        return [l.split()[4] for l in f if l.split()[4].startswith(str(root))]


def test_run_detached_logs_wait(strata, pulled_busybox, store_root):
    r = strata("run", "-d", "--name", "bg", pulled_busybox, "sh", "-c",
               "echo out; echo err >&2; read x; echo read=$?; exit 3")
    assert r.rc == 0 and r.err == "", str(r)
    rid = r.out.strip()
    assert re.fullmatch(r"[0-9a-f]{12}", rid), r.out
    # stdin is /dev/null without -i: the read ends at once
    assert strata("wait", "bg").check().lines == ["3"]
    o = ps_json(strata)[0]
    assert o["ID"] == rid and o["State"] == "exited" and o["Status"].startswith("Exited (3) "), o
    r = strata("logs", rid).check()
    assert r.out == "out\nread=1\n" and r.err == "err\n", str(r)
    r = strata("logs", "-t", "bg").check()
    assert [re.sub(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z ", "", l) for l in r.lines] == ["out", "read=1"], str(r)
    assert strata("logs", "--tail", "0", "bg").check().out == ""
    assert fuse_mounts_under(store_root) == []           # the supervisor unmounted
    strata("rm", "bg").check()


def test_run_detached_up_stop_logs_follow(strata, pulled_busybox, store_root):
    rid = strata("run", "-d", pulled_busybox, "sh", "-c",
                 "trap 'echo bye; exit 7' TERM; echo hi; while :; do sleep 0.1; done").check().out.strip()
    o = ps_json(strata, "-f", "status=running")
    assert len(o) == 1 and o[0]["ID"] == rid and o[0]["Status"].startswith("Up "), o
    wait_until(lambda: strata("logs", rid).check().out == "hi\n", what="the run's first line in its log")
    # logs -f follows until the run exits: stop it meanwhile
    follow = subprocess.Popen([strata.bin, "--root", str(store_root), "logs", "-f", rid],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        r = strata("stop", rid).check()
        assert r.lines == [rid]
        out, err = follow.communicate(timeout=60)
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()
    assert out.decode() == "hi\nbye\n" and err == b""
    o = ps_json(strata)[0]
    assert o["State"] == "exited" and o["Status"].startswith("Exited (7) "), o
    assert strata("wait", rid).check().lines == ["7"]
    assert fuse_mounts_under(store_root) == []


def test_stop_timeout_then_kill_and_kill_signal(strata, pulled_busybox):
    # pid 1 ignores a TERM it has no handler for: stop -t 1 ends it with KILL
    strata("run", "-d", "--name", "deaf", pulled_busybox, "sleep", "1000").check()
    assert strata("stop", "-t", "1", "deaf").check().lines == ["deaf"]
    assert strata("wait", "deaf").check().lines == ["137"]
    r = strata("kill", "deaf")
    assert r.rc == 1 and len(r.err_lines) == 1 and "is not running" in r.err, str(r)
    strata("run", "-d", "--name", "hup", pulled_busybox, "sh", "-c",
           "trap 'exit 5' HUP; while :; do sleep 0.1; done").check()
    wait_until(lambda: ps_json(strata, "-f", "name=hup")[0]["State"] == "running", what="the run to start")
    assert strata("kill", "-s", "HUP", "hup").check().lines == ["hup"]
    assert strata("wait", "hup").check().lines == ["5"]
    r = strata("kill", "-s", "NOSUCH", "hup")
    assert r.rc == 2 and "invalid signal: NOSUCH" in r.err, str(r)
    r = strata("wait", "nosuch")
    assert r.rc == 1 and len(r.err_lines) == 1 and "no such run: nosuch" in r.err, str(r)


def test_exec_joins_the_run(strata, pulled_busybox):
    strata("run", "-d", "--name", "box", "-e", "FROM_RUN=1", pulled_busybox, "sh", "-c",
           "echo x > /tmp/mark; hostname > /tmp/host; sleep 1000").check()
    wait_until(lambda: strata("exec", "box", "cat", "/tmp/host").rc == 0, what="the run to write /tmp/host")
    host = strata("exec", "box", "cat", "/tmp/host").check().out
    r = strata("exec", "box", "sh", "-c", "cat /tmp/mark; hostname; echo $$; pidof sleep")
    assert r.rc == 0, str(r)
    mark, hostname, pid, sleeper = r.lines
    assert mark == "x" and hostname + "\n" == host                  # its root and its uts namespace
    assert int(pid) > 1 and sleeper == "1"                          # its pid namespace: sleep is its pid 1
    assert strata("exec", "-e", "K=v", "-w", "/tmp", "box", "sh", "-c", "echo $K $PWD").check().out == "v /tmp\n"
    assert strata("exec", "-u", "65534", "box", "id", "-u").check().out == "65534\n"
    r = strata("exec", "box", "sh", "-c", "exit 9")
    assert r.rc == 9
    r = strata("exec", "box", "no-such-command")
    assert r.rc == 127 and len(r.err_lines) == 1 and "executable file not found" in r.err, str(r)
    assert strata("exec", "-i", "box", "cat", input="piped\n").check().out == "piped\n"
    strata("rm", "-f", "box").check()
    assert ps_json(strata) == []


def test_rm_refuses_running_and_umount_refuses(strata, pulled_busybox, store_root):
    rid = strata("run", "-d", "--name", "busy", pulled_busybox, "sleep", "1000").check().out.strip()
    wait_until(lambda: ps_json(strata, "-f", "name=busy")[0]["State"] == "running", what="the run to start")
    r = strata("rm", "busy")
    assert r.rc == 1 and len(r.err_lines) == 1 and "is running" in r.err and "rm -f" in r.err, str(r)
    rootfs = os.path.join(str(store_root), "mounts", rid, "rootfs")
    r = strata("umount", rootfs)
    assert r.rc == 1 and len(r.err_lines) == 1 and "is running in it" in r.err, str(r)
    assert strata("rm", "-f", "busy").check().lines == ["busy"]
    assert ps_json(strata) == [] and fuse_mounts_under(store_root) == []


def test_network_none_and_publish_refused(strata, pulled_busybox):
    r = strata("run", "--rm", "--network", "none", pulled_busybox, "sh", "-c", "ls /sys/class/net")
    assert r.rc == 0 and r.out.split() == ["lo"], str(r)
    r = strata("run", "--rm", "--network", "host", pulled_busybox, "sh", "-c", "ls /sys/class/net")
    host_ifs = sorted(os.listdir("/sys/class/net"))
    assert r.rc == 0 and sorted(r.out.split()) == host_ifs, str(r)
    r = strata("run", "--rm", "-p", "8080:80", pulled_busybox, "true")
    assert r.rc == 125 and len(r.err_lines) == 1 and "no network namespace of its own" in r.err, str(r)
    r = strata("run", "--rm", "--network", "bridge", pulled_busybox, "true")
    assert r.rc == 125 and len(r.err_lines) == 1 and "--network bridge" in r.err, str(r)


def test_container_prune_and_ancestor_filter(strata, pulled_busybox, store_root):
    strata("run", pulled_busybox, "sh", "-c", "echo data > /big").check()
    strata("run", "--name", "other", pulled_busybox, "true").check()
    running = strata("run", "-d", pulled_busybox, "sleep", "1000").check().out.strip()
    ids = sorted(o["ID"] for o in ps_json(strata))
    assert len(ids) == 3
    assert sorted(strata("ps", "-a", "-q", "-f", "ancestor=" + pulled_busybox).check().lines) == ids
    assert strata("ps", "-a", "-q", "-f", "ancestor=nosuch:1").check().lines == []
    r = strata("container", "prune", input="n\n").check()
    assert "Are you sure you want to continue? [y/N]" in r.out and len(ps_json(strata)) == 3
    r = strata("container", "prune", "-f").check()
    assert r.lines[0] == "Deleted Containers:" and sorted(r.lines[1:3]) == sorted(set(ids) - {running}), str(r)
    assert r.lines[-1].startswith("Total reclaimed space: ") and r.lines[-1] != "Total reclaimed space: 0B", str(r)
    assert [o["ID"] for o in ps_json(strata)] == [running]
    assert strata("container", "stop", "-t", "0", running).check().lines == [running]
    assert strata("container", "wait", running).check().lines == ["137"]
    r = strata("container", "prune", "-f").check()
    assert r.lines[:2] == ["Deleted Containers:", running]
    assert strata("container", "prune", "-f").check().lines == ["Total reclaimed space: 0B"]


def test_name_unique_under_concurrent_runs(strata, pulled_busybox):
    results = []

    def go():
        results.append(strata("run", "-d", "--name", "same", pulled_busybox, "sleep", "1000"))
    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [r for r in results if r.rc == 0]
    bad = [r for r in results if r.rc != 0]
    assert len(ok) == 1 and len(bad) == 1, [str(r) for r in results]
    assert bad[0].rc == 125 and 'the name "same" is already in use' in bad[0].err, str(bad[0])
    assert [o["Names"] for o in ps_json(strata)] == ["same"]
    strata("rm", "-f", "same").check()


def test_run_detached_start_error_is_said(strata, pulled_busybox):
    r = strata("run", "-d", pulled_busybox, "no-such-command")
    assert r.rc == 127 and r.out == "" and len(r.err_lines) == 1 and "executable file not found" in r.err, str(r)


def test_rmi_refuses_an_image_a_kept_run_uses(strata, pulled_busybox):
    strata("run", pulled_busybox, "true").check()
    r = strata("rmi", pulled_busybox)
    assert r.rc == 1 and len(r.err_lines) == 1 and "must force" in r.err, str(r)


def test_start_runs_the_kept_command_again(strata, pulled_busybox, store_root):
    r = strata("run", "--name", "again", "-e", "WHO=me", pulled_busybox, "sh", "-c",
               "echo $WHO >> /count; wc -l < /count; exit 4")
    assert r.rc == 4 and r.out == "1\n", str(r)
    r = strata("start", "-a", "again")                  # its writable layer, its -e
    assert r.rc == 4 and r.out == "2\n", str(r)
    assert strata("start", "again").check().lines == ["again"]       # detached
    assert strata("wait", "again").check().lines == ["4"]
    assert strata("logs", "again").check().out == "3\n"
    o = ps_json(strata)[0]
    assert o["Names"] == "again" and o["Status"].startswith("Exited (4) "), o
    assert strata("container", "start", "-a", "again").rc == 4
    assert strata("exec", "again", "true").rc == 125                 # not running
    assert fuse_mounts_under(store_root) == []
    r = strata("start", "nosuch")
    assert r.rc == 1 and len(r.err_lines) == 1 and "no such run: nosuch" in r.err, str(r)


def test_exec_tty_and_run_dit(strata, pulled_busybox, store_root, strata_env):
    from test_run import run_in_pty
    # -dit: the shell's stdin never ends, so it stays up (docker's habit)
    strata("run", "-dit", "--name", "shell", pulled_busybox, "sh").check()
    wait_until(lambda: ps_json(strata, "-f", "name=shell")[0]["State"] == "running", what="the shell to start")
    out, rc = run_in_pty([strata.bin, "--root", str(store_root), "exec", "-it", "shell", "sh", "-c",
                          "tty; echo $TERM; exit 3"], strata_env)
    assert rc == 3, out
    assert b"/dev/pts/" in out and b"xterm" in out, out
    assert ps_json(strata, "-f", "name=shell")[0]["State"] == "running"
    r = strata("exec", "-it", "shell", "true")                        # stdin is a pipe here
    assert r.rc == 125 and "not a TTY" in r.err, str(r)
