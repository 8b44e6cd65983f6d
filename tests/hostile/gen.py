#!/usr/bin/python3
"""Generate hostile (and a few tricky but valid) layer blobs for unpack/.

    gen.py OUTDIR CANARY_DIR

Writes OUTDIR/<case>.<ext> (real tar / tar.gz / tar.zst blobs) and
OUTDIR/cases.tsv, one line per case, tab-separated:

    name  file  media_type  expect  max_bytes  flags  diff_id

expect is "OK", "DIFF_ID_MISMATCH" (unpacks, but the diff_id differs from
the one given: damage only the diff_id check catches) or a substring the
one-line error must contain; max_bytes is
the expansion ceiling to use (0 = default); flags is "-" or a comma list
(nonroot: run the case as an unprivileged user); diff_id is the sha256 of the
uncompressed stream when there is a well-defined one, else "-".

CANARY_DIR is an absolute path outside the destination: the hostile entries
aim at it (absolute symlinks, hard links), and through "../canary".  The
caller checks that nothing there (or anywhere outside the destination)
changed.  Used by tests/unit/test-unpack-hostile.c and by the pull tests in
tests/integration/test_unpack_hostile.py.
"""
import ctypes
import gzip
import hashlib
import io
import os
import sys
import tarfile
import zlib

OCI = "application/vnd.oci.image.layer.v1.tar"
OCI_GZ = OCI + "+gzip"
OCI_ZST = OCI + "+zstd"
DOCKER_GZ = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def zstd_compress(data, checksum=True):
    """zstd through libzstd (no Python module needed); with the frame
    checksum by default, as containerd's and buildkit's encoders write."""
    lib = ctypes.CDLL("libzstd.so.1")
    lib.ZSTD_compressBound.restype = ctypes.c_size_t
    lib.ZSTD_compressBound.argtypes = [ctypes.c_size_t]
    lib.ZSTD_createCCtx.restype = ctypes.c_void_p
    lib.ZSTD_freeCCtx.argtypes = [ctypes.c_void_p]
    lib.ZSTD_CCtx_setParameter.restype = ctypes.c_size_t
    lib.ZSTD_CCtx_setParameter.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    lib.ZSTD_compress2.restype = ctypes.c_size_t
    lib.ZSTD_compress2.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                   ctypes.c_void_p, ctypes.c_size_t]
    lib.ZSTD_isError.argtypes = [ctypes.c_size_t]
    bound = lib.ZSTD_compressBound(len(data))
    out = ctypes.create_string_buffer(bound)
    cctx = lib.ZSTD_createCCtx()
    lib.ZSTD_CCtx_setParameter(cctx, 201, 1 if checksum else 0)     # ZSTD_c_checksumFlag
    n = lib.ZSTD_compress2(cctx, out, bound, data, len(data))
    lib.ZSTD_freeCCtx(cctx)
    assert not lib.ZSTD_isError(n)
    return out.raw[:n]


def gz(data):
    return gzip.compress(data, compresslevel=6, mtime=0)


class T:
    """A tar being built entry by entry (PAX unless told otherwise)."""

    def __init__(self, fmt=tarfile.PAX_FORMAT):
        self.buf = io.BytesIO()
        self.tf = tarfile.open(fileobj=self.buf, mode="w", format=fmt)

    def _info(self, name, typ, mode, **kw):
        ti = tarfile.TarInfo(name)
        ti.type = typ
        ti.mode = mode
        ti.mtime = kw.pop("mtime", 1700000000)
        ti.uid = kw.pop("uid", 0)
        ti.gid = kw.pop("gid", 0)
        ti.uname = ti.gname = ""
        for k, v in kw.items():
            setattr(ti, k, v)
        return ti

    def file(self, name, data=b"x\n", mode=0o644, **kw):
        ti = self._info(name, tarfile.REGTYPE, mode, **kw)
        ti.size = len(data)
        self.tf.addfile(ti, io.BytesIO(data))
        return self

    def dir(self, name, mode=0o755, **kw):
        self.tf.addfile(self._info(name, tarfile.DIRTYPE, mode, **kw))
        return self

    def symlink(self, name, target, **kw):
        self.tf.addfile(self._info(name, tarfile.SYMTYPE, 0o777, linkname=target, **kw))
        return self

    def hardlink(self, name, target, **kw):
        self.tf.addfile(self._info(name, tarfile.LNKTYPE, 0o644, linkname=target, **kw))
        return self

    def chardev(self, name, major, minor, mode=0o666, **kw):
        self.tf.addfile(self._info(name, tarfile.CHRTYPE, mode, devmajor=major, devminor=minor, **kw))
        return self

    def pax(self, name, typ, headers, data=b"", mode=0o644, **kw):
        """An entry whose PAX records say what the ustar fields cannot."""
        ti = self._info(name, typ, mode, **kw)
        ti.size = len(data) if typ == tarfile.REGTYPE else 0
        ti.pax_headers = headers
        self.tf.addfile(ti, io.BytesIO(data) if ti.size else None)
        return self

    def sparse(self, name, realsize, chunks):
        """A PAX 1.0 sparse file (what GNU tar --sparse writes): @chunks is
        [(offset, data)], the rest of the @realsize bytes are holes."""
        m = f"{len(chunks)}\n" + "".join(f"{off}\n{len(d)}\n" for off, d in chunks)
        m = m.encode()
        m += b"\0" * (-len(m) % 512)
        data = m + b"".join(d for _, d in chunks)
        ti = self._info("GNUSparseFile.0/" + name, tarfile.REGTYPE, 0o644)
        ti.size = len(data)
        ti.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                          "GNU.sparse.name": name, "GNU.sparse.realsize": str(realsize)}
        self.tf.addfile(ti, io.BytesIO(data))
        return self

    def bytes(self):
        self.tf.close()
        return self.buf.getvalue()


def main():
    out, canary = sys.argv[1], sys.argv[2]
    assert os.path.isabs(canary)
    crel = canary.lstrip("/")
    os.makedirs(out, exist_ok=True)
    cases = []

    def add(name, tar_bytes, expect, media=OCI, blob=None, max_bytes=0, flags="-", diff_id=None):
        if blob is None:
            blob = tar_bytes
        ext = {OCI: "tar", OCI_GZ: "tar.gz", DOCKER_GZ: "tar.gz", OCI_ZST: "tar.zst"}.get(media, "blob")
        fn = f"{name}.{ext}"
        with open(os.path.join(out, fn), "wb") as f:
            f.write(blob)
        if diff_id is None:
            diff_id = "sha256:" + hashlib.sha256(tar_bytes).hexdigest() if tar_bytes is not None else "-"
        cases.append((name, fn, media, expect, str(max_bytes), flags, diff_id))

    # --- paths that leave the root
    add("zip-slip", T().file("../canary/pwned").bytes(), '".." component')
    add("dotdot-middle", T().dir("a").file("a/../../canary/pwned").bytes(), '".." component')
    add("dotdot-inside", T().dir("a").file("a/../b").bytes(), '".." component')
    # absolute names are taken relative to the layer root (docker, containerd): contained
    add("absolute-name", T().file(canary + "/pwned").bytes(), "OK")
    # --- symlinks in the path
    add("abs-symlink-write", T().symlink("evil", canary).file("evil/pwned").bytes(), "symlink")
    add("symlink-root-write", T().symlink("root", "/").file("root/" + crel + "/pwned").bytes(), "symlink")
    add("rel-symlink-escape", T().symlink("up", "../..").file("up/canary/pwned").bytes(), "symlink")
    add("dir-replaced-by-symlink",
        T().dir("d").file("d/a").symlink("d", canary).file("d/pwned").bytes(), "symlink")
    add("symlink-inside-then-write",
        T().dir("usr").dir("usr/lib").symlink("lib", "usr/lib").file("lib/x").bytes(), "symlink")
    add("symlink-loop-parent", T().symlink("a", "a").file("a/x").bytes(), "symlink")
    add("file-as-parent", T().file("f").file("f/x").bytes(), "not a directory")
    # writing a regular file over a symlink replaces the symlink, never follows it
    add("file-over-symlink", T().symlink("f", canary + "/file").file("f", b"overwritten\n").bytes(), "OK")
    # --- hard links
    add("hardlink-etc-passwd", T().hardlink("pw", "/etc/passwd").bytes(), "does not exist in the layer")
    add("hardlink-canary-abs", T().hardlink("c", canary + "/file").bytes(), "does not exist in the layer")
    add("hardlink-dotdot", T().hardlink("pw", "../canary/file").bytes(), '".." component')
    add("hardlink-missing", T().hardlink("x", "nothere").bytes(), "does not exist in the layer")
    add("hardlink-via-symlink", T().symlink("s", canary).hardlink("h", "s/file").bytes(), "symlink")
    add("hardlink-to-dir", T().dir("d").hardlink("h", "d").bytes(), "directory")
    # a hard link to a symlink links the symlink itself; the write after it replaces the name
    add("hardlink-to-symlink", T().symlink("s", canary + "/file").hardlink("h", "s")
        .file("h", b"new\n").bytes(), "OK")
    # --- whiteouts
    add("whiteout-dotdot", T().file(".wh...").bytes(), "whiteout of an invalid name")
    add("whiteout-dot", T().dir("a").file("a/.wh..").bytes(), "whiteout of an invalid name")
    add("whiteout-empty", T().file(".wh.").bytes(), "whiteout of an invalid name")
    add("whiteout-as-dir", T().file(".wh.../x").bytes(), "whiteout name is used as a directory")
    add("whiteout-traverse", T().file("../.wh.canary").bytes(), '".." component')
    add("whiteout-through-symlink", T().symlink("s", canary).file("s/.wh.file").bytes(), "symlink")
    add("opaque-through-symlink", T().symlink("s", canary).file("s/.wh..wh..opq").bytes(), "symlink")
    # --- tar header tricks
    t = T()
    ti = tarfile.TarInfo("innocent")
    ti.size = 2
    ti.pax_headers = {"path": "../canary/pwned"}
    t.tf.addfile(ti, io.BytesIO(b"x\n"))
    add("pax-path-override", t.bytes(), '".." component')
    t = T()
    ti = tarfile.TarInfo("link")
    ti.type = tarfile.LNKTYPE
    ti.linkname = "innocent"
    ti.pax_headers = {"linkpath": "../canary/file"}
    t.tf.addfile(ti)
    add("pax-linkpath-override", t.bytes(), '".." component')
    # a PAX global header naming a path applies to no entry (libarchive, Go)
    gb = io.BytesIO()
    with tarfile.open(fileobj=gb, mode="w", format=tarfile.PAX_FORMAT,
                      pax_headers={"path": "../canary/pwned"}) as gt:
        ti = tarfile.TarInfo("ok.txt")
        ti.size = 1
        gt.addfile(ti, io.BytesIO(b"x"))
    add("pax-global-path-ok", gb.getvalue(), "OK")
    add("gnu-longname-dotdot", T(tarfile.GNU_FORMAT).file("a" * 120 + "/../../canary/pwned").bytes(),
        '".." component')
    add("gnu-longlink-dotdot", T(tarfile.GNU_FORMAT).hardlink("h", "b" * 120 + "/../../../canary/file").bytes(),
        '".." component')
    # a PAX header claiming 16 MiB of records: libarchive's ceiling, not our memory
    hdr = tarfile.TarInfo("././@PaxHeader")
    hdr.type = tarfile.XHDTYPE
    hdr.size = 16 << 20
    rec = b"30 comment=" + b"a" * 18 + b"\n"
    body = rec * (hdr.size // len(rec))
    body += b"\n" * (hdr.size - len(body))
    huge = hdr.tobuf(tarfile.USTAR_FORMAT) + body + T().file("f").bytes()
    add("pax-huge-header", huge, "too large", media=OCI_GZ, blob=gz(huge))
    # aufs bookkeeping from old docker images: skipped, like docker does
    add("aufs-meta-ok", T().dir(".wh..wh.plnk").file(".wh..wh.plnk/1234.5678", b"l")
        .file("./.wh..wh.aufs", b"").dir("a").file("a/f").bytes(), "OK")
    add("root-not-dir", T().file(".", b"").bytes(), "layer root is not a directory")
    # --- numbers that do not fit their type: refused, never truncated (issue 15)
    CHR = tarfile.CHRTYPE
    add("dev-major-huge", T().pax("dev/mem", CHR, {"SCHILY.devmajor": str((1 << 32) + 1),
                                                   "SCHILY.devminor": str((1 << 32) + 1)}).bytes(),
        "device major number 4294967297 does not fit")
    add("dev-minor-huge", T().pax("dev/x", CHR, {"SCHILY.devmajor": "1",
                                                 "SCHILY.devminor": str((1 << 32) + 3)}).bytes(),
        "device minor number 4294967299 does not fit")
    add("dev-major-kernel", T().chardev("dev/x", 4096, 0).bytes(), "device major number 4096 does not fit")
    add("dev-minor-negative", T().pax("dev/x", CHR, {"SCHILY.devmajor": "1", "SCHILY.devminor": "-1"}).bytes(),
        "device minor number")
    add("uid-2p32", T().pax("f", tarfile.REGTYPE, {"uid": str(1 << 32)}, b"x").bytes(),
        "uid 4294967296 does not fit")
    add("uid-minus-one-unsigned", T().pax("f", tarfile.REGTYPE, {"uid": str((1 << 32) - 1)}, b"x").bytes(),
        "uid 4294967295 does not fit")
    add("gid-huge", T().dir("d").pax("d/s", tarfile.SYMTYPE, {"gid": str((1 << 40) + 5)}, linkname="t").bytes(),
        "gid 1099511627781 does not fit")
    add("uid-negative", T().pax("d", tarfile.DIRTYPE, {"uid": "-1"}, mode=0o755).bytes(), "uid -1 does not fit")
    # --- what a file will be, not the bytes it carries: a 10 GiB sparse file
    # of 4 KiB data under a 1 GiB ceiling (issue 15)
    add("sparse-bomb", T().sparse("big.img", 10 << 30, [(0, b"a" * 4096), ((10 << 30) - 4096, b"z" * 4096)])
        .bytes(), "limit", max_bytes=1 << 30)
    # the stream ceiling, for bytes no file declares (zeros after the end blocks)
    tail_bomb = T().file("f").bytes() + b"\0" * (64 << 20)
    add("gzip-bomb-after-end", tail_bomb, "expands past the limit", media=OCI_GZ, blob=gz(tail_bomb),
        max_bytes=8 << 20)
    add("device-nonroot", T().chardev("dev/null", 1, 3).bytes(), "device nodes need root", flags="nonroot")
    # --- streams
    bomb_tar = T().file("zeros", b"\0" * (64 << 20)).bytes()
    add("gzip-bomb", bomb_tar, "limit", media=OCI_GZ, blob=gz(bomb_tar), max_bytes=8 << 20)
    add("zstd-bomb", bomb_tar, "limit", media=OCI_ZST, blob=zstd_compress(bomb_tar), max_bytes=8 << 20)
    good = T().dir("etc").file("etc/hostname", b"strata\n" * 3000).file("etc/motd", os.urandom(20000)).bytes()
    g = gz(good)
    add("gzip-truncated", good, "truncated", media=OCI_GZ, blob=g[: len(g) // 2])
    bad_crc = bytearray(g)
    bad_crc[-8] ^= 0xFF
    add("gzip-bad-crc", good, "gzip:", media=OCI_GZ, blob=bytes(bad_crc))
    bad_data = bytearray(g)
    for i in range(len(g) // 2, len(g) // 2 + 64):
        bad_data[i] ^= 0x55
    add("gzip-corrupt", good, "gzip:", media=DOCKER_GZ, blob=bytes(bad_data))
    add("gzip-trailing-garbage", good, "trailing garbage", media=OCI_GZ, blob=g + b"garbage!")
    z = zstd_compress(good)
    bad_z = bytearray(z)
    for i in range(len(z) // 2, len(z) // 2 + 64):
        bad_z[i] ^= 0x55
    add("zstd-corrupt", good, "zstd:", media=OCI_ZST, blob=bytes(bad_z))
    # without a frame checksum zstd cannot see the damage: the diff_id does
    z = zstd_compress(good, checksum=False)
    bad_z = bytearray(z)
    for i in range(len(z) // 2, len(z) // 2 + 64):
        bad_z[i] ^= 0x55
    add("zstd-corrupt-nocrc", good, "DIFF_ID_MISMATCH", media=OCI_ZST, blob=bytes(bad_z))
    add("zstd-truncated", good, "truncated", media=OCI_ZST, blob=z[: len(z) - 10])
    add("gzip-as-zstd", good, "media type says zstd but the blob is gzip", media=OCI_ZST, blob=g)
    add("tar-as-gzip", good, "media type says gzip but the blob is not compressed", media=OCI_GZ, blob=good)
    add("gzip-as-tar", good, "media type says uncompressed tar but the blob is gzip", media=OCI, blob=g)
    add("bzip2-blob", good, "unsupported", media=OCI_GZ, blob=b"BZh91AY&SY" + b"\0" * 100)
    add("not-a-tar", None, "tar", media=OCI, blob=b"this is not a tar archive at all" * 40)
    # truncation inside an entry (data), inside a header; and the accepted end without trailer
    big = T().file("a", b"a" * 3000).file("b", b"b" * 5000).bytes()
    cut = big[: 512 + 3072 + 512 + 2000]
    add("tar-truncated-data", cut, "truncated", blob=cut)
    cut2 = big[: 512 + 3072 + 300]
    add("tar-truncated-header", cut2, "tar", blob=cut2)
    cut3 = big[: 512 + 3072 + 512 + 4800]        # inside the last 512-block of b's data
    add("tar-truncated-last-block", cut3, "truncated", blob=cut3)
    garbage = big[: 512 + 3072] + b"garbage!" * 64 + big[512 + 3072 + 512:]
    add("tar-garbage-header", garbage, "read tar header after entry \"a\": Damaged tar archive", blob=garbage)
    notrailer = big[: 512 + 3072 + 512 + 5000]   # umoci 0.4.7: no padding, no end blocks
    add("no-trailer-ok", notrailer, "OK", blob=notrailer)
    add("no-trailer-gzip-ok", notrailer, "OK", media=OCI_GZ, blob=gz(notrailer))
    add("empty-layer-ok", b"", "OK", blob=b"")
    # overlay xattrs forged by the tar are dropped, the entry kept
    t = T()
    ti = tarfile.TarInfo("forged")
    ti.type = tarfile.DIRTYPE
    ti.mode = 0o755
    ti.pax_headers = {"SCHILY.xattr.trusted.overlay.redirect": "/etc", "SCHILY.xattr.user.ok": "1"}
    t.tf.addfile(ti)
    add("forged-overlay-xattr-ok", t.bytes(), "OK")

    with open(os.path.join(out, "cases.tsv"), "w") as f:
        for c in cases:
            f.write("\t".join(c) + "\n")
    print(f"{len(cases)} cases in {out}")


if __name__ == "__main__":
    main()
