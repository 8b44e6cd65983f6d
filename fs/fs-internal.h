/* fs/ private: the FUSE-free core of the union filesystem.
 *
 * The core ("ovl") works on nodes and layer paths and returns 0 or -errno; the
 * FUSE adapters in fuse-ops.c convert once at the boundary.  Layers are
 * numbered top-down: layer 0 is the upper (writable) one when there is one,
 * then the lowers, topmost first.
 *
 * FS INVARIANTS
 * (1) A node is one name in the merged tree (a dentry); it is reachable in
 *     the table under (parent, name) exactly while that name is visible.
 *     unlink/rmdir/rename-over unhash it; its memory lives until the
 *     kernel forgot it (nlookup == 0) and nothing holds it (refs == 0).
 * (2) node->layer only ever moves up (lower -> 0 by copy-up), under
 *     node->lock; a lower layer is never written.
 * (3) A directory node merges layers node->layer .. node->bottom; a layer
 *     below an opaque directory, a whiteout or a non-directory is not part
 *     of it.  Lookups in a directory probe only its merged layers.
 * (4) node->ino does not change: a copied-up entry keeps the number of what
 *     it was copied from (recorded in xn.origin so that it survives
 *     the kernel forgetting the node and a remount).
 * (5) Everything appears in the upper layer atomically: copy-ups, whiteouts
 *     over upper entries and opaque directories are made in the work dir and
 *     renamed into place.
 * (6) Lock order: a node's lock before its parent's (copy-up walks up);
 *     tree_lock is innermost and never held across a system call that
 *     could block on the filesystem.
 * (7) Metacopy: chmod/chown/utimens/xattr changes of a lower regular file
 *     copy up its metadata only: an upper file of the same size with no
 *     data, marked xn.metacopy; its data is the file of the same
 *     path in node->mc_layer (the next lower layer holding the name, found
 *     again by lookup after a remount).  Anything that changes the data,
 *     links or renames it completes the copy-up first: the data is copied
 *     into the upper file in place, then the mark removed (until then the
 *     lower data is what every read sees).  mc_layer is set by the copy-up
 *     (as layer moves to 0) and goes back to -1 once, both under node->lock.
 * (8) Lower hard links stay one file: a lower regular file with several
 *     names is copied up (data and all, never metacopy) into the index,
 *     workdir/strata-index/<st_ino>-<st_ctime> of the lower file, and every
 *     upper name of it is a hard link to that file.  A name of it still
 *     below is linked up (ovl_index_follow) before it is used, so no name
 *     ever shows the lower data once the index has the file.  index_lock
 *     (innermost but for tree_lock) covers making an index entry, linking
 *     it up and its xn.nlink count.
 * (9) Depth is unlimited: every system call on a layer goes through at_get()
 *     (or a layer_*() helper built on it), never a path longer than
 *     PATH_MAX; node paths are built in memory at any length.
 * (10) No write is ever overwritten by a store: FUSE_NOTIFY_STORE replaces a
 *     page of the kernel's page cache whether or not it was written, so the
 *     daemon stores a file's data only where no page of it can have been
 *     written: from the file's first OPEN before its reply, under node->lock
 *     (with handles: no descriptor of it is open yet, and an OPEN for
 *     writing copies up first, after which nothing is stored), or from
 *     push.c on a mount the kernel holds read-only.  A writable mount never
 *     runs push.c (the window push.c describes cannot be closed there).
 */
#ifndef STRATA_FS_INTERNAL_H
#define STRATA_FS_INTERNAL_H

#include "fs/fs.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

/* The overlay xattr names of a mount: one prefix for all of them,
 * trusted.overlay. (root) or user.overlay. (-o userxattr, a rootless store:
 * the kernel's userxattr format; a user cannot read trusted.* at all).
 * A daemon that can read trusted.* (root) reads the other form as well
 * (struct ovl's xalt): a layer or upper dir a user's store or the kernel's
 * overlayfs with userxattr wrote is shown as they show it; what it writes
 * is in its own form only. */
struct ovl_xnames {
        const char *prefix;       /* "trusted.overlay." */
        size_t plen;
        /* a user's PREFIX.X is stored escaped, as overlayfs does: PREFIX.overlay.X */
        char escaped[32];
        size_t elen;
        char opaque[32];
        char origin[48];          /* strata's own: "<st_ino>" of the lower entry a copy-up came from */
        char metacopy[40];        /* an upper file holding metadata only, as the kernel's
                                   * overlayfs writes it (invariant 7) */
        char nlink[48];           /* strata's own, on an index file: how many names of the
                                   * lower file are still to be linked up (invariant 8) */
};
struct ovl;
void ovl_xnames_init(struct ovl_xnames *x, bool userxattr);
/* ovl_xattr_private() - @name is overlay's own (of either form read), never shown.
 * ovl_xattr_stored() - the name a user's @name is stored under: overlay's
 * prefixes escaped (PREFIX.overlay.X), others as they are.  Caller frees.
 * ovl_xattr_shown() - the reverse for a stored escaped name, else NULL. */
bool ovl_xattr_private(const struct ovl *o, const char *name);
char *ovl_xattr_stored(const struct ovl *o, const char *name);
char *ovl_xattr_shown(const struct ovl *o, const char *name);
/* OVL_GETXATTR() - one of overlay's xattrs (@field of struct ovl_xnames) of
 * @path in @layer: the mount's own form, else the other one it reads too. */
#define OVL_GETXATTR(o, layer, path, field, buf, size) \
        layer_getxattr_either(o, layer, path, (o)->xn.field, (o)->xalt.field, buf, size)
/* root's names, what ovl_xnames_init() makes without userxattr */
#define OVL_XATTR_OPAQUE "trusted.overlay.opaque"
#define OVL_XATTR_ORIGIN "trusted.overlay.strata.origin"
#define OVL_XATTR_METACOPY "trusted.overlay.metacopy"
#define OCI_WH_PREFIX ".wh."
#define OCI_WH_OPAQUE ".wh..wh..opq"

struct layer {
        int fd;                   /* O_PATH | O_DIRECTORY of the layer root */
        char *path;               /* absolute, for the path-only xattr calls */
        size_t path_len;
        dev_t dev;
        uint64_t ino_tag;         /* or-ed into st_ino when layers span filesystems */
};

struct node {
        /* ovl->tree_lock protects: */
        struct node *parent;      /* holds a ref on it; NULL for the root */
        char *name;
        struct node *hnext;       /* chain in ovl->table */
        bool hashed;              /* in the table (invariant 1); else on ovl->limbo */
        struct node *lnext, *lprev;   /* ovl->limbo: unhashed nodes still held */
        struct node *mnext, *mprev;   /* ovl->linked: regular files seen with several names */
        _Atomic bool linked;      /* on ovl->linked */
        _Atomic int nopen;        /* open file handles (the kernel has pages of it only then,
                                   * or always with keep_orphans/-o no_open) */
        uint64_t nlookup;         /* the kernel's lookup count */
        uint64_t refs;            /* children + open handles + ops in flight */
        bool data_ahead;          /* dirs: a file in it was opened, so its small files'
                                   * data was read ahead (prefetch.c) */

        _Atomic uint64_t ino;     /* st_ino we report (invariant 4) */
        mode_t type;              /* S_IFMT bits, immutable */
        bool lower_links;         /* a regular file found in a lower layer with st_nlink > 1
                                   * (immutable: lower files do not change; invariant 8) */

        /* lock protects the fields below; readers without it use atomics */
        pthread_mutex_t lock;
        _Atomic int layer;        /* topmost layer holding the entry */
        int bottom;               /* dirs: lowest merged layer (invariant 3) */
        int ndirs;                /* dirs: how many layers in the merge hold it */
        bool has_lower;           /* a lower layer holds the name: removal needs a whiteout */
        _Atomic int mc_layer;     /* regular files in the upper layer holding metadata only:
                                   * the layer of the data (invariant 7), else -1 */
        int orphan_fd;            /* O_PATH of the file after its last name went while open, or -1 */
        bool pushed;              /* a lower file's data was stored in the kernel's page
                                   * cache, or was decided not to be (push_lower, push.c) */
        _Atomic bool io_seen;     /* no_open: a READ or WRITE of it came (so the kernel may
                                   * hold its pages, maybe mapped and written: push.c keeps off) */
        int wfd;                  /* -o no_open: the data of a lower file written after
                                   * its name went (an unnamed work-dir file), or -1 */
        struct dir_snap *snap;    /* dirs: cached listing, or NULL */
        uint64_t snap_gen;        /* dirs: bumped by every change of the names */
};

struct ovl {
        struct layer *layers;
        int n_layers;
        bool has_upper;           /* layers[0] is the upper */
        bool read_only;           /* no upper, or ro: writes answer EROFS */
        bool keep_orphans;        /* files may be open unknown to us (-o no_open) */
        int work_fd;              /* O_DIRECTORY of workdir/work (ours), or -1 */
        int upper_root_fd;        /* O_DIRECTORY of the upper, or -1 */
        atomic_ulong tmp_seq;     /* names of temporaries in the work dir */
        int index_fd;             /* O_DIRECTORY of workdir/strata-index, or -1 (invariant 8) */
        pthread_mutex_t index_lock;  /* protects the index dir's changes and: */
        uint64_t *index_inos;     /* sorted st_ino of the lower files in the index */
        size_t index_n, index_cap;
        struct prefetch *prefetch;   /* prefetch.c's thread, or NULL */
        pid_t pid;                /* ours, in those names */
        struct ovl_xnames xn;     /* the overlay xattr names written */
        struct ovl_xnames xalt;   /* the other form, read too (root only); else
                                   * prefix NULL and every name "" */
        uid_t euid;               /* ours: what a new entry is owned by unless chowned */
        gid_t egid;

        pthread_mutex_t tree_lock;   /* protects the node tree and table: see struct node */
        struct node **table;
        size_t table_size, table_count;
        struct node *root;
        struct node *limbo;       /* unhashed nodes the kernel still holds */
        struct node *linked;      /* the nodes of files with several names: a
                                   * write through one changes the others' data */

        /* attributes of @n changed behind the kernel's back (a directory's
         * link count after copy-up, a link's count), or its data (@data: a
         * write through another name of the file): drop its cached copy */
        void (*inval)(void *ctx, struct node *n, bool data);
        void *inval_ctx;
};

struct ovl_cred {
        uid_t uid;
        gid_t gid;
};

/* ---- layer.c: paths below a layer root at any depth (invariant 9) */
/* A path below a layer root, ready for the *at calls: (@fd, @rel).  Short
 * paths (the common case) are the root's descriptor and the path itself,
 * with no system call; longer ones (past PATH_MAX with the root's own path)
 * are the descriptor of a directory on the way, opened in steps, and the
 * rest of the path (short). */
struct at {
        int fd;
        const char *rel;
        int own;                  /* the descriptor we opened, or -1 */
};
int at_get(struct ovl *o, int layer, const char *path, struct at *a);
void at_put(struct at *a);
#define _cleanup_at_ _cleanup_(at_put)
#define AT_INIT { .fd = -1, .rel = NULL, .own = -1 }
/* at_xpath() - a path for the calls that take no directory descriptor
 * (the xattr calls): "<layer root>/<path>", or "/proc/self/fd/N/<rest>"
 * for a long one.  Caller frees. */
char *at_xpath(struct ovl *o, int layer, const struct at *a);
/* layer_openat() - openat() of @path in @layer: a descriptor or -errno. */
int layer_openat(struct ovl *o, int layer, const char *path, int flags, mode_t mode);
/* the l*xattr calls on @path of @layer; -errno on failure */
ssize_t layer_getxattr(struct ovl *o, int layer, const char *path, const char *name, void *buf, size_t size);
/* layer_getxattr_either() - @name, else (-ENODATA) @alt unless it is "" */
ssize_t layer_getxattr_either(struct ovl *o, int layer, const char *path, const char *name, const char *alt,
                              void *buf, size_t size);
ssize_t layer_listxattr(struct ovl *o, int layer, const char *path, char *buf, size_t size);
int layer_setxattr(struct ovl *o, int layer, const char *path, const char *name, const void *v, size_t size,
                   int flags);
int layer_removexattr(struct ovl *o, int layer, const char *path, const char *name);

/* ---- layer.c: layers and the whiteout forms */
int ovl_new(const struct fs_config *c, struct ovl **out, struct err *e);
void ovl_free(struct ovl *o);
static inline int ovl_first_lower(const struct ovl *o) { return o->has_upper ? 1 : 0; }
static inline bool ovl_is_upper(const struct ovl *o, int layer) { return o->has_upper && layer == 0; }
int layer_stat(struct ovl *o, int layer, const char *path, struct stat *st);
static inline bool st_is_whiteout(const struct stat *st) { return S_ISCHR(st->st_mode) && st->st_rdev == 0; }
/* layer_has_oci_whiteout() - a lower layer holds .wh.NAME next to @path. */
bool layer_has_oci_whiteout(struct ovl *o, int layer, const char *path);
/* layer_dir_opaque() - the directory @path of @layer hides what is below it. */
bool layer_dir_opaque(struct ovl *o, int layer, const char *path);
/* layer_abspath() - "<layer root>/<path>" for the path-only calls (caller frees). */
char *layer_abspath(struct ovl *o, int layer, const char *path);
uint64_t ovl_ino(struct ovl *o, int layer, const struct stat *st);
/* ovl_tmpname() - a fresh name for a temporary in the work dir. */
char *ovl_tmpname(struct ovl *o);

/* ---- node.c: the node table and lifetimes */
int node_table_init(struct ovl *o);
void node_table_free(struct ovl *o);
struct node *node_new(uint64_t ino, mode_t type);
/* node_find_lookup() - the visible node for (@parent, @name) with nlookup+1, or NULL. */
struct node *node_find_lookup(struct ovl *o, struct node *parent, const char *name);
/* node_find_hold() - the visible node for (@parent, @name) with a ref
 * (node_release() it), not a lookup; or NULL. */
struct node *node_find_hold(struct ovl *o, struct node *parent, const char *name);
/* node_insert_lookup() - hash @n under (@parent, @name) with nlookup = 1; when
 * another thread got there first, drop @n and return that one (nlookup+1). */
struct node *node_insert_lookup(struct ovl *o, struct node *parent, const char *name, struct node *n);
void node_forget(struct ovl *o, struct node *n, uint64_t nlookup);
void node_hold(struct ovl *o, struct node *n);
void node_release(struct ovl *o, struct node *n);
/* node_unhash() - the name of @n disappeared (unlink, rmdir, replaced by a rename). */
void node_unhash(struct ovl *o, struct node *n);
/* node_move() - @n is now @name in @parent; a node there already is unhashed. */
void node_move(struct ovl *o, struct node *n, struct node *parent, const char *name);
/* node_peek_ino() - the st_ino of the visible node (@parent, @name) if there is one. */
bool node_peek_ino(struct ovl *o, struct node *parent, const char *name, uint64_t *ino);
/* node_set_linked() - @n is a regular file with several names (from its stat). */
void node_set_linked(struct ovl *o, struct node *n);
/* ovl_data_changed() - @n's data changed: the other names of the file (other
 * nodes of the same st_ino) drop what the kernel cached of theirs. */
void ovl_data_changed(struct ovl *o, struct node *n);
/* node_path() - the node's path inside every layer ("." for the root); caller frees. */
char *node_path(struct ovl *o, struct node *n);
char *child_path(struct ovl *o, struct node *parent, const char *name);
static inline int node_layer(struct node *n) { return atomic_load(&n->layer); }

/* ---- lookup.c: the merged view of one name */
struct probe {
        int layer;               /* topmost layer holding it, -1: none */
        struct stat st;
        int bottom, ndirs;
        bool has_lower;
        int lower;                /* the topmost lower layer below p->layer holding the name, 0: none */
        bool hidden_below;        /* a lower layer holds the name under a whiteout */
        bool fresh;               /* just created: no copy-up origin to look for */
};
int ovl_probe(struct ovl *o, struct node *parent, const char *name, struct probe *p);
int ovl_lookup(struct ovl *o, struct node *parent, const char *name, struct node **out, struct stat *st);
/* ovl_lookup_known() - the lookup answer for @name when a node for it is in
 * the table: 1 with *@out and *@st set (one lookup counted), 0 when there is
 * none, or -errno (the count given back) when its getattr failed. */
int ovl_lookup_known(struct ovl *o, struct node *parent, const char *name, struct node **out, struct stat *st);
/* lookup_finish() - make (or find) the node for a probed name (nlookup+1). */
struct node *lookup_finish(struct ovl *o, struct node *parent, const char *name, const char *path,
                           const struct probe *p, struct stat *st);
int ovl_getattr(struct ovl *o, struct node *n, int fd, struct stat *st);
void ovl_fix_stat(struct ovl *o, struct node *n, struct stat *st);

/* ---- dir.c: merged directory listings */
/* One name of one layer's directory, as read (OCI markers already turned
 * into whiteouts of the names they hide). */
struct raw_ent {
        char *name;
        int layer;
        unsigned char type;        /* DT_* */
        bool whiteout;
        ino_t ino;
};
struct dirent_m {
        const char *name;          /* points into raw[] (or static for . and ..) */
        unsigned char type;        /* DT_* */
        ino_t ino;
        size_t raw;                /* first of this name's entries in raw[] */
        size_t nraw;               /* how many layers hold the name */
        uint64_t off;              /* readdir offset: 1, 2, then a hash of the name */
};
/* A merged listing: immutable once built, shared by reference (the
 * directory node caches the last one until the directory changes). */
struct dir_snap {
        atomic_int refs;
        struct dirent_m *ents;     /* ".", "..", then the merged names */
        size_t n;
        struct raw_ent *raw;       /* every layer's names, sorted by (name, layer) */
        size_t nraw;
};
/* dir_seek() - the index of the first entry after offset @off.  Entries
 * are ordered by offset, and an offset is a hash of the name: resuming a
 * listing is right even in a newer listing of a changed directory. */
size_t dir_seek(const struct dir_snap *d, uint64_t off);
/* ovl_dir_read() - the listing of @dir (a new reference). */
int ovl_dir_read(struct ovl *o, struct node *dir, struct dir_snap **out);
void dir_snap_put(struct dir_snap *d);      /* accepts NULL */
/* ovl_dir_listed() - @d, a listing of @dir, was read to its end: drop it
 * from @dir's cache if it is still there (the kernel keeps what it read;
 * a later listing is read afresh).  @d stays the caller's. */
void ovl_dir_listed(struct ovl *o, struct node *dir, struct dir_snap *d);
/* ovl_dir_changed() - names in @dir changed: drop its cached listing. */
void ovl_dir_changed(struct ovl *o, struct node *dir);
/* ovl_lookup_entry() - ovl_lookup() of ents[@i] of @d, using what the
 * listing knows about the layers to save the probes. */
int ovl_lookup_entry(struct ovl *o, struct node *dir, struct dir_snap *d, size_t i, struct node **out,
                     struct stat *st);
/* ovl_dir_empty() - 0 when the merged directory holds no visible name, -ENOTEMPTY otherwise. */
int ovl_dir_empty(struct ovl *o, struct node *dir);

/* ---- copyup.c */
/* ovl_copy_up() - make @n (and its parents) live in the upper layer, data
 * included (completing a metadata-only copy-up). */
int ovl_copy_up(struct ovl *o, struct node *n);
/* ovl_copy_up_meta() - the same for a change of metadata only: a lower
 * regular file's data stays below (invariant 7). */
int ovl_copy_up_meta(struct ovl *o, struct node *n);
/* ovl_data_layer() - the layer whose file at @n's path holds @n's data. */
static inline int ovl_data_layer(struct node *n)
{
        int mc = atomic_load(&n->mc_layer);
        return mc >= 0 ? mc : atomic_load(&n->layer);
}
/* ovl_fix_metacopy_stat() - st_blocks of a metacopy file are its data's. */
void ovl_fix_metacopy_stat(struct ovl *o, struct node *n, const char *path, struct stat *st);
/* ovl_copy_up_tree() - make the directory @dir self-contained in the upper
 * layer: everything visible below it copied up, each directory that had
 * lower parts made opaque.  Then it can move anywhere with a plain rename
 * (where overlayfs without redirect_dir answers EXDEV). */
int ovl_copy_up_tree(struct ovl *o, struct node *dir);
/* ovl_build_copy() - the temporary @tmp in the work dir made a copy of
 * @path in @layer, its metadata and (unless @meta) its data. */
int ovl_build_copy(struct ovl *o, struct node *n, int layer, const char *path, const struct stat *st,
                   const char *tmp, bool meta);
/* copy_xattrs() - every xattr but overlay's own from @src to @dst (absolute paths, no follow). */
int copy_xattrs(const struct ovl *o, const char *src, const char *dst);

/* ---- index.c: lower hard links that stay one file (invariant 8) */
int ovl_index_open(struct ovl *o, int workdir_fd, const char *workdir, struct err *e);
void ovl_index_free(struct ovl *o);
/* ovl_indexed() - @n, a lower file, is copied up through the index. */
static inline bool ovl_indexed(const struct ovl *o, const struct node *n)
{
        return n->lower_links && o->index_fd >= 0;
}
/* ovl_index_copy_up() - @n's copy-up when ovl_indexed(): the index
 * entry made (or found), and linked to @path in the upper layer. */
int ovl_index_copy_up(struct ovl *o, struct node *n, int layer, const char *path, const struct stat *st);
/* ovl_index_follow() - @n, a lower hard link, is linked up when another of
 * its names was copied up; call before using its data or metadata. */
int ovl_index_follow(struct ovl *o, struct node *n);
/* ovl_index_fix_nlink() - st_nlink of the upper file @path when it is in the index. */
void ovl_index_fix_nlink(struct ovl *o, const char *path, struct stat *st);

/* ---- prefetch.c: a thread serving a queue (the queue is its owner's,
 * under @lock; @work wakes the thread; @stop asks it to end) */
struct worker {
        pthread_mutex_t lock;
        pthread_cond_t work;
        bool stop;
        pthread_t thread;
};
int worker_start(struct worker *w, void *(*fn)(void *), void *arg);  /* 0 or -errno */
/* worker_stop() - ask the thread to end and wait for it; then drain the queue. */
void worker_stop(struct worker *w);
void worker_destroy(struct worker *w);
/* worker_wait() - in the thread, @lock held: until the queue's count *@n
 * is not 0 (true) or the thread is to end (false). */
bool worker_wait(struct worker *w, const size_t *n);

/* ---- prefetch.c: reading ahead of a walk over a cold cache */
int ovl_prefetch_start(struct ovl *o);
void ovl_prefetch_stop(struct ovl *o);
/* ovl_prefetch_dir() - read @path of the lower @layer (a directory) soon;
 * with @data also have the disk read its small files' data. */
void ovl_prefetch_dir(struct ovl *o, int layer, const char *path, bool data);
/* ovl_prefetch_siblings() - @n, a lower file, is being opened: the first
 * time in its directory, have the disk read the other small files' data
 * (a copy, an archiver reads them next).  True that first time. */
bool ovl_prefetch_siblings(struct ovl *o, struct node *n);

/* ---- ops.c: changes to the tree */
int ovl_mknod(struct ovl *o, struct node *parent, const char *name, mode_t mode, dev_t rdev,
              const char *link_target, const struct ovl_cred *cr, struct node **out, struct stat *st);
int ovl_create(struct ovl *o, struct node *parent, const char *name, mode_t mode, int flags,
               const struct ovl_cred *cr, int *fd, struct node **out, struct stat *st);
int ovl_link(struct ovl *o, struct node *n, struct node *parent, const char *name,
             struct node **out, struct stat *st);
int ovl_unlink(struct ovl *o, struct node *parent, const char *name, bool dir);
int ovl_rename(struct ovl *o, struct node *parent, const char *name, struct node *newparent,
               const char *newname, unsigned flags);
int ovl_open(struct ovl *o, struct node *n, int flags, int *fd);
/* ovl_node_fd() - a new descriptor of @n's data, for I/O that comes without
 * a file handle (-o no_open); @write copies up first.  The caller closes it. */
int ovl_node_fd(struct ovl *o, struct node *n, bool write, int *fd);
int ovl_readlink(struct ovl *o, struct node *n, char *buf, size_t size);

enum {
        OVL_SET_MODE = 1 << 0, OVL_SET_UID = 1 << 1, OVL_SET_GID = 1 << 2, OVL_SET_SIZE = 1 << 3,
        OVL_SET_ATIME = 1 << 4, OVL_SET_MTIME = 1 << 5, OVL_SET_ATIME_NOW = 1 << 6,
        OVL_SET_MTIME_NOW = 1 << 7, OVL_SET_CTIME = 1 << 8,
};
int ovl_setattr(struct ovl *o, struct node *n, int fd, const struct stat *attr, unsigned valid, struct stat *out);

int ovl_getxattr(struct ovl *o, struct node *n, const char *name, void *buf, size_t size);
int ovl_listxattr(struct ovl *o, struct node *n, char *buf, size_t size);
int ovl_setxattr(struct ovl *o, struct node *n, const char *name, const void *value, size_t size, int flags);
int ovl_removexattr(struct ovl *o, struct node *n, const char *name);
int ovl_statfs(struct ovl *o, struct statvfs *st);

#endif
