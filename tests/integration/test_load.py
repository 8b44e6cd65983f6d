"""strata load: what podman save and skopeo copy wrote (docker-archive and
oci-archive, also compressed, also on stdin), what strata save wrote; every
blob and layer verified; a tampered, truncated or hostile archive refused
with one line and nothing stored."""
import gzip
import io
import json
import os
import subprocess
import tarfile

import pytest

from helpers import snapshot
from test_commit import BASE, diff_trees, tree  # noqa: F401
from test_commit import base_image  # noqa: F401  (fixture)
from test_save import podman  # noqa: F401  (fixture)

pytestmark = pytest.mark.fuse


def mounted_tree(strata, image, path, mounts):
    os.mkdir(path)
    mounts.track(str(path))
    strata("mount", "-r", image, path).check()
    t = tree(path)
    strata("umount", path).check()
    return t


def test_load_from_podman_and_skopeo(strata, base_image, session_registry, podman, tmp_path, mounts):
    want = mounted_tree(strata, base_image, tmp_path / "want", mounts)
    podman("pull", "--tls-verify=false", base_image)
    arch = tmp_path / "podman.tar"
    podman("save", "-o", arch, base_image)
    oarch = tmp_path / "podman-oci.tar"
    podman("save", "--format", "oci-archive", "-o", oarch, base_image)
    sk = tmp_path / "skopeo.tar"
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{base_image}",
                    f"docker-archive:{sk}:test/fromskopeo:1"], check=True, capture_output=True)
    sko = tmp_path / "skopeo-oci.tar"
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{base_image}",
                    f"oci-archive:{sko}:test/fromskopeo-oci:1"], check=True, capture_output=True)

    for root, (src, name) in enumerate([(arch, base_image), (oarch, None), (sk, "test/fromskopeo:1"),
                                        (sko, "test/fromskopeo-oci:1")]):
        store = tmp_path / f"store{root}"
        r = strata("load", "-i", src, root=store).check()
        assert r.out.startswith("Loaded image"), r.out
        if name is None:
            name = r.out.split()[-1]     # podman's oci-archive names no image: its ID
        else:
            short = name.replace("docker.io/", "")
            assert short.split("/", 1)[-1] in r.out, r.out
        os.mkdir(tmp_path / f"got{root}")
        got = tmp_path / f"got{root}"
        mounts.track(str(got))
        strata("mount", "-r", name, got, root=store).check()
        t = tree(got)
        strata("umount", got, root=store).check()
        assert diff_trees(want[0], t[0]) == [], src
        assert t[1] == want[1]


def test_load_roundtrip_compressed_and_stdin(strata, base_image, tmp_path, store_root):
    arch = tmp_path / "a.tar"
    strata("save", "-o", arch, base_image).check()
    data = arch.read_bytes()
    for i, blob in enumerate([gzip.compress(data),
                              subprocess.run(["zstd", "-q", "-c"], input=data, stdout=subprocess.PIPE).stdout]):
        r = strata("load", input=blob, root=tmp_path / f"s{i}").check()
        assert r.out == f"Loaded image: {base_image}\n", r.out
        ids = strata("images", "-q", "--no-trunc", root=tmp_path / f"s{i}").check().out.split()
        assert ids == strata("images", "-q", "--no-trunc").check().out.split()
    # an OCI archive and directory of strata's own
    o = tmp_path / "o.tar"
    strata("save", "--format", "oci-archive", "-o", o, base_image).check()
    r = strata("load", "-i", o, root=tmp_path / "s3").check()
    assert "Loaded image:" in r.out


def rewrite(src, dst, edit):
    """Copy the tar @src to @dst, @edit(name, data) -> new data (None drops),
    extra members from edit('', None) -> [(name, data)]."""
    with tarfile.open(src) as t, tarfile.open(dst, "w") as out:
        for m in t.getmembers():
            data = t.extractfile(m).read() if m.isfile() else None
            new = edit(m.name, data)
            if new is None and m.isfile():
                continue
            if m.isfile():
                m.size = len(new)
                out.addfile(m, io.BytesIO(new))
            else:
                out.addfile(m)
        for name, data in edit("", None) or []:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            out.addfile(ti, io.BytesIO(data))


def test_load_refuses_tampering(strata, base_image, tmp_path):
    arch = tmp_path / "a.tar"
    strata("save", "-o", arch, base_image).check()
    with tarfile.open(arch) as t:
        manifest = json.load(t.extractfile("manifest.json"))
    layer = manifest[0]["Layers"][0]
    cfg = manifest[0]["Config"]

    def flip(name, data):
        if name == layer:
            b = bytearray(data)
            with tarfile.open(fileobj=io.BytesIO(data)) as lt:
                f = next(m for m in lt.getmembers() if m.isfile() and m.size)
            b[f.offset_data] ^= 0x01    # in a file's data, not a header
            return bytes(b)
        return data if name else None

    def wrong_diff_id(name, data):
        if name == cfg:
            return None
        if name == "manifest.json":
            m = json.loads(data)
            m[0]["Config"] = "config.json"
            return json.dumps(m).encode()
        if not name:
            with tarfile.open(arch) as t:
                c = json.load(t.extractfile(cfg))
            c["rootfs"]["diff_ids"][0] = "sha256:" + "0" * 64
            return [("config.json", json.dumps(c).encode())]
        return data

    def renamed_config(name, data):     # a config that does not hash to its name
        if name == cfg:
            c = json.loads(data)
            c["config"]["Env"] = ["EVIL=1"]
            return json.dumps(c).encode()
        return data if name else None

    def dotdot(name, data):
        if not name:
            return [("../escape", b"x")]
        return data

    cases = {"flip": flip, "diff_id": wrong_diff_id, "config": renamed_config, "dotdot": dotdot}
    for case, edit in cases.items():
        bad = tmp_path / f"{case}.tar"
        rewrite(arch, bad, edit)
        root = tmp_path / f"store-{case}"
        before = snapshot(root)
        r = strata("load", "-i", bad, root=root)
        assert r.rc == 1 and r.err.count("\n") == 1 and r.err.startswith("strata: load"), (case, r)
        assert snapshot(root) == before, case
        assert not [n for n in os.listdir(root / "tmp") if not n.endswith(".lock")], case
    # the messages say what was wrong
    assert "hashes to" in strata("load", "-i", tmp_path / "flip.tar", root=tmp_path / "x1").err
    assert "leaves" in strata("load", "-i", tmp_path / "dotdot.tar", root=tmp_path / "x2").err
    # a symlink member pointing out of the archive
    with tarfile.open(tmp_path / "link.tar", "w") as t:
        ti = tarfile.TarInfo("manifest.json")
        ti.type = tarfile.SYMTYPE
        ti.linkname = "../../etc/passwd"
        t.addfile(ti)
    r = strata("load", "-i", tmp_path / "link.tar", root=tmp_path / "x3")
    assert r.rc == 1 and "points out" in r.err, r
    # truncated: half the archive
    data = arch.read_bytes()
    (tmp_path / "half.tar").write_bytes(data[: len(data) // 2])
    root = tmp_path / "store-half"
    r = strata("load", "-i", tmp_path / "half.tar", root=root)
    assert r.rc == 1 and r.err.count("\n") == 1, r
    assert snapshot(root) == {}
