/* unpack/ private interfaces: the pure name logic (names.c, unit-tested and
 * fuzzed) and the decompressing byte source (source.c). */
#ifndef STRATA_UNPACK_INTERNAL_H
#define STRATA_UNPACK_INTERNAL_H

#include "unpack.h"

#include <limits.h>

/* ------------------------------------------------------------ names.c */

enum unpack_comp {
        UNPACK_COMP_NONE = 0,
        UNPACK_COMP_GZIP,
        UNPACK_COMP_ZSTD,
        UNPACK_COMP_OTHER,        /* sniffed: bzip2, xz, lz4... (unsupported) */
        UNPACK_COMP_AUTO,         /* media type unknown: go by the magic */
};

const char *unpack_comp_name(enum unpack_comp c);
/* unpack_media_comp() - the compression a layer media type implies, or -1
 * for a media type that is not a layer we can unpack.  NULL → AUTO. */
int unpack_media_comp(const char *media_type);
/* unpack_sniff() - the compression from the first bytes of a blob (n may be
 * short; fewer than 4 bytes is NONE unless a gzip magic fits). */
enum unpack_comp unpack_sniff(const void *p, size_t n);

/* unpack_clean_path() - turn a tar entry name into a clean relative path:
 * leading "/" dropped, "" and "." components dropped, components joined with
 * one "/".  Refuses (returns -EPERM, *@why set) a ".." component, a component
 * longer than NAME_MAX, a result longer than PATH_MAX-1, or a non-final
 * component that starts with ".wh." (a whiteout used as a directory).
 * Returns the length of @out (0 = the layer root).  @out has PATH_MAX bytes. */
int unpack_clean_path(const char *name, char out[PATH_MAX], const char **why);

enum unpack_wh {
        UNPACK_WH_NONE = 0,       /* an ordinary name */
        UNPACK_WH_FILE,           /* .wh.X: X hidden; *target = X */
        UNPACK_WH_OPAQUE,         /* .wh..wh..opq */
        UNPACK_WH_META,           /* .wh..wh.* other (aufs bookkeeping): skipped */
        UNPACK_WH_BAD,            /* .wh. with an empty, "." or ".." target */
};
/* unpack_aufs_meta() - true for a name under the layer root's aufs
 * bookkeeping (".wh..wh.plnk/...", ".wh..wh.aufs"): docker skips these
 * entries, and so do we (before cleaning: they may look like a whiteout
 * used as a directory).  The root's ".wh..wh..opq" is not one. */
bool unpack_aufs_meta(const char *name);
/* unpack_whiteout() - classify the last component @base. */
enum unpack_wh unpack_whiteout(const char *base, const char **target);

/* unpack_bad_number() - NULL when the numbers of a tar entry fit the types
 * they go into, else the field that does not ("uid", "gid", "device major
 * number", "device minor number"): a uid/gid must be 0..2^32-2 (2^32-1 is
 * chown's "leave unchanged"), a device 0..4095 : 0..1048575 (the kernel's
 * 12 + 20 bits; glibc's makedev() would keep other bits the kernel drops).
 * Never truncated: GNU tar refuses them too.  @is_dev: check rdev too. */
const char *unpack_bad_number(int64_t uid, int64_t gid, bool is_dev, uint64_t major, uint64_t minor,
                              int64_t *value);

/* unpack_quote() - @s for a one-line message: control bytes, '"' and '\'
 * escaped, cut to about 200 bytes with "...".  Returns @out. */
char *unpack_quote(const char *s, char *out, size_t outsz);
#define UNPACK_QUOTE_MAX 900

/* unpack_hash() - FNV-1a of @n bytes of @s. */
uint64_t unpack_hash(const char *s, size_t n);

/* A set of strings (paths this layer created; UNPACK_FLATTEN only). */
struct unpack_strset {
        char **slot;
        size_t cap, n;
};
bool unpack_strset_add(struct unpack_strset *s, const char *str, size_t len);  /* true if new */
bool unpack_strset_has(const struct unpack_strset *s, const char *str, size_t len);
void unpack_strset_free(struct unpack_strset *s);

/* --------------------------------------------------------- dircache.c */

/* The parent directories an extraction has resolved, by path: an O_PATH
 * fd (resolved below the layer root by openat2 with RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS) and what creating a file in it gives the file (its
 * setgid bit and group).  An entry is shared: whoever holds a reference may
 * use the fd; the last unref closes it.  The cache is not thread-safe (one
 * extraction thread uses it); the references are. */
struct unpack_pdir {
        int fd;
        bool sgid;
        gid_t gid;
        int refs;                 /* atomic */
};
void unpack_pdir_ref(struct unpack_pdir *d);
void unpack_pdir_unref(struct unpack_pdir *d);   /* accepts NULL */

struct unpack_dircache {
        struct unpack_dircache_slot *slot;
        unsigned sets, ways;
        uint64_t tick;
        uint64_t hits, misses;
};
void unpack_dircache_init(struct unpack_dircache *c);
/* unpack_dircache_get() - the entry for @path (@len bytes), or NULL; the
 * pointer is the cache's (valid until the next put or clear). */
struct unpack_pdir *unpack_dircache_get(struct unpack_dircache *c, const char *path, size_t len);
/* unpack_dircache_put() - remember @fd (the cache owns it from now on) as
 * @path; evicts the least recently used entry of its set.  Returns the entry. */
struct unpack_pdir *unpack_dircache_put(struct unpack_dircache *c, const char *path, size_t len, int fd,
                                        bool sgid, gid_t gid);
/* unpack_dircache_clear() - forget every entry (a directory was removed or
 * changed: what the cache says may be wrong). */
void unpack_dircache_clear(struct unpack_dircache *c);
void unpack_dircache_free(struct unpack_dircache *c);

/* ----------------------------------------------------------- source.c */

/* The byte source handed to libarchive: reads the blob, checks its magic
 * against the expected compression, inflates, hashes the uncompressed
 * stream and enforces the expansion ceiling.  Runs the reading and
 * decompression in a second thread when @threaded (both cores). */
struct unpack_source;

int unpack_source_new(unpack_read_fn rd, void *ctx, int comp, uint64_t max_out, bool threaded,
                      struct unpack_source **out, struct err *e);
/* unpack_source_read() - the next chunk of uncompressed bytes: *@p points
 * to it (valid until the next call), returns its length, 0 at end, or -errno
 * with the error kept for unpack_source_error().  At the end of a stream
 * whose length is not a multiple of 512, zeros are added up to the next
 * block (neither hashed nor counted) so libarchive sees an end at an entry
 * boundary; unpack_source_real_end() tells where the real bytes stopped. */
ssize_t unpack_source_read(struct unpack_source *s, const void **p);
/* unpack_source_drain() - read to the end (hashing); -errno at a stream error. */
int unpack_source_drain(struct unpack_source *s);
const char *unpack_source_error(const struct unpack_source *s);   /* NULL if none */
int unpack_source_errno(const struct unpack_source *s);
uint64_t unpack_source_real_end(const struct unpack_source *s);    /* UINT64_MAX: not padded */
enum unpack_comp unpack_source_comp(const struct unpack_source *s);
void unpack_source_totals(const struct unpack_source *s, uint64_t *in, uint64_t *out);
/* unpack_source_finish() - the diff_id; only after the end was reached. */
void unpack_source_finish(struct unpack_source *s, char diff_id[DIGEST_STR_LEN + 1]);
/* unpack_source_stop() - stop and join the helper thread (idempotent): its
 * totals are read only after it. */
void unpack_source_stop(struct unpack_source *s);
void unpack_source_free(struct unpack_source *s);                   /* accepts NULL */

/* unpack_max_expanded() - the bomb ceiling: opts.max_expanded, else
 * $STRATA_MAX_LAYER_BYTES, else UNPACK_DEFAULT_MAX_EXPANDED (extract.c). */
uint64_t unpack_max_expanded(const struct unpack_opts *o);

/* Inflate implementation for gzip: "isal" or "zlib" ($STRATA_INFLATE overrides). */
const char *unpack_inflate_impl(void);

#endif
