/* unpack/ — extract one layer (a tar, possibly gzip- or zstd-compressed)
 * into a directory; or hand its uncompressed stream on (unpack_decompress(),
 * which `strata push --compress` feeds to pack/'s compressor).  Never
 * touches the network or the store: the caller gives a byte source and a
 * directory fd (or a byte sink).  Depends only on util/.
 *
 * Two modes:
 *  - UNPACK_OVERLAY (default, what `strata pull` uses): into an empty
 *    directory, in the kernel overlayfs on-disk format: `.wh.NAME` becomes
 *    NAME as a 0/0 character device, `.wh..wh..opq` becomes the xattr
 *    trusted.overlay.opaque=y on its directory (user.overlay.opaque when not
 *    root).  No `.wh.` name is ever created.
 *  - UNPACK_FLATTEN (what `strata unpack` uses): on top of the layers below,
 *    already applied to the directory: a whiteout deletes, an opaque marker
 *    empties its directory of what the lower layers put there.
 *
 * UNPACK INVARIANTS
 * (1) Nothing outside @dest_dirfd is created, changed or followed.  Every
 *     parent directory is resolved by the kernel with openat2(RESOLVE_BENEATH |
 *     RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV); the last
 *     component is created with *at() calls that never follow it.
 * (2) Entry names: a leading "/" is dropped (absolute names are relative to
 *     the layer root, as in docker/containerd); "." and empty components are
 *     dropped; a ".." component is refused, wherever it is, even when it would
 *     stay inside.  A symlink in the path of an entry (or of a hard link's
 *     target) is refused, including one created earlier by the same layer.
 * (3) Whiteouts apply to the layers below only: `.wh.X` for an X that this
 *     same layer created keeps this layer's X, in either order; when X is a
 *     directory, what the layers below had inside it is hidden too (opaque).
 * (4) Ownership is numeric from the tar (never looked up); setuid/setgid bits
 *     are set after chown, xattrs after chown, times last; directory times are
 *     set in a pass at the end.
 * (5) The diff_id is the sha256 of the whole uncompressed stream, including
 *     anything after the tar's end blocks (what docker and containerd hash).
 * (6) Expanded bytes never exceed the ceiling (opts.max_expanded, else
 *     $STRATA_MAX_LAYER_BYTES, else 64 GiB): the stream stops there.  The
 *     sum of the regular files' declared sizes (a sparse file's real size,
 *     holes included) is held to the same ceiling, checked at each header
 *     before the file is made.
 * (8) Numbers are never truncated: a uid/gid outside 0..2^32-2, a device
 *     major above 4095 or minor above 1048575 (the kernel's dev_t) refuses
 *     the entry (EPERM), as GNU tar does.  Rootless, a uid/gid above
 *     opts.max_id (what the user namespace maps) refuses it too: no entry
 *     becomes a file of a host id outside the user's range.
 * (7) A tar that ends at an entry boundary without its two zero blocks (even
 *     without the last entry's padding, as umoci 0.4.7 writes) is accepted;
 *     one that ends inside an entry's header or data is refused.
 *
 * Errors: every failure returns -errno with @e set to one line that names
 * the layer (opts.name) and, when there is one, the entry:
 *   "layer 2 (sha256:ab12...): entry \"../etc/passwd\": path has a \"..\" component"
 * Codes: EPERM hostile entry; EFBIG bomb; EBADMSG corrupt/truncated stream or
 * compression that does not match the media type; EMEDIUMTYPE unsupported
 * media type; other errno from the filesystem.  Nothing is logged. */
#ifndef STRATA_UNPACK_H
#define STRATA_UNPACK_H

#include "util/util.h"

/* A byte source: returns bytes read (0 at end of stream) or -errno. */
typedef ssize_t (*unpack_read_fn)(void *ctx, void *buf, size_t n);

enum unpack_mode {
        UNPACK_OVERLAY = 0,       /* empty dest, overlayfs whiteout format */
        UNPACK_FLATTEN = 1,       /* apply onto lower layers: whiteouts delete */
};

#define UNPACK_DEFAULT_MAX_EXPANDED (64ULL << 30)

struct unpack_opts {
        const char *media_type;   /* decides the decompressor, checked against the
                                   * magic bytes; NULL = detect from the magic */
        uint64_t max_expanded;    /* bomb ceiling in bytes; 0 = $STRATA_MAX_LAYER_BYTES or 64 GiB */
        const char *name;         /* for messages, e.g. "layer 2 (sha256:ab12...)" */
        enum unpack_mode mode;
        bool sync;                /* syncfs(dest_dirfd) before returning success */
        /* rootless (util/userns.h): the store's overlay xattr prefix, and
         * what the store's user namespace can hold */
        const char *ovl_prefix;   /* "user.overlay." or "trusted.overlay." (the opaque
                                   * marker's); NULL: trusted, user.* when not root */
        bool rootless;            /* in a rootless user namespace: a device node is
                                   * refused with a line saying so, a trusted.* xattr
                                   * of the tar is dropped (counted in xattrs_dropped) */
        uint32_t max_id;          /* the highest uid/gid the namespace maps: an entry
                                   * owned by a higher one is refused (0: no limit) */
        bool owner_xattr;         /* one id mapped: owners and set-id modes are not
                                   * applied but kept in user.containers.override_stat
                                   * ("UID:GID:0MODE:TYPE", containers-storage's) */
};

struct unpack_stats {
        uint64_t entries, files, dirs, symlinks, hardlinks, devices, whiteouts, opaques;
        uint64_t bytes;           /* uncompressed tar bytes (the diff_id's input) */
        uint64_t file_bytes;      /* sum of regular file sizes */
        uint64_t blob_bytes;      /* bytes read from the source (compressed) */
        uint64_t fifos;
        uint64_t xattrs;          /* xattrs applied */
        uint64_t xattrs_dropped;  /* trusted.overlay.* / user.overlay.* from the tar: never applied */
        uint64_t elapsed_ns;
        const char *compression;  /* "none", "gzip", "zstd" (static string) */
};

/* unpack_layer() - read the layer blob from @rd and extract it below @dest_dirfd
 * (an empty directory for UNPACK_OVERLAY).  The sha256 of the uncompressed tar
 * stream is written to @diff_id ("sha256:<hex>"); the caller compares it with
 * the config's rootfs.diff_ids.  @rd is read to its end (0) on success.
 * @st may be NULL.  Does not fsync anything unless opts.sync (then one
 * syncfs()).  On failure the directory holds a partial tree the caller
 * discards.  @o may be NULL (all defaults).
 *
 * Threads: @rd is called from a helper thread that inflates and hashes
 * while the calling thread creates the files (one call at a time, never
 * after unpack_layer() returned); STRATA_UNPACK_THREADS=0 keeps everything
 * in the calling thread.  gzip goes through ISA-L igzip (STRATA_INFLATE=zlib
 * for zlib).  The layer root gets the ext4 "top directory" flag (chattr +T)
 * as an allocation hint, when the filesystem has it. */
int unpack_layer(unpack_read_fn rd, void *ctx, int dest_dirfd, const struct unpack_opts *o,
                 char diff_id[DIGEST_STR_LEN + 1], struct unpack_stats *st, struct err *e);

/* unpack_layer_fd() - unpack_layer() reading from a file descriptor (not closed). */
int unpack_layer_fd(int fd, int dest_dirfd, const struct unpack_opts *o,
                    char diff_id[DIGEST_STR_LEN + 1], struct unpack_stats *st, struct err *e);

/* A byte sink: 0, or -errno with @e set (its own message). */
typedef int (*unpack_write_fn)(void *ctx, const void *p, size_t n, struct err *e);

/* unpack_decompress() - read a layer blob from @rd (gzip, zstd or a plain
 * tar, as @media_type says and its magic bytes confirm; NULL: the magic
 * decides) and hand its uncompressed bytes to @wr as they come, exactly the
 * layer's (no padding added).  The expansion ceiling of unpack_layer()
 * applies.  @diff_id receives the sha256 of those bytes. */
int unpack_decompress(unpack_read_fn rd, void *ctx, const char *media_type, unpack_write_fn wr, void *wctx,
                      char diff_id[DIGEST_STR_LEN + 1], struct err *e);

/* unpack_stats_json() - the stats as a JSON object (for layer.json); caller frees. */
char *unpack_stats_json(const struct unpack_stats *st, const char *diff_id);

#endif
