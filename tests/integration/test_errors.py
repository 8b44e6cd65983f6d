"""Errors of strata's own at the command line (issue 15): a configuration
file named but missing or ambiguous, bad global options, exit codes."""
import os

import pytest

VERBS_THAT_READ_NO_CONFIG = [["images"], ["ls", "x"], ["umount", "/nonexistent"], ["layers", "x"],
                             ["mount", "-o", "lowerdir=/nonexistent", "/nonexistent"]]


@pytest.mark.parametrize("argv", VERBS_THAT_READ_NO_CONFIG + [["info"]], ids=lambda a: a[0])
def test_missing_config_file_is_an_error(strata, tmp_path, argv):
    """--config FILE names a file that must exist, whatever the verb: one
    line naming it, exit 1, and the verb does not run."""
    missing = tmp_path / "nope.json"
    r = strata("--config", missing, *argv)
    assert r.rc == 1, r
    assert r.out == "" and len(r.err_lines) == 1 and str(missing) in r.err, r
    assert "No such file" in r.err, r


def test_missing_default_config_is_no_error(strata, strata_env):
    """The default path may be absent (the test machine has none)."""
    strata("images").check()


@pytest.mark.parametrize("how", ["option", "env"])
def test_key_given_twice_is_an_error(strata, strata_env, tmp_path, how):
    f = tmp_path / "config.json"
    f.write_text('{\n  "search-index": "https://a.example",\n  "search-index": "https://b.example"\n}\n')
    env = dict(strata_env)
    if how == "option":
        r = strata("--config", f, "images")
    else:
        env["STRATA_CONFIG"] = str(f)
        r = strata("images", env=env)
    assert r.rc == 1, r
    assert r.err_lines == [f'strata: {f}: line 3: "search-index" is given twice'], r


def _tar(*members):
    import io
    import tarfile
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return out.getvalue()


def test_layer_numbers_start_at_0_everywhere(session_registry, push_raw, strata, store_root):
    """One convention (0 = the bottom layer) in layers, ls --layer, which,
    and the errors of pull and unpack."""
    bad = push_raw(session_registry, "layers/numbers-bad:1",
                   layers=[_tar(("a", b"a")), _tar(("b", b"b")), _tar(("../escape", b"x"))])
    r = strata("pull", bad.ref)
    assert r.rc == 1 and len(r.err_lines) == 1 and " layer 2 (" in r.err, r

    good = push_raw(session_registry, "layers/numbers-good:1", layers=[_tar(("a", b"a")), _tar(("b", b"b"))])
    strata("pull", good.ref).check()
    rows = strata("layers", good.ref).check().lines
    assert [row.split()[0] for row in rows] == ["LAYER", "0", "1"], rows
    ls = strata("ls", "--layer", "1", good.ref).check().out
    assert "/b" in ls and "/a" not in ls, ls
    assert "wins: layer 1" in strata("which", good.ref, "/b").check().out

    # the top layer's blob gone: unpack names it layer 1
    blob = os.path.join(store_root, "blobs", "sha256", good.layers[1].digest.split(":")[1])
    os.unlink(blob)
    r = strata("unpack", good.ref, store_root + "-flat")
    assert r.rc == 1 and len(r.err_lines) == 1, r
    assert f"layer 1 ({good.layers[1].digest}): open blob: No such file or directory" in r.err, r
