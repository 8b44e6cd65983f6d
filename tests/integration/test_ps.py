"""Kept runs as docker's containers: run --name (recorded, unique), ps
[-a] [-q] [--no-trunc] [--filter] [--format], rm ID|NAME, container ls/rm
(issue 16)."""
import json
import re


def test_run_name_ps_rm(strata, pulled_busybox):
    ref = pulled_busybox
    r = strata("run", "--name", "web", ref, "sh", "-c", "exit 3")
    assert r.rc == 3, str(r)
    assert strata("ps").check().lines[1:] == []                 # no run is running
    r = strata("ps", "-a").check()
    assert r.lines[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "NAMES"]
    row = r.lines[1]
    assert row.endswith("web") and "Exited (3) " in row and "\"sh -c exit 3\"" in row, row
    o = json.loads(strata("ps", "-a", "--format", "json").check().out)
    assert o["Names"] == "web" and o["State"] == "exited" and o["Status"].startswith("Exited (3) ")
    assert o["Command"] == "\"sh -c exit 3\"" and o["Image"].endswith("busybox:latest")
    rid = o["ID"]
    assert re.fullmatch(r"[0-9a-f]{12}", rid)
    assert strata("ps", "-a", "-q").check().lines == [rid]
    assert strata("ps", "-q", "--filter", "exited=3").check().lines == [rid]
    assert strata("ps", "-q", "--filter", "exited=0").check().lines == []
    assert strata("ps", "-q", "-f", "status=exited", "-f", "name=we").check().lines == [rid]
    assert strata("ps", "-q", "-f", "status=running").check().lines == []
    # the alias is the verb (columns without times: the clock may cross a
    # second between the two, "Less than a second ago" against "1 second ago")
    table = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.State}}\t{{.Names}}"
    alias = strata("container", "ls", "-a", "--format", table).check().out
    assert alias == strata("ps", "-a", "--format", table).check().out
    assert "web" in alias and rid in alias, alias
    # the name is unique while the record is kept
    r = strata("run", "--name", "web", ref, "true")
    assert r.rc == 125 and len(r.err_lines) == 1 and 'the name "web" is already in use' in r.err, str(r)
    r = strata("run", "--name", "-bad", ref, "true")
    assert r.rc == 125 and len(r.err_lines) == 1 and "invalid name" in r.err, str(r)
    # a long command is cut at 20 characters unless --no-trunc
    strata("run", "--name", "long", ref, "echo", "a-rather-long-argument-list").check()
    long_row = strata("ps", "-a", "-f", "name=long", "--format", "{{.Command}}").check().lines
    assert long_row == ['"echo a-rather-long…']
    assert strata("ps", "-a", "--no-trunc", "-f", "name=long", "--format", "{{.Command}}").check().lines == \
        ['"echo a-rather-long-argument-list"']
    r = strata("rm", "web", "long")
    assert r.rc == 0 and r.lines == ["web", "long"], str(r)
    assert strata("ps", "-a", "-q").check().lines == []
    r = strata("rm", "nosuch")
    assert r.rc == 1 and len(r.err_lines) == 1 and "no such run: nosuch" in r.err, str(r)
    r = strata("ps", "--filter", "colour=red")
    assert r.rc == 1 and len(r.err_lines) == 1 and "colour" in r.err, str(r)


def test_ps_shows_a_live_mount_and_rm_refuses_it(strata, pulled_busybox, tmp_path, mounts):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    strata("mount", pulled_busybox, str(mnt)).check()
    mounts.track(str(mnt))
    o = json.loads(strata("ps", "--format", "{{json .}}").check().out)
    assert o["State"] == "running" and o["Status"].startswith("Up ") and o["Mounts"] == str(mnt)
    r = strata("container", "rm", o["ID"])
    assert r.rc == 1 and len(r.err_lines) == 1 and "is running" in r.err and str(mnt) in r.err, str(r)
    strata("umount", str(mnt)).check()
    assert strata("ps", "-a", "-q").check().lines == []
