/* The fuse_lowlevel_ops adapters: decode the request, call the core once,
 * reply once (fuse_reply_err(req, -r) on failure).  Node ids are node
 * pointers; FUSE_ROOT_ID is the root. */
#define FUSE_USE_VERSION 312
#include "fs-ops.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <dirent.h>
#include <limits.h>

struct fhandle {
        _Atomic int fd;         /* -1 until the first I/O of a lazy handle */
        bool writable;          /* opened for writing: the upper layer's file */
        bool lower;             /* opened for reading a lower layer's data (a lower or
                                 * metacopy file): stale once the data is copied up */
};

static struct fs_session *sess(fuse_req_t req)
{
        return fuse_req_userdata(req);
}

static struct node *N(fuse_req_t req, fuse_ino_t ino)
{
        return ino == FUSE_ROOT_ID ? sess(req)->o->root : (struct node *)(uintptr_t)ino;
}


#define OVERFLOW_ID 65534u

/* -o xattr_permissions=2: the owner and mode containers-storage kept in
 * the entry's xattr ("UID:GID:0MODE[:TYPE]") when one id could not hold them */
static void override_stat(struct fs_session *s, struct node *n, struct stat *st)
{
        char v[96];
        _cleanup_free_ char *path = node_path(s->o, n);
        ssize_t len = layer_getxattr(s->o, node_layer(n), path, OVERRIDE_STAT_XATTR, v, sizeof v);
        if (len <= 0)
                return;
        uint32_t uid, gid;
        mode_t mode;
        if (!override_stat_parse(v, (size_t)len, &uid, &gid, &mode))
                return;
        st->st_uid = uid;
        st->st_gid = gid;
        st->st_mode = (st->st_mode & S_IFMT) | mode;
}

/* @id through @r (inside -> outside); else, for an owner the xattr kept,
 * the file's own @disk id: fuse-overlayfs would show 65534, which locks a
 * user of one id out of its own files (the xattr's owner is shown only
 * where the map can show it; its mode always); else 65534. */
static uint32_t shown_id(const struct idrange *r, size_t n, uint32_t id, uint32_t disk)
{
        uint32_t v;
        if (idmap_lookup(r, n, id, true, &v) || (id != disk && idmap_lookup(r, n, disk, true, &v)))
                return v;
        return OVERFLOW_ID;
}

/* The owner as shown: -o xattr_permissions=2, then -o uidmapping/gidmapping
 * (none: as on disk). */
static void show_ids(struct fs_session *s, struct node *n, struct stat *st)
{
        uint32_t uid = st->st_uid, gid = st->st_gid;
        if (s->override_stat)
                override_stat(s, n, st);
        if (s->n_umap)
                st->st_uid = shown_id(s->umap, s->n_umap, st->st_uid, uid);
        if (s->n_gmap)
                st->st_gid = shown_id(s->gmap, s->n_gmap, st->st_gid, gid);
}

/* -o xattr_permissions=2: a chmod or chown of an entry whose owner and mode
 * the xattr keeps changes the xattr too (else the change would not show,
 * and a commit would write the old ones).  @a's ids are on-disk ones. */
static int keep_override(struct fs_session *s, struct node *n, const struct stat *a, unsigned valid)
{
        if (!s->override_stat || !(valid & (OVL_SET_MODE | OVL_SET_UID | OVL_SET_GID)) || node_layer(n) != 0)
                return 0;
        char v[96];
        _cleanup_free_ char *path = node_path(s->o, n);
        ssize_t len = layer_getxattr(s->o, 0, path, OVERRIDE_STAT_XATTR, v, sizeof v - 1);
        uint32_t uid, gid;
        mode_t mode;
        if (len <= 0 || !override_stat_parse(v, (size_t)len, &uid, &gid, &mode))
                return 0;
        v[len] = '\0';
        const char *type = strchr(strchr(strchr(v, ':') + 1, ':') + 1, ':');       /* ":file", or none */
        char nv[96];
        int k = snprintf(nv, sizeof nv, "%u:%u:0%o%s", (unsigned)(valid & OVL_SET_UID ? a->st_uid : uid),
                         (unsigned)(valid & OVL_SET_GID ? a->st_gid : gid),
                         (unsigned)(valid & OVL_SET_MODE ? a->st_mode & 07777 : mode), type ? type : "");
        return layer_setxattr(s->o, 0, path, OVERRIDE_STAT_XATTR, nv, (size_t)k, 0);
}

/* A caller's (or a chown's) id as it is on disk; false when the map has none. */
static bool disk_id(const struct idrange *r, size_t n, uint32_t id, uint32_t *res)
{
        if (!n) {
                *res = id;
                return true;
        }
        return idmap_lookup(r, n, id, false, res);
}

static void reply_attr(fuse_req_t req, struct node *n, struct stat *st)
{
        struct fs_session *s = sess(req);
        show_ids(s, n, st);
        fuse_reply_attr(req, st, S_ISDIR(st->st_mode) || st->st_nlink <= 1 ? s->timeout : 0);
}

static void fill_entry(struct fs_session *s, struct node *n, const struct stat *st, struct fuse_entry_param *e)
{
        memset(e, 0, sizeof(*e));
        e->ino = fs_node_id(s, n);
        e->attr = *st;
        show_ids(s, n, &e->attr);
        e->entry_timeout = s->timeout;
        /* hard links are separate nodes: let each name see the others' changes */
        e->attr_timeout = S_ISDIR(st->st_mode) || st->st_nlink <= 1 ? s->timeout : 0;
}

static void reply_entry(fuse_req_t req, int r, struct node *n, const struct stat *st)
{
        if (r < 0) {
                fuse_reply_err(req, -r);
                return;
        }
        struct fuse_entry_param e;
        fill_entry(sess(req), n, st, &e);
        if (fuse_reply_entry(req, &e) == -ENOENT)       /* the caller was interrupted */
                node_forget(sess(req)->o, n, 1);
}

static struct ovl_cred cred_of(fuse_req_t req)
{
        const struct fuse_ctx *c = fuse_req_ctx(req);
        const struct fs_session *s = sess(req);
        uint32_t u, g;
        if (!disk_id(s->umap, s->n_umap, c->uid, &u))
                u = OVERFLOW_ID;
        if (!disk_id(s->gmap, s->n_gmap, c->gid, &g))
                g = OVERFLOW_ID;
        return (struct ovl_cred){ u, g };
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
        struct fs_session *s = userdata;
        unsigned want = FUSE_CAP_CACHE_SYMLINKS | FUSE_CAP_PARALLEL_DIROPS | FUSE_CAP_ASYNC_READ |
                        FUSE_CAP_ATOMIC_O_TRUNC;
        unsigned splice = FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE | FUSE_CAP_SPLICE_READ;
        if (s->writeback)
                want |= FUSE_CAP_WRITEBACK_CACHE;
        if (s->splice)
                want |= splice;
        else
                conn->want &= ~splice;
        /* always, by default: with auto the kernel asks for a listing's
         * first 32 KiB with attributes and the rest without, then looks
         * each of those names up (a round trip each, and a probe of every
         * layer where the listing had told us which holds it) */
        if (s->readdirplus >= 0)
                want |= FUSE_CAP_READDIRPLUS;
        if (s->readdirplus == 2)
                want |= FUSE_CAP_READDIRPLUS_AUTO;
        conn->want &= ~(FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO);
        if (!(conn->capable & FUSE_CAP_NO_OPEN_SUPPORT))
                s->no_open = false;
        s->o->keep_orphans = s->no_open;
        /* directories need no handle: readdir offsets are name hashes, right
         * in any listing of the directory (dir_seek), and the kernel then
         * caches listings itself; spares OPENDIR and RELEASEDIR */
        s->no_opendir = (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) != 0;
        if (s->no_open) {       /* no OPEN: nothing would truncate atomically */
                want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
                conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
        }
        conn->want |= want & conn->capable;
        /* the kernel clears set-id bits on write (we write as root).
         * FUSE_CAP_HANDLE_KILLPRIV (which would spare a GETATTR per chown)
         * and FUSE_CAP_PARALLEL_DIROPS are in conn->capable, but libfuse
         * 3.14 never puts them in its INIT reply (fixed upstream in 3.16,
         * libfuse#861): the kernel does not get them whatever we want */
        conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
        /* the kernel applies the caller's umask (mount.c: the daemon's is 0) */
        conn->want &= ~FUSE_CAP_DONT_MASK;
        /* every change goes through us: no need to compare mtimes to find them */
        conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
        conn->time_gran = 1;
        s->caps = conn->want;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
        struct fs_session *s = sess(req);
        struct node *n = NULL;
        struct stat st;
        int r = ovl_lookup(s->o, N(req, parent), name, &n, &st);
        if (r == -ENOENT) {
                struct fuse_entry_param e = { .ino = 0, .entry_timeout = s->timeout };
                fuse_reply_entry(req, &e);
                return;
        }
        reply_entry(req, r, n, &st);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
        if (ino != FUSE_ROOT_ID)
                node_forget(sess(req)->o, N(req, ino), nlookup);
        fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
        for (size_t i = 0; i < count; i++)
                if (forgets[i].ino != FUSE_ROOT_ID)
                        node_forget(sess(req)->o, N(req, forgets[i].ino), forgets[i].nlookup);
        fuse_reply_none(req);
}

static int fh_fd(struct fuse_file_info *fi)
{
        return fi && fi->fh ? atomic_load(&((struct fhandle *)(uintptr_t)fi->fh)->fd) : -1;
}

/* The descriptor of a lazy handle (a lower file opened for reading: OPEN
 * opened nothing), opened by its first I/O.  Lower files never change nor
 * go away, so opening later reads what opening then would have. */
static int fh_open_lazy(struct ovl *o, struct node *n, struct fhandle *fh)
{
        int fd, r = ovl_open(o, n, O_RDONLY, &fd);
        if (r < 0)
                return r;
        int none = -1;
        if (!atomic_compare_exchange_strong(&fh->fd, &none, fd))
                close(fd);      /* another request of this handle was first */
        return 0;
}

/* The descriptor for I/O: the open handle's, or (-o no_open: no handle) a
 * fresh one, *@own, that io_done() closes.  Decided before replying: once
 * the reply is out, a RELEASE may free the handle. */
static int io_fd(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, bool write, int *fd, bool *own)
{
        struct ovl *o = sess(req)->o;
        struct node *n = N(req, ino);
        struct fhandle *fh = fi && fi->fh ? (struct fhandle *)(uintptr_t)fi->fh : NULL;
        *fd = fh ? atomic_load(&fh->fd) : -1;
        /* a reader opened below before the data was copied up (by a write
         * through another handle, or another name of a hard link) reads the
         * upper copy, as overlayfs does */
        if (fh && fh->lower && !write) {
                int r = ovl_index_follow(o, n);
                if (r < 0)
                        return r;
        }
        if (fh && fh->lower && !write && ovl_is_upper(o, ovl_data_layer(n)))
                *fd = -1;
        else if (fh && *fd < 0) {
                int r = fh_open_lazy(o, n, fh);
                if (r < 0)
                        return r;
                *fd = atomic_load(&fh->fd);
        }
        *own = *fd < 0;
        if (*fd >= 0)
                return 0;
        return ovl_node_fd(o, n, write, fd);
}

static void io_done(bool own, int fd)
{
        if (own && fd >= 0)
                close(fd);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
        struct fs_session *s = sess(req);
        struct stat st;
        struct node *n = N(req, ino);
        int r = ovl_getattr(s->o, n, S_ISREG(n->type) ? fh_fd(fi) : -1, &st);
        if (r < 0)
                fuse_reply_err(req, -r);
        else
                reply_attr(req, n, &st);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi)
{
        struct fs_session *s = sess(req);
        static const struct { int fuse; unsigned ovl; } map[] = {
                { FUSE_SET_ATTR_MODE, OVL_SET_MODE }, { FUSE_SET_ATTR_UID, OVL_SET_UID },
                { FUSE_SET_ATTR_GID, OVL_SET_GID }, { FUSE_SET_ATTR_SIZE, OVL_SET_SIZE },
                { FUSE_SET_ATTR_ATIME, OVL_SET_ATIME }, { FUSE_SET_ATTR_MTIME, OVL_SET_MTIME },
                { FUSE_SET_ATTR_ATIME_NOW, OVL_SET_ATIME_NOW }, { FUSE_SET_ATTR_MTIME_NOW, OVL_SET_MTIME_NOW },
        };
        unsigned valid = 0;
        for (size_t i = 0; i < ARRAY_SIZE(map); i++)
                if (to_set & map[i].fuse)
                        valid |= map[i].ovl;
        struct node *n = N(req, ino);
        struct fhandle *fh = fi && fi->fh ? (struct fhandle *)(uintptr_t)fi->fh : NULL;
        int fd = fh && fh->writable && S_ISREG(n->type) ? fh->fd : -1;
        struct stat st;
        uint32_t id;
        if (valid & OVL_SET_UID) {
                if (!disk_id(s->umap, s->n_umap, attr->st_uid, &id)) {
                        fuse_reply_err(req, EINVAL);   /* chown's answer for an id not mapped */
                        return;
                }
                attr->st_uid = id;
        }
        if (valid & OVL_SET_GID) {
                if (!disk_id(s->gmap, s->n_gmap, attr->st_gid, &id)) {
                        fuse_reply_err(req, EINVAL);
                        return;
                }
                attr->st_gid = id;
        }
        int r = ovl_setattr(s->o, n, fd, attr, valid, &st);
        if (r >= 0)
                r = keep_override(s, n, attr, valid);
        if (r < 0)
                fuse_reply_err(req, -r);
        else
                reply_attr(req, n, &st);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
        char buf[PATH_MAX + 1];
        int r = ovl_readlink(sess(req)->o, N(req, ino), buf, sizeof(buf));
        if (r < 0)
                fuse_reply_err(req, -r);
        else
                fuse_reply_readlink(req, buf);
}

static void make(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev, const char *link)
{
        struct ovl_cred cr = cred_of(req);
        struct node *n = NULL;
        struct stat st;
        int r = ovl_mknod(sess(req)->o, N(req, parent), name, mode, rdev, link, &cr, &n, &st);
        reply_entry(req, r, n, &st);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
        make(req, parent, name, mode, rdev, NULL);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
        make(req, parent, name, S_IFDIR | (mode & 07777), 0, NULL);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
        make(req, parent, name, S_IFLNK | 0777, 0, link);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
        fuse_reply_err(req, -ovl_unlink(sess(req)->o, N(req, parent), name, false));
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
        fuse_reply_err(req, -ovl_unlink(sess(req)->o, N(req, parent), name, true));
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
        fuse_reply_err(req, -ovl_rename(sess(req)->o, N(req, parent), name, N(req, newparent), newname, flags));
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
        struct node *n = NULL;
        struct stat st;
        int r = ovl_link(sess(req)->o, N(req, ino), N(req, newparent), newname, &n, &st);
        reply_entry(req, r, n, &st);
}

static void set_open_flags(int fd, struct fuse_file_info *fi)
{
        struct stat st;
        /* page cache kept across opens, except for hard links (other nodes
         * may have changed the data) */
        fi->keep_cache = fstat(fd, &st) == 0 && st.st_nlink <= 1;
        /* our flush does nothing: spare close() the round trip (the kernel
         * still flushes its writeback cache) */
        fi->noflush = 1;
}

/* @fd -1: a lazy handle (see fh_open_lazy) */
static int new_handle(struct fs_session *s, struct node *n, int fd, int flags, bool lower,
                      struct fuse_file_info *fi)
{
        struct fhandle *fh = xmalloc(sizeof(*fh));
        atomic_init(&fh->fd, fd);
        fh->writable = (flags & O_ACCMODE) != O_RDONLY;
        fh->lower = lower && !fh->writable;
        fi->fh = (uint64_t)(uintptr_t)fh;
        if (fd >= 0) {
                set_open_flags(fd, fi);
        } else {
                fi->keep_cache = !n->lower_links;
                fi->noflush = 1;
        }
        node_hold(s->o, n);
        atomic_fetch_add(&n->nopen, 1);
        return 0;
}

static void drop_handle(struct fs_session *s, struct node *n, struct fhandle *fh)
{
        int fd = atomic_load(&fh->fd);
        if (fd >= 0)
                close(fd);
        free(fh);
        atomic_fetch_sub(&n->nopen, 1);
        node_release(s->o, n);
}

/* With the writeback cache the kernel may read pages of a write-only file
 * and handles O_APPEND itself. */
static int open_flags(struct fs_session *s, int flags)
{
        if (s->caps & FUSE_CAP_WRITEBACK_CACHE) {
                if ((flags & O_ACCMODE) == O_WRONLY)
                        flags = (flags & ~O_ACCMODE) | O_RDWR;
                flags &= ~O_APPEND;
        }
        return flags;
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi)
{
        struct fs_session *s = sess(req);
        struct ovl_cred cr = cred_of(req);
        struct node *n = NULL;
        struct stat st;
        int fd = -1;
        int flags = open_flags(s, fi->flags);
        int r = ovl_create(s->o, N(req, parent), name, mode, flags, &cr, &fd, &n, &st);
        if (r < 0) {
                fuse_reply_err(req, -r);
                return;
        }
        struct fuse_entry_param e;
        fill_entry(s, n, &st, &e);
        if (s->no_open) {
                /* no handles at all: the kernel sends no RELEASE for them */
                close(fd);
                fi->fh = 0;
                fi->keep_cache = 1;
                if (fuse_reply_create(req, &e, fi) == -ENOENT)
                        node_forget(s->o, n, 1);
                return;
        }
        new_handle(s, n, fd, flags, false, fi);
        if (fuse_reply_create(req, &e, fi) == -ENOENT) {
                drop_handle(s, n, (struct fhandle *)(uintptr_t)fi->fh);
                node_forget(s->o, n, 1);
        }
}

/* The first OPEN of a small lower file hands its data to the kernel's page
 * cache (FUSE_NOTIFY_STORE) before the reply: reads then find the pages and
 * send no READ, and so no GETATTR either (a READ makes the kernel forget the
 * atime, which the next stat then asks for).  Best effort: what is not
 * stored is READ as ever.  Lower files never change.  The node's lock is
 * held throughout, and every later OPEN of the node takes it: so no READ of
 * the file can be in flight while the store waits for the kernel's page
 * locks (which would need a free thread to serve it), and a copy-up, with
 * the writes after it, cannot overtake the store.  Returns the descriptor
 * it opened (the handle's), or -1. */
static int push_lower(struct fs_session *s, struct node *n, fuse_ino_t ino)
{
        if (n->lower_links)
                return -1;      /* no keep_cache: the pages would be dropped */
        int fd = -1;
        struct stat st;
        ovl_prefetch_siblings(s->o, n);
        pthread_mutex_lock(&n->lock);
        bool first = !n->pushed;
        n->pushed = true;
        if (first && !ovl_is_upper(s->o, node_layer(n)) && ovl_open(s->o, n, O_RDONLY, &fd) == 0 &&
            fstat(fd, &st) == 0)
                (void)fs_store_data(s, ino, fd, st.st_size);
        pthread_mutex_unlock(&n->lock);
        return fd;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
        struct fs_session *s = sess(req);
        struct node *n = N(req, ino);
        int fd;
        if (s->no_open) {
                /* the kernel takes this as success, for this open and all the
                 * next ones; reads and writes come with no handle */
                fuse_reply_err(req, ENOSYS);
                return;
        }
        int flags = open_flags(s, fi->flags);
        /* another name of a lower hard link was copied up (invariant 8) */
        int r = ovl_index_follow(s->o, n);
        if (r < 0) {
                fuse_reply_err(req, -r);
                return;
        }
        /* asked before opening: the data may be copied up meanwhile */
        bool lower = !ovl_is_upper(s->o, ovl_data_layer(n));
        /* reading a lower file: its first OPEN stores small data in the
         * page cache; later ones open nothing until the first READ, which a
         * warm page cache never sends (keep_cache) */
        bool lazy = lower && (flags & (O_ACCMODE | O_TRUNC)) == O_RDONLY && S_ISREG(n->type) &&
                    !ovl_is_upper(s->o, node_layer(n));
        r = lazy ? (fd = push_lower(s, n, ino), 0) : ovl_open(s->o, n, flags, &fd);
        if (r < 0) {
                fuse_reply_err(req, -r);
                return;
        }
        new_handle(s, n, fd, flags, lower, fi);
        if (fuse_reply_open(req, fi) == -ENOENT)
                drop_handle(s, n, (struct fhandle *)(uintptr_t)fi->fh);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
        struct fs_session *s = sess(req);
        struct node *n = N(req, ino);
        if (!(fi && fi->fh) && !atomic_load(&n->io_seen))
                atomic_store(&n->io_seen, true);      /* before the pages exist: push.c */
        /* no OPEN (no_open): the first read in a directory is where an
         * archiver or a copy starts on it (push_lower's trigger otherwise):
         * the disk reads the other small files, and push.c stores them
         * where FS invariant 10 allows (a read-only mount) */
        if (!(fi && fi->fh) && !ovl_is_upper(s->o, ovl_data_layer(n)) && ovl_prefetch_siblings(s->o, n)) {
                pthread_mutex_lock(&s->o->tree_lock);
                struct node *dir = n->parent;
                if (dir)
                        dir->refs++;
                pthread_mutex_unlock(&s->o->tree_lock);
                if (dir) {
                        fs_push_dir(s, dir);
                        node_release(s->o, dir);
                }
        }
        bool own;
        int fd, r = io_fd(req, ino, fi, false, &fd, &own);
        if (r < 0) {
                fuse_reply_err(req, -r);
                return;
        }
        struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
        buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
        buf.buf[0].fd = fd;
        buf.buf[0].pos = off;
        fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
        io_done(own, fd);
}

static void op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in, off_t off,
                         struct fuse_file_info *fi)
{
        bool own;
        if (!(fi && fi->fh) && !atomic_load(&N(req, ino)->io_seen))
                atomic_store(&N(req, ino)->io_seen, true);      /* push.c keeps off */
        int fd, err = io_fd(req, ino, fi, true, &fd, &own);
        if (err < 0) {
                fuse_reply_err(req, -err);
                return;
        }
        struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
        out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
        out.buf[0].fd = fd;
        out.buf[0].pos = off;
        /* no handle (no_open): the open's flags come with each WRITE.  An
         * append goes where the file ends now, not where this name's inode
         * in the kernel thinks it ends (another name of the file may have
         * grown it): O_APPEND makes pwrite do that, and splice refuses
         * O_APPEND descriptors */
        int copy_flags = 0;
        bool append = own && fi && (fi->flags & O_APPEND);
        if (append && fcntl(fd, F_SETFL, O_APPEND) == 0)
                copy_flags = FUSE_BUF_NO_SPLICE;
        ssize_t r = fuse_buf_copy(&out, in, copy_flags);
        /* O_SYNC, O_DSYNC: the data (and metadata) on disk before the reply */
        if (r >= 0 && own && fi && (fi->flags & O_DSYNC) &&
            ((fi->flags & O_SYNC) == O_SYNC ? fsync(fd) : fdatasync(fd)) < 0)
                r = -errno;
        io_done(own, fd);
        if (r < 0) {
                fuse_reply_err(req, (int)-r);
                return;
        }
        /* before the reply: the writer may read through another name next */
        ovl_data_changed(sess(req)->o, N(req, ino));
        fuse_reply_write(req, (size_t)r);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
        struct fhandle *fh = (struct fhandle *)(uintptr_t)fi->fh;
        if (fh)
                drop_handle(sess(req), N(req, ino), fh);
        fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
        bool own;
        int fd, r = io_fd(req, ino, fi, false, &fd, &own);
        if (r == 0) {
                r = (datasync ? fdatasync(fd) : fsync(fd)) < 0 ? -errno : 0;
                io_done(own, fd);
        }
        fuse_reply_err(req, -r);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
                         struct fuse_file_info *fi)
{
        bool own;
        int fd, r = io_fd(req, ino, fi, true, &fd, &own);
        if (r == 0) {
                r = fallocate(fd, mode, off, len) < 0 ? -errno : 0;
                io_done(own, fd);
        }
        if (r == 0)
                ovl_data_changed(sess(req)->o, N(req, ino));
        fuse_reply_err(req, -r);
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi)
{
        bool own;
        int fd, err = io_fd(req, ino, fi, false, &fd, &own);
        off_t r = err < 0 ? (errno = -err, -1) : lseek(fd, off, whence);
        int saved = errno;
        if (err == 0)
                io_done(own, fd);
        if (r < 0)
                fuse_reply_err(req, saved);
        else
                fuse_reply_lseek(req, r);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
        struct fs_session *s = sess(req);
        struct node *n = N(req, ino);
        struct dir_snap *d;
        if (s->no_open || s->no_opendir) {
                /* readdir uses the directory's cached listing */
                fuse_reply_err(req, ENOSYS);
                return;
        }
        int r = ovl_dir_read(s->o, n, &d);
        if (r < 0) {
                fuse_reply_err(req, -r);
                return;
        }
        fi->fh = (uint64_t)(uintptr_t)d;
        /* a directory of the lower layers only never changes but through us */
        fi->cache_readdir = 1;
        fi->keep_cache = 1;
        node_hold(s->o, n);
        if (fuse_reply_open(req, fi) == -ENOENT) {
                dir_snap_put(d);
                node_release(s->o, n);
        }
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi, bool plus)
{
        struct fs_session *s = sess(req);
        struct dir_snap *d = (struct dir_snap *)(uintptr_t)fi->fh;
        struct node *dir = N(req, ino);
        struct dir_snap *own = NULL;      /* -o no_open: no handle */
        if (!d) {
                int r = ovl_dir_read(s->o, dir, &own);
                if (r < 0) {
                        fuse_reply_err(req, -r);
                        return;
                }
                d = own;
        }
        size_t first = dir_seek(d, off < 0 ? 0 : (uint64_t)off);
        if (first >= d->n) {
                /* the end of the listing: the kernel caches what it read
                 * (FOPEN_CACHE_DIR), so ours would only take memory */
                if (own)
                        ovl_dir_listed(s->o, dir, own);
                dir_snap_put(own);
                fuse_reply_buf(req, NULL, 0);
                return;
        }
        _cleanup_free_ char *buf = xmalloc(size);
        size_t used = 0;
        for (size_t i = first; i < d->n; i++) {
                struct dirent_m *de = &d->ents[i];
                size_t len;
                if (!plus) {
                        struct stat st = { .st_ino = de->ino, .st_mode = (mode_t)DTTOIF(de->type) };
                        len = fuse_add_direntry(req, buf + used, size - used, de->name, &st, (off_t)de->off);
                        if (len > size - used)
                                break;
                        used += len;
                        continue;
                }
                struct fuse_entry_param e = { .attr.st_ino = de->ino, .attr.st_mode = (mode_t)DTTOIF(de->type) };
                struct node *n = NULL;
                if (i >= 2) {
                        struct stat st;
                        int r = ovl_lookup_entry(s->o, dir, d, i, &n, &st);
                        if (r == -ENOENT)
                                continue;       /* gone since the snapshot */
                        if (r < 0) {
                                if (used == 0) {
                                        dir_snap_put(own);
                                        fuse_reply_err(req, -r);
                                        return;
                                }
                                break;
                        }
                        fill_entry(s, n, &st, &e);
                }
                len = fuse_add_direntry_plus(req, buf + used, size - used, de->name, &e, (off_t)de->off);
                if (len > size - used) {
                        if (n)
                                node_forget(s->o, n, 1);
                        break;
                }
                used += len;
        }
        dir_snap_put(own);
        fuse_reply_buf(req, buf, used);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
        do_readdir(req, ino, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
        do_readdir(req, ino, size, off, fi, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
        if (fi->fh) {
                dir_snap_put((struct dir_snap *)(uintptr_t)fi->fh);
                node_release(sess(req)->o, N(req, ino));
        }
        fuse_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
        struct fs_session *s = sess(req);
        struct node *n = N(req, ino);
        _cleanup_free_ char *path = node_path(s->o, n);
        int fd = layer_openat(s->o, node_layer(n), path, O_RDONLY | O_DIRECTORY, 0);
        int r = fd < 0 ? fd : 0;
        if (fd >= 0 && (datasync ? fdatasync(fd) : fsync(fd)) < 0)
                r = -errno;
        if (fd >= 0)
                close(fd);
        fuse_reply_err(req, -r);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
        struct statvfs st;
        int r = ovl_statfs(sess(req)->o, &st);
        if (r < 0)
                fuse_reply_err(req, -r);
        else
                fuse_reply_statfs(req, &st);
}

static void reply_xattr(fuse_req_t req, int r, const char *buf, size_t size)
{
        if (r < 0)
                fuse_reply_err(req, -r);
        else if (size == 0)
                fuse_reply_xattr(req, (size_t)r);
        else
                fuse_reply_buf(req, buf, (size_t)r);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
        _cleanup_free_ char *buf = size ? xmalloc(size) : NULL;
        int r = ovl_getxattr(sess(req)->o, N(req, ino), name, buf, size);
        reply_xattr(req, r, buf, size);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
        _cleanup_free_ char *buf = size ? xmalloc(size) : NULL;
        int r = ovl_listxattr(sess(req)->o, N(req, ino), buf, size);
        reply_xattr(req, r, buf, size);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size, int flags)
{
        fuse_reply_err(req, -ovl_setxattr(sess(req)->o, N(req, ino), name, value, size, flags));
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
        fuse_reply_err(req, -ovl_removexattr(sess(req)->o, N(req, ino), name));
}

const struct fuse_lowlevel_ops fs_fuse_ops = {
        .init = op_init,
        .lookup = op_lookup,
        .forget = op_forget,
        .forget_multi = op_forget_multi,
        .getattr = op_getattr,
        .setattr = op_setattr,
        .readlink = op_readlink,
        .mknod = op_mknod,
        .mkdir = op_mkdir,
        .symlink = op_symlink,
        .unlink = op_unlink,
        .rmdir = op_rmdir,
        .rename = op_rename,
        .link = op_link,
        .create = op_create,
        .open = op_open,
        .read = op_read,
        .write_buf = op_write_buf,
        /* no .flush: libfuse answers ENOSYS once and the kernel stops
         * sending FLUSH (it still writes its writeback cache back first) */
        .release = op_release,
        .fsync = op_fsync,
        .fallocate = op_fallocate,
        .lseek = op_lseek,
        .opendir = op_opendir,
        .readdir = op_readdir,
        .readdirplus = op_readdirplus,
        .releasedir = op_releasedir,
        .fsyncdir = op_fsyncdir,
        .statfs = op_statfs,
        .getxattr = op_getxattr,
        .listxattr = op_listxattr,
        .setxattr = op_setxattr,
        .removexattr = op_removexattr,
};
