/* pack/ — the inverse of unpack/: a writable layer in overlayfs form becomes
 * a layer directory of the store and an OCI layer tar (gzip, zstd or none);
 * image configs and manifests for a new image.  Never touches the network or
 * the store: the caller gives directory fds and a byte sink.  Depends only on
 * util/.
 *
 * PACK INVARIANTS
 * (1) A snapshot (pack_snapshot()) is a layer directory in the store's
 *     format (the one unpack's UNPACK_OVERLAY writes): a whiteout is a 0/0
 *     character device, an opaque directory has trusted.overlay.opaque=y
 *     (user.overlay.opaque when not root); no other trusted.overlay.* or
 *     user.overlay.* attribute, no metacopy file (its data is copied from the
 *     lower layer that holds it), no index: names of one upper file are hard
 *     links of one file in the snapshot too.
 * (2) The tar of a layer directory is a function of the tree: entries sorted
 *     by name (bytewise) depth first, a directory before its contents,
 *     numeric owners only, no atime/ctime, mtimes in whole seconds and, with
 *     a clamp (SOURCE_DATE_EPOCH, --timestamp), never later than it.  So the
 *     same change gives the same diff_id, and the same compressed digest
 *     (gzip headers carry no name nor time; zstd uses a fixed thread count).
 * (3) A whiteout becomes an empty regular file `.wh.NAME`; an opaque
 *     directory is followed by `.wh..wh..opq` inside it; the second and later
 *     names of one file (same inode in the directory) are tar hard links to
 *     the first name written.  Sockets are skipped (as docker does).
 * (4) The diff_id is the sha256 of the uncompressed tar, the digest that of
 *     the bytes given to the sink: both computed as they stream.
 *
 * Every function returns 0 or -errno with @e set and never logs. */
#ifndef STRATA_PACK_H
#define STRATA_PACK_H

#include "util/util.h"

#include <time.h>

typedef struct json_t json_t;

/* ------------------------------------------------------------ snapshot */

struct pack_stats {
        uint64_t entries, files, dirs, symlinks, hardlinks, devices, fifos, whiteouts, opaques;
        uint64_t metacopies;      /* metadata-only upper files completed from below */
        uint64_t indexed;         /* lower hard links not yet linked up, taken from the index */
        uint64_t file_bytes;      /* sum of regular file sizes */
};

/* pack_snapshot() - copy the writable layer @upper_fd (overlayfs form, as
 * fs/ writes it) into the empty directory @dest_fd as a store layer
 * (invariant 1).  @lower_fds are the image's layer directories, topmost
 * first (a metacopy file's data is the first regular file of its path
 * among them).  @index_fd (may be -1) is the mount's work dir index
 * (workdir/strata-index): an index file whose lower names are not all
 * linked up yet has those names taken into the snapshot too, as hard
 * links (they show the index's data in the mount).  @skip (may be NULL; a
 * NULL-terminated list of paths like "etc/hostname") names empty regular
 * files left out: the mount points a run bound files over.  @st may be NULL. */
int pack_snapshot(int upper_fd, const int *lower_fds, size_t n_lowers, int index_fd, int dest_fd,
                  const char *const *skip, struct pack_stats *st, struct err *e);
/* pack_snapshot_move() - pack_snapshot(); with @move (as root), the upper
 * being discarded afterwards (strata build's step: unmounted, no one else
 * sees it), its regular files with data are renamed into @dest_fd instead
 * of copied (on the same filesystem): the snapshot costs no data copy. */
int pack_snapshot_move(int upper_fd, const int *lower_fds, size_t n_lowers, int index_fd, int dest_fd,
                       const char *const *skip, bool move, struct pack_stats *st, struct err *e);

/* ------------------------------------------------------------- tar */

enum pack_compression { PACK_GZIP = 0, PACK_ZSTD, PACK_NONE };

/* pack_compression_parse() - "gzip", "zstd" or "none"; -EINVAL otherwise. */
int pack_compression_parse(const char *s, enum pack_compression *out, struct err *e);
const char *pack_compression_name(enum pack_compression c);

/* A byte sink: 0 or -errno (with its own message in @e). */
typedef int (*pack_write_fn)(void *ctx, const void *p, size_t n, struct err *e);

struct pack_tar_opts {
        enum pack_compression compression;
        bool clamp;               /* clamp mtimes to @epoch (invariant 2) */
        time_t epoch;
        bool flatten;             /* the dirs are plain trees (export): no whiteout meaning */
};

struct pack_tar_result {
        char diff_id[DIGEST_STR_LEN + 1];   /* sha256 of the tar */
        char digest[DIGEST_STR_LEN + 1];    /* sha256 of the sink's bytes */
        uint64_t tar_bytes, blob_bytes;
        uint64_t entries;
};

/* pack_tar() - write the layer directory @dir_fd (store format) as a tar to
 * @wr (invariants 2-4).  With opts.flatten, @dir_fds are @n plain trees
 * merged topmost first (whiteouts and opaque dirs of the layer format
 * applied: what `export` writes); else @n must be 1. */
int pack_tar(const int *dir_fds, size_t n, const struct pack_tar_opts *o, pack_write_fn wr, void *ctx,
             struct pack_tar_result *res, struct err *e);

/* The compressor under pack_tar(), for any tar stream (push --compress
 * feeds it a layer's): compresses as @c says (gzip by ISA-L igzip with
 * neither name nor time in its header, zstd at a fixed level and thread
 * count, or none), hashes both sides and passes the result to @wr; the same
 * stream always gives the same bytes. */
struct pack_zsink;
int pack_zsink_new(enum pack_compression c, pack_write_fn wr, void *ctx, struct pack_zsink **out, struct err *e);
int pack_zsink_write(struct pack_zsink *z, const void *p, size_t n, struct err *e);
/* pack_zsink_finish() - flush, then the two digests and sizes into @res
 * (entries: 0); frees @z, even on failure. */
int pack_zsink_finish(struct pack_zsink *z, struct pack_tar_result *res, struct err *e);
void pack_zsink_free(struct pack_zsink *z);     /* abandon; accepts NULL */

/* pack_clamp_times() - no mtime in the tree @dir_fd later than @epoch (what
 * a clamped tar says, so the stored layer directory says it too). */
int pack_clamp_times(int dir_fd, time_t epoch, struct err *e);

/* ----------------------------------------------------- config, manifest */

/* Media types. */
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar"

enum pack_format { PACK_FORMAT_OCI = 0, PACK_FORMAT_DOCKER };

/* pack_layer_media_type() - the layer media type of @c in @f; NULL for
 * zstd in docker's format (docker's schema has none). */
const char *pack_layer_media_type(enum pack_format f, enum pack_compression c);
/* pack_convert_media_type() - a layer media type of either format in @f's
 * words (the same compression); NULL when @f cannot say it. */
const char *pack_convert_media_type(enum pack_format f, const char *mt);

/* pack_apply_change() - apply one Dockerfile-style instruction (CMD,
 * ENTRYPOINT, ENV, EXPOSE, LABEL, USER, WORKDIR, VOLUME, STOPSIGNAL; JSON or
 * shell form as docker commit -c takes them) to the image config's "config"
 * object @cfg.  -EINVAL with a message for anything else. */
int pack_apply_change(json_t *cfg, const char *instr, struct err *e);

struct pack_commit_info {
        const char *created_by;   /* history: what made the layer */
        const char *author;       /* -a, or NULL */
        const char *comment;      /* -m, or NULL */
        time_t created;
        bool empty_layer;         /* history entry without a layer (import -c only) */
};

/* pack_config_commit() - a new config from the parent's @parent (not changed;
 * NULL for none, e.g. import): @changes applied, @diff_id appended to
 * rootfs.diff_ids, one history entry, "created" and "author".  *@out is the
 * new config; caller json_decref()s. */
int pack_config_commit(json_t *parent, const char *const *changes, size_t n_changes, const char *diff_id,
                       const struct pack_commit_info *ci, json_t **out, struct err *e);

struct pack_desc {
        const char *media_type;
        const char *digest;
        uint64_t size;
};

/* pack_manifest() - an image manifest in @f: its config and layers
 * (@layers bottom first, media types converted to @f; -EINVAL when one
 * cannot be said in @f).  *@out is the JSON text; caller frees. */
int pack_manifest(enum pack_format f, const struct pack_desc *config, const struct pack_desc *layers, size_t n,
                  char **out, struct err *e);

/* pack_json_dump() - the canonical text strata writes for a config or
 * manifest (sorted keys, compact); caller frees. */
char *pack_json_dump(json_t *j);

/* pack_time_str() - RFC 3339 in UTC ("2026-12-07T13:30:00Z") into @out. */
void pack_time_str(time_t t, char out[32]);

/* pack_source_date_epoch() - $SOURCE_DATE_EPOCH when it is set and valid:
 * true with *@t set. */
bool pack_source_date_epoch(time_t *t);

#endif
