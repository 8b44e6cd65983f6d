/* Private to store/: the store handle shared by the store's files. */
#ifndef STRATA_STORE_INTERNAL_H
#define STRATA_STORE_INTERNAL_H

#include "store.h"

struct store {
        char *root;
        int root_fd;       /* O_DIRECTORY fd of ROOT */
        int lock_fd;       /* ROOT/lock, flock()ed by store_lock() */
        int lock_depth;    /* store_lock() nests within one process */
        bool read_only;    /* ROOT is on a read-only filesystem (store_open) */
        const char *ovl_prefix;   /* store_ovl_prefix() */
        int gc_fd;         /* ROOT/tmp/gc.lock, LOCK_SH while this process adds to the
                              store and has not yet written its image record */
};

/* store_gc_hold() - take ROOT/tmp/gc.lock shared (once per process, until
 * store_gc_release()): files this process is adding, not yet listed by an
 * image record, are not taken for unused by a prune or a check meanwhile. */
int store_gc_hold(struct store *s, struct err *e);
void store_gc_release(struct store *s);
/* store_gc_exclusive() - ROOT/tmp/gc.lock exclusive, when no process holds it
 * (no pull is adding to the store), else -1.  Close the fd to release. */
int store_gc_exclusive(struct store *s);

/* store_writable() - 0, or -EROFS with "store ROOT is read-only" in @e: the
 * first check of every call that would write to the store. */
int store_writable(const struct store *s, struct err *e);

/* "<ROOT>/<fmt...>", caller frees. */
char *store_path(const struct store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* store_fsync_dir() - fsync ROOT/@rel, so a rename into it is durable. */
int store_fsync_dir(const struct store *s, const char *rel, struct err *e);

/* images.c: images.json, loaded and saved whole (invariant (3)); a
 * missing file is an empty store. */
typedef struct json_t json_t;
int store_load_index(struct store *s, json_t **out, struct err *e);
int store_save_index(struct store *s, json_t *j, struct err *e);
int store_image_from_json(json_t *root, const char *id, json_t *o, struct store_image *im, struct err *e);

/* gc.c: what uses what (invariants (4) and (6)). */
/* store_refs() - add to @set (a JSON object used as a set) every digest the
 * images of @images (the "images" object of images.json) and every mount
 * record, live or kept, use: image ids, manifests, indexes, layer blobs and
 * diff_ids. */
int store_refs(struct store *s, json_t *images, json_t *set, struct err *e);
/* store_try_blob_lock() - @digest's blob lock when nobody holds it, else -1. */
int store_try_blob_lock(struct store *s, const char *digest);
/* store_release_layer() - remove the layer @diff_id and its blob @digest
 * (either may be NULL) unless @refs holds them or a pull holds the blob
 * lock; the blob stays as long as its layer does.  Under the store lock.
 * @deleted (may be NULL) hears of the layer removed; it enters @refs. */
int store_release_layer(struct store *s, json_t *refs, const char *diff_id, const char *digest,
                        void (*deleted)(const char *what, void *ctx), void *ctx, struct err *e);
/* store_tmp_owner() - the pid in a tmp/ work dir's name (...-<pid>-<n>), else 0. */
int store_tmp_owner(const char *name);

/* store_release_blob() - remove blob @digest unless @refs holds it. */
void store_release_blob(struct store *s, json_t *refs, const char *digest);

#endif
