"""strata export: the flattened tree of a mount (every kind of change in its
writable layer), of a kept run and of an image, as a tar that GNU tar
extracts to the same tree (whiteouts applied, hard links kept)."""
import os
import subprocess
import tarfile

import pytest

from test_commit import change, diff_trees, tree
from test_commit import base_image  # noqa: F401  (fixture)

pytestmark = pytest.mark.fuse


def extract(arch, dest):
    os.mkdir(dest)
    subprocess.run(["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf", str(arch), "-C",
                    str(dest)], check=True)
    return tree(dest)


def test_export_mount_and_image(strata, base_image, tmp_path, mounts):
    m1 = mounts.track(str(tmp_path / "m1"))
    os.mkdir(m1)
    strata("mount", base_image, m1).check()
    change(m1)
    want = tree(m1)
    out = tmp_path / "m.tar"
    strata("export", "-o", out, m1).check()
    with tarfile.open(out) as t:
        names = t.getnames()
    assert not any(".wh." in n for n in names), names
    assert "old" not in names and "etc/a" not in names and "opq/keep1" not in names
    got = extract(out, tmp_path / "x")
    assert diff_trees(want[0], got[0]) == []
    assert got[1] == want[1]

    # an image: its merged layers
    m2 = mounts.track(str(tmp_path / "m2"))
    os.mkdir(m2)
    strata("mount", "-r", base_image, m2).check()
    r = strata("export", base_image)          # to stdout (a pipe)
    assert r.rc == 0
    strata("export", "-o", tmp_path / "i.tar", base_image).check()
    got = extract(tmp_path / "i.tar", tmp_path / "y")
    want2 = tree(m2)
    assert diff_trees(want2[0], got[0]) == []
    assert got[1] == want2[1]


def test_export_refusals(strata, tmp_path):
    r = strata("export", "-o", tmp_path / "n.tar", "no/such:thing")
    assert r.rc == 1 and r.err.count("\n") == 1, r
    assert not (tmp_path / "n.tar").exists()
    assert strata("export").rc == 2
