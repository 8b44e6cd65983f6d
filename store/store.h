/* store/ — the on-disk, content-addressed store.
 *
 * Layout under ROOT (see README "The store"):
 *   ROOT/lock                      flock(LOCK_EX) held while images.json changes
 *   ROOT/images.json               image records and names; replaced with rename()
 *   ROOT/locations.json            repositories known to hold blobs (push's mount hints)
 *   ROOT/blobs/sha256/<hex>        verified blobs: manifests, configs, layer blobs
 *   ROOT/layers/<hex>/diff/        an extracted layer (<hex> = its diff_id), overlayfs format
 *   ROOT/layers/<hex>/layer.json   what unpack recorded about it (counts, sizes)
 *   ROOT/tmp/                      partial downloads (<hex>.partial), per-blob locks
 *                                  (<hex>.lock), work dirs ending in -<pid>-<n>:
 *                                  extraction (layer-<hex>-...), removal (gone-...),
 *                                  made here (commit-, import-, blob-, load-...);
 *                                  gc.lock, held shared by a process that adds files
 *                                  until its image record lists them
 *   ROOT/mounts/<id>/              one per mount: upper/, work/, mount.json (image,
 *                                  layers and their blobs, pid, creator, command)
 *                                  (and rootfs/, the mount point of a `strata run`)
 *   ROOT/build-cache/<hex>         strata build's cache: the ID of the image a step
 *                                  made, <hex> its key (containerfile.h invariant 4)
 *
 * STORE INVARIANTS
 * (1) blobs/sha256/<hex> holds exactly the bytes that hash to <hex>: a blob is
 *     written to tmp/, verified, fsynced and renamed in.
 * (2) layers/<hex> exists only once every entry of the layer was applied and
 *     its diff_id checked: it is extracted under tmp/ and renamed in whole.
 * (3) images.json is replaced with rename() under ROOT/lock; no reader sees half
 *     of it, no writer loses another's change.
 * (4) a layer or blob is removed only under ROOT/lock, when no image record
 *     and no mount record uses it, and nobody holds its blob lock (a pull that
 *     found it present keeps that lock until its own record is written),
 *     and tmp/gc.lock is free: a process adding files (a pull, from its first
 *     blob to its image record) holds it shared, and while it does, rmi,
 *     umount and prune leave what nothing lists for a later prune.
 * (5) anything under tmp/ is never taken as complete; a rerun resumes a
 *     .partial download (Range) or starts over.  A download no pull holds
 *     (its blob lock is free) is reclaimed once STORE_PARTIAL_MAX_AGE passed
 *     without a write to it, or by store_prune(); a lock file is removed only
 *     under its own lock, and store_blob_lock() retries when the file it
 *     locked was removed meanwhile.
 * (6) a layer is present exactly while an image record or a mount record
 *     (live, or the kept writable layer of a finished run) lists it, and its
 *     blob is present as long as the layer is: a layer found present is whole
 *     (pull's "Already exists" is true; unpack finds its blob).  rmi -f of an
 *     image a mount uses drops the record and keeps layers and blobs; the
 *     removal of the last record that lists a layer (rmi, umount, prune)
 *     removes it and its blob.  store_check() finds states that break this. 
 *
 * Every function returns 0 (or a documented value) or -errno with @e set, and
 * never logs. */
#ifndef STRATA_STORE_H
#define STRATA_STORE_H

#include "util/util.h"
#include <time.h>

struct store;

/* store_open() - open (creating when missing) the store at @root. */
int store_open(const char *root, struct store **out, struct err *e);
void store_close(struct store *s);               /* accepts NULL */
const char *store_root(const struct store *s);
/* store_ovl_prefix() - the overlay xattrs' prefix of the store's layers and
 * writable layers: "trusted.overlay." for root's, "user.overlay." for a
 * rootless one (the kernel's userxattr format; util/userns.h). */
const char *store_ovl_prefix(const struct store *s);
/* store_read_only() - ROOT is on a read-only filesystem: store_open()
 * succeeded for reading, and every call that would write fails with -EROFS
 * ("store ROOT is read-only"). */
bool store_read_only(const struct store *s);

/* store_lock() / store_unlock() - the store-wide lock of invariant (3). */
int store_lock(struct store *s, struct err *e);
void store_unlock(struct store *s);

/* ---------------------------------------------------------------- blobs */

bool store_has_blob(struct store *s, const char *digest);
/* store_blob_path() - ROOT/blobs/sha256/<hex>; caller frees. */
char *store_blob_path(struct store *s, const char *digest);
/* store_read_blob() - read a stored blob of at most @max bytes into @out. */
int store_read_blob(struct store *s, const char *digest, size_t max, struct buf *out, struct err *e);
/* store_put_blob() - store a small blob held in memory; its sha256 must equal
 * @digest (else -EBADMSG, nothing written). */
int store_put_blob(struct store *s, const char *digest, const void *p, size_t n, struct err *e);

/* store_blob_lock() - take the per-blob lock (blocking flock on tmp/<hex>.lock)
 * so that one process downloads a blob while the others wait for it.
 * On success *@lockfd holds the lock; release with store_blob_unlock(). */
int store_blob_lock(struct store *s, const char *digest, int *lockfd, struct err *e);
void store_blob_unlock(int lockfd);              /* accepts -1 */
/* store_open_partial() - open tmp/<hex>.partial for appending, creating it
 * when missing; *@have is its current length (resume offset).  The caller
 * must hold the blob lock. */
int store_open_partial(struct store *s, const char *digest, int *fd, uint64_t *have, struct err *e);
/* store_commit_partial() - fsync and rename tmp/<hex>.partial to the blob.
 * The caller has verified size and digest.  @fd is closed, success or not. */
int store_commit_partial(struct store *s, const char *digest, int fd, struct err *e);
/* store_discard_partial() - delete tmp/<hex>.partial (after a mismatch). */
void store_discard_partial(struct store *s, const char *digest);

/* store_tmpfile() - an unnamed file under tmp/ (O_TMPFILE: nothing is left
 * behind, whatever happens), on the blobs' filesystem; read-write. */
int store_tmpfile(struct store *s, int *fd, struct err *e);

/* --------------------------------------------------------------- layers */

bool store_has_layer(struct store *s, const char *diff_id);
/* store_layer_path() - ROOT/layers/<hex>/diff (the tree to stack); caller frees. */
char *store_layer_path(struct store *s, const char *diff_id);
/* store_layer_file_bytes() - the sum of the layer's regular file sizes as
 * recorded in its layer.json ("file_bytes"); 0 when unknown. */
uint64_t store_layer_file_bytes(struct store *s, const char *diff_id);
/* store_layer_tmpdir() - make a fresh empty directory under tmp/ for
 * extracting @diff_id; *@path is its path (caller frees) and *@dirfd an
 * O_DIRECTORY fd of it (caller closes). */
int store_layer_tmpdir(struct store *s, const char *diff_id, char **path, int *dirfd, struct err *e);
/* store_commit_layer() - move an extraction dir made by store_layer_tmpdir()
 * into place as layers/<hex>, with @meta_json (may be NULL) as its layer.json.
 * When the layer is already there (another process won), the tmp dir is
 * removed and 0 returned. */
int store_commit_layer(struct store *s, const char *diff_id, const char *tmpdir, const char *meta_json, struct err *e);
/* store_discard_tmpdir() - remove an extraction dir (after a failure). */
void store_discard_tmpdir(struct store *s, const char *tmpdir);

/* --------------------------------------------------------------- images */

struct store_layer {
        char *digest;          /* the (compressed) blob's digest */
        char *diff_id;         /* sha256 of the uncompressed tar */
        char *media_type;
        uint64_t size;         /* compressed size, from the manifest */
};

/* One image, keyed by its config digest (docker's IMAGE ID). */
struct store_image {
        char *id;              /* config digest "sha256:..." */
        char *manifest;        /* manifest digest */
        char *index;           /* index / manifest list digest, or NULL */
        char *platform;        /* "linux/amd64" */
        time_t created;        /* from the config; 0 when unknown */
        time_t pulled;
        uint64_t size;         /* unpacked bytes, sum over layers */
        size_t n_layers;
        struct store_layer *layers;   /* bottom first, as in the manifest */
        size_t n_names;
        char **names;          /* "REGISTRY/REPO:TAG" and "REGISTRY/REPO@sha256:..." */
        bool intermediate;     /* a build step's image (strata images hides it
                                * while it has no name, as docker does) */
};
void store_image_free(struct store_image *im);   /* frees members; accepts zeroed */

/* store_add_image() - record @im (its id, manifest, layers...) and point the
 * name @name (normalized, "REGISTRY/REPO:TAG" or "REGISTRY/REPO@DIGEST") at
 * it, moving the name away from any other image.  Takes the store lock. */
int store_add_image(struct store *s, const struct store_image *im, const char *name, struct err *e);
/* store_find_image() - the image that @name points to, or whose id starts
 * with the hex prefix @name (docker's ID prefix rule).  -ENOENT when none. */
int store_find_image(struct store *s, const char *name, struct store_image *out, struct err *e);
/* store_list_images() - every image, newest pull first.  *@out is an array of
 * *@n images: free each with store_image_free() and the array with free(). */
int store_list_images(struct store *s, struct store_image **out, size_t *n, struct err *e);

/* store_remove_name() - drop the name @name.  When it was the last name of
 * its image, *@orphan (if not NULL) receives the image id (caller frees),
 * else NULL.  -ENOENT when no such name. */
int store_remove_name(struct store *s, const char *name, char **orphan, struct err *e);
/* store_delete_image() - delete image @id, its names, and every layer and
 * blob that no other image and no live mount uses (invariant (4)).  Refuses
 * with -EBUSY (naming the mountpoint) when a live mount uses the image,
 * unless @force.  @deleted (may be NULL) is called for each thing removed:
 * the image id first, then each layer's diff_id. */
int store_delete_image(struct store *s, const char *id, bool force,
                       void (*deleted)(const char *what, void *ctx), void *ctx, struct err *e);

/* ------------------------------------------------------------ locations */

/* Where blobs are known to be (ROOT/locations.json): a hint for pushes,
 * which mount a blob from a repository of the same registry rather than
 * send it again.  Entries of blobs no longer in the store are dropped. */

/* store_note_location() - remember that repository @repo ("REGISTRY/REPO")
 * holds each of @digests (a push put them there).  Takes the store lock. */
int store_note_location(struct store *s, char *const *digests, size_t n, const char *repo, struct err *e);
/* store_blob_locations() - the repositories noted for @digest, newest
 * first: *@out is an array of *@n strings (caller frees each and it). */
int store_blob_locations(struct store *s, const char *digest, char ***out, size_t *n, struct err *e);

/* ------------------------------------------------ made on this machine */

/* store_tmp_create() - a new file (or, with @dir, directory) under tmp/,
 * named <what>-<pid>-<n> (so a dead process's leftovers are removed by the
 * next store_open()); *@path its path (caller frees), *@fd open on it
 * (O_RDWR, or O_DIRECTORY; caller closes). */
int store_tmp_create(struct store *s, const char *what, bool dir, char **path, int *fd, struct err *e);
/* store_commit_blob_file() - move the file @path (made by
 * store_tmp_create(), its sha256 computed by the caller as it was written:
 * @digest) into blobs/, after an fsync.  When the blob is there already the
 * file is removed.  @fd (open on it) is closed, success or not. */
int store_commit_blob_file(struct store *s, const char *digest, const char *path, int fd, struct err *e);
/* store_layer_tar_bytes() - the length of the layer's uncompressed tar as
 * recorded in its layer.json ("bytes"); 0 when unknown. */
uint64_t store_layer_tar_bytes(struct store *s, const char *diff_id);

/* ---------------------------------------------------------- build cache */

/* store_build_cache_get() - the image ID of cache entry @key ("sha256:...")
 * into @id; -ENOENT when there is none. */
int store_build_cache_get(struct store *s, const char *key, char id[DIGEST_STR_LEN + 1], struct err *e);
/* store_build_cache_put() - entry @key now names image @id (replaced whole). */
int store_build_cache_put(struct store *s, const char *key, const char *id, struct err *e);
/* store_build_cache_list() - the number of entries; @each (may be NULL)
 * hears of each: its key's hex and its image ID (NULL when unreadable). */
int store_build_cache_list(struct store *s, void (*each)(const char *key_hex, const char *id, void *ctx), void *ctx);
/* store_build_cache_clear() - every entry removed (store_prune() does it):
 * @each as for store_build_cache_list(); the number removed. */
int store_build_cache_clear(struct store *s, void (*each)(const char *key_hex, const char *id, void *ctx), void *ctx,
                            struct err *e);

/* --------------------------------------------------------------- mounts */

/* One mount of an image (or of user-named directories), recorded in
 * ROOT/mounts/<id>/mount.json so that rmi can see which images are in use
 * and umount can find what to tear down. */
/* store_mount.pid of a mount made with the kernel's overlayfs: no daemon,
 * live while mounted */
#define STORE_MOUNT_KERNEL (-1)
struct store_mount {
        char *id;              /* 12 hex chars */
        char *dir;             /* ROOT/mounts/<id> */
        char *image;           /* image id, or NULL */
        char *mountpoint;      /* absolute path */
        char *upper, *work;    /* writable layer and overlay workdir */
        bool keep_upper;       /* the user named the upper dir: umount keeps it */
        int pid;               /* the serving daemon, 0 until known and after a run;
                                * STORE_MOUNT_KERNEL: the kernel's overlayfs (no daemon) */
        int creator;           /* the strata process that made the record */
        size_t n_layers;
        char **layers;         /* diff_ids in use, bottom first */
        char **digests;        /* the blob each layer came from, or NULL (a record
                                  older than the field): invariant (6) keeps it */
        char *command;         /* what a `strata run` ran (for commit's history), or NULL */
        char *name;            /* run --name, or NULL; unique among the records (cli/ checks) */
        time_t created;        /* when the record was made; 0 in a record older than the field */
        time_t finished;       /* when the run's command ended, or 0 */
        int exit_code;         /* its exit status, or -1 (none yet, or not a run) */
        time_t started;        /* when the run's command last started, or 0 */
        int run_pid;           /* the run's command (pid 1 of its namespaces) as the
                                * host sees it, or 0; with */
        unsigned long long run_start;  /* its start time (/proc/PID/stat field 22), so
                                * that a reused pid is not taken for it */
};
void store_mount_free(struct store_mount *m);   /* frees members; accepts zeroed */

/* store_mount_create() - record a new mount of image @image_id (may be NULL)
 * at @mountpoint, named @name (may be NULL: -EEXIST when another record has
 * it, checked under the store lock), and create its directories: @upper (NULL = a fresh
 * ROOT/mounts/<id>/upper; else the user's dir, created if missing, kept on
 * umount) and a work dir (ROOT/mounts/<id>/work; for a user's upper dir
 * .NAME.strata-work next to it, kept too: it holds the index of copied-up
 * hard links).  Takes the store lock, so rmi cannot delete the image in
 * between. */
int store_mount_create(struct store *s, const char *image_id, const char *mountpoint, const char *upper,
                       const char *name, struct store_mount *out, struct err *e);
/* store_mount_save() - rewrite @m's mount.json (e.g. after setting pid). */
int store_mount_save(struct store *s, const struct store_mount *m, struct err *e);
/* store_list_mounts() - every recorded mount, live or not. */
int store_list_mounts(struct store *s, struct store_mount **out, size_t *n, struct err *e);
/* store_find_mount() - the mount recorded for @mountpoint; -ENOENT if none. */
int store_find_mount(struct store *s, const char *mountpoint, struct store_mount *out, struct err *e);
/* store_mount_live() - its daemon runs and its mountpoint is mounted, or it
 * is being set up (no daemon yet, and the process that made the record
 * runs).  A record that is not live is the kept writable layer of a
 * finished run, or of a mount whose daemon died. */
bool store_mount_live(const struct store_mount *m);
/* store_run_alive() - the run's command (run_pid, run_start) still runs. */
bool store_run_alive(const struct store_mount *m);
/* store_proc_start() - the start time of process @pid (/proc/PID/stat field
 * 22, clock ticks since boot), or 0 when it is gone. */
unsigned long long store_proc_start(int pid);
/* store_tree_bytes() - the apparent size of the files under @path (a
 * writable layer), 0 when it cannot be read. */
uint64_t store_tree_bytes(const char *path);
/* store_load_mount() - the record ROOT/mounts/@id, read again. */
int store_load_mount(struct store *s, const char *id, struct store_mount *out, struct err *e);
/* store_mount_remove() - forget @m: remove ROOT/mounts/<id> with its upper
 * and work dirs (a user-named upper dir, keep_upper, stays, and so does its
 * work dir but for the temporaries), then each of its layers (and blob) that
 * no image and no other mount uses (invariant (6)). */
int store_mount_remove(struct store *s, const struct store_mount *m, struct err *e);

/* --------------------------------------------------------- housekeeping */

/* A download nobody holds (no pull has its blob lock) is kept this long for
 * the next pull of the blob to resume, then reclaimed by any strata command
 * that opens the store (store_open()); store_prune() takes it at once. */
#define STORE_PARTIAL_MAX_AGE (24 * 60 * 60)

/* store_reclaim_leftovers() - remove from tmp/ the downloads (.partial) no
 * pull holds and untouched for @max_age seconds (0: any age), their lock
 * files, and the work dirs of processes gone.  @gone (may be NULL) hears of
 * each with its size; *@bytes (may be NULL) grows by the sizes.  Returns
 * how many went. */
int store_reclaim_leftovers(struct store *s, time_t max_age, void (*gone)(const char *name, uint64_t bytes, void *ctx),
                            void *ctx, uint64_t *bytes);

/* One row of store_usage() (docker system df): how many, how many in use,
 * their bytes, and the bytes store_prune(all) would take back. */
struct store_usage_row {
        size_t total, active;
        uint64_t size, reclaimable;
};
struct store_usage {
        struct store_usage_row images;    /* active: used by a mount record; size: the
                                             layers and blobs they hold, shared ones once */
        struct store_usage_row layers;    /* active: used by an image or a mount record */
        struct store_usage_row blobs;     /* active: used by an image or a mount record */
        struct store_usage_row mounts;    /* active: live; size: their writable layers in
                                             the store (an --upper DIR is the user's) */
        struct store_usage_row leftovers; /* tmp/: active: held by a running strata */
        struct store_usage_row build_cache; /* entries; active: their image is there;
                                             size: what their images hold that no
                                             other image and no mount uses (prune
                                             takes it back with them) */
};
/* One item of store_usage()'s detail (system df -v). */
enum store_item_kind { STORE_ITEM_IMAGE, STORE_ITEM_MOUNT, STORE_ITEM_LEFTOVER };
struct store_usage_item {
        enum store_item_kind kind;
        const char *id;            /* image id, mount id, or tmp/NAME */
        const char *name;          /* image: its first tag (else any name, else NULL) */
        const char *image;         /* mount: its image id, or NULL */
        const char *mountpoint;    /* mount: where */
        uint64_t size;             /* image: bytes of its layers and blobs; else its bytes */
        uint64_t shared;           /* image: of those, what another image uses too */
        size_t users;              /* image: the mount records that use it */
        bool active;               /* mount: live; leftover: held by a running strata */
};
/* store_usage() - the rows of system df in *@u; @item (may be NULL) hears of
 * each image, mount and leftover. */
int store_usage(struct store *s, struct store_usage *u, void (*item)(const struct store_usage_item *it, void *ctx),
                void *ctx, struct err *e);

/* What store_prune() and store_check() report, one call each. */
enum store_gone {
        STORE_GONE_MOUNT,      /* a mount record: @what its id */
        STORE_GONE_UNTAGGED,   /* a name of an image deleted */
        STORE_GONE_IMAGE,      /* an image: its id */
        STORE_GONE_LAYER,      /* a layer dir: its diff_id */
        STORE_GONE_BLOB,       /* a blob no image or mount uses: its digest */
        STORE_GONE_LEFTOVER,   /* tmp/NAME */
        STORE_GONE_CACHE,      /* a build cache entry: its key's hex */
};
typedef void (*store_gone_fn)(enum store_gone kind, const char *what, uint64_t bytes, void *ctx);

/* store_prune() - docker system prune: every mount record that is not live
 * (the kept writable layer of a finished run, a mount whose daemon died),
 * then the images without a name (@all: every image) that no mount record
 * uses, then every layer and blob no image and no mount record uses, then
 * the leftovers (store_reclaim_leftovers() of any age), and the build
 * cache.  *@reclaimed is the bytes taken back. */
int store_prune(struct store *s, bool all, store_gone_fn gone, void *ctx, uint64_t *reclaimed, struct err *e);

/* store_check() - podman system check: look for states that break the
 * invariants (a name pointing at no image; an image whose config, manifest,
 * layer dir or layer blob is missing; a mount record whose layer is missing;
 * a layer or blob no image and no mount record uses).  @problem hears of
 * each in one line (without a trailing newline).  With @repair (under the
 * store lock): names are dropped, damaged images deleted (the next pull
 * fetches them whole), a dead mount record that cannot be mounted again is
 * removed, unused layers and blobs go; @repaired hears of each fix.
 * Returns the number of problems found, or -errno. */
int store_check(struct store *s, bool repair, void (*problem)(const char *line, void *ctx),
                store_gone_fn repaired, void *ctx, struct err *e);

#endif
