"""strata push against real Distribution registries (issue 11).

Cites UPLOAD INVARIANTS of fetch/fetch.h and PUSH INVARIANTS of
cli/cmd-push.c."""
import json
import os
import shutil
import signal
import subprocess

import pytest

from helpers import File, wait_until
from helpers.images import random_bytes
from helpers import util
from helpers.util import write_docker_config


def three_layers():
    return [[File("a/one", b"one\n")],
            [File("b/two", b"two\n" * 1000)],
            [File("c/three", random_bytes(300_000, seed=3))]]


def pulled(strata, registry, build_image, name="x/src:1", layers=None):
    """An image built on @registry and pulled into the store."""
    img = build_image(registry, name, layers=layers or three_layers())
    strata("pull", img.ref).check()
    return img


def blob_requests(px, method, contains="/blobs/"):
    return [q for q in px.requests if q.method == method and contains in q.path]


def one_line_failure(r, *needles):
    return util.one_line_failure(r, "push", *needles)


def skopeo_inspect_digest(ref):
    out = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--raw", "docker://" + ref],
                         check=True, stdout=subprocess.PIPE).stdout
    dig = subprocess.run(["skopeo", "manifest-digest", "/dev/stdin"], input=out,
                         check=True, stdout=subprocess.PIPE).stdout.decode().strip()
    return dig, out


# ------------------------------------------------------------ the round trip
def test_push_to_another_registry_keeps_digest(strata, make_registry, build_image, tmp_path):
    a, b = make_registry(), make_registry()
    img = pulled(strata, a, build_image)
    dest = f"{b.host}/y/dst:2"
    r = strata("push", img.ref, dest).check()
    assert r.lines[0] == f"The push refers to repository [{b.host}/y/dst]", r.out
    # one row per layer, docker's ids (diff IDs), all sent
    for d in img.diff_ids:
        assert f"{d[7:19]}: Pushed" in r.out, r.out
    assert r.lines[-1] == f"2: digest: {img.digest} size: {len(img.manifest_bytes)}", r.out
    # the registry holds exactly the bytes pulled (UPLOAD 2): same digest
    got = b.client().get_manifest("y/dst", "2")
    assert got.status == 200 and got.body == img.manifest_bytes
    assert got.headers["Docker-Content-Digest"] == img.digest
    dig, raw = skopeo_inspect_digest(dest)
    assert dig == img.digest and raw == img.manifest_bytes
    # skopeo copies it out whole (every blob verified)
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", "docker://" + dest,
                    "oci:" + str(tmp_path / "oci") + ":t"], check=True,
                   stdout=subprocess.DEVNULL)
    idx = json.load(open(tmp_path / "oci" / "index.json"))
    assert idx["manifests"][0]["digest"] == img.digest
    # and strata pulls it back from B in another store
    r = strata("pull", dest, root=str(tmp_path / "store2")).check()
    assert f"Digest: {img.digest}" in r.out


def test_push_podman_reads_it(strata, make_registry, build_image, tmp_path, request):
    a, b = make_registry(), make_registry()
    img = pulled(strata, a, build_image)
    dest = f"{b.host}/y/pod:1"
    strata("push", img.ref, "docker://" + dest).check()     # podman's transport prefix
    env = dict(os.environ, HOME=str(tmp_path))
    import tempfile
    run = tempfile.mkdtemp(prefix="pr")        # podman wants a runroot under 50 characters
    request.addfinalizer(lambda: shutil.rmtree(run, ignore_errors=True))
    base = ["podman", "--root", str(tmp_path / "podman"), "--runroot", run, "--storage-driver", "vfs"]
    p = subprocess.run(base + ["pull", "--tls-verify=false", "-q", dest], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert p.returncode == 0, p.stderr
    out = subprocess.run(base + ["image", "inspect", "--format", "{{.Digest}}", dest], check=True,
                         env=env, stdout=subprocess.PIPE, text=True).stdout.strip()
    assert out == img.digest


def test_second_push_sends_nothing(strata, make_registry, build_image, make_proxy):
    a, b = make_registry(), make_registry()
    img = pulled(strata, a, build_image)
    px = make_proxy(b)
    dest = f"{px.host}/y/again:1"
    strata("push", img.ref, dest).check()
    px.clear()
    r = strata("push", img.ref, dest).check()
    # UPLOAD (1): asked for, found, not sent
    assert r.out.count("Layer already exists") == 3, r.out
    assert "Pushed" not in r.out, r.out
    heads = blob_requests(px, "HEAD")
    assert len(heads) == 4 and all(q.status == 200 for q in heads), px.requests
    assert not [q for q in px.requests if q.method in ("POST", "PATCH")], px.requests
    assert [q.path for q in px.requests if q.method == "PUT"] == ["/v2/y/again/manifests/1"]


def test_push_own_name(strata, make_registry, build_image):
    """`strata push NAME` goes to the registry NAME names."""
    a, b = make_registry(), make_registry()
    img = pulled(strata, a, build_image)
    strata("tag", img.ref, f"{b.host}/y/own:3").check()
    r = strata("push", "-q", f"{b.host}/y/own:3").check()
    assert r.out == f"{b.host}/y/own:3\n", r.out
    got = b.client().get_manifest("y/own", "3")
    assert got.headers["Docker-Content-Digest"] == img.digest


def test_push_mounts_from_another_repository(strata, make_registry, build_image, make_proxy):
    a, b = make_registry(), make_registry()
    img = pulled(strata, a, build_image)
    px = make_proxy(b)
    strata("tag", img.ref, f"{px.host}/y/first:1").check()
    strata("push", f"{px.host}/y/first:1").check()
    px.clear()
    r = strata("push", img.ref, f"{px.host}/y/second:1").check()
    assert r.out.count("Mounted from y/first") == 3, r.out
    mounts = [q for q in px.requests if q.method == "POST" and "mount=" in q.path]
    assert len(mounts) == 4 and all(q.status == 201 and "from=y%2Ffirst" in q.path for q in mounts), mounts
    assert not [q for q in px.requests if q.method in ("PATCH",) or
                (q.method == "PUT" and "/blobs/" in q.path)], px.requests
    got = b.client().get_manifest("y/second", "1")
    assert got.headers["Docker-Content-Digest"] == img.digest


# ------------------------------------------------------------ cut short
def test_push_killed_midway_then_again(strata, strata_popen, make_registry, build_image, make_proxy):
    """SIGKILL while a blob streams; the next push sends only what the
    registry lacks, and until then no tag exists (UPLOAD 3)."""
    a, b = make_registry(), make_registry()
    img = pulled(strata, a, build_image, layers=[[File("big1", random_bytes(1 << 20, seed=11))],
                                                 [File("big2", random_bytes(1 << 20, seed=12))]])
    px = make_proxy(b).throttle_uploads(512 << 10)
    dest = f"{px.host}/y/cut:1"
    p = strata_popen("push", "-j", "1", img.ref, dest)

    def one_done_one_going():
        puts = blob_requests(px, "PUT")
        return any(q.status == 201 for q in puts) and any(q.status == 0 and q.bytes_received for q in puts)
    wait_until(one_done_one_going, timeout=60, what="a blob pushed and another one under way")
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert b.client().get_manifest("y/cut", "1").status == 404
    # the layer that made it is there; the one cut short is not
    have = [b.client().request("HEAD", f"/v2/y/cut/blobs/{l.digest}").status for l in img.layers]
    assert sorted(have) == [200, 404], have
    px.throttle_uploads(None)
    px.clear()
    r = strata("push", img.ref, dest).check()
    assert r.out.count("Layer already exists") == 1 and r.out.count("Pushed") == 1, r.out
    sent = [q for q in blob_requests(px, "PUT") + blob_requests(px, "PATCH") if q.bytes_received]
    assert len(sent) == 2, px.requests     # the missing layer and the config
    assert b.client().get_manifest("y/cut", "1").headers["Docker-Content-Digest"] == img.digest


# ------------------------------------------------------------ refusals
@pytest.mark.parametrize("status", [401, 403])
def test_push_refused(strata, make_registry, build_image, make_proxy, status):
    a, b = make_registry(), make_registry()
    img = pulled(strata, a, build_image)
    px = make_proxy(b)
    px.fail("/blobs/uploads/", status, times=None,
            body=b'{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}')
    r = strata("push", img.ref, f"{px.host}/y/no:1")
    one_line_failure(r, f"{px.host}/y/no", "denied: requested access to the resource is denied")
    assert not [q for q in px.requests if "/manifests/" in q.path], px.requests


def test_push_server_error(strata, make_registry, build_image, make_proxy, strata_env):
    """A 5xx is retried STRATA_RETRIES times (as a pull's), then one line."""
    a, b = make_registry(), make_registry()
    img = pulled(strata, a, build_image, layers=three_layers()[:1])
    px = make_proxy(b)
    px.fail("/blobs/uploads/", 500, times=None)
    r = strata("push", img.ref, f"{px.host}/y/err:1", env=dict(strata_env, STRATA_RETRIES="1"))
    one_line_failure(r, f"{px.host}/y/err", "injected", "HTTP 500")
    assert len(blob_requests(px, "POST")) == 2, px.requests
    assert not [q for q in px.requests if "/manifests/" in q.path], px.requests


def test_push_token_scope(strata, make_registry, build_image, strata_env):
    a = make_registry()
    b = make_registry(auth="token", anonymous_pull=True)
    img = pulled(strata, a, build_image)
    dest = f"{b.host}/y/tok:1"
    # anonymous: the token server grants pull only, the registry refuses the push
    r = strata("push", img.ref, dest)
    one_line_failure(r, f"{b.host}/y/tok", "denied: requested access to the resource is denied")
    write_docker_config(strata_env["HOME"], {b.host: b.creds})
    ts = b.token_server
    ts.requests.clear()
    strata("push", img.ref, dest).check()
    scopes = [s for q in ts.requests for s in q.params.get("scope", [])]
    assert scopes and all(s == "repository:y/tok:pull,push" for s in scopes), ts.requests
    assert all(q.authorization for q in ts.requests), ts.requests
    assert b.client().get_manifest("y/tok", "1").headers["Docker-Content-Digest"] == img.digest


def test_push_htpasswd(strata, make_registry, build_image, strata_env):
    a = make_registry()
    b = make_registry(auth="htpasswd")
    img = pulled(strata, a, build_image, layers=three_layers()[:1])
    dest = f"{b.host}/y/basic:1"
    one_line_failure(strata("push", img.ref, dest), b.host)
    write_docker_config(strata_env["HOME"], {b.host: b.creds})
    strata("push", img.ref, dest).check()
    assert b.client().get_manifest("y/basic", "1").headers["Docker-Content-Digest"] == img.digest


# ------------------------------------------------------------ chunks
def chunked_env(strata_env, size):
    env = dict(strata_env, STRATA_PUSH_CHUNK_SIZE=str(size))
    return env


def patch_ranges(px):
    return [(q.headers.get("Content-Range"), q.status) for q in blob_requests(px, "PATCH")]


def test_push_in_chunks(strata, make_registry, build_image, make_proxy, strata_env):
    a, b = make_registry(), make_registry()
    big = [[File("c/three", random_bytes(300_000, seed=3))]]
    img = pulled(strata, a, build_image, layers=big)
    px = make_proxy(b)
    strata("push", img.ref, f"{px.host}/y/chunks:1", env=chunked_env(strata_env, 100_000)).check()
    size = img.layers[0].size
    assert size > 300_000
    # PATCH chunks with their Content-Range, the rest in the closing PUT ?digest=
    want = [(f"{o}-{o + 99_999}", 202) for o in range(0, size - 100_000, 100_000)]
    assert patch_ranges(px) == want, px.requests
    puts = [q for q in blob_requests(px, "PUT") if "digest=" in q.path and q.bytes_received == size - 100_000 * len(want)]
    assert len(puts) == 1, px.requests
    assert b.client().get_manifest("y/chunks", "1").headers["Docker-Content-Digest"] == img.digest


def test_push_failed_chunk_retried(strata, make_registry, build_image, make_proxy, strata_env):
    a, b = make_registry(), make_registry()
    img = pulled(strata, a, build_image, layers=[[File("c/three", random_bytes(300_000, seed=3))]])
    px = make_proxy(b)
    px.fail(lambda q: q.method == "PATCH" and (q.headers.get("Content-Range") or "").startswith("100000-"), 500)
    strata("push", img.ref, f"{px.host}/y/retry:1", env=chunked_env(strata_env, 100_000)).check()
    # the chunk that failed is sent again after asking the registry where it is (GET)
    assert patch_ranges(px) == [("0-99999", 202), ("100000-199999", 500), ("100000-199999", 202),
                                ("200000-299999", 202)], px.requests
    assert [q.status for q in px.requests if q.method == "GET" and "/blobs/uploads/" in q.path] == [204]
    assert b.client().get_manifest("y/retry", "1").headers["Docker-Content-Digest"] == img.digest


def test_push_request_size_limit(strata, make_registry, build_image, make_proxy):
    """A registry (or its front) that refuses large requests with 413: the
    blob goes again in chunks half as large, down to what it takes."""
    a, b = make_registry(), make_registry()
    img = pulled(strata, a, build_image, layers=[[File("c/three", random_bytes(300_000, seed=3))]])
    px = make_proxy(b)
    px.respond(lambda q: q.method in ("PUT", "PATCH") and int(q.headers.get("Content-Length") or 0) > 100_000,
               b'{"errors":[{"code":"SIZE_INVALID","message":"request entity too large"}]}', status=413)
    strata("push", img.ref, f"{px.host}/y/small:1").check()
    sizes = [int(q.headers["Content-Length"]) for q in px.requests
             if q.method in ("PUT", "PATCH") and "/blobs/" in q.path and q.status != 413]
    assert sizes and max(sizes) <= 100_000, px.requests
    assert b.client().get_manifest("y/small", "1").headers["Docker-Content-Digest"] == img.digest


def test_push_chunk_min_length(strata, make_registry, build_image, make_proxy, strata_env):
    a, b = make_registry(), make_registry()
    img = pulled(strata, a, build_image, layers=[[File("c/three", random_bytes(300_000, seed=3))]])
    px = make_proxy(b)
    px.add_header(lambda q: q.method == "POST", "OCI-Chunk-Min-Length", "120000")
    strata("push", img.ref, f"{px.host}/y/min:1", env=chunked_env(strata_env, 50_000)).check()
    assert [r for r, _ in patch_ranges(px)] == ["0-119999", "120000-239999"], px.requests
    assert b.client().get_manifest("y/min", "1").headers["Docker-Content-Digest"] == img.digest


def test_push_mounts_where_an_earlier_push_went(strata, make_registry, build_image, make_proxy, store_root):
    """No name in the store points at the first repository: the store noted
    where the blobs went (ROOT/locations.json), as docker's metadata does."""
    a, b = make_registry(), make_registry()
    img = pulled(strata, a, build_image)
    px = make_proxy(b)
    strata("push", img.ref, f"{px.host}/y/one:1").check()
    px.clear()
    r = strata("push", img.ref, f"{px.host}/y/two:1").check()
    assert r.out.count("Mounted from y/one") == 3, r.out
    assert not [q for q in px.requests if q.method == "PUT" and "/blobs/" in q.path], px.requests
    loc = json.load(open(os.path.join(store_root, "locations.json")))
    assert loc[img.layers[0].digest][:2] == [f"{px.host}/y/two", f"{px.host}/y/one"], loc


def test_push_mount_token_scope(strata, make_registry, build_image, strata_env):
    """A mount asks the token server for pull on the source repository too."""
    a = make_registry()
    b = make_registry(auth="token", anonymous_pull=False)
    img = pulled(strata, a, build_image)
    write_docker_config(strata_env["HOME"], {b.host: b.creds})
    strata("push", img.ref, f"{b.host}/y/src:1").check()
    ts = b.token_server
    ts.requests.clear()
    r = strata("push", img.ref, f"{b.host}/y/dst:1").check()
    assert r.out.count("Mounted from y/src") == 3, r.out
    scopes = {s for q in ts.requests for s in q.params.get("scope", [])}
    assert {"repository:y/dst:pull,push", "repository:y/src:pull"} <= scopes, ts.requests


def test_push_missing_layer_blob(strata, make_registry, build_image, store_root):
    a, b = make_registry(), make_registry()
    img = pulled(strata, a, build_image)
    os.unlink(os.path.join(store_root, "blobs", "sha256", img.layers[1].digest[7:]))
    r = strata("push", img.ref, f"{b.host}/y/gone:1")
    one_line_failure(r, img.layers[1].digest, img.diff_ids[1], "not in the store")
    # PUSH 1: checked before the first request
    assert "POST" not in b.log() and "PUT" not in b.log()


# ------------------------------------------------------------ --format
def test_push_format_docker_then_oci(strata, make_registry, build_image, tmp_path):
    """--format rewrites only the manifest: the blobs, and so the image ID and
    the layers, stay; without a change of format the digest stays too."""
    a, b = make_registry(), make_registry()
    img = pulled(strata, a, build_image)
    assert img.media_type == "application/vnd.oci.image.manifest.v1+json"
    r = strata("push", "--format", "docker", img.ref, f"{b.host}/y/fmt:docker").check()
    got = b.client().get_manifest("y/fmt", "docker")
    m = got.json()
    assert got.headers["Content-Type"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert m["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert m["config"] == dict(img.manifest["config"], mediaType="application/vnd.docker.container.image.v1+json")
    assert [l["digest"] for l in m["layers"]] == [l.digest for l in img.layers]
    assert {l["mediaType"] for l in m["layers"]} == {"application/vnd.docker.image.rootfs.diff.tar.gzip"}
    assert got.headers["Docker-Content-Digest"] != img.digest
    assert f"docker: digest: {got.headers['Docker-Content-Digest']} size: {len(got.body)}" in r.out
    # pulled back it is the same image (same ID, same diff_ids checked)
    root2 = str(tmp_path / "store2")
    strata("pull", f"{b.host}/y/fmt:docker", root=root2).check()
    ids = strata("images", "-q", "--no-trunc", root=root2).check().out.split()
    assert ids == [img.config_digest]
    # and from Docker back to OCI: the bytes differ from the original (Docker
    # has no annotations), the blobs do not
    strata("push", "--format", "oci", f"{b.host}/y/fmt:docker", f"{b.host}/y/fmt:oci", root=root2).check()
    m2 = b.client().get_manifest("y/fmt", "oci").json()
    assert m2["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert [l["digest"] for l in m2["layers"]] == [l.digest for l in img.layers]
    # the format it already has: not a byte changed
    strata("push", "--format", "oci", img.ref, f"{b.host}/y/fmt:same").check()
    assert b.client().get_manifest("y/fmt", "same").headers["Docker-Content-Digest"] == img.digest


def test_push_format_docker_refuses_zstd(strata, make_registry, push_raw):
    a, b = make_registry(), make_registry()
    img = push_raw(a, "x/zst:1", layers=[[File("z", b"zstd layer\n")]], compression="zstd")
    strata("pull", img.ref).check()
    r = strata("push", "--format", "docker", img.ref, f"{b.host}/y/zst:1")
    one_line_failure(r, "zstd")
    assert "POST" not in b.log()
    r = strata("push", "--format", "tar", img.ref, f"{b.host}/y/zst:1")
    assert r.rc == 2 and "--format" in r.err


def test_push_upload_url_on_another_host_gets_no_credentials(strata, make_registry, build_image,
                                                              make_proxy, strata_env):
    """FETCH 3: an upload Location on another origin (a storage front) is
    sent the bytes but not the registry's credentials."""
    a = make_registry()
    b = make_registry(auth="htpasswd")
    img = pulled(strata, a, build_image, layers=three_layers()[:1])
    px = make_proxy(b)
    other = make_proxy(b, bind="127.0.0.2")
    px.rewrite_location(lambda q: q.method == "POST", other.url)
    write_docker_config(strata_env["HOME"], {px.host: b.creds})
    r = strata("push", img.ref, f"{px.host}/y/away:1")
    # this registry wants its credentials on the upload too: refused, in one line
    one_line_failure(r, "denied")
    assert any(q.authorization for q in px.requests)
    assert other.requests and all(q.authorization is None for q in other.requests), other.requests


# ------------------------------------------------------------ --compress
def test_push_compress_zstd_then_gzip(strata, make_registry, build_image, tmp_path):
    """--compress writes the layers anew (new digests, same diff_ids and
    image ID); the same input gives the same bytes, so pushing again sends
    nothing; and pulled back, the layers unpack to what they were."""
    a, b = make_registry(), make_registry()
    img = pulled(strata, a, build_image)
    r = strata("push", "--compress", "zstd", img.ref, f"{b.host}/y/z:1").check()
    got = b.client().get_manifest("y/z", "1")
    m = got.json()
    assert {l["mediaType"] for l in m["layers"]} == {"application/vnd.oci.image.layer.v1.tar+zstd"}
    assert m["config"]["digest"] == img.config_digest
    assert all(l["digest"] != o.digest for l, o in zip(m["layers"], img.layers))
    for l in m["layers"]:
        blob = b.client().get_blob("y/z", l["digest"]).body
        assert blob[:4] == b"\x28\xb5\x2f\xfd" and len(blob) == l["size"]
    assert f"1: digest: {got.headers['Docker-Content-Digest']} size: {len(got.body)}" in r.out
    r = strata("push", "--compress", "zstd", img.ref, f"{b.host}/y/z:1").check()
    assert r.out.count("Layer already exists") == 3, r.out
    # pulled into another store: the diff_ids check, the files are there
    root2 = str(tmp_path / "store2")
    strata("pull", f"{b.host}/y/z:1", root=root2).check()
    assert strata("images", "-q", "--no-trunc", root=root2).check().out.split() == [img.config_digest]
    # and back to gzip, for Docker's format
    strata("push", "--compress", "gzip", "--format", "docker", f"{b.host}/y/z:1", f"{b.host}/y/g:1",
           root=root2).check()
    m2 = b.client().get_manifest("y/g", "1").json()
    assert m2["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert {l["mediaType"] for l in m2["layers"]} == {"application/vnd.docker.image.rootfs.diff.tar.gzip"}
    root3 = str(tmp_path / "store3")
    strata("pull", f"{b.host}/y/g:1", root=root3).check()
    assert strata("images", "-q", "--no-trunc", root=root3).check().out.split() == [img.config_digest]
    r = strata("ls", f"{b.host}/y/g:1", "/c", root=root3).check()
    assert "three" in r.out


def test_push_compress_as_stored_keeps_digest(strata, make_registry, build_image):
    a, b = make_registry(), make_registry()
    img = pulled(strata, a, build_image)
    strata("push", "--compress", "gzip", img.ref, f"{b.host}/y/same:1").check()
    assert b.client().get_manifest("y/same", "1").headers["Docker-Content-Digest"] == img.digest
    # with --format too: the format changes, the layers (gzip already) do not
    strata("push", "--compress", "gzip", "--format", "docker", img.ref, f"{b.host}/y/same:d").check()
    m = b.client().get_manifest("y/same", "d").json()
    assert m["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert [l["digest"] for l in m["layers"]] == [l.digest for l in img.layers]


def test_push_compress_zstd_docker_refused(strata, make_registry, build_image):
    a, b = make_registry(), make_registry()
    img = pulled(strata, a, build_image, layers=three_layers()[:1])
    one_line_failure(strata("push", "--compress", "zstd", "--format", "docker", img.ref, f"{b.host}/y/n:1"),
                     "--format oci")
    assert "POST" not in b.log()
    r = strata("push", "--compress", "xz", img.ref, f"{b.host}/y/n:1")
    assert r.rc == 2 and "--compress" in r.err


# ------------------------------------------------------------ TLS
from test_tls import TLSRegistry, pki  # noqa: E402,F401  (pki: the fixture)


def test_push_over_tls_with_certs_d(strata, make_registry, build_image, strata_env, tmp_path, pki):  # noqa: F811
    """The pull's TLS: the CA and a client certificate from certs.d."""
    a = make_registry()
    img = pulled(strata, a, build_image, layers=three_layers()[:2])
    tr = TLSRegistry(tmp_path / "tlsreg", pki, client_ca=True).start()
    try:
        certs = tmp_path / "certs.d"
        strata_env["STRATA_CERTS_DIRS"] = str(certs)
        strata_env["STRATA_DOCKER_DAEMON_JSON"] = ""
        (certs / tr.host).mkdir(parents=True)       # says: https, but no CA yet
        r = strata("push", img.ref, f"{tr.host}/y/tls:1")
        one_line_failure(r, "x509: certificate signed by unknown authority")
        for f in ("ca.crt", "client.cert", "client.key"):
            (certs / tr.host / f).write_bytes((pki / f).read_bytes())
        strata("push", img.ref, f"{tr.host}/y/tls:1").check()
        out = subprocess.run(["skopeo", "inspect", "--raw", "--cert-dir", str(certs / tr.host),
                              f"docker://{tr.host}/y/tls:1"], check=True, stdout=subprocess.PIPE).stdout
        assert out == img.manifest_bytes
    finally:
        tr.stop()


def test_push_never_through_a_mirror(strata, make_registry, build_image, make_proxy, strata_env, tmp_path):
    """PUSH 3: the registry's mirrors (the pull's first sources) get nothing."""
    a, b = make_registry(), make_registry()
    img = pulled(strata, a, build_image, layers=three_layers()[:1])
    mirror = make_proxy(b)
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"registries": {b.host: {"mirrors": [mirror.url]}}}))
    strata_env["STRATA_CONFIG"] = str(cfg)
    strata_env["STRATA_DOCKER_DAEMON_JSON"] = ""
    strata("push", img.ref, f"{b.host}/y/nomirror:1").check()
    assert mirror.requests == []
    assert b.client().get_manifest("y/nomirror", "1").headers["Docker-Content-Digest"] == img.digest
    # the control: a pull from there does go through the mirror
    strata("pull", f"{b.host}/y/nomirror:1", root=str(tmp_path / "store2")).check()
    assert mirror.requests


def test_push_bad_chunk_size(strata, strata_env):
    r = strata("push", "x", "y", env=dict(strata_env, STRATA_PUSH_CHUNK_SIZE="12k"))
    assert r.rc == 2 and r.err_lines == ['strata: push: STRATA_PUSH_CHUNK_SIZE="12k" is not a number of bytes'], r
