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
