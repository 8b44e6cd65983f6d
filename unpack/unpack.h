/* unpack/ — extract one layer (a tar, possibly gzip- or zstd-compressed)
 * into an empty directory in the kernel overlayfs on-disk format:
 * `.wh.NAME` becomes NAME as a 0/0 character device, `.wh..wh..opq` becomes
 * the xattr trusted.overlay.opaque=y on its directory.  Never touches the
 * network or the store: the caller gives a byte source and a directory fd.
 * (Interface agreed with pull: the unpack engineer owns and may extend it.) */
#ifndef STRATA_UNPACK_H
#define STRATA_UNPACK_H

#include "util/util.h"

/* A byte source: returns bytes read (0 at end of stream) or -errno. */
typedef ssize_t (*unpack_read_fn)(void *ctx, void *buf, size_t n);

struct unpack_opts {
        const char *media_type;   /* decides the decompressor; checked against magic bytes */
        uint64_t max_expanded;    /* decompression-bomb ceiling in bytes; 0 = default */
        const char *name;         /* for messages, e.g. "layer 2 (sha256:ab12...)" */
};

struct unpack_stats {
        uint64_t entries, files, dirs, symlinks, hardlinks, devices, whiteouts, opaques;
        uint64_t bytes;           /* uncompressed tar bytes */
        uint64_t file_bytes;      /* sum of regular file sizes */
};

/* unpack_layer() - read the layer blob from @rd and extract it below @dest_dirfd
 * (an empty directory).  The sha256 of the uncompressed tar stream is written
 * to @diff_id ("sha256:<hex>"); the caller compares it with the config's
 * rootfs.diff_ids.  Hostile entries (paths leaving the root, symlink tricks,
 * bombs...) fail with -errno and a message naming the entry.  On failure the
 * directory holds a partial tree the caller discards. */
int unpack_layer(unpack_read_fn rd, void *ctx, int dest_dirfd, const struct unpack_opts *o,
                 char diff_id[DIGEST_STR_LEN + 1], struct unpack_stats *st, struct err *e);

/* unpack_layer_fd() - unpack_layer() reading from a file descriptor (not closed). */
int unpack_layer_fd(int fd, int dest_dirfd, const struct unpack_opts *o,
                    char diff_id[DIGEST_STR_LEN + 1], struct unpack_stats *st, struct err *e);

#endif
