"""Looking at a strata store from the outside (layout: store/store.h)."""
import hashlib
import os
import stat


def snapshot(root, ignore=("tmp/", "lock"), hash_files=True, dirs=False):
    """{relative path: (kind, size, mode, sha256-or-linktarget)} for every
    entry under @root except those whose path starts with one of @ignore.
    Compare two snapshots to check that a failed command left the store as
    it was: `assert snapshot(root) == before`.

    Ignored by default: tmp/ (store invariant (5) lets a failed pull leave a
    .partial there to resume), the lock file, and directories (@dirs=False):
    so the empty skeleton a first command creates (blobs/sha256/, layers/,
    mounts/) does not count as a change; every file, symlink and special
    file does."""
    out = {}
    if not os.path.isdir(root):
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        for name in sorted(dirnames + filenames):
            rel = rel_dir + name
            if any(rel.startswith(i) or (rel + "/").startswith(i) for i in ignore):
                continue
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if stat.S_ISDIR(st.st_mode):
                if dirs:
                    out[rel] = ("dir", 0, stat.S_IMODE(st.st_mode), None)
            elif stat.S_ISLNK(st.st_mode):
                out[rel] = ("symlink", 0, 0, os.readlink(p))
            elif stat.S_ISREG(st.st_mode):
                h = None
                if hash_files:
                    with open(p, "rb") as f:
                        h = hashlib.file_digest(f, "sha256").hexdigest()
                out[rel] = ("file", st.st_size, stat.S_IMODE(st.st_mode), h)
            else:
                out[rel] = ("special", 0, stat.S_IMODE(st.st_mode), st.st_rdev)
        # do not descend into ignored directories
        dirnames[:] = [d for d in dirnames
                       if not any((rel_dir + d + "/").startswith(i) for i in ignore)]
    return out


def snapshot_diff(before, after):
    """Human-readable list of differences between two snapshots."""
    lines = []
    for k in sorted(set(before) | set(after)):
        if k not in after:
            lines.append(f"- {k}")
        elif k not in before:
            lines.append(f"+ {k}")
        elif before[k] != after[k]:
            lines.append(f"~ {k}: {before[k]} -> {after[k]}")
    return lines


def blob_files(root):
    """{digest: path} of the blobs in the store."""
    d = os.path.join(root, "blobs", "sha256")
    if not os.path.isdir(d):
        return {}
    return {"sha256:" + n: os.path.join(d, n) for n in os.listdir(d)}


def mount_ids(root):
    """The IDs of the mounts recorded in the store (ROOT/mounts/<id>), sorted."""
    d = os.path.join(root, "mounts")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []
