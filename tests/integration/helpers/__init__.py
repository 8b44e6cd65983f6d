"""Shared helpers for strata's integration tests (see ../README.md)."""
from .images import (BlockDev, Blob, CharDev, Dir, Fifo, File, Hardlink, Image, ImageBuilder,  # noqa: F401
                     Index, Opaque, Raw, Symlink, Whiteout, compress, layer_tar, random_bytes,
                     skopeo_oci_blobs,
                     DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_LIST, DOCKER_MANIFEST,
                     OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, OCI_MANIFEST)
from .mounts import MountTracker, fuse_available, is_mounted, mount_entries_under, unmount  # noqa: F401
from .proxy import BlobStore, LoggingProxy, SilentServer  # noqa: F401
from .registry import Registry, RegistryClient  # noqa: F401
from .store import snapshot, snapshot_diff  # noqa: F401
from .tokenserver import TokenServer  # noqa: F401
from .util import (digest_of, file_digest, free_port, gzip_bytes, wait_until,  # noqa: F401
                   write_docker_config, zstd_bytes)
