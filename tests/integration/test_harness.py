"""Tests of the test harness itself (fixtures in conftest.py, helpers/):
if these fail, fix the harness before reading other failures."""
import io
import json
import os
import tarfile
import urllib.request

import pytest

from helpers import (CharDev, Dir, File, Hardlink, Opaque, Raw, Symlink, Whiteout,
                     digest_of, layer_tar, snapshot, snapshot_diff, wait_until)
from helpers.images import OCI_LAYER_ZSTD, DOCKER_MANIFEST


def test_layer_tar_entries():
    tar = layer_tar([Dir("etc"), File("etc/a", b"A", 0o600, xattrs={"user.k": "v"}),
                     Symlink("etc/l", "a"), Hardlink("etc/h", "etc/a"),
                     Whiteout("etc/gone"), Opaque("var"), CharDev("dev/null", 1, 3),
                     Raw(tarfile.TarInfo("../escape"), b"x")])
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        m = {i.name: i for i in t.getmembers()}
    assert m["etc/a"].mode == 0o600 and m["etc/a"].pax_headers["SCHILY.xattr.user.k"] == "v"
    assert m["etc/l"].issym() and m["etc/l"].linkname == "a"
    assert m["etc/h"].islnk()
    assert "etc/.wh.gone" in m and "var/.wh..wh..opq" in m
    assert m["dev/null"].ischr() and m["dev/null"].devminor == 3
    assert "../escape" in m
    assert tar.endswith(b"\0" * 1024)          # end-of-archive blocks present


def test_registry_restart_keeps_port_and_content(registry):
    c = registry.client()
    d = c.push_blob("t/x", b"hello")
    port = registry.port
    registry.kill()
    registry.wait_down()
    registry.start()
    assert registry.port == port
    assert c.get_blob("t/x", d).body == b"hello"


def test_htpasswd_registry(make_registry, build_image):
    reg = make_registry(auth="htpasswd", users={"alice": "pw"})
    assert reg.client(None).request("GET", "/v2/").status == 401
    img = build_image(reg, "auth/img:1", layers=[[File("hello", b"hi\n")]])
    assert img.layers and reg.client().get_blob("auth/img", img.layers[0].digest).status == 200


def test_token_registry(make_registry, build_image):
    reg = make_registry(auth="token", users={"bob": "pw"}, anonymous_pull=False)
    ts = reg.token_server
    assert reg.client(None).request("GET", "/v2/t/blobs/sha256:" + "0" * 64,
                                    scope="repository:t:pull").status == 401
    img = build_image(reg, "tok/img:1", layers=[[File("hello", b"hi\n")]])
    assert ts.issued >= 1
    assert reg.client().get_manifest("tok/img", "1").status == 200
    assert img.digest.startswith("sha256:")


def test_build_image_and_skopeo_digests(session_registry, build_image):
    img = build_image(session_registry, "harness/two:1",
                      layers=[[Dir("etc"), File("etc/one", b"1")], [File("etc/two", b"2")]],
                      config={"Env": ["A=1"], "Cmd": ["/bin/sh"], "WorkingDir": "/etc"},
                      history=["one", "two"])
    assert len(img.layers) == 2 and len(img.diff_ids) == 2
    assert img.config["config"]["Env"] == ["A=1"]
    assert img.config["config"]["WorkingDir"] == "/etc"
    # digests equal those of the OCI layout skopeo copied from
    assert os.path.exists(os.path.join(img.layout, "blobs/sha256", img.digest.split(":")[1]))
    for l in img.layers:
        assert os.path.exists(os.path.join(img.layout, "blobs/sha256", l.digest.split(":")[1]))
    again = build_image(session_registry, "harness/two:2",
                        layers=[[Dir("etc"), File("etc/one", b"1")], [File("etc/two", b"2")]],
                        config={"Env": ["A=1"], "Cmd": ["/bin/sh"], "WorkingDir": "/etc"},
                        history=["one", "two"])
    assert again.digest == img.digest and again.layout == img.layout


def test_docker_format(session_registry, build_image):
    img = build_image(session_registry, "harness/docker:1", layers=[[File("x", b"x")]], fmt="v2s2")
    assert img.media_type == DOCKER_MANIFEST


def test_busybox_and_index(busybox_image, multiplatform_index):
    assert busybox_image.ref.endswith("/test/busybox:latest")
    assert len(busybox_image.layers) == 1
    assert set(multiplatform_index.images) == {"linux/amd64", "linux/arm64/v8"}
    arm = multiplatform_index.images["linux/arm64/v8"]
    assert arm.config["architecture"] == "arm64"
    assert multiplatform_index.index["mediaType"] == "application/vnd.oci.image.index.v1+json"


def test_push_raw_zstd_and_mutate(registry, push_raw):
    img = push_raw(registry, "raw/z:1", layers=[[File("z", b"zstd!")]], compression="zstd")
    assert img.layers[0].media_type == OCI_LAYER_ZSTD
    assert img.diff_ids == [digest_of(layer_tar([File("z", b"zstd!")]))]

    def lie(m):
        m["annotations"] = {"lie": "yes"}
    img2 = push_raw(registry, "raw/z:2", layers=[[File("z", b"zstd!")]], mutate=lie)
    assert img2.manifest["annotations"] == {"lie": "yes"}


def test_proxy_records_and_cuts(registry, make_proxy):
    c = registry.client()
    data = os.urandom(300000)
    d = c.push_blob("p/x", data)
    px = make_proxy(registry)
    url = f"{px.url}/v2/p/x/blobs/{d}"
    with urllib.request.urlopen(url) as r:
        assert r.read() == data
    px.cut_after(d, 1000)
    with pytest.raises(Exception):
        with urllib.request.urlopen(url) as r:
            got = r.read()
            assert len(got) == len(data)
    req = urllib.request.Request(url, headers={"Range": "bytes=1000-"})
    with urllib.request.urlopen(req) as r:
        assert r.status == 206 and r.read() == data[1000:]
    gets = px.blob_gets(d)
    assert [g.range for g in gets] == [None, None, "bytes=1000-"]
    assert gets[1].action == "cut" and gets[1].bytes_sent == 1000
    px.fail("/blobs/", 503)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url)
    assert e.value.code == 503


def test_silent_server(silent_server):
    import socket
    s = socket.create_connection(("127.0.0.1", silent_server.port), timeout=2)
    s.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
    s.settimeout(0.3)
    with pytest.raises(socket.timeout):
        s.recv(10)
    s.close()
    wait_until(lambda: silent_server.accepted >= 1, what="accept")


def test_snapshot_ignores_the_empty_skeleton(tmp_path):
    before = snapshot(str(tmp_path / "store"))
    for d in ("blobs/sha256", "layers", "mounts", "tmp"):
        (tmp_path / "store" / d).mkdir(parents=True)
    (tmp_path / "store" / "lock").write_bytes(b"")
    assert snapshot(str(tmp_path / "store")) == before == {}
    (tmp_path / "store" / "layers" / "x").mkdir()
    (tmp_path / "store" / "layers" / "x" / "layer.json").write_bytes(b"{}")
    assert snapshot_diff(before, snapshot(str(tmp_path / "store"))) == ["+ layers/x/layer.json"]


def test_proxy_respond(registry, make_proxy):
    px = make_proxy(registry)
    px.respond("/manifests/1", b'{"schemaVersion": 1}', headers={"Content-Type": "application/json"},
               method="GET", times=1)
    with urllib.request.urlopen(f"{px.url}/v2/x/manifests/1") as r:
        assert r.read() == b'{"schemaVersion": 1}'
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{px.url}/v2/x/manifests/1")
    assert e.value.code == 404
    assert [q.action for q in px.requests] == ["respond", "forward"]


def test_snapshot(tmp_path):
    (tmp_path / "blobs").mkdir()
    (tmp_path / "blobs" / "a").write_bytes(b"a")
    (tmp_path / "tmp").mkdir()
    before = snapshot(str(tmp_path))
    (tmp_path / "tmp" / "x.partial").write_bytes(b"p")
    assert snapshot(str(tmp_path)) == before
    (tmp_path / "blobs" / "a").write_bytes(b"b")
    assert snapshot_diff(before, snapshot(str(tmp_path))) and json.dumps(list(before))


def test_strata_runs(strata, store_root):
    r = strata("--version")
    assert r.rc == 0 and "strata" in r.out


def test_build_on_base_reuses_layers(registry, build_image):
    from helpers import random_bytes
    base = build_image(registry, "share/base:1", layers=[[File("big", random_bytes(1 << 20, 7))]])
    imgs = [build_image(registry, f"share/t:{i}", layers=[[File(f"t{i}", b"%d" % i)]], base=base)
            for i in range(3)]
    for img in imgs:
        assert img.layers[0].digest == base.layers[0].digest
        assert len(img.layers) == 2
    assert len({img.digest for img in imgs}) == 3


def test_docker_manifest_list(registry, build_index):
    idx = build_index(registry, "multi/docker:1",
                      {"linux/amd64": {"layers": [[File("a", b"amd64")]]},
                       "linux/arm64/v8": {"layers": [[File("a", b"arm64")]]}}, fmt="v2s2")
    from helpers import DOCKER_LIST
    assert idx.index["mediaType"] == DOCKER_LIST
    assert idx.index["manifests"][1]["platform"].get("variant") == "v8"


def test_write_docker_config(tmp_path):
    from helpers import write_docker_config
    p = write_docker_config(tmp_path, {"127.0.0.1:1": ("u", "p")})
    assert json.load(open(p))["auths"]["127.0.0.1:1"]["auth"] == "dTpw"
    assert os.stat(p).st_mode & 0o777 == 0o600


def test_pull_through_proxy_smoke(strata, busybox_image, make_proxy, store_root):
    """The chain the other tests build on: session registry -> proxy -> strata."""
    from helpers.store import blob_files
    px = make_proxy(busybox_image.registry)
    r = strata("pull", f"{px.host}/{busybox_image.repo}:{busybox_image.tag}")
    assert r.rc == 0, r
    assert px.blob_gets(busybox_image.layers[0].digest)
    have = blob_files(store_root)
    for d in [busybox_image.config_digest] + [l.digest for l in busybox_image.layers]:
        assert d in have


def test_redirect_to_blob_store(registry, make_proxy, make_blob_store):
    data = os.urandom(5000)
    d = registry.client().push_blob("r/x", data)
    bs = make_blob_store(registry)
    px = make_proxy(registry)
    px.redirect("/blobs/sha256:", bs.url)
    req = urllib.request.Request(f"{px.url}/v2/r/x/blobs/{d}", headers={"Authorization": "Bearer t"})
    with urllib.request.urlopen(req) as r:
        assert r.read() == data
    assert px.blob_gets(d)[0].action == "redirect"
    assert bs.requests and bs.requests[0].path.endswith(d)
    req = urllib.request.Request(f"{bs.url}/v2/r/x/blobs/{d}", headers={"Range": "bytes=100-"})
    with urllib.request.urlopen(req) as r:
        assert r.status == 206 and r.read() == data[100:]


def test_pull_through_cache_registry(registry, make_registry, build_image):
    img = build_image(registry, "up/img:1", layers=[[File("f", b"up")]])
    mirror = make_registry(proxy_remote=registry.url)
    r = mirror.client().get_manifest("up/img", "1")
    assert r.status == 200 and r.headers["Docker-Content-Digest"] == img.digest


def test_proxy_throttle_and_upstream_killed(registry, make_proxy):
    import threading
    data = os.urandom(2 << 20)
    d = registry.client().push_blob("k/x", data)
    px = make_proxy(registry).throttle(1 << 20)          # 2 MiB takes ~2 s
    got = {}

    def fetch():
        try:
            with urllib.request.urlopen(f"{px.url}/v2/k/x/blobs/{d}") as r:
                got["data"] = r.read()
        except Exception as e:                            # cut off: expected
            got["error"] = e
    t = threading.Thread(target=fetch)
    t.start()
    wait_until(lambda: px.blob_gets(d) and px.blob_gets(d)[0].bytes_sent > 256 << 10, what="256 KiB sent")
    registry.kill()
    px.drop_connections()      # the socket buffers may already hold all 2 MiB
    t.join(10)
    assert not t.is_alive()
    assert "error" in got or len(got.get("data", b"")) < len(data)
    assert px.blob_gets(d)[0].bytes_sent < len(data)
    with pytest.raises(urllib.error.HTTPError) as e:     # upstream down: 502
        urllib.request.urlopen(f"{px.url}/v2/")
    assert e.value.code == 502
    registry.start()
    px.throttle(None)
    with urllib.request.urlopen(f"{px.url}/v2/k/x/blobs/{d}") as r:
        assert r.read() == data


def test_zstd_stored_frame_pulls(registry, push_raw, strata):
    """zstd_bytes() falls back to stored frames without the zstd CLI: they
    must be real zstd that strata (libzstd) reads."""
    from helpers.util import zstd_stored_frame
    from helpers import OCI_LAYER_ZSTD
    tar = layer_tar([File("big", os.urandom(300000)), File("small", b"s")])
    img = push_raw(registry, "z/stored:1", layers=[(zstd_stored_frame(tar), OCI_LAYER_ZSTD, digest_of(tar))])
    assert img.diff_ids == [digest_of(tar)]
    strata("pull", img.ref).check()


def test_skopeo_oci_blobs(multiplatform_index, tmp_path):
    from helpers import skopeo_oci_blobs
    arm = multiplatform_index.images["linux/arm64/v8"]
    got = skopeo_oci_blobs(multiplatform_index.registry, "test/multi:latest", tmp_path / "oci",
                           platform="linux/arm64/v8")
    assert set(arm.blob_digests()) <= got


@pytest.mark.fuse
def test_mount_is_cleaned_up(strata, busybox_image, tmp_path, mounts):
    from helpers import is_mounted
    strata("pull", busybox_image.ref).check()
    mnt = tmp_path / "m"
    mnt.mkdir()
    strata("mount", busybox_image.ref, mnt).check()
    assert is_mounted(mnt) and str(mnt) in mounts.paths
    mounts.cleanup()
    assert not is_mounted(mnt)


def test_random_bytes_big_and_deterministic():
    """The bench's big image needs 256 MiB of random bytes: one randbytes()
    call of that size overflows in Python 3.11 (issue 15)."""
    from helpers import random_bytes
    big = random_bytes(256 << 20, 7)
    assert len(big) == 256 << 20
    assert big[-4096:] == random_bytes(256 << 20, 7)[-4096:]
    assert random_bytes(1000, 3) == random_bytes(1000, 3) != random_bytes(1000, 4)
