"""strata save: docker's archive (read by podman load, skopeo) and the OCI
layout (read by umoci, skopeo), for images pulled and images committed by
strata; the trees real peers unpack equal the strata mount they came from."""
import json
import os
import subprocess
import tarfile
import tempfile

import pytest

from test_commit import BASE, change, diff_trees, tree  # noqa: F401
from test_commit import base_image  # noqa: F401  (fixture)

pytestmark = pytest.mark.fuse


@pytest.fixture
def podman(tmp_path):
    """podman on a store of its own (vfs), never the machine's (its runroot
    must be short: podman refuses one past 50 characters)."""
    root = tmp_path / "podman"
    run_dir = tempfile.mkdtemp(prefix="strata-pm-")

    def run(*args, check=True):
        argv = ["podman", "--root", str(root / "root"), "--runroot", run_dir,
                "--storage-driver", "vfs", *map(str, args)]
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if check:
            assert p.returncode == 0, (argv, p.stdout, p.stderr)
        return p
    yield run
    run("image", "unmount", "-a", check=False)
    subprocess.run(["rm", "-rf", str(root), run_dir])


@pytest.fixture
def committed(strata, base_image, tmp_path, mounts):
    """A mount with every kind of change, committed as test/committed:1:
    (the mount dir, its tree)."""
    m1 = mounts.track(str(tmp_path / "m1"))
    os.mkdir(m1)
    strata("mount", base_image, m1).check()
    change(m1)
    strata("commit", "-c", "ENV C=3", "-c", "LABEL made=strata", m1, "test/committed:1").check()
    return m1, tree(m1)


def test_save_docker_archive_podman(strata, committed, base_image, tmp_path, podman):
    m1, (want, links) = committed
    out = tmp_path / "both.tar"
    strata("save", "-o", out, "test/committed:1", base_image).check()
    with tarfile.open(out) as t:
        names = t.getnames()
        manifest = json.load(t.extractfile("manifest.json"))
    assert len(manifest) == 2
    # the base image's layers are in the archive once, shared by both images
    assert len([n for n in names if n.endswith(".tar")]) == 3
    assert manifest[0]["Layers"][:2] == manifest[1]["Layers"]
    assert manifest[0]["RepoTags"] == ["docker.io/test/committed:1"]
    r = podman("load", "-i", out)
    assert "docker.io/test/committed:1" in r.stdout, r.stdout
    rootfs = podman("image", "mount", "docker.io/test/committed:1").stdout.strip()
    got, got_links = tree(rootfs)
    assert diff_trees(want, got) == []
    assert got_links == links
    # podman reads the config as strata wrote it
    cfg = json.loads(podman("image", "inspect", "docker.io/test/committed:1").stdout)[0]
    assert "C=3" in cfg["Config"]["Env"] and cfg["Config"]["Labels"] == {"made": "strata"}


def test_save_oci_dir_umoci_and_skopeo(strata, committed, tmp_path):
    m1, (want, links) = committed
    layout = tmp_path / "layout"
    strata("save", "--format", "oci-dir", "-o", layout, "test/committed:1").check()
    bundle = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:1", str(bundle)], check=True,
                   capture_output=True)
    got, got_links = tree(bundle / "rootfs")
    assert diff_trees(want, got) == []
    assert got_links == links
    # skopeo: the OCI layout and the docker archive show the same config
    insp = json.loads(subprocess.run(["skopeo", "inspect", "--config", f"oci:{layout}:1"],
                                     capture_output=True, text=True, check=True).stdout)
    assert "C=3" in insp["config"]["Env"]
    arch = tmp_path / "d.tar"
    strata("save", "-o", arch, "test/committed:1").check()
    out = subprocess.run(["skopeo", "inspect", f"docker-archive:{arch}"], capture_output=True, text=True,
                         check=True).stdout
    assert json.loads(out)["Labels"] == {"made": "strata"}
    # skopeo copies the archive into an OCI layout of its own
    dest = tmp_path / "copied"
    subprocess.run(["skopeo", "copy", f"docker-archive:{arch}", f"oci:{dest}:x"], check=True,
                   capture_output=True)
    assert (dest / "index.json").exists()


def test_save_oci_archive_and_stdout(strata, base_image, tmp_path):
    arch = tmp_path / "o.tar"
    strata("save", "--format", "oci-archive", "-o", arch, base_image).check()
    with tarfile.open(arch) as t:
        assert "oci-layout" in t.getnames() and "index.json" in t.getnames()
    subprocess.run(["skopeo", "inspect", f"oci-archive:{arch}"], check=True, capture_output=True)
    r = strata("save", base_image)      # stdout is a pipe here
    assert r.rc == 0 and len(r.out) > 1024


def test_save_refusals(strata, base_image, tmp_path):
    r = strata("save", "-o", tmp_path / "x.tar", "no/such:image")
    assert r.rc == 1 and "no/such" in r.err and r.err.count("\n") == 1, r
    assert not os.listdir(tmp_path) or "x.tar" not in os.listdir(tmp_path)
    r = strata("save", "--format", "zip", base_image)
    assert r.rc == 2


def test_save_layer_whose_blob_another_image_has(strata, push_raw, session_registry, tmp_path):
    """A pull that finds a layer in the store (same diff_id) does not download
    its own blob: save uses the other image's blob of that layer."""
    from helpers import File, digest_of, layer_tar
    from helpers.util import host_arch
    layers = [[File("etc/shared", b"one layer, two compressions\n")]]

    def config(which):      # two images, so two records
        return {"architecture": host_arch(), "os": "linux", "config": {"Env": [f"WHICH={which}"]},
                "rootfs": {"type": "layers", "diff_ids": [digest_of(layer_tar(layers[0]))]}}
    a = push_raw(session_registry, "test/samelayer-gz:1", layers=layers, compression="gzip",
                 config=config("gz"))
    b = push_raw(session_registry, "test/samelayer-plain:1", layers=layers, compression=None,
                 config=config("plain"))
    strata("pull", a.ref).check()
    strata("pull", b.ref).check()
    arch = tmp_path / "b.tar"
    strata("save", "-o", arch, b.ref).check()
    r = strata("load", "-i", arch, root=tmp_path / "other").check()
    assert "samelayer-plain:1" in r.out
    strata("save", "--format", "oci-dir", "-o", tmp_path / "lay", b.ref).check()
    subprocess.run(["umoci", "unpack", "--image", f"{tmp_path / 'lay'}:1", str(tmp_path / "bundle")],
                   check=True, capture_output=True)
    assert (tmp_path / "bundle" / "rootfs" / "etc" / "shared").read_bytes() == b"one layer, two compressions\n"
