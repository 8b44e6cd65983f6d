/* fs/ private: what the FUSE adapters (fuse-ops.c) share with the mount
 * code (mount.c).  Include after defining FUSE_USE_VERSION. */
#ifndef STRATA_FS_OPS_H
#define STRATA_FS_OPS_H

#include "fs-internal.h"
#include "util/userns.h"

#include <fuse_lowlevel.h>

/* Data invalidations, done by a thread of their own (inval.c). */
struct fs_inval {
        pthread_mutex_t lock;
        pthread_cond_t work, done;
        struct inval_job *head, *tail;
        uint64_t queued, finished;  /* sequence numbers of the jobs */
        bool stop, started;
        pthread_t thread;
};

/* Small lower files' data stored in the page cache ahead of reads (push.c). */
#define FS_PUSH_MAX (128 * 1024)
#define FS_PUSH_QUEUE 256
struct fs_push {
        struct worker w;
        struct node *q[FS_PUSH_QUEUE];  /* directories, held */
        size_t head, n;
        bool started;
};

struct fs_session {
        struct ovl *o;
        double timeout;           /* entry/attr cache seconds */
        bool writeback;           /* asked for the writeback cache */
        bool splice;              /* move data with splice(2) */
        int readdirplus;          /* 0 (default) or 1 always, -1 never, 2 auto */
        bool no_open;             /* answer OPEN with ENOSYS: I/O through node descriptors */
        bool no_opendir;          /* answer OPENDIR with ENOSYS: readdir from the node's listing */
        unsigned caps;            /* conn->want after init */
        struct fuse_session *se;  /* for notifications to the kernel */
        struct fs_inval inval;
        struct fs_push push;
        /* -o uidmapping=/gidmapping=: ids on disk (inside) <-> shown (outside) */
        struct idrange umap[IDMAP_MAX], gmap[IDMAP_MAX];
        size_t n_umap, n_gmap;
        bool override_stat;       /* -o xattr_permissions=2 */
};

/* Node ids are node pointers; FUSE_ROOT_ID is the root. */
static inline fuse_ino_t fs_node_id(struct fs_session *s, struct node *n)
{
        return n == s->o->root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)n;
}

/* fs_inval_node() - the ovl->inval hook: drop the kernel's cached attributes
 * (and with @data its cached pages, through the invalidation thread). */
void fs_inval_node(void *ctx, struct node *n, bool data);
/* fs_inval_start() - start the invalidation thread (0 or -errno); fs_inval_stop() ends it. */
int fs_inval_start(struct fs_session *s);
void fs_inval_stop(struct fs_session *s);

/* fs_store_data() - the data of the file @fd (@size bytes, at most
 * FS_PUSH_MAX) into the kernel's page cache of @ino; 0 or -errno. */
int fs_store_data(struct fs_session *s, fuse_ino_t ino, int fd, off_t size);
/* fs_push_start() - start the thread that stores a directory's small lower
 * files once a first one is read (no_open); fs_push_stop() ends it. */
int fs_push_start(struct fs_session *s);
void fs_push_stop(struct fs_session *s);
/* fs_push_dir() - have the thread store @dir's small lower files' data. */
void fs_push_dir(struct fs_session *s, struct node *dir);

extern const struct fuse_lowlevel_ops fs_fuse_ops;

#endif
