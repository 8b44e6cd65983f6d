"""Registry mirrors (issue 5): configuration, order, fallback, verification.

Real registries on loopback: an upstream, pull-through caches of it
(`proxy: remoteurl:`), the logging proxy with faults, a silent server.
Cites FETCH INVARIANTS (3) and (4) of fetch/fetch.h."""
import json
import os

import pytest

from helpers import File, wait_until
from helpers.images import random_bytes
from helpers.util import digest_of, free_port, write_docker_config


def layer_dir(root, diff_id):
    return os.path.join(root, "layers", diff_id.split(":", 1)[1], "diff")


def blobs_in(root):
    d = os.path.join(root, "blobs", "sha256")
    return {"sha256:" + n for n in os.listdir(d)} if os.path.isdir(d) else set()


def three_layers():
    return [[File("a/one", b"one\n")],
            [File("b/two", b"two\n" * 1000)],
            [File("c/three", random_bytes(200_000, seed=5))]]


@pytest.fixture
def upstream(registry, build_image):
    img = build_image(registry, "mir/img:1", layers=three_layers())
    return registry, img


@pytest.fixture
def conf(tmp_path, strata_env):
    """conf(dict) writes a strata config.json and points STRATA_CONFIG at it;
    daemon.json fallback is off unless a test sets it."""
    strata_env["STRATA_DOCKER_DAEMON_JSON"] = ""

    def write(d, name="config.json"):
        p = tmp_path / name
        p.write_text(json.dumps(d, indent=2) + "\n")
        strata_env["STRATA_CONFIG"] = str(p)
        return str(p)
    write({})
    return write


def mirrors_for(host, *urls, **extra):
    d = {"registries": {host: {"mirrors": list(urls)}},
         "mirror-connect-timeout": 2, "mirror-stall-timeout": 2}
    d.update(extra)
    return d


def pulled_right(root, img):
    """Every layer blob is in the store and the layers are extracted."""
    have = blobs_in(root)
    for b in img.layers:
        assert b.digest in have
    assert os.path.exists(os.path.join(layer_dir(root, img.diff_ids[2]), "c", "three"))
    with open(os.path.join(layer_dir(root, img.diff_ids[0]), "a", "one"), "rb") as f:
        assert f.read() == b"one\n"


def skipped(r):
    """The "mirror X skipped: why" lines (progress output or stderr: the
    pull prints fetch/'s notices with its progress)."""
    return [l for l in r.out.splitlines() + r.err_lines if " skipped: " in l]


def closed_port_url():
    return f"http://127.0.0.1:{free_port()}"


# ------------------------------------------------------------ the happy path

def test_pull_through_cache_mirror(strata, upstream, make_registry, make_proxy, conf, store_root):
    reg, img = upstream
    cache = make_registry(proxy_remote=reg.url)
    px = make_proxy(cache)
    conf(mirrors_for(reg.host, px.url))
    r = strata("--debug", "pull", img.ref)
    assert r.ok, str(r)
    pulled_right(store_root, img)
    # every blob came through the mirror, and the cache now holds them
    for b in img.layers:
        assert px.blob_gets(b.digest), b.digest
        # Distribution's cache stores a blob once it has served it, in a
        # goroutine of its own: under load that comes after strata is done
        wait_until(lambda: os.path.exists(cache.blob_data_path(b.digest)), 30,
                   what=f"the cache to store {b.digest}")
    assert not skipped(r)
    # the tag's resolver is recorded (a debug line)
    assert f"mir/img 1 resolved by {px.url}" in r.err


def test_docker_hub_mirror_addressed_like_dockerd(strata, registry, build_image, make_proxy, conf,
                                                  store_root, tmp_path, strata_env):
    """registry-mirrors apply to Docker Hub names: MIRROR/v2/library/NAME/...;
    read from daemon.json when strata's own file does not set them."""
    build_image(registry, "library/tiny:1", layers=[[File("hello", b"hi\n")]])
    px = make_proxy(registry)
    conf({})
    dj = tmp_path / "daemon.json"
    dj.write_text(json.dumps({"registry-mirrors": [px.url + "/"]}))
    strata_env["STRATA_DOCKER_DAEMON_JSON"] = str(dj)
    r = strata("pull", "tiny:1")
    assert r.ok, str(r)
    assert px.find("GET", "/v2/library/tiny/manifests/1")
    out = strata("images").out
    assert "tiny" in out


def test_registry_mirror_flag(strata, registry, build_image, make_proxy, conf, store_root):
    build_image(registry, "library/flagged:2", layers=[[File("x", b"x")]])
    px = make_proxy(registry)
    conf({"registry-mirrors": ["http://127.0.0.1:1"]})     # replaced by the flag
    r = strata("pull", "--registry-mirror", px.url, "flagged:2")
    assert r.ok, str(r)
    assert px.find("GET", "/v2/library/flagged/manifests/2")
    assert "ignored" not in r.err, r.err


def test_registry_mirror_flag_for_another_registry_said_once(strata, upstream, make_proxy, conf, store_root):
    """--registry-mirror is for Docker Hub images (as in dockerd): with a
    reference on another registry it is not used, and one line says so."""
    reg, img = upstream
    px = make_proxy(reg)
    r = strata("pull", "--registry-mirror", px.url, "--registry-mirror", px.url + "/", img.ref)
    assert r.ok, str(r)
    pulled_right(store_root, img)
    assert not px.requests
    assert r.err_lines == [f"strata: pull {img.ref}: --registry-mirror ignored: it applies to Docker Hub "
                           f"images only (as in dockerd); mirrors of {reg.host} go under \"registries\" "
                           "in the configuration"], r.err


# ------------------------------------------------------------ fallback

def test_closed_port_mirror_falls_back(strata, upstream, conf, store_root):
    reg, img = upstream
    dead = closed_port_url()
    conf(mirrors_for(reg.host, dead))
    r = strata("pull", img.ref)
    assert r.ok, str(r)
    pulled_right(store_root, img)
    notes = skipped(r)
    assert [n.removeprefix("strata: ") for n in notes] == [f"mirror {dead} skipped: connection refused"], r.err


def test_silent_mirror_falls_back_within_timeout_once(strata, upstream, silent_server, conf, store_root):
    """Invariant (4): a mirror that accepts and never answers costs its
    timeout once per pull (one connection), not once per blob."""
    reg, img = upstream
    url = f"http://{silent_server.host}"
    conf(mirrors_for(reg.host, url))
    r = strata("pull", img.ref)
    assert r.ok, str(r)
    pulled_right(store_root, img)
    assert silent_server.accepted == 1       # once: per blob would be one connection each
    notes = skipped(r)
    assert len(notes) == 1 and url in notes[0] and "stalled: no data for 2 s" in notes[0], r.err


def test_failing_mirror_tried_once(strata, upstream, make_proxy, conf, store_root):
    """5xx from a mirror: skipped with one line, never asked again this pull."""
    reg, img = upstream
    px = make_proxy(reg)
    px.fail("/v2/", 503, times=None)
    conf(mirrors_for(reg.host, px.url))
    r = strata("pull", img.ref)
    assert r.ok, str(r)
    assert len(px.requests) == 1, px.requests
    notes = skipped(r)
    assert len(notes) == 1 and "injected" in notes[0], r.err


@pytest.mark.parametrize("status", [401, 404])
def test_mirror_4xx_skipped(strata, upstream, make_proxy, conf, store_root, status):
    reg, img = upstream
    px = make_proxy(reg)
    px.fail("/manifests/", status, times=None,
            body=b'{"errors":[{"code":"X","message":"nope"}]}')
    conf(mirrors_for(reg.host, px.url))
    r = strata("pull", img.ref)
    assert r.ok, str(r)
    pulled_right(store_root, img)
    assert len(skipped(r)) == 1, r.err
    assert not px.blob_gets()


def test_mirror_without_the_repo(strata, upstream, make_registry, conf, store_root):
    """An empty registry as mirror answers 404 manifest unknown: next source."""
    reg, img = upstream
    empty = make_registry()
    conf(mirrors_for(reg.host, empty.url))
    r = strata("pull", img.ref)
    assert r.ok, str(r)
    assert len(skipped(r)) == 1 and f"mirror {empty.url} skipped: " in skipped(r)[0]


def test_tampered_blob_from_mirror(strata, upstream, make_proxy, conf, store_root):
    """Bytes that fail verification drop the mirror; the pull completes with
    the right content from the upstream."""
    reg, img = upstream
    big = img.layers[2]
    with open(reg.blob_data_path(big.digest), "rb") as f:
        data = bytearray(f.read())
    data[len(data) // 2] ^= 0xFF
    px = make_proxy(reg)
    px.respond("/blobs/" + big.digest, bytes(data),
               headers={"Content-Type": "application/octet-stream"}, method="GET")
    conf(mirrors_for(reg.host, px.url))
    r = strata("pull", "-j", "1", img.ref)
    assert r.ok, str(r)
    pulled_right(store_root, img)
    notes = skipped(r)
    assert len(notes) == 1 and "digest mismatch" in notes[0], r.err


def test_wrong_manifest_from_mirror(strata, upstream, build_image, make_proxy, conf, store_root):
    """A mirror answering the tag with another manifest under the right
    Docker-Content-Digest is caught and dropped."""
    reg, img = upstream
    other = build_image(reg, "mir/other:1", layers=[[File("z", b"z")]])
    px = make_proxy(reg)
    px.respond("/manifests/1", other.manifest_bytes, method="GET",
               headers={"Content-Type": other.manifest.get("mediaType", "application/vnd.oci.image.manifest.v1+json"),
                        "Docker-Content-Digest": img.digest})
    conf(mirrors_for(reg.host, px.url))
    r = strata("pull", img.ref)
    assert r.ok, str(r)
    pulled_right(store_root, img)
    notes = skipped(r)
    assert len(notes) == 1 and "does not match" in notes[0], r.err


def test_garbage_manifest_from_mirror(strata, upstream, make_proxy, conf, store_root):
    reg, img = upstream
    px = make_proxy(reg)
    px.respond("/manifests/", b'{"schemaVersion": 2, "hello": 1}', method="GET",
               headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    conf(mirrors_for(reg.host, px.url))
    r = strata("pull", img.ref)
    assert r.ok, str(r)
    pulled_right(store_root, img)
    assert len(skipped(r)) == 1, r.err


def test_blobs_from_several_sources(strata, upstream, make_proxy, conf, store_root):
    """A mirror that fails on one blob: the rest of the pull uses the next source."""
    reg, img = upstream
    px = make_proxy(reg)
    px.fail("/blobs/" + img.layers[1].digest, 500, times=None)
    conf(mirrors_for(reg.host, px.url))
    r = strata("pull", "-j", "1", img.ref)
    assert r.ok, str(r)
    pulled_right(store_root, img)
    assert px.blob_gets(img.layers[0].digest)          # from the mirror
    assert not px.blob_gets(img.layers[2].digest)      # the mirror was dropped by then


def test_all_mirrors_down_upstream_up(strata, upstream, silent_server, make_proxy, conf, store_root):
    reg, img = upstream
    px = make_proxy(reg)
    px.fail("/v2/", 502, times=None)
    dead = closed_port_url()
    conf(mirrors_for(reg.host, dead, f"http://{silent_server.host}", px.url))
    r = strata("pull", img.ref)
    assert r.ok, str(r)
    pulled_right(store_root, img)
    notes = skipped(r)
    assert len(notes) == 3, r.err
    assert dead in notes[0] and silent_server.host in notes[1] and px.url in notes[2]


def test_everything_down_one_line(strata, upstream, silent_server, conf, store_root):
    reg, img = upstream
    reg.stop()
    dead = closed_port_url()
    conf(mirrors_for(reg.host, dead, f"http://{silent_server.host}"))
    r = strata("pull", img.ref)
    assert r.rc != 0
    assert len(r.err_lines) == 1, r.err
    line = r.err_lines[0]
    assert line.startswith(f"strata: pull {img.ref}: "), line
    for s in (dead, silent_server.host, reg.url):
        assert s in line, line
    assert "no source could serve it" in line


# ------------------------------------------------------------ credentials

def test_upstream_credentials_never_reach_a_mirror(strata, make_registry, build_image, make_proxy,
                                                   conf, strata_env, store_root):
    """Invariant (3): the upstream's credentials go to the upstream only."""
    up = make_registry(auth="htpasswd", users={"alice": "wonder"})
    img = build_image(up, "sec/img:1", layers=[[File("s", b"secret\n")]])
    cache = make_registry(proxy_remote=up.url, proxy_username="alice", proxy_password="wonder")
    px = make_proxy(cache)
    write_docker_config(strata_env["HOME"], {up.host: ("alice", "wonder")})
    conf(mirrors_for(up.host, px.url))
    r = strata("pull", img.ref)
    assert r.ok, str(r)
    assert px.requests
    assert all(q.authorization is None for q in px.requests), [q.authorization for q in px.requests]


def test_upstream_credentials_used_after_mirror_fails(strata, make_registry, build_image, make_proxy,
                                                      conf, strata_env, store_root):
    up = make_registry(auth="htpasswd", users={"alice": "wonder"})
    img = build_image(up, "sec/img:2", layers=[[File("s", b"secret2\n")]])
    upx = make_proxy(up)                 # to see what the upstream gets
    mpx = make_proxy(up)                 # a "mirror" in front of the same registry
    mpx.fail("/manifests/", 503, times=None)
    write_docker_config(strata_env["HOME"], {upx.host: ("alice", "wonder")})
    conf(mirrors_for(upx.host, mpx.url))
    r = strata("pull", f"{upx.host}/sec/img:2")
    assert r.ok, str(r)
    assert all(q.authorization is None for q in mpx.requests)
    assert any(q.authorization and q.authorization.startswith("Basic ") for q in upx.requests)


# ------------------------------------------------------------ configuration

def test_malformed_config_one_line(strata, upstream, tmp_path, strata_env, store_root):
    reg, img = upstream
    p = tmp_path / "bad.json"
    p.write_text('{\n  "registry-mirrors": ["https://ok.example"],\n  "mirror-stall-timeout": "soon"\n}\n')
    r = strata("--config", str(p), "pull", img.ref)
    assert r.rc != 0
    assert len(r.err_lines) == 1, r.err
    assert str(p) in r.err and "line 3" in r.err and "mirror-stall-timeout" in r.err
    assert not os.path.exists(store_root)


def test_json_syntax_error_one_line(strata, upstream, tmp_path, strata_env, store_root):
    reg, img = upstream
    p = tmp_path / "bad.json"
    p.write_text('{\n  "registries": {\n    "x": {"mirrors": [}\n  }\n}\n')
    strata_env["STRATA_CONFIG"] = str(p)
    r = strata("pull", img.ref)
    assert r.rc != 0 and len(r.err_lines) == 1, r.err
    assert str(p) in r.err and "line 3" in r.err
    assert not os.path.exists(store_root)


def test_bad_mirror_flag(strata, upstream, conf, store_root):
    reg, img = upstream
    r = strata("pull", "--registry-mirror", "ftp://x", img.ref)
    assert r.rc != 0 and len(r.err_lines) == 1, r.err
    assert "ftp://x" in r.err


def test_mirror_stalling_on_blobs(strata, upstream, make_proxy, conf, store_root):
    """A mirror that resolves the tag but then hangs on every blob: the
    parallel downloads wait for its stall timeout together, once, and the
    pull completes from the upstream with one line about the mirror."""
    reg, img = upstream
    px = make_proxy(reg)
    px.stall("/blobs/", times=None, seconds=30)
    conf(mirrors_for(reg.host, px.url))
    r = strata("pull", img.ref)
    assert r.ok, str(r)
    pulled_right(store_root, img)
    notes = skipped(r)
    assert len(notes) == 1 and "stalled" in notes[0], str(r)
    assert len(px.blob_gets()) <= 3          # the stall paid once: at most one per download thread


# ------------------------------------------------------------ slowness
def test_trickling_mirror_dropped_next_source_resumes(strata, upstream, make_proxy, conf, store_root):
    """A mirror that sends a few KiB/s is never stalled (bytes keep coming):
    slower than mirror-min-speed over mirror-stall-timeout it is dropped like
    a dead one, one line names it, and the registry serves the rest of the
    blob from where the mirror stopped (Range)."""
    reg, img = upstream
    big = img.layers[2]
    px = make_proxy(reg)
    px.throttle(8 * 1024)
    up = make_proxy(reg)           # the registry, watched: a second proxy in front of it
    conf(mirrors_for(up.host, px.url, **{"mirror-min-speed": 64 * 1024, "mirror-stall-timeout": 1}))
    r = strata("pull", f"{up.host}/mir/img:1")
    assert r.ok, str(r)
    notes = skipped(r)
    assert len(notes) == 1, str(r)
    assert notes[0].removeprefix("strata: ") == \
        f"mirror {px.url} skipped: slower than 65536 bytes/s over 1 s", str(r)
    gets = up.blob_gets(big.digest)
    assert len(gets) == 1 and gets[0].range and gets[0].range.startswith("bytes="), gets
    start = int(gets[0].range[6:].rstrip("-"))
    # resumed at what strata held: bytes the mirror sent, short of what was in flight
    assert 0 < start <= sum(g.bytes_sent for g in px.blob_gets(big.digest)), (gets, px.blob_gets())
    assert len(px.blob_gets(big.digest)) == 1          # dropped: never asked again
    assert file_digest_ok(store_root, big.digest)


def test_slow_registry_kept_and_told_once(strata, upstream, make_proxy, conf, store_root):
    """The registry is the last resort: never dropped for slowness, but a
    pull that crawls says so, once."""
    reg, img = upstream
    px = make_proxy(reg)
    px.throttle(16 * 1024)
    conf({"mirror-min-speed": 64 * 1024, "mirror-stall-timeout": 1})
    r = strata("pull", f"{px.host}/mir/img:1")
    assert r.ok, str(r)
    slow = [l for l in r.out.splitlines() + r.err_lines if " is slow: " in l]
    assert len(slow) == 1, str(r)
    assert slow[0].startswith(f"registry {px.url} is slow: ") and \
        "under the 65536 a mirror must keep; going on (it is the last source)" in slow[0], slow
    assert len(px.blob_gets(img.layers[2].digest)) == 1     # one request, never cut


def test_min_speed_zero_keeps_a_trickling_mirror(strata, upstream, make_proxy, conf, store_root):
    """mirror-min-speed 0 turns the rule off: a mirror that sends bytes
    stays (only a stall drops it)."""
    reg, img = upstream
    px = make_proxy(reg)
    px.throttle(64 * 1024)
    conf(mirrors_for(reg.host, px.url, **{"mirror-min-speed": 0, "mirror-stall-timeout": 1}))
    r = strata("pull", img.ref)
    assert r.ok, str(r)
    assert not skipped(r), str(r)
    assert px.blob_gets(img.layers[2].digest)


def file_digest_ok(root, digest):
    from helpers.util import file_digest
    return file_digest(os.path.join(root, "blobs", "sha256", digest[7:])) == digest
