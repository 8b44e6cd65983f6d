"""`make demo` (scripts/demo.sh), the README's main command: it must run to
the end and leave nothing behind (no registry process, no mount)."""
import os
import subprocess

from helpers import mount_entries_under

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def processes_mentioning(text):
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            out.append(f"{pid}: {cmd}")
    return out


def test_demo_runs_and_cleans_up(strata_bin, strata_env, tmp_path):
    demo = tmp_path / "demo"
    env = dict(strata_env, STRATA=strata_bin, STRATA_DEMO_DIR=str(demo))
    p = subprocess.run([os.path.join(REPO, "scripts", "demo.sh")], cwd=REPO, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-6000:]
    out = p.stdout
    assert "Status: Downloaded newer image for 127.0.0.1:" in out
    assert "Image is up to date" in out
    assert 'PRETTY_NAME="BusyBox on strata (make demo)"' in out
    assert "==> demo done" in out
    assert not processes_mentioning(str(demo)), processes_mentioning(str(demo))
    assert not mount_entries_under(str(demo))
