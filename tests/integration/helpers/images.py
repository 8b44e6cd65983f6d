"""Build test images and push them to a Registry.

Layer contents are lists of entries (File, Dir, Symlink, Hardlink, Whiteout,
Opaque, Fifo, CharDev, BlockDev, Raw); layer_tar() turns one list into tar
bytes with the standard library's tarfile (PAX format, end blocks present).

ImageBuilder.build_image()  umoci (init/new/raw add-layer/config) + skopeo copy
ImageBuilder.build_index()  several platforms + an OCI index, skopeo copy --all
ImageBuilder.push_raw()     blobs and manifest written by hand, pushed over HTTP
                            (odd media types, zstd, hostile tars, lying configs)
ImageBuilder.busybox()      busybox-static + applet symlinks + /etc/os-release
"""
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import threading
from dataclasses import dataclass, field

from .util import digest_of, gzip_bytes, host_arch, zstd_bytes

MTIME = 1700000000

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"


# ================================================================ entries
@dataclass
class File:
    path: str
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: int = MTIME
    xattrs: dict = None          # {"user.foo": "bar"} -> PAX SCHILY.xattr.*


@dataclass
class Dir:
    path: str
    mode: int = 0o755
    uid: int = 0
    gid: int = 0
    mtime: int = MTIME
    xattrs: dict = None


@dataclass
class Symlink:
    path: str
    target: str
    uid: int = 0
    gid: int = 0
    mtime: int = MTIME


@dataclass
class Hardlink:
    path: str
    target: str                  # path of an earlier entry, as written in the tar
    mtime: int = MTIME


@dataclass
class Whiteout:
    """Deletes @path of the lower layers: written as DIR/.wh.NAME."""
    path: str
    mtime: int = MTIME


@dataclass
class Opaque:
    """Hides everything the lower layers have under directory @path:
    written as PATH/.wh..wh..opq."""
    path: str
    mtime: int = MTIME


@dataclass
class Fifo:
    path: str
    mode: int = 0o644
    mtime: int = MTIME


@dataclass
class CharDev:
    path: str
    major: int = 0
    minor: int = 0
    mode: int = 0o666
    mtime: int = MTIME


@dataclass
class BlockDev:
    path: str
    major: int = 0
    minor: int = 0
    mode: int = 0o660
    mtime: int = MTIME


@dataclass
class Raw:
    """A tar member written exactly as given (hostile names such as '../x' or
    '/etc/x', links pointing out, odd types).  @data is the member's body."""
    info: tarfile.TarInfo
    data: bytes = None


def _ti(path, typ, mtime, mode=0o644, uid=0, gid=0):
    t = tarfile.TarInfo(path)
    t.type = typ
    t.mtime = mtime
    t.mode = mode
    t.uid, t.gid = uid, gid
    t.uname = t.gname = ""
    return t


def random_bytes(n, seed=0):
    """@n deterministic, incompressible bytes (fast: random.randbytes).  Made
    in pieces of 16 MiB: one randbytes() of 256 MiB or more overflows a C int
    inside Python 3.11 (getrandbits of n * 8 bits)."""
    import random
    rnd = random.Random(seed)
    piece = 16 << 20
    if n <= piece:
        return rnd.randbytes(n)
    return b"".join(rnd.randbytes(min(piece, n - off)) for off in range(0, n, piece))


def layer_tar(entries):
    """Uncompressed tar bytes for one layer.  Names are used as given (write
    'etc/x', not '/etc/x', unless you want a hostile layer).  Parent
    directories are not added implicitly."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            if isinstance(e, File):
                ti = _ti(e.path, tarfile.REGTYPE, e.mtime, e.mode, e.uid, e.gid)
                ti.size = len(e.data)
                if e.xattrs:
                    ti.pax_headers = {"SCHILY.xattr." + k: v for k, v in e.xattrs.items()}
                t.addfile(ti, io.BytesIO(e.data))
            elif isinstance(e, Dir):
                ti = _ti(e.path.rstrip("/") + "/", tarfile.DIRTYPE, e.mtime, e.mode, e.uid, e.gid)
                if e.xattrs:
                    ti.pax_headers = {"SCHILY.xattr." + k: v for k, v in e.xattrs.items()}
                t.addfile(ti)
            elif isinstance(e, Symlink):
                ti = _ti(e.path, tarfile.SYMTYPE, e.mtime, 0o777, e.uid, e.gid)
                ti.linkname = e.target
                t.addfile(ti)
            elif isinstance(e, Hardlink):
                ti = _ti(e.path, tarfile.LNKTYPE, e.mtime)
                ti.linkname = e.target
                t.addfile(ti)
            elif isinstance(e, Whiteout):
                d, b = os.path.split(e.path.rstrip("/"))
                t.addfile(_ti(os.path.join(d, ".wh." + b), tarfile.REGTYPE, e.mtime))
            elif isinstance(e, Opaque):
                t.addfile(_ti(os.path.join(e.path.rstrip("/"), ".wh..wh..opq"),
                              tarfile.REGTYPE, e.mtime))
            elif isinstance(e, Fifo):
                t.addfile(_ti(e.path, tarfile.FIFOTYPE, e.mtime, e.mode))
            elif isinstance(e, (CharDev, BlockDev)):
                ti = _ti(e.path, tarfile.CHRTYPE if isinstance(e, CharDev) else tarfile.BLKTYPE,
                         e.mtime, e.mode)
                ti.devmajor, ti.devminor = e.major, e.minor
                t.addfile(ti)
            elif isinstance(e, Raw):
                if e.data is not None:
                    e.info.size = len(e.data)
                    t.addfile(e.info, io.BytesIO(e.data))
                else:
                    t.addfile(e.info)
            else:
                raise TypeError(f"not a layer entry: {e!r}")
    return out.getvalue()


def compress(data, compression):
    """compression: 'gzip' | 'zstd' | None/'none'."""
    if compression == "gzip":
        return gzip_bytes(data)
    if compression == "zstd":
        return zstd_bytes(data)
    if compression in (None, "none"):
        return data
    raise ValueError(f"unknown compression {compression!r}")


def parse_platform(p):
    """'linux/arm64/v8' -> {'os': 'linux', 'architecture': 'arm64', 'variant': 'v8'}."""
    parts = p.split("/")
    out = {"os": parts[0], "architecture": parts[1] if len(parts) > 1 else host_arch()}
    if len(parts) > 2:
        out["variant"] = parts[2]
    return out


def _split_ref(name):
    """'repo/x:tag' -> ('repo/x', 'tag'); no tag -> 'latest'."""
    if "@" in name:
        raise ValueError("push by tag, not by digest")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1:]
    return name, "latest"


# ================================================================ results
@dataclass
class Blob:
    digest: str
    size: int
    media_type: str
    diff_id: str = None           # layers: sha256 of the uncompressed tar


@dataclass
class Image:
    """What the registry serves for one pushed image."""
    registry: object
    repo: str
    tag: str
    digest: str                    # manifest digest (Docker-Content-Digest)
    manifest_bytes: bytes
    manifest: dict
    config_bytes: bytes
    config: dict
    layers: list                   # [Blob]
    layout: str = None             # OCI layout it was built in (umoci), if any

    @property
    def ref(self):
        """'127.0.0.1:PORT/repo:tag', for `strata pull`."""
        return f"{self.registry.host}/{self.repo}:{self.tag}"

    @property
    def pinned_ref(self):
        return f"{self.registry.host}/{self.repo}@{self.digest}"

    @property
    def config_digest(self):
        return self.manifest["config"]["digest"]

    @property
    def media_type(self):
        return self.manifest.get("mediaType", OCI_MANIFEST)

    @property
    def diff_ids(self):
        return list(self.config.get("rootfs", {}).get("diff_ids", []))

    def blob_digests(self):
        """Manifest, config and layer digests: what a pull stores as blobs."""
        return [self.digest, self.config_digest] + [l.digest for l in self.layers]


@dataclass
class Index:
    registry: object
    repo: str
    tag: str
    digest: str
    index_bytes: bytes
    index: dict
    images: dict = field(default_factory=dict)   # 'linux/arm64/v8' -> Image

    @property
    def ref(self):
        return f"{self.registry.host}/{self.repo}:{self.tag}"

    @property
    def pinned_ref(self):
        return f"{self.registry.host}/{self.repo}@{self.digest}"


def fetch_image(registry, repo, ref, layout=None, tag=None):
    """Image as the registry serves it (manifest by tag or digest)."""
    c = registry.client()
    r = c.get_manifest(repo, ref)
    if r.status != 200:
        raise RuntimeError(f"GET manifest {repo}:{ref}: {r.status} {r.body[:300]!r}")
    m = json.loads(r.body)
    dg = r.headers.get("Docker-Content-Digest") or digest_of(r.body)
    cb = c.get_blob(repo, m["config"]["digest"])
    if cb.status != 200:
        raise RuntimeError(f"GET config {m['config']['digest']}: {cb.status}")
    cfg = json.loads(cb.body)
    diff_ids = cfg.get("rootfs", {}).get("diff_ids", [])
    layers = []
    for i, l in enumerate(m.get("layers", [])):
        layers.append(Blob(l["digest"], l["size"], l.get("mediaType"),
                           diff_ids[i] if i < len(diff_ids) else None))
    return Image(registry, repo, tag or ref, dg, r.body, m, cb.body, cfg, layers, layout)


# ================================================================ builder
def _run(argv, **kw):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {r.returncode}\n{r.stderr.decode(errors='replace')}")
    return r


def _layout_ref_digest(layout, tag):
    with open(os.path.join(layout, "index.json")) as f:
        idx = json.load(f)
    for m in idx["manifests"]:
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            return m
    raise KeyError(f"no tag {tag} in {layout}")


def _spec_key(*parts):
    """A short hash of a build spec; bytes are hashed, not repr()'d (a big
    layer would make a huge string)."""
    def norm(x):
        if isinstance(x, (bytes, bytearray)):
            return "bytes:" + hashlib.sha256(x).hexdigest()
        if isinstance(x, (list, tuple)):
            return [norm(i) for i in x]
        if isinstance(x, dict):
            return {k: norm(v) for k, v in sorted(x.items())}
        return x
    return hashlib.sha256(repr([norm(p) for p in parts]).encode()).hexdigest()[:16]


def _tars(layers):
    """Each layer (entries or tar bytes) as tar bytes."""
    return [bytes(l) if isinstance(l, (bytes, bytearray)) else layer_tar(l) for l in layers]


class ImageBuilder:
    """Session-wide: layouts are cached in @cachedir by content, so building
    the same spec twice costs one umoci run; pushing costs one skopeo copy per
    registry."""

    def __init__(self, cachedir):
        self.cachedir = str(cachedir)
        os.makedirs(self.cachedir, exist_ok=True)
        self._lock = threading.Lock()
        self._busybox_tar = None
        self._compressed = {}     # (diff_id, compression) -> bytes, for push_raw

    # ------------------------------------------------------------ umoci
    def _layout(self, key, build):
        path = os.path.join(self.cachedir, "oci-" + key)
        with self._lock:
            if not os.path.exists(os.path.join(path, ".done")):
                shutil.rmtree(path, ignore_errors=True)
                build(path)
                open(os.path.join(path, ".done"), "w").close()
        return path

    @staticmethod
    def _umoci_image(layout, tag, layers, config, platform, history, from_tag=None):
        """Add image @tag to an existing layout (new and empty, or, with
        @from_tag, @tag's layers plus @layers)."""
        if from_tag is None:
            _run(["umoci", "new", "--image", f"{layout}:{tag}"])
        elif from_tag != tag:
            _run(["umoci", "tag", "--image", f"{layout}:{from_tag}", tag])
        for i, tar in enumerate(_tars(layers)):
            tp = os.path.join(layout, f".layer-{i}.tar")
            with open(tp, "wb") as f:
                f.write(tar)
            hist = (history[i] if history and i < len(history) else f"layer {i}")
            _run(["umoci", "raw", "add-layer", "--image", f"{layout}:{tag}",
                  "--history.created_by", hist, "--history.created", "2023-11-14T22:13:20Z", tp])
            os.unlink(tp)
        plat = parse_platform(platform)
        argv = ["umoci", "config", "--image", f"{layout}:{tag}", "--os", plat["os"],
                "--architecture", plat["architecture"], "--created", "2023-11-14T22:13:20Z",
                "--history.created", "2023-11-14T22:13:20Z",
                "--history.created_by", (config or {}).get("history", "config")]
        cfg = config or {}
        for e in cfg.get("Env", []):
            argv += ["--config.env", e]
        for e in _listify(cfg.get("Entrypoint")):
            argv += ["--config.entrypoint", e]
        for e in _listify(cfg.get("Cmd")):
            argv += ["--config.cmd", e]
        if cfg.get("WorkingDir"):
            argv += ["--config.workingdir", cfg["WorkingDir"]]
        if cfg.get("User"):
            argv += ["--config.user", cfg["User"]]
        for k, v in (cfg.get("Labels") or {}).items():
            argv += ["--config.label", f"{k}={v}"]
        for p in cfg.get("ExposedPorts", []):
            argv += ["--config.exposedports", p]
        _run(argv)

    def build_layout(self, layers, config=None, platform=None, history=None, base=None):
        """(layout path, tag) of a cached umoci layout for this spec.  With
        @base (an Image built by build_image), @layers go on top of base's
        layers, which are reused as they are (not compressed again)."""
        platform = platform or f"linux/{host_arch()}"
        layers = _tars(layers)
        key = _spec_key(layers, config, platform, history, base and (base.layout, base.digest))

        def build(path):
            if base is None:
                _run(["umoci", "init", "--layout", path])
                self._umoci_image(path, "img", layers, config, platform, history)
            else:
                if not base.layout:
                    raise ValueError("base= must be an Image made by build_image")
                # hard links for the immutable blobs; own copies of the rest
                _run(["cp", "-al", base.layout, path])
                for n in ("index.json", "oci-layout", ".done"):
                    f = os.path.join(path, n)
                    if os.path.exists(f):
                        os.unlink(f)
                        if n != ".done":
                            shutil.copy(os.path.join(base.layout, n), f)
                self._umoci_image(path, "img", layers, config, platform, history, from_tag="img")
            _run(["umoci", "gc", "--layout", path])
        return self._layout(key, build), "img"

    def push_layout(self, registry, layout, tag, name, all_=False, fmt=None):
        """skopeo copy oci:LAYOUT:TAG docker://REG/name.  @fmt: None keeps
        the layout's manifest type (OCI); 'v2s2' converts to Docker schema 2."""
        argv = ["skopeo", "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false"]
        if registry.creds:
            argv += ["--dest-creds", "%s:%s" % registry.creds]
        if all_:
            argv += ["--all"]
        if fmt:
            argv += ["--format", fmt]
        else:
            argv += ["--preserve-digests"]
        argv += [f"oci:{layout}:{tag}", f"docker://{registry.host}/{name}"]
        _run(argv, timeout=300)

    def build_image(self, registry, name, layers=(), config=None, platform=None,
                    history=None, fmt=None, base=None):
        """Build an image with umoci and push it as REG/name with skopeo.

        @name     'repo:tag' (lowercase: the registry answers 500 otherwise)
        @layers   list of layers; each a list of entries or raw tar bytes
        @config   {'Env': [...], 'Entrypoint': [...], 'Cmd': [...],
                   'WorkingDir': str, 'User': str, 'Labels': {...},
                   'history': 'created_by of the config step'}
        @platform 'os/arch[/variant]' (default linux/<host arch>; the variant
                   appears only in an index, umoci 0.4.7 cannot set it)
        @history  created_by per layer
        @fmt      None (OCI manifest, digests preserved) or 'v2s2' (Docker)
        @base     an Image from build_image: its layers come first, reused
                  byte for byte (images sharing a big layer build fast)
        Returns an Image read back from the registry."""
        repo, tag = _split_ref(name)
        layout, ltag = self.build_layout(list(layers), config, platform, history, base)
        self.push_layout(registry, layout, ltag, f"{repo}:{tag}", fmt=fmt)
        return fetch_image(registry, repo, tag, layout=layout)

    def build_index(self, registry, name, platforms, fmt=None):
        """A multi-platform image: @platforms maps 'os/arch[/variant]' to a
        dict(layers=..., config=..., history=...).  Each platform image is
        built with umoci; the index (OCI, or a Docker manifest list with
        fmt='v2s2') is pushed with skopeo copy --all.  Returns an Index whose
        .images maps each platform to its Image."""
        repo, tag = _split_ref(name)
        platforms = {p: dict(spec, layers=_tars(spec.get("layers", [])))
                     for p, spec in platforms.items()}
        key = _spec_key([(p, spec["layers"], spec.get("config"), spec.get("history"))
                         for p, spec in sorted(platforms.items())])

        def build(path):
            _run(["umoci", "init", "--layout", path])
            descs = []
            for i, (p, spec) in enumerate(platforms.items()):
                t = f"p{i}"
                self._umoci_image(path, t, spec.get("layers", []), spec.get("config"), p,
                                  spec.get("history"))
                d = _layout_ref_digest(path, t)
                descs.append({"mediaType": OCI_MANIFEST, "digest": d["digest"],
                              "size": d["size"], "platform": parse_platform(p)})
            idx = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                              "manifests": descs}).encode()
            dg = digest_of(idx)
            with open(os.path.join(path, "blobs/sha256", dg.split(":")[1]), "wb") as f:
                f.write(idx)
            with open(os.path.join(path, "index.json")) as f:
                top = json.load(f)
            top["manifests"].append({"mediaType": OCI_INDEX, "digest": dg, "size": len(idx),
                                     "annotations": {"org.opencontainers.image.ref.name": "index"}})
            with open(os.path.join(path, "index.json"), "w") as f:
                json.dump(top, f)
            _run(["umoci", "gc", "--layout", path])

        layout = self._layout(key, build)
        self.push_layout(registry, layout, "index", f"{repo}:{tag}", all_=True, fmt=fmt)
        c = registry.client()
        r = c.get_manifest(repo, tag)
        if r.status != 200:
            raise RuntimeError(f"GET index {repo}:{tag}: {r.status}")
        index = json.loads(r.body)
        out = Index(registry, repo, tag, r.headers.get("Docker-Content-Digest") or digest_of(r.body),
                    r.body, index)
        for m in index["manifests"]:
            p = m["platform"]
            pname = "/".join([p["os"], p["architecture"]] + ([p["variant"]] if p.get("variant") else []))
            out.images[pname] = fetch_image(registry, repo, m["digest"], layout=layout, tag=tag)
        return out

    # ------------------------------------------------------------ by hand
    def push_raw(self, registry, name, layers=(), config=None, compression="gzip",
                 manifest_media_type=OCI_MANIFEST, layer_media_type=None,
                 mutate=None, platform=None):
        """Write blobs and a manifest by hand and push them over HTTP (no
        skopeo, no umoci): for odd media types, zstd, hostile tars, lies.

        @layers  each: a list of entries, or bytes (an uncompressed tar), both
                 compressed with @compression ('gzip', 'zstd', None); or a
                 Blob-like tuple (data_bytes, media_type[, diff_id]) used verbatim.
        @config  a dict (serialised as is) or bytes; default: a minimal config
                 for @platform whose rootfs.diff_ids match the layers.
        @layer_media_type  overrides the media type derived from @compression.
        @mutate  callable(manifest_dict) -> None|dict, run just before the
                 manifest is serialised (wrong sizes, extra fields, ...).
        Returns an Image (read back from the registry)."""
        repo, tag = _split_ref(name)
        docker = manifest_media_type == DOCKER_MANIFEST
        c = registry.client()
        descs, diff_ids = [], []
        for l in layers:
            if isinstance(l, tuple):
                data, mt = l[0], l[1]
                diff = l[2] if len(l) > 2 else None
            else:
                tar = bytes(l) if isinstance(l, (bytes, bytearray)) else layer_tar(l)
                diff = digest_of(tar)
                ck = (diff, compression)
                data = self._compressed.get(ck)
                if data is None:
                    data = self._compressed[ck] = compress(tar, compression)
                if layer_media_type:
                    mt = layer_media_type
                elif docker:
                    mt = DOCKER_LAYER_GZIP if compression == "gzip" else \
                        "application/vnd.docker.image.rootfs.diff.tar"
                else:
                    mt = {"gzip": OCI_LAYER_GZIP, "zstd": OCI_LAYER_ZSTD}.get(compression, OCI_LAYER)
            dg = c.push_blob(repo, bytes(data))
            descs.append({"mediaType": mt, "digest": dg, "size": len(data)})
            diff_ids.append(diff)
        if config is None:
            plat = parse_platform(platform or f"linux/{host_arch()}")
            config = {"architecture": plat["architecture"], "os": plat["os"],
                      "created": "2023-11-14T22:13:20Z",
                      "config": {"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]},
                      "rootfs": {"type": "layers", "diff_ids": [d for d in diff_ids if d]},
                      "history": [{"created": "2023-11-14T22:13:20Z", "created_by": f"layer {i}"}
                                  for i in range(len(descs))]}
            if "variant" in plat:
                config["variant"] = plat["variant"]
        cbytes = config if isinstance(config, (bytes, bytearray)) else json.dumps(config).encode()
        cdg = c.push_blob(repo, bytes(cbytes))
        manifest = {"schemaVersion": 2, "mediaType": manifest_media_type,
                    "config": {"mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
                               "digest": cdg, "size": len(cbytes)},
                    "layers": descs}
        if mutate:
            manifest = mutate(manifest) or manifest
        mbytes = manifest if isinstance(manifest, (bytes, bytearray)) else json.dumps(manifest).encode()
        c.put_manifest(repo, tag, mbytes, manifest_media_type)
        return fetch_image(registry, repo, tag)

    def push_index_raw(self, registry, name, images, media_type=OCI_INDEX):
        """Push an index over already pushed images of the same repo:
        @images maps 'os/arch[/variant]' to an Image.  Returns an Index."""
        repo, tag = _split_ref(name)
        descs = [{"mediaType": img.media_type, "digest": img.digest, "size": len(img.manifest_bytes),
                  "platform": parse_platform(p)} for p, img in images.items()]
        body = json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": descs}).encode()
        dg = registry.client().put_manifest(repo, tag, body, media_type)
        return Index(registry, repo, tag, dg or digest_of(body), body, json.loads(body), dict(images))

    # ------------------------------------------------------------ busybox
    def busybox_entries(self, os_release=None):
        """One layer: /bin/busybox (busybox-static), an applet symlink for
        each applet (relative in bin/, absolute elsewhere), /etc/os-release,
        passwd, group, and the usual empty directories."""
        bb = shutil.which("busybox")
        if not bb:
            raise RuntimeError("busybox not installed (apt-get install busybox-static)")
        with open(bb, "rb") as f:
            data = f.read()
        applets = subprocess.run([bb, "--list-full"], stdout=subprocess.PIPE,
                                 check=True).stdout.decode().split()
        ents = [Dir(d) for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "proc",
                                 "sys", "dev", "var")]
        ents += [Dir("root", 0o700), Dir("tmp", 0o1777)]
        ents.append(File("bin/busybox", data, 0o755))
        seen = {"bin/busybox"}
        for a in sorted(applets):
            if a in seen:
                continue
            seen.add(a)
            ents.append(Symlink(a, "busybox" if a.startswith("bin/") else "/bin/busybox"))
        ents.append(File("etc/os-release", os_release or
                         b'NAME="strata test busybox"\nID=busybox\nPRETTY_NAME="BusyBox (strata test image)"\n'))
        ents.append(File("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"
                                       b"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"))
        ents.append(File("etc/group", b"root:x:0:\nnogroup:x:65534:\n"))
        return ents

    BUSYBOX_CONFIG = {"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["/bin/sh"],
                      "history": "busybox config"}

    def busybox(self, registry, name="test/busybox:latest", extra_layers=(), config=None):
        """The busybox image pushed as REG/name; @extra_layers go on top."""
        return self.build_image(registry, name,
                                layers=[self.busybox_entries()] + list(extra_layers),
                                config=config or self.BUSYBOX_CONFIG,
                                history=["busybox-static + applet symlinks"] +
                                        [f"extra layer {i}" for i in range(len(extra_layers))])


def _listify(v):
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    return list(v)


def skopeo_oci_blobs(registry, name, dest, platform=None):
    """What `skopeo copy docker://REG/name oci:DEST:img` stores: the set of
    blob digests in the resulting layout (manifest, config, layers).  The
    reference to compare strata's store against (issue 2: "every blob strata
    stores has the digest skopeo records").  @platform 'os/arch[/variant]'."""
    argv = ["skopeo", "--insecure-policy"]
    if platform:
        p = parse_platform(platform)
        argv += ["--override-os", p["os"], "--override-arch", p["architecture"]]
        if p.get("variant"):
            argv += ["--override-variant", p["variant"]]
    argv += ["copy", "--quiet", "--src-tls-verify=false"]
    if registry.creds:
        argv += ["--src-creds", "%s:%s" % registry.creds]
    argv += [f"docker://{registry.host}/{name}", f"oci:{dest}:img"]
    _run(argv, timeout=600)
    d = os.path.join(str(dest), "blobs", "sha256")
    return {"sha256:" + n for n in os.listdir(d)}
