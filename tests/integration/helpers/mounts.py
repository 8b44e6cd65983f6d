"""FUSE mount bookkeeping: find out whether a path is a mount point and tear
mounts down (fusermount3 -u, then umount -l) at the end of a test."""
import os
import shutil
import subprocess


def _unescape(s):
    # /proc/self/mountinfo escapes space, tab, newline and backslash as \ooo
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 3 < len(s) and s[i + 1:i + 4].isdigit():
            out.append(chr(int(s[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def mount_entries():
    """[(mountpoint, fstype, source)] from /proc/self/mountinfo."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            lf, rf = left.split(), right.split()
            out.append((_unescape(lf[4]), rf[0] if rf else "", _unescape(rf[1]) if len(rf) > 1 else ""))
    return out


def mount_entries_under(path):
    """Mount points at or below @path."""
    p = os.path.realpath(path)
    return [mp for mp, _, _ in mount_entries() if mp == p or mp.startswith(p + "/")]


def is_mounted(path):
    p = os.path.realpath(path)
    return any(mp == p for mp, _, _ in mount_entries())


def fstype(path):
    p = os.path.realpath(path)
    t = None
    for mp, ft, _ in mount_entries():
        if mp == p:
            t = ft          # the last one is on top
    return t


def unmount(path):
    """Unmount @path (all stacked mounts); never raises.  Returns True if
    nothing is mounted there afterwards."""
    p = os.path.realpath(path)
    for _ in range(8):
        if not is_mounted(p):
            return True
        fm = shutil.which("fusermount3") or shutil.which("fusermount")
        ft = fstype(p) or ""
        if fm and ft.startswith("fuse"):
            if subprocess.run([fm, "-u", "-z", p], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0:
                continue
        subprocess.run(["umount", "-l", p], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return not is_mounted(p)


def fuse_available():
    """None when FUSE mounts can work here, else the reason they cannot."""
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is missing (no FUSE in this container/VM)"
    try:
        fd = os.open("/dev/fuse", os.O_RDWR)
        os.close(fd)
    except OSError as e:
        return f"cannot open /dev/fuse: {e.strerror}"
    if not (shutil.which("fusermount3") or os.geteuid() == 0):
        return "fusermount3 missing and not root (apt-get install fuse3)"
    return None


class MountTracker:
    """Remembers mount points and background processes; cleanup() unmounts
    every tracked path still mounted and kills every tracked process."""

    def __init__(self):
        self.paths = []
        self.procs = []
        self.first = {}          # path -> callable tried before fusermount3

    def track(self, path, first=None):
        """Unmount @path at cleanup; @first (e.g. running `strata umount`)
        is tried before the generic unmount, its errors ignored."""
        self.paths.append(str(path))
        if first:
            self.first[str(path)] = first
        return str(path)

    def track_proc(self, proc):
        self.procs.append(proc)
        return proc

    def cleanup(self):
        leftovers = []
        for p in reversed(self.paths):
            if p in self.first and is_mounted(p):
                try:
                    self.first[p]()
                except Exception:
                    pass
            if not unmount(p):
                leftovers.append(p)
        from .util import kill_process
        for pr in self.procs:
            kill_process(pr)
        return leftovers
