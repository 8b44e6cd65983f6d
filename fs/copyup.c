/* Copy-up: bring a lower entry into the upper layer before it changes.
 * The copy is built in the work dir and renamed into place (invariant 5);
 * data is copied with copy_file_range over the data extents only, so holes
 * stay holes and nothing is read whole into memory. */
#include "fs-internal.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>

/* The xattr calls on a descriptor when there is one (>= 0), else on the
 * path without following it. */
static ssize_t x_list(const char *path, int fd, char *buf, size_t size)
{
        return fd >= 0 ? flistxattr(fd, buf, size) : llistxattr(path, buf, size);
}

static ssize_t x_get(const char *path, int fd, const char *name, void *buf, size_t size)
{
        return fd >= 0 ? fgetxattr(fd, name, buf, size) : lgetxattr(path, name, buf, size);
}

static int x_set(const char *path, int fd, const char *name, const void *v, size_t size)
{
        return fd >= 0 ? fsetxattr(fd, name, v, size, 0) : lsetxattr(path, name, v, size, 0);
}

/* every xattr but overlay's own from @src (or @sfd) to @dst (or @dfd) */
static int copy_xattrs_fd(const struct ovl *o, const char *src, int sfd, const char *dst, int dfd)
{
        ssize_t n = x_list(src, sfd, NULL, 0);
        if (n < 0)
                return errno == ENOTSUP ? 0 : -errno;
        if (n == 0)
                return 0;
        _cleanup_free_ char *names = xmalloc((size_t)n);
        n = x_list(src, sfd, names, (size_t)n);
        if (n < 0)
                return -errno;
        for (char *name = names; name < names + n; name += strlen(name) + 1) {
                /* overlay's own stay behind; escaped user ones
                 * (trusted.overlay.overlay.*) travel */
                if (ovl_xattr_private(o, name))
                        continue;
                ssize_t vn = x_get(src, sfd, name, NULL, 0);
                if (vn < 0)
                        return -errno;
                _cleanup_free_ char *v = xmalloc((size_t)vn + 1);
                vn = x_get(src, sfd, name, v, (size_t)vn);
                if (vn < 0)
                        return -errno;
                if (x_set(dst, dfd, name, v, (size_t)vn) < 0 && errno != ENOTSUP)
                        return -errno;
        }
        return 0;
}

int copy_xattrs(const struct ovl *o, const char *src, const char *dst)
{
        return copy_xattrs_fd(o, src, -1, dst, -1);
}

/* Where copy_file_range cannot go (another filesystem type): read and write. */
static int copy_range_plain(int in, int out, off_t off, off_t end)
{
        size_t bufsize = 1 << 17;
        _cleanup_free_ char *buf = xmalloc(bufsize);
        if (lseek(in, off, SEEK_SET) < 0 || lseek(out, off, SEEK_SET) < 0)
                return -errno;
        while (off < end) {
                size_t want = (size_t)(end - off) < bufsize ? (size_t)(end - off) : bufsize;
                ssize_t r = read_full(in, buf, want);
                if (r <= 0)
                        return (int)r;
                ssize_t w = write_all(out, buf, (size_t)r);
                if (w < 0)
                        return (int)w;
                off += r;
        }
        return 0;
}

static int copy_range(int in, int out, off_t off, off_t end)
{
        while (off < end) {
                loff_t ioff = off, ooff = off;
                ssize_t r = copy_file_range(in, &ioff, out, &ooff, (size_t)(end - off), 0);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)
                                return copy_range_plain(in, out, off, end);
                        return -errno;
                }
                if (r == 0)
                        break;
                off += r;
        }
        return 0;
}

/* copy_data() - the data extents of @in into @out, holes left as holes. */
static int copy_data(int in, int out, off_t size)
{
        off_t off = 0;
        while (off < size) {
                off_t data = lseek(in, off, SEEK_DATA);
                if (data < 0) {
                        if (errno == ENXIO)
                                break;          /* only a hole is left */
                        if (errno == EINVAL)    /* no SEEK_DATA here: copy all */
                                return copy_range(in, out, off, size);
                        return -errno;
                }
                off_t hole = lseek(in, data, SEEK_HOLE);
                if (hole < 0)
                        hole = size;
                int r = copy_range(in, out, data, hole > size ? size : hole);
                if (r < 0)
                        return r;
                off = hole;
        }
        if (ftruncate(out, size) < 0)
                return -errno;
        return 0;
}

/* @meta: a regular file's metadata only (invariant 7). */
int ovl_build_copy(struct ovl *o, struct node *n, int layer, const char *path, const struct stat *st,
                      const char *tmp, bool meta)
{
        /* a regular file is finished through its descriptors, the rest by name */
        _cleanup_close_ int out = -1, in = -1;
        _cleanup_at_ struct at sa = AT_INIT;
        int r = at_get(o, layer, path, &sa);
        if (r < 0)
                return r;
        switch (st->st_mode & S_IFMT) {
        case S_IFREG:
                out = openat(o->work_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                if (out < 0)
                        return -errno;
                if (meta) {
                        /* the size, no data: one hole (invariant 7) */
                        if (ftruncate(out, st->st_size) < 0)
                                return -errno;
                        break;
                }
                in = openat(sa.fd, sa.rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                if (in < 0)
                        return -errno;
                r = copy_data(in, out, st->st_size);
                if (r < 0)
                        return r;
                break;
        case S_IFDIR:
                if (mkdirat(o->work_fd, tmp, 0700) < 0)
                        return -errno;
                break;
        case S_IFLNK: {
                _cleanup_free_ char *target = xmalloc((size_t)PATH_MAX + 1);
                ssize_t len = readlinkat(sa.fd, sa.rel, target, PATH_MAX);
                if (len < 0)
                        return -errno;
                target[len] = '\0';
                if (symlinkat(target, o->work_fd, tmp) < 0)
                        return -errno;
                break;
        }
        default:
                if (mknodat(o->work_fd, tmp, st->st_mode, st->st_rdev) < 0)
                        return -errno;
                break;
        }
        if ((out >= 0 ? fchown(out, st->st_uid, st->st_gid)
                      : fchownat(o->work_fd, tmp, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW)) < 0)
                return -errno;
        if (!S_ISLNK(st->st_mode) &&
            (out >= 0 ? fchmod(out, st->st_mode & 07777) : fchmodat(o->work_fd, tmp, st->st_mode & 07777, 0)) < 0)
                return -errno;
        _cleanup_free_ char *src = in >= 0 ? NULL : at_xpath(o, layer, &sa);
        _cleanup_free_ char *dst = out >= 0 ? NULL : xasprintf("/proc/self/fd/%d/%s", o->work_fd, tmp);
        r = copy_xattrs_fd(o, src, in, dst, out);
        if (r < 0)
                return r;
        char ino[32];
        int len = snprintf(ino, sizeof(ino), "%llu", (unsigned long long)n->ino);
        /* user.* xattrs (userxattr) exist on files and directories only: a
         * symlink, FIFO or device copied up keeps no origin, as in overlayfs */
        if (x_set(dst, out, o->xn.origin, ino, (size_t)len) < 0 && errno != ENOTSUP &&
            !(errno == EPERM && o->xn.prefix[0] == 'u' && !S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode)))
                return -errno;
        if (meta && x_set(dst, out, o->xn.metacopy, "", 0) < 0)
                return -errno;          /* no mark, no metacopy: the reads would see zeros */
        struct timespec ts[2] = { st->st_atim, st->st_mtim };
        if ((out >= 0 ? futimens(out, ts) : utimensat(o->work_fd, tmp, ts, AT_SYMLINK_NOFOLLOW)) < 0)
                return -errno;
        return 0;
}

/* Copy @path of @layer to the same path in the upper layer, through the work
 * dir; *@meta is cleared when the metadata alone could not be copied. */
static int copy_to(struct ovl *o, struct node *n, int layer, const char *path, const struct stat *st,
                   bool *meta)
{
        _cleanup_free_ char *tmp = ovl_tmpname(o);
        *meta = *meta && S_ISREG(st->st_mode) && !ovl_is_upper(o, layer);
        int r = ovl_build_copy(o, n, layer, path, st, tmp, *meta);
        if (*meta && (r == -ENOTSUP || r == -EOPNOTSUPP)) {
                /* no trusted xattrs for the mark: copy the data after all */
                struct err e;
                rm_rf_at(o->work_fd, tmp, &e);
                *meta = false;
                r = ovl_build_copy(o, n, layer, path, st, tmp, false);
        }
        _cleanup_at_ struct at a = AT_INIT;
        if (r == 0)
                r = at_get(o, 0, path, &a);
        if (r == 0 && renameat2(o->work_fd, tmp, a.fd, a.rel, RENAME_NOREPLACE) < 0)
                r = -errno;
        if (r < 0) {
                struct err e;
                rm_rf_at(o->work_fd, tmp, &e);
        }
        return r;
}

static int copy_up_locked(struct ovl *o, struct node *n, bool meta)
{
        pthread_mutex_lock(&o->tree_lock);
        struct node *parent = n->parent;
        bool hashed = n->hashed;
        pthread_mutex_unlock(&o->tree_lock);
        if (!hashed)
                return -ENOENT;         /* its name is gone: nowhere to copy it to */
        int r = ovl_copy_up(o, parent);
        if (r < 0)
                return r;
        int layer = node_layer(n);
        _cleanup_free_ char *path = node_path(o, n);
        _cleanup_free_ char *ppath = node_path(o, parent);
        struct stat st, pst;
        r = layer_stat(o, layer, path, &st);
        if (r < 0)
                return r;
        r = layer_stat(o, 0, ppath, &pst);
        if (r < 0)
                return r;
        if (ovl_indexed(o, n)) {
                /* a lower hard link: one file for all its names (invariant 8) */
                meta = false;
                r = ovl_index_copy_up(o, n, layer, path, &st);
                if (r < 0)
                        return r;
        } else {
                r = copy_to(o, n, layer, path, &st, &meta);
                if (r < 0)
                        return r;
        }
        /* the parent's times stay as they were, like overlayfs's copy-up */
        struct timespec ts[2] = { pst.st_atim, pst.st_mtim };
        _cleanup_at_ struct at pa = AT_INIT;
        if (at_get(o, 0, ppath, &pa) == 0)
                utimensat(pa.fd, pa.rel, ts, AT_SYMLINK_NOFOLLOW);
        if (meta)
                atomic_store(&n->mc_layer, layer);
        atomic_store(&n->layer, 0);
        ovl_dir_changed(o, parent);     /* its listing knew the old layer */
        if (S_ISDIR(st.st_mode)) {
                n->ndirs++;
                if (o->inval)
                        o->inval(o->inval_ctx, n, false);   /* its st_nlink changed */
        }
        return 0;
}

/* Complete a metadata-only copy-up: the data into the upper file in place,
 * then the mark goes (invariant 7); reads see the lower data until then. */
static int copy_data_locked(struct ovl *o, struct node *n)
{
        int layer = atomic_load(&n->mc_layer);
        pthread_mutex_lock(&o->tree_lock);
        bool hashed = n->hashed;
        pthread_mutex_unlock(&o->tree_lock);
        if (!hashed)
                return -ENOENT;
        _cleanup_free_ char *path = node_path(o, n);
        _cleanup_close_ int in = layer_openat(o, layer, path, O_RDONLY | O_NOFOLLOW, 0);
        if (in < 0)
                return in;
        _cleanup_close_ int out = layer_openat(o, 0, path, O_WRONLY | O_NOFOLLOW, 0);
        if (out < 0)
                return out;
        struct stat ist, ust;
        if (fstat(in, &ist) < 0 || fstat(out, &ust) < 0)
                return -errno;
        int r = copy_data(in, out, ist.st_size);
        if (r < 0)
                return r;
        /* a write drops set-id bits unless the writer has CAP_FSETID in the
         * initial namespace, which a rootless daemon has not: put them back */
        struct stat now;
        if ((ust.st_mode & 06000) && fstat(out, &now) == 0 && (now.st_mode & 07777) != (ust.st_mode & 07777) &&
            fchmod(out, ust.st_mode & 07777) < 0)
                return -errno;
        /* the times are the upper file's (a chmod, utimens... set them) */
        struct timespec ts[2] = { ust.st_atim, ust.st_mtim };
        if (futimens(out, ts) < 0)
                return -errno;
        if (fsync(out) < 0)
                return -errno;
        int r2 = layer_removexattr(o, 0, path, o->xn.metacopy);
        if (r2 == -ENODATA && o->xalt.metacopy[0])        /* the other form's mark */
                r2 = layer_removexattr(o, 0, path, o->xalt.metacopy);
        if (r2 < 0 && r2 != -ENODATA)
                return r2;
        atomic_store(&n->mc_layer, -1);
        return 0;
}

static int copy_up(struct ovl *o, struct node *n, bool meta)
{
        if (o->read_only)
                return -EROFS;
        if (node_layer(n) == 0 && (meta || atomic_load(&n->mc_layer) < 0))
                return 0;
        pthread_mutex_lock(&n->lock);
        int r = node_layer(n) == 0 ? 0 : copy_up_locked(o, n, meta);
        if (r == 0 && !meta && atomic_load(&n->mc_layer) >= 0)
                r = copy_data_locked(o, n);
        pthread_mutex_unlock(&n->lock);
        return r;
}

int ovl_copy_up(struct ovl *o, struct node *n)
{
        return copy_up(o, n, false);
}

int ovl_copy_up_meta(struct ovl *o, struct node *n)
{
        return copy_up(o, n, true);
}

int ovl_copy_up_tree(struct ovl *o, struct node *dir)
{
        int r = ovl_copy_up(o, dir);
        if (r < 0)
                return r;
        struct dir_snap *d;
        r = ovl_dir_read(o, dir, &d);
        if (r < 0)
                return r;
        for (size_t i = 2; i < d->n && r == 0; i++) {
                struct node *c;
                struct stat st;
                r = ovl_lookup(o, dir, d->ents[i].name, &c, &st);
                if (r == -ENOENT) {
                        r = 0;
                        continue;
                }
                if (r < 0)
                        break;
                r = S_ISDIR(c->type) ? ovl_copy_up_tree(o, c) : ovl_copy_up(o, c);
                node_forget(o, c, 1);
        }
        dir_snap_put(d);
        if (r < 0)
                return r;
        pthread_mutex_lock(&dir->lock);
        bool merged = dir->bottom > 0;
        pthread_mutex_unlock(&dir->lock);
        if (!merged)
                return 0;
        /* everything visible is in the upper layer now: hide the rest */
        _cleanup_free_ char *path = node_path(o, dir);
        r = layer_setxattr(o, 0, path, o->xn.opaque, "y", 1, 0);
        if (r < 0)
                return r;
        pthread_mutex_lock(&dir->lock);
        dir->bottom = 0;
        dir->ndirs = 1;
        pthread_mutex_unlock(&dir->lock);
        ovl_dir_changed(o, dir);
        if (o->inval)
                o->inval(o->inval_ctx, dir, false);    /* its st_nlink changed */
        return 0;
}
