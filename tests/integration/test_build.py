"""strata build: a Containerfile built over the busybox fixture (FROM the
loopback registry): RUN in the run sandbox, COPY from the context, the
config instructions recorded as docker records them, -t, the step output;
the cache (a second build runs nothing, a changed file rebuilds from its
COPY, --no-cache rebuilds all); the refusals (an unsupported instruction,
a syntax error, a COPY out of the context, a failing RUN)."""
import json
import os

import pytest

pytestmark = pytest.mark.fuse


def image_config(strata, store_root, ref):
    """The image's config blob (docker's image config JSON)."""
    out = json.loads(strata("inspect", ref).check().out)[0]
    iid = out.get("Id") or out.get("id")
    with open(os.path.join(store_root, "blobs", "sha256", iid.split(":")[-1])) as f:
        return json.load(f)


def write(d, files):
    for name, data in files.items():
        p = os.path.join(d, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(data)


@pytest.fixture
def ctx(tmp_path):
    d = tmp_path / "ctx"
    d.mkdir()
    return str(d)


FILE = """\
# a comment
FROM {base}
ARG GREETING=hello
ENV A=1 \\
    B="two words"
WORKDIR /app
COPY hello.txt ./
COPY dir/ /opt/dir/
RUN echo "$GREETING $A $B" > /app/out.txt && \\
    chmod 0600 /app/out.txt
USER 1000:1000
EXPOSE 80 53/udp
LABEL org.example.k="v w" other=x
STOPSIGNAL SIGTERM
VOLUME /data
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/out.txt"]
"""


def test_build_run_copy_and_config(strata, store_root, pulled_busybox, ctx):
    write(ctx, {"Containerfile": FILE.format(base=pulled_busybox), "hello.txt": "hi\n",
                "dir/a": "a\n", "dir/sub/b": "b\n"})
    os.chmod(os.path.join(ctx, "dir/sub/b"), 0o751)
    r = strata("build", "-t", "test/built:1", ctx).check()
    lines = r.out.splitlines()
    assert lines[0] == f"STEP 1/14: FROM {pulled_busybox}"
    assert "STEP 7/14: RUN echo \"$GREETING $A $B\" > /app/out.txt &&     chmod 0600 /app/out.txt" in lines
    assert "COMMIT test/built:1" in lines
    assert any(x.startswith("Successfully tagged ") and x.endswith("test/built:1") for x in lines)
    iid = lines[-1]
    assert len(iid) == 64

    cfg = image_config(strata, store_root, "test/built:1")
    c = cfg["config"]
    assert c["Env"][-2:] == ["A=1", "B=two words"]
    assert c["WorkingDir"] == "/app"
    assert c["User"] == "1000:1000"
    assert c["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert c["Labels"] == {"org.example.k": "v w", "other": "x"}
    assert c["StopSignal"] == "SIGTERM"
    assert c["Volumes"] == {"/data": {}}
    assert c["Entrypoint"] == ["/bin/sh", "-c"]
    assert c["Cmd"] == ["cat /app/out.txt"]
    hist = cfg["history"]
    run = [h for h in hist if "GREETING" in h.get("created_by", "")]
    assert run and run[0]["created_by"].startswith("|1 GREETING=hello /bin/sh -c echo")
    assert not run[0].get("empty_layer")
    assert any(h.get("empty_layer") and "ENV A=1" in h.get("created_by", "") for h in hist)

    # the tree, as the image runs
    r = strata("run", "--rm", "-u", "0", "--entrypoint", "", "test/built:1", "sh", "-c",
               "cat /app/out.txt /app/hello.txt /opt/dir/a /opt/dir/sub/b; "
               "stat -c '%a %u:%g %n' /app/out.txt /app/hello.txt /opt/dir/sub/b /app").check()
    assert r.out.splitlines() == ["hello 1 two words", "hi", "a", "b",
                                  "600 0:0 /app/out.txt", "644 0:0 /app/hello.txt",
                                  "751 0:0 /opt/dir/sub/b", "755 0:0 /app"]
    # the image's own command
    r = strata("run", "--rm", "-u", "0", "test/built:1").check()
    assert r.out == "hello 1 two words\n"


def test_second_build_uses_the_cache_and_a_changed_file_rebuilds(strata, pulled_busybox, ctx):
    write(ctx, {"Containerfile": f"FROM {pulled_busybox}\nRUN echo ran-$((0+1))\nCOPY f /f\nRUN echo ran-$((1+1))\n",
                "f": "1\n"})
    first = strata("build", "-t", "test/cache:1", ctx).check()
    assert "ran-1" in first.out.splitlines() and "ran-2" in first.out.splitlines()
    assert "Using cache" not in first.out
    again = strata("build", "-t", "test/cache:1", ctx).check()
    assert "ran-1" not in again.out.splitlines() and "ran-2" not in again.out.splitlines()
    assert again.out.count("--> Using cache ") == 3
    assert again.out.splitlines()[-1] == first.out.splitlines()[-1]
    # one file of the context changed: its COPY and what follows run again
    write(ctx, {"f": "2\n"})
    changed = strata("build", "-t", "test/cache:2", ctx).check()
    assert "ran-1" not in changed.out.splitlines() and "ran-2" in changed.out.splitlines()
    assert changed.out.count("--> Using cache ") == 1
    assert changed.out.splitlines()[-1] != first.out.splitlines()[-1]
    # a time change does not count; a mode change does
    os.utime(os.path.join(ctx, "f"), (1, 1))
    assert strata("build", ctx).check().out.count("--> Using cache ") == 3
    os.chmod(os.path.join(ctx, "f"), 0o600)
    assert strata("build", ctx).check().out.count("--> Using cache ") == 1
    # --no-cache runs everything
    nc = strata("build", "--no-cache", ctx).check()
    assert "ran-1" in nc.out.splitlines() and "ran-2" in nc.out.splitlines() and "Using cache" not in nc.out


def test_failing_run_exits_with_its_status_and_moves_no_tag(strata, pulled_busybox, ctx):
    write(ctx, {"Containerfile": f"FROM {pulled_busybox}\nRUN echo one\n"})
    first = strata("build", "-t", "test/fail:1", ctx).check().out.splitlines()[-1]
    write(ctx, {"Containerfile": f"FROM {pulled_busybox}\nRUN echo one\nRUN exit 3\n"})
    r = strata("build", "-t", "test/fail:1", ctx)
    assert r.rc == 3
    assert len(r.err_lines) == 1 and "STEP 3/3 (line 3) RUN" in r.err and "exit status 3" in r.err
    out = json.loads(strata("inspect", "test/fail:1").check().out)[0]
    assert first in json.dumps(out)


@pytest.mark.parametrize("line,expect", [
    ("ADD --exclude=*.txt x /x", "line 2: ADD --exclude is not supported by strata build yet"),
    ("HEALTHCHECK --bogus=1 CMD true", "line 2: HEALTHCHECK --bogus is not supported by strata build yet"),
    ("RUN --mount=type=cache,target=/x true", "line 2: RUN --mount is not supported by strata build yet"),
    ("FROBNICATE x", "line 2: unknown instruction: FROBNICATE"),
    ("RUN", "line 2: RUN requires at least one argument"),
])
def test_refused_before_anything_runs(strata, pulled_busybox, ctx, line, expect):
    write(ctx, {"Containerfile": f"FROM {pulled_busybox}\n{line}\nRUN echo must-not-run\n", "x": "x"})
    r = strata("build", ctx)
    assert r.rc != 0
    assert "must-not-run" not in r.out and "STEP" not in r.out
    assert len(r.err_lines) == 1 and expect in r.err, r.err


@pytest.mark.parametrize("src", ["../outside", "link/secret", "up"])
def test_copy_out_of_the_context_is_refused(strata, pulled_busybox, tmp_path, ctx, src):
    (tmp_path / "outside").write_text("secret\n")
    os.symlink(str(tmp_path), os.path.join(ctx, "link"))
    os.symlink("../outside", os.path.join(ctx, "up"))
    write(ctx, {"Containerfile": f"FROM {pulled_busybox}\nCOPY {src} /x\n"})
    r = strata("build", ctx)
    assert r.rc != 0
    assert len(r.err_lines) == 1 and f"COPY: {src}: outside the build context" in r.err, r.err


def test_dockerfile_stdin_quiet_iidfile_and_scratch(strata, pulled_busybox, tmp_path):
    iid = tmp_path / "iid"
    r = strata("build", "-q", "--iidfile", iid, "-t", "test/q:1", "-",
               input=f"FROM {pulled_busybox} AS base\nRUN echo visible\nFROM base\nENV X=y\n").check()
    assert r.out.splitlines() == [iid.read_text().split(":")[1]]
    assert "visible" in r.err
    c = json.loads(strata("inspect", "test/q:1").check().out)[0]
    assert "X=y" in json.dumps(c)


def test_multi_stage_copy_from_and_target(strata, pulled_busybox, ctx):
    write(ctx, {"Containerfile": f"""\
FROM {pulled_busybox} AS builder
RUN mkdir -p /out && echo built > /out/artifact && echo builder-ran-$((1))
FROM {pulled_busybox} AS unused
RUN echo unused-ran-$((1))
FROM {pulled_busybox}
COPY --from=builder /out/artifact /artifact
COPY --from=0 /out /out2/
"""})
    r = strata("build", "-t", "test/ms:1", ctx).check()
    lines = r.out.splitlines()
    assert "builder-ran-1" in lines and "unused-ran-1" not in lines
    r = strata("run", "--rm", "test/ms:1", "sh", "-c", "cat /artifact /out2/artifact; ls /out 2>&1 | wc -l").check()
    assert r.out.split() == ["built", "built", "1"]
    # --target: that stage only, from the cache
    r = strata("build", "--target", "builder", "-t", "test/ms:b", ctx).check()
    assert "builder-ran-1" not in r.out.splitlines() and "Using cache" in r.out
    assert strata("run", "--rm", "test/ms:b", "cat", "/out/artifact").check().out == "built\n"
    r = strata("build", "--target", "nosuch", ctx)
    assert r.rc != 0 and 'target stage "nosuch" could not be found' in r.err


def test_prune_clears_the_cache(strata, pulled_busybox, ctx):
    write(ctx, {"Containerfile": f"FROM {pulled_busybox}\nRUN echo ran-$((1)) && echo x > /f\nENV X=1\n"})
    strata("build", "-t", "test/p:1", ctx).check()
    assert "ran-1" not in strata("build", ctx).check().out.splitlines()
    df = {line.split()[0] + (" " + line.split()[1] if line.startswith("Build") else ""): line.split()
          for line in strata("system", "df").check().out.splitlines()[1:]}
    assert df["Build Cache"][2:4] == ["2", "2"], df   # two entries (RUN, ENV), both images there
    # the tagged image stays; its intermediate one and every cache entry go
    r = strata("system", "prune", "-f").check()
    assert "Deleted build cache objects:" in r.out
    assert strata("system", "df").check().out.splitlines()[-1].split()[2:4] == ["0", "0"]
    assert "ran-1" in strata("build", ctx).check().out.splitlines()
    strata("rmi", "test/p:1").check()


def test_intermediate_images_are_hidden(strata, pulled_busybox, ctx):
    """docker images hides the images of build steps (-a shows them); an
    untagged build's result is a <none> image."""
    write(ctx, {"Containerfile": f"FROM {pulled_busybox}\nRUN echo $((6*7)) > /f\nENV Y=2\nCMD [\"x\"]\n"})
    iid = strata("build", "--no-cache", ctx).check().out.splitlines()[-1]
    top = strata("images", "-q", "--no-trunc").check().out.split()
    every = strata("images", "-a", "-q", "--no-trunc").check().out.split()
    assert "sha256:" + iid in top and "sha256:" + iid in every
    steps = [i for i in every if i not in top]
    assert len(steps) == 2, (top, every)   # RUN's and ENV's
    rows = [line.split() for line in strata("images").check().out.splitlines()[1:]]
    assert ["<none>", "<none>", iid[:12]] in [r[:3] for r in rows]
    # tagged later, the result stays listed; a step's image tagged is listed
    strata("tag", steps[0], "test/step:1").check()
    assert steps[0] in strata("images", "-q", "--no-trunc").check().out.split()
    strata("rmi", "test/step:1").check()


def _need(tool):
    import shutil
    if not shutil.which(tool):
        pytest.skip(f"{tool} is not installed (scripts/deps.sh installs it)")


SAME = """\
FROM {base}
ENV A=1 B="x y"
ENV PATH=/usr/bin:/bin:/sbin
WORKDIR /app
COPY hello.txt ./
COPY dir/ /opt/dir/
COPY --chown=7:8 --chmod=0640 hello.txt /owned
COPY . /ctx/
ADD arch.tar.gz /opt/arch/
ADD {url}/remote.txt {url}/r.tar.gz /opt/remote/
RUN echo x > /app/out && chmod 0600 /app/out && mkdir -p /var/y && ln -s /app/out /var/y/link && rm /etc/os-release
WORKDIR sub
RUN pwd > /app/pwd
USER 1000:1000
EXPOSE 80 53/udp
LABEL a=b "c d"="e f"
VOLUME ["/data"]
STOPSIGNAL SIGINT
ENTRYPOINT ["/bin/sh"]
CMD ["-c", "echo hi"]
"""


def test_same_image_as_buildah(strata, store_root, pulled_busybox, busybox_image, ctx, tmp_path, mounts, http_log):
    """The same Containerfile built by buildah bud (chroot isolation) and by
    strata: equal trees file by file, equal configs."""
    _need("buildah")
    from test_commit import tree, diff_trees
    import subprocess
    www, url, _ = http_log
    (www / "remote.txt").write_text("from the web\n")
    make_tar(str(www / "r.tar.gz"), [("not", b"extracted\n")])
    write(ctx, {"Containerfile": SAME.format(base=pulled_busybox, url=url), "hello.txt": "hi\n",
                "dir/a": "a\n", "dir/sub/b": "b\n", "x.log": "l\n", "dir/y.log": "l\n",
                ".dockerignore": "*.log\ndir/sub\n!dir/sub/b\n"})
    os.chmod(os.path.join(ctx, "dir/sub/b"), 0o751)
    os.chmod(os.path.join(ctx, "dir/sub"), 0o700)
    make_tar(os.path.join(ctx, "arch.tar.gz"), [("d", None), ("d/f", b"from the tar\n"), ("d/l", b"->f")])
    broot, brun = tmp_path / "broot", tmp_path / "brun"
    bh = ["buildah", "--root", str(broot), "--runroot", str(brun), "--storage-driver", "vfs"]
    env = dict(os.environ, BUILDAH_ISOLATION="chroot")

    def b(*args):
        p = subprocess.run(bh + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=300)
        assert p.returncode == 0, p.stderr.decode()
        return p.stdout.decode()
    b("bud", "--isolation", "chroot", "--tls-verify=false", "--layers", "-t", "localhost/same:1", ctx)
    cid = b("from", "--pull-never", "localhost/same:1").strip()
    bdir = b("mount", cid).strip()
    oci = json.loads(b("inspect", "--type", "image", "localhost/same:1"))["OCIv1"]["config"]
    oci["Labels"].pop("io.buildah.version")   # buildah's own

    strata("build", "-t", "test/same:1", ctx).check()
    sdir = mounts.track(str(tmp_path / "smnt"))
    os.mkdir(sdir)
    strata("mount", "-r", "test/same:1", sdir).check()
    try:
        got, want = tree(sdir)[0], tree(bdir)[0]
        # the mount points of what buildah binds into a RUN (/run/.containerenv...):
        # it leaves them in its image, empty; strata's sandbox leaves none
        for k in ("etc/hostname", "etc/hosts", "etc/resolv.conf", "run"):
            if k not in got and k in want and want[k][4] == 0 and not any(p.startswith(k + "/") for p in want):
                want.pop(k)
        assert diff_trees(got, want) == []
    finally:
        b("umount", cid)
    c = image_config(strata, store_root, "test/same:1")["config"]
    for k in ("Cmd", "Entrypoint", "WorkingDir", "User", "Labels", "ExposedPorts", "Volumes", "StopSignal"):
        assert c.get(k) == oci.get(k), k
    # the same variables; a replaced one keeps its place as docker keeps it
    # (buildah 1.28 moves it to the end)
    assert sorted(c["Env"]) == sorted(oci["Env"])
    assert c["Env"] == ["PATH=/usr/bin:/bin:/sbin", "A=1", "B=x y"]


def test_dockerignore(strata, pulled_busybox, ctx):
    write(ctx, {"Containerfile": f"FROM {pulled_busybox}\nCOPY . /ctx/\nRUN echo ran-$((1))\n",
                ".dockerignore": "*.log\nsecret\ndocs\n!docs/keep.md\n",
                "a.txt": "a\n", "x.log": "log\n", "secret/key": "k\n", "docs/keep.md": "keep\n",
                "docs/drop.md": "drop\n", "sub/y.log": "kept: * stops at /\n"})
    r = strata("build", "-t", "test/ign:1", ctx).check()
    assert "ran-1" in r.out.splitlines()
    r = strata("run", "--rm", "test/ign:1", "find", "/ctx", "-type", "f").check()
    assert sorted(r.out.split()) == ["/ctx/.dockerignore", "/ctx/Containerfile", "/ctx/a.txt",
                                     "/ctx/docs/keep.md", "/ctx/sub/y.log"]
    # an ignored file's change is not the COPY's change
    write(ctx, {"x.log": "other\n", "secret/key": "other\n"})
    assert "ran-1" not in strata("build", ctx).check().out.splitlines()
    # naming an ignored file is as naming a missing one
    write(ctx, {"Containerfile": f"FROM {pulled_busybox}\nCOPY x.log /\n"})
    r = strata("build", ctx)
    assert r.rc == 1 and "excluded by .dockerignore" in r.err


def test_run_heredocs(strata, pulled_busybox, ctx):
    write(ctx, {"Containerfile": f"""\
FROM {pulled_busybox}
ENV V=expanded
RUN <<EOF
echo one > /one
# a shell comment, not the Containerfile's
echo "$V" >> /one
EOF
RUN cat <<-'A' > /two && cat <<B >> /two
\tliteral $V
\tA
shell $V
B
CMD ["cat", "/one", "/two"]
"""})
    strata("build", "-t", "test/hd:1", ctx).check()
    assert strata("run", "--rm", "test/hd:1").check().out == "one\nexpanded\nliteral $V\nshell expanded\n"


def test_healthcheck_and_onbuild(strata, store_root, pulled_busybox, ctx):
    write(ctx, {"Containerfile": f"""\
FROM {pulled_busybox}
HEALTHCHECK --interval=30s --timeout=1m30s --retries=3 CMD wget -q localhost || exit 1
ONBUILD RUN echo triggered > /trig
ONBUILD ENV T=1
"""})
    strata("build", "-t", "test/ob:1", ctx).check()
    c = image_config(strata, store_root, "test/ob:1")["config"]
    assert c["Healthcheck"] == {"Test": ["CMD-SHELL", "wget -q localhost || exit 1"],
                                "Interval": 30000000000, "Timeout": 90000000000, "Retries": 3}
    assert c["OnBuild"] == ["RUN echo triggered > /trig", "ENV T=1"]
    write(ctx, {"Containerfile": "FROM test/ob:1\nHEALTHCHECK CMD [\"true\"]\nCMD [\"cat\", \"/trig\"]\n"})
    r = strata("build", "-t", "test/ob:2", ctx).check()
    assert "--> ONBUILD RUN echo triggered > /trig" in r.out.splitlines()
    c = image_config(strata, store_root, "test/ob:2")["config"]
    assert "OnBuild" not in c and "T=1" in c["Env"]
    assert c["Healthcheck"] == {"Test": ["CMD", "true"]}
    assert strata("run", "--rm", "test/ob:2").check().out == "triggered\n"
    write(ctx, {"Containerfile": f"FROM {pulled_busybox}\nHEALTHCHECK --interval=5 CMD true\n"})
    r = strata("build", ctx)
    assert r.rc == 1 and "--interval: invalid duration '5'" in r.err


def make_tar(path, entries, mode="w:gz"):
    import io
    import tarfile
    with tarfile.open(path, mode) as t:
        for name, data in entries:
            ti = tarfile.TarInfo(name)
            if data is None:
                ti.type, ti.mode = tarfile.DIRTYPE, 0o750
            elif data.startswith(b"->"):
                ti.type, ti.linkname = tarfile.SYMTYPE, data[2:].decode()
            else:
                ti.size, ti.mode, ti.uid, ti.gid = len(data), 0o640, 5, 6
            t.addfile(ti, io.BytesIO(data) if data and not data.startswith(b"->") else None)


def test_add_extracts_local_archives(strata, pulled_busybox, ctx):
    make_tar(os.path.join(ctx, "a.tar.gz"), [("d", None), ("d/f", b"from the tar\n"), ("d/l", b"->f")])
    make_tar(os.path.join(ctx, "b.tar"), [("plain", b"plain tar\n")], mode="w")
    make_tar(os.path.join(ctx, "evil.tar"), [("../../escape", b"x\n")], mode="w")
    write(ctx, {"Containerfile": f"FROM {pulled_busybox}\nADD a.tar.gz b.tar /opt/\nADD note.txt /note\n",
                "note.txt": "just a file\n"})
    strata("build", "-t", "test/add:1", ctx).check()
    r = strata("run", "--rm", "test/add:1", "sh", "-c",
               "cat /opt/d/f /opt/plain /note; readlink /opt/d/l; stat -c '%a %u:%g' /opt/d /opt/d/f").check()
    assert r.out.splitlines() == ["from the tar", "plain tar", "just a file", "f", "750 0:0", "640 5:6"]
    write(ctx, {"Containerfile": f"FROM {pulled_busybox}\nADD evil.tar /opt/\n"})
    r = strata("build", ctx)
    assert r.rc == 1 and len(r.err_lines) == 1 and '".."' in r.err, r.err


def test_copy_and_add_heredocs(strata, pulled_busybox, ctx):
    write(ctx, {"Containerfile": f"""\
FROM {pulled_busybox}
ARG WHO=world
COPY <<EOF /hello
hello $WHO "quoted" \\$WHO
EOF
COPY --chmod=0755 <<'EOF' <<-robots.txt /site/
#!/bin/sh
echo $WHO
EOF
\tUser-agent: *
\trobots.txt
ADD <<EOF /added
${{WHO:-x}}
EOF
CMD ["sh", "-c", "cat /hello /site/EOF /site/robots.txt /added; stat -c '%a %n' /hello /site/EOF /site/robots.txt"]
"""})
    strata("build", "-t", "test/chd:1", ctx).check()
    r = strata("run", "--rm", "test/chd:1").check()
    assert r.out.splitlines() == ['hello world "quoted" $WHO', "#!/bin/sh", "echo $WHO", "User-agent: *", "world",
                                  "644 /hello", "755 /site/EOF", "755 /site/robots.txt"]
    # the body is the content: the same body is cached, an expanded one that
    # changed is not
    again = strata("build", ctx).check()
    assert again.out.count("--> Using cache ") == 4
    again = strata("build", "--build-arg", "WHO=you", ctx).check()
    assert again.out.count("--> Using cache ") == 0
    # no context needed
    r = strata("build", "-t", "test/chd:2", "-", input=f"FROM {pulled_busybox}\nCOPY <<EOF /x\nstdin\nEOF\n").check()
    assert strata("run", "--rm", "test/chd:2", "cat", "/x").check().out == "stdin\n"
    write(ctx, {"Containerfile": f"FROM {pulled_busybox}\nCOPY <<EOF <<A /x\n1\nEOF\n2\nA\n"})
    r = strata("build", ctx)
    assert r.rc == 1 and len(r.err_lines) == 1 and "the destination must be a directory" in r.err, r.err


@pytest.fixture
def http_log(tmp_path):
    """A static HTTP server over tmp_path/www: (dir, base URL, the paths asked for)."""
    import functools
    import http.server
    import threading
    www = tmp_path / "www"
    www.mkdir()
    log = []

    class H(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            log.append(self.path)
            super().do_GET()

        def log_message(self, *a):
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(H, directory=str(www)))
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield www, f"http://127.0.0.1:{srv.server_address[1]}", log
    srv.shutdown()


def test_add_url_and_checksum(strata, pulled_busybox, ctx, http_log):
    import hashlib
    www, url, log = http_log
    (www / "file.txt").write_text("remote\n")
    make_tar(str(www / "a.tar.gz"), [("inside", b"x\n")])
    sha = hashlib.sha256(b"remote\n").hexdigest()
    write(ctx, {"Containerfile": f"""\
FROM {pulled_busybox}
ADD {url}/file.txt?x=1 {url}/a.tar.gz /opt/
ADD --chown=3:4 --checksum=sha256:{sha} {url}/file.txt /named
CMD ["sh", "-c", "stat -c '%a %u:%g %n' /opt/file.txt /opt/a.tar.gz /named; cat /named"]
"""})
    strata("build", "-t", "test/url:1", ctx).check()
    r = strata("run", "--rm", "test/url:1").check()
    # a URL's download is not extracted; 0600 as docker makes it
    assert r.out.splitlines() == ["600 0:0 /opt/file.txt", "600 0:0 /opt/a.tar.gz", "600 3:4 /named", "remote"]
    assert sorted(log) == ["/a.tar.gz", "/file.txt", "/file.txt?x=1"]
    # again: URLs without a checksum are fetched (their content decides), the
    # one with --checksum is not
    del log[:]
    again = strata("build", ctx).check()
    assert again.out.count("--> Using cache ") == 3
    assert sorted(log) == ["/a.tar.gz", "/file.txt?x=1"]
    (www / "a.tar.gz").write_bytes(b"changed")
    assert strata("build", ctx).check().out.count("--> Using cache ") == 0

    for line, expect in [
        (f"ADD --checksum=sha256:{'0' * 64} {url}/file.txt /x",
         f"{url}/file.txt: checksum mismatch: the download is sha256:{sha}, --checksum says sha256:{'0' * 64}"),
        (f"ADD --checksum=md5:00 {url}/file.txt /x", "--checksum=md5:00: not sha256:HEX"),
        (f"ADD --checksum=sha256:{sha} file.txt /x", "--checksum is for URL sources only"),
        (f"ADD {url}/missing /x", "HTTP status 404"),
        (f"ADD {url}/ /x/", "cannot determine a file name from the URL"),
        (f"COPY {url}/file.txt /x", "a URL source is for ADD"),
    ]:
        write(ctx, {"Containerfile": f"FROM {pulled_busybox}\n{line}\n", "file.txt": "local\n"})
        r = strata("build", "--no-cache", ctx)
        assert r.rc == 1 and len(r.err_lines) == 1 and expect in r.err, (line, r.err)


def test_built_image_pushes_and_podman_pulls_it(strata, pulled_busybox, ctx, make_registry, tmp_path, request):
    """podman run does not work on this machine (crun, cgroups): podman pull,
    then the image's files through podman image mount and its config through
    podman image inspect."""
    _need("podman")
    import shutil
    import subprocess
    import tempfile
    write(ctx, {"Containerfile": f"""\
FROM {pulled_busybox}
COPY hello.txt /app/
RUN echo ran > /app/ran && chmod 0640 /app/ran && chmod -R g+w /app
COPY <<EOF /app/heredoc
inline
EOF
ENV K=v
CMD ["cat", "/app/ran"]
""", "hello.txt": "hi\n"})
    strata("build", "-t", "test/pushed:1", ctx).check()
    reg = make_registry()
    dest = f"{reg.host}/built/pushed:1"
    strata("push", "test/pushed:1", dest).check()
    env = dict(os.environ, HOME=str(tmp_path))
    run = tempfile.mkdtemp(prefix="pr")        # podman wants a runroot under 50 characters
    request.addfinalizer(lambda: shutil.rmtree(run, ignore_errors=True))
    base = ["podman", "--root", str(tmp_path / "podman"), "--runroot", run, "--storage-driver", "vfs"]

    def pm(*args):
        p = subprocess.run(base + list(args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert p.returncode == 0, p.stderr
        return p.stdout
    pm("pull", "--tls-verify=false", "-q", dest)
    cfg = json.loads(pm("image", "inspect", dest))[0]["Config"]
    assert cfg["Cmd"] == ["cat", "/app/ran"] and "K=v" in cfg["Env"]
    root = pm("image", "mount", dest).strip()
    try:
        def st(p):
            s = os.lstat(os.path.join(root, p))
            return oct(s.st_mode & 0o7777), open(os.path.join(root, p)).read()
        assert st("app/ran") == ("0o660", "ran\n")
        assert st("app/hello.txt") == ("0o664", "hi\n")
        assert st("app/heredoc") == ("0o644", "inline\n")
    finally:
        pm("image", "unmount", dest)


def test_arg_scoping_shell_proxy_args_and_escape(strata, store_root, pulled_busybox, ctx):
    """ARG before FROM serves FROM and comes into a stage only when declared
    there again; a stage's ARG ends with it; ENV wins over ARG; the proxy
    args are in a RUN's environment without ARG, never in the history or
    the config, and unused they draw no warning; SHELL changes the shell
    form; the escape directive."""
    write(ctx, {"Containerfile": f"""\
# escape=`
ARG BASE={pulled_busybox}
ARG GLOBAL=g
FROM $BASE AS one
ARG STAGE=s1
RUN echo "one:[$GLOBAL][$STAGE]" > /one
FROM $BASE
ARG GLOBAL
ARG V=arg
ENV V=env
MAINTAINER someone <x@example.com>
SHELL ["/bin/sh", "-e", "-c"]
RUN echo "two:[$GLOBAL][$STAGE][$V][$HTTP_PROXY][$no_proxy]" > /two && `
    test "$0" = /bin/sh
COPY --from=one /one /one
CMD ["cat", "/one", "/two"]
"""})
    r = strata("build", "--build-arg", "HTTP_PROXY=http://proxy:3128", "--build-arg", "no_proxy=local",
               "--build-arg", "https_proxy=unused", "-t", "test/args:1", ctx).check()
    assert "Warning" not in r.err, r.err
    assert strata("run", "--rm", "test/args:1").check().out == \
        "one:[][s1]\ntwo:[g][][env][http://proxy:3128][local]\n"
    cfg = image_config(strata, store_root, "test/args:1")
    assert cfg["author"] == "someone <x@example.com>"
    assert cfg["config"]["Shell"] == ["/bin/sh", "-e", "-c"]
    text = json.dumps(cfg)
    assert "proxy:3128" not in text and "local" not in text
    run = [h["created_by"] for h in cfg["history"] if "two:" in h.get("created_by", "")]
    assert run == ['|2 GLOBAL=g V=arg /bin/sh -e -c echo "two:[$GLOBAL][$STAGE][$V][$HTTP_PROXY][$no_proxy]" '
                   '> /two &&     test "$0" = /bin/sh'], run
    # a --build-arg nothing declares is named
    r = strata("build", "--build-arg", "NOPE=1", ctx).check()
    assert "[Warning] one or more build args were not consumed: NOPE" in r.err


def test_copy_direct_and_through_the_union(strata, pulled_busybox, ctx):
    """A COPY into new paths (or an empty directory) writes straight into the
    writable layer; into a directory with content, or through a symlink,
    through the union: the same results as the union gives."""
    write(ctx, {"Containerfile": f"""\
FROM {pulled_busybox}
RUN mkdir -m 1777 /sticky && mkdir /full && echo a > /full/a && ln -s /full /link && \\
    mkdir -m 0700 /empty && echo old > /sticky/f
COPY f /sticky/
COPY d/ /full/
COPY f /link/
COPY d/ /empty/
COPY d/ /new/deep/
CMD ["sh", "-c", "stat -c '%a %F %n' /sticky /sticky/f /full/a /full/x /full/f /link /empty /empty/x /new/deep/x; \\
     cat /sticky/f /full/a"]
""", "f": "new\n", "d/x": "x\n"})
    r = strata("--debug", "build", "-t", "test/direct:1", ctx).check()
    ways = [line.split("COPY writes ")[1] for line in r.err.splitlines() if "COPY writes" in line]
    assert ways == ["straight into the writable layer", "through the union", "through the union",
                    "straight into the writable layer", "straight into the writable layer"], ways
    r = strata("run", "--rm", "test/direct:1").check()
    assert r.out.splitlines() == ["1777 directory /sticky", "644 regular file /sticky/f", "644 regular file /full/a",
                                  "644 regular file /full/x", "644 regular file /full/f", "777 symbolic link /link",
                                  "700 directory /empty", "644 regular file /empty/x",
                                  "644 regular file /new/deep/x", "new", "a"]


def test_copy_from_an_image(strata, pulled_busybox, ctx):
    """COPY --from=IMAGE (not a stage): the image's files; its ID is the
    cache key's content."""
    write(ctx, {"Containerfile": f"FROM scratch\nCOPY --from={pulled_busybox} /bin/busybox /bin/\n"
                                 f"COPY --from={pulled_busybox} /etc/os-release /etc/\n"})
    strata("build", "-t", "test/cfi:1", ctx).check()
    r = strata("run", "--rm", "test/cfi:1", "/bin/busybox", "cat", "/etc/os-release").check()
    assert r.out and strata("build", ctx).check().out.count("--> Using cache ") == 2
