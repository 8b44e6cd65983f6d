/* Changes to the merged tree: creating, linking, removing and renaming
 * names, opening files, attributes and xattrs.  Each function makes the
 * upper layer say what the merged view must show, in overlayfs format. */
#include "fs-internal.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>

static int writable_dir(struct ovl *o, struct node *dir)
{
        if (o->read_only)
                return -EROFS;
        return ovl_copy_up(o, dir);
}

/* A whiteout in the upper layer at @path: the name is free for a new entry
 * that must replace it (and, for a directory, be opaque). */
static bool upper_whiteout(struct ovl *o, const char *path)
{
        struct stat st;
        return layer_stat(o, 0, path, &st) == 0 && st_is_whiteout(&st);
}

static void cleanup_tmp(struct ovl *o, const char *tmp)
{
        struct err e;
        rm_rf_at(o->work_fd, tmp, &e);
}

/* Owner of a new entry: the caller, or the directory's group when it is setgid. */
static void new_owner(struct ovl *o, const char *ppath, const struct ovl_cred *cr, mode_t *mode,
                      uid_t *uid, gid_t *gid)
{
        struct stat pst;
        *uid = cr->uid;
        *gid = cr->gid;
        if (layer_stat(o, 0, ppath, &pst) == 0 && (pst.st_mode & S_ISGID)) {
                *gid = pst.st_gid;
                if (S_ISDIR(*mode))
                        *mode |= S_ISGID;
        }
}

/* Create the object itself at @dirfd/@name. */
static int make_object(int dirfd, const char *name, mode_t mode, dev_t rdev, const char *target,
                       int oflags, int *fd)
{
        switch (mode & S_IFMT) {
        case S_IFREG: {
                int f = openat(dirfd, name, (oflags & ~O_TRUNC) | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                               mode & 07777);
                if (f < 0)
                        return -errno;
                if (fd)
                        *fd = f;
                else
                        close(f);
                return 0;
        }
        case S_IFDIR:
                return mkdirat(dirfd, name, mode & 07777) < 0 ? -errno : 0;
        case S_IFLNK:
                return symlinkat(target, dirfd, name) < 0 ? -errno : 0;
        default:
                return mknodat(dirfd, name, mode, rdev) < 0 ? -errno : 0;
        }
}

static int set_owner_mode(struct ovl *o, int dirfd, const char *name, mode_t mode, uid_t uid, gid_t gid)
{
        /* what the filesystem gave the new entry already (no setgid parent) */
        if (uid == o->euid && gid == o->egid && !(mode & 07000))
                return 0;
        if (fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        /* chown cleared the set-id bits */
        if (!S_ISLNK(mode) && (mode & 07000) && fchmodat(dirfd, name, mode & 07777, 0) < 0)
                return -errno;
        return 0;
}

/* Two paths of the upper layer for one call (link, rename). */
static int upper_at2(struct ovl *o, const char *p1, struct at *a1, const char *p2, struct at *a2)
{
        int r = at_get(o, 0, p1, a1);
        return r < 0 ? r : at_get(o, 0, p2, a2);
}

/* A whiteout (0/0 character device) at @path of the upper layer. */
static int make_object_at(struct ovl *o, const char *path, mode_t mode, dev_t rdev)
{
        _cleanup_at_ struct at a = AT_INIT;
        int r = at_get(o, 0, path, &a);
        return r < 0 ? r : make_object(a.fd, a.rel, mode, rdev, NULL, 0, NULL);
}

/* Returns 1 when the new entry replaced a whiteout, 0 otherwise, or -errno. */
static int make_entry(struct ovl *o, struct node *parent, const char *name, mode_t mode, dev_t rdev,
                      const char *target, int oflags, const struct ovl_cred *cr, int *fd)
{
        int r = writable_dir(o, parent);
        if (r < 0)
                return r;
        if (strlen(name) > NAME_MAX)
                return -ENAMETOOLONG;
        _cleanup_free_ char *path = child_path(o, parent, name);
        _cleanup_free_ char *ppath = node_path(o, parent);
        uid_t uid;
        gid_t gid;
        new_owner(o, ppath, cr, &mode, &uid, &gid);
        _cleanup_at_ struct at a = AT_INIT;
        r = at_get(o, 0, path, &a);
        if (r < 0)
                return r;
        if (!upper_whiteout(o, path)) {
                r = make_object(a.fd, a.rel, mode, rdev, target, oflags, fd);
                if (r < 0)
                        return r;
                r = set_owner_mode(o, a.fd, a.rel, mode, uid, gid);
                if (r < 0) {
                        if (fd && *fd >= 0)
                                close(TAKE_FD(*fd));
                        unlinkat(a.fd, a.rel, S_ISDIR(mode) ? AT_REMOVEDIR : 0);
                }
                return r;
        }
        /* replace the whiteout atomically: build in the work dir, rename over */
        _cleanup_free_ char *tmp = ovl_tmpname(o);
        r = make_object(o->work_fd, tmp, mode, rdev, target, oflags, fd);
        if (r < 0)
                return r;
        r = set_owner_mode(o, o->work_fd, tmp, mode, uid, gid);
        if (r == 0 && S_ISDIR(mode)) {
                /* what the whiteout hid stays hidden under the new directory */
                _cleanup_free_ char *abs = xasprintf("/proc/self/fd/%d/%s", o->work_fd, tmp);
                if (lsetxattr(abs, o->xn.opaque, "y", 1, 0) < 0)
                        r = -errno;
                /* a directory cannot be renamed over a non-directory: swap them */
                if (r == 0 && renameat2(o->work_fd, tmp, a.fd, a.rel, RENAME_EXCHANGE) < 0)
                        r = -errno;
        } else if (r == 0 && renameat(o->work_fd, tmp, a.fd, a.rel) < 0) {
                r = -errno;
        }
        if (r < 0 && fd && *fd >= 0)
                close(TAKE_FD(*fd));
        cleanup_tmp(o, tmp);
        return r < 0 ? r : 1;
}

/* The node for an entry make_entry() just made (@replaced: over a whiteout,
 * so a lower layer may hold the name), without probing the lower layers. */
static int new_node(struct ovl *o, struct node *parent, const char *name, int fd, bool replaced,
                    struct node **out, struct stat *st)
{
        _cleanup_free_ char *path = child_path(o, parent, name);
        struct probe p = { .layer = 0, .bottom = 0, .ndirs = 1, .has_lower = replaced, .fresh = true };
        int r = fd >= 0 ? (fstat(fd, &p.st) < 0 ? -errno : 0) : layer_stat(o, 0, path, &p.st);
        if (r < 0)
                return r;
        *out = lookup_finish(o, parent, name, path, &p, st);
        return 0;
}

int ovl_mknod(struct ovl *o, struct node *parent, const char *name, mode_t mode, dev_t rdev,
              const char *link_target, const struct ovl_cred *cr, struct node **out, struct stat *st)
{
        /* a 0/0 character device is a whiteout: overlayfs refuses to make one */
        if (S_ISCHR(mode) && rdev == 0)
                return -EPERM;
        int r = make_entry(o, parent, name, mode, rdev, link_target, 0, cr, NULL);
        if (r < 0)
                return r;
        ovl_dir_changed(o, parent);
        return new_node(o, parent, name, -1, r == 1, out, st);
}

int ovl_create(struct ovl *o, struct node *parent, const char *name, mode_t mode, int flags,
               const struct ovl_cred *cr, int *fd, struct node **out, struct stat *st)
{
        *fd = -1;
        int r = make_entry(o, parent, name, (mode & 07777) | S_IFREG, 0, NULL, flags, cr, fd);
        if (r < 0)
                return r;
        ovl_dir_changed(o, parent);
        r = new_node(o, parent, name, *fd, r == 1, out, st);
        if (r < 0)
                close(TAKE_FD(*fd));
        return r;
}

int ovl_link(struct ovl *o, struct node *n, struct node *parent, const char *name, struct node **out,
             struct stat *st)
{
        if (S_ISDIR(n->type))
                return -EPERM;
        int r = writable_dir(o, parent);
        if (r < 0)
                return r;
        r = ovl_copy_up(o, n);
        if (r < 0)
                return r;
        _cleanup_free_ char *src = node_path(o, n);
        _cleanup_free_ char *path = child_path(o, parent, name);
        _cleanup_at_ struct at sa = AT_INIT, da = AT_INIT;
        r = upper_at2(o, src, &sa, path, &da);
        if (r < 0)
                return r;
        if (!upper_whiteout(o, path)) {
                if (linkat(sa.fd, sa.rel, da.fd, da.rel, 0) < 0)
                        return -errno;
        } else {
                _cleanup_free_ char *tmp = ovl_tmpname(o);
                if (linkat(sa.fd, sa.rel, o->work_fd, tmp, 0) < 0)
                        return -errno;
                if (renameat(o->work_fd, tmp, da.fd, da.rel) < 0) {
                        r = -errno;
                        unlinkat(o->work_fd, tmp, 0);
                        return r;
                }
        }
        if (o->inval)
                o->inval(o->inval_ctx, n, false);      /* its st_nlink changed */
        ovl_dir_changed(o, parent);
        return ovl_lookup(o, parent, name, out, st);
}

/* Take @path out of the upper layer, leaving a whiteout when @whiteout. */
static int remove_upper(struct ovl *o, const char *path, bool dir, bool whiteout)
{
        _cleanup_at_ struct at a = AT_INIT;
        int r = at_get(o, 0, path, &a);
        if (r < 0)
                return r;
        if (!whiteout) {
                if (unlinkat(a.fd, a.rel, dir ? AT_REMOVEDIR : 0) == 0)
                        return 0;
                if (!dir || (errno != ENOTEMPTY && errno != EEXIST))
                        return -errno;
                /* an upper directory holding only whiteouts */
        }
        _cleanup_free_ char *tmp = ovl_tmpname(o);
        if (renameat2(a.fd, a.rel, o->work_fd, tmp, whiteout ? RENAME_WHITEOUT : 0) < 0)
                return -errno;
        cleanup_tmp(o, tmp);
        return 0;
}

/* A file still open when its name goes keeps answering getattr/setattr
 * through an O_PATH descriptor (invariant 1: its path is gone). */
static bool orphan_wanted(struct ovl *o, struct node *n)
{
        pthread_mutex_lock(&o->tree_lock);
        bool open = (n->refs > 0 || o->keep_orphans) && !S_ISDIR(n->type);
        pthread_mutex_unlock(&o->tree_lock);
        return open;
}

static void keep_orphan(struct ovl *o, struct node *n, const char *path)
{
        if (orphan_wanted(o, n) && n->orphan_fd < 0) {
                int fd = layer_openat(o, node_layer(n), path, O_PATH | O_NOFOLLOW, 0);
                n->orphan_fd = fd < 0 ? -1 : fd;
        }
}

/* A name of a lower hard link that goes: the index entry first, so that the
 * other names' count has a place to drop from (invariant 8; so does the
 * kernel's overlayfs with index=on). */
static int index_before_removal(struct ovl *o, struct node *n)
{
        return ovl_indexed(o, n) ? ovl_copy_up(o, n) : 0;
}

int ovl_unlink(struct ovl *o, struct node *parent, const char *name, bool dir)
{
        if (o->read_only)
                return -EROFS;
        struct node *n;
        struct stat st;
        int r = ovl_lookup(o, parent, name, &n, &st);
        if (r < 0)
                return r;
        if (dir && !S_ISDIR(n->type))
                r = -ENOTDIR;
        else if (!dir && S_ISDIR(n->type))
                r = -EISDIR;
        else if (dir)
                r = ovl_dir_empty(o, n);
        if (r == 0)
                r = writable_dir(o, parent);
        /* a metacopy file that lives on open: its descriptor by name must
         * hold the data too (invariant 7) */
        if (r == 0 && atomic_load(&n->mc_layer) >= 0 && orphan_wanted(o, n))
                r = ovl_copy_up(o, n);
        if (r == 0)
                r = index_before_removal(o, n);
        if (r == 0) {
                _cleanup_free_ char *path = child_path(o, parent, name);
                pthread_mutex_lock(&n->lock);
                keep_orphan(o, n, path);
                if (node_layer(n) == 0)
                        r = remove_upper(o, path, dir, n->has_lower);
                else
                        r = make_object_at(o, path, S_IFCHR, 0);
                pthread_mutex_unlock(&n->lock);
        }
        if (r == 0) {
                node_unhash(o, n);
                ovl_dir_changed(o, parent);
        }
        node_forget(o, n, 1);
        return r;
}

static int set_opaque(struct ovl *o, const char *path)
{
        return layer_setxattr(o, 0, path, o->xn.opaque, "y", 1, 0);
}

static int rename_exchange(struct ovl *o, struct node *a, struct node *b, struct node *parent,
                           const char *name, struct node *newparent, const char *newname)
{
        if (a->has_lower != b->has_lower || (S_ISDIR(a->type) && a->ndirs > 1) ||
            (S_ISDIR(b->type) && b->ndirs > 1))
                return -EXDEV;
        int r = ovl_copy_up(o, a);
        if (r == 0)
                r = ovl_copy_up(o, b);
        if (r < 0)
                return r;
        _cleanup_free_ char *p1 = child_path(o, parent, name);
        _cleanup_free_ char *p2 = child_path(o, newparent, newname);
        _cleanup_at_ struct at a1 = AT_INIT, a2 = AT_INIT;
        r = upper_at2(o, p1, &a1, p2, &a2);
        if (r < 0)
                return r;
        if (renameat2(a1.fd, a1.rel, a2.fd, a2.rel, RENAME_EXCHANGE) < 0)
                return -errno;
        node_move(o, a, newparent, newname);
        node_move(o, b, parent, name);
        ovl_dir_changed(o, parent);
        ovl_dir_changed(o, newparent);
        return 0;
}

/* The rename proper, both names' parents in the upper layer and @src copied up. */
static int rename_upper(struct ovl *o, struct node *src, struct node *dst, const char *p1, const char *p2)
{
        bool dst_wh = upper_whiteout(o, p2);
        bool dst_lower = dst_wh || (dst && dst->has_lower);
        _cleanup_at_ struct at a1 = AT_INIT, a2 = AT_INIT;
        int r = upper_at2(o, p1, &a1, p2, &a2);
        if (r < 0)
                return r;
        if (dst && node_layer(dst) == 0 && S_ISDIR(dst->type)) {
                /* an upper directory that may still hold whiteouts: move it away */
                _cleanup_free_ char *tmp = ovl_tmpname(o);
                if (renameat(a2.fd, a2.rel, o->work_fd, tmp) < 0)
                        return -errno;
                cleanup_tmp(o, tmp);
        }
        if (S_ISDIR(src->type) && dst_lower) {
                r = set_opaque(o, p1);
                if (r < 0)
                        return r;
        }
        if (S_ISDIR(src->type) && dst_wh) {
                /* swap the directory with the whiteout; keep the whiteout at
                 * the old name only when something below needs hiding */
                if (renameat2(a1.fd, a1.rel, a2.fd, a2.rel, RENAME_EXCHANGE) < 0)
                        return -errno;
                if (!src->has_lower && unlinkat(a1.fd, a1.rel, 0) < 0)
                        return -errno;
        } else if (renameat2(a1.fd, a1.rel, a2.fd, a2.rel, src->has_lower ? RENAME_WHITEOUT : 0) < 0) {
                return -errno;
        }
        if (S_ISDIR(src->type) && dst_lower) {
                src->bottom = 0;
                src->ndirs = 1;
        }
        src->has_lower = dst_lower;
        return 0;
}

static int rename_move(struct ovl *o, struct node *src, struct node *dst, struct node *parent,
                       const char *name, struct node *newparent, const char *newname)
{
        int r = writable_dir(o, parent);
        if (r == 0)
                r = writable_dir(o, newparent);
        /* a directory with lower parts: overlayfs without redirect_dir
         * answers EXDEV (mv copes, other programs do not); strata copies the
         * tree up and renames it */
        if (r == 0)
                r = S_ISDIR(src->type) ? ovl_copy_up_tree(o, src) : ovl_copy_up(o, src);
        if (r == 0 && dst)
                r = index_before_removal(o, dst);
        if (r < 0)
                return r;
        _cleanup_free_ char *p1 = child_path(o, parent, name);
        _cleanup_free_ char *p2 = child_path(o, newparent, newname);
        pthread_mutex_lock(&src->lock);
        r = rename_upper(o, src, dst, p1, p2);
        if (r == 0)
                node_move(o, src, newparent, newname);
        pthread_mutex_unlock(&src->lock);
        ovl_dir_changed(o, parent);
        ovl_dir_changed(o, newparent);
        return r;
}

int ovl_rename(struct ovl *o, struct node *parent, const char *name, struct node *newparent,
               const char *newname, unsigned flags)
{
        if (o->read_only)
                return -EROFS;
        if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE))
                return -EINVAL;
        if (strlen(newname) > NAME_MAX)
                return -ENAMETOOLONG;
        struct node *src, *dst = NULL;
        struct stat st;
        int r = ovl_lookup(o, parent, name, &src, &st);
        if (r < 0)
                return r;
        r = ovl_lookup(o, newparent, newname, &dst, &st);
        if (r == -ENOENT) {
                dst = NULL;
                r = 0;
        }
        if (r < 0)
                goto out;
        if (dst == src)
                goto out;
        if (flags & RENAME_EXCHANGE) {
                r = dst ? rename_exchange(o, src, dst, parent, name, newparent, newname) : -ENOENT;
                goto out;
        }
        if (dst && (flags & RENAME_NOREPLACE)) {
                r = -EEXIST;
                goto out;
        }
        if (dst && S_ISDIR(dst->type) != S_ISDIR(src->type)) {
                r = S_ISDIR(dst->type) ? -EISDIR : -ENOTDIR;
                goto out;
        }
        if (dst && S_ISDIR(dst->type)) {
                r = ovl_dir_empty(o, dst);
                if (r < 0)
                        goto out;
        }
        r = rename_move(o, src, dst, parent, name, newparent, newname);
out:
        if (dst)
                node_forget(o, dst, 1);
        node_forget(o, src, 1);
        return r;
}

/* Before I/O on @n: its data where it must be read from, or (@write) up. */
static int data_ready(struct ovl *o, struct node *n, bool write)
{
        int r = ovl_index_follow(o, n);
        if (r < 0 || !write)
                return r;
        return o->read_only ? -EROFS : ovl_copy_up(o, n);
}

int ovl_open(struct ovl *o, struct node *n, int flags, int *fd)
{
        bool write = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
        int r = data_ready(o, n, write);
        if (r < 0)
                return r;
        _cleanup_free_ char *path = node_path(o, n);
        flags &= ~(O_CREAT | O_EXCL | O_NOCTTY);
        /* read-only: a metacopy file's data is below (invariant 7) */
        int layer = write ? node_layer(n) : ovl_data_layer(n);
        *fd = layer_openat(o, layer, path, flags | O_NOFOLLOW, 0);
        if (*fd == -ENXIO && !S_ISCHR(n->type))
                r = -ENOENT;            /* a whiteout just took the name */
        else
                r = *fd < 0 ? *fd : 0;
        if (r < 0)
                *fd = -1;
        return r;
}

/* A lower file written after its name went (open, unlink, write): its
 * data lives on in an unnamed file in the work dir, as long as it is open. */
static int orphan_copy(struct ovl *o, struct node *n)
{
        _cleanup_free_ char *src = xasprintf("/proc/self/fd/%d", n->orphan_fd);
        _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
        if (in < 0)
                return -errno;
        _cleanup_close_ int out = openat(o->work_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (out < 0)
                return -errno;
        struct stat st;
        if (fstat(in, &st) < 0)
                return -errno;
        ssize_t done = 0;
        while (done < st.st_size) {
                ssize_t c = copy_file_range(in, NULL, out, NULL, (size_t)(st.st_size - done), 0);
                if (c <= 0)
                        return c < 0 ? -errno : -EIO;
                done += c;
        }
        if (fchmod(out, st.st_mode & 07777) < 0 || fchown(out, st.st_uid, st.st_gid) < 0)
                return -errno;
        n->wfd = TAKE_FD(out);
        return 0;
}

int ovl_node_fd(struct ovl *o, struct node *n, bool write, int *fd)
{
        int r = data_ready(o, n, write);
        if (write && r == -ENOENT && n->orphan_fd >= 0 && node_layer(n) != 0) {
                pthread_mutex_lock(&n->lock);
                r = n->wfd >= 0 ? 0 : orphan_copy(o, n);
                pthread_mutex_unlock(&n->lock);
        }
        if (r < 0)
                return r;
        /* a descriptor per request: nothing to bound or evict; the page
         * cache serves warm reads without asking */
        pthread_mutex_lock(&n->lock);
        int layer = ovl_data_layer(n);          /* a metacopy file's data is below */
        bool upper = ovl_is_upper(o, layer);
        int flags = (upper && !o->read_only ? O_RDWR : O_RDONLY) | O_CLOEXEC;
        if (n->wfd >= 0) {
                *fd = fcntl(n->wfd, F_DUPFD_CLOEXEC, 0);
        } else if (n->orphan_fd >= 0) {
                /* its name is gone: the file itself, by its O_PATH */
                _cleanup_free_ char *p = xasprintf("/proc/self/fd/%d", n->orphan_fd);
                *fd = open(p, flags);
        } else {
                _cleanup_free_ char *path = node_path(o, n);
                *fd = layer_openat(o, layer, path, flags | O_NOFOLLOW, 0);
                if (*fd < 0)
                        errno = -*fd;
        }
        r = *fd < 0 ? -errno : 0;
        pthread_mutex_unlock(&n->lock);
        return r;
}

int ovl_readlink(struct ovl *o, struct node *n, char *buf, size_t size)
{
        _cleanup_free_ char *path = node_path(o, n);
        _cleanup_at_ struct at a = AT_INIT;
        int r = at_get(o, node_layer(n), path, &a);
        if (r < 0)
                return r;
        ssize_t len = readlinkat(a.fd, a.rel, buf, size - 1);
        if (len < 0)
                return -errno;
        buf[len] = '\0';
        return 0;
}

int ovl_setattr(struct ovl *o, struct node *n, int fd, const struct stat *a, unsigned valid, struct stat *out)
{
        if (o->read_only)
                return -EROFS;
        _cleanup_free_ char *path = NULL;
        _cleanup_at_ struct at at = AT_INIT;
        int dfd;
        int nofollow = AT_SYMLINK_NOFOLLOW;
        if (n->orphan_fd >= 0) {
                if (node_layer(n) != 0)
                        return -ENOENT;         /* a lower file: nothing to change */
                path = xasprintf("/proc/self/fd/%d", n->orphan_fd);
                dfd = AT_FDCWD;
                nofollow = 0;
        } else {
                /* metadata alone: the data stays below (invariant 7) */
                int r = (valid & OVL_SET_SIZE) ? ovl_copy_up(o, n) : ovl_copy_up_meta(o, n);
                if (r < 0)
                        return r;
                _cleanup_free_ char *npath = node_path(o, n);
                r = at_get(o, 0, npath, &at);
                if (r < 0)
                        return r;
                dfd = at.fd;
                path = xstrdup(at.rel);
        }
        if (valid & OVL_SET_MODE) {
                if (S_ISLNK(n->type))
                        return -EOPNOTSUPP;
                if ((fd >= 0 ? fchmod(fd, a->st_mode & 07777) : fchmodat(dfd, path, a->st_mode & 07777, 0)) < 0)
                        return -errno;
        }
        if (valid & (OVL_SET_UID | OVL_SET_GID)) {
                uid_t uid = (valid & OVL_SET_UID) ? a->st_uid : (uid_t)-1;
                gid_t gid = (valid & OVL_SET_GID) ? a->st_gid : (gid_t)-1;
                if ((fd >= 0 ? fchown(fd, uid, gid) : fchownat(dfd, path, uid, gid, nofollow)) < 0)
                        return -errno;
        }
        if (valid & OVL_SET_SIZE) {
                if (fd >= 0) {
                        if (ftruncate(fd, a->st_size) < 0)
                                return -errno;
                } else {
                        _cleanup_close_ int tfd = openat(dfd, path, O_WRONLY | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0));
                        if (tfd < 0 || ftruncate(tfd, a->st_size) < 0)
                                return -errno;
                }
                ovl_data_changed(o, n);
        }
        if (valid & (OVL_SET_ATIME | OVL_SET_MTIME | OVL_SET_ATIME_NOW | OVL_SET_MTIME_NOW)) {
                struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT } };
                if (valid & OVL_SET_ATIME_NOW)
                        ts[0].tv_nsec = UTIME_NOW;
                else if (valid & OVL_SET_ATIME)
                        ts[0] = a->st_atim;
                if (valid & OVL_SET_MTIME_NOW)
                        ts[1].tv_nsec = UTIME_NOW;
                else if (valid & OVL_SET_MTIME)
                        ts[1] = a->st_mtim;
                if ((fd >= 0 ? futimens(fd, ts) : utimensat(dfd, path, ts, nofollow)) < 0)
                        return -errno;
        }
        return ovl_getattr(o, n, fd, out);
}

/* A user's trusted.overlay.X is stored as trusted.overlay.overlay.X (as
 * overlayfs does; user.overlay.* with userxattr, and both where both forms
 * are read); overlay's own xattrs are never visible (ovl_xattr_stored(),
 * ovl_xattr_private() in layer.c). */

int ovl_getxattr(struct ovl *o, struct node *n, const char *name, void *buf, size_t size)
{
        int r = ovl_index_follow(o, n);
        if (r < 0)
                return r;
        _cleanup_free_ char *path = node_path(o, n);
        _cleanup_free_ char *real = ovl_xattr_stored(o, name);
        return (int)layer_getxattr(o, node_layer(n), path, real, buf, size);
}

int ovl_listxattr(struct ovl *o, struct node *n, char *buf, size_t size)
{
        int r = ovl_index_follow(o, n);
        if (r < 0)
                return r;
        _cleanup_free_ char *path = node_path(o, n);
        int layer = node_layer(n);
        ssize_t len = layer_listxattr(o, layer, path, NULL, 0);
        if (len < 0)
                return (int)len;
        _cleanup_free_ char *all = xmalloc((size_t)len + 1);
        len = layer_listxattr(o, layer, path, all, (size_t)len);
        if (len < 0)
                return (int)len;
        size_t out = 0;
        for (char *p = all; p < all + len; p += strlen(p) + 1) {
                _cleanup_free_ char *shown = ovl_xattr_shown(o, p);
                if (!shown && ovl_xattr_private(o, p))
                        continue;
                const char *v = shown ? shown : p;
                size_t l = strlen(v) + 1;
                if (size) {
                        if (out + l > size)
                                return -ERANGE;
                        memcpy(buf + out, v, l);
                }
                out += l;
        }
        return (int)out;
}

int ovl_setxattr(struct ovl *o, struct node *n, const char *name, const void *value, size_t size, int flags)
{
        if (o->read_only)
                return -EROFS;
        int r = ovl_copy_up_meta(o, n);
        if (r < 0)
                return r;
        _cleanup_free_ char *path = node_path(o, n);
        _cleanup_free_ char *real = ovl_xattr_stored(o, name);
        return layer_setxattr(o, 0, path, real, value, size, flags);
}

int ovl_removexattr(struct ovl *o, struct node *n, const char *name)
{
        if (o->read_only)
                return -EROFS;
        /* nothing to remove: no copy-up for it */
        int r = ovl_getxattr(o, n, name, NULL, 0);
        if (r < 0)
                return r;
        r = ovl_copy_up_meta(o, n);
        if (r < 0)
                return r;
        _cleanup_free_ char *path = node_path(o, n);
        _cleanup_free_ char *real = ovl_xattr_stored(o, name);
        return layer_removexattr(o, 0, path, real);
}

int ovl_statfs(struct ovl *o, struct statvfs *st)
{
        return fstatvfs(o->layers[0].fd, st) < 0 ? -errno : 0;
}
