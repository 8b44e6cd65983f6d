"""strata pull against a real Distribution registry (issue 2).

Cites PULL INVARIANTS of cli/pull.h and FETCH INVARIANTS of fetch/fetch.h."""
import json
import os
import signal
import subprocess
import time

import pytest

from helpers import File, snapshot, wait_until
from helpers.images import random_bytes
from helpers.store import blob_files
from helpers import util
from helpers.util import file_digest, host_arch, write_docker_config


def blobs_in(root):
    """Digests of the blobs in the store (blobs/sha256/<hex>)."""
    d = os.path.join(root, "blobs", "sha256")
    return {"sha256:" + n for n in os.listdir(d)} if os.path.isdir(d) else set()


def layer_dir(root, diff_id):
    return os.path.join(root, "layers", diff_id.split(":", 1)[1], "diff")


def images_json(root):
    with open(os.path.join(root, "images.json")) as f:
        return json.load(f)


def names_in(root):
    """The names images.json points at an image ({"names": {name: id}})."""
    if not os.path.exists(os.path.join(root, "images.json")):
        return set()
    return set(images_json(root).get("names", {}))


def one_line_failure(r, *needles):
    """A failed run: non-zero exit, exactly one stderr line, naming @needles."""
    return util.one_line_failure(r, "pull", *needles)


def three_layers():
    return [[File("a/one", b"one\n")],
            [File("b/two", b"two\n" * 1000)],
            [File("c/three", random_bytes(300_000, seed=3))]]


# ------------------------------------------------------------ the basic pull
def test_multilayer_pull(strata, registry, build_image, store_root):
    img = build_image(registry, "x/multi:1", layers=three_layers())
    r = strata("pull", img.ref).check()
    # docker's closing lines, and a row per layer (plain mode: not a tty)
    assert f"1: Pulling from x/multi" in r.out
    assert r.out.count("Pull complete") == 3, r.out
    assert f"Digest: {img.digest}" in r.out
    assert f"Status: Downloaded newer image for {img.ref}" in r.out
    assert r.lines[-1] == img.ref
    # PULL (2): every blob verified and stored under its digest, each layer extracted
    assert set(img.blob_digests()) <= blobs_in(store_root)
    for b in img.layers:
        assert file_digest(os.path.join(store_root, "blobs", "sha256", b.digest[7:])) == b.digest
    assert open(os.path.join(layer_dir(store_root, img.diff_ids[0]), "a/one")).read() == "one\n"
    assert os.path.getsize(os.path.join(layer_dir(store_root, img.diff_ids[2]), "c/three")) == 300_000
    # both names recorded: the tag and NAME@DIGEST
    names = names_in(store_root)
    assert f"{registry.host}/x/multi:1" in names
    assert f"{registry.host}/x/multi@{img.digest}" in names
    r = strata("images").check()
    assert f"{registry.host}/x/multi" in r.out
    # nothing left in tmp/ but lock files
    leftovers = [n for n in os.listdir(os.path.join(store_root, "tmp")) if not n.endswith(".lock")]
    assert leftovers == []


def test_same_digests_as_skopeo(strata, registry, build_image, store_root, tmp_path):
    """Every blob strata stores has the digest `skopeo copy` to an oci: layout records."""
    img = build_image(registry, "x/sk:1", layers=three_layers())
    strata("pull", img.ref).check()
    lay = tmp_path / "oci"
    subprocess.run(["skopeo", "--insecure-policy", "copy", "--quiet", "--src-tls-verify=false",
                    f"docker://{img.ref}", f"oci:{lay}:x"], check=True)
    sk = {"sha256:" + n for n in os.listdir(lay / "blobs" / "sha256")}
    ours = blobs_in(store_root)
    assert ours == sk, (ours ^ sk)
    for d in ours:
        assert file_digest(os.path.join(store_root, "blobs", "sha256", d[7:])) == d


def test_second_pull_is_up_to_date(strata, registry, build_image, make_proxy, store_root):
    img = build_image(registry, "x/again:1", layers=three_layers())
    px = make_proxy(registry)
    ref = f"{px.host}/x/again:1"
    strata("pull", ref).check()
    px.clear()
    r = strata("pull", ref).check()
    assert f"Status: Image is up to date for {ref}" in r.out
    assert f"Digest: {img.digest}" in r.out
    assert px.blob_gets() == [], px.requests


def test_quiet(strata, registry, build_image):
    img = build_image(registry, "x/quiet:1", layers=three_layers()[:1])
    r = strata("pull", "-q", img.ref).check()
    assert r.lines == [img.ref]


# ------------------------------------------------------------ platforms
def test_multiplatform_index(strata, registry, build_index, store_root, strata_env):
    idx = build_index(registry, "x/multi-plat:1", {
        "linux/amd64": {"layers": [[File("etc/platform", b"linux/amd64\n")]]},
        "linux/arm64/v8": {"layers": [[File("etc/platform", b"linux/arm64/v8\n")]]},
    })
    r = strata("pull", "--platform", "linux/arm64/v8", idx.ref).check()
    arm = idx.images["linux/arm64/v8"]
    assert f"Digest: {idx.digest}" in r.out
    assert open(os.path.join(layer_dir(store_root, arm.diff_ids[0]), "etc/platform")).read() == "linux/arm64/v8\n"
    assert arm.digest in blobs_in(store_root) and idx.digest in blobs_in(store_root)

    # the host's platform by default (this machine: linux/<host arch>)
    host = f"linux/{host_arch()}"
    if host in ("linux/amd64",):
        r = strata("pull", idx.ref).check()
        amd = idx.images["linux/amd64"]
        assert open(os.path.join(layer_dir(store_root, amd.diff_ids[0]), "etc/platform")).read() == "linux/amd64\n"

    r = strata("pull", "--platform", "linux/s390x", idx.ref)
    one_line_failure(r, "linux/s390x", "linux/arm64/v8")
    # docker's DOCKER_DEFAULT_PLATFORM; --platform wins over it
    env = dict(strata_env, DOCKER_DEFAULT_PLATFORM="linux/s390x")
    one_line_failure(strata("pull", idx.ref, env=env), "linux/s390x")
    strata("pull", "--platform", "linux/arm64", idx.ref, env=env).check()


def test_single_platform_image_of_another_platform_refused(strata, registry, build_image, seeded_store,
                                                            store_root):
    """--platform against an image that is not an index: its config names
    its platform; another one is refused in docker's words, store untouched."""
    img = build_image(registry, "x/only-amd:1", layers=[[File("a", b"a")]], platform="linux/amd64")
    r = strata("pull", "--platform", "linux/arm64", img.ref)
    line = one_line_failure(r, "was found but does not match the specified platform: "
                               "wanted linux/arm64, actual: linux/amd64")
    assert f"image with reference {registry.host}/x/only-amd:1 " in line
    assert snapshot(store_root) == seeded_store
    # the one it is: pulled; and asked again once it is there: still refused
    strata("pull", "--platform", "linux/amd64", img.ref).check()
    one_line_failure(strata("pull", "--platform", "arm64", img.ref), "wanted linux/arm64, actual: linux/amd64")
    # without --platform the image is what the tag gives (docker pulls it too)
    strata("pull", img.ref).check()


def test_platform_shorthands(strata, registry, build_index, store_root):
    """--platform takes one part as docker does: an arch (os linux) or an OS
    (the host's arch); aliases and case normalized."""
    idx = build_index(registry, "x/short-plat:1", {
        "linux/amd64": {"layers": [[File("etc/platform", b"linux/amd64\n")]]},
        "linux/arm64/v8": {"layers": [[File("etc/platform", b"linux/arm64/v8\n")]]},
    })
    arm = idx.images["linux/arm64/v8"]
    strata("pull", "--platform", "arm64", idx.ref).check()
    assert open(os.path.join(layer_dir(store_root, arm.diff_ids[0]), "etc/platform")).read() == "linux/arm64/v8\n"
    strata("pull", "--platform", "AArch64", idx.ref).check()
    strata("pull", "--platform", "x86_64", idx.ref).check()
    amd = idx.images["linux/amd64"]
    assert os.path.exists(os.path.join(layer_dir(store_root, amd.diff_ids[0]), "etc/platform"))
    one_line_failure(strata("pull", "--platform", "pdp11", idx.ref), "pdp11", "unknown operating system or architecture")


# ------------------------------------------------------------ sharing layers
def test_two_tags_share_layers(strata, registry, build_image, make_proxy, store_root):
    base = [[File("base/big", random_bytes(500_000, seed=11))], [File("base/etc", b"x\n")]]
    a = build_image(registry, "x/share:a", layers=base)
    b = build_image(registry, "x/share:b", layers=base + [[File("only/b", b"b\n")]])
    px = make_proxy(registry)
    strata("pull", f"{px.host}/x/share:a").check()
    px.clear()
    r = strata("pull", f"{px.host}/x/share:b").check()
    got = {g.path.split("/blobs/")[1] for g in px.blob_gets()}
    # only b's own layer and config were fetched
    assert got == {b.layers[2].digest, b.config_digest}, got
    assert r.out.count("Already exists") == 2, r.out
    assert a.layers[0].digest in blobs_in(store_root)


def test_present_layer_says_only_already_exists(strata, registry, build_image, store_root):
    """On a pipe a layer already in the store prints one line, "Already
    exists", as docker does (no "Pulling fs layer" first); a new layer goes
    through its usual lines."""
    base = [[File("base/etc", b"x\n")]]
    a = build_image(registry, "x/exists:a", layers=base)
    b = build_image(registry, "x/exists:b", layers=base + [[File("own", b"b\n")]])
    strata("pull", a.ref).check()
    r = strata("pull", b.ref).check()
    old, new = b.layers[0].digest[7:19], b.layers[1].digest[7:19]
    assert [l for l in r.lines if l.startswith(old + ":")] == [f"{old}: Already exists"], r.out
    mine = [l.split(": ", 1)[1] for l in r.lines if l.startswith(new + ":")]
    assert mine[0] == "Pulling fs layer" and mine[-1] == "Pull complete", r.out


# ------------------------------------------------------------ pinned pulls
def test_digest_pinned_pull(strata, registry, build_image, store_root):
    img = build_image(registry, "x/pin:1", layers=three_layers()[:2])
    r = strata("pull", img.pinned_ref).check()
    assert f"Digest: {img.digest}" in r.out
    assert f"{registry.host}/x/pin@{img.digest}" in names_in(store_root)
    before = snapshot(store_root)
    wrong = "sha256:" + "0" * 64
    r = strata("pull", f"{registry.host}/x/pin@{wrong}")
    one_line_failure(r, "manifest unknown")
    assert snapshot(store_root) == before


def test_pinned_digest_checked(strata, registry, build_image, make_proxy, store_root):
    """A source answering a pinned manifest GET with other bytes is refused."""
    img = build_image(registry, "x/pin2:1", layers=three_layers()[:1])
    other = build_image(registry, "x/pin2:2", layers=[[File("z", b"z")]])
    px = make_proxy(registry)
    # answer GET manifests/<img.digest> with the other image's manifest
    px.redirect(f"/manifests/{img.digest}", f"{registry.url}/v2/x/pin2/manifests/{other.digest}#", times=None)
    r = strata("pull", f"{px.host}/x/pin2@{img.digest}")
    one_line_failure(r, img.digest)
    assert not os.path.exists(os.path.join(store_root, "images.json")) or \
        f"{px.host}/x/pin2@{img.digest}" not in names_in(store_root)


# ------------------------------------------------------------ tampering
def test_tampered_blob(strata, registry, build_image, store_root):
    img = build_image(registry, "x/tamper:1", layers=three_layers())
    bad = img.layers[2]
    path = registry.blob_data_path(bad.digest)
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    with open(path, "wb") as f:
        f.write(data)
    strata("pull", build_image(registry, "x/other:1", layers=[[File("o", b"o")]]).ref).check()
    before = snapshot(store_root)
    r = strata("pull", img.ref)
    one_line_failure(r, bad.digest, "digest mismatch")
    assert snapshot(store_root) == before
    # the bad bytes are not kept; the verified blobs of the other layers may
    # wait in tmp/ as complete .partial files for the next run
    assert not os.path.exists(os.path.join(store_root, "tmp", bad.digest[7:] + ".partial"))
    for n in os.listdir(os.path.join(store_root, "tmp")):
        if n.endswith(".partial"):
            assert "sha256:" + n[:-8] in img.blob_digests()
            assert file_digest(os.path.join(store_root, "tmp", n)) == "sha256:" + n[:-8]


def test_wrong_diff_id_refused(strata, registry, push_raw, seeded_store, store_root):
    """A layer whose uncompressed content does not hash to the config's
    diff_id is refused and never becomes a layer (PULL 2)."""
    wrong = "sha256:" + "1" * 64
    cfg = {"architecture": host_arch(), "os": "linux",
           "rootfs": {"type": "layers", "diff_ids": [wrong]}}
    img = push_raw(registry, "x/diff:1", layers=[[File("a", b"a")]], config=cfg)
    r = strata("pull", img.ref)
    one_line_failure(r, wrong, "config says")
    assert snapshot(store_root) == seeded_store


def test_hostile_layer_refused(strata, registry, push_raw, seeded_store, store_root, tmp_path):
    """A layer that writes outside its directory: refused while it streams,
    named in one line; nothing outside the store is touched."""
    import tarfile
    from helpers.images import Raw
    ti = tarfile.TarInfo("../../escaped-by-strata-test")
    ti.size = 3
    img = push_raw(registry, "x/hostile:1", layers=[[File("ok", b"ok"), Raw(ti, b"bad")]])
    r = strata("pull", img.ref)
    one_line_failure(r, img.layers[0].digest)
    assert snapshot(store_root) == seeded_store
    assert not os.path.exists(os.path.join(os.path.dirname(store_root), "escaped-by-strata-test"))
    assert not [n for n in os.listdir(os.path.join(store_root, "tmp")) if n.startswith("layer-")]


@pytest.mark.parametrize("case", ["hostile", "diff_id"])
def test_rejected_layer_leaves_nothing(strata, registry, push_raw, seeded_store, store_root, case):
    """A layer refused for its content (a hostile entry; a diff_id that is
    not the config's) although its blob matched its digest: the downloaded
    .partial is deleted at once, not kept for a resume that could only fail
    again; nothing of it stays in tmp/."""
    import tarfile
    from helpers.images import Raw
    if case == "hostile":
        ti = tarfile.TarInfo("../../escaped-by-strata-test")
        ti.size = 3
        img = push_raw(registry, "x/rej-hostile:1", layers=[[File("ok", random_bytes(300_000, seed=9)),
                                                            Raw(ti, b"bad")]])
    else:
        cfg = {"architecture": host_arch(), "os": "linux",
               "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "2" * 64]}}
        img = push_raw(registry, "x/rej-diff:1", layers=[[File("a", random_bytes(300_000, seed=8))]], config=cfg)
    hexd = img.layers[0].digest[7:]
    r = strata("pull", img.ref)
    one_line_failure(r, img.layers[0].digest)
    assert snapshot(store_root) == seeded_store
    # (the store's per-blob .lock files are its own business)
    left = [n for n in os.listdir(os.path.join(store_root, "tmp")) if not n.endswith(".lock")]
    assert not [n for n in left if hexd in n or n.startswith("layer-")], left


def test_wrong_size_refused(strata, registry, push_raw, seeded_store, store_root):
    """A manifest that lies about a layer's size: refused, store unchanged."""
    def shrink(m):
        m["layers"][0]["size"] -= 10
    img = push_raw(registry, "x/size:1", layers=[[File("a", random_bytes(5000))]], mutate=shrink)
    r = strata("pull", img.ref)
    one_line_failure(r, img.layers[0].digest)
    assert snapshot(store_root) == seeded_store


def test_layer_count_mismatch_refused(strata, registry, push_raw, seeded_store, store_root):
    cfg = {"architecture": host_arch(), "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    img = push_raw(registry, "x/count:1", layers=[[File("a", b"a")]], config=cfg)
    r = strata("pull", img.ref)
    one_line_failure(r, "1 layers but the config 0 diff_ids")
    assert snapshot(store_root) == seeded_store


def test_tampered_config(strata, registry, build_image, seeded_store, store_root):
    img = build_image(registry, "x/tcfg:1", layers=three_layers()[:1])
    path = registry.blob_data_path(img.config_digest)
    data = bytearray(open(path, "rb").read())
    data[-2:-1] = b" "
    with open(path, "wb") as f:
        f.write(data)
    r = strata("pull", img.ref)
    one_line_failure(r, img.config_digest, "digest mismatch")
    assert snapshot(store_root) == seeded_store


def test_full_disk_no_pull_complete_for_a_layer_thrown_away(strata, registry, build_image, tmp_path):
    """The store on a small tmpfs: the big layer hits ENOSPC while the small
    one is ready.  Nothing is committed, so no layer's last line may be
    "Pull complete" (it is printed once a layer is in the store)."""
    img = build_image(registry, "x/full:1", layers=[[File("small", b"s\n")],
                                                    [File("big", random_bytes(8 << 20, seed=21))]])
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(small)], check=True)
    try:
        root = small / "store"
        r = strata("pull", img.ref, root=root)
        one_line_failure(r, "No space left on device")
        for layer in img.layers:
            mine = [l for l in r.lines if l.startswith(layer.digest[7:19] + ":")]
            assert mine and mine[-1] != f"{layer.digest[7:19]}: Pull complete", r.out
        assert "Pull complete" not in r.out, r.out
        assert not (root / "layers").exists() or not os.listdir(root / "layers")
    finally:
        subprocess.run(["umount", "-l", str(small)])


# ------------------------------------------------------------ resuming
BIG = 24 * 1024 * 1024


@pytest.fixture
def big_image(registry, build_image):
    return build_image(registry, "x/big:1", layers=[[File("big", random_bytes(BIG, seed=5))]])


def test_cut_connection_resumes_with_range(strata, registry, big_image, make_proxy, store_root):
    """A connection cut mid-blob is retried from where it stopped (PULL 4)."""
    layer = big_image.layers[0]
    px = make_proxy(registry)
    px.cut_after(f"/blobs/{layer.digest}", 5 * 1024 * 1024)
    strata("pull", f"{px.host}/x/big:1").check()
    gets = px.blob_gets(layer.digest)
    assert len(gets) == 2, gets
    assert gets[0].range is None
    start = int(gets[1].range.split("=")[1].rstrip("-"))
    assert 0 < start <= 5 * 1024 * 1024
    assert gets[0].bytes_sent + gets[1].bytes_sent <= layer.size + 64 * 1024
    assert file_digest(os.path.join(store_root, "blobs/sha256", layer.digest[7:])) == layer.digest


def test_killed_pull_resumes_next_run(strata, strata_popen, registry, big_image, make_proxy, store_root):
    """kill -9 in the middle of a blob; the next `strata pull` asks only for the rest."""
    layer = big_image.layers[0]
    px = make_proxy(registry)
    px.stall_body(f"/blobs/{layer.digest}", 8 * 1024 * 1024, seconds=60)
    p = strata_popen("pull", f"{px.host}/x/big:1")
    partial = os.path.join(store_root, "tmp", layer.digest[7:] + ".partial")
    wait_until(lambda: os.path.exists(partial) and os.path.getsize(partial) >= 8 * 1024 * 1024,
               timeout=30, what="8 MiB in the .partial")
    have = os.path.getsize(partial)
    p.send_signal(signal.SIGKILL)
    p.wait()
    # nothing taken as complete (PULL 2/3)
    assert layer.digest not in blobs_in(store_root)
    assert not os.path.exists(os.path.join(store_root, "images.json")) or not names_in(store_root)
    px.clear_rules()
    px.clear()
    strata("pull", f"{px.host}/x/big:1").check()
    gets = px.blob_gets(layer.digest)
    assert len(gets) == 1, gets
    assert gets[0].range == f"bytes={have}-", gets[0]
    assert gets[0].bytes_sent == layer.size - have
    assert file_digest(os.path.join(store_root, "blobs/sha256", layer.digest[7:])) == layer.digest


def test_registry_killed_mid_blob_then_resumed(strata, strata_popen, registry, big_image, make_proxy,
                                              store_root, strata_env):
    """The registry dies in the middle of a large blob: the pull fails with one
    line and nothing recorded; once the registry is back, the rerun asks only
    for the missing bytes (PULL 4)."""
    layer = big_image.layers[0]
    px = make_proxy(registry)
    px.stall_body(f"/blobs/{layer.digest}", 6 * 1024 * 1024, seconds=60)
    env = dict(strata_env, STRATA_STALL_TIMEOUT="2", STRATA_RETRIES="1")
    p = strata_popen("pull", f"{px.host}/x/big:1", env=env)
    partial = os.path.join(store_root, "tmp", layer.digest[7:] + ".partial")
    wait_until(lambda: os.path.exists(partial) and os.path.getsize(partial) >= 6 * 1024 * 1024,
               timeout=30, what="6 MiB in the .partial")
    registry.kill()
    out, err = p.communicate(timeout=60)
    assert p.returncode != 0
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("strata: pull") and layer.digest in lines[0], err
    assert "retrying from byte" in out    # the retry is told on stdout
    assert layer.digest not in blobs_in(store_root) and not names_in(store_root)
    have = os.path.getsize(partial)
    assert have >= 6 * 1024 * 1024
    registry.start()
    px.clear_rules()
    px.clear()
    strata("pull", f"{px.host}/x/big:1").check()
    gets = px.blob_gets(layer.digest)
    assert [g.range for g in gets] == [f"bytes={have}-"], gets
    assert file_digest(os.path.join(store_root, "blobs/sha256", layer.digest[7:])) == layer.digest


def test_ctrl_c_on_a_pipe(strata, strata_popen, registry, big_image, make_proxy, store_root):
    """SIGINT while a blob streams: one line, exit 130, nothing recorded;
    the .partial stays and the rerun asks only for the rest (PULL 4)."""
    layer = big_image.layers[0]
    px = make_proxy(registry)
    px.throttle(1 << 20)
    ref = f"{px.host}/x/big:1"
    p = strata_popen("pull", ref)
    partial = os.path.join(store_root, "tmp", layer.digest[7:] + ".partial")
    wait_until(lambda: os.path.exists(partial) and os.path.getsize(partial) >= 1 << 20,
               timeout=30, what="1 MiB in the .partial")
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 130, (p.returncode, out, err)
    assert err.splitlines() == [f"strata: pull {ref}: interrupted"], err
    assert "Pull complete" not in out
    assert not names_in(store_root)
    have = os.path.getsize(partial)
    assert have >= 1 << 20
    px.throttle(None)
    px.clear()
    strata("pull", ref).check()
    gets = px.blob_gets(layer.digest)
    assert len(gets) == 1 and gets[0].range == f"bytes={have}-", gets
    assert file_digest(os.path.join(store_root, "blobs/sha256", layer.digest[7:])) == layer.digest


def test_ctrl_c_on_a_terminal(strata_bin, registry, big_image, make_proxy, store_root, strata_env):
    """Ctrl-C typed at a terminal (a pty: the tty driver sends SIGINT) while
    the progress rows are redrawn: the screen keeps the rows as they were,
    one line below them says the pull was interrupted, the cursor is left
    on a fresh line under it, and the exit status is 130."""
    import pty
    import select
    from helpers.term import render
    layer = big_image.layers[0]
    px = make_proxy(registry)
    px.throttle(1 << 20)
    ref = f"{px.host}/x/big:1"
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(strata_bin, [strata_bin, "--root", store_root, "pull", ref], strata_env)
    raw = b""
    partial = os.path.join(store_root, "tmp", layer.digest[7:] + ".partial")
    sent = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not sent and os.path.exists(partial) and os.path.getsize(partial) >= 1 << 20:
            os.write(fd, b"\x03")          # Ctrl-C
            sent = True
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:                # EIO: the other side is closed
                break
            if not chunk:
                break
            raw += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert sent, raw
    text = raw.decode(errors="replace")
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 130, (status, text)
    lines, row, col = render(text)
    shown = [l.rstrip() for l in lines]
    while shown and not shown[-1]:
        shown.pop()
    assert shown[-1] == f"strata: pull {ref}: interrupted", shown
    rows = [l for l in shown if l.startswith(layer.digest[7:19] + ": ")]
    assert len(rows) == 1 and shown[-2] == rows[0] and "Downloading" in rows[0], shown
    assert (row, col) == (len(shown), 0), (row, col, shown)   # on a fresh line below it all
    assert os.path.getsize(partial) >= 1 << 20                 # kept for the rerun


def store_consistent(root):
    """Every blob hashes to its name; every image's layers and blobs exist."""
    for d in blobs_in(root):
        assert file_digest(os.path.join(root, "blobs/sha256", d[7:])) == d
    if not os.path.exists(os.path.join(root, "images.json")):
        return
    j = images_json(root)
    for iid, im in j.get("images", {}).items():
        assert iid in blobs_in(root) and im["manifest"] in blobs_in(root)
        for l in im["layers"]:
            assert l["digest"] in blobs_in(root)
            assert os.path.isdir(layer_dir(root, l["diff_id"]))
    for name, iid in j.get("names", {}).items():
        assert iid in j["images"], name


def test_kill9_at_random_points(strata, strata_popen, registry, build_image, make_proxy, store_root):
    """kill -9 anywhere in a pull (download, extraction, commit): the store
    stays consistent and the next pull completes (PULL 2, 3, 4)."""
    import random
    img = build_image(registry, "x/chaos:1", layers=[[File(f"d{i}/f{k}", random_bytes(20_000, seed=i * 100 + k))
                                                      for k in range(40)] for i in range(4)])
    px = make_proxy(registry).throttle(2_000_000)
    rnd = random.Random(7)
    for _ in range(6):
        p = strata_popen("pull", f"{px.host}/x/chaos:1")
        time.sleep(rnd.uniform(0.05, 2.0))
        p.send_signal(signal.SIGKILL)
        p.wait()
        store_consistent(store_root)
    px.throttle(None)
    strata("pull", f"{px.host}/x/chaos:1").check()
    store_consistent(store_root)
    assert f"{px.host}/x/chaos:1" in names_in(store_root)
    for i, diff in enumerate(img.diff_ids):
        assert len(os.listdir(os.path.join(layer_dir(store_root, diff), f"d{i}"))) == 40


def test_corrupt_partial_is_discarded(strata, registry, big_image, store_root):
    """A .partial whose bytes are wrong is thrown away and the blob fetched whole."""
    layer = big_image.layers[0]
    os.makedirs(os.path.join(store_root, "tmp"), exist_ok=True)
    with open(os.path.join(store_root, "tmp", layer.digest[7:] + ".partial"), "wb") as f:
        f.write(b"\0" * 4096)
    strata("pull", big_image.ref).check()
    assert file_digest(os.path.join(store_root, "blobs/sha256", layer.digest[7:])) == layer.digest


# ------------------------------------------------------------ authentication
def test_token_auth(strata, make_registry, build_image, strata_env, store_root):
    reg = make_registry(auth="token", anonymous_pull=False)
    img = build_image(reg, "x/tok:1", layers=three_layers())
    strata("images").check()
    before = snapshot(store_root)
    r = strata("pull", img.ref)
    one_line_failure(r)
    assert snapshot(store_root) == before
    write_docker_config(strata_env["HOME"], {reg.host: reg.creds})
    ts = reg.token_server
    n0 = ts.issued
    r = strata("pull", img.ref).check()
    # one token for the whole pull (FETCH 3: reused by every thread)
    assert ts.issued - n0 == 1, ts.requests
    assert set(img.blob_digests()) <= blobs_in(store_root)


def test_token_anonymous(strata, make_registry, build_image, store_root):
    reg = make_registry(auth="token", anonymous_pull=True)
    img = build_image(reg, "x/anon:1", layers=three_layers()[:1])
    strata("pull", img.ref).check()


def test_token_renewed_on_401(strata, make_registry, build_image, make_proxy, store_root):
    """A token the registry stops accepting mid-pull (401) is renewed once and
    the pull goes on (the registry's own expiry has a minute of leeway, so
    the 401 is injected)."""
    reg = make_registry(auth="token", anonymous_pull=True)
    img = build_image(reg, "x/ttl:1", layers=three_layers())
    px = make_proxy(reg)
    px.fail(f"/blobs/{img.layers[1].digest}", 401, times=1,
            body=b'{"errors":[{"code":"UNAUTHORIZED","message":"token expired"}]}')
    ts = reg.token_server
    n0 = ts.issued
    strata("pull", f"{px.host}/x/ttl:1").check()
    assert ts.issued - n0 == 2, ts.requests
    gets = px.blob_gets(img.layers[1].digest)
    assert [g.status for g in gets] == [401, 200], gets
    assert set(img.blob_digests()) <= blobs_in(store_root)


def test_htpasswd(strata, make_registry, build_image, strata_env, store_root):
    reg = make_registry(auth="htpasswd")
    img = build_image(reg, "x/basic:1", layers=three_layers()[:2])
    r = strata("pull", img.ref)
    one_line_failure(r, reg.host)
    write_docker_config(strata_env["HOME"], {reg.host: (reg.creds[0], "wrong")})
    r = strata("pull", img.ref)
    one_line_failure(r)
    write_docker_config(strata_env["HOME"], {reg.host: reg.creds})
    strata("pull", img.ref).check()
    assert set(img.blob_digests()) <= blobs_in(store_root)


def test_redirect_drops_authorization(strata, make_registry, build_image, make_proxy, make_blob_store,
                                      strata_env):
    """FETCH 3: a redirect to another host is followed without Authorization."""
    reg = make_registry(auth="htpasswd")
    img = build_image(reg, "x/redir:1", layers=three_layers()[:1])
    bs = make_blob_store(reg)
    px = make_proxy(reg)
    px.redirect("/blobs/", bs.url)
    write_docker_config(strata_env["HOME"], {px.host: reg.creds})
    strata("pull", f"{px.host}/x/redir:1").check()
    assert px.find("GET", "/blobs/") and all(g.authorization for g in px.find("GET", "/blobs/"))
    assert bs.requests and all(not rq.authorization for rq in bs.requests), bs.requests


# ------------------------------------------------------------ failures: one line, store unchanged
@pytest.fixture
def seeded_store(strata, registry, build_image, store_root):
    img = build_image(registry, "x/seed:1", layers=[[File("s", b"s")]])
    strata("pull", img.ref).check()
    return snapshot(store_root)


def test_unknown_tag(strata, registry, seeded_store, store_root):
    r = strata("pull", f"{registry.host}/x/seed:nope")
    one_line_failure(r, f"pull {registry.host}/x/seed:nope", "manifest unknown")
    assert snapshot(store_root) == seeded_store


def test_unknown_repo(strata, registry, seeded_store, store_root):
    r = strata("pull", f"{registry.host}/no/such:1")
    one_line_failure(r, "unknown")
    assert snapshot(store_root) == seeded_store


@pytest.mark.parametrize("ref,rule", [
    ("Upper/Case:1", "must be lowercase"),
    ("x:bad/tag:", "tag"),
    ("x@sha256:abc", "64 hex digits"),
    ("", "at least one component"),
])
def test_bad_reference(strata, seeded_store, store_root, ref, rule):
    r = strata("pull", ref)
    one_line_failure(r, "invalid reference format", rule)
    assert snapshot(store_root) == seeded_store


def test_closed_port(strata, seeded_store, store_root, strata_env):
    from helpers.util import free_port
    port = free_port()
    env = dict(strata_env, STRATA_RETRIES="1")
    r = strata("pull", f"127.0.0.1:{port}/x/y:1", env=env, timeout=30)
    one_line_failure(r, f"127.0.0.1:{port}")
    assert snapshot(store_root) == seeded_store


def test_server_never_answers(strata, silent_server, seeded_store, store_root, strata_env):
    env = dict(strata_env, STRATA_STALL_TIMEOUT="2")
    r = strata("pull", f"{silent_server.host}/x/y:1", env=env, timeout=60)
    one_line_failure(r, silent_server.host)
    # one stall timeout, not one per retry: counted in connections, not seconds
    assert silent_server.accepted == 1, silent_server.accepted
    assert snapshot(store_root) == seeded_store


def test_registry_error_5xx_retried(strata, registry, build_image, make_proxy, store_root):
    img = build_image(registry, "x/flaky:1", layers=three_layers())
    px = make_proxy(registry)
    px.fail(f"/blobs/{img.layers[1].digest}", 503, times=2)
    strata("pull", f"{px.host}/x/flaky:1").check()
    assert len(px.blob_gets(img.layers[1].digest)) == 3


@pytest.mark.parametrize("body", [b'{"errors":[{"code":"UNKNOWN","message":"boom"}]}', b"boom\n"])
def test_registry_error_5xx_names_status_and_url(strata, registry, build_image, make_proxy, store_root,
                                                 strata_env, body):
    """A registry that keeps answering 5xx: the line names the request, the
    status with its reason and the registry's words (JSON or plain text)."""
    img = build_image(registry, "x/boom:1", layers=three_layers()[:1])
    px = make_proxy(registry)
    px.fail(f"/blobs/{img.layers[0].digest}", 500, times=None, body=body)
    r = strata("pull", f"{px.host}/x/boom:1", env=dict(strata_env, STRATA_RETRIES="1"))
    one_line_failure(r, f"GET http://{px.host}/v2/x/boom/blobs/{img.layers[0].digest}: "
                        "500 Internal Server Error: boom")
    assert r.err_lines[0].endswith("boom"), r.err


def test_schema1_refused(strata, registry, build_image, make_proxy):
    """A registry answering with a schema 1 manifest: refused, with a clear line."""
    build_image(registry, "x/s1:1", layers=[[File("a", b"a")]])
    px = make_proxy(registry)
    s1 = json.dumps({"schemaVersion": 1, "name": "x/s1", "tag": "1", "architecture": "amd64",
                     "fsLayers": [], "history": []}).encode()
    px.fail("/manifests/1", 200, times=None, body=s1)
    r = strata("pull", f"{px.host}/x/s1:1")
    one_line_failure(r, "schema 1")


def test_huge_manifest_refused(strata, registry, build_image, make_proxy, seeded_store, store_root):
    """A registry that answers a manifest GET with 5 MiB: stopped at the 4 MiB
    ceiling, one line, store unchanged (FETCH 1)."""
    build_image(registry, "x/huge:1", layers=[[File("a", b"a")]])
    px = make_proxy(registry)
    px.fail("/manifests/1", 200, times=None, body=b" " * (5 << 20))
    r = strata("pull", f"{px.host}/x/huge:1")
    one_line_failure(r, "larger than")
    assert snapshot(store_root) == seeded_store


# ------------------------------------------------------------ concurrency
def test_six_concurrent_pulls_share_one_download(strata, strata_popen, registry, build_image,
                                                  make_proxy, store_root):
    """Six processes, six tags sharing a large layer: every tag recorded, every
    blob intact, the shared layer fetched once (PULL 1)."""
    shared = [File("shared/big", random_bytes(16 * 1024 * 1024, seed=42))]
    imgs = [build_image(registry, f"x/six:{i}", layers=[shared, [File(f"own/{i}", str(i).encode())]])
            for i in range(6)]
    big = imgs[0].layers[0]
    assert all(im.layers[0].digest == big.digest for im in imgs)
    px = make_proxy(registry)
    procs = [strata_popen("pull", f"{px.host}/x/six:{i}") for i in range(6)]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (o, e) in zip(procs, outs):
        assert p.returncode == 0, (o, e)
    gets = [g for g in px.blob_gets(big.digest) if g.status in (200, 206)]
    assert len(gets) == 1, gets
    names = names_in(store_root)
    for i in range(6):
        assert f"{px.host}/x/six:{i}" in names
    for d in blobs_in(store_root):
        assert file_digest(os.path.join(store_root, "blobs/sha256", d[7:])) == d
    r = strata("images").check()
    assert sum(1 for l in r.lines if "/x/six" in l) == 6, r.out


def test_pulls_over_a_shared_base_do_not_wait_for_each_other(strata, strata_popen, registry, build_image,
                                                            make_proxy, store_root):
    """A layer already in the store is not locked for a whole pull: a second
    pull over the same base finishes while the first still downloads."""
    base = [File("base/f", random_bytes(100_000, seed=9))]
    build_image(registry, "x/base:1", layers=[base])
    strata("pull", build_image(registry, "x/base:1", layers=[base]).ref).check()
    a = build_image(registry, "x/slow:1", layers=[base, [File("slow", random_bytes(6 * 1024 * 1024, seed=8))]])
    b = build_image(registry, "x/quick:1", layers=[base, [File("quick", b"q")]])
    px = make_proxy(registry).throttle(500_000)
    p = strata_popen("pull", f"{px.host}/x/slow:1")
    partial = os.path.join(store_root, "tmp", a.layers[1].digest[7:] + ".partial")
    wait_until(lambda: os.path.exists(partial) and os.path.getsize(partial) > 0, timeout=20,
               what="the slow pull downloading")
    # No clock: had the quick pull waited for the slow one's locks, the slow
    # one (about 12 s through the throttle) would be over by now.
    strata("pull", b.ref).check()
    assert p.poll() is None, "the quick pull finished while the slow one still downloads"
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert {f"{px.host}/x/slow:1", f"{registry.host}/x/quick:1"} <= names_in(store_root)


def test_help_pull_names_the_unpack_limits(strata):
    """`strata help pull` says which limits a layer must keep and how to
    change them (issue 15)."""
    out = strata("help", "pull").check().out
    assert "STRATA_MAX_LAYER_BYTES" in out and "64G" in out and "sparse" in out
    assert "4294967294" in out and "4095" in out and "1048575" in out
