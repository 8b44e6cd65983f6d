"""strata import: a one-layer image from a rootfs tarball (a file, stdin
compressed, a URL), -c changes; the image mounts to the tarball's tree; a
hostile tarball or a missing URL is refused with nothing stored."""
import functools
import http.server
import json
import os
import subprocess
import tarfile
import threading

import pytest

from helpers import snapshot
from test_commit import diff_trees, tree
from test_commit import base_image  # noqa: F401  (fixture)
from test_export import extract

pytestmark = pytest.mark.fuse


@pytest.fixture
def http_dir(tmp_path):
    """A static HTTP server over tmp_path/www: (dir, base URL)."""
    www = tmp_path / "www"
    www.mkdir()
    h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), h)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield www, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def test_import_file_stdin_url(strata, base_image, tmp_path, mounts, store_root, http_dir):
    rootfs = tmp_path / "rootfs.tar"
    strata("export", "-o", rootfs, base_image).check()
    want = extract(rootfs, tmp_path / "want")
    www, url = http_dir
    (www / "r.tar.zst").write_bytes(subprocess.run(["zstd", "-q", "-c", str(rootfs)], stdout=subprocess.PIPE,
                                                   check=True).stdout)
    ids = []
    for i, (src, kw) in enumerate([(rootfs, {}), ("-", {"input": subprocess.run(
            ["gzip", "-c", str(rootfs)], stdout=subprocess.PIPE, check=True).stdout}),
            (f"{url}/r.tar.zst", {})]):
        r = strata("import", "-c", 'CMD ["/bin/sh"]', "-c", "ENV X=1", "-m", "from a tarball", src,
                   f"test/imported:{i}", **kw).check()
        ids.append(r.out.strip())
        m = tmp_path / f"m{i}"
        m.mkdir()
        mounts.track(str(m))
        strata("mount", "-r", f"test/imported:{i}", m).check()
        got = tree(m)
        strata("umount", m).check()
        assert diff_trees(want[0], got[0]) == [], src
        assert got[1] == want[1]
    with open(os.path.join(store_root, "blobs", "sha256", ids[0][7:])) as f:
        cfg = json.load(f)
    assert cfg["config"]["Cmd"] == ["/bin/sh"] and cfg["config"]["Env"] == ["X=1"]
    assert len(cfg["rootfs"]["diff_ids"]) == 1 and cfg["history"][0]["comment"] == "from a tarball"
    # with a clamp, the same tarball gives the same image
    a = strata("import", "--timestamp", "1700000000", rootfs).check().out
    b = strata("import", "--timestamp", "1700000000", rootfs).check().out
    assert a == b


def test_import_refusals(strata, tmp_path, http_dir):
    www, url = http_dir
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as t:
        ti = tarfile.TarInfo("../escape")
        ti.size = 0
        t.addfile(ti)
    before = snapshot(strata.root)
    r = strata("import", bad, "test/bad:1")
    assert r.rc == 1 and r.err.count("\n") == 1 and ".." in r.err, r
    r = strata("import", f"{url}/missing.tar")
    assert r.rc == 1 and "404" in r.err, r
    # nothing of the download is left (before a later run would clean tmp/)
    assert not [n for n in os.listdir(os.path.join(strata.root, "tmp")) if not n.endswith(".lock")]
    r = strata("import", "-c", "FROM x", bad)
    assert r.rc == 1 and "FROM" in r.err, r
    assert snapshot(strata.root) == before
    assert not [n for n in os.listdir(os.path.join(strata.root, "tmp")) if not n.endswith(".lock")]
